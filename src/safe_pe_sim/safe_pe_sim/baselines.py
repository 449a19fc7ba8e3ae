"""Scripted policies for evaluation and health checks (physical commands).

All policies take the state of N games as arrays (agent 0 = pursuer, 1 = evader) and return
``(N, 2)`` physical commands ``(v, omega)`` for the agent they control, within its limits:

* :func:`pure_pursuit`: greedy pursuer that steers at the evader (optionally at a point led by
  the evader's velocity over ``lead_time``).
* :func:`flee`: evader that steers straight away from the pursuer.
* :func:`aware_flee`: evader that steers away from the pursuer and is repelled by walls and
  obstacles (potential field).
* :func:`random_commands`: uniformly random commands (any agent).

Steering law: ``omega = clip(gain * heading_error, +-omega_max)``, ``v = v_max`` when
``|heading_error| <= pi / 2``, else ``max(v_min, 0)`` (turn in place first). :func:`single_state`
builds the arrays for one game; :func:`to_normalized` converts to the ``[-1, 1]`` action.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from safe_pe_cbf.barriers import nearest_point, nearest_points

from .actions import to_normalized
from .config import EnvConfig, RobotConfig
from .dynamics import wrap_angle
from .roles import ROLES

__all__ = ["steer_towards", "pure_pursuit", "flee", "aware_flee", "random_commands",
           "SCRIPTED", "scripted_policy", "scripted_policy_single", "single_state",
           "to_normalized"]


def steer_towards(poses: np.ndarray, heading: np.ndarray, robot: RobotConfig,
                  gain: float = 4.0) -> np.ndarray:
    """Commands turning robots towards desired headings.

    :param poses: ``(N, 3)`` poses of the controlled robots.
    :param heading: ``(N,)`` desired headings [rad].
    :param robot: the robot's limits.
    :param gain: proportional turn gain [1/s].
    """
    err = wrap_angle(heading - poses[:, 2])
    omega = np.clip(gain * err, -robot.omega_max, robot.omega_max)
    v = np.where(np.abs(err) <= math.pi / 2, robot.v_max, max(robot.v_min, 0.0))
    return np.stack((v, omega), axis=1)


def pure_pursuit(poses: np.ndarray, velocities: np.ndarray, config: EnvConfig,
                 lead_time: float = 0.0, gain: float = 4.0) -> np.ndarray:
    """Greedy pursuer: steer at the evader (or where it will be after ``lead_time``).

    :param poses: ``(N, 2, 3)`` poses.
    :param velocities: ``(N, 2, 2)`` last applied commands (used for the lead).
    :param config: game config (pursuer limits).
    :param lead_time: prediction horizon [s]; 0 = plain pure pursuit.
    :param gain: turn gain [1/s].
    """
    tx = poses[:, 1, 0]
    ty = poses[:, 1, 1]
    if lead_time > 0.0:
        tx = tx + lead_time * velocities[:, 1, 0] * np.cos(poses[:, 1, 2])
        ty = ty + lead_time * velocities[:, 1, 0] * np.sin(poses[:, 1, 2])
    heading = np.arctan2(ty - poses[:, 0, 1], tx - poses[:, 0, 0])
    return steer_towards(poses[:, 0], heading, config.pursuer, gain)


def flee(poses: np.ndarray, velocities: np.ndarray, config: EnvConfig,
         gain: float = 4.0) -> np.ndarray:
    """Evader that steers directly away from the pursuer.

    :param poses: ``(N, 2, 3)`` poses.
    :param velocities: ``(N, 2, 2)`` last applied commands (unused; uniform signature).
    :param config: game config (evader limits).
    :param gain: turn gain [1/s].
    """
    heading = np.arctan2(poses[:, 1, 1] - poses[:, 0, 1], poses[:, 1, 0] - poses[:, 0, 0])
    return steer_towards(poses[:, 1], heading, config.evader, gain)


def aware_flee(poses: np.ndarray, velocities: np.ndarray, config: EnvConfig,
               obstacles: np.ndarray | None = None, mask: np.ndarray | None = None,
               influence: float | None = None, gain: float = 4.0) -> np.ndarray:
    """Evader fleeing the pursuer while repelled by walls and obstacles.

    Desired direction = unit vector away from the pursuer plus, for each wall and obstacle
    closer than ``influence`` (body clearance ``c``), a push along its normal of strength
    ``(1 / max(c, 0.05 * influence) - 1 / influence) * influence``.

    :param poses: ``(N, 2, 3)`` poses.
    :param velocities: ``(N, 2, 2)`` last applied commands (unused; uniform signature).
    :param config: game config (evader limits, arena).
    :param obstacles: ``(N, K, 3)`` obstacles, or None.
    :param mask: ``(N, K)`` real obstacle rows (required with ``obstacles``).
    :param influence: clearance [m] below which walls/obstacles repel; default 15 % of the
        arena's shorter side.
    :param gain: turn gain [1/s].
    """
    arena = config.arena
    if influence is None:
        influence = 0.15 * min(arena.width, arena.height)
    r = config.evader.radius
    x = poses[:, 1, 0]
    y = poses[:, 1, 1]
    ax = x - poses[:, 0, 0]
    ay = y - poses[:, 0, 1]
    norm = np.maximum(np.hypot(ax, ay), 1e-9)
    dx = ax / norm
    dy = ay / norm
    floor = 0.05 * influence

    def push(c: np.ndarray) -> np.ndarray:
        return np.where(c < influence,
                        (1.0 / np.maximum(c, floor) - 1.0 / influence) * influence, 0.0)

    dx = dx + push(x - arena.x_min - r) - push(arena.x_max - x - r)
    dy = dy + push(y - arena.y_min - r) - push(arena.y_max - y - r)
    if obstacles is not None and obstacles.shape[1]:
        if mask is None:
            raise ValueError("aware_flee needs the obstacle mask with the obstacles")
        cx, cy, rad = nearest_points(obstacles, x[:, None], y[:, None])  # boxes: nearest point
        ox = x[:, None] - cx
        oy = y[:, None] - cy
        dist = np.maximum(np.hypot(ox, oy), 1e-9)
        p = np.where(mask, push(dist - rad - r), 0.0)
        dx = dx + (p * ox / dist).sum(axis=1)
        dy = dy + (p * oy / dist).sum(axis=1)
    return steer_towards(poses[:, 1], np.arctan2(dy, dx), config.evader, gain)


def random_commands(rng: np.random.Generator, n: int, robot: RobotConfig) -> np.ndarray:
    """Uniformly random commands inside the robot's limits.

    :param rng: generator to draw from.
    :param n: number of games.
    :param robot: the robot's limits.
    """
    v = rng.uniform(robot.v_min, robot.v_max, n)
    omega = rng.uniform(-robot.omega_max, robot.omega_max, n)
    return np.stack((v, omega), axis=1)


ScriptedFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

SCRIPTED = {
    "pure_pursuit": ("pursuer", "steer at the evader"),
    "lead_pursuit": ("pursuer", "steer at the evader's position 0.5 s ahead"),
    "random": ("any", "uniformly random commands"),
    "flee": ("evader", "steer away from the pursuer"),
    "aware_flee": ("evader", "flee while repelled by walls and obstacles"),
}
"""Scripted baseline names: ``name -> (role, description)``."""


def scripted_policy(name: str, config: EnvConfig, role: str,
                    rng: np.random.Generator | None = None) -> ScriptedFn:
    """A batched scripted policy ``f(poses, velocities, obstacles, mask) -> (N, 2)`` commands.

    :param name: one of :data:`SCRIPTED`.
    :param config: game config.
    :param role: ``"pursuer"`` or ``"evader"``: the agent it controls.
    :param rng: generator for ``"random"`` (default: seeded 0).
    """
    if name not in SCRIPTED:
        raise ValueError(f"unknown scripted baseline {name!r}; use one of {sorted(SCRIPTED)}")
    if role not in ROLES:
        raise ValueError(f"role must be 'pursuer' or 'evader', got {role!r}")
    want = SCRIPTED[name][0]
    if want != "any" and want != role:
        raise ValueError(f"scripted baseline {name!r} plays the {want}, not the {role}")
    if name == "pure_pursuit":
        return lambda p, v, o, m: pure_pursuit(p, v, config)
    if name == "lead_pursuit":
        return lambda p, v, o, m: pure_pursuit(p, v, config, lead_time=0.5)
    if name == "flee":
        return lambda p, v, o, m: flee(p, v, config)
    if name == "aware_flee":
        return lambda p, v, o, m: aware_flee(p, v, config, o, m)
    generator = rng if rng is not None else np.random.default_rng(0)
    robot = config.pursuer if role == "pursuer" else config.evader
    return lambda p, v, o, m: random_commands(generator, p.shape[0], robot)


def single_state(poses: list[tuple[float, float, float]], velocities: list[tuple[float, float]],
                 obstacles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batch-of-one arrays ``(poses, velocities, obstacles, mask)`` for one game.

    :param poses: ``[(x, y, theta)] * 2``.
    :param velocities: ``[(v, omega)] * 2``.
    :param obstacles: ``(k, 3)`` obstacles.
    """
    obs = np.asarray(obstacles, dtype=np.float64).reshape(1, -1, 3)
    return (np.asarray(poses, dtype=np.float64)[None], np.asarray(velocities)[None], obs,
            np.ones(obs.shape[:2], dtype=bool))


