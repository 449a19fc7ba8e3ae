"""Where both robots of one game stop in a solid world (:func:`contact_game`).

:mod:`safe_pe_sim.contact` gives the rule: a robot stops at its last free sub-step sample
when the next would take it deeper into a wall, an obstacle or the other robot.
"""

from __future__ import annotations

import math
import os

from safe_pe_cbf.jit import depends_on_core, floats, njit

from .motion import arc_fill, wrap
from .safety import surface

__all__ = ["contact_game"]

depends_on_core(__file__, also=os.path.dirname(__file__))  # see the package docstring


@njit(cache=True)
def _static_clearance(obstacles, mask, x, y, r, x_min, x_max, y_min, y_max):
    """Smallest wall or obstacle clearance of a body of radius ``r`` at ``(x, y)``."""
    c = min(x - x_min, x_max - x, y - y_min, y_max - y) - r
    for j in range(obstacles.shape[0]):
        if mask[j]:
            d = surface(obstacles, j, x, y) - r
            if d < c:
                c = d
    return c


@njit(cache=True)
def _contact_sample(obstacles, mask, xs, ys, k, r, stop, s, x, y, x_min, x_max, y_min, y_max):
    """``(stop, x, y, clearance)`` of one robot after sample ``k``: a robot still moving
    stops (at ``k - 1``, staying at ``(x, y)``) where the sample would take it deeper into
    a wall or an obstacle than its clearance ``s`` so far, else it moves there."""
    if stop >= 0:
        return stop, x, y, s
    c = _static_clearance(obstacles, mask, xs[k - 1], ys[k - 1], r, x_min, x_max, y_min, y_max)
    if c < 0.0 and c < s:
        return k - 1, x, y, s
    return stop, xs[k - 1], ys[k - 1], c


@njit(cache=True)
def contact_game(x0, y0, th0, v0, w0, x1, y1, th1, v1, w1, dt, substeps, r0, r1, obstacles,
                 mask, x_min, x_max, y_min, y_max):
    """Where both robots of one game stop in a solid world (:mod:`safe_pe_sim.contact`
    gives the rule): the last free sub-step sample of a robot that would go deeper into
    something, else the end of its arc.

    :param x0: pursuer start x [m] (then y0, th0 and its held velocity v0, w0)
    :param x1: evader start x [m] (then y1, th1, v1, w1)
    :param dt: control period [s]
    :param substeps: sub-step samples S per step
    :param r0: pursuer radius [m]
    :param r1: evader radius [m]
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with a kind
    :param mask: ``(K,)`` real rows
    :param x_min: arena bounds [m] (then x_max, y_min, y_max)
    :return: ``(stop0, stop1, x0, y0, th0, x1, y1, th1)``: per robot the index ``k`` of its
        last free sample when it stopped (0: the start), else -1, and its pose there
        (NaN where it did not stop: the caller keeps the end of the arc)
    """
    xs0 = floats(substeps)
    ys0 = floats(substeps)
    xs1 = floats(substeps)
    ys1 = floats(substeps)
    arc_fill(x0, y0, th0, v0, w0, dt, substeps, xs0, ys0)
    arc_fill(x1, y1, th1, v1, w1, dt, substeps, xs1, ys1)
    px0, py0, px1, py1 = x0, y0, x1, y1
    stop0 = stop1 = -1
    s0 = _static_clearance(obstacles, mask, x0, y0, r0, x_min, x_max, y_min, y_max)
    s1 = _static_clearance(obstacles, mask, x1, y1, r1, x_min, x_max, y_min, y_max)
    contact = r0 + r1
    pair = math.hypot(px0 - px1, py0 - py1) - contact
    for k in range(1, substeps + 1):
        stop0, nx0, ny0, s0 = _contact_sample(obstacles, mask, xs0, ys0, k, r0, stop0, s0,
                                              px0, py0, x_min, x_max, y_min, y_max)
        stop1, nx1, ny1, s1 = _contact_sample(obstacles, mask, xs1, ys1, k, r1, stop1, s1,
                                              px1, py1, x_min, x_max, y_min, y_max)
        p = math.hypot(nx0 - nx1, ny0 - ny1) - contact
        if p < 0.0 and p < pair:  # the bodies would go deeper into each other: all stop
            if stop0 < 0:
                stop0 = k - 1
                nx0, ny0 = px0, py0
            if stop1 < 0:
                stop1 = k - 1
                nx1, ny1 = px1, py1
            p = math.hypot(nx0 - nx1, ny0 - ny1) - contact
        px0, py0, px1, py1 = nx0, ny0, nx1, ny1
        pair = p
        if stop0 >= 0 and stop1 >= 0:
            break
    e0 = _stop_pose(stop0, x0, y0, th0, w0, xs0, ys0, dt, substeps)
    e1 = _stop_pose(stop1, x1, y1, th1, w1, xs1, ys1, dt, substeps)
    return stop0, stop1, e0[0], e0[1], e0[2], e1[0], e1[1], e1[2]


@njit(cache=True)
def _stop_pose(k, x, y, theta, omega, xs, ys, dt, substeps):
    """Pose at the last free sample ``k`` (NaN when the robot did not stop)."""
    if k < 0:
        return math.nan, math.nan, math.nan
    if k == 0:
        return x, y, theta
    return xs[k - 1], ys[k - 1], wrap(theta + omega * (k * dt / substeps))
