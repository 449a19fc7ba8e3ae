"""The barrier registry (safe_pe_cbf.barriers.SHAPES): the compiled dispatch, the kind and
size checks and the markers all come from it, so a new type is a module and its entry."""

import math

import numpy as np
import pytest

from safe_pe_cbf.barriers import (SHAPES, SIZE_COLUMNS, WIDE, _dispatch, box, circle,
                                  invalid_rows, keepout, kinds_text, obstacle_row)
from safe_pe_cbf.jit import njit


def _random_rows(rng, n):
    """``n`` obstacle rows of every kind (parameters in the ranges the scenes use)."""
    rows = np.zeros((n, WIDE))
    rows[:, :2] = rng.uniform(-3.0, 3.0, (n, 2))
    rows[:, 2:4] = rng.uniform(0.0, 1.0, (n, 2))
    rows[:, 4] = rng.uniform(-math.pi, math.pi, n)
    rows[:, 5] = rng.integers(0, len(SHAPES), n)
    return rows


def test_dispatch_calls_each_registered_row():
    rng = np.random.default_rng(0)
    for o in _random_rows(rng, 200):
        px, py, th = rng.uniform(-4.0, 4.0), rng.uniform(-4.0, 4.0), rng.uniform(-3.0, 3.0)
        args = (o, px, py, math.cos(th), math.sin(th), 0.05, 0.2)
        assert obstacle_row(int(o[5]), *args) == SHAPES[int(o[5])].row(*args)


@njit
def _toy_row(o, px, py, cth, sth, d, off):  # pragma: no cover - compiled
    """A third type for the test: a disk whose keep-out is twice its radius."""
    return circle.disk_row(px - o[0], py - o[1], 2.0 * o[2] + off, cth, sth, d)


def _rows_of(dispatch):
    """A kernel calling ``dispatch`` as the row builder calls :func:`obstacle_row`."""
    @njit
    def rows(kinds, o):  # pragma: no cover - compiled
        out = np.empty((len(kinds), 3))
        for i in range(len(kinds)):
            out[i, 0], out[i, 1], out[i, 2] = dispatch(kinds[i], o, 1.0, 0.5, 1.0, 0.0, 0.05,
                                                       0.2)
        return out
    return rows


def test_a_new_type_needs_only_its_entry():
    """The chain built from three row kernels dispatches the third one too, compiled (when
    numba is there) inside a kernel like the row builder."""
    dispatch = _dispatch((circle.row, box.row, _toy_row))
    o = np.array([0.0, 0.0, 0.3, 0.1, 0.0, 0.0])
    kinds = np.array([0, 1, 2])
    got = _rows_of(dispatch)(kinds, o)
    args = (o, 1.0, 0.5, 1.0, 0.0, 0.05, 0.2)
    for k, row in enumerate((circle.row, box.row, _toy_row)):
        assert tuple(got[k]) == pytest.approx(row(*args), abs=0.0)
    assert got[2, 2] < got[0, 2]  # the toy keeps out twice as far


def test_kind_and_size_checks_come_from_the_registry():
    assert SIZE_COLUMNS.shape[0] == len(SHAPES)
    assert sorted(c for c in SIZE_COLUMNS[1] if c >= 0) == sorted(box.SIZES)
    rows = np.array([[0, 0, 0.3, 0, 0, 0], [0, 0, 0.3, 0.1, 0, 1],
                     [0, 0, 0.3, 0, 0, 7], [0, 0, 0.3, 0, 0, 0.5], [0, 0, 0.3, 0, 0, -1],
                     [0, 0, -0.3, 0, 0, 0], [0, 0, 0.3, -0.1, 0, 1], [0, 0, 0.3, -0.1, 0, 0]])
    unknown, negative, what = invalid_rows(rows)
    assert unknown.tolist() == [False, False, True, True, True, False, False, False]
    assert negative.tolist() == [False, False, False, False, False, True, True, False]
    assert what[5] == "circle radius" and what[6] == "box half_width"
    assert invalid_rows(np.array([[0, 0, -1.0]]))[1].tolist() == [True]  # 3-wide: circles
    assert kinds_text() == "0 (circle), 1 (box)"
    assert keepout(1, rows[1], 0.2)[0] == "polygon" and keepout(0, rows[0], 0.2)[0] == "disk"
