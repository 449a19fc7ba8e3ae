"""Messages of the simulator node built from the game core (message types only, no rclpy)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from safe_pe_cbf.barriers import BOX, as_rows
from safe_pe_cbf.ros_common.conversions import arena_message
from safe_pe_msgs.msg import AgentState, EpisodeResult, GameState
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from safe_pe_sim.config import RobotConfig
from safe_pe_sim.game import PursuitEvasionGame, StepResult
from safe_pe_sim.roles import ROLES
from safe_pe_sim.safety_check import clearances, describe

ROLE_CODES = (AgentState.ROLE_PURSUER, AgentState.ROLE_EVADER)


def time_from_seconds(seconds: float) -> Time:
    """A ``builtin_interfaces/Time`` from non-negative seconds.

    :param seconds: time [s].
    """
    nanos = int(round(seconds * 1e9))
    return Time(sec=nanos // 1_000_000_000, nanosec=nanos % 1_000_000_000)


def agent_state_message(
    name: str,
    agent: int,
    pose: Sequence[float],
    velocity: Sequence[float],
    robot: RobotConfig,
    header: Header,
) -> AgentState:
    """One robot's AgentState.

    :param name: robot name (= namespace).
    :param agent: 0 pursuer, 1 evader.
    :param pose: ``(x, y, theta)``.
    :param velocity: applied ``(v, omega)``.
    :param robot: body and limits.
    :param header: stamp and arena frame.
    """
    return AgentState(
        header=header, agent_id=name, role=ROLE_CODES[agent],
        x=float(pose[0]), y=float(pose[1]), theta=float(pose[2]),
        v=float(velocity[0]), omega=float(velocity[1]),
        radius=float(robot.radius), v_min=float(robot.v_min), v_max=float(robot.v_max),
        omega_max=float(robot.omega_max),
    )


def violation_detail(names: Sequence[str], result: StepResult | None) -> str:
    """``"pursuer: obstacle[1] depth 0.0120 m"``-style text of a step's violations.

    :param names: robot names (pursuer first).
    :param result: the step (``None``: no step yet, empty text).
    """
    if result is None:
        return ""
    s = result.safety
    parts = [
        f"{names[a]}: {describe(s.kinds[a], s.depth[a], s.obstacle_index[a], s.wall_index[a])}"
        for a in range(2) if s.violated[a]
    ]
    return "; ".join(parts)


def game_state_message(
    game: PursuitEvasionGame,
    names: Sequence[str],
    header: Header,
    episode_id: int,
    result: StepResult | None = None,
) -> GameState:
    """The GameState of the game's current step.

    :param game: the game core (current poses, velocities, obstacles, step).
    :param names: robot names (pursuer first).
    :param header: stamp and arena frame.
    :param episode_id: the node's episode counter (increments at every reset).
    :param result: the step just taken (``None`` right after a reset).
    """
    cfg = game.config
    robots = cfg.robots()
    msg = GameState()
    msg.header = header
    msg.episode_id = int(episode_id)
    msg.step = int(game.step_count)
    msg.dt = float(cfg.dt)
    msg.pursuer = agent_state_message(names[0], 0, game.poses[0], game.velocities[0],
                                      robots[0], header)
    msg.evader = agent_state_message(names[1], 1, game.poses[1], game.velocities[1],
                                     robots[1], header)
    msg.arena = arena_message(game.bounds, game.obstacles_array, header)
    msg.distance = float(game.distance)
    msg.capture_radius = float(cfg.capture_radius)
    if result is not None:
        msg.captured = bool(result.captured)
        msg.timed_out = bool(result.truncated)
        msg.violation = bool(any(result.safety.violated))
        msg.violation_detail = violation_detail(names, result)
    return msg


def episode_result_message(
    game: PursuitEvasionGame,
    header: Header,
    episode_id: int,
    seed: int,
    outcome: int,
    violation_steps: int,
    intervention_steps: int,
) -> EpisodeResult:
    """The EpisodeResult of the game's current (just finished or aborted) episode.

    :param game: the game core.
    :param header: stamp.
    :param episode_id: the node's episode counter.
    :param seed: seed that started this episode's stream, -1 if it continued a stream.
    :param outcome: ``EpisodeResult.OUTCOME_*``.
    :param violation_steps: steps with any body-level violation.
    :param intervention_steps: steps where some filter intervened (from safety statuses).
    """
    return EpisodeResult(
        header=header,
        episode_id=int(episode_id),
        seed=int(seed),
        outcome=outcome,
        steps=int(game.step_count),
        duration=float(game.step_count * game.config.dt),
        min_distance=float(game.min_distance) if math.isfinite(game.min_distance) else 0.0,
        pursuer_return=float(game.episode_return[0]),
        evader_return=float(game.episode_return[1]),
        violation_steps=int(violation_steps),
        intervention_steps=int(intervention_steps),
    )


def initial_pose_problem(
    poses: np.ndarray,
    radii: Sequence[float],
    obstacles: np.ndarray,
    bounds: tuple[float, float, float, float],
) -> str:
    """Why two start poses cannot be used (body in a wall/obstacle/the other), or ``""``.

    :param poses: ``(2, 3)`` start poses.
    :param radii: body radii (pursuer, evader).
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with their kind.
    :param bounds: ``(x_min, x_max, y_min, y_max)``.
    """
    poses = np.asarray(poses, dtype=float).reshape(2, 3)
    if not np.all(np.isfinite(poses)):
        return "initial states must be finite"
    obstacles = as_rows(obstacles)
    obs, walls, pair = clearances(poses[:, :2], np.asarray(radii, dtype=float), obstacles,
                                  np.ones(len(obstacles), dtype=bool), bounds)
    problems = []
    for a, name in enumerate(ROLES):
        if np.any(walls[a] < 0.0):
            problems.append(f"{name} body crosses a wall")
        if obs.size and np.any(obs[a] < 0.0):
            problems.append(f"{name} body overlaps obstacle[{int(np.argmin(obs[a]))}]")
    if pair < 0.0:
        problems.append("the two bodies overlap")
    return "; ".join(problems)


def obstacle_markers(
    bounds: tuple[float, float, float, float], obstacles: np.ndarray, header: Header
) -> MarkerArray:
    """Walls (line strip) and obstacles (cylinders) for RViz; DELETEALL first.

    :param bounds: ``(x_min, x_max, y_min, y_max)``.
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with their kind.
    :param header: stamp and arena frame.
    """
    out = MarkerArray()
    clear = Marker(header=header, action=Marker.DELETEALL)
    out.markers.append(clear)
    x0, x1, y0, y1 = (float(b) for b in bounds)
    walls = Marker(header=header, ns="walls", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
    walls.pose.orientation.w = 1.0
    walls.scale.x = 0.03
    walls.color = ColorRGBA(r=0.2, g=0.2, b=0.2, a=1.0)
    walls.points = [Point(x=x, y=y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1),
                                                  (x0, y0))]
    out.markers.append(walls)
    for k, o in enumerate(as_rows(obstacles)):
        box = len(o) > 3 and o[5] == BOX  # a box (or wall segment, drawn 2 cm thick): a cube
        m = Marker(header=header, ns="obstacles", id=k, type=Marker.CUBE if box
                   else Marker.CYLINDER, action=Marker.ADD)
        m.pose.position.x, m.pose.position.y, m.pose.position.z = float(o[0]), float(o[1]), 0.15
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = 2.0 * float(o[2])
        if box:
            m.pose.orientation.z, m.pose.orientation.w = math.sin(o[4] / 2), math.cos(o[4] / 2)
            m.scale.y = max(2.0 * float(o[3]), 0.02)
        m.scale.z = 0.3
        m.color = ColorRGBA(r=0.5, g=0.5, b=0.5, a=0.9)
        out.markers.append(m)
    return out
