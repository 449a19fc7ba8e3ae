"""The safety-filter node in-process with rclpy: topics, watchdog, parameters, markers.

Every test that spins runs on both executor kinds main() can choose (events: the default,
single: the fallback), so timers, parameter changes and subscriptions are known to work on
each.
"""

from __future__ import annotations

import math
import os
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import Twist, TwistStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from safe_pe_msgs.msg import Arena, CircleObstacle, SafetyStatus  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from safe_pe_cbf.actuator import ActuatorLimits  # noqa: E402
from safe_pe_cbf.ros_common.conversions import odometry_message  # noqa: E402
from safe_pe_cbf.ros_common.executors import EXECUTOR_KINDS, make_executor  # noqa: E402
from safe_pe_cbf.ros.filter_node import SafetyFilterNode  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402

WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them
NS = f"pursuer_{os.getpid()}"  # unique topics: other test runs may share the DDS domain


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=8)


@pytest.fixture(params=EXECUTOR_KINDS)
def executor_kind(request) -> str:
    return request.param



def _spin_for(executor, seconds: float) -> None:
    """Spin for a while: only where nothing may happen, whatever the machine's speed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.02)


class FakeClock:
    """The filter pipeline's clock (receipt times, input ages, the nominal watchdog), moved
    only by the test: what goes stale does not depend on how fast a loaded machine spins."""

    def __init__(self, node) -> None:
        self.t = 100.0
        node.pipeline.clock = self

    def __call__(self) -> float:
        return self.t

    def tick(self) -> float:
        """A new receipt time (1 ms on), to recognise the next input's arrival by."""
        self.t += 1e-3
        return self.t


def _send_state(executor, node, clock: FakeClock, publish) -> None:
    """Publish the robot's odometry and wait until the filter has it."""
    t = clock.tick()
    publish()
    assert spin_until(executor, lambda: node.pipeline.pose_time == t, WAIT)


def _nominal(v: float, omega: float, sec: int) -> TwistStamped:
    msg = TwistStamped()
    msg.header.stamp.sec = sec
    msg.header.frame_id = "policy"
    msg.twist.linear.x, msg.twist.angular.z = v, omega
    return msg


