"""Message <-> array conversions for the safe_pe nodes (message types only, no rclpy).

Every function here is pure: it reads or builds ROS message objects and numpy arrays, so it
can be unit-tested without a ROS context. Non-finite values are reported to the caller
(``None`` or :class:`NonFiniteInput`) so the node can drop and count them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Quaternion, Twist, TwistStamped
from nav_msgs.msg import Odometry
from safe_pe_msgs.msg import (AgentState, Arena as ArenaMsg, BoxObstacle, CircleObstacle,
                              GameState)
from std_msgs.msg import Header

from safe_pe_cbf.barriers import BOX, KIND, WIDE
from safe_pe_cbf.geometry import wrap_angle


class NonFiniteInput(ValueError):
    """A message carried NaN or infinity where a finite number is required."""


def yaw_from_quaternion(q: Quaternion) -> float:
    """Heading (rotation about +z) of a quaternion, in [-pi, pi).

    :param q: orientation; need not be exactly unit length (it is normalised).
    """
    siny = 2.0 * (q.w * q.z + q.x * q.y)
    cosy = q.w * q.w + q.x * q.x - q.y * q.y - q.z * q.z  # scale-invariant form
    norm = q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w
    if not math.isfinite(norm) or norm < 1e-12:
        raise NonFiniteInput(f"orientation quaternion is not usable: {q}")
    return wrap_angle(math.atan2(siny, cosy))


def quaternion_from_yaw(theta: float) -> Quaternion:
    """Quaternion of a pure rotation about +z.

    :param theta: heading in radians.
    """
    half = 0.5 * theta
    return Quaternion(x=0.0, y=0.0, z=math.sin(half), w=math.cos(half))


def twist_of(msg: Twist | TwistStamped) -> Twist:
    """The ``Twist`` inside a Twist or TwistStamped message.

    :param msg: a velocity command of either type.
    """
    return msg.twist if isinstance(msg, TwistStamped) else msg


def command_from_twist(msg: Twist | TwistStamped) -> tuple[float, float]:
    """Unicycle command ``(v, omega)`` from ``linear.x`` and ``angular.z``.

    Raises :class:`NonFiniteInput` when either is NaN/inf (callers drop and count the
    message). The other components are ignored: a unicycle cannot execute them.

    :param msg: the velocity command (Twist or TwistStamped).
    """
    twist = twist_of(msg)
    return finite_command(float(twist.linear.x), float(twist.angular.z))


def finite_command(v: float, omega: float) -> tuple[float, float]:
    """``(v, omega)`` unchanged, or :class:`NonFiniteInput` when either is NaN/inf.

    :param v: linear velocity [m/s].
    :param omega: angular velocity [rad/s].
    """
    if not (math.isfinite(v) and math.isfinite(omega)):
        raise NonFiniteInput(f"velocity command is not finite: v={v}, omega={omega}")
    return v, omega


def twist_from_command(v: float, omega: float) -> Twist:
    """A Twist with ``linear.x = v`` and ``angular.z = omega``, everything else zero.

    :param v: linear velocity [m/s].
    :param omega: angular velocity [rad/s].
    """
    twist = Twist()
    twist.linear.x = float(v)
    twist.angular.z = float(omega)
    return twist


def command_message(
    v: float, omega: float, stamped: bool, header: Header | None = None
) -> Twist | TwistStamped:
    """Build the outgoing command message of the configured type.

    :param v: linear velocity [m/s].
    :param omega: angular velocity [rad/s].
    :param stamped: build a TwistStamped (``True``) or a plain Twist.
    :param header: header to copy into a TwistStamped (ignored for Twist).
    """
    twist = twist_from_command(v, omega)
    if not stamped:
        return twist
    msg = TwistStamped()
    if header is not None:
        msg.header = header
    msg.twist = twist
    return msg


@dataclass(frozen=True)
class PoseOffset:
    """Rigid transform from a robot's odometry frame into the arena frame.

    :param x: arena x of the odometry origin [m].
    :param y: arena y of the odometry origin [m].
    :param yaw: rotation of the odometry frame in the arena frame [rad].
    """

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0

    def apply(self, x: float, y: float, theta: float) -> np.ndarray:
        """Transform an odometry pose into the arena frame; returns ``(x, y, theta)``."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array(
            [self.x + c * x - s * y, self.y + s * x + c * y, wrap_angle(theta + self.yaw)]
        )


