"""Obstacle barrier types: one module each, found here by kind number.

A barrier type is a module with ``NAME`` (column prefix), ``WIDTH`` (parameters per
obstacle), ``LABEL`` and ``SIZES`` (what messages call it; its size columns, which must be
>= 0), ``row(o, px, py, cth, sth, d, off) -> (gv, gw, h)`` (compiled by numba; the barrier
value ``h`` of the VCP ``(px, py)``, a convex 1-Lipschitz distance so that docs/cbf.md's
sampled-data condition holds, and its row ``gv v + gw omega`` from the distance's outward
unit normal with :func:`~safe_pe_cbf.barriers.normal.normal_row`) and
``keepout(o, inflate)`` (the shape the RViz markers draw). A new type is a new module and its
entry in :data:`SHAPES`: everything else is derived from that registry here --
:func:`obstacle_row` (the compiled dispatch that the row builder
:func:`safe_pe_cbf.kernels.rows.fill_rows`, and through it the resolver, the batched loop and
the safe box, call), the kind and size checks (:data:`SIZE_COLUMNS`, :func:`invalid_rows`)
and :func:`keepout` for the markers.

Obstacle arrays are ``(K, 3)`` rows ``(x, y, radius)`` (all circles: the original API) or
``(K, 6)`` rows ``(p0, p1, p2, p3, p4, kind)`` with ``kind`` the index in :data:`SHAPES` in
column :data:`KIND` and the type's parameters first (a circle ``(x, y, r, 0, 0, 0)``, a box
``(x, y, half_length, half_width, angle, 1)``); :func:`kind_of` reads a row's kind.

The walls and the robot pair are structural rows of every robot (arena, opponent) and are
written in the row builder itself.
"""

from __future__ import annotations

import math

import numpy as np

from safe_pe_cbf.barriers import box, circle
from safe_pe_cbf.jit import njit

__all__ = ["SHAPES", "CIRCLE", "BOX", "KIND", "WIDE", "SIZE_COLUMNS", "obstacle_row",
           "keepout", "kind_of", "invalid_rows", "kinds_text", "disk_row", "surface_distance",
           "nearest_point", "nearest_points", "as_rows"]

#: barrier types by kind number (the index): the registry
SHAPES = (circle, box)
CIRCLE, BOX = SHAPES.index(circle), SHAPES.index(box)
#: column of the kind in a wide obstacle row, and the width of such a row
KIND = 5
WIDE = KIND + 1
#: ``(len(SHAPES), n)`` the size columns of each kind (``SIZES``), padded with -1: >= 0 where
#: an obstacle is present (the compiled input check reads it)
SIZE_COLUMNS = np.array([sorted(s.SIZES) + [-1] * (max(len(t.SIZES) for t in SHAPES)
                                                  - len(s.SIZES)) for s in SHAPES],
                        dtype=np.int64)
disk_row = circle.disk_row


def _dispatch(rows: tuple, k: int = 0):
    """``f(kind, o, px, py, cth, sth, d, off)`` calling ``rows[kind]`` (``rows[-1]`` past the
    end): a chain of compiled closures, one ``if`` per type, built from the registry (numba
    needs each call site spelled out; inlined, so the compiled code is the plain ``if`` chain).

    :param rows: the ``row`` kernels of :data:`SHAPES`, in kind order
    :param k: the first kind this link handles
    """
    head = rows[k]
    if k == len(rows) - 1:
        @njit(inline="always")
        def last(kind, o, px, py, cth, sth, d, off):  # pragma: no cover - compiled
            return head(o, px, py, cth, sth, d, off)
        return last
    rest = _dispatch(rows, k + 1)

    @njit(inline="always")
    def link(kind, o, px, py, cth, sth, d, off):  # pragma: no cover - compiled
        if kind == k:
            return head(o, px, py, cth, sth, d, off)
        return rest(kind, o, px, py, cth, sth, d, off)
    return link


#: ``(gv, gw, h)`` of an obstacle of type ``SHAPES[kind]`` (see the module docstring)
obstacle_row = _dispatch(tuple(s.row for s in SHAPES))


def kinds_text() -> str:
    """The valid kinds for error messages, e.g. ``0 (circle), 1 (box)``."""
    return ", ".join(f"{k} ({s.LABEL})" for k, s in enumerate(SHAPES))


