"""Every node process (sim, policy, metrics, recorder, training) and the one-process runner
stop cleanly.

Each is started as its own process, fed its usual inputs on every spin of this test, and
signalled (SIGINT, then SIGTERM on a fresh process) as soon as its first output arrived, while
the inputs keep coming. Exit code 0 and no traceback or FATAL line, every time; a policy node's
last command is its zero goodbye. (The filter node's twenty shutdowns are in safe_pe_cbf's
test_filter_node_shutdown.py.)
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built: scripts/setup.sh')

from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from safe_pe_msgs.msg import (  # noqa: E402
    GameState,
    SafetyMetrics,
    SafetyStatus,
    SafetyStatusArray,
)

from safe_pe_cbf.ros_common.testing import (  # noqa: E402
    SHUTDOWN_NOISE,
    isolated_context,
    spin_until,
    stop_under_traffic,
)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture()
def ros_env(tmp_path, monkeypatch):
    for ctx in isolated_context(tmp_path, monkeypatch, salt=29):
        node = rclpy.create_node('shutdown_probe', context=ctx)
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        try:
            yield node, executor, tmp_path
        finally:
            executor.shutdown()
            node.destroy_node()


def _game_state() -> GameState:
    msg = GameState(dt=0.05)
    msg.pursuer.x, msg.pursuer.y = -1.0, 0.0
    msg.evader.x, msg.evader.y = 1.0, 0.5
    msg.arena.x_min, msg.arena.x_max, msg.arena.y_min, msg.arena.y_max = -2.0, 2.0, -2.0, 2.0
    for agent in (msg.pursuer, msg.evader):
        agent.v_max, agent.omega_max = 0.5, 2.0
    return msg


def _assert_clean(name: str, sig: signal.Signals, code: int, output: str) -> None:
    noise = [line for line in output.splitlines() if any(w in line for w in SHUTDOWN_NOISE)]
    assert code == 0 and not noise, f'{name} after {sig.name}: exit code {code}\n{output}'


def test_policy_node_stops_cleanly_and_says_zero(ros_env):
    node, executor, tmp_path = ros_env
    ns = f'policy_{os.getpid()}'
    received: list[Twist] = []
    node.create_subscription(Twist, f'/{ns}/cmd_vel_nominal', received.append, 100)
    state_pub = node.create_publisher(GameState, '/safe_pe/game_state', 10)
    state = _game_state()
    for i, sig in enumerate(SIGNALS):
        received.clear()
        code, output = stop_under_traffic(
            executor,
            [sys.executable, '-m', 'safe_pe_training.ros.policy_node', '--ros-args',
             '-r', f'__ns:=/{ns}', '-p', 'role:=pursuer', '-p', 'follow_checkpoints:=false',
             '-p', 'rate:=100.0'],
            tmp_path / f'policy_{i}.log', ready=lambda: any(m.linear.x > 0 for m in received),
            traffic=lambda: state_pub.publish(state), sig=sig)
        _assert_clean('policy node', sig, code, output)
        assert spin_until(executor, lambda: received[-1].linear.x == 0.0
                          and received[-1].angular.z == 0.0, 10.0), 'no zero goodbye'


def test_sim_node_stops_cleanly(ros_env):
    node, executor, tmp_path = ros_env
    states: list[GameState] = []
    node.create_subscription(GameState, '/safe_pe/game_state', states.append, 100)
    cmd_pubs = [node.create_publisher(Twist, f'/{robot}/cmd_vel', 10)
                for robot in ('pursuer', 'evader')]
    forward = Twist()
    forward.linear.x = 0.2

    def traffic() -> None:
        for pub in cmd_pubs:
            pub.publish(forward)

    for i, sig in enumerate(SIGNALS):
        states.clear()
        code, output = stop_under_traffic(
            executor, [sys.executable, '-m', 'safe_pe_sim.ros.sim_node'],
            tmp_path / f'sim_{i}.log', ready=lambda: len(states) > 0, traffic=traffic,
            sig=sig)
        _assert_clean('sim node', sig, code, output)


def test_metrics_node_stops_cleanly(ros_env):
    node, executor, tmp_path = ros_env
    metrics: list[SafetyMetrics] = []
    node.create_subscription(SafetyMetrics, '/safe_pe/safety_metrics', metrics.append, 100)
    status_pub = node.create_publisher(SafetyStatus, '/pursuer/safety_status', 10)
    status = SafetyStatus(tier=SafetyStatus.TIER_NOMINAL, qp_feasible=True)
    for i, sig in enumerate(SIGNALS):
        metrics.clear()
        code, output = stop_under_traffic(
            executor,
            [sys.executable, '-m', 'safe_pe_training.ros.metrics_node', '--ros-args',
             '-p', 'robots:=[pursuer]', '-p', 'use_training:=false',
             '-p', 'publish_period:=0.1', '-p', f'report_dir:={tmp_path / f"report_{i}"}'],
            tmp_path / f'metrics_{i}.log', ready=lambda: len(metrics) > 0,
            traffic=lambda: status_pub.publish(status), sig=sig)
        _assert_clean('metrics node', sig, code, output)


def test_one_process_runner_stops_cleanly(ros_env):
    node, executor, tmp_path = ros_env
    commands: list[Twist] = []
    node.create_subscription(Twist, '/pursuer/cmd_vel', commands.append, 100)
    for i, sig in enumerate(SIGNALS):
        commands.clear()
        run_dir = tmp_path / f'stack_{i}'
        code, output = stop_under_traffic(
            executor,
            [sys.executable, '-m', 'safe_pe_training.ros.stack', '--budget', '0',
             '--duration', '600', '--run-dir', str(run_dir), '--quiet'],
            tmp_path / f'stack_{i}.log', ready=lambda: any(m.linear.x > 0 for m in commands),
            traffic=lambda: None, sig=sig)
        _assert_clean('safe_pe_stack', sig, code, output)
        assert (run_dir / 'safety_report.md').is_file(), output


def test_recorder_node_stops_cleanly_and_closes_its_bag(ros_env):
    node, executor, tmp_path = ros_env
    state_pub = node.create_publisher(GameState, '/safe_pe/game_state', 10)
    state = _game_state()
    for i, sig in enumerate(SIGNALS):
        bag = tmp_path / f'bag_{i}'
        code, output = stop_under_traffic(
            executor,
            [sys.executable, '-m', 'safe_pe_training.ros.recorder_node', '--ros-args',
             '-p', f'path:={bag}', '-p', 'topics:=/safe_pe/game_state',
             '-p', 'discovery_period:=0.1'],
            tmp_path / f'recorder_{i}.log',
            ready=lambda: state_pub.get_subscription_count() > 0,
            traffic=lambda: state_pub.publish(state), sig=sig)
        _assert_clean('recorder node', sig, code, output)
        metadata = (bag / 'metadata.yaml').read_text()   # written on the way out
        assert 'name: /safe_pe/game_state' in metadata and 'storage_identifier: mcap' in metadata


def test_training_node_stops_cleanly_while_training(ros_env):
    pytest.importorskip('stable_baselines3', reason='stable-baselines3 is not installed')
    from training_fixtures import write_tiny_yaml

    node, executor, tmp_path = ros_env
    config = write_tiny_yaml(tmp_path / 'tiny_a.yaml', 'A')
    statuses: list[SafetyStatusArray] = []
    node.create_subscription(SafetyStatusArray, '/safe_pe/training/safety_status',
                             statuses.append, 10)
    for i, sig in enumerate(SIGNALS):
        statuses.clear()
        code, output = stop_under_traffic(
            executor,
            [sys.executable, '-m', 'safe_pe_training.ros.training_node', '--ros-args',
             '-p', 'run_type:=custom', '-p', f'config_file:={config}',
             '-p', f'run_dir:={tmp_path / f"run_{i}"}', '-p', 'budget:=100000',
             '-p', 'status_period:=0.1'],
            tmp_path / f'training_{i}.log', ready=lambda: len(statuses) > 0,
            traffic=lambda: None, sig=sig, timeout=120.0)
        _assert_clean('training node', sig, code, output)
        assert 'stopped early: True' in output, output