def pose_from_odometry(msg: Odometry, offset: PoseOffset = PoseOffset()) -> np.ndarray:
    """Arena-frame pose ``(x, y, theta)`` from an Odometry message.

    :param msg: odometry of the robot's base (pose.pose is used; covariance ignored).
    :param offset: transform from the odometry frame into the arena frame.
    """
    p = msg.pose.pose.position
    x, y = float(p.x), float(p.y)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise NonFiniteInput(f"odometry position is not finite: x={x}, y={y}")
    theta = yaw_from_quaternion(msg.pose.pose.orientation)
    return offset.apply(x, y, theta)


def velocity_from_odometry(msg: Odometry) -> tuple[float, float]:
    """Body-frame ``(v, omega)`` from an Odometry twist (child frame = base).

    :param msg: odometry message.
    """
    return command_from_twist(msg.twist.twist)


def pose_from_agent_state(state: AgentState) -> np.ndarray:
    """Pose ``(x, y, theta)`` of an AgentState; raises :class:`NonFiniteInput` on NaN/inf.

    :param state: one robot of a GameState.
    """
    pose = np.array([state.x, state.y, state.theta], dtype=float)
    if not np.all(np.isfinite(pose)):
        raise NonFiniteInput(f"agent {state.agent_id!r} pose is not finite: {pose}")
    pose[2] = wrap_angle(pose[2])
    return pose


def split_game_state(msg: GameState, agent_id: str) -> tuple[AgentState, AgentState]:
    """Return ``(own, opponent)`` AgentStates of ``agent_id`` in a GameState.

    :param msg: the game state.
    :param agent_id: this robot's id (``"pursuer"``/``"evader"`` or the AgentState.agent_id).
    """
    if msg.pursuer.agent_id == agent_id or (not msg.pursuer.agent_id and agent_id == "pursuer"):
        return msg.pursuer, msg.evader
    if msg.evader.agent_id == agent_id or (not msg.evader.agent_id and agent_id == "evader"):
        return msg.evader, msg.pursuer
    raise KeyError(
        f"robot {agent_id!r} is not in the game state (agents: "
        f"{msg.pursuer.agent_id!r}, {msg.evader.agent_id!r}); set the robot_id parameter"
    )


def obstacles_from_flat(values: list[float] | tuple[float, ...] | None) -> np.ndarray:
    """Obstacle rows ``(K, 3)`` from a flat parameter list ``[x0, y0, r0, x1, ...]``.

    :param values: flat list with a multiple of three entries (``None``/empty: no obstacles).
    """
    flat = np.asarray(list(values or []), dtype=float)
    if flat.size % 3:
        raise ValueError(
            f"obstacles needs triples x, y, radius; got {flat.size} numbers "
            "(a multiple of 3 is required)"
        )
    rows = flat.reshape(-1, 3)
    if not np.all(np.isfinite(rows)):
        raise ValueError("obstacles: every x, y, radius must be finite")
    if np.any(rows[:, 2] <= 0.0):
        raise ValueError("obstacles: every radius must be > 0")
    return rows


def boxes_from_flat(values: list[float] | tuple[float, ...] | None) -> np.ndarray:
    """Box rows ``(B, 6)`` with their kind (:mod:`safe_pe_cbf.barriers`) from a flat parameter
    list ``[x0, y0, half_length0, half_width0, angle0, x1, ...]`` (half_width 0: a wall).

    :param values: flat list with a multiple of five entries (``None``/empty: no boxes).
    """
    flat = np.asarray(list(values or []), dtype=float)
    if flat.size % 5:
        raise ValueError(f"boxes needs quintuples x, y, half_length, half_width, angle; got "
                         f"{flat.size} numbers (a multiple of 5 is required)")
    rows = flat.reshape(-1, 5)
    if not np.all(np.isfinite(rows)):
        raise ValueError("boxes: every x, y, half_length, half_width, angle must be finite")
    if np.any(rows[:, 2] <= 0.0) or np.any(rows[:, 3] < 0.0):
        raise ValueError("boxes: every half_length must be > 0 and half_width >= 0")
    return np.concatenate([rows, np.full((len(rows), 1), float(BOX))], axis=1)


