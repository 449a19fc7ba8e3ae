"""Run A trains and evaluates safely under the simulator's actuator model (issue 16).

The robots' ``actuator`` (ramps and latency) sets both the simulator's model and the filters'
(``actuator`` / ``opponent_actuator``), and every filter call gets the held velocities and the
commands in flight: a tiny run A then has 0 body-level violations (the simulator's sub-stepped
ground truth) in training, in the phase evaluations against the scripted references (both
robots filtered, ``play_match``) and in evaluation rollouts of the single game. Profiles:
``diff_drive_nav2`` (1 m/s, Nav2's smoother: 2.5 m/s^2, 3.2 rad/s^2, one period of latency)
and the TurtleBot3 Burger with its realistic limits. That the filter must be told: see
test_safety_validation.py (the ideal filter on the ramped robots collides).
"""

from __future__ import annotations

import pytest
import torch as th

from safe_pe_training.factories import make_env_config
from safe_pe_training.rollout import safe_self_play_rollout
from safe_pe_training.self_play import SelfPlayTrainer
from training_fixtures import tiny_config

th.set_num_threads(1)

NAV2 = {"linear_accel": 2.5, "linear_decel": 2.5, "angular_accel": 3.2, "latency_steps": 1}
TB3_PROFILE = "turtlebot3_burger_ramped"


def _train_and_evaluate(config, run_dir):
    """Train both roles (one phase each), evaluate; return (result, rollout)."""
    trainer = SelfPlayTrainer(config, run_dir, progress_bar=False)
    result = trainer.train()
    assert result.phases_completed == 2 and result.total_steps == 512
    assert result.safety["steps"] == 512      # each learner's filtered steps, both roles
    core = trainer.envs["pursuer"].core
    assert not core.actuators.ideal
    assert all(f.config.actuated for f in trainer.envs["pursuer"].filters)
    rollout = safe_self_play_rollout(config, 3)       # evaluation rollouts: the single game
    return result, rollout


def _assert_no_violations(result, rollout):
    assert result.safety["violations"] == 0, result.safety
    evals = [e for phase in result.phases for e in phase["eval"].values()]
    assert evals and sum(e["episodes"] for e in evals) > 0
    assert all(e["violation_steps"] == [0, 0] for e in evals), evals
    assert sum(e.length for e in rollout.episodes) > 0
    assert rollout.total_violations == 0, [e.violations for e in rollout.episodes]


def test_tiny_run_a_under_nav2_limits_has_no_violations(tmp_path):
    config = tiny_config("A", phases=2, eval_episodes=1)
    config.env.overrides = {"max_steps": 60, "pursuer": {"actuator": NAV2},
                            "evader": {"actuator": {**NAV2, "latency_steps": 2}}}
    config = config.validate()
    env_config = make_env_config(config)
    assert env_config.pursuer.actuator.linear_decel == 2.5
    assert env_config.evader.actuator.latency_steps == 2
    result, rollout = _train_and_evaluate(config, tmp_path / "run")
    _assert_no_violations(result, rollout)


@pytest.mark.parametrize("profile", ["diff_drive_nav2", TB3_PROFILE])
def test_tiny_run_a_on_an_actuated_profile_has_no_violations(tmp_path, profile):
    config = tiny_config("A", phases=2, eval_episodes=1)
    config.env.profile = profile
    config.obstacles.count_min, config.obstacles.count_max = 4, 6   # crowded
    config = config.validate()
    assert not make_env_config(config).pursuer.actuator.ideal
    result, rollout = _train_and_evaluate(config, tmp_path / "run")
    _assert_no_violations(result, rollout)
