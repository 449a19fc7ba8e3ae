"""Compiled (numba) kernel of :meth:`safe_pe_sim.observations.ObservationBuilder.batch`.

One loop over games and agents with scalar maths inside: the same expressions in the same
order as the numpy backend (float64 until the final float32 store, then clipped to
``[-1, 1]``), so the results are bitwise identical to it (tested on random instances;
``math.cos``/``math.sin``/``math.sqrt`` are libm's, like numpy's float64 ufuncs on machines
without AVX-512). No fast-math: no reassociation, no fused multiply-add.

The k nearest obstacles are picked by a stable selection in numpy's sort order (NaN after
everything, ties keep the row order), which equals the numpy backend's stable ``argsort``;
for K = 2 the numpy backend's single comparison is reproduced as it is.

numba is optional: :data:`AVAILABLE` says whether it imported. Without it the builder uses
its numpy backend. The first call compiles (a few seconds); numba caches the machine code in
``__pycache__``, later processes load it in well under a second.

Constants are packed in one float array ``c`` (layout :data:`CONST_NAMES`): fewer arguments
make a cheaper call at small N, where the call overhead is what counts.
"""

from __future__ import annotations

import math

import numpy as np

from safe_pe_cbf.barriers import BOX, KIND
from safe_pe_cbf.barriers.box import signed_distance
from safe_pe_cbf.jit import AVAILABLE, depends_on_core, njit  # numba, or a stand-in

__all__ = ["AVAILABLE", "CONST_NAMES", "observe_kernel"]

depends_on_core(__file__)  # the kernel inlines the box barrier: recompile when it changes

#: Layout of the constants array ``c`` (built by ``ObservationBuilder``).
CONST_NAMES = ("x_min", "x_max", "y_min", "y_max", "width", "height", "diag", "x_scale",
               "y_scale", "v_opp_scale", "max_steps", "radius_0", "radius_1", "v_scale_0",
               "v_scale_1", "omega_scale_0", "omega_scale_1", "near")
(_X_MIN, _X_MAX, _Y_MIN, _Y_MAX, _W, _H, _DIAG, _SX, _SY, _V_OPP, _MAX_STEPS, _R0, _R1,
 _VS0, _VS1, _OMS0, _OMS1, _NEAR) = range(len(CONST_NAMES))

# layout of one observation row (see the table in safe_pe_sim.observations)
_OBS_DIM = 44
_BASE_DIM = 24
_N_NEAREST = 4
_FEATURES = 5


@njit(cache=True, inline="always")
def _npmin(a, b):
    return a if (a <= b or a != a) else b  # np.minimum: NaN wins


@njit(cache=True, inline="always")
def _sorts_before(a, b):
    return a < b or (b != b and a == a)  # numpy's sort order: NaN after everything


@njit(cache=True, inline="always")
def _store(row, j, value):
    v = np.float32(value)
    if v > 1.0:
        v = np.float32(1.0)
    elif v < -1.0:
        v = np.float32(-1.0)
    row[j] = v  # NaN passes through, as with np.clip


