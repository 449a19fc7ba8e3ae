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

The walls and the robot pair are structural rows of every robot (arena, opponent) and are
written in the row builder itself.
"""

from __future__ import annotations

from safe_pe_cbf.barriers import circle
from safe_pe_cbf.jit import njit

__all__ = ["SHAPES", "obstacle_row", "keepout", "disk_row"]

#: barrier types by kind number (the index)
SHAPES = (circle,)
disk_row = circle.disk_row


@njit(cache=True, inline="always")
def obstacle_row(kind, o, px, py, cth, sth, d, off):  # pragma: no cover - compiled
    """``(gv, gw, h)`` of an obstacle of type ``SHAPES[kind]`` (see the module docstring)."""
    return circle.row(o, px, py, cth, sth, d, off)


def keepout(kind: int, o, inflate: float) -> tuple:
    """Marker shape of an obstacle of type ``SHAPES[kind]``.

    :param kind: index in :data:`SHAPES`
    :param o: its parameters
    :param inflate: the robot's radius
    """
    return SHAPES[kind].keepout(o, inflate)
