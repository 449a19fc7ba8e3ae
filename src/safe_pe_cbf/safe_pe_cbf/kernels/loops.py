"""The batched filter's loops: the single-robot kernels for each of N robots.

:func:`build_loop` (rows by :func:`~safe_pe_cbf.kernels.rows.fill_rows`, or by
:func:`~safe_pe_cbf.kernels.actuated.actuated_rows` under the actuator model),
:func:`resolve_loop` (:func:`~safe_pe_cbf.kernels.tiers.resolve_one`) and :func:`box_loop`
(:func:`~safe_pe_cbf.kernels.box.box_one`): the very kernels of the single-robot path, hence
identical commands, records and boxes. Called by :class:`safe_pe_cbf.batch.BatchedSafetyFilter`.

The loops are serial: they meet the 2 M safe actions/s target at N = 4096, and a ``prange``
version paid at most 1.1x at the sizes training runs (N = 16-256; 1.9x at 4096 on an idle
2-core machine) while threads bring fork and concurrency hazards (docs/cbf.md §9).
"""

from __future__ import annotations

import math

from safe_pe_cbf import jit
from safe_pe_cbf.barriers import KIND, SIZE_COLUMNS
from safe_pe_cbf.jit import njit
from safe_pe_cbf.kernels.actuated import actuated_rows
from safe_pe_cbf.kernels.box import box_one
from safe_pe_cbf.kernels.qp import scratch
from safe_pe_cbf.kernels.rows import MAX_ABS_I, WV, WW, argmin_h, certified, fill_rows, rhs
from safe_pe_cbf.kernels.tiers import resolve_one, resolve_one_act

__all__ = ["build_loop", "resolve_loop", "box_loop"]


@njit(cache=True, inline="always")
def _bad(x, lim):  # pragma: no cover - compiled
    return not abs(x) <= lim  # also true for NaN


@njit(cache=True, inline="always")
def _bad_scene(lim, P, O, mask, Q, has_opp):  # pragma: no cover - compiled
    """Whether a pose or present obstacle is non-finite or huge, has a negative size or an
    unknown kind."""
    for n in range(P.shape[0]):
        for j in range(3):
            if _bad(P[n, j], lim) or (has_opp and _bad(Q[n, j], lim)):
                return True
        for k in range(O.shape[1]):
            if mask[n, k]:
                for j in range(O.shape[2]):
                    if _bad(O[n, k, j], lim):
                        return True
                kind = O[n, k, KIND] if O.shape[2] > KIND else 0.0
                if not (0.0 <= kind < SIZE_COLUMNS.shape[0] and kind == math.floor(kind)):
                    return True
                for j in SIZE_COLUMNS[int(kind)]:
                    if j >= 0 and O[n, k, j] < 0.0:
                        return True
    return False


@njit(cache=True)
def build_loop(c, CL, P, O, mask, Q, has_opp, V, PEND, QV, gv, gw, h, col, cnt, min_h, min_i
               ):  # pragma: no cover - compiled
    """Rows of N robots into ``(N, 5 + K)`` arrays (``cnt[n]`` rows each) and their smallest
    barrier value; returns 1 (filling nothing) on a non-finite or huge input, a negative
    size or an unknown kind of a present obstacle, else 0.

    With ideal actuation ``CL`` is ``(0, K)`` and the rows are those of
    :func:`~safe_pe_cbf.kernels.rows.fill_rows` (``V, PEND, QV`` unused). Under the actuator
    model they are those of :func:`~safe_pe_cbf.kernels.actuated.actuated_rows` from the held
    velocities ``V (N, 2)``, the commands not yet in effect ``PEND (N, L, 2)`` and the
    opponents' held velocities ``QV (N, 2)`` (NaN: unknown), each robot's constants into
    ``CL (N, K)``."""
    if _bad_scene(c[MAX_ABS_I], P, O, mask, Q, has_opp):
        return 1
    if CL.shape[0] > 0:  # two loops, not a test per robot: the ideal one stays as lean
        for n in range(P.shape[0]):
            _count(n, actuated_rows(c, CL[n], P[n, 0], P[n, 1], P[n, 2], V[n, 0], V[n, 1],
                                    PEND[n], has_opp, Q[n, 0], Q[n, 1], Q[n, 2], QV[n, 0],
                                    QV[n, 1], O[n], mask[n], gv[n], gw[n], h[n], col[n]),
                   h, col, cnt, min_h, min_i)
    else:
        for n in range(P.shape[0]):
            _count(n, fill_rows(c, P[n, 0], P[n, 1], P[n, 2], has_opp, Q[n, 0], Q[n, 1],
                                Q[n, 2], O[n], mask[n], gv[n], gw[n], h[n], col[n]),
                   h, col, cnt, min_h, min_i)
    return 0


