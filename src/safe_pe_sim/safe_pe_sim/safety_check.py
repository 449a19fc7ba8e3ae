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
that step and is not sub-stepped. Only the remaining games pay for sub-stepping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from safe_pe_cbf.barriers import point_distance, surface_distance

from .dynamics import arc_samples, arc_samples_scalar

__all__ = ["OBSTACLE", "ARENA", "COLLISION", "WALL_NAMES", "SafetyReport", "clearances",
           "check_step", "ScalarSafety", "check_step_scalar", "describe"]

OBSTACLE = 1
"""Bit of ``SafetyReport.kinds``: the body overlapped an obstacle."""
ARENA = 2
"""Bit of ``SafetyReport.kinds``: the body crossed a wall."""
COLLISION = 4
"""Bit of ``SafetyReport.kinds``: the two bodies overlapped."""
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
        ``prev_poses`` (saves recomputing it; must be exact).
    :param start_pair: optional ``(N,)`` body-to-body clearance at ``prev_poses``.
    """
    n = prev_poses.shape[0]
    report = SafetyReport.empty(n)
    # Flat rows r = 2 i + a (game i, agent a): every numpy op then runs over one long
    # contiguous axis (numpy is slow on inner dimensions of size 2, 4 or K).
    if prefilter:
        travel = np.abs(cmds[..., 0]) * dt
        if start_static is None or start_pair is None:
            ob, wa, pa = clearances(prev_poses[..., :2], radii, obstacles, mask, bounds)
            start_static = np.minimum(ob.min(axis=-1, initial=np.inf), wa.min(axis=-1))
            start_pair = pa
        need_pair = start_pair <= travel[:, 0] + travel[:, 1]
        need_rows = (start_static <= travel) | need_pair[:, None]
        rows = np.flatnonzero(need_rows)
        pair_games = np.flatnonzero(need_pair)
    else:
        rows = np.arange(2 * n)
        pair_games = np.arange(n)
    if rows.size == 0:
        return report
    games = rows >> 1
    agents = rows & 1
    report.substepped[games] = True
    m = rows.size
    xs, ys = arc_samples(prev_poses.reshape(-1, 3)[rows][:, None],
                         cmds.reshape(-1, 2)[rows][:, None], dt, substeps)
    xf = xs.reshape(substeps, m)                                       # (S, m)
    yf = ys.reshape(substeps, m)
    r_rows = radii[agents]
    x_min, x_max, y_min, y_max = bounds
    walls = (xf.min(axis=0) - x_min - r_rows, x_max - xf.max(axis=0) - r_rows,
             yf.min(axis=0) - y_min - r_rows, y_max - yf.max(axis=0) - r_rows)
    wa_worst = walls[0]
    w_idx = np.zeros(m, dtype=np.int64)
    for q in (1, 2, 3):
        better = walls[q] < wa_worst
        wa_worst = np.where(better, walls[q], wa_worst)
        w_idx[better] = q
    pa_rows = np.full(m, np.inf)
    if pair_games.size:
        # both rows of a pair-flagged game are sampled and adjacent (rows are sorted)
        p0 = np.searchsorted(rows, 2 * pair_games)
        px = xf[:, p0] - xf[:, p0 + 1]
        py = yf[:, p0] - yf[:, p0 + 1]
        pa = np.sqrt((px * px + py * py).min(axis=0)) - (radii[0] + radii[1])
        pa_rows[p0] = pa
        pa_rows[p0 + 1] = pa
    ob_worst = np.full(m, np.inf)
    j_idx = np.full(m, -1, dtype=np.int64)
    if obstacles.shape[1]:
        obs_i = obstacles[games]                                          # (m, K, 3)
        msk = mask[games]                                                 # (m, K)
        wide = obstacles.shape[2] > 3
        for j in range(obstacles.shape[1]):
            if wide:  # boxes: the signed distance at each sample (barriers.surface_distance)
                c = surface_distance(obs_i[:, j], xf, yf).min(axis=0) - r_rows
            else:
                ddx = xf - obs_i[:, j, 0]
                ddy = yf - obs_i[:, j, 1]
                c = np.sqrt((ddx * ddx + ddy * ddy).min(axis=0)) - obs_i[:, j, 2] - r_rows
            better = (c < ob_worst) & msk[:, j]
            ob_worst = np.where(better, c, ob_worst)
            j_idx[better] = j
    d_ob = np.maximum(-ob_worst, 0.0)
    d_wa = np.maximum(-wa_worst, 0.0)
    d_pa = np.maximum(-pa_rows, 0.0)
    hit_ob = ob_worst < 0
    hit_wa = wa_worst < 0
    kinds = (hit_ob * OBSTACLE + hit_wa * ARENA + (pa_rows < 0) * COLLISION).astype(np.uint8)
    report.kinds.reshape(-1)[rows] = kinds
    report.violated.reshape(-1)[rows] = kinds > 0
    report.depth_obstacle.reshape(-1)[rows] = d_ob
    report.depth_arena.reshape(-1)[rows] = d_wa
    report.depth_collision.reshape(-1)[rows] = d_pa
    report.depth.reshape(-1)[rows] = np.maximum(np.maximum(d_ob, d_wa), d_pa)
    report.obstacle_index.reshape(-1)[rows] = np.where(hit_ob, j_idx, -1)
    report.wall_index.reshape(-1)[rows] = np.where(hit_wa, w_idx, -1)
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


def check_step_scalar(prev: list[tuple[float, float, float]], cmds: list[tuple[float, float]],
                      dt: float, substeps: int, radii: tuple[float, float],
                      obstacles: list[tuple[float, float, float]],
                      bounds: tuple[float, float, float, float]) -> ScalarSafety:
    """Pure-Python :func:`check_step` for one game (same maths and report; the pre-filter is
    applied per constraint rather than per game, which is just as exact).

    :param prev: start poses ``[(x, y, theta)] * 2``.
    :param cmds: applied commands ``[(v, omega)] * 2``.
    :param dt: control period [s].
    :param substeps: instants checked per step.
    :param radii: ``(r_pursuer, r_evader)``.
    :param obstacles: real obstacles ``[(x, y, radius), ...]`` or 6-entry rows with a kind.
    :param bounds: ``(x_min, x_max, y_min, y_max)``.
    """
    rep = ScalarSafety()
    travel = (abs(cmds[0][0]) * dt, abs(cmds[1][0]) * dt)
    (x0, y0, _), (x1, y1, _) = prev
    r0, r1 = radii
    x_min, x_max, y_min, y_max = bounds
    # Pre-filter per constraint (exact, see module doc): only constraints whose start
    # clearance is within the robot's travel can be violated during this step.
    need_pair = (math.sqrt((x0 - x1) * (x0 - x1) + (y0 - y1) * (y0 - y1)) - (r0 + r1)
                 <= travel[0] + travel[1])
    need_wall = [False, False]
    need_obs: list[list[int]] = [[], []]
    for a, (x, y, _) in enumerate(prev):
        r = radii[a]
        t = travel[a]
        need_wall[a] = min(x - x_min, x_max - x, y - y_min, y_max - y) - r <= t
        for j, o in enumerate(obstacles):
            if point_distance(o, x, y) - r <= t:
                need_obs[a].append(j)
    if not (need_pair or need_wall[0] or need_wall[1] or need_obs[0] or need_obs[1]):
        return rep
    rep.substepped = True
    best_ob = [math.inf, math.inf]
    best_j = [-1, -1]
    best_wa = [math.inf, math.inf]
    best_w = [-1, -1]
    samples: list[list[tuple[float, float]]] = [[], []]
    for a in range(2):
        if need_pair or need_wall[a] or need_obs[a]:
            samples[a] = arc_samples_scalar(*prev[a], *cmds[a], dt, substeps)
        pts = samples[a]
        r = radii[a]
        if need_wall[a]:
            lo_x = hi_x = pts[0][0]
            lo_y = hi_y = pts[0][1]
            for px, py in pts:
                if px < lo_x:
                    lo_x = px
                elif px > hi_x:
                    hi_x = px
                if py < lo_y:
                    lo_y = py
                elif py > hi_y:
                    hi_y = py
            walls = (lo_x - x_min - r, x_max - hi_x - r, lo_y - y_min - r, y_max - hi_y - r)
            w = min(range(4), key=walls.__getitem__)
            best_wa[a], best_w[a] = walls[w], w
        for j in need_obs[a]:
            if len(obstacles[j]) > 3:  # a row with its kind (boxes): signed distances
                c = min(point_distance(obstacles[j], px, py) for px, py in pts) - r
                if c < best_ob[a]:
                    best_ob[a], best_j[a] = c, j
                continue
            ox, oy, orad = obstacles[j]
            d2 = math.inf
            for px, py in pts:
                e = (px - ox) * (px - ox) + (py - oy) * (py - oy)
                if e < d2:
                    d2 = e
            c = math.sqrt(d2) - orad - r
            if c < best_ob[a]:
                best_ob[a], best_j[a] = c, j
    best_pair = math.inf
    if need_pair:
        pair2 = math.inf
        for (ax, ay), (bx, by) in zip(samples[0], samples[1]):
            d2 = (ax - bx) * (ax - bx) + (ay - by) * (ay - by)
            if d2 < pair2:
                pair2 = d2
        best_pair = math.sqrt(pair2) - (r0 + r1)
    d_pa = max(-best_pair, 0.0)
    for a in range(2):
        kinds = ((OBSTACLE if best_ob[a] < 0 else 0) | (ARENA if best_wa[a] < 0 else 0)
                 | (COLLISION if best_pair < 0 else 0))
        rep.kinds[a] = kinds
        rep.violated[a] = kinds > 0
        rep.depth_obstacle[a] = max(-best_ob[a], 0.0)
        rep.depth_arena[a] = max(-best_wa[a], 0.0)
        rep.depth_collision[a] = d_pa
        rep.depth[a] = max(rep.depth_obstacle[a], rep.depth_arena[a], d_pa)
        rep.obstacle_index[a] = best_j[a] if best_ob[a] < 0 else -1
        rep.wall_index[a] = best_w[a] if best_wa[a] < 0 else -1
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
