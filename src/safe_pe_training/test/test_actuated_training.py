"""Training and evaluation run under the simulator's actuator model (ramps and latency).

The filter does not know the limits yet (issue 16 item 2), so violations are counted here,
not asserted to be 0.
"""

from __future__ import annotations

import torch as th

from safe_pe_training.factories import make_env_config
from safe_pe_training.rollout import safe_self_play_rollout
from safe_pe_training.self_play import SelfPlayTrainer
from training_fixtures import tiny_config

th.set_num_threads(1)

NAV2 = {"linear_accel": 2.5, "linear_decel": 2.5, "angular_accel": 3.2, "latency_steps": 1}


def test_tiny_training_and_evaluation_under_the_actuator_model(tmp_path):
    config = tiny_config("A", phases=1, eval_episodes=1)
    config.env.overrides = {"max_steps": 60, "pursuer": {"actuator": NAV2},
                            "evader": {"actuator": {**NAV2, "latency_steps": 2}}}
    config = config.validate()
    env_config = make_env_config(config)
    assert env_config.pursuer.actuator.linear_decel == 2.5
    assert env_config.evader.actuator.latency_steps == 2

    trainer = SelfPlayTrainer(config, tmp_path / "run", progress_bar=False)
    result = trainer.train()
    assert result.phases_completed == 1 and result.total_steps == 256
    assert result.safety["steps"] == 256
    core = trainer.envs["pursuer"].core
    assert not core.actuators.ideal and core.actuators.latency.tolist() == [1, 2]
    assert core.command_queue.shape == (config.num_envs, 2, 2, 2)

    rollout = safe_self_play_rollout(config, 2)       # evaluation: the single game
    assert len(rollout.episodes) == 2
    assert all(e.length > 0 for e in rollout.episodes)
