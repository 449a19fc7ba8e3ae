"""The running filter node under hostile parameters and messages (issue 11, items 1 and 6).

Spins in-process with message-count-based waits only (no timing assertions).
"""

from __future__ import annotations

import os

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from geometry_msgs.msg import Twist, TwistStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from safe_pe_cbf.ros_common.conversions import odometry_message  # noqa: E402
from safe_pe_cbf.ros_common.executors import make_executor  # noqa: E402
from safe_pe_cbf.ros.filter_node import SafetyFilterNode  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402
from safe_pe_cbf.ros.twist_cdr import encode_twist  # noqa: E402

NS = f"harden_{os.getpid()}"


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=23)


@pytest.mark.parametrize("name, value", [
    ("cbf.opponent_omega_max", 1e308),
    ("cbf.opponent_vcp_offset", 1e200),
    ("cbf.omega_max", 1e300),
    ("cbf.feasibility_tol", 1.0),
    ("cbf.feasibility_tol", 1e300),
    ("cbf.weights", [1e-9, 1.0]),
    ("cbf.weights", [1.0, 1e300]),
])
def test_extreme_parameter_is_rejected_and_the_node_keeps_filtering(context, name, value):
    node = SafetyFilterNode(context=context, namespace=f"/{NS}", parameter_overrides=[
        Parameter("arena.x_min", value=0.0), Parameter("arena.x_max", value=4.0),
        Parameter("arena.y_min", value=0.0), Parameter("arena.y_max", value=4.0),
        Parameter("state_timeout", value=10.0), Parameter("nominal_timeout", value=0.0),
    ])
    peer = rclpy.create_node("robot", context=context)
    executor = make_executor("single", context)
    executor.add_node(node)
    executor.add_node(peer)
    cmds: list[Twist] = []
    peer.create_subscription(Twist, f"/{NS}/cmd_vel", cmds.append, 10)
    odom_pub = peer.create_publisher(Odometry, f"/{NS}/odom", 10)
    nominal_pub = peer.create_publisher(Twist, f"/{NS}/cmd_vel_nominal", 10)
    try:
        before = node.settings.cbf.to_dict()
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful
        assert result.reason, "a rejected change must say why"
        assert node.settings.cbf.to_dict() == before
        assert node.pipeline.cbf.to_dict() == before
        # still filtering: a fresh state and a nominal command give a finite safe command
        assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                          and odom_pub.get_subscription_count() > 0)
        odom_pub.publish(odometry_message([1.0, 1.0, 0.0], (0.0, 0.0), Header(), "base"))
        assert spin_until(executor, lambda: node.pipeline.pose is not None)
        nominal = Twist()
        nominal.linear.x = 0.3
        nominal_pub.publish(nominal)
        assert spin_until(executor, lambda: cmds)
        assert cmds[-1].linear.x == pytest.approx(0.3)
        assert node.pipeline.last_decision.tier == 0  # NOMINAL
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def _node_and_peer(context, *params, stamped=False):
    node = SafetyFilterNode(context=context, namespace=f"/{NS}", parameter_overrides=[
        Parameter("arena.x_min", value=0.0), Parameter("arena.x_max", value=4.0),
        Parameter("arena.y_min", value=0.0), Parameter("arena.y_max", value=4.0),
        Parameter("state_timeout", value=10.0), Parameter("nominal_timeout", value=0.0),
        *([Parameter("nominal_cmd_type", value="twist_stamped"),
           Parameter("cmd_type", value="twist_stamped")] if stamped else []), *params])
    peer = rclpy.create_node("robot", context=context)
    executor = make_executor("single", context)
    executor.add_node(node)
    executor.add_node(peer)
    kind = TwistStamped if stamped else Twist
    cmds: list = []
    peer.create_subscription(kind, f"/{NS}/cmd_vel", cmds.append, 100)
    odom_pub = peer.create_publisher(Odometry, f"/{NS}/odom", 10)
    nominal_pub = peer.create_publisher(kind, f"/{NS}/cmd_vel_nominal", 100)
    assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                      and odom_pub.get_subscription_count() > 0)
    odom_pub.publish(odometry_message([1.0, 1.0, 0.0], (0.0, 0.0), Header(), "base"))
    assert spin_until(executor, lambda: node.pipeline.pose is not None)
    return node, peer, executor, cmds, nominal_pub


def test_malformed_twist_buffers_are_dropped_and_counted(context):
    node, peer, executor, cmds, nominal_pub = _node_and_peer(context)
    try:
        good = encode_twist(0.3, 0.0)
        bad = [good[:44], good[:51], good[:3] + b"\x02" + good[4:-2] + b"\x00\x00"]
        for data in bad:
            nominal_pub.publish(data)
        nominal_pub.publish(good)  # in order on one reliable topic: arrives after the bad
        assert spin_until(executor, lambda: cmds)
        dropped = node.pipeline.counters.dropped["nominal"]
        assert dropped == len(bad) and len(cmds) == 1
        assert cmds[0].linear.x == pytest.approx(0.3)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_max_command_age_refuses_old_and_future_stamps(context):
    node, peer, executor, cmds, nominal_pub = _node_and_peer(
        # 60 s, not 1 s: the fresh command must stay fresh however long a loaded machine
        # takes to deliver it; 1970 and 2038 are refused all the same
        context, Parameter("max_command_age", value=60.0), stamped=True)
    try:
        def send(sec: int, nanosec: int = 0) -> None:
            msg = TwistStamped()
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
            msg.twist.linear.x = 0.3
            nominal_pub.publish(msg)

        now = node.get_clock().now().seconds_nanoseconds()
        send(int(now[0]), int(now[1]))                   # fresh
        send(0)                                          # 1970
        send(2**31 - 1, 999_999_999)                     # the far future
        send(-2**31)                                     # before 1970
        assert spin_until(executor, lambda: len(cmds) >= 4)
        assert cmds[0].twist.linear.x == pytest.approx(0.3)
        assert all(c.twist.linear.x == 0.0 and c.twist.angular.z == 0.0 for c in cmds[1:])
        assert node.pipeline.counters.dropped["nominal_stale"] == 3
        # off by default, and only meaningful with stamps
        result = node.set_parameters([Parameter("max_command_age", value=0.0)])[0]
        assert result.successful
        send(0)
        assert spin_until(executor, lambda: len(cmds) >= 5)
        assert cmds[-1].twist.linear.x == pytest.approx(0.3)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