@njit(cache=True, inline="always")
def _count(n, m, h, col, cnt, min_h, min_i):  # pragma: no cover - compiled
    """Robot ``n`` has ``m`` rows: its count and smallest barrier value."""
    cnt[n] = m
    i = argmin_h(h[n], m)
    min_h[n] = h[n, i]
    min_i[n] = col[n, i]


@njit(cache=True)
def resolve_loop(c, CL, tab, cand, gv, gw, h, col, cnt, U, out_u, tier, qp_ok, act_i, act_j,
                 intervention, intervened):  # pragma: no cover - compiled
    """:func:`~safe_pe_cbf.kernels.tiers.resolve_one` for each robot; returns 1 (filling nothing)
    on a non-finite or huge command, else 0. Under the actuator model ``CL (N, K)`` holds each
    robot's constants (the nominal passes when the velocity the base ramps to is certified;
    an infeasible robot may evade, docs/actuation.md); ideal actuation: ``CL`` is ``(0, K)``
    and every robot uses ``c``."""
    N, M = gv.shape
    act = CL.shape[0] > 0
    for n in range(N):
        if _bad(U[n, 0], c[MAX_ABS_I]) or _bad(U[n, 1], c[MAX_ABS_I]):
            return 1
    g = jit.floats(M)
    ax, ay, b, viol, pos = scratch(M)
    for n in range(N):
        v = U[n, 0]
        w = U[n, 1]
        if act:  # inlined: its nominal test first, the tier kernel only for the others
            uv, uw, t, _s, _rej, ri, rj, _slack = resolve_one_act(
                c, CL[n], tab, cand, gv[n], gw[n], h[n], col[n], cnt[n], v, w, g, ax, ay, b,
                pos, viol)
        else:
            # tier NOMINAL decided here with resolve_one's own first test (most robots): the
            # call of the whole tier kernel, a dozen array arguments, is only paid by the others
            rhs(c, tab, 0, h[n], col[n], cnt[n], g)
            if certified(c, gv[n], gw[n], g, cnt[n], v, w, 0.0):
                uv, uw, t, ri, rj = v, w, 0, -1, -1
            else:
                uv, uw, t, _s, _rej, ri, rj, _slack = resolve_one(
                    c, tab, cand, gv[n], gw[n], h[n], col[n], cnt[n], v, w, g, ax, ay, b, pos,
                    viol)
        out_u[n, 0] = uv
        out_u[n, 1] = uw
        tier[n] = t
        qp_ok[n] = t <= 1
        act_i[n] = col[n, ri] if ri >= 0 else -1
        act_j[n] = col[n, rj] if rj >= 0 else -1
        dv = c[WV] * (uv - v)
        dw = c[WW] * (uw - w)
        intervention[n] = math.sqrt(dv * dv + dw * dw)
        intervened[n] = uv != v or uw != w
    return 0


@njit(cache=True)
def box_loop(c, CL, tab, cand, gv, gw, h, col, cnt, lo, hi, empty, stage
             ):  # pragma: no cover - compiled
    """:func:`~safe_pe_cbf.kernels.box.box_one` for each robot (constants ``CL[n]`` under the
    actuator model, else ``c``: ``CL`` is ``(0, K)``)."""
    N, M = gv.shape
    act = CL.shape[0] > 0
    g, slack, load = jit.floats(M), jit.floats(M), jit.floats(M)
    ax, ay, b, viol, pos = scratch(M)
    rd = jit.floats(8)
    for n in range(N):
        lo[n, 0], hi[n, 0], lo[n, 1], hi[n, 1], empty[n], stage[n] = box_one(
            CL[n] if act else c, tab, cand, gv[n], gw[n], h[n], col[n], cnt[n], g, ax, ay, b,
            pos, viol, slack, load, rd)
