"""Message conversions used by the nodes (message types only, no rclpy context)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped
from safe_pe_msgs.msg import AgentState, GameState
from std_msgs.msg import Header

from safe_pe_cbf.ros_common.conversions import (
    NonFiniteInput,
    PoseOffset,
    arena_from_message,
    arena_message,
    command_from_twist,
    command_message,
    obstacles_from_flat,
    odometry_message,
    pose_from_agent_state,
    pose_from_odometry,
    quaternion_from_yaw,
    split_game_state,
    yaw_from_quaternion,
)


@pytest.mark.parametrize("theta", [-math.pi, -2.0, -0.1, 0.0, 0.7, 3.1])
def test_yaw_quaternion_round_trip(theta):
    assert yaw_from_quaternion(quaternion_from_yaw(theta)) == pytest.approx(theta, abs=1e-12)


def test_yaw_of_unnormalised_and_broken_quaternions():
    q = quaternion_from_yaw(1.0)
    q.z *= 3.0
    q.w *= 3.0
    assert yaw_from_quaternion(q) == pytest.approx(1.0)
    q.w = math.nan
    with pytest.raises(NonFiniteInput):
        yaw_from_quaternion(q)


def test_command_from_twist_and_stamped():
    t = Twist()
    t.linear.x, t.angular.z, t.linear.y = 0.2, -1.0, 5.0
    assert command_from_twist(t) == (0.2, -1.0)
    ts = TwistStamped()
    ts.twist = t
    assert command_from_twist(ts) == (0.2, -1.0)
    for bad in (math.nan, math.inf, -math.inf):
        t.linear.x = bad
        with pytest.raises(NonFiniteInput):
            command_from_twist(t)


def test_command_message_copies_header():
    header = Header(frame_id="base")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = command_message(0.1, 0.2, True, header)
    assert isinstance(msg, TwistStamped)
    assert msg.header.stamp.sec == 12 and msg.header.frame_id == "base"
    assert msg.twist.linear.x == 0.1 and msg.twist.angular.z == 0.2
    plain = command_message(0.1, 0.2, False, header)
    assert isinstance(plain, Twist) and plain.linear.y == 0.0


def test_odometry_round_trip_with_offset():
    header = Header(frame_id="arena")
    msg = odometry_message(np.array([1.0, 2.0, 0.5]), (0.3, 0.1), header, "pursuer/base_link")
    assert msg.child_frame_id == "pursuer/base_link"
    np.testing.assert_allclose(pose_from_odometry(msg), [1.0, 2.0, 0.5], atol=1e-12)
    shifted = pose_from_odometry(msg, PoseOffset(10.0, 0.0, math.pi / 2))
    np.testing.assert_allclose(shifted, [10.0 - 2.0, 1.0, 0.5 + math.pi / 2], atol=1e-12)
    msg.pose.pose.position.x = math.inf
    with pytest.raises(NonFiniteInput):
        pose_from_odometry(msg)


def test_arena_round_trip_and_rejections():
    obstacles = np.array([[1.0, 1.0, 0.3], [-1.0, 0.5, 0.2]])
    msg = arena_message((-2.0, 2.0, -3.0, 3.0), obstacles)
    bounds, rows = arena_from_message(msg)
    assert bounds == (-2.0, 2.0, -3.0, 3.0)
    np.testing.assert_allclose(rows, obstacles)
    msg.x_max = -5.0
    with pytest.raises(ValueError, match="x_min < x_max"):
        arena_from_message(msg)
    msg.x_max = math.nan
    with pytest.raises(NonFiniteInput):
        arena_from_message(msg)


def test_game_state_split_and_agent_pose():
    gs = GameState()
    gs.pursuer = AgentState(agent_id="pursuer", x=1.0, y=2.0, theta=4.0)
    gs.evader = AgentState(agent_id="evader", x=-1.0, y=0.0, theta=0.0)
    own, other = split_game_state(gs, "evader")
    assert own.agent_id == "evader" and other.agent_id == "pursuer"
    pose = pose_from_agent_state(gs.pursuer)
    assert pose[2] == pytest.approx(4.0 - 2 * math.pi)
    with pytest.raises(KeyError, match="robot_id"):
        split_game_state(gs, "tb3_0")
    gs.evader.y = math.nan
    with pytest.raises(NonFiniteInput):
        pose_from_agent_state(gs.evader)


def test_obstacles_from_flat():
    assert obstacles_from_flat(None).shape == (0, 3)
    assert obstacles_from_flat([0.0, 1.0, 0.5]).tolist() == [[0.0, 1.0, 0.5]]
    with pytest.raises(ValueError, match="finite"):
        obstacles_from_flat([0.0, math.nan, 0.5])
