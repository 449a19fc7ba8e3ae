"""Body-level safety ground truth on the continuous trajectory (sub-stepped).

A *violation* is a robot body (disk) overlapping an obstacle, crossing a wall, or the two bodies
overlapping: a signed clearance (free gap, negative = penetration depth) below zero. Clearances:

* obstacle j: ``|p - c_j| - r_j - r_robot`` (circle), ``sd_j(p) - r_robot`` (box: the signed
  distance to the rectangle, :func:`safe_pe_cbf.barriers.surface_distance`; a wall segment is a
  box of half width 0, which a body of radius ``r`` cannot cross between two sub-steps closer
  than ``2 r``)
* walls (in order ``x_min, x_max, y_min, y_max``): ``x - x_min - r``, ``x_max - x - r``, ...
* collision: ``|p_pursuer - p_evader| - r_pursuer - r_evader`` (reported for both agents)

Each control step is checked at ``substeps`` evenly spaced instants ``t = k dt / substeps``
(``k = 1..substeps``) on the exact arcs, so a body that tunnels through a thin obstacle corner
between two control samples is caught. The start of a step is the end of the previous one and
spawns are collision-free, so ``k = 0`` is not re-checked.

Pre-filter (exact): every clearance is 1-Lipschitz in each robot position and a robot moves at
most ``|v| dt`` (its arc length) in a step, so a game whose start clearances exceed the travel
(``|v| dt`` for walls/obstacles, ``(|v_p| + |v_e|) dt`` for the pair) cannot violate anything in
that step and is not sub-stepped. Only the remaining games pay for sub-stepping. The kernel
applies it per constraint (just as exact): only the walls, obstacles and the pair whose start
clearance is within the travel are sampled.

The check of one game is written once (:func:`safe_pe_sim.kernels.check_game`, compiled by
numba): :func:`check_step_scalar` (the single game, the game-state node) calls it and
:func:`check_step` loops it over the games in compiled code, so both report the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from safe_pe_cbf.barriers import surface_distance

from . import kernels
from .kernels import ARENA, COLLISION, OBSTACLE, check_game, game_args

__all__ = ["OBSTACLE", "ARENA", "COLLISION", "WALL_NAMES", "SafetyReport", "clearances",
           "check_step", "ScalarSafety", "check_step_scalar", "describe"]

WALL_NAMES = ("x_min", "x_max", "y_min", "y_max")
"""Wall order used by ``wall_index`` and the wall clearances."""


@dataclass
class SafetyReport:
    """Per game and agent (``(N, 2)`` arrays; agent 0 = pursuer, 1 = evader) for one step."""

    violated: np.ndarray
    """bool: any constraint violated during the step."""
    kinds: np.ndarray
    """uint8 bitmask of violated constraints (OBSTACLE | ARENA | COLLISION)."""
    depth: np.ndarray
    """Deepest penetration over all constraints [m], 0 when none."""
    depth_obstacle: np.ndarray
    """Deepest obstacle penetration [m], 0 when none."""
    depth_arena: np.ndarray
    """Deepest wall crossing [m], 0 when none."""
    depth_collision: np.ndarray
    """Deepest body overlap [m], 0 when none (same for both agents)."""
    obstacle_index: np.ndarray
    """int: row of the deepest-penetrated obstacle, -1 when none."""
    wall_index: np.ndarray
    """int: index into WALL_NAMES of the deepest-crossed wall, -1 when none."""
    substepped: np.ndarray
    """``(N,)`` bool: the game failed the pre-filter and (some of) it was sub-stepped."""

    @classmethod
    def empty(cls, n: int) -> "SafetyReport":
        """A report of ``n`` games without violations."""
        z = np.zeros((n, 2))
        return cls(np.zeros((n, 2), bool), np.zeros((n, 2), np.uint8), z, z.copy(), z.copy(),
                   z.copy(), np.full((n, 2), -1), np.full((n, 2), -1), np.zeros(n, bool))


def clearances(xy: np.ndarray, radii: np.ndarray, obstacles: np.ndarray, mask: np.ndarray,
               bounds: tuple[float, float, float, float]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed clearances of both bodies.

    :param xy: ``(..., 2, 2)`` positions of pursuer and evader.
    :param radii: ``(2,)`` body radii.
    :param obstacles: ``(..., K, 3)`` circles or ``(..., K, 6)`` rows with a kind
        (:mod:`safe_pe_cbf.barriers`), broadcastable against ``xy``'s leading dims.
    :param mask: ``(..., K)`` real obstacle rows.
    :param bounds: ``(x_min, x_max, y_min, y_max)``.
    :return: obstacle ``(..., 2, K)`` (+inf on padding), wall ``(..., 2, 4)``, pair ``(...)``.
    """
    x = xy[..., 0]
    y = xy[..., 1]
    obs = surface_distance(obstacles[..., None, :, :], x[..., None], y[..., None]) \
        - radii[:, None]
    obs = np.where(mask[..., None, :], obs, np.inf)
    x_min, x_max, y_min, y_max = bounds
    walls = np.stack((x - x_min - radii, x_max - x - radii,
                      y - y_min - radii, y_max - y - radii), axis=-1)
    px = x[..., 0] - x[..., 1]
    py = y[..., 0] - y[..., 1]
    pair = np.sqrt(px * px + py * py) - (radii[0] + radii[1])
    return obs, walls, pair


