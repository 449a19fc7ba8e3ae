"""safe_pe_stack end to end with a tiny budget: training, live graph, report, clean stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built')
pytest.importorskip('stable_baselines3', reason='stable-baselines3 is not installed')

from geometry_msgs.msg import Twist  # noqa: E402
from safe_pe_msgs.msg import CheckpointInfo, TrainingProgress  # noqa: E402

from safe_pe_training.ros.qos import CHECKPOINT_QOS  # noqa: E402

TINY_RUN_A = {
    'run_type': 'A', 'use_cbf': True, 'use_beta_policy': True, 'use_safety_reward': True,
    'seed': 0, 'num_envs': 4, 'total_timesteps': 512,
    'env': {'overrides': {'max_steps': 100}},
    'self_play': {'steps_per_phase': 256, 'eval_episodes': 2},
    'ppo': {'n_steps': 64, 'batch_size': 128, 'n_epochs': 1},
}


def test_stack_trains_plays_reports_and_stops_the_robots(graph, probe, tmp_path):
    config = tmp_path / 'tiny_a.yaml'
    config.write_text(yaml.safe_dump(TINY_RUN_A))
    run_dir = tmp_path / 'run'
    stack_yaml = tmp_path / 'stack.yaml'
    stack_yaml.write_text(yaml.safe_dump({
        'run_type': 'A', 'budget': 512, 'steps_per_phase': 256, 'run_dir': str(run_dir),
        'training_config': str(config), 'linger': 2.0, 'duration': 1200.0,
        'league_episodes': 2}))
    probe.watch('/safe_pe/training/checkpoint', CheckpointInfo, CHECKPOINT_QOS)
    probe.watch('/safe_pe/training/progress', TrainingProgress, 50)
    probe.watch('/pursuer/cmd_vel', Twist, 100)
    probe.watch('/evader/cmd_vel', Twist, 100)

    log = tmp_path / 'stack.log'
    with open(log, 'w') as out:
        proc = subprocess.run(
            [sys.executable, '-m', 'safe_pe_training.ros.stack', '--config', str(stack_yaml)],
            env=graph.env, stdout=out, stderr=subprocess.STDOUT, timeout=1500)
    text = log.read_text()
    assert proc.returncode == 0, text[-5000:]
    assert 'stopping (training finished)' in text, text[-3000:]

    report = json.loads((run_dir / 'safety_report.json').read_text())
    for source in ('pursuer', 'evader', 'training', 'all'):
        names = {t['name'] for t in report['sources'][source]['targets']}
        assert {'violations', 'qp_feasibility', 'backup_rate'} <= names, source
    assert report['sources']['all']['steps'] > 0
    assert report['sources']['training']['steps'] > 0, 'no training statuses reached metrics'
    assert report['sources']['all']['violations'] == 0
    assert (run_dir / 'safety_report.md').read_text().startswith('# Safety report')
    assert '# Safety report' in text                  # printed at the end
    # the end-of-run league of what was trained (and of the shipped pair, if any)
    assert '| pursuer vs aware_flee |' in text, text[-3000:]
    league = json.loads((run_dir / 'metrics' / 'final_league.json').read_text())
    assert league['episodes'] == 2 and 'trained' in league['groups']
    assert (run_dir / 'plots' / 'league_final.png').is_file()

    announced = probe.get('/safe_pe/training/checkpoint')
    assert {m.role for m in announced} == {'pursuer', 'evader'}, announced
    assert all(Path(m.path).is_file() and m.run_type == 'A' for m in announced)
    progress = probe.get('/safe_pe/training/progress')
    assert progress and progress[-1].done and progress[-1].total_steps >= 512
    assert 'now driving with beta policy' in text     # live policies hot-reloaded
    # Clean shutdown: the last command each robot received is a stop.
    for robot in ('pursuer', 'evader'):
        commands = probe.get(f'/{robot}/cmd_vel')
        assert commands, f'{robot} never got a command'
        assert commands[-1].linear.x == 0.0 and commands[-1].angular.z == 0.0, robot


def test_stack_stops_cleanly_on_ctrl_c_while_training(graph, probe, tmp_path):
    import signal
    import time

    config = tmp_path / 'tiny_a.yaml'
    config.write_text(yaml.safe_dump({**TINY_RUN_A, 'total_timesteps': 10**6}))
    run_dir = tmp_path / 'live'
    probe.watch('/pursuer/cmd_vel', Twist, 100)
    probe.watch('/evader/cmd_vel', Twist, 100)
    probe.watch('/safe_pe/training/progress', TrainingProgress, 50)
    log = tmp_path / 'stack.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'safe_pe_training.ros.stack', '--budget', str(10**6),
             '--steps-per-phase', '256', '--training-config', str(config),
             '--duration', '1500', '--run-dir', str(run_dir)],
            env=graph.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            probe.wait_for(lambda: any(p.total_steps > 0
                                       for p in probe.get('/safe_pe/training/progress'))
                           and any(c.linear.x > 0 for c in probe.get('/pursuer/cmd_vel')),
                           600.0, 'training progress and the live graph driving')
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
            stop_seconds = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert 'stopping (SIGINT received)' in text, text[-3000:]
    assert 'stopped early: True' in text, text[-3000:]
    print(f'stopped {stop_seconds:.1f} s after SIGINT')   # bounded by the wait's 300 s
    report = json.loads((run_dir / 'safety_report.json').read_text())
    assert report['sources']['pursuer']['steps'] > 0
    assert report['sources']['all']['violations'] == 0
    def stopped(robot: str) -> bool:
        cmds = probe.get(f'/{robot}/cmd_vel')
        return bool(cmds) and cmds[-1].linear.x == 0.0 and cmds[-1].angular.z == 0.0
    for robot in ('pursuer', 'evader'):   # messages still in flight after the exit
        probe.wait_for(lambda: stopped(robot), 10.0, f'the last {robot} command to be zero')


def test_stack_exits_with_the_failing_trainings_code_and_stops_the_graph(graph, tmp_path):
    config = tmp_path / 'broken.yaml'
    config.write_text(yaml.safe_dump({**TINY_RUN_A, 'ppo': {'n_steps': -5}}))
    run_dir = tmp_path / 'failing'
    log = tmp_path / 'stack.log'
    with open(log, 'w') as out:
        proc = subprocess.run(
            [sys.executable, '-m', 'safe_pe_training.ros.stack', '--budget', '512',
             '--training-config', str(config), '--duration', '1200', '--run-dir',
             str(run_dir)],
            env=graph.env, stdout=out, stderr=subprocess.STDOUT, timeout=1500)
    text = log.read_text()
    assert proc.returncode == 1, text[-3000:]
    assert 'stopping (training exited with code 1)' in text, text[-3000:]
    assert '[training] ' in text and 'training failed' in text
    assert '[graph] stopping (SIGINT received)' in text     # the other child was stopped
    assert 'the training process failed (exit code 1)' in text
    assert (run_dir / 'safety_report.md').is_file()          # the graph still said goodbye
