"""launch_pytest: sim_eval.launch.py evaluates for N episodes and ends with the report."""

from __future__ import annotations

import json

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest (ROS 2 launch testing) is not installed; it is not '
    'on PyPI: run these tests on a ROS 2 install (colcon test)')
pytest.importorskip('launch_ros', reason='launch_ros (ROS 2) is not installed')

from launch_support import (  # noqa: E402
    LAUNCH_DIR,
    short_episodes_profile,
    sim_params_with_profile,
)
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from safe_pe_msgs.msg import EpisodeResult, GameState, SafetyMetrics  # noqa: E402


@launch_pytest.fixture
def sim_eval(launch_env):
    sim_params = sim_params_with_profile(launch_env, short_episodes_profile(launch_env))
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / 'sim_eval.launch.py')),
            launch_arguments={'episodes': '1', 'run_dir': str(launch_env / 'eval'),
                              'sim_params': str(sim_params)}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=sim_eval)
def test_sim_eval_reaches_steady_state_and_writes_the_report(launch_env, launch_probe):
    probe = launch_probe
    probe.watch('/safe_pe/game_state', GameState, 100)
    probe.watch('/safe_pe/safety_metrics', SafetyMetrics, 50)
    probe.watch('/safe_pe/episode_result', EpisodeResult, 10)
    probe.wait_for(lambda: len(probe.get('/safe_pe/game_state')) > 20, 60.0,
                   'game states from the simulator')
    probe.wait_for(lambda: any(m.source == 'all' and m.steps > 20
                               for m in probe.get('/safe_pe/safety_metrics')), 60.0,
                   'safety metrics of the filters')
    report_path = launch_env / 'eval' / 'safety_report.json'

    def counted_episode_reported() -> bool:
        try:
            return json.loads(report_path.read_text())['episodes']['episodes'] >= 1
        except (OSError, ValueError, KeyError):
            return False
    # The first episode is warm-up (it started before the filters were live), so the
    # metrics node writes the final report after the second one and ends the launch.
    probe.wait_for(counted_episode_reported, 120.0, 'the report of a counted episode')
    assert not any(s.violation for s in probe.get('/safe_pe/game_state'))
    yield
    report = json.loads((launch_env / 'eval' / 'safety_report.json').read_text())
    assert report['episodes']['episodes'] >= 1
    assert report['sources']['all']['violations'] == 0
    assert {t['name'] for t in report['sources']['all']['targets']} >= {
        'violations', 'qp_feasibility', 'backup_rate'}
    assert report['all_targets_met']
