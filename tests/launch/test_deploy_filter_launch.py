"""launch_pytest: deploy_filter.launch.py filters a TurtleBot3's nominal commands."""

from __future__ import annotations

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest (ROS 2 launch testing) is not installed; it is not '
    'on PyPI: run these tests on a ROS 2 install (colcon test)')
pytest.importorskip('launch_ros', reason='launch_ros (ROS 2) is not installed')

from launch_support import LAUNCH_DIR  # noqa: E402
from geometry_msgs.msg import Twist  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from safe_pe_msgs.msg import SafetyStatus  # noqa: E402


@launch_pytest.fixture
def deploy_filter(launch_env):
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / 'deploy_filter.launch.py')),
            launch_arguments={'robot': 'tb3_0', 'role': 'pursuer'}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=deploy_filter)
def test_deploy_filter_passes_safe_commands_and_stops_without_odometry(launch_probe):
    probe = launch_probe
    probe.watch('/tb3_0/cmd_vel', Twist, 50)
    probe.watch('/tb3_0/safety_status', SafetyStatus, 100)
    odom_pub = probe.node.create_publisher(Odometry, '/tb3_0/odom', 10)
    nominal_pub = probe.node.create_publisher(Twist, '/tb3_0/cmd_vel_nominal', 10)
    probe.wait_for(lambda: odom_pub.get_subscription_count() > 0
                   and nominal_pub.get_subscription_count() > 0, 60.0, 'the filter')
    nominal = Twist()
    nominal.linear.x = 0.1
    odom = Odometry()
    odom.pose.pose.orientation.w = 1.0     # at the odom origin = arena_example's odom_offset

    # Fresh odometry far from walls and obstacles and a nominal command at every poll (the
    # wait's 50 ms is the pace only): the command passes unchanged (tier NOMINAL) ...
    def passing() -> bool:
        odom.header.stamp = probe.node.get_clock().now().to_msg()
        odom_pub.publish(odom)
        nominal_pub.publish(nominal)
        statuses = probe.get('/tb3_0/safety_status')
        return (sum(s.tier == SafetyStatus.TIER_NOMINAL for s in statuses) >= 10
                and any(c.linear.x == pytest.approx(0.1) for c in probe.get('/tb3_0/cmd_vel')))
    probe.wait_for(passing, 60.0, 'nominal commands passed unchanged')

    # ... odometry lost: the state watchdog stops the robot, with a reason.
    def stopped() -> bool:
        nominal_pub.publish(nominal)
        late = probe.get('/tb3_0/safety_status')[-3:]
        cmds = probe.get('/tb3_0/cmd_vel')
        return (len(late) == 3 and all(s.tier == SafetyStatus.TIER_STOP and s.reason
                                       for s in late)
                and cmds[-1].linear.x == 0.0 and cmds[-1].angular.z == 0.0)
    probe.wait_for(stopped, 60.0, 'the watchdog to stop the robot without odometry')
    yield
