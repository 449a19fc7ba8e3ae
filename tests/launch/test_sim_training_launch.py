"""launch_pytest: sim_training.launch.py trains, announces checkpoints, reports, stops."""

from __future__ import annotations

import json

import pytest
import yaml

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest (ROS 2 launch testing) is not installed; it is not '
    'on PyPI: run these tests on a ROS 2 install (colcon test)')
pytest.importorskip('launch_ros', reason='launch_ros (ROS 2) is not installed')

from launch_support import LAUNCH_DIR  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from safe_pe_msgs.msg import CheckpointInfo, SafetyMetrics, TrainingProgress  # noqa: E402

from safe_pe_training.ros.qos import CHECKPOINT_QOS  # noqa: E402

TINY_RUN_A = {
    'run_type': 'A', 'use_cbf': True, 'use_beta_policy': True, 'use_safety_reward': True,
    'seed': 0, 'num_envs': 4, 'total_timesteps': 512,
    'env': {'overrides': {'max_steps': 100}},
    'self_play': {'steps_per_phase': 256, 'eval_episodes': 2},
    'ppo': {'n_steps': 64, 'batch_size': 128, 'n_epochs': 1},
}


@launch_pytest.fixture
def sim_training(launch_env):
    config = launch_env / 'tiny_a.yaml'
    config.write_text(yaml.safe_dump(TINY_RUN_A))
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / 'sim_training.launch.py')),
            launch_arguments={'run_type': 'A', 'training_config': str(config),
                              'budget': '512', 'steps_per_phase': '256',
                              # the tiny config's 4 games (the launch default is 8: one
                              # 512-step rollout would end training before the evader learns)
                              'num_envs': '0',
                              'run_dir': str(launch_env / 'run'),
                              'shutdown_when_trained': 'false'}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=sim_training)
def test_sim_training_trains_and_plays_the_checkpoints(launch_env, launch_probe):
    probe = launch_probe
    probe.watch('/safe_pe/training/checkpoint', CheckpointInfo, CHECKPOINT_QOS)
    probe.watch('/safe_pe/training/progress', TrainingProgress, 50)
    probe.watch('/safe_pe/safety_metrics', SafetyMetrics, 50)
    probe.wait_for(lambda: {m.role for m in probe.get('/safe_pe/training/checkpoint')}
                   == {'pursuer', 'evader'}, 180.0, 'checkpoints of both roles')
    probe.wait_for(lambda: any(p.done for p in probe.get('/safe_pe/training/progress')),
                   120.0, 'training to finish')
    probe.wait_for(lambda: any(m.source == 'all' and m.steps > 20 and m.targets
                               for m in probe.get('/safe_pe/safety_metrics')), 30.0,
                   'safety metrics with targets')
    yield
    report = json.loads((launch_env / 'run' / 'safety_report.json').read_text())
    assert report['sources']['all']['violations'] == 0
    assert report['sources']['training']['steps'] > 0
    assert (launch_env / 'run' / 'checkpoints').is_dir()
