"""Oriented rectangle ``(x, y, half_length, half_width, angle)``: ``h = sd(p) - (r + d + margin)``.

``sd`` is the signed distance of the VCP ``p`` to the rectangle (Euclidean distance outside,
minus the distance to the nearest side inside). The signed distance to a convex set is the
supremum over unit normals ``n`` of ``n . p - support(n)``: convex and 1-Lipschitz, which is
all the sampled-data condition of docs/cbf.md needs (no corner margin: a subgradient of norm
<= 1 exists everywhere). A thin wall segment is the degenerate box ``half_width = 0``.
"""

from __future__ import annotations

import math

from safe_pe_cbf.barriers.normal import normal_row
from safe_pe_cbf.jit import njit

__all__ = ["NAME", "WIDTH", "LABEL", "SIZES", "signed_distance", "row", "keepout",
           "CORNER_POINTS"]

#: column name prefix (``obstacle[k]``) and the number of parameters of one obstacle
NAME = "obstacle"
WIDTH = 5
#: what the markers and error messages call it, and its size parameters (column: name),
#: which must be >= 0
LABEL = "box"
SIZES = {2: "half_length", 3: "half_width"}
#: points per rounded corner of the keep-out polygon the markers draw
CORNER_POINTS = 6


@njit(cache=True, inline="always")
def signed_distance(o, px, py):  # pragma: no cover - compiled
    """``(sd, nx, ny)``: signed distance of ``(px, py)`` to box ``o`` and a unit subgradient.

    :param o: ``(x, y, half_length, half_width, angle, ...)``
    :param px: point x [m]
    :param py: point y [m]
    """
    ca = math.cos(o[4])
    sa = math.sin(o[4])
    dx = px - o[0]
    dy = py - o[1]
    qx = ca * dx + sa * dy  # the point in the box frame
    qy = ca * dy - sa * dx
    sx = 1.0 if qx >= 0.0 else -1.0
    sy = 1.0 if qy >= 0.0 else -1.0
    ex = sx * qx - o[2]
    ey = sy * qy - o[3]
    if ex > 0.0 and ey > 0.0:  # outside, nearest to a corner (hypot: no underflow to 0)
        dist = math.hypot(ex, ey)
        gx = sx * ex / dist
        gy = sy * ey / dist
    elif ex > 0.0:  # outside, nearest to a side
        dist = ex
        gx = sx
        gy = 0.0
    elif ey > 0.0:
        dist = ey
        gx = 0.0
        gy = sy
    elif ex >= ey:  # inside: the nearest side's outward normal (the active face)
        dist = ex
        gx = sx
        gy = 0.0
    else:
        dist = ey
        gx = 0.0
        gy = sy
    return dist, ca * gx - sa * gy, sa * gx + ca * gy


@njit(cache=True, inline="always")
def row(o, px, py, cth, sth, d, off):  # pragma: no cover - compiled
    """``(gv, gw, h)`` of box ``o`` for the VCP ``(px, py)`` (same contract as circle.row).

    :param o: the obstacle's parameters ``(x, y, half_length, half_width, angle, ...)``
    :param px: VCP x [m]
    :param py: VCP y [m]
    :param cth: cos(theta)
    :param sth: sin(theta)
    :param d: VCP offset [m]
    :param off: robot radius + VCP offset + margin [m]
    """
    sd, nx, ny = signed_distance(o, px, py)
    return normal_row(nx, ny, sd - off, cth, sth, d)


def keepout(o, inflate: float) -> tuple:
    """Shape drawn by the markers: ``("polygon", points)``, the rectangle grown by ``inflate``
    (rounded corners, :data:`CORNER_POINTS` points each).

    :param o: the obstacle's parameters
    :param inflate: radius added (the robot's)
    """
    x, y, hl, hw, ang = (float(v) for v in o[:5])
    ca, sa = math.cos(ang), math.sin(ang)
    pts = []
    for q, (cx, cy) in enumerate(((hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw))):
        for i in range(CORNER_POINTS):
            t = 0.5 * math.pi * (q + i / (CORNER_POINTS - 1))
            lx, ly = cx + inflate * math.cos(t), cy + inflate * math.sin(t)
            pts.append((x + ca * lx - sa * ly, y + sa * lx + ca * ly))
    return ("polygon", tuple(pts))
