"""Message conversions used by the nodes (message types only, no rclpy context)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.serialization import deserialize_message, serialize_message
from safe_pe_msgs.msg import AgentState, Arena as ArenaMsg, GameState
from std_msgs.msg import Header

from safe_pe_cbf.barriers import keepout
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.geometry import Arena, BoxObstacle
from safe_pe_cbf.resolver import SafeActionResolver
from safe_pe_cbf.ros_common.arena_params import arena_from_values
from safe_pe_cbf.ros.markers import constraint_markers
from safe_pe_cbf.ros_common.conversions import (
    NonFiniteInput,
    PoseOffset,
    arena_from_message,
    arena_message,
    boxes_from_flat,
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


def test_arena_with_boxes_round_trip_through_cdr():
    """Circles and boxes (one a wall segment) -> Arena message -> serialized bytes -> back:
    the same rows with their kind, circles first; bad boxes are rejected."""
    seg = BoxObstacle.segment(-1.0, 2.0, 1.0, 2.5)
    rows = np.array([[1.0, 1.0, 0.3, 0.0, 0.0, 0.0], [0.5, -1.0, 0.4, 0.2, 0.3, 1.0],
                     list(seg.row()), [-1.0, 0.5, 0.2, 0.0, 0.0, 0.0]])
    msg = arena_message((-2.0, 2.0, -3.0, 3.0), rows)
    assert len(msg.obstacles) == 2 and len(msg.boxes) == 2 and msg.boxes[1].half_width == 0.0
    back = deserialize_message(serialize_message(msg), ArenaMsg)
    bounds, out = arena_from_message(back)
    assert bounds == (-2.0, 2.0, -3.0, 3.0)
    np.testing.assert_array_equal(out, rows[[0, 3, 1, 2]])
    _, circles_only = arena_from_message(arena_message((-2.0, 2.0, -3.0, 3.0), rows[[0, 3], :3]))
    assert circles_only.shape == (2, 3)  # no boxes: the circles' original layout
    back.boxes[0].half_length = 0.0
    with pytest.raises(ValueError, match="half_length"):
        arena_from_message(back)
    back.boxes[0].angle = math.nan
    with pytest.raises(NonFiniteInput):
        arena_from_message(back)


def test_box_parameters_and_markers():
    values = {"arena.x_min": -2.0, "arena.x_max": 2.0, "arena.y_min": -2.0, "arena.y_max": 2.0,
              "obstacles": [1.0, 1.0, 0.3], "boxes": [0.0, -1.0, 0.5, 0.1, 0.4]}
    problems: list[str] = []
    bounds, rows = arena_from_values(values, problems)
    assert not problems and rows.shape == (2, 6) and rows[1].tolist() == [0, -1, 0.5, 0.1, 0.4, 1]
    with pytest.raises(ValueError, match="multiple of 5"):
        boxes_from_flat([1.0, 2.0])
    arena_from_values(dict(values, boxes=[0.0, 0.0, -1.0, 0.1, 0.0]), problems)
    assert problems and "half_length" in problems[0]
    cfg = CBFConfig()
    res = SafeActionResolver(cfg, Arena(*bounds), rows)
    pose = np.array([0.0, -0.6, -math.pi / 2])  # just above the box, driving down at it
    u, rec = res.resolve(pose, (cfg.v_max, 0.0))
    assert "obstacle[1]" in rec.active_constraints
    out = constraint_markers(Header(frame_id="arena"), pose, u, cfg, res.constraints(pose),
                             res.arena, rows, None, rec.active_constraints)
    strips = [m for m in out.markers if m.ns.endswith("/active") and m.type == 4]
    shape = keepout(1, rows[1], cfg.robot_radius)
    assert strips and len(strips[0].points) == len(shape[1]) + 1  # the rounded box, closed