# ---------------------------------------------------------------------- scalar (one game)
ScalarFn = Callable[[list, list, list], tuple[float, float]]


def _steer_scalar(x: float, y: float, theta: float, heading: float, robot: RobotConfig,
                  gain: float) -> tuple[float, float]:
    angle = heading - theta
    err = angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))
    omega = min(max(gain * err, -robot.omega_max), robot.omega_max)
    v = robot.v_max if abs(err) <= math.pi / 2 else max(robot.v_min, 0.0)
    return v, omega


def _aware_flee_scalar(poses: list, config: EnvConfig, obstacles: list, gain: float
                       ) -> tuple[float, float]:
    arena = config.arena
    influence = 0.15 * min(arena.width, arena.height)
    floor = 0.05 * influence
    r = config.evader.radius
    (px, py, _), (x, y, th) = poses

    def push(c: float) -> float:
        return (1.0 / max(c, floor) - 1.0 / influence) * influence if c < influence else 0.0

    ax = x - px
    ay = y - py
    norm = max(math.sqrt(ax * ax + ay * ay), 1e-9)
    dx = ax / norm + push(x - arena.x_min - r) - push(arena.x_max - x - r)
    dy = ay / norm + push(y - arena.y_min - r) - push(arena.y_max - y - r)
    for ob in obstacles:
        ox, oy, orad, _ = nearest_point(ob, x, y)  # a box: its nearest point, radius 0
        qx = x - ox
        qy = y - oy
        dist = max(math.sqrt(qx * qx + qy * qy), 1e-9)
        p = push(dist - orad - r)
        dx += p * qx / dist
        dy += p * qy / dist
    return _steer_scalar(x, y, th, math.atan2(dy, dx), config.evader, gain)