@njit(cache=True)
def observe_kernel(poses, vel, obstacles, mask, steps, c):
    """Observations ``(N, 2, 44)`` float32 and static body clearances ``(N, 2)`` float64.

    :param poses: ``(N, 2, 3)`` float64 C-contiguous
    :param vel: ``(N, 2, 2)`` float64
    :param obstacles: ``(N, K, 3)`` float64 circles, or ``(N, K, 6)`` rows with a kind
    :param mask: ``(N, K)`` bool
    :param steps: ``(N,)`` int64 or float64
    :param c: constants, layout :data:`CONST_NAMES`
    """
    n = poses.shape[0]
    k = obstacles.shape[1]
    wide = obstacles.shape[2] > KIND  # rows with a kind: boxes seen at their nearest point
    out = np.empty((n, 2, _OBS_DIM), dtype=np.float32)
    clearance = np.empty((n, 2), dtype=np.float64)
    x_min, x_max, y_min, y_max = c[_X_MIN], c[_X_MAX], c[_Y_MIN], c[_Y_MAX]
    w, h, diag, sx, sy, v_opp = c[_W], c[_H], c[_DIAG], c[_SX], c[_SY], c[_V_OPP]
    near = c[_NEAR]
    keys = np.empty(k, dtype=np.float64)
    taken = np.empty(k, dtype=np.bool_)
    n_sel = min(k, _N_NEAREST)
    for i in range(n):
        time_left = 1.0 - steps[i] / c[_MAX_STEPS]
        cos0 = math.cos(poses[i, 0, 2])
        sin0 = math.sin(poses[i, 0, 2])
        cos1 = math.cos(poses[i, 1, 2])
        sin1 = math.sin(poses[i, 1, 2])
        for a in range(2):
            o = 1 - a
            row = out[i, a]
            x = poses[i, a, 0]
            y = poses[i, a, 1]
            cs, sn, co, so = (cos0, sin0, cos1, sin1) if a == 0 else (cos1, sin1, cos0, sin0)
            r = c[_R0 + a]
            _store(row, 0, (x - x_min) * sx - 1.0)
            _store(row, 1, (y - y_min) * sy - 1.0)
            _store(row, 2, cs)
            _store(row, 3, sn)
            _store(row, 4, vel[i, a, 0] / c[_VS0 + a])
            _store(row, 5, vel[i, a, 1] / c[_OMS0 + a])
            dx = poses[i, o, 0] - x
            dy = poses[i, o, 1] - y
            _store(row, 6, (cs * dx + sn * dy) / diag)
            _store(row, 7, (cs * dy - sn * dx) / diag)
            dist = math.sqrt(dx * dx + dy * dy)
            _store(row, 8, dist / diag)
            rc = co * cs + so * sn  # cos(theta_o - theta)
            rs = so * cs - co * sn  # sin(theta_o - theta)
            _store(row, 9, rc)
            _store(row, 10, rs)
            vo = vel[i, o, 0] / v_opp
            _store(row, 11, vo * rc)
            _store(row, 12, vo * rs)
            inv = 1.0 / dist if dist > 0.0 else 0.0
            lc = (cs * dx + sn * dy) * inv
            ls = (cs * dy - sn * dx) * inv
            _store(row, 20, lc)
            _store(row, 21, ls)
            _store(row, 22, _npmin(dist / near, 1.0) * 2.0 - 1.0)
            _store(row, 23, vo * (lc * rs - ls * rc))
            _store(row, 13, vel[i, o, 1] / c[_OMS0 + o])
            w0 = x - x_min - r
            w1 = x_max - x - r
            w2 = y - y_min - r
            w3 = y_max - y - r
            _store(row, 14, w0 / w)
            _store(row, 15, w1 / w)
            _store(row, 16, w2 / h)
            _store(row, 17, w3 / h)
            _store(row, 18, time_left)
            row[19] = np.float32(1.0) if a == 0 else np.float32(-1.0)
            clear = _npmin(_npmin(w0, w1), _npmin(w2, w3))
            for q in range(k):
                if wide and mask[i, q] and obstacles[i, q, KIND] == BOX:
                    keys[q] = signed_distance(obstacles[i, q], x, y)[0] - r
                elif mask[i, q]:
                    odx = obstacles[i, q, 0] - x
                    ody = obstacles[i, q, 1] - y
                    keys[q] = math.sqrt(odx * odx + ody * ody) - obstacles[i, q, 2] - r
                else:
                    keys[q] = np.inf
                taken[q] = False
            if k:
                kmin = keys[0]
                for q in range(1, k):
                    kmin = _npmin(kmin, keys[q])
                clear = _npmin(clear, kmin)
            clearance[i, a] = clear
            for j in range(_N_NEAREST):
                base = _BASE_DIM + _FEATURES * j
                if j >= n_sel:
                    for f in range(_FEATURES):
                        row[base + f] = np.float32(0.0)
                    continue
                if k == 2:  # the numpy backend's single comparison (NaN never swaps)
                    swap = keys[1] < keys[0]
                    q = (1 - j) if swap else j
                else:       # stable selection == stable argsort, first n_sel
                    q = -1
                    for p in range(k):
                        if not taken[p] and (q < 0 or _sorts_before(keys[p], keys[q])):
                            q = p
                    taken[q] = True
                if not mask[i, q]:
                    for f in range(_FEATURES):
                        row[base + f] = np.float32(0.0)
                    continue
                orad = obstacles[i, q, 2]
                if wide and obstacles[i, q, KIND] == BOX:  # a box: its nearest point, radius 0
                    sd, nx, ny = signed_distance(obstacles[i, q], x, y)
                    odx = (x - sd * nx) - x
                    ody = (y - sd * ny) - y
                    orad = 0.0
                else:
                    odx = obstacles[i, q, 0] - x
                    ody = obstacles[i, q, 1] - y
                _store(row, base, (cs * odx + sn * ody) / near)
                _store(row, base + 1, (cs * ody - sn * odx) / near)
                _store(row, base + 2, orad / near)
                _store(row, base + 3, keys[q] / near)
                row[base + 4] = np.float32(1.0)
    return out, clearance