def with_boxes(circles: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``circles`` ``(K, 3)`` alone when there are no boxes, else ``(K + B, 6)`` rows with their
    kind: the circles, then the boxes.

    :param circles: ``(K, 3)`` rows ``(x, y, radius)``
    :param boxes: ``(B, 6)`` rows of :func:`boxes_from_flat`
    """
    if not len(boxes):
        return circles
    return np.concatenate([np.pad(circles, ((0, 0), (0, WIDE - 3))), boxes])


def arena_from_message(msg: ArenaMsg) -> tuple[tuple[float, float, float, float], np.ndarray]:
    """``((x_min, x_max, y_min, y_max), obstacles)`` from a safe_pe_msgs/Arena.

    ``obstacles`` is ``(K, 3)`` circles when the message has no boxes, else ``(K, 6)`` rows
    with their kind (:mod:`safe_pe_cbf.barriers`): the circles, then the boxes. Raises
    :class:`NonFiniteInput` on NaN/inf and ``ValueError`` on inverted walls, non-positive
    radii or box half lengths, or negative half widths.

    :param msg: the arena message.
    """
    bounds = (float(msg.x_min), float(msg.x_max), float(msg.y_min), float(msg.y_max))
    rows = np.array([[o.x, o.y, o.radius] for o in msg.obstacles], dtype=float).reshape(-1, 3)
    boxes = np.array([[b.x, b.y, b.half_length, b.half_width, b.angle, float(BOX)]
                      for b in msg.boxes], dtype=float).reshape(-1, WIDE)
    if not (all(math.isfinite(b) for b in bounds) and np.all(np.isfinite(rows))
            and np.all(np.isfinite(boxes))):
        raise NonFiniteInput("arena message contains NaN/inf")
    if not (bounds[0] < bounds[1] and bounds[2] < bounds[3]):
        raise ValueError(f"arena walls out of order: {bounds} (need x_min < x_max, y_min < y_max)")
    if np.any(rows[:, 2] <= 0.0):
        raise ValueError("arena message has an obstacle with radius <= 0")
    if np.any(boxes[:, 2] <= 0.0) or np.any(boxes[:, 3] < 0.0):
        raise ValueError("arena message has a box with half_length <= 0 or half_width < 0")
    return bounds, with_boxes(rows, boxes)


def arena_message(
    bounds: tuple[float, float, float, float], obstacles: np.ndarray, header: Header | None = None
) -> ArenaMsg:
    """Build a safe_pe_msgs/Arena.

    :param bounds: ``(x_min, x_max, y_min, y_max)`` [m].
    :param obstacles: ``(K, 3)`` rows ``(x, y, radius)``, or ``(K, 6)`` rows with a kind
        (circles into ``obstacles``, boxes into ``boxes``, each in row order).
    :param header: header to use (frame = arena frame).
    """
    msg = ArenaMsg()
    if header is not None:
        msg.header = header
    msg.x_min, msg.x_max, msg.y_min, msg.y_max = (float(b) for b in bounds)
    arr = np.asarray(obstacles, dtype=float)
    arr = arr.reshape(-1, WIDE if arr.ndim == 2 and arr.shape[1] == WIDE else 3)
    is_box = arr[:, KIND] == BOX if arr.shape[1] == WIDE else np.zeros(len(arr), bool)
    msg.obstacles = [CircleObstacle(x=float(o[0]), y=float(o[1]), radius=float(o[2]))
                     for o in arr[~is_box]]
    msg.boxes = [BoxObstacle(x=float(o[0]), y=float(o[1]), half_length=float(o[2]),
                             half_width=float(o[3]), angle=float(o[4])) for o in arr[is_box]]
    return msg


def odometry_message(
    pose: np.ndarray,
    velocity: tuple[float, float],
    header: Header,
    child_frame_id: str,
) -> Odometry:
    """Build an Odometry of a unicycle (pose in ``header.frame_id``, twist in the body frame).

    :param pose: ``(x, y, theta)``.
    :param velocity: ``(v, omega)`` being applied.
    :param header: stamp and frame of the pose.
    :param child_frame_id: body frame of the twist, e.g. ``"pursuer/base_link"``.
    """
    msg = Odometry()
    msg.header = header
    msg.child_frame_id = child_frame_id
    msg.pose.pose.position.x = float(pose[0])
    msg.pose.pose.position.y = float(pose[1])
    msg.pose.pose.orientation = quaternion_from_yaw(float(pose[2]))
    msg.twist.twist = twist_from_command(velocity[0], velocity[1])
    return msg