def scripted_policy_single(name: str, config: EnvConfig, role: str,
                           rng: np.random.Generator | None = None) -> ScalarFn:
    """Pure-Python :func:`scripted_policy` for one game: ``f(poses, velocities, obstacles)``.

    Same steering law as the batched policies (a test keeps them equal), without numpy
    overhead. ``poses`` is ``[(x, y, theta)] * 2``, ``velocities`` ``[(v, omega)] * 2`` and
    ``obstacles`` a list of real ``(x, y, radius)`` rows.

    :param name: one of :data:`SCRIPTED`.
    :param config: game config.
    :param role: the agent it controls.
    :param rng: generator for ``"random"`` (default: seeded 0).
    """
    scripted_policy(name, config, role)  # validates name and role
    gain = 4.0
    if name in ("pure_pursuit", "lead_pursuit"):
        lead = 0.5 if name == "lead_pursuit" else 0.0

        def pursue(p: list, v: list, o: list) -> tuple[float, float]:
            tx, ty, tth = p[1]
            if lead > 0.0:
                tx = tx + lead * v[1][0] * math.cos(tth)
                ty = ty + lead * v[1][0] * math.sin(tth)
            x, y, th = p[0]
            return _steer_scalar(x, y, th, math.atan2(ty - y, tx - x), config.pursuer, gain)
        return pursue
    if name == "flee":
        def run(p: list, v: list, o: list) -> tuple[float, float]:
            x, y, th = p[1]
            return _steer_scalar(x, y, th, math.atan2(y - p[0][1], x - p[0][0]),
                                 config.evader, gain)
        return run
    if name == "aware_flee":
        return lambda p, v, o: _aware_flee_scalar(p, config, o, gain)
    generator = rng if rng is not None else np.random.default_rng(0)
    robot = config.pursuer if role == "pursuer" else config.evader

    def rand(p: list, v: list, o: list) -> tuple[float, float]:
        cmd = random_commands(generator, 1, robot)[0]
        return float(cmd[0]), float(cmd[1])
    return rand
