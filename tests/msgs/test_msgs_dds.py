"""Every safe_pe interface crosses DDS between two separate processes, field for field."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
safe_msgs = pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built')

from safe_pe_msgs.srv import ResetEpisode  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from echo_peer import MESSAGE_TYPES  # noqa: E402
from message_fill import fill  # noqa: E402


@pytest.fixture()
def ros_env(tmp_path, monkeypatch):
    """Isolate DDS traffic of this test: own domain id, localhost discovery, own log dir."""
    domain = str(1 + (os.getpid() * 7 + 13) % 100)
    monkeypatch.setenv('ROS_DOMAIN_ID', domain)
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    monkeypatch.setenv('ROS_LOG_DIR', str(tmp_path / 'ros_log'))
    return dict(os.environ)


@pytest.fixture()
def echo_peer(ros_env):
    proc = subprocess.Popen(
        [sys.executable, str(HERE / 'echo_peer.py'), '--seconds', '60'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert 'ready' in line, f'echo peer failed to start: {line}{proc.stdout.read()}'
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _spin_until(executor, predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def test_every_message_and_service_round_trips_between_processes(echo_peer):
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('roundtrip_test', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        sent, received, publishers = {}, {}, {}
        for k, name in enumerate(MESSAGE_TYPES):
            cls = getattr(safe_msgs, name)
            sent[name] = fill(cls(), seed=k + 3)
            publishers[name] = node.create_publisher(cls, f'/roundtrip/{name}/ping', 10)
            node.create_subscription(
                cls, f'/roundtrip/{name}/pong',
                lambda m, n=name: received.setdefault(n, m), 10)
        # Wait for discovery in both directions, then publish until each echo comes back.
        assert _spin_until(executor, lambda: all(
            p.get_subscription_count() > 0 for p in publishers.values()), 20.0), \
            'echo peer subscriptions were not discovered'
        deadline = time.monotonic() + 20.0
        while len(received) < len(MESSAGE_TYPES) and time.monotonic() < deadline:
            for name in MESSAGE_TYPES:
                if name not in received:
                    publishers[name].publish(sent[name])
            _spin_until(executor, lambda: False, 0.2)
        assert sorted(received) == sorted(MESSAGE_TYPES)
        for name in MESSAGE_TYPES:
            assert received[name] == sent[name], f'{name} changed crossing DDS'

        client = node.create_client(ResetEpisode, '/roundtrip/reset_episode')
        assert _spin_until(executor, client.service_is_ready, 20.0), 'reset service not found'
        request = fill(ResetEpisode.Request(), seed=11)
        request.seed = 42
        future = client.call_async(request)
        assert _spin_until(executor, future.done, 20.0), 'reset service did not answer'
        response = future.result()
        assert response.success and response.episode_id == 42
        assert response.state.arena == request.layout
        assert response.state.pursuer == request.pursuer
        assert response.state.evader == request.evader
    finally:
        rclpy.try_shutdown(context=context)


def test_message_constants_match_the_documented_tiers():
    status = safe_msgs.SafetyStatus
    assert (status.TIER_NOMINAL, status.TIER_QP, status.TIER_RELAXED, status.TIER_BACKUP,
            status.TIER_STOP, status.TIER_DISABLED) == (0, 1, 2, 3, 4, 5)
    assert (safe_msgs.AgentState.ROLE_PURSUER, safe_msgs.AgentState.ROLE_EVADER) == (0, 1)
