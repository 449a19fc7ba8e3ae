"""Fuzz of the running filter node (issue 11, item 8): >= 10^4 hostile messages and every
parameter set to extreme values; the node stays up and every command it sends is finite and
within the actuator limits in force.

In-process, one single-threaded executor, deterministic (seeded) inputs. Waits count
messages only: each nominal command the node takes is either answered (one safe command) or
dropped and counted, so the test publishes at most the command QoS depth at a time and spins
until the node's counters account for every one (no sleeps, no timing assertions).
"""

from __future__ import annotations

import math
import os
import struct

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from geometry_msgs.msg import Twist, TwistStamped, Vector3  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from safe_pe_cbf.ros_common.executors import make_executor  # noqa: E402
from safe_pe_cbf.ros.filter_node import SafetyFilterNode  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402
from safe_pe_cbf.ros.twist_cdr import encode_twist, encode_twist_stamped  # noqa: E402

NS = f"fuzz_{os.getpid()}"
MESSAGES = 5000  # nominal commands per variant (Twist, TwistStamped): 10^4 in all
BURST = 4        # < the command QoS depth (5): nothing is overwritten before it is taken
WAIT = 60.0      # generous: only reached if something is lost or the node is stuck
BAD = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 1e6, -1e6, 1e-300]
INT32 = [-2**31, -1, 0, 1, 2**31 - 1]
UINT32 = [0, 1, 999_999_999, 2**32 - 1]


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=29)


def _number(rng) -> float:
    if rng.random() < 0.4:
        return float(rng.choice(BAD))
    return float(rng.normal(0.0, 3.0))


def _bytes_of_other_types(rng) -> list[bytes]:
    return [serialize_message(Vector3(x=_number(rng), y=1.0, z=2.0)),
            serialize_message(String(data="cmd")),
            b"\x00\x01\x00\x00" + struct.pack("<5d", 1.0, 2.0, 3.0, 4.0, 5.0)]


def _raw_nominal(rng, stamped: bool, now_sec: int) -> bytes:
    """One serialized nominal command: valid with odd numbers, malformed, or another type."""
    kind = rng.random()
    if stamped:
        sec = int(rng.choice(INT32 + [now_sec] * 5))
        nanosec = int(rng.choice(UINT32))
        frame = "x" * int(rng.integers(0, 40))
        good = encode_twist_stamped(sec, nanosec, frame.encode(), _number(rng), _number(rng))
    else:
        good = encode_twist(_number(rng), _number(rng))
    if kind < 0.6:
        return good
    if kind < 0.75:
        return good[:int(rng.integers(0, len(good)))]              # truncated
    if kind < 0.8:
        return good[:3] + bytes([int(rng.integers(1, 4))]) + good[4:]  # padding declared
    if kind < 0.85:
        head = bytes([0, int(rng.choice([0, 1, 2, 3, 7])), 0, 0])     # other representations
        return head + good[4:]
    if kind < 0.9:
        return rng.bytes(int(rng.integers(1, len(good) + 1)))       # garbage
    others = _bytes_of_other_types(rng)
    return others[int(rng.integers(0, len(others)))]                # a wrong type's bytes


def _odometry(rng, pose_ok: bool) -> Odometry:
    msg = Odometry()
    msg.header.stamp.sec = int(rng.choice(INT32))
    msg.header.stamp.nanosec = int(rng.choice(UINT32))
    p = msg.pose.pose
    if pose_ok:
        p.position.x, p.position.y = (float(v) for v in rng.uniform(0.5, 3.5, 2))
        p.orientation.w = 1.0
    else:
        p.position.x, p.position.y = _number(rng), _number(rng)
        p.orientation.z, p.orientation.w = _number(rng), _number(rng)
    return msg


