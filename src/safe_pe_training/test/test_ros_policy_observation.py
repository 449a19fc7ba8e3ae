"""The policy node builds the same observation as the training env (CBF-Beta, run A)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('stable_baselines3', reason='stable-baselines3 is not installed')

from safe_pe_training.checkpoints import build_policy, save_checkpoint  # noqa: E402
from safe_pe_training.config import get_run_configs  # noqa: E402
from safe_pe_training.factories import make_env_config  # noqa: E402
from safe_pe_training.opponents import baseline_opponent  # noqa: E402
from safe_pe_training.ros.policy_core import CheckpointDriver  # noqa: E402
from safe_pe_training.safe_vec_env import make_learner_env  # noqa: E402
from safe_pe_training.self_play import SelfPlayTrainer  # noqa: E402


@pytest.mark.parametrize('role', ['pursuer', 'evader'])
def test_driver_observation_equals_the_training_env_observation(tmp_path, role):
    config = get_run_configs()['A']
    config.num_envs = 3
    config.ppo.batch_size = 64
    env_config = make_env_config(config)
    other = 'evader' if role == 'pursuer' else 'pursuer'
    opponent = baseline_opponent('pure_pursuit' if other == 'pursuer' else 'flee',
                                 env_config, other)
    env = make_learner_env(config, role, opponent, env_config=env_config, seed=5)
    obs = env.reset()
    for _ in range(7):      # a few steps so velocities and step counters are non-trivial
        obs, *_ = env.step(np.zeros((3, 2)) + 0.5)

    trainer = SelfPlayTrainer(config, tmp_path / 'run', progress_bar=False)
    meta = trainer.checkpoint_metadata(role, 0)
    path = save_checkpoint(build_policy(meta),
                           tmp_path / 'run' / 'checkpoints' / f'{role}_phase0000', meta)
    (tmp_path / 'run' / 'config.yaml').write_text(config.to_yaml())
    driver = CheckpointDriver(path, role)
    core = env.core
    for k in range(3):
        state = {'poses': core.poses[k], 'velocities': core.velocities[k],
                 'obstacles': core.obstacles[k][core.obstacle_mask[k]],
                 'step': int(core.steps[k])}
        assert driver.observation(state) == pytest.approx(obs[k], abs=1e-5)
        v, omega = driver.command(state)
        assert np.isfinite(v) and np.isfinite(omega)


def test_driver_observation_under_the_actuator_model(tmp_path):
    """A run trained on ramped robots (diff_drive_nav2): the node builds the training env's
    observation where the commands in flight are the held velocity (at rest after a reset;
    it does not see the filter node's commands and takes them as steady), and a finite one
    while the robots move."""
    config = get_run_configs()['A']
    config.num_envs = 3
    config.ppo.batch_size = 64
    config.env.profile = 'diff_drive_nav2'
    config = config.validate()
    env_config = make_env_config(config)
    opponent = baseline_opponent('flee', env_config, 'evader')
    env = make_learner_env(config, 'pursuer', opponent, env_config=env_config, seed=5)
    obs = env.reset()
    trainer = SelfPlayTrainer(config, tmp_path / 'run', progress_bar=False)
    meta = trainer.checkpoint_metadata('pursuer', 0)
    path = save_checkpoint(build_policy(meta),
                           tmp_path / 'run' / 'checkpoints' / 'pursuer_phase0000', meta)
    (tmp_path / 'run' / 'config.yaml').write_text(config.to_yaml())
    driver = CheckpointDriver(path, 'pursuer')
    assert driver.box_filter.config.actuated
    core = env.core

    def state(k):
        return {'poses': core.poses[k], 'velocities': core.velocities[k],
                'obstacles': core.obstacles[k][core.obstacle_mask[k]],
                'step': int(core.steps[k])}

    for k in range(3):
        assert driver.observation(state(k)) == pytest.approx(obs[k], abs=1e-5)
    for _ in range(7):
        env.step(np.zeros((3, 2)) + 0.9)
    assert np.abs(core.velocities[:, 0, 0]).max() > 0.1   # moving: the box depends on it
    for k in range(3):
        assert np.all(np.isfinite(driver.observation(state(k))))
        v, omega = driver.command(state(k))
        assert np.isfinite(v) and np.isfinite(omega)
