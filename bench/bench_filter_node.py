#!/usr/bin/env python3
"""Latency of the safety-filter node across processes, beside a plain relay node.

Three processes: this one plays the robot/policy, one runs the filter node
(``python -m safe_pe_cbf.ros.filter_node``), one runs a plain rclpy relay (subscribe ->
publish the same message, nothing else). This process publishes Odometry at 50 Hz and, paced at
``--rate`` Hz and alternating between the two paths, one TwistStamped command at a time
carrying a sequence number in its header; it times publish -> receipt of the answer
(``cmd_vel`` of the filter, ``out`` of the relay) with ``time.perf_counter``.

Both paths cross two process boundaries (bench -> node -> bench), so the relay is the
baseline of the transport + rclpy executor cost and the difference is what the filter adds
(callback, conversions, CBF resolve, SafetyStatus publish). Printed side by side in one run:

    path            p50 [ms]  p99 [ms]  ...
    relay (2 hops)
    filter (2 hops)
    filter/relay ratio, filter added latency,
    one hop nominal -> safe (estimate: filter round trip - relay round trip / 2)

Usage::

    source scripts/env.sh
    python bench/bench_filter_node.py [--samples 1000] [--rate 200] [--no-status]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARAMS = """/**:
  ros__parameters:
    nominal_cmd_type: twist_stamped
    cmd_type: twist_stamped
    state_source: odom
    arena_source: parameters
    arena.x_min: -5.0
    arena.x_max: 5.0
    arena.y_min: -5.0
    arena.y_max: 5.0
    obstacles: [1.0, 0.0, 0.3, -2.0, 2.0, 0.5, 2.0, -2.0, 0.4]
    state_timeout: 1.0
    publish_status: {status}
    diagnostics_period: 1.0
"""


def run_relay() -> None:
    """The baseline node: republish every TwistStamped from ``/relay/in`` on ``/relay/out``."""
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    rclpy.init()
    node = rclpy.create_node("relay")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(TwistStamped, "/relay/out", qos)
    node.create_subscription(TwistStamped, "/relay/in", pub.publish, qos)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile.

    :param values: samples.
    :param q: percentile in [0, 100].
    """
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100.0 * len(ordered))) - 1))
    return ordered[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000, help="commands per path")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="commands per second, alternating filter/relay")
    parser.add_argument("--no-status", action="store_true",
                        help="filter with publish_status false (no SafetyStatus per command)")
    parser.add_argument("--relay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        run_relay()
        return

    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    tmp = Path(tempfile.mkdtemp(prefix="bench_filter_"))
    os.environ.setdefault("ROS_LOG_DIR", str(tmp / "ros_log"))
    params = tmp / "filter.yaml"
    params.write_text(PARAMS.format(status="false" if args.no_status else "true"))
    log = open(tmp / "nodes.log", "w")
    procs = [
        subprocess.Popen([sys.executable, "-m", "safe_pe_cbf.ros.filter_node", "--ros-args",
                          "-r", "__ns:=/bench", "--params-file", str(params)],
                         stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, __file__, "--relay"], stdout=log,
                         stderr=subprocess.STDOUT),
    ]
    try:
        results = measure(args.samples, args.rate)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    report(results, args)


def measure(samples: int, rate: float) -> dict[str, list[float]]:
    """Ping one command at a time through each path; return round trips [s] per path.

    :param samples: commands per path.
    :param rate: total commands per second (paths alternate).
    """
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Header

    from safe_pe_cbf.ros.conversions import odometry_message

    rclpy.init()
    node = rclpy.create_node("bench_robot")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    arrived: dict[int, float] = {}

    def on_answer(msg: TwistStamped) -> None:
        arrived[msg.header.stamp.nanosec] = time.perf_counter()

    node.create_subscription(TwistStamped, "/bench/cmd_vel", on_answer, qos)
    node.create_subscription(TwistStamped, "/relay/out", on_answer, qos)
    pubs = {"filter": node.create_publisher(TwistStamped, "/bench/cmd_vel_nominal", qos),
            "relay": node.create_publisher(TwistStamped, "/relay/in", qos)}
    odom_pub = node.create_publisher(Odometry, "/bench/odom", 10)
    odom = odometry_message((0.0, 0.0, 0.0), (0.0, 0.0), Header(frame_id="odom"), "base")
    node.create_timer(0.02, lambda: odom_pub.publish(odom))

    def spin_until(pred, timeout: float) -> bool:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            executor.spin_once(timeout_sec=0.0005)
            if pred():
                return True
        return False

    ready = spin_until(lambda: all(p.get_subscription_count() for p in pubs.values()), 30.0)
    if not ready:
        raise SystemExit("nodes did not come up in 30 s (see the log in ROS_LOG_DIR)")
    spin_until(lambda: False, 1.0)  # let odometry reach the filter
    period = 1.0 / rate
    out: dict[str, list[float]] = {"filter": [], "relay": []}
    seq = 0
    lost = 0
    warmup = 50
    next_send = time.perf_counter()
    for i in range(2 * (samples + warmup)):
        path = "filter" if i % 2 == 0 else "relay"
        while time.perf_counter() < next_send:
            executor.spin_once(timeout_sec=max(0.0, next_send - time.perf_counter()))
        next_send += period
        seq += 1
        msg = TwistStamped()
        msg.header.stamp.nanosec = seq
        msg.twist.linear.x = 0.5
        msg.twist.angular.z = 0.1
        t0 = time.perf_counter()
        pubs[path].publish(msg)
        if not spin_until(lambda: seq in arrived, 1.0):
            lost += 1
            continue
        if i >= 2 * warmup:
            out[path].append(arrived[seq] - t0)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    if lost:
        print(f"warning: {lost} commands got no answer within 1 s")
    return out


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    """Print the side-by-side table.

    :param results: round trips [s] per path.
    :param args: command-line arguments (for the header).
    """
    ms = {k: [v * 1e3 for v in vals] for k, vals in results.items()}
    stats = {k: (statistics.median(v), percentile(v, 99), percentile(v, 99.9), max(v), len(v))
             for k, v in ms.items()}
    print(f"filter node latency, {args.rate:.0f} commands/s alternating, "
          f"status {'off' if args.no_status else 'on'}, python {sys.version.split()[0]}")
    print(f"{'path':<34}{'p50 [ms]':>10}{'p99 [ms]':>10}{'p99.9 [ms]':>12}{'max [ms]':>10}"
          f"{'n':>7}")
    labels = {"relay": "plain relay, round trip (2 hops)",
              "filter": "filter node, round trip (2 hops)"}
    for key in ("relay", "filter"):
        p50, p99, p999, worst, n = stats[key]
        print(f"{labels[key]:<34}{p50:>10.3f}{p99:>10.3f}{p999:>12.3f}{worst:>10.3f}{n:>7}")
    (f50, f99, *_), (r50, r99, *_) = stats["filter"], stats["relay"]
    print(f"{'ratio filter / relay':<34}{f50 / r50:>10.2f}{f99 / r99:>10.2f}")
    print(f"{'filter added latency':<34}{f50 - r50:>10.3f}{f99 - r99:>10.3f}")
    print(f"{'one hop nominal -> safe (est.)':<34}{f50 - r50 / 2:>10.3f}{f99 - r99 / 2:>10.3f}"
          "   (= filter round trip - relay round trip / 2; targets p50 <= 0.5, p99 <= 2)")


if __name__ == "__main__":
    main()
