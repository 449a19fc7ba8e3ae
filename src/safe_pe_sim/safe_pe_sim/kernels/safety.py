"""The body-level safety check of one game's step on its continuous trajectory.

:func:`check_game` samples both robots' arcs (:func:`~safe_pe_sim.kernels.motion.arc_fill`)
and reports the worst wall, obstacle and pair clearances with the violation kinds
(:data:`OBSTACLE`, :data:`ARENA`, :data:`COLLISION` bits); :func:`surface` is the signed
distance to one obstacle row (a circle, or a box of :mod:`safe_pe_cbf.barriers` compiled in),
and :func:`game_args` converts one game's plain Python values to the kernels' argument types.
"""

from __future__ import annotations

import math
import os

import numpy as np
from safe_pe_cbf.barriers import BOX, KIND, as_rows
from safe_pe_cbf.barriers.box import signed_distance
from safe_pe_cbf.jit import depends_on_core, floats, njit

from .motion import arc_fill

__all__ = ["OBSTACLE", "ARENA", "COLLISION", "surface", "check_game", "game_args"]

depends_on_core(__file__, also=os.path.dirname(__file__))  # see the package docstring

OBSTACLE = 1
"""Bit of a violation's kinds: the body overlapped an obstacle."""
ARENA = 2
"""Bit of a violation's kinds: the body crossed a wall."""
COLLISION = 4
"""Bit of a violation's kinds: the two bodies overlapped."""


@njit(cache=True)
def surface(obstacles, j, x, y):
    """Signed distance of ``(x, y)`` to the surface of obstacle row ``j`` (circle ``(x, y,
    r)``, or a box row with its kind, :mod:`safe_pe_cbf.barriers`).

    :param obstacles: ``(K, 3)`` or ``(K, 6)`` rows
    :param j: the row
    :param x: point x [m]
    :param y: point y [m]
    """
    if obstacles.shape[1] > KIND and obstacles[j, KIND] == BOX:
        return signed_distance(obstacles[j], x, y)[0]
    dx = x - obstacles[j, 0]
    dy = y - obstacles[j, 1]
    return math.sqrt(dx * dx + dy * dy) - obstacles[j, 2]


@njit(cache=True)
def _walls_worst(xs, ys, n, r, x_min, x_max, y_min, y_max):
    """``(clearance, index)`` of the most-crossed wall over ``n`` samples."""
    lo_x = hi_x = xs[0]
    lo_y = hi_y = ys[0]
    for k in range(1, n):
        if xs[k] < lo_x:
            lo_x = xs[k]
        elif xs[k] > hi_x:
            hi_x = xs[k]
        if ys[k] < lo_y:
            lo_y = ys[k]
        elif ys[k] > hi_y:
            hi_y = ys[k]
    best = lo_x - x_min - r
    w = 0
    c = x_max - hi_x - r
    if c < best:
        best, w = c, 1
    c = lo_y - y_min - r
    if c < best:
        best, w = c, 2
    c = y_max - hi_y - r
    if c < best:
        best, w = c, 3
    return best, w


@njit(cache=True)
def _obstacles_worst(obstacles, mask, xs, ys, n, r, x, y, travel, prefilter):
    """``(clearance, row)`` of the most-penetrated obstacle over ``n`` samples (inf, -1 when
    none is checked); with ``prefilter`` only rows whose start clearance at ``(x, y)`` is
    within ``travel`` are checked."""
    best = math.inf
    best_j = -1
    wide = obstacles.shape[1] > KIND
    for j in range(obstacles.shape[0]):
        if not mask[j]:
            continue
        if prefilter and surface(obstacles, j, x, y) - r > travel:
            continue
        if wide and obstacles[j, KIND] == BOX:
            sd = math.inf
            for k in range(n):
                e = signed_distance(obstacles[j], xs[k], ys[k])[0]
                if e < sd:
                    sd = e
            c = sd - r
        else:
            ox = obstacles[j, 0]
            oy = obstacles[j, 1]
            d2 = math.inf
            for k in range(n):
                e = (xs[k] - ox) * (xs[k] - ox) + (ys[k] - oy) * (ys[k] - oy)
                if e < d2:
                    d2 = e
            c = math.sqrt(d2) - obstacles[j, 2] - r
        if c < best:
            best = c
            best_j = j
    return best, best_j


@njit(cache=True)
def _static_near(obstacles, mask, x, y, r, travel, x_min, x_max, y_min, y_max):
    """``(wall within travel, an obstacle within travel)`` at the start of a step."""
    wall = min(x - x_min, x_max - x, y - y_min, y_max - y) - r <= travel
    for j in range(obstacles.shape[0]):
        if mask[j] and surface(obstacles, j, x, y) - r <= travel:
            return wall, True
    return wall, False


