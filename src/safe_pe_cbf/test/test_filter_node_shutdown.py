"""The filter node process stops cleanly on SIGINT and SIGTERM in the middle of traffic.

Twenty consecutive shutdowns, SIGINT and SIGTERM alternately (and both executor kinds):
each time the node is started, this test plays the robot (Odometry and nominal commands on
every spin), waits for the node's first safe command, signals it while the commands keep
coming, and waits for it to exit. Every exit must have code 0 and print no traceback and no
FATAL line (a signal must never interrupt a running callback), and the last command the node
sent must be the zero command of its goodbye.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from geometry_msgs.msg import Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from safe_pe_cbf.ros_common.conversions import odometry_message  # noqa: E402
from safe_pe_cbf.ros_common.executors import EXECUTOR_KINDS  # noqa: E402
from safe_pe_cbf.ros_common.testing import (  # noqa: E402
    SHUTDOWN_NOISE,
    isolated_context,
    spin_until,
    stop_under_traffic,
)

SHUTDOWNS = 20
NS = f"shutdown_{os.getpid()}"
PARAMS = """/**:
  ros__parameters:
    state_source: odom
    arena_source: parameters
    arena.x_min: 0.0
    arena.x_max: 4.0
    arena.y_min: 0.0
    arena.y_max: 4.0
    obstacles: [2.0, 2.0, 0.3]
    state_timeout: 5.0
    nominal_timeout: 5.0
"""


@pytest.fixture()
def ros_env(tmp_path, monkeypatch):
    for ctx in isolated_context(tmp_path, monkeypatch, salt=23):
        yield ctx, tmp_path


def test_twenty_shutdowns_under_traffic_are_clean(ros_env):
    ctx, tmp_path = ros_env
    params = tmp_path / "filter.yaml"
    params.write_text(PARAMS)
    node = rclpy.create_node("robot", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    received: list[Twist] = []
    node.create_subscription(Twist, f"/{NS}/cmd_vel", received.append, 100)
    odom_pub = node.create_publisher(Odometry, f"/{NS}/odom", 10)
    nominal_pub = node.create_publisher(Twist, f"/{NS}/cmd_vel_nominal", 10)
    odom = odometry_message((1.0, 1.0, 0.0), (0.0, 0.0), Header(), "base_link")
    nominal = Twist()
    nominal.linear.x, nominal.angular.z = 0.5, 0.2

    def traffic() -> None:
        odom_pub.publish(odom)
        nominal_pub.publish(nominal)

    try:
        for i in range(SHUTDOWNS):
            sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
            kind = EXECUTOR_KINDS[(i // 2) % len(EXECUTOR_KINDS)]
            received.clear()
            code, output = stop_under_traffic(
                executor,
                [sys.executable, "-m", "safe_pe_cbf.ros.filter_node", "--executor", kind,
                 "--ros-args", "-r", f"__ns:=/{NS}", "--params-file", str(params)],
                tmp_path / f"filter_{i}.log",
                ready=lambda: any(m.linear.x > 0.0 for m in received),
                traffic=traffic, sig=sig)
            where = f"shutdown {i + 1} ({sig.name}, {kind} executor)"
            assert code == 0, f"{where}: exit code {code}\n{output}"
            noise = [line for line in output.splitlines()
                     if any(word in line for word in SHUTDOWN_NOISE)]
            assert not noise, f"{where}:\n{output}"
            # The goodbye: the node's last command stops the robot (it was acknowledged
            # before the exit; the wait only lets this executor take it).
            assert spin_until(executor, lambda: received[-1].linear.x == 0.0
                              and received[-1].angular.z == 0.0, 10.0), where
    finally:
        executor.shutdown()
        node.destroy_node()