def check_step(prev_poses: np.ndarray, cmds: np.ndarray, dt: float, substeps: int,
               radii: np.ndarray, obstacles: np.ndarray, mask: np.ndarray,
               bounds: tuple[float, float, float, float], prefilter: bool = True,
               start_static: np.ndarray | None = None, start_pair: np.ndarray | None = None
               ) -> SafetyReport:
    """Check one control step of N games on the continuous trajectory.

    :param prev_poses: ``(N, 2, 3)`` poses at the start of the step.
    :param cmds: ``(N, 2, 2)`` commands actually applied (after clipping and noise).
    :param dt: control period [s].
    :param substeps: instants checked per step (>= 1).
    :param radii: ``(2,)`` body radii.
    :param obstacles: ``(N, K, 3)`` circles or ``(N, K, 6)`` rows with a kind.
    :param mask: ``(N, K)`` real obstacle rows.
    :param bounds: ``(x_min, x_max, y_min, y_max)``.
    :param prefilter: skip games that provably cannot violate (exact; False = check all).
    :param start_static: optional ``(N, 2)`` smallest wall/obstacle clearance of each body at
        ``prev_poses`` (skips the games far from everything without recomputing it; must be
        exact).
    :param start_pair: optional ``(N,)`` body-to-body clearance at ``prev_poses``.
    """
    n = prev_poses.shape[0]
    report = SafetyReport.empty(n)
    use_start = prefilter and start_static is not None and start_pair is not None
    if not use_start:
        start_static = np.zeros((0, 2))
        start_pair = np.zeros(0)
    x_min, x_max, y_min, y_max = (float(b) for b in bounds)
    kernels.check_games(np.ascontiguousarray(prev_poses, dtype=np.float64),
                 np.ascontiguousarray(cmds, dtype=np.float64), float(dt), int(substeps),
                 float(radii[0]), float(radii[1]),
                 np.ascontiguousarray(obstacles, dtype=np.float64),
                 np.ascontiguousarray(mask, dtype=bool), x_min, x_max, y_min, y_max,
                 bool(prefilter), use_start, start_static, start_pair, report.violated,
                 report.kinds, report.depth, report.depth_obstacle, report.depth_arena,
                 report.depth_collision, report.obstacle_index, report.wall_index,
                 report.substepped)
    return report


class ScalarSafety:
    """One game's step report (pure Python lists of two entries, pursuer then evader)."""

    __slots__ = ("violated", "kinds", "depth", "depth_obstacle", "depth_arena",
                 "depth_collision", "obstacle_index", "wall_index", "substepped")

    def __init__(self) -> None:
        self.violated = [False, False]
        self.kinds = [0, 0]
        self.depth = [0.0, 0.0]
        self.depth_obstacle = [0.0, 0.0]
        self.depth_arena = [0.0, 0.0]
        self.depth_collision = [0.0, 0.0]
        self.obstacle_index = [-1, -1]
        self.wall_index = [-1, -1]
        self.substepped = False


def check_step_scalar(prev: Sequence[Sequence[float]], cmds: Sequence[Sequence[float]],
                      dt: float, substeps: int, radii: Sequence[float],
                      obstacles: Sequence[Sequence[float]] | np.ndarray,
                      bounds: tuple[float, float, float, float],
                      mask: np.ndarray | None = None) -> ScalarSafety:
    """:func:`check_step` of one game (the same kernel) as a :class:`ScalarSafety`.

    :param prev: start poses ``[(x, y, theta)] * 2``.
    :param cmds: applied commands ``[(v, omega)] * 2``.
    :param dt: control period [s].
    :param substeps: instants checked per step.
    :param radii: ``(r_pursuer, r_evader)``.
    :param obstacles: real obstacles ``[(x, y, radius), ...]`` or 6-entry rows with a kind, or
        such a ``(k, 3)``/``(k, 6)`` float array.
    :param bounds: ``(x_min, x_max, y_min, y_max)``.
    :param mask: ``(k,)`` bool rows to check (default: all).
    """
    res = check_game(*game_args(prev, cmds, dt, substeps, radii, obstacles, mask, bounds), True)
    rep = ScalarSafety()
    if res[13]:
        rep.substepped = True
        rep.kinds = [int(res[0]), int(res[1])]
        rep.violated = [res[0] > 0, res[1] > 0]
        rep.depth = [res[2], res[3]]
        rep.depth_obstacle = [res[4], res[5]]
        rep.depth_arena = [res[6], res[7]]
        rep.depth_collision = [res[8], res[8]]
        rep.obstacle_index = [int(res[9]), int(res[10])]
        rep.wall_index = [int(res[11]), int(res[12])]
    return rep


def describe(kinds: int, depth: float, obstacle_index: int = -1, wall_index: int = -1) -> str:
    """Human-readable text of one agent's violation (empty when ``kinds == 0``).

    :param kinds: bitmask of OBSTACLE, ARENA, COLLISION.
    :param depth: deepest penetration [m].
    :param obstacle_index: obstacle row, -1 if none.
    :param wall_index: wall index into WALL_NAMES, -1 if none.
    """
    parts = []
    if kinds & OBSTACLE:
        parts.append(f"obstacle[{obstacle_index}]")
    if kinds & ARENA:
        parts.append(f"wall {WALL_NAMES[wall_index]}" if wall_index >= 0 else "wall")
    if kinds & COLLISION:
        parts.append("collision")
    return f"{'+'.join(parts)} depth {depth:.4f} m" if parts else ""
