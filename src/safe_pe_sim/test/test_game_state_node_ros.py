"""The game-state node in-process with rclpy: odometry in, GameState out, watchdog."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from safe_pe_cbf.ros_common.conversions import quaternion_from_yaw  # noqa: E402
from safe_pe_msgs.msg import Arena, GameState  # noqa: E402

from safe_pe_sim.ros.game_state_node import GameStateNode  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402

P, E = f"gs_pursuer_{os.getpid()}", f"gs_evader_{os.getpid()}"  # unique topics per test run
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them


class FakeClock:
    """The node's monotonic clock, moved only by the test: odometry ages (the watchdog) then
    do not depend on how fast a loaded machine spins."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=14)



def _peer(context, node):
    """Peer node + executor (with ``node``) recording this run's game states and diagnostics;
    returns ``(peer, executor, states, diags, pursuer odom pub, evader odom pub)``."""
    peer = rclpy.create_node("peer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    states: list[GameState] = []
    diags: list[DiagnosticStatus] = []
    peer.create_subscription(GameState, "/safe_pe/game_state",
                             lambda m: states.append(m) if m.pursuer.agent_id == P else None, 100)
    peer.create_subscription(
        DiagnosticArray, "/diagnostics",
        lambda m: diags.extend(s for s in m.status if s.hardware_id == f"{P},{E}"), 100)
    pub_p = peer.create_publisher(Odometry, f"/{P}/odom", 10)
    pub_e = peer.create_publisher(Odometry, f"/{E}/odom", 10)
    return peer, executor, states, diags, pub_p, pub_e


def _odom(x: float, y: float, yaw: float, v: float, stamp_ns: int) -> Odometry:
    msg = Odometry()
    msg.header.frame_id = "odom"
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation = quaternion_from_yaw(yaw)
    msg.twist.twist.linear.x = v
    return msg


def test_odometry_in_game_state_out_and_watchdog(context):
    wall = FakeClock()
    node = GameStateNode(context=context, clock=wall, parameter_overrides=[
        Parameter("robots", value=[P, E]), Parameter("rate", value=50.0),
        Parameter("odom_timeout", value=0.25), Parameter("diagnostics_period", value=0.1),
        Parameter("obstacles", value=[0.8, 0.5, 0.15]),
        Parameter("pursuer_odom_offset", value=[-1.5, 0.0, 0.0]),
        Parameter("evader_odom_offset", value=[1.0, 0.0, math.pi]),
    ])
    peer, executor, states, diags, pub_p, pub_e = _peer(context, node)
    arenas: list[Arena] = []
    peer.create_subscription(Arena, "/safe_pe/arena", arenas.append, LATCHED)
    clock = {"ns": 1_000_000_000}

    def both() -> None:
        clock["ns"] += 10_000_000
        pub_p.publish(_odom(0.5, 0.2, 0.1, 0.1, clock["ns"]))
        pub_e.publish(_odom(0.5, 0.0, 0.0, 0.2, clock["ns"] + 1000))

    def pursuer_only() -> None:
        clock["ns"] += 10_000_000
        pub_p.publish(_odom(0.5, 0.2, 0.1, 0.1, clock["ns"]))

    try:
        # Latched arena from the parameters; nothing published before any odometry.
        assert spin_until(executor, lambda: arenas and diags, WAIT)
        assert arenas[-1].x_max == pytest.approx(2.2) and len(arenas[-1].obstacles) == 1
        assert not states
        assert diags[-1].level == DiagnosticStatus.ERROR
        assert f"no odometry from {P} yet" in diags[-1].message

        assert spin_until(executor, lambda: pub_p.get_subscription_count() > 0
                           and pub_e.get_subscription_count() > 0, WAIT)
        assert spin_until(executor, lambda: len(states) >= 5, WAIT, every=both)
        s = states[-1]
        assert s.header.frame_id == "arena" and s.dt == pytest.approx(0.1)
        assert s.pursuer.x == pytest.approx(-1.0) and s.pursuer.y == pytest.approx(0.2)
        assert s.pursuer.theta == pytest.approx(0.1) and s.pursuer.v == pytest.approx(0.1)
        assert s.evader.x == pytest.approx(0.5) and s.evader.y == pytest.approx(0.0, abs=1e-12)
        assert s.evader.theta == pytest.approx(-math.pi) and s.evader.v == pytest.approx(0.2)
        assert s.evader.agent_id == E and s.evader.role == s.evader.ROLE_EVADER
        assert s.evader.radius == pytest.approx(0.105) and s.pursuer.v_max == pytest.approx(
            node.settings.env.pursuer.v_max)
        assert s.distance == pytest.approx(math.hypot(1.5, 0.2))
        assert s.capture_radius == pytest.approx(0.3) and not s.captured
        assert not s.violation and s.violation_detail == ""
        assert len(s.arena.obstacles) == 1 and s.arena.obstacles[0].radius == pytest.approx(0.15)
        stamp = s.header.stamp.sec * 1_000_000_000 + s.header.stamp.nanosec
        assert stamp % 10_000_000 == 1000  # the evader's (newest) odometry stamp
        assert [m.step for m in states[-3:]] == list(range(states[-3].step,
                                                             states[-3].step + 3))
        assert spin_until(executor, lambda: diags[-1].level == DiagnosticStatus.OK, WAIT,
                           every=both)

        # The evader's odometry stops: once its last message is in (none still queued), the
        # node's clock moves 1 s on while the pursuer's keeps coming: no more game states,
        # diagnostics say why.
        last_evader_stamp = clock["ns"] + 1000
        assert spin_until(executor, lambda: node.core.samples[1].stamp_ns == last_evader_stamp,
                          WAIT, every=pursuer_only)
        wall.t += 1.0

        def evader_stale() -> bool:
            values = {kv.key: kv.value for kv in diags[-1].values}
            return (diags[-1].level == DiagnosticStatus.ERROR
                    and f"odometry of {E} is stale" in diags[-1].message
                    and values[f"odom_age_{P}_s"] == "0.000")

        assert spin_until(executor, evader_stale, WAIT, every=pursuer_only)
        count = len(states)
        spin_until(executor, lambda: False, 0.5, every=pursuer_only)
        assert len(states) == count
        values = {kv.key: kv.value for kv in diags[-1].values}
        assert float(values[f"odom_age_{E}_s"]) == pytest.approx(1.0)
        assert float(values[f"odom_age_{P}_s"]) == 0.0

        # NaN odometry is dropped and counted; fresh odometry resumes a new episode.
        pub_e.publish(_odom(math.nan, 0.0, 0.0, 0.0, clock["ns"]))
        assert spin_until(executor, lambda: node.core.dropped[E] == 1, WAIT)
        assert len(states) == count
        assert spin_until(executor, lambda: len(states) > count, WAIT, every=both)
        assert states[-1].episode_id == states[count - 1].episode_id + 1
        assert states[count].step == 0

        # Runtime parameters are validated: a bad one is refused, the node keeps running.
        result = node.set_parameters([Parameter("odom_timeout", value=-1.0)])[0]
        assert not result.successful and "odom_timeout" in result.reason
        assert node.set_parameters([Parameter("capture_radius", value=2.0)])[0].successful
        assert spin_until(executor, lambda: states[-1].captured, WAIT, every=both)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_invalid_start_parameters_fail_fast(context):
    with pytest.raises(ValueError, match="pursuer_odom_offset"):
        GameStateNode(context=context, parameter_overrides=[
            Parameter("pursuer_odom_offset", value=[1.0, 2.0])])


def test_arena_from_topic_and_bad_arena_rejected(context):
    node = GameStateNode(context=context, clock=FakeClock(), parameter_overrides=[
        Parameter("robots", value=[P, E]), Parameter("rate", value=50.0),
        Parameter("arena_source", value="topic"), Parameter("diagnostics_period", value=0.1),
    ])
    peer, executor, states, diags, pub_p, pub_e = _peer(context, node)
    arena_pub = peer.create_publisher(Arena, "/safe_pe/arena", LATCHED)

    def both() -> None:
        pub_p.publish(_odom(0.0, 0.0, 0.0, 0.0, 5))
        pub_e.publish(_odom(0.95, 0.0, 0.0, 0.0, 5))
    try:
        assert spin_until(executor, lambda: pub_e.get_subscription_count() > 0, WAIT)
        assert spin_until(executor, lambda: diags and "no arena" in diags[-1].message, WAIT,
                           every=both)
        assert not states
        bad = Arena(x_min=1.0, x_max=-1.0, y_min=-1.0, y_max=1.0)
        arena_pub.publish(bad)
        assert spin_until(executor, lambda: node.arena_rejected == 1, WAIT, every=both)
        assert not states
        arena_pub.publish(Arena(x_min=-1e300, x_max=1e300, y_min=-1.0, y_max=1.0))
        assert spin_until(executor, lambda: node.arena_rejected == 2, WAIT, every=both)
        assert not states  # no game state with walls 1e300 m away (distance inf)
        arena_pub.publish(Arena(x_min=-1.0, x_max=1.0, y_min=-1.0, y_max=1.0))
        assert spin_until(executor, lambda: len(states) >= 2, WAIT, every=both)
        # the evader's body (radius 0.105) at x = 0.95 crosses the x_max wall of this arena
        assert states[-1].violation and states[-1].arena.x_max == pytest.approx(1.0)
        assert states[-1].violation_detail == f"{E}: wall x_max depth 0.0550 m"
        assert states[-1].header.stamp.nanosec == 5
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_python_m_refuses_invalid_parameters_with_exit_code_2(tmp_path):
    env = dict(os.environ, ROS_DOMAIN_ID=str(1 + (os.getpid() * 29 + 43) % 100),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOG_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "safe_pe_sim.ros.game_state_node", "--ros-args",
         "-p", "evader_odom_offset:=[1.0, 2.0]"],
        env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "evader_odom_offset: need [x, y, yaw]" in proc.stdout + proc.stderr
