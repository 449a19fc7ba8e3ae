#!/usr/bin/env python3
"""Soak test of the safety filter: two robots at 100 Hz for a long time (not part of CI).

Two filter nodes run in their own processes (``python -m safe_pe_cbf.ros.filter_node``, the
node's default executor), one per robot (``/soak_pursuer``, ``/soak_evader``), each taking its
own odometry and the other robot's as the opponent (robot-robot constraint in "shared" mode),
with ``cbf.dt`` = 0.01 s. This process plays both robots and both policies: a 100 Hz timer
publishes each robot's odometry (exact unicycle arcs of the last safe command it received)
and a TwistStamped nominal command (the pursuer steers at the evader, the evader away from it
with a wander; full speed, so the filter intervenes often), carrying a sequence number in the
header's frame_id. Every safe command is matched to its nominal command by that number.

Printed at the end (and every ``--report`` seconds): per robot, commands sent and answered,
lost commands (sent more than 1 s ago and never answered), the latency nominal -> safe command
(p50, p90, p99, p99.9, max) and the filter process's resident memory (RSS) after the warm-up
and now, with its growth. A leak shows as RSS growing roughly linearly with time; a stall as
lost commands or a long latency tail.

Usage::

    source scripts/env.sh
    python bench/soak_filter.py [--duration 600] [--rate 100] [--report 60]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROBOTS = ("soak_pursuer", "soak_evader")
WARMUP_S = 5.0
LOST_AFTER_S = 1.0
PARAMS = """/**:
  ros__parameters:
    nominal_cmd_type: twist_stamped
    cmd_type: twist_stamped
    state_source: odom
    opponent_source: odom
    opponent_odom_topic: /{other}/odom
    arena_source: parameters
    arena.x_min: 0.0
    arena.x_max: 8.0
    arena.y_min: 0.0
    arena.y_max: 8.0
    obstacles: [4.0, 4.0, 0.5, 2.0, 6.0, 0.3, 6.0, 2.0, 0.4]
    state_timeout: 0.5
    nominal_timeout: 0.05
    publish_status: true
    diagnostics_period: 1.0
    cbf.dt: {dt}
    cbf.v_max: 1.0
    cbf.collision_share: 0.5
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (NaN for no samples).

    :param values: samples.
    :param q: percentile in [0, 100].
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(math.ceil(q / 100.0 * len(ordered))) - 1))
    return ordered[k]


def arc(x: float, y: float, th: float, v: float, w: float, t: float
        ) -> tuple[float, float, float]:
    """Exact unicycle motion for ``t`` seconds under ``(v, w)``.

    :param x: start x [m].
    :param y: start y [m].
    :param th: start heading [rad].
    :param v: linear velocity [m/s].
    :param w: angular velocity [rad/s].
    :param t: duration [s].
    """
    half = 0.5 * w * t
    chord = v * t * (math.sin(half) / half if abs(half) > 1e-9 else 1.0)
    return x + chord * math.cos(th + half), y + chord * math.sin(th + half), th + w * t


def rss_mb(pid: int) -> float:
    """Resident memory of a process [MiB] (from /proc; 0 if it is gone).

    :param pid: process id.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class Robot:
    """Bookkeeping of one robot: pose, last safe command, sent and answered commands."""

    def __init__(self, name: str, pose: tuple[float, float, float]) -> None:
        self.name = name
        self.pose = pose
        self.cmd = (0.0, 0.0)
        self.sent: dict[int, tuple[float, tuple[float, float]]] = {}  # seq -> (time, nominal)
        self.latencies: list[float] = []
        self.answered = 0
        self.sent_total = 0
        self.lost = 0
        self.zeros = 0                        # watchdog / shutdown commands (no seq)
        self.changed = 0                      # answers that differ from the nominal

    def expire(self, now: float) -> None:
        """Count commands unanswered for LOST_AFTER_S as lost."""
        old = [s for s, (t, _) in self.sent.items() if now - t > LOST_AFTER_S]
        for s in old:
            del self.sent[s]
        self.lost += len(old)


def report(robots: list[Robot], pids: list[int], rss0: list[float], elapsed: float) -> None:
    """Print the current numbers.

    :param robots: the two robots.
    :param pids: their filter processes.
    :param rss0: RSS after the warm-up [MiB].
    :param elapsed: seconds since the start of the measurement.
    """
    print(f"--- {elapsed:.0f} s")
    for robot, pid, base in zip(robots, pids, rss0):
        lat = [x * 1e3 for x in robot.latencies]
        now_rss = rss_mb(pid)
        print(f"{robot.name}: sent {robot.sent_total}, answered {robot.answered}, lost "
              f"{robot.lost}, in flight {len(robot.sent)}, changed by the filter "
              f"{robot.changed}, watchdog zeros {robot.zeros}")
        print(f"  latency ms: p50 {percentile(lat, 50):.3f}  p90 {percentile(lat, 90):.3f}  "
              f"p99 {percentile(lat, 99):.3f}  p99.9 {percentile(lat, 99.9):.3f}  max "
              f"{max(lat, default=math.nan):.3f}")
        print(f"  filter RSS MiB: after warm-up {base:.1f}, now {now_rss:.1f}, growth "
              f"{now_rss - base:+.1f} ({(now_rss - base) / max(elapsed, 1e-9) * 3600:+.1f}/h)")
    sys.stdout.flush()


def soak(duration: float, rate: float, every: float, pids: list[int]) -> None:
    """Drive both robots for ``duration`` seconds and report.

    :param duration: measured seconds (after the warm-up).
    :param rate: commands per second per robot.
    :param every: seconds between intermediate reports.
    :param pids: the filter processes, in ROBOTS order.
    """
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from std_msgs.msg import Header

    from safe_pe_cbf.ros_common.conversions import odometry_message

    rclpy.init()
    node = rclpy.create_node("soak_robots")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    robots = [Robot(ROBOTS[0], (1.5, 1.5, 0.8)), Robot(ROBOTS[1], (6.5, 6.5, -2.3))]
    measuring = [False]

    def on_safe(robot: Robot, msg: TwistStamped) -> None:
        now = time.perf_counter()
        robot.cmd = (msg.twist.linear.x, msg.twist.angular.z)
        seq = int(msg.header.frame_id) if msg.header.frame_id.isdigit() else None
        if seq is None:
            robot.zeros += 1
            return
        sent = robot.sent.pop(seq, None)  # only measured commands are in robot.sent
        if sent is not None:
            robot.answered += 1
            robot.latencies.append(now - sent[0])
            robot.changed += (msg.twist.linear.x, msg.twist.angular.z) != sent[1]

    cmd_pubs, odom_pubs = [], []
    for robot in robots:
        node.create_subscription(TwistStamped, f"/{robot.name}/cmd_vel",
                                 lambda m, r=robot: on_safe(r, m), qos)
        cmd_pubs.append(node.create_publisher(TwistStamped, f"/{robot.name}/cmd_vel_nominal",
                                              qos))
        odom_pubs.append(node.create_publisher(Odometry, f"/{robot.name}/odom",
                                               qos_profile_sensor_data))
    dt = 1.0 / rate
    seq = [0]

    def nominal(me: Robot, other: Robot, chase: bool) -> tuple[float, float]:
        x, y, th = me.pose
        ox, oy, _ = other.pose
        bearing = math.atan2(oy - y, ox - x) + (0.0 if chase else math.pi)
        if not chase:
            bearing += 0.8 * math.sin(0.3 * time.perf_counter())  # wander
        err = (bearing - th + math.pi) % (2 * math.pi) - math.pi
        return 1.0, max(-2.84, min(2.84, 4.0 * err))

    def tick() -> None:
        now = time.perf_counter()
        for robot in robots:  # the robots move under their last safe commands
            robot.pose = arc(*robot.pose, *robot.cmd, dt)
        stamp = node.get_clock().now().to_msg()
        for k, robot in enumerate(robots):
            odom_pubs[k].publish(odometry_message(robot.pose, robot.cmd,
                                                  Header(stamp=stamp, frame_id="arena"),
                                                  "base"))
        for k, robot in enumerate(robots):
            v, w = nominal(robot, robots[1 - k], chase=k == 0)
            seq[0] += 1
            msg = TwistStamped()
            msg.header.stamp = stamp
            msg.header.frame_id = str(seq[0])
            msg.twist.linear.x, msg.twist.angular.z = v, w
            if measuring[0]:
                robot.sent[seq[0]] = (now, (v, w))
                robot.sent_total += 1
            cmd_pubs[k].publish(msg)
            robot.expire(now)

    def spin_for(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            executor.spin_once(timeout_sec=min(0.01, max(0.0, end - time.perf_counter())))

    end = time.perf_counter() + 30.0
    while not all(p.get_subscription_count() for p in cmd_pubs + odom_pubs):
        if time.perf_counter() > end:
            raise SystemExit("filter nodes did not come up in 30 s (see the log in "
                             "ROS_LOG_DIR)")
        executor.spin_once(timeout_sec=0.05)
    node.create_timer(dt, tick)
    spin_for(WARMUP_S)
    rss0 = [rss_mb(pid) for pid in pids]
    measuring[0] = True
    start = time.perf_counter()
    next_report = start + every
    while time.perf_counter() - start < duration:
        spin_for(min(1.0, duration - (time.perf_counter() - start)))
        if time.perf_counter() >= next_report:
            report(robots, pids, rss0, time.perf_counter() - start)
            next_report += every
    measuring[0] = False
    elapsed = time.perf_counter() - start
    spin_for(LOST_AFTER_S + 0.5)  # answers in flight still count
    for robot in robots:
        robot.expire(time.perf_counter())
    print("=== final")
    report(robots, pids, rss0, elapsed)
    node.destroy_node()
    rclpy.try_shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0,
                        help="measured seconds after a 5 s warm-up (default 600)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="commands per second per robot (also 1/cbf.dt)")
    parser.add_argument("--report", type=float, default=60.0,
                        help="seconds between intermediate reports")
    args = parser.parse_args()
    if not (args.duration > 0 and 1.0 <= args.rate <= 1000.0 and args.report > 0):
        parser.error("need --duration > 0, --rate in [1, 1000], --report > 0")

    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    tmp = Path(tempfile.mkdtemp(prefix="soak_filter_"))
    os.environ.setdefault("ROS_LOG_DIR", str(tmp / "ros_log"))
    log = open(tmp / "nodes.log", "w")
    procs = []
    for k, name in enumerate(ROBOTS):
        params = tmp / f"{name}.yaml"
        params.write_text(PARAMS.format(other=ROBOTS[1 - k], dt=1.0 / args.rate))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "safe_pe_cbf.ros.filter_node", "--ros-args",
             "-r", f"__ns:=/{name}", "--params-file", str(params)],
            stdout=log, stderr=subprocess.STDOUT))
    print(f"soak: 2 filters at {args.rate:g} Hz for {args.duration:g} s (+{WARMUP_S:g} s "
          f"warm-up); node logs in {tmp}")
    try:
        soak(args.duration, args.rate, args.report, [p.pid for p in procs])
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    codes = [p.returncode for p in procs]
    print(f"filter exit codes: {codes}")


if __name__ == "__main__":
    main()
