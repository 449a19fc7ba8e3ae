"""Policy node in-process: game state in, nominal command out; bad input -> no command."""

from __future__ import annotations

import math

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built: scripts/setup.sh')

from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from safe_pe_msgs.msg import CheckpointInfo, GameState  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402

from safe_pe_training.ros.policy_core import ScriptedDriver  # noqa: E402
from safe_pe_training.ros.policy_node import CHECKPOINT_QOS, PolicyNode  # noqa: E402

WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them


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
    wall = {'t': 100.0}  # the node's clock, moved only by the test
    node = PolicyNode(context=context, namespace='pursuer', clock=lambda: wall['t'],
                      parameter_overrides=[Parameter('rate', value=50.0),
                                           Parameter('state_timeout', value=0.3)])
    peer = rclpy.create_node('peer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    commands: list[Twist] = []
    peer.create_subscription(Twist, '/pursuer/cmd_vel_nominal', commands.append, 10)
    state_pub = peer.create_publisher(GameState, '/safe_pe/game_state', 10)
    ckpt_pub = peer.create_publisher(CheckpointInfo, '/safe_pe/training/checkpoint',
                                     CHECKPOINT_QOS)

    def publishing(state):
        return lambda: state_pub.publish(state)

    def spin(seconds: float, publish=None) -> None:
        """Spin for a while: only where nothing may happen, whatever the machine's speed."""
        spin_until(executor, lambda: False, seconds, every=publish, period=0.02)

    try:
        assert node.role == 'pursuer' and 'pure_pursuit' in node.driver_description
        spin(0.5)
        assert commands == [] and node.commands_published == 0  # no game state yet
        assert spin_until(executor, lambda: len(commands) >= 10, WAIT,
                          every=publishing(_state(ex=1.0, ey=1.0)))
        assert commands[-1].linear.x > 0 and commands[-1].angular.z > 0  # evader to the left
        # A corrupt checkpoint announcement keeps the scripted driver running (the evader's
        # announcement is not ours: ignored).
        bad = tmp_path / 'pursuer_phase0000.pt'
        bad.write_bytes(b'not a checkpoint')
        ckpt_pub.publish(CheckpointInfo(role='pursuer', path=str(bad)))
        ckpt_pub.publish(CheckpointInfo(role='evader', path=str(bad)))
        assert spin_until(executor, lambda: node.failed_loads == 1, WAIT,
                          every=publishing(_state()))
        assert node.reloads == 0 and 'pure_pursuit' in node.driver_description
        # NaN state: no command for those ticks (counted at the node: commands already in
        # flight may still arrive), and the node keeps running.
        nan_state = _state(px=float('nan'))
        assert spin_until(executor, lambda: math.isnan(node._state.pursuer.x), WAIT,
                          every=publishing(nan_state))
        count = node.commands_published
        spin(0.5, publishing(nan_state))
        assert node.commands_published == count
        assert spin_until(executor, lambda: node.commands_published > count, WAIT,
                          every=publishing(_state()))
        # Stale state: silence once the newest state is older than state_timeout (the
        # clock moves on once the last state sent is in: none is still in flight).
        last = _state()
        last.step = 999
        state_pub.publish(last)
        assert spin_until(executor, lambda: node._state.step == 999, WAIT)
        wall['t'] += 1.0
        count = node.commands_published
        spin(0.5)
        assert node.commands_published == count
    finally:
        executor.remove_node(node)
        node.destroy_node()             # publishes one zero command
        spin_until(executor, lambda: commands and commands[-1].linear.x == 0.0, WAIT,
                   period=0.05)
        executor.shutdown()
        peer.destroy_node()
    assert commands[-1].linear.x == 0.0 and commands[-1].angular.z == 0.0