def test_filter_node_watchdog_topics_and_parameters(context, executor_kind):
    node = SafetyFilterNode(context=context, namespace=f"/{NS}", parameter_overrides=[
        Parameter("nominal_cmd_type", value="twist_stamped"),
        Parameter("cmd_type", value="twist_stamped"),
        Parameter("arena.x_min", value=0.0), Parameter("arena.x_max", value=4.0),
        Parameter("arena.y_min", value=0.0), Parameter("arena.y_max", value=4.0),
        Parameter("obstacles", value=[2.0, 2.0, 0.3]),
        Parameter("state_timeout", value=0.3),
        Parameter("nominal_timeout", value=0.0),  # off here: see test_nominal_timeout_...
        Parameter("diagnostics_period", value=0.2),
        Parameter("cbf.v_max", value=0.22), Parameter("cbf.robot_radius", value=0.105),
    ])
    peer = rclpy.create_node("robot", context=context)
    executor = make_executor(executor_kind, context)
    executor.add_node(node)
    executor.add_node(peer)
    cmds: list[TwistStamped] = []
    statuses: list[SafetyStatus] = []
    diags: list[DiagnosticArray] = []
    peer.create_subscription(TwistStamped, f"/{NS}/cmd_vel", cmds.append, 10)
    peer.create_subscription(SafetyStatus, f"/{NS}/safety_status", statuses.append, 10)
    peer.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    odom_pub = peer.create_publisher(Odometry, f"/{NS}/odom", 10)
    nominal_pub = peer.create_publisher(TwistStamped, f"/{NS}/cmd_vel_nominal", 10)
    clock = FakeClock(node)
    try:
        assert node.get_parameter("robot_id").value == ""
        assert node.settings.robot_id == NS
        assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                           and odom_pub.get_subscription_count() > 0, WAIT)

        # No state yet: STOP with a reason, zero command, header copied through.
        nominal_pub.publish(_nominal(0.2, 0.0, sec=7))
        assert spin_until(executor, lambda: cmds and statuses, WAIT)
        assert cmds[-1].twist.linear.x == 0.0 and cmds[-1].header.stamp.sec == 7
        assert cmds[-1].header.frame_id == "policy"
        assert statuses[-1].tier == SafetyStatus.TIER_STOP
        assert "no robot state" in statuses[-1].reason
        assert statuses[-1].agent_id == NS and statuses[-1].nominal.linear.x == 0.2

        # Fresh state far from everything: nominal passes unchanged.
        odom = odometry_message([1.0, 1.0, 0.0], (0.0, 0.0), Header(frame_id="odom"), "base")
        _send_state(executor, node, clock, lambda: odom_pub.publish(odom))
        nominal_pub.publish(_nominal(0.1, 0.5, sec=8))
        assert spin_until(executor, lambda: len(cmds) >= 2 and len(statuses) >= 2, WAIT)
        assert statuses[-1].tier == SafetyStatus.TIER_NOMINAL, statuses[-1].reason
        assert cmds[-1].twist.linear.x == pytest.approx(0.1)
        assert cmds[-1].twist.angular.z == pytest.approx(0.5)

        # NaN nominal: dropped and counted, nothing published.
        nominal_pub.publish(_nominal(math.nan, 0.0, sec=9))
        assert spin_until(executor, lambda: node.pipeline.counters.dropped["nominal"] == 1,
                          WAIT)
        _spin_for(executor, 0.1)
        assert len(cmds) == 2

        # No nominal commands with nominal_timeout 0: the filter publishes nothing.
        _spin_for(executor, 0.3)
        assert len(cmds) == 2

        # State now stale (> 0.3 s): zero command with the reason.
        clock.t += 1.0
        nominal_pub.publish(_nominal(0.1, 0.0, sec=10))
        assert spin_until(executor, lambda: len(statuses) >= 3, WAIT)
        assert statuses[-1].tier == SafetyStatus.TIER_STOP and "stale" in statuses[-1].reason
        assert cmds[-1].twist.linear.x == 0.0

        # Diagnostics report the stop and the drop.
        assert spin_until(executor, lambda: diags and any(
            kv.key == "dropped_nominal" and kv.value == "1"
            for kv in diags[-1].status[0].values), WAIT)
        assert diags[-1].status[0].level == diags[-1].status[0].ERROR

        # Invalid parameters are rejected with a reason; valid ones rebuild the filter.
        result = node.set_parameters([Parameter("cbf.v_min", value=0.5)])[0]
        assert not result.successful and "v_min" in result.reason
        result = node.set_parameters([Parameter("obstacles", value=[1.0, 1.0])])[0]
        assert not result.successful and "multiple of 3" in result.reason
        result = node.set_parameters([Parameter("state_source", value="game_state")])[0]
        assert not result.successful  # read-only
        assert node.set_parameters([Parameter("state_timeout", value=5.0)])[0].successful
        assert node.pipeline.state_timeout == 5.0
        # actuator limits (docs/actuation.md): bad ones rejected, the previous ones kept
        result = node.set_parameters([Parameter("actuator.linear_decel", value=-2.5)])[0]
        assert not result.successful and "actuator.linear_decel" in result.reason
        result = node.set_parameters([Parameter("actuator.latency_steps", value=11)])[0]
        assert not result.successful and "actuator.latency_steps" in result.reason
        assert node.pipeline.cbf.actuator.ideal
        assert node.set_parameters([Parameter("actuator.linear_decel", value=2.5),
                                    Parameter("actuator.latency_steps", value=1)])[0].successful
        assert node.pipeline.cbf.actuator == ActuatorLimits(0.0, 2.5, 0.0, 1)
        assert node.set_parameters([Parameter("actuator.linear_decel", value=0.0),
                                    Parameter("actuator.latency_steps", value=0)])[0].successful
        assert node.set_parameters([Parameter("enabled", value=False)])[0].successful
        nominal_pub.publish(_nominal(3.0, 0.0, sec=11))
        assert spin_until(executor, lambda: len(statuses) >= 4, WAIT)
        assert statuses[-1].tier == SafetyStatus.TIER_DISABLED
        assert cmds[-1].twist.linear.x == 0.22  # no CBF, still the actuator limit cbf.v_max
        assert node.set_parameters([Parameter("enabled", value=True)])[0].successful

        # Markers only while someone subscribes.
        markers: list[MarkerArray] = []
        nominal_pub.publish(_nominal(0.1, 0.0, sec=12))
        _spin_for(executor, 0.2)
        assert node.marker_pub.get_subscription_count() == 0
        peer.create_subscription(MarkerArray, f"/{NS}/safety_markers", markers.append, 10)
        assert spin_until(executor, lambda: node.marker_pub.get_subscription_count() > 0, WAIT)
        _send_state(executor, node, clock, lambda: odom_pub.publish(odom))
        nominal_pub.publish(_nominal(0.1, 0.0, sec=13))
        assert spin_until(executor, lambda: markers, WAIT)
        assert any(m.ns.endswith("/active") or m.ns.endswith("/labels")
                   for m in markers[-1].markers)

        # Shutdown: one zero command.
        count = len(cmds)
        node.publish_zero(wait_s=1.0)
        assert spin_until(executor, lambda: len(cmds) > count, WAIT)
        assert cmds[-1].twist.linear.x == 0.0 and cmds[-1].twist.angular.z == 0.0
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_nominal_timeout_publishes_zeros_then_silence(context, executor_kind):
    node = SafetyFilterNode(context=context, namespace=f"/{NS}", parameter_overrides=[
        Parameter("arena.x_min", value=0.0), Parameter("arena.x_max", value=4.0),
        Parameter("arena.y_min", value=0.0), Parameter("arena.y_max", value=4.0),
        Parameter("state_timeout", value=10.0),  # one odometry message for the whole test
        Parameter("cbf.dt", value=0.05),
        Parameter("nominal_timeout", value=0.2), Parameter("zero_hold", value=0.5),
    ])
    peer = rclpy.create_node("policy", context=context)
    executor = make_executor(executor_kind, context)
    executor.add_node(node)
    executor.add_node(peer)
    cmds: list[tuple[float, Twist]] = []  # (receipt time, command)
    statuses: list[SafetyStatus] = []
    peer.create_subscription(Twist, f"/{NS}/cmd_vel",
                             lambda m: cmds.append((time.monotonic(), m)), 50)
    peer.create_subscription(SafetyStatus, f"/{NS}/safety_status", statuses.append, 50)
    odom_pub = peer.create_publisher(Odometry, f"/{NS}/odom", 10)
    nominal_pub = peer.create_publisher(Twist, f"/{NS}/cmd_vel_nominal", 10)
    nominal = Twist()
    nominal.linear.x = 0.1
    clock = FakeClock(node)
    counters = node.pipeline.counters
    try:
        assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                           and odom_pub.get_subscription_count() > 0, WAIT)
        _send_state(executor, node, clock, lambda: odom_pub.publish(odometry_message(
            [1.0, 1.0, 0.0], (0.0, 0.0), Header(), "base")))
        for k in range(10):  # the policy drives ...
            nominal_pub.publish(nominal)
            assert spin_until(executor, lambda: len(cmds) == k + 1, WAIT)
        assert cmds[-1][1].linear.x == 0.1
        assert statuses[-1].tier == SafetyStatus.TIER_NOMINAL, statuses[-1].reason
        # ... and stops (e.g. its game state went stale): nothing happens before
        # nominal_timeout (0.2 s) on the filter's clock ...
        _spin_for(executor, 0.3)
        assert len(cmds) == 10 and counters.timeout_zeros == 0
        # ... then zero commands (tier STOP) for zero_hold (0.5 s) ...
        clock.t += 0.25
        t_timeout = clock.t
        assert spin_until(executor, lambda: counters.timeout_zeros >= 1, WAIT)
        clock.t = t_timeout + 0.5  # the end of zero_hold: still zeros
        zeros_in_hold = counters.timeout_zeros
        assert spin_until(executor, lambda: counters.timeout_zeros > zeros_in_hold, WAIT)
        clock.t = t_timeout + 0.51  # past zero_hold: silence (a mux can hand over)
        _spin_for(executor, 0.2)  # a watchdog tick already under way ends
        sent = counters.timeout_zeros
        assert spin_until(executor, lambda: len(cmds) == 10 + sent, WAIT)
        _spin_for(executor, 0.3)
        assert counters.timeout_zeros == sent and len(cmds) == 10 + sent
        zeros = [m for _, m in cmds[10:]]
        assert all(m.linear.x == 0.0 and m.angular.z == 0.0 for m in zeros)
        assert spin_until(executor, lambda: sum(
            s.tier == SafetyStatus.TIER_STOP for s in statuses) == sent, WAIT)
        stops = [s for s in statuses if s.tier == SafetyStatus.TIER_STOP]
        assert all(s.reason.startswith("nominal command timed out after") for s in stops)
        assert counters.nominal_timeouts == 1

        # ... until a nominal command arrives: filtered as usual, the watchdog re-armed.
        count = len(cmds)
        nominal_pub.publish(nominal)
        assert spin_until(executor, lambda: len(cmds) > count, WAIT)
        assert cmds[count][1].linear.x == 0.1
        clock.t += 0.25
        assert spin_until(executor, lambda: counters.nominal_timeouts == 2, WAIT)

        # Runtime changes are checked against the command period; 0 turns it off.
        result = node.set_parameters([Parameter("nominal_timeout", value=0.01)])[0]
        assert not result.successful and "cbf.dt" in result.reason
        assert node.set_parameters([Parameter("nominal_timeout", value=0.0)])[0].successful
        assert node._watchdog_timer is None and node.pipeline.nominal_timeout == 0.0
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_invalid_start_parameters_fail_fast(context):
    with pytest.raises(ValueError, match="arena"):
        SafetyFilterNode(context=context, parameter_overrides=[
            Parameter("arena.x_min", value=5.0), Parameter("arena.x_max", value=1.0)])


