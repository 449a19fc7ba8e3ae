#!/usr/bin/env python3
"""Latency of the safety-filter node across processes, beside plain relay nodes.

This process plays the robot/policy; one process runs the filter node
(``python -m safe_pe_cbf.ros.filter_node``, with its default executor or ``--executor``), one
runs a plain rclpy relay (subscribe -> publish the same message, nothing else) on the standard
``SingleThreadedExecutor`` and, when the filter runs on another executor, one more relay on
the filter's executor. This process publishes Odometry at 50 Hz and, paced at ``--rate`` Hz and
taking the paths in turn, one TwistStamped command at a time carrying a sequence number in its
header's frame_id and the publish time in its stamp; it times publish -> receipt of the answer
(``cmd_vel`` of the filter, ``out`` of a relay) with ``time.perf_counter``. The relays also
note each command's one-way latency (callback entry - stamp, one host, one clock): the bare
transport floor that any node, the filter included, sits on.

Every path crosses two process boundaries (bench -> node -> bench). The plain relay is the
reference for the transport + standard rclpy executor cost; the relay on the filter's executor
isolates what the filter itself adds (callback, conversions, CBF resolve, SafetyStatus
publish). The answer hop back into this process is a ``SingleThreadedExecutor`` receive on
every path, so "one hop nominal -> safe" is estimated as filter round trip - plain relay round
trip / 2. At the end the filter process's CPU use is sampled for 2 s with no commands (Odometry
still at 50 Hz): a busy-looping executor shows ~100 %.

Usage::

    source scripts/env.sh
    python bench/bench_filter_node.py [--samples 1000] [--rate 200] [--no-status] \
        [--executor events|single]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safe_pe_cbf.ros_common.executors import EXECUTOR_KINDS
from safe_pe_cbf.ros.filter_node import DEFAULT_EXECUTOR

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


def run_relay(kind: str, latency_file: str | None) -> None:
    """A baseline node: republish every TwistStamped from ``/<ns>/in`` on ``/<ns>/out``.

    It also notes each message's one-way latency, receipt (``time.time_ns`` on entering the
    callback) - header stamp (the bench's ``time.time_ns`` just before publishing; one host,
    one clock), and writes them to ``latency_file`` as JSON when it shuts down.

    :param kind: executor kind (``single``: the plain reference relay, topics ``/relay/*``;
        otherwise topics ``/relay_<kind>/*``, spun like the filter node spins).
    :param latency_file: where to write the one-way latencies [ns]; None: not kept.
    """
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from safe_pe_cbf.ros_common.executors import make_executor, spin_until_shutdown_requested

    rclpy.init()
    ns = relay_namespace(kind)
    node = rclpy.create_node(ns.strip("/"))
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(TwistStamped, f"{ns}/out", qos)
    one_way: list[int] = []

    def relay(msg: TwistStamped) -> None:
        now = time.time_ns()
        pub.publish(msg)
        one_way.append(now - (msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec))

    node.create_subscription(TwistStamped, f"{ns}/in", relay, qos)
    context = rclpy.get_default_context()
    executor = make_executor(kind, context)
    executor.add_node(node)
    try:
        spin_until_shutdown_requested(executor, kind, context)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
        if latency_file:
            Path(latency_file).write_text(json.dumps(one_way))


def relay_namespace(kind: str) -> str:
    """Topic namespace of the relay on executor ``kind`` (``/relay`` for the plain one)."""
    return "/relay" if kind == "single" else f"/relay_{kind}"


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
    parser.add_argument("--executor", choices=EXECUTOR_KINDS, default=None,
                        help="filter node executor (default: the node's default, "
                        f"{DEFAULT_EXECUTOR})")
    parser.add_argument("--relay", choices=EXECUTOR_KINDS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--latency-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        run_relay(args.relay, args.latency_file)
        return
    args.executor = args.executor or DEFAULT_EXECUTOR

    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    tmp = Path(tempfile.mkdtemp(prefix="bench_filter_"))
    os.environ.setdefault("ROS_LOG_DIR", str(tmp / "ros_log"))
    params = tmp / "filter.yaml"
    params.write_text(PARAMS.format(status="false" if args.no_status else "true"))
    log = open(tmp / "nodes.log", "w")
    relays = sorted({"single", args.executor}, key=EXECUTOR_KINDS.index, reverse=True)
    procs = [
        subprocess.Popen([sys.executable, "-m", "safe_pe_cbf.ros.filter_node",
                          "--executor", args.executor, "--ros-args",
                          "-r", "__ns:=/bench", "--params-file", str(params)],
                         stdout=log, stderr=subprocess.STDOUT),
    ] + [subprocess.Popen([sys.executable, __file__, "--relay", kind, "--latency-file",
                           str(tmp / f"one_way_{kind}.json")], stdout=log,
                          stderr=subprocess.STDOUT) for kind in relays]
    try:
        results, idle_cpu = measure(args.samples, args.rate, relays, procs[0].pid)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    one_way = {}
    for kind in relays:  # written by each relay at shutdown; skip the warm-up like measure()
        path = tmp / f"one_way_{kind}.json"
        if path.exists():
            one_way[kind] = [ns * 1e-9 for ns in json.loads(path.read_text())[50:]]
    report(results, idle_cpu, one_way, args)


def measure(samples: int, rate: float, relays: list[str],
            filter_pid: int) -> tuple[dict[str, list[float]], float]:
    """Ping one command at a time through each path; return round trips [s] per path.

    :param samples: commands per path.
    :param rate: total commands per second (paths take turns).
    :param relays: executor kinds of the relay processes.
    :param filter_pid: process id of the filter node (for its idle CPU use).
    :return: round trips per path ("filter", "relay single", "relay events"...) and the
        filter process's CPU use [% of one core] over 2 s without commands.
    """
    import psutil
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Header

    from safe_pe_cbf.ros_common.conversions import odometry_message

    rclpy.init()
    node = rclpy.create_node("bench_robot")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    arrived: dict[int, float] = {}

    def on_answer(msg: TwistStamped) -> None:
        now = time.perf_counter()
        if msg.header.frame_id.isdigit():  # not the filter's own watchdog zero commands
            arrived[int(msg.header.frame_id)] = now

    node.create_subscription(TwistStamped, "/bench/cmd_vel", on_answer, qos)
    pubs = {"filter": node.create_publisher(TwistStamped, "/bench/cmd_vel_nominal", qos)}
    for kind in relays:
        ns = relay_namespace(kind)
        node.create_subscription(TwistStamped, f"{ns}/out", on_answer, qos)
        pubs[f"relay {kind}"] = node.create_publisher(TwistStamped, f"{ns}/in", qos)
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
    paths = list(pubs)
    out: dict[str, list[float]] = {path: [] for path in paths}
    seq = 0
    lost = 0
    warmup = 50
    next_send = time.perf_counter()
    for i in range(len(paths) * (samples + warmup)):
        path = paths[i % len(paths)]
        while time.perf_counter() < next_send:
            executor.spin_once(timeout_sec=max(0.0, next_send - time.perf_counter()))
        next_send += period
        seq += 1
        msg = TwistStamped()
        msg.header.frame_id = str(seq)
        msg.twist.linear.x = 0.5
        msg.twist.angular.z = 0.1
        t0 = time.perf_counter()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
        pubs[path].publish(msg)
        if not spin_until(lambda: seq in arrived, 1.0):
            lost += 1
            continue
        if i >= len(paths) * warmup:
            out[path].append(arrived[seq] - t0)
    filter_proc = psutil.Process(filter_pid)
    filter_proc.cpu_percent()
    spin_until(lambda: False, 2.0)  # no commands; odometry and the node's timers go on
    idle_cpu = filter_proc.cpu_percent()
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    if lost:
        print(f"warning: {lost} commands got no answer within 1 s")
    return out, idle_cpu


def report(results: dict[str, list[float]], idle_cpu: float, one_way: dict[str, list[float]],
           args: argparse.Namespace) -> None:
    """Print the side-by-side table.

    :param results: round trips [s] per path.
    :param idle_cpu: filter process CPU use without commands [% of one core].
    :param one_way: per relay executor kind, one-way latencies bench -> relay callback [s].
    :param args: command-line arguments (for the header).
    """
    ms = {k: [v * 1e3 for v in vals] for k, vals in results.items()}
    stats = {k: (statistics.median(v), percentile(v, 99), percentile(v, 99.9), max(v), len(v))
             for k, v in ms.items()}
    print(f"filter node latency, {args.rate:.0f} commands/s taking turns, "
          f"status {'off' if args.no_status else 'on'}, filter executor {args.executor}, "
          f"python {sys.version.split()[0]}")
    print(f"{'path (round trip, 2 hops)':<38}{'p50 [ms]':>10}{'p99 [ms]':>10}"
          f"{'p99.9 [ms]':>12}{'max [ms]':>10}{'n':>7}")
    labels = {"filter": f"filter node ({args.executor} executor)"}
    labels.update({k: f"plain relay ({k.split()[1]} executor)" for k in stats if k != "filter"})
    for key in ["relay single"] + [k for k in stats if k != "relay single"]:
        p50, p99, p999, worst, n = stats[key]
        print(f"{labels[key]:<38}{p50:>10.3f}{p99:>10.3f}{p999:>12.3f}{worst:>10.3f}{n:>7}")
    (f50, f99, *_), (r50, r99, *_) = stats["filter"], stats["relay single"]
    print(f"{'ratio filter / plain single relay':<38}{f50 / r50:>10.2f}{f99 / r99:>10.2f}")
    same = f"relay {args.executor}"
    s50, s99, *_ = stats[same]
    print(f"{'filter added vs relay, same executor':<38}{f50 - s50:>10.3f}{f99 - s99:>10.3f}")
    print(f"{'one hop nominal -> safe (est.)':<38}{f50 - r50 / 2:>10.3f}{f99 - r99 / 2:>10.3f}"
          "   (= filter round trip - single relay round trip / 2; targets p50 <= 0.5, "
          "p99 <= 2)")
    for kind, vals in one_way.items():
        v = [x * 1e3 for x in vals]
        print(f"{'bare hop, one way (' + kind + ' relay)':<38}"
              f"{statistics.median(v):>10.3f}{percentile(v, 99):>10.3f}"
              "   (publish -> relay callback, one clock: the floor under any node)")
    print(f"filter process CPU with no commands (odometry 50 Hz, 2 s): {idle_cpu:.1f} % of a core")

if __name__ == "__main__":
    main()
