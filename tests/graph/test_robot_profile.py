"""The safety filter under the TurtleBot3 Burger profile, in lock-step with a simulated base.

The filter runs as its own process with the deployment files (deploy_filter.launch.py's
node: config/turtlebot3_burger_filter.yaml + config/arena_example.yaml). This test plays a
TurtleBot3 base that asks (cmd_vel_nominal) for full speed straight into an obstacle of the
example arena, in lock-step: it publishes /tb3_0/odom for simulated time t_k (header stamp
t_k, 20 Hz of simulated time), waits for the filter's answer computed from that odometry
(the filter stamps the answer to an unstamped command with the stamp of the state it used),
and only then integrates the unicycle for 1/20 s with that command. Nothing depends on how
fast the machine runs: the robot does not move while it waits, odometry lost or answered
late (a stale state gets a STOP, which carries no state stamp) is simply sent again.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
import yaml

pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built')

from geometry_msgs.msg import Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from safe_pe_msgs.msg import SafetyStatus  # noqa: E402

from safe_pe_training.ros.graph_spec import config_path, deploy_graph  # noqa: E402

RATE = 20.0          # [Hz] odometry (simulated time)
STEPS = 120          # 6 s of simulated time: at full speed it would hit at ~2.5 s
T0_NS = 1_000_000_000  # stamp of the first odometry [ns] (a zero stamp is "unstamped")
CAP = 60.0           # [s] longest wait for one answer: a hung filter, not a slow machine
ROBOT = 'tb3_0'


def _files() -> tuple[dict, dict]:
    filt = yaml.safe_load(config_path('turtlebot3_burger_filter.yaml').read_text())
    arena = yaml.safe_load(config_path('arena_example.yaml').read_text())
    return filt['/**']['ros__parameters'], arena['/**']['ros__parameters']


def _odometry(stamp_ns: int, x: float, y: float, theta: float, v: float,
              omega: float) -> Odometry:
    msg = Odometry()
    msg.header.frame_id, msg.child_frame_id = 'odom', 'base_footprint'
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z = math.sin(theta / 2.0)
    msg.pose.pose.orientation.w = math.cos(theta / 2.0)
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, omega
    return msg


def _stamp_ns(status: SafetyStatus) -> int:
    return status.header.stamp.sec * 1_000_000_000 + status.header.stamp.nanosec


def test_turtlebot3_filter_in_lock_step_keeps_clear_and_stops_on_stale_odom(graph, probe):
    from safe_pe_sim.dynamics import unicycle_step

    params, arena = _files()
    assert params['state_source'] == 'odom' and params['cmd_type'] == 'twist'
    assert params['nominal_cmd_type'] == 'twist'  # unstamped: the answer carries the odom stamp
    radius, v_max = params['cbf.robot_radius'], params['cbf.v_max']
    obstacles = np.array(arena['obstacles'], dtype=float).reshape(-1, 3)
    ox, oy, oyaw = arena['odom_offset']
    target = obstacles[0]
    # Start 0.8 m in front of the first obstacle, heading straight at it (arena frame),
    # expressed in the odometry frame the robot reports in.
    start_arena = np.array([target[0] - 0.8, target[1], 0.0])
    dx, dy = start_arena[0] - ox, start_arena[1] - oy
    pose = np.array([math.cos(-oyaw) * dx - math.sin(-oyaw) * dy,
                     math.sin(-oyaw) * dx + math.cos(-oyaw) * dy, -oyaw])

    spec = deploy_graph(robot=ROBOT, role='pursuer')[0]
    # predict_state advances the odometry by the wall-clock time since it arrived, for a
    # robot that moves in real time; this one stands still until it has its command, so the
    # odometry is exact and the prediction would add a load-dependent error (it is tested in
    # src/safe_pe_cbf/test/test_filter_node_pipeline.py). Every other setting is the profile's.
    assert params['predict_state']
    spec = dataclasses.replace(spec, overrides={**spec.overrides, 'predict_state': False})
    cmd_topic, status_topic = f'/{ROBOT}/cmd_vel', f'/{ROBOT}/safety_status'
    probe.watch(cmd_topic, Twist, 50)
    probe.watch(status_topic, SafetyStatus, 200)
    odom_pub = probe.node.create_publisher(Odometry, f'/{ROBOT}/odom', 10)
    nominal_pub = probe.node.create_publisher(Twist, f'/{ROBOT}/cmd_vel_nominal', 10)
    graph.start(spec)
    probe.wait_for(lambda: odom_pub.get_subscription_count() > 0
                   and nominal_pub.get_subscription_count() > 0, CAP,
                   'the filter to subscribe to odom and cmd_vel_nominal', graph)

    def to_arena(p: np.ndarray) -> np.ndarray:
        c, s = math.cos(oyaw), math.sin(oyaw)
        return np.array([ox + c * p[0] - s * p[1], oy + s * p[0] + c * p[1]])

    nominal = Twist()
    nominal.linear.x = v_max

    def answer(odom: Odometry, stamp_ns: int) -> SafetyStatus:
        """Publish the odometry and the nominal command until the filter answers the
        command from this odometry (its status echoes the stamp); return that status."""
        end = time.monotonic() + CAP
        while True:
            seen = len(probe.get(status_topic))
            odom_pub.publish(odom)  # again after a miss: best-effort odometry may be lost
            nominal_pub.publish(nominal)
            probe.wait_for(lambda: len(probe.get(status_topic)) > seen, CAP,
                           'a status answering the nominal command', graph)
            found = [s for s in probe.get(status_topic)[seen:] if _stamp_ns(s) == stamp_ns]
            if found:
                return found[0]
            assert time.monotonic() < end, (
                f'no answer computed from the odometry stamped {stamp_ns} within {CAP} s: '
                f'{[(s.tier, s.reason) for s in probe.get(status_topic)[-5:]]}\n'
                f'{graph.logs()}')

    command = np.zeros(2)
    clearances, answers = [], []
    for k in range(STEPS):
        stamp_ns = T0_NS + k * 1_000_000_000 // int(RATE)
        status = answer(_odometry(stamp_ns, *pose, *command), stamp_ns)
        answers.append(status)
        command = np.array([status.safe.linear.x, status.safe.angular.z])
        pose = unicycle_step(pose, command, 1.0 / RATE)
        centre = to_arena(pose)
        clearances.append(float(np.hypot(*(centre - target[:2])) - target[2] - radius))

    print(f'min clearance {min(clearances):.4f} m, final clearance {clearances[-1]:.4f} m, '
          f'tiers {np.bincount([s.tier for s in answers], minlength=6).tolist()}, '
          f'{len(probe.get(status_topic))} statuses for {STEPS} steps')
    assert min(clearances) > 0.0, f'the robot body entered the obstacle: {min(clearances)}'
    assert not any(s.violation for s in answers)
    assert all(s.tier != SafetyStatus.TIER_STOP for s in answers)  # a STOP has no state stamp
    assert any(s.intervened for s in answers), 'the filter never had to act'
    travelled = float(np.hypot(*(to_arena(pose) - start_arena[:2])))
    assert travelled > 0.2, 'the robot did not move at all'
    # what the status reports is what went to the wheels
    applied = {(s.safe.linear.x, s.safe.angular.z) for s in answers}
    probe.wait_for(lambda: applied <= {(c.linear.x, c.angular.z)
                                       for c in probe.get(cmd_topic)}, CAP,
                   'every applied command on cmd_vel', graph)

    # Odometry stops (driver crash): the filter's watchdog commands zero with a reason.
    def stopped() -> bool:
        nominal_pub.publish(nominal)
        late = probe.get(status_topic)[-5:]
        last = probe.get(cmd_topic)[-1]
        return (len(late) == 5 and all(s.tier == SafetyStatus.TIER_STOP for s in late)
                and last.linear.x == 0.0 and last.angular.z == 0.0)
    probe.wait_for(stopped, CAP, 'the watchdog to stop the robot without odometry', graph)
    late = probe.get(status_topic)[-5:]
    assert all(s.reason for s in late), [(s.tier, s.reason) for s in late]