class Harness:
    """The node under test, a peer publishing to it, and the commands it sent."""

    def __init__(self, context, stamped: bool) -> None:
        kind = "twist_stamped" if stamped else "twist"
        self.stamped = stamped
        self.node = SafetyFilterNode(context=context, namespace=f"/{NS}", parameter_overrides=[
            Parameter("nominal_cmd_type", value=kind), Parameter("cmd_type", value=kind),
            Parameter("arena.x_min", value=0.0), Parameter("arena.x_max", value=4.0),
            Parameter("arena.y_min", value=0.0), Parameter("arena.y_max", value=4.0),
            Parameter("obstacles", value=[2.0, 2.0, 0.3]),
            Parameter("state_timeout", value=10.0),
            Parameter("max_command_age", value=0.5 if stamped else 0.0),
        ])
        self.peer = rclpy.create_node("fuzzer", context=context)
        self.executor = make_executor("single", context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        msg_type = TwistStamped if stamped else Twist
        self.outputs: list[tuple[float, float]] = []
        self.bad_outputs: list[str] = []

        def on_cmd(msg) -> None:
            t = msg.twist if stamped else msg
            v, w = t.linear.x, t.angular.z
            c = self.node.settings.cbf  # the limits in force (parameters change between
            self.outputs.append((v, w))  # bursts only, after every answer was taken)
            if not (math.isfinite(v) and math.isfinite(w) and c.v_min <= v <= c.v_max
                    and abs(w) <= c.omega_max):
                self.bad_outputs.append(f"({v}, {w}) outside [{c.v_min}, {c.v_max}] x "
                                        f"+-{c.omega_max}")

        self.peer.create_subscription(msg_type, f"/{NS}/cmd_vel", on_cmd, 100)
        self.nominal_pub = self.peer.create_publisher(msg_type, f"/{NS}/cmd_vel_nominal", 5)
        self.odom_pub = self.peer.create_publisher(Odometry, f"/{NS}/odom", 10)
        self.params = AsyncParameterClient(self.peer, f"/{NS}/safety_filter")
        assert spin_until(self.executor, lambda: self.nominal_pub.get_subscription_count() > 0
                          and self.odom_pub.get_subscription_count() > 0, WAIT)
        assert self.params.wait_for_services(timeout_sec=WAIT)

    def taken(self) -> int:
        """Nominal commands the node has taken: answered or dropped."""
        c = self.node.pipeline.counters
        return c.commands + c.dropped["nominal"]

    def send(self, buffers: list[bytes]) -> None:
        """Publish serialized nominal commands and spin until the node took every one."""
        target = self.taken() + len(buffers)
        for data in buffers:
            self.nominal_pub.publish(data)
        assert spin_until(self.executor, lambda: self.taken() >= target, WAIT), (
            f"node took {self.taken()} of {target} nominal commands")
        self.drain()

    def drain(self) -> None:
        """Spin until every command the node sent (answers and watchdog zeros) arrived."""
        c = self.node.pipeline.counters
        assert spin_until(self.executor,
                          lambda: len(self.outputs) >= c.commands + c.timeout_zeros, WAIT), (
            f"{len(self.outputs)} of {c.commands + c.timeout_zeros} commands arrived")

    def odom(self, msg: Odometry) -> None:
        count = self.node.pipeline.counters.dropped["state"]
        before = self.node.pipeline.pose_time
        self.odom_pub.publish(msg)
        assert spin_until(self.executor, lambda: self.node.pipeline.pose_time != before
                          or self.node.pipeline.counters.dropped["state"] != count, WAIT)

    def set(self, name: str, value) -> None:
        future = self.params.set_parameters([Parameter(name, value=value)])
        assert spin_until(self.executor, future.done, WAIT), f"no answer setting {name}"
        result = future.result().results[0]
        assert result.successful or result.reason, f"{name}={value!r} rejected without reason"

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


def _valid_command(h: Harness, rng) -> bytes:
    now = h.node.get_clock().now().seconds_nanoseconds()
    v, w = float(rng.uniform(-2, 2)), float(rng.uniform(-5, 5))
    if h.stamped:
        return encode_twist_stamped(int(now[0]), int(now[1]), b"policy", v, w)
    return encode_twist(v, w)


@pytest.mark.parametrize("stamped", [False, True])
def test_fuzzed_messages_keep_the_node_up_and_outputs_within_limits(context, stamped):
    rng = np.random.default_rng(11 + stamped)
    h = Harness(context, stamped)
    try:
        h.odom(_odometry(rng, pose_ok=True))
        sent = 0
        while sent < MESSAGES:
            if rng.random() < 0.1:
                h.odom(_odometry(rng, pose_ok=rng.random() < 0.6))
            if rng.random() < 0.002:
                h.set("enabled", bool(rng.random() < 0.5))
            now_sec = h.node.get_clock().now().seconds_nanoseconds()[0]
            burst = [_raw_nominal(rng, stamped, now_sec) for _ in range(BURST)]
            h.send(burst)
            sent += len(burst)
        h.set("enabled", True)
        c = h.node.pipeline.counters
        assert not h.bad_outputs, h.bad_outputs[:5]
        assert c.commands > MESSAGES // 3 and c.dropped["nominal"] > MESSAGES // 10
        h.drain()
        if stamped:
            assert c.dropped["nominal_stale"] > 0
        # still filtering afterwards
        h.odom(_odometry(rng, pose_ok=True))
        h.send([_valid_command(h, rng)])
        assert h.node.pipeline.last_decision is not None
        assert h.node.pipeline.last_decision.tier != 4, h.node.pipeline.last_decision.reason
    finally:
        h.close()


def _extremes(spec) -> list:
    """Values to try for one parameter: extremes of its type, and of the wrong types."""
    wrong = ["0.5", True, 7, [1.0, 2.0]]
    if spec.array_kind == "double":
        return [[], [1e308, 1.0], [math.nan, 1.0], [-1e308] * 3, [1.0, 2.0, 3.0],
                [5e-324, 5e-324], [1e-3, 1.0], [1.0] * 300, "x"]
    if spec.array_kind == "string":
        return [[], ["collision"], ["a", "b", "c"], ["obstacles", "arena", "collision"], 1.0]
    if isinstance(spec.default, bool):
        return [True, False, 1, "true", 0.0]
    if isinstance(spec.default, float):
        vals = [1e308, -1e308, math.inf, -math.inf, math.nan, 0.0, -0.0, 5e-324, 1e-300]
        vals += [v for v in (spec.min_value, spec.max_value) if v is not None]
        return vals + wrong
    if isinstance(spec.default, int):
        return [2**63 - 1, -2**63, 0, 1.5, "1"]
    return ["", "x" * 10_000, "\x00", "none", "odom", "twist_stamped", 1.0]


def test_every_parameter_set_to_extreme_values(context):
    rng = np.random.default_rng(5)
    h = Harness(context, stamped=False)
    try:
        tried = 0
        for name, spec in h.node._specs.items():
            for value in _extremes(spec):
                h.set(name, value)
                tried += 1
                h.odom(_odometry(rng, pose_ok=True))
                h.send([_valid_command(h, rng), encode_twist(1e308, -1e308)])
            assert not h.bad_outputs, (name, h.bad_outputs[:5])
        assert tried > 200
        h.drain()
        assert not h.bad_outputs, h.bad_outputs[:5]
    finally:
        h.close()