def invalid_rows(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Which obstacle rows have an unknown kind, and which a negative size.

    Returns ``(bad kind (K,), negative size (K,), what)``: ``what[i]`` names the negative
    size of row ``i`` (e.g. ``box half_width``), "" where none.

    :param arr: ``(K, 3)`` circles or ``(K, WIDE)`` rows with their kind
    """
    arr = np.asarray(arr, dtype=np.float64)
    arr = arr.reshape(-1, arr.shape[-1])
    kinds = arr[:, KIND] if arr.shape[1] == WIDE else np.zeros(len(arr))
    known = (kinds >= 0) & (kinds < len(SHAPES)) & (kinds == np.floor(kinds))
    negative = np.zeros(len(arr), dtype=bool)
    what = [""] * len(arr)
    for k, shape in enumerate(SHAPES):
        for col, name in sorted(shape.SIZES.items()):
            if col >= arr.shape[1]:
                continue
            neg = known & (kinds == k) & (arr[:, col] < 0.0)
            for i in np.nonzero(neg & ~negative)[0]:
                what[i] = f"{shape.LABEL} {name}"
            negative |= neg
    return ~known, negative, what


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


#: the box's kernel as plain Python (numba keeps it as ``py_func``): a call per point from
#: Python costs no dispatch, and it is the same source as the compiled rows
_box_sd = getattr(box.signed_distance, "py_func", box.signed_distance)


def surface_distance(obstacles: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance of points to obstacle surfaces, broadcast (numpy).

    Circles as ``sqrt(dx^2 + dy^2) - R``; boxes with the formula of :func:`box.signed_distance`
    (equal to it within rounding: numpy's trigonometry may differ in the last bit).

    :param obstacles: ``(..., 3)`` circles or ``(..., 6)`` rows with their kind
    :param x: point x, broadcastable against ``obstacles[..., 0]``
    :param y: point y, likewise
    """
    dx = x - obstacles[..., 0]
    dy = y - obstacles[..., 1]
    out = np.sqrt(dx * dx + dy * dy) - obstacles[..., 2]
    if obstacles.shape[-1] <= KIND or not np.any(obstacles[..., KIND] == BOX):
        return out
    ca = np.cos(obstacles[..., 4])
    sa = np.sin(obstacles[..., 4])
    ex = np.abs(ca * dx + sa * dy) - obstacles[..., 2]
    ey = np.abs(ca * dy - sa * dx) - obstacles[..., 3]
    outside = np.hypot(np.maximum(ex, 0.0), np.maximum(ey, 0.0))
    sd = np.where((ex > 0.0) | (ey > 0.0), outside, np.maximum(ex, ey))
    return np.where(obstacles[..., KIND] == BOX, sd, out)


def nearest_point(o, x: float, y: float) -> tuple[float, float, float, float]:
    """``(cx, cy, radius, sd)``: obstacle row ``o`` seen from ``(x, y)`` as a disk (pure Python).

    A circle is itself (``sd`` its signed surface distance); a box is the disk of radius 0 at
    its nearest surface point ``p - sd n`` (the simulator's observations and baselines then
    treat both alike). ``sd < 0`` inside.

    :param o: one obstacle row, 3 or :data:`WIDE` entries
    :param x: point x [m]
    :param y: point y [m]
    """
    if len(o) > KIND and o[KIND] == BOX:
        sd, nx, ny = _box_sd(o, x, y)
        return x - sd * nx, y - sd * ny, 0.0, sd
    return o[0], o[1], o[2], math.sqrt((x - o[0]) * (x - o[0]) + (y - o[1]) * (y - o[1])) - o[2]


def nearest_points(obstacles: np.ndarray, x: np.ndarray, y: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cx, cy, radius)`` arrays of :func:`nearest_point`, broadcast (numpy; a box's point by
    clamping in its frame, equal to the kernel's within rounding).

    :param obstacles: ``(..., 3)`` or ``(..., 6)`` rows
    :param x: point x, broadcastable against ``obstacles[..., 0]``
    :param y: point y, likewise
    """
    cx, cy, rad = obstacles[..., 0], obstacles[..., 1], obstacles[..., 2]
    if obstacles.shape[-1] <= KIND or not np.any(obstacles[..., KIND] == BOX):
        return cx, cy, rad
    is_box = obstacles[..., KIND] == BOX
    ca, sa = np.cos(obstacles[..., 4]), np.sin(obstacles[..., 4])
    dx, dy = x - cx, y - cy
    qx, qy = ca * dx + sa * dy, ca * dy - sa * dx
    hl, hw = obstacles[..., 2], obstacles[..., 3]
    ex, ey = np.abs(qx) - hl, np.abs(qy) - hw
    inside = (ex <= 0.0) & (ey <= 0.0)
    lx = np.where(inside & (ex >= ey), np.where(qx >= 0.0, hl, -hl), np.clip(qx, -hl, hl))
    ly = np.where(inside & (ex < ey), np.where(qy >= 0.0, hw, -hw), np.clip(qy, -hw, hw))
    return (np.where(is_box, cx + ca * lx - sa * ly, cx),
            np.where(is_box, cy + sa * lx + ca * ly, cy), np.where(is_box, 0.0, rad))


def as_rows(obstacles: object) -> np.ndarray:
    """Obstacles as a float ``(K, 3)`` array of circles, or ``(K, 6)`` rows with their kind
    when given 6 wide (no validation: see :func:`safe_pe_cbf.geometry.obstacles_array`).

    :param obstacles: an array or nested rows
    """
    arr = np.asarray(obstacles, dtype=float)
    return arr.reshape(-1, WIDE if arr.ndim == 2 and arr.shape[1] == WIDE else 3)
