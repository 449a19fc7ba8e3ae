"""Obstacle barrier types: one module each, found here by kind number.

A barrier type is a module with ``NAME`` (column prefix), ``WIDTH`` (parameters per
obstacle), ``row(o, px, py, cth, sth, d, off) -> (gv, gw, h)`` (compiled by numba; the
barrier value ``h`` of the VCP ``(px, py)`` and its row ``gv v + gw omega``, a convex
1-Lipschitz distance so that docs/cbf.md's sampled-data condition holds) and
``keepout(o, inflate)`` (the shape the RViz markers draw). The row builder
(:func:`safe_pe_cbf.constraints.fill_rows`), and through it the resolver, the batched loop and
the safe box, call :func:`obstacle_row`; the markers call :func:`keepout`. A new type is a new
module, its entry in :data:`SHAPES` and its branch in :func:`obstacle_row` (numba needs the
call sites spelled out).

Obstacle arrays are ``(K, 3)`` rows ``(x, y, radius)`` (all circles: the original API) or
``(K, 6)`` rows ``(p0, p1, p2, p3, p4, kind)`` with ``kind`` the index in :data:`SHAPES` in
column :data:`KIND` and the type's parameters first (a circle ``(x, y, r, 0, 0, 0)``, a box
``(x, y, half_length, half_width, angle, 1)``); :func:`kind_of` reads a row's kind.

The walls and the robot pair are structural rows of every robot (arena, opponent) and are
written in the row builder itself.
"""

from __future__ import annotations

from safe_pe_cbf.barriers import box, circle
from safe_pe_cbf.jit import njit

__all__ = ["SHAPES", "CIRCLE", "BOX", "KIND", "WIDE", "obstacle_row", "keepout", "kind_of",
           "disk_row"]

#: barrier types by kind number (the index)
SHAPES = (circle, box)
CIRCLE, BOX = 0, 1
#: column of the kind in a wide obstacle row, and the width of such a row
KIND = 5
WIDE = KIND + 1
disk_row = circle.disk_row


@njit(cache=True, inline="always")
def obstacle_row(kind, o, px, py, cth, sth, d, off):  # pragma: no cover - compiled
    """``(gv, gw, h)`` of an obstacle of type ``SHAPES[kind]`` (see the module docstring)."""
    if kind == BOX:
        return box.row(o, px, py, cth, sth, d, off)
    return circle.row(o, px, py, cth, sth, d, off)


def kind_of(o) -> int:
    """Kind of an obstacle row: 0 (circle) for a 3-wide row, else its :data:`KIND` column.

    :param o: one row of an obstacle array
    """
    return CIRCLE if len(o) <= KIND else int(o[KIND])


def keepout(kind: int, o, inflate: float) -> tuple:
    """Marker shape of an obstacle of type ``SHAPES[kind]``.

    :param kind: index in :data:`SHAPES`
    :param o: its parameters
    :param inflate: the robot's radius
    """
    return SHAPES[kind].keepout(o, inflate)
