"""Circular obstacle ``(x, y, radius)``: ``h = |p - c| - (R + r + d + margin)``.

The distance to a disk is convex and 1-Lipschitz in the VCP ``p``, which is all the
sampled-data condition of docs/cbf.md needs.
"""

from __future__ import annotations

import math

from safe_pe_cbf.barriers.normal import normal_row
from safe_pe_cbf.jit import njit

__all__ = ["NAME", "WIDTH", "LABEL", "SIZES", "disk_row", "row", "keepout"]

#: column name prefix (``obstacle[k]``) and the number of parameters of one obstacle
NAME = "obstacle"
WIDTH = 3
#: what the markers and error messages call it, and its size parameters (column: name),
#: which must be >= 0
LABEL = "circle"
SIZES = {2: "radius"}


@njit(cache=True, inline="always")
def disk_row(dx, dy, radius, cth, sth, d):  # pragma: no cover - compiled
    """``(gv, gw, h)`` of ``h = |(dx, dy)| - radius`` seen from a VCP at offset ``d``.

    :param dx: VCP minus centre, x [m]
    :param dy: VCP minus centre, y [m]
    :param radius: keep-out radius [m]
    :param cth: cos(theta) of the robot
    :param sth: sin(theta) of the robot
    :param d: VCP offset [m]
    """
    dist = math.sqrt(dx * dx + dy * dy)
    if dist > 0.0:
        nx = dx / dist
        ny = dy / dist
    else:  # VCP exactly on the centre: deep violation; any unit normal is a valid gradient
        nx = 1.0
        ny = 0.0
    return normal_row(nx, ny, dist - radius, cth, sth, d)


@njit(cache=True, inline="always")
def row(o, px, py, cth, sth, d, off):  # pragma: no cover - compiled
    """``(gv, gw, h)`` of obstacle ``o = (x, y, R)`` for the VCP ``(px, py)``.

    :param o: the obstacle's parameters
    :param px: VCP x [m]
    :param py: VCP y [m]
    :param cth: cos(theta)
    :param sth: sin(theta)
    :param d: VCP offset [m]
    :param off: robot radius + VCP offset + margin [m]
    """
    return disk_row(px - o[0], py - o[1], o[2] + off, cth, sth, d)


def keepout(o, inflate: float) -> tuple:
    """Shape drawn by the markers: ``("disk", x, y, radius)``.

    :param o: the obstacle's parameters
    :param inflate: radius added (the robot's)
    """
    return ("disk", float(o[0]), float(o[1]), float(o[2]) + inflate)