def test_arena_from_the_latched_topic_and_opponent_from_odometry(context, executor_kind):
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    peer = rclpy.create_node("world", context=context)
    arena_pub = peer.create_publisher(Arena, "/safe_pe/arena", latched)
    bad = Arena(x_min=0.0, x_max=math.nan, y_min=0.0, y_max=4.0)
    arena_pub.publish(bad)  # NaN: dropped and counted, the filter keeps stopping
    node = SafetyFilterNode(context=context, namespace=f"/{NS}", parameter_overrides=[
        Parameter("arena_source", value="topic"),
        Parameter("opponent_source", value="odom"),
        Parameter("opponent_odom_topic", value=f"/{NS}_other/odom"),
    ])
    executor = make_executor(executor_kind, context)
    executor.add_node(node)
    executor.add_node(peer)
    statuses: list[SafetyStatus] = []
    peer.create_subscription(SafetyStatus, f"/{NS}/safety_status", statuses.append, 10)
    odom_pub = peer.create_publisher(Odometry, f"/{NS}/odom", 10)
    other_pub = peer.create_publisher(Odometry, f"/{NS}_other/odom", 10)
    nominal_pub = peer.create_publisher(Twist, f"/{NS}/cmd_vel_nominal", 10)
    here = odometry_message([1.0, 1.0, 0.0], (0.0, 0.0), Header(), "base")
    there = odometry_message([3.0, 3.0, 0.0], (0.0, 0.0), Header(), "base")

    clock = FakeClock(node)

    def ask() -> SafetyStatus:
        count = len(statuses)
        t = clock.tick()
        odom_pub.publish(here)
        other_pub.publish(there)
        assert spin_until(executor, lambda: node.pipeline.pose_time == t
                          and node.pipeline.opponent_time == t, WAIT)
        nominal_pub.publish(Twist())
        assert spin_until(executor, lambda: len(statuses) > count, WAIT)
        return statuses[-1]

    try:
        assert spin_until(executor, lambda: node.pipeline.counters.dropped["arena"] == 1, WAIT)
        assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                           and other_pub.get_subscription_count() > 0, WAIT)
        status = ask()
        assert status.tier == SafetyStatus.TIER_STOP and "arena" in status.reason
        arena_pub.publish(Arena(x_min=0.0, x_max=4.0, y_min=0.0, y_max=4.0,
                                obstacles=[CircleObstacle(x=2.0, y=1.0, radius=0.3)]))
        assert spin_until(executor, lambda: node.pipeline.resolver is not None, WAIT)
        status = ask()
        assert status.tier == SafetyStatus.TIER_NOMINAL, status.reason
        assert node.pipeline.opponent is not None
        assert node.pipeline.opponent[0] == pytest.approx(3.0)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_raw_command_path_decodes_falls_back_and_drops(context):
    """The nominal subscription is raw: little- and big-endian commands are read by the node's
    own decoder, an undecodable buffer is dropped and counted (nothing published, the node goes
    on), and an unstamped nominal gets a stamped output with the node's frame_id and the stamp
    of the odometry it was computed from (the node's clock if that stamp is zero)."""
    import struct

    node = SafetyFilterNode(context=context, namespace=f"/{NS}_raw", parameter_overrides=[
        Parameter("nominal_cmd_type", value="twist"),
        Parameter("cmd_type", value="twist_stamped"),
        Parameter("frame_id", value="arena_frame"),
        Parameter("arena.x_min", value=0.0), Parameter("arena.x_max", value=4.0),
        Parameter("arena.y_min", value=0.0), Parameter("arena.y_max", value=4.0),
        Parameter("state_timeout", value=5.0), Parameter("nominal_timeout", value=0.0),
    ])
    peer = rclpy.create_node("robot_raw", context=context)
    executor = make_executor("events", context)
    executor.add_node(node)
    executor.add_node(peer)
    cmds: list[TwistStamped] = []
    peer.create_subscription(TwistStamped, f"/{NS}_raw/cmd_vel", cmds.append, 10)
    odom_pub = peer.create_publisher(Odometry, f"/{NS}_raw/odom", 10)
    nominal_pub = peer.create_publisher(Twist, f"/{NS}_raw/cmd_vel_nominal", 10)
    try:
        assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                           and odom_pub.get_subscription_count() > 0, WAIT)
        clock = FakeClock(node)
        _send_state(executor, node, clock, lambda: odom_pub.publish(odometry_message(
            [1.0, 1.0, 0.0], (0.0, 0.0), Header(frame_id="odom"), "base")))
        before = time.time()
        msg = Twist()
        msg.linear.x, msg.angular.z = 0.1, 0.2
        nominal_pub.publish(msg)  # rclpy's little-endian CDR
        assert spin_until(executor, lambda: len(cmds) >= 1, WAIT)
        assert (cmds[-1].twist.linear.x, cmds[-1].twist.angular.z) == (0.1, 0.2)
        assert cmds[-1].header.frame_id == "arena_frame"
        assert abs(cmds[-1].header.stamp.sec + 1e-9 * cmds[-1].header.stamp.nanosec
                   - before) < 5.0  # zero odometry stamp: the node's clock
        # a stamped odometry: the answer to an unstamped command carries its stamp
        odom_header = Header(frame_id="odom")
        odom_header.stamp.sec, odom_header.stamp.nanosec = 42, 7
        _send_state(executor, node, clock, lambda: odom_pub.publish(odometry_message(
            [1.0, 1.0, 0.0], (0.0, 0.0), odom_header, "base")))
        nominal_pub.publish(msg)
        assert spin_until(executor, lambda: len(cmds) >= 2, WAIT)
        assert (cmds[-1].header.stamp.sec, cmds[-1].header.stamp.nanosec) == (42, 7)
        assert cmds[-1].header.frame_id == "arena_frame"
        big_endian = b"\x00\x00\x00\x00" + struct.pack(">6d", 0.15, 0.0, 0.0, 0.0, 0.0, -0.1)
        nominal_pub.publish(big_endian)
        assert spin_until(executor, lambda: len(cmds) >= 3, WAIT)
        assert (cmds[-1].twist.linear.x, cmds[-1].twist.angular.z) == (0.15, -0.1)
        nominal_pub.publish(b"\x00\x0b\x00\x00garbage")  # unknown representation, too short
        assert spin_until(executor, lambda: node.pipeline.counters.dropped["nominal"] == 1,
                          WAIT)
        _spin_for(executor, 0.1)
        assert len(cmds) == 3
        nominal_pub.publish(msg)  # and the node goes on
        assert spin_until(executor, lambda: len(cmds) >= 4, WAIT)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
