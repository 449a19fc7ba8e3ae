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

Each law is written once, per game (:func:`safe_pe_sim.kernels.steer`,
:func:`~safe_pe_sim.kernels.pursue`, :func:`~safe_pe_sim.kernels.flee_from`,
:func:`~safe_pe_sim.kernels.aware_flee_one`, compiled by numba): the batched policies loop
them over the games, :func:`scripted_policy_single` calls them for one game.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from safe_pe_cbf.barriers import as_rows

from . import kernels
from .actions import to_normalized
from .config import EnvConfig, RobotConfig
from .kernels import aware_flee_one, flee_from, pursue, steer
from .roles import ROLES

__all__ = ["steer_towards", "pure_pursuit", "flee", "aware_flee", "random_commands",
           "SCRIPTED", "scripted_policy", "scripted_policy_single", "single_state",
           "to_normalized"]


def _law(robot: RobotConfig, gain: float) -> tuple[float, float, float, float]:
    """``(v_max, v_turn, omega_max, gain)`` of the steering law for ``robot``."""
    return float(robot.v_max), max(float(robot.v_min), 0.0), float(robot.omega_max), float(gain)


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def steer_towards(poses: np.ndarray, heading: np.ndarray, robot: RobotConfig,
                  gain: float = 4.0) -> np.ndarray:
    """Commands turning robots towards desired headings.

    :param poses: ``(N, 3)`` poses of the controlled robots.
    :param heading: ``(N,)`` desired headings [rad].
    :param robot: the robot's limits.
    :param gain: proportional turn gain [1/s].
    """
    out = np.empty((poses.shape[0], 2))
    kernels.steer_rows(_f64(poses), _f64(heading), _law(robot, gain), out)
    return out


def pure_pursuit(poses: np.ndarray, velocities: np.ndarray, config: EnvConfig,
                 lead_time: float = 0.0, gain: float = 4.0) -> np.ndarray:
    """Greedy pursuer: steer at the evader (or where it will be after ``lead_time``).

    :param poses: ``(N, 2, 3)`` poses.
    :param velocities: ``(N, 2, 2)`` last applied commands (used for the lead).
    :param config: game config (pursuer limits).
    :param lead_time: prediction horizon [s]; 0 = plain pure pursuit.
    :param gain: turn gain [1/s].
    """
    out = np.empty((poses.shape[0], 2))
    kernels.pursue_rows(_f64(poses), _f64(velocities), float(lead_time),
                        _law(config.pursuer, gain),
                 out)
    return out


def flee(poses: np.ndarray, velocities: np.ndarray, config: EnvConfig,
         gain: float = 4.0) -> np.ndarray:
    """Evader that steers directly away from the pursuer.

    :param poses: ``(N, 2, 3)`` poses.
    :param velocities: ``(N, 2, 2)`` last applied commands (unused; uniform signature).
    :param config: game config (evader limits).
    :param gain: turn gain [1/s].
    """
    out = np.empty((poses.shape[0], 2))
    kernels.flee_rows(_f64(poses), _law(config.evader, gain), out)
    return out


def aware_flee(poses: np.ndarray, velocities: np.ndarray, config: EnvConfig,
               obstacles: np.ndarray | None = None, mask: np.ndarray | None = None,
               influence: float | None = None, gain: float = 4.0) -> np.ndarray:
    """Evader fleeing the pursuer while repelled by walls and obstacles.

    Desired direction = unit vector away from the pursuer plus, for each wall and obstacle
    closer than ``influence`` (body clearance ``c``), a push along its normal of strength
    ``(1 / max(c, 0.05 * influence) - 1 / influence) * influence`` (a box pushes from its
    nearest surface point).

    :param poses: ``(N, 2, 3)`` poses.
    :param velocities: ``(N, 2, 2)`` last applied commands (unused; uniform signature).
    :param config: game config (evader limits, arena).
    :param obstacles: ``(N, K, 3)`` obstacles (or ``(N, K, 6)`` rows with a kind), or None.
    :param mask: ``(N, K)`` real obstacle rows (required with ``obstacles``).
    :param influence: clearance [m] below which walls/obstacles repel; default 15 % of the
        arena's shorter side.
    :param gain: turn gain [1/s].
    """
    n = poses.shape[0]
    if obstacles is None:
        obstacles, mask = np.zeros((n, 0, 3)), np.zeros((n, 0), dtype=bool)
    elif mask is None:
        raise ValueError("aware_flee needs the obstacle mask with the obstacles")
    out = np.empty((n, 2))
    kernels.aware_flee_rows(_f64(poses), _f64(obstacles),
                            np.ascontiguousarray(mask, dtype=bool),
                     _arena(config), float(config.evader.radius), _influence(config, influence),
                     _law(config.evader, gain), out)
    return out


def _arena(config: EnvConfig) -> tuple[float, float, float, float]:
    a = config.arena
    return float(a.x_min), float(a.x_max), float(a.y_min), float(a.y_max)


def _influence(config: EnvConfig, influence: float | None) -> float:
    if influence is None:
        return 0.15 * min(config.arena.width, config.arena.height)
    return float(influence)


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


# ---------------------------------------------------------------------- one game
ScalarFn = Callable[[list, list, list], tuple[float, float]]


def scripted_policy_single(name: str, config: EnvConfig, role: str,
                           rng: np.random.Generator | None = None) -> ScalarFn:
    """:func:`scripted_policy` for one game: ``f(poses, velocities, obstacles)``.

    The same compiled laws as the batched policies, called for one game. ``poses`` is
    ``[(x, y, theta)] * 2``, ``velocities`` ``[(v, omega)] * 2`` and ``obstacles`` the real
    ``(x, y, radius)`` rows (or 6-entry rows with a kind; a list or an array).

    :param name: one of :data:`SCRIPTED`.
    :param config: game config.
    :param role: the agent it controls.
    :param rng: generator for ``"random"`` (default: seeded 0).
    """
    scripted_policy(name, config, role)  # validates name and role
    gain = 4.0
    if name in ("pure_pursuit", "lead_pursuit"):
        lead = 0.5 if name == "lead_pursuit" else 0.0
        law = _law(config.pursuer, gain)

        def run_pursue(p: list, v: list, o: list) -> tuple[float, float]:
            (x, y, th), (tx, ty, tth) = p
            return pursue(float(x), float(y), float(th), float(tx), float(ty), float(tth),
                          float(v[1][0]), lead, *law)
        return run_pursue
    if name in ("flee", "aware_flee"):
        law = _law(config.evader, gain)
        if name == "flee":
            def run_flee(p: list, v: list, o: list) -> tuple[float, float]:
                (px, py, _), (x, y, th) = p
                return flee_from(float(x), float(y), float(th), float(px), float(py), *law)
            return run_flee
        arena = _arena(config)
        r = float(config.evader.radius)
        influence = _influence(config, None)

        def run_aware(p: list, v: list, o: list) -> tuple[float, float]:
            (px, py, _), (x, y, th) = p
            rows = as_rows(o)
            return aware_flee_one(float(x), float(y), float(th), float(px), float(py), rows,
                                  np.ones(rows.shape[0], dtype=bool), *arena, r, influence,
                                  *law)
        return run_aware
    generator = rng if rng is not None else np.random.default_rng(0)
    robot = config.pursuer if role == "pursuer" else config.evader

    def rand(p: list, v: list, o: list) -> tuple[float, float]:
        cmd = random_commands(generator, 1, robot)[0]
        return float(cmd[0]), float(cmd[1])
    return rand
