"""The safety filter under the TurtleBot3 Burger profile, fed Odometry at 20 Hz.

The filter runs as its own process with the deployment files (deploy_filter.launch.py's
node: config/turtlebot3_burger_filter.yaml + config/arena_example.yaml). This test plays a
TurtleBot3 base: it publishes /tb3_0/odom at 20 Hz, integrates the unicycle with the safe
/tb3_0/cmd_vel it gets back, and asks (cmd_vel_nominal) for full speed straight into an
obstacle of the example arena.
"""

from __future__ import annotations

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

RATE = 20.0
ROBOT = 'tb3_0'


def _files() -> tuple[dict, dict]:
    filt = yaml.safe_load(config_path('turtlebot3_burger_filter.yaml').read_text())
    arena = yaml.safe_load(config_path('arena_example.yaml').read_text())
    return filt['/**']['ros__parameters'], arena['/**']['ros__parameters']


def _odometry(x: float, y: float, theta: float, v: float, omega: float) -> Odometry:
    msg = Odometry()
    msg.header.frame_id, msg.child_frame_id = 'odom', 'base_footprint'
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z = math.sin(theta / 2.0)
    msg.pose.pose.orientation.w = math.cos(theta / 2.0)
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, omega
    return msg


def test_turtlebot3_filter_with_odometry_at_20hz_keeps_clear_and_stops_on_stale_odom(
        graph, probe):
    from safe_pe_sim.dynamics import unicycle_step

    params, arena = _files()
    assert params['state_source'] == 'odom' and params['cmd_type'] == 'twist'
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
    probe.watch(f'/{ROBOT}/cmd_vel', Twist, 50)
    probe.watch(f'/{ROBOT}/safety_status', SafetyStatus, 200)
    odom_pub = probe.node.create_publisher(Odometry, f'/{ROBOT}/odom', 10)
    nominal_pub = probe.node.create_publisher(Twist, f'/{ROBOT}/cmd_vel_nominal', 10)
    graph.start(spec)
    probe.wait_for(lambda: odom_pub.get_subscription_count() > 0
                   and nominal_pub.get_subscription_count() > 0, 30.0,
                   'the filter to subscribe to odom and cmd_vel_nominal', graph)

    def to_arena(p: np.ndarray) -> np.ndarray:
        c, s = math.cos(oyaw), math.sin(oyaw)
        return np.array([ox + c * p[0] - s * p[1], oy + s * p[0] + c * p[1]])

    nominal = Twist()
    nominal.linear.x = v_max
    command = np.zeros(2)
    clearances, t0 = [], time.monotonic()
    next_tick = t0
    for _ in range(int(6.0 * RATE)):              # 6 s: at full speed it would hit at ~2.5 s
        cmds = probe.get(f'/{ROBOT}/cmd_vel')
        if cmds:
            command = np.array([cmds[-1].linear.x, cmds[-1].angular.z])
        pose = unicycle_step(pose, command, 1.0 / RATE)
        odom_pub.publish(_odometry(*pose, *command))
        nominal_pub.publish(nominal)
        centre = to_arena(pose)
        clearances.append(float(np.hypot(*(centre - target[:2])) - target[2] - radius))
        next_tick += 1.0 / RATE
        time.sleep(max(0.0, next_tick - time.monotonic()))
    elapsed = time.monotonic() - t0

    statuses = probe.get(f'/{ROBOT}/safety_status')
    print(f'min clearance {min(clearances):.4f} m, final clearance {clearances[-1]:.4f} m, '
          f'tiers {np.bincount([s.tier for s in statuses], minlength=6).tolist()}')
    # how many statuses arrive per second depends on the machine's load: a rate is a bench's
    # business (bench/bench_filter_node.py); here every step must have been filtered safely
    assert statuses, (elapsed, graph.logs())
    assert min(clearances) > 0.0, f'the robot body entered the obstacle: {min(clearances)}'
    assert not any(s.violation for s in statuses)
    assert any(s.intervened for s in statuses), 'the filter never had to act'
    travelled = float(np.hypot(*(to_arena(pose) - start_arena[:2])))
    assert travelled > 0.2, 'the robot did not move at all'
    assert all(s.tier != SafetyStatus.TIER_STOP for s in statuses[len(statuses) // 4:])

    # Odometry stops (driver crash): the filter's watchdog commands zero with a reason.
    def stopped() -> bool:
        nominal_pub.publish(nominal)
        late = probe.get(f'/{ROBOT}/safety_status')[-5:]
        return len(late) == 5 and all(s.tier == SafetyStatus.TIER_STOP for s in late)
    probe.wait_for(stopped, 60.0, 'the watchdog to stop the robot without odometry', graph)
    late = probe.get(f'/{ROBOT}/safety_status')[-5:]
    assert all(s.reason for s in late), [(s.tier, s.reason) for s in late]
    last = probe.get(f'/{ROBOT}/cmd_vel')[-1]
    assert last.linear.x == 0.0 and last.angular.z == 0.0