@njit(cache=True)
def check_game(x0, y0, th0, v0, w0, x1, y1, th1, v1, w1, dt, substeps, r0, r1, obstacles,
               mask, x_min, x_max, y_min, y_max, prefilter):
    """Body-level check of one game's step on the continuous trajectory
    (:mod:`safe_pe_sim.safety_check` explains the maths and the pre-filter).

    The pre-filter works per constraint (exact): a wall, an obstacle or the pair whose start
    clearance exceeds the travel ``|v| dt`` (for the pair the sum of both) cannot be
    violated in this step and is not sampled.

    :param x0: pursuer start x [m] (then y0, th0 and its held velocity v0, w0)
    :param x1: evader start x [m] (then y1, th1, v1, w1)
    :param dt: control period [s]
    :param substeps: instants checked per step (>= 1)
    :param r0: pursuer radius [m]
    :param r1: evader radius [m]
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with a kind
    :param mask: ``(K,)`` real rows
    :param x_min: arena bounds [m] (then x_max, y_min, y_max)
    :param prefilter: skip what provably cannot be violated (False: sample everything)
    :return: ``(kinds0, kinds1, depth0, depth1, depth_obstacle0, depth_obstacle1,
        depth_arena0, depth_arena1, depth_collision, obstacle_index0, obstacle_index1,
        wall_index0, wall_index1, substepped)`` (agent 0 = pursuer; an index is -1 and a
        depth 0 where nothing is violated)
    """
    t0 = abs(v0) * dt
    t1 = abs(v1) * dt
    need_pair = True
    wall0 = obs0 = wall1 = obs1 = True
    if prefilter:
        need_pair = (math.sqrt((x0 - x1) * (x0 - x1) + (y0 - y1) * (y0 - y1)) - (r0 + r1)
                     <= t0 + t1)
        wall0, obs0 = _static_near(obstacles, mask, x0, y0, r0, t0, x_min, x_max, y_min,
                                   y_max)
        wall1, obs1 = _static_near(obstacles, mask, x1, y1, r1, t1, x_min, x_max, y_min,
                                   y_max)
    if not (need_pair or wall0 or obs0 or wall1 or obs1):
        return 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1, -1, -1, -1, False
    xs0 = floats(substeps)
    ys0 = floats(substeps)
    xs1 = floats(substeps)
    ys1 = floats(substeps)
    if need_pair or wall0 or obs0:
        arc_fill(x0, y0, th0, v0, w0, dt, substeps, xs0, ys0)
    if need_pair or wall1 or obs1:
        arc_fill(x1, y1, th1, v1, w1, dt, substeps, xs1, ys1)
    wa0, wi0 = _walls_worst(xs0, ys0, substeps, r0, x_min, x_max, y_min, y_max) if wall0 \
        else (math.inf, -1)
    wa1, wi1 = _walls_worst(xs1, ys1, substeps, r1, x_min, x_max, y_min, y_max) if wall1 \
        else (math.inf, -1)
    ob0, oj0 = _obstacles_worst(obstacles, mask, xs0, ys0, substeps, r0, x0, y0, t0,
                                prefilter) if obs0 else (math.inf, -1)
    ob1, oj1 = _obstacles_worst(obstacles, mask, xs1, ys1, substeps, r1, x1, y1, t1,
                                prefilter) if obs1 else (math.inf, -1)
    pair = math.inf
    if need_pair:
        pair2 = math.inf
        for k in range(substeps):
            d2 = ((xs0[k] - xs1[k]) * (xs0[k] - xs1[k])
                  + (ys0[k] - ys1[k]) * (ys0[k] - ys1[k]))
            if d2 < pair2:
                pair2 = d2
        pair = math.sqrt(pair2) - (r0 + r1)
    d_pa = max(-pair, 0.0)
    hit_pa = COLLISION if pair < 0 else 0
    k0 = (OBSTACLE if ob0 < 0 else 0) | (ARENA if wa0 < 0 else 0) | hit_pa
    k1 = (OBSTACLE if ob1 < 0 else 0) | (ARENA if wa1 < 0 else 0) | hit_pa
    do0 = max(-ob0, 0.0)
    do1 = max(-ob1, 0.0)
    dw0 = max(-wa0, 0.0)
    dw1 = max(-wa1, 0.0)
    return (k0, k1, max(max(do0, dw0), d_pa), max(max(do1, dw1), d_pa), do0, do1, dw0, dw1,
            d_pa, oj0 if ob0 < 0 else -1, oj1 if ob1 < 0 else -1, wi0 if wa0 < 0 else -1,
            wi1 if wa1 < 0 else -1, True)


def game_args(prev, cmds, dt, substeps, radii, obstacles, mask, bounds) -> tuple:
    """The leading arguments of :func:`check_game` and :func:`contact_game` for one game given
    as plain Python values, converted to the types the kernels are compiled for.

    :param prev: start poses ``[(x, y, theta)] * 2`` (pursuer, evader)
    :param cmds: velocities held over the step ``[(v, omega)] * 2``
    :param dt: control period [s]
    :param substeps: sub-step samples S
    :param radii: ``(r_pursuer, r_evader)`` [m]
    :param obstacles: ``[(x, y, radius), ...]`` or 6-entry rows with a kind, or such a
        ``(K, 3)``/``(K, 6)`` float array
    :param mask: ``(K,)`` bool real rows (None: all)
    :param bounds: ``(x_min, x_max, y_min, y_max)`` [m]
    """
    if not (isinstance(obstacles, np.ndarray) and obstacles.ndim == 2):
        obstacles = as_rows(obstacles)
    if mask is None:
        mask = np.ones(obstacles.shape[0], dtype=bool)
    (x0, y0, th0), (x1, y1, th1) = prev
    (v0, w0), (v1, w1) = cmds
    x_min, x_max, y_min, y_max = bounds
    return (float(x0), float(y0), float(th0), float(v0), float(w0), float(x1), float(y1),
            float(th1), float(v1), float(w1), float(dt), int(substeps), float(radii[0]),
            float(radii[1]), obstacles, mask, float(x_min), float(x_max), float(y_min),
            float(y_max))
