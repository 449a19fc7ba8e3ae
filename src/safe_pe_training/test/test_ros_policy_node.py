"""Policy node in-process: game state in, nominal command out; bad input -> no command."""

from __future__ import annotations

import math
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built: scripts/setup.sh')

from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from safe_pe_msgs.msg import CheckpointInfo, GameState  # noqa: E402

from safe_pe_training.ros.policy_core import ScriptedDriver  # noqa: E402
from safe_pe_training.ros.policy_node import CHECKPOINT_QOS, PolicyNode  # noqa: E402
from safe_pe_cbf.ros.testing import isolated_context  # noqa: E402


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=6)


def _state(px=0.0, py=0.0, pth=0.0, ex=1.0, ey=1.0, eth=0.0) -> GameState:
    msg = GameState(dt=0.05)
    msg.pursuer.x, msg.pursuer.y, msg.pursuer.theta = px, py, pth
    msg.evader.x, msg.evader.y, msg.evader.theta = ex, ey, eth
    msg.arena.x_min, msg.arena.x_max, msg.arena.y_min, msg.arena.y_max = -2.0, 2.0, -2.0, 2.0
    for agent in (msg.pursuer, msg.evader):
        agent.v_max, agent.omega_max = 0.5, 2.0
    return msg


def test_scripted_drivers_head_for_and_away_from_the_opponent():
    state = {'poses': [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], 'arena': (-5.0, 5.0, -5.0, 5.0)}
    v, omega = ScriptedDriver('pursuer', v_max=0.3).command(state)
    assert v == pytest.approx(0.3) and omega == pytest.approx(0.0)
    v, omega = ScriptedDriver('evader', v_max=0.3).command(state)
    assert v == pytest.approx(0.3, abs=1e-6) and abs(omega) < 1e-6  # already facing away
    state['poses'][0][2] = math.pi / 2          # opponent now on the pursuer's right
    v, omega = ScriptedDriver('pursuer', v_max=0.3).command(state)
    assert omega < 0 and v < 0.3
    assert ScriptedDriver('pursuer', 'zero').command(state) == (0.0, 0.0)
    # Without a speed of its own the baseline drives at the robot's limits from the state.
    state['limits'] = [[0.0, 0.7, 1.5], [0.0, 0.8, 1.5]]
    state['poses'][0][2] = 0.0
    assert ScriptedDriver('pursuer').command(state) == pytest.approx((0.7, 0.0))
    state['poses'][0][2] = math.pi / 2
    assert ScriptedDriver('pursuer').command(state)[1] == pytest.approx(-1.5)
    with pytest.raises(ValueError, match='fallback'):
        ScriptedDriver('pursuer', 'teleport')


def test_policy_node_publishes_nominal_commands_and_survives_bad_input(context, tmp_path):
    node = PolicyNode(context=context, namespace='pursuer', parameter_overrides=[
        Parameter('rate', value=50.0), Parameter('state_timeout', value=0.3)])
    peer = rclpy.create_node('peer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    commands: list[Twist] = []
    peer.create_subscription(Twist, '/pursuer/cmd_vel_nominal', commands.append, 10)
    state_pub = peer.create_publisher(GameState, '/safe_pe/game_state', 10)
    ckpt_pub = peer.create_publisher(CheckpointInfo, '/safe_pe/training/checkpoint',
                                     CHECKPOINT_QOS)

    def spin(seconds: float, publish=None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if publish is not None:
                state_pub.publish(publish)
            executor.spin_once(timeout_sec=0.02)

    try:
        assert node.role == 'pursuer' and 'pure_pursuit' in node.driver_description
        spin(1.0)
        assert commands == []                    # no game state yet: nothing published
        spin(1.5, _state(ex=1.0, ey=1.0))
        assert len(commands) >= 10
        assert commands[-1].linear.x > 0 and commands[-1].angular.z > 0  # evader to the left
        # A corrupt checkpoint announcement keeps the scripted driver running.
        bad = tmp_path / 'pursuer_phase0000.pt'
        bad.write_bytes(b'not a checkpoint')
        ckpt_pub.publish(CheckpointInfo(role='pursuer', path=str(bad)))
        ckpt_pub.publish(CheckpointInfo(role='evader', path=str(bad)))
        spin(1.0, _state())
        assert node.reloads == 0 and 'pure_pursuit' in node.driver_description
        # NaN state: no command for those ticks, and the node keeps running.
        spin(0.2, _state(px=float('nan')))     # commands already in flight arrive
        count = len(commands)
        spin(0.6, _state(px=float('nan')))
        assert len(commands) == count
        # Stale state: silence after state_timeout.
        spin(0.6)
        count = len(commands)
        spin(0.5)
        assert len(commands) == count
    finally:
        executor.remove_node(node)
        node.destroy_node()             # publishes one zero command
        spin_end = time.monotonic() + 1.0
        while time.monotonic() < spin_end and (not commands or commands[-1].linear.x != 0.0):
            executor.spin_once(timeout_sec=0.05)
        executor.shutdown()
        peer.destroy_node()
    assert commands[-1].linear.x == 0.0 and commands[-1].angular.z == 0.0
