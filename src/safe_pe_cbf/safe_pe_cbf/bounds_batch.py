"""Safe action boxes for N robots: :mod:`safe_pe_cbf.bounds` on arrays, identical per row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from safe_pe_cbf.batch_rows import BatchRows, select_backup_batch, softened_rows
from safe_pe_cbf.bounds import BOX_EPS
from safe_pe_cbf.constraints import Consts
from safe_pe_cbf.qp_batch import scaled_rows_batch, solve_rows_batch

if TYPE_CHECKING:  # pragma: no cover
    from safe_pe_cbf.batch import BatchedSafetyFilter

__all__ = ["action_box_batch"]


def _grow(k: Consts, gv: np.ndarray, gw: np.ndarray, g: np.ndarray, av: np.ndarray,
          aw: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows whose absent constraints have ``gv = gw = 0`` and ``g = inf``.

    Directions ``(omega+, omega-, v+, v-)`` are stacked on a leading axis (fewer numpy calls,
    the fixed cost that dominates at small N); every element sees the same operations in
    the same order as :func:`safe_pe_cbf.bounds.safe_action_box`.
    """
    n = g.shape[0]
    room = np.empty((4, n))
    np.subtract(k.w_max, aw, out=room[0])
    np.subtract(aw, k.w_min, out=room[1])
    np.subtract(k.v_max, av, out=room[2])
    np.subtract(av, k.v_min, out=room[3])
    np.maximum(room, 0.0, out=room)
    if gv.T.flags.c_contiguous:  # (M, N) storage: keep the long axis innermost
        coef = np.empty((4, g.shape[1], n)).transpose(0, 2, 1)
    else:
        coef = np.empty((4,) + g.shape)
    coef[0] = gw
    np.negative(gw, out=coef[1])
    coef[2] = gv
    np.negative(gv, out=coef[3])
    np.maximum(coef, 0.0, out=coef)
    slack = np.maximum(g - (gv * av[:, None] + gw * aw[:, None]) - BOX_EPS, 0.0)
    prod = coef * room[:, :, None]
    full = prod[0] + prod[1]
    full += prod[2]
    full += prod[3]
    pos = full > 0.0
    ratio = np.where(pos, slack / np.where(pos, full, 1.0), np.inf)
    t = np.minimum(1.0, ratio.min(axis=1))
    delta = t * room
    # t == 1: the extents already reach the limits, the greedy pass cannot change them
    part = np.nonzero(t < 1.0)[0]
    if part.size:
        c_p = coef[:, part]
        d_p = delta[:, part]
        r_p = room[:, part]
        s_p = slack[part]
        prod = c_p * d_p[:, :, None]
        load = prod[0] + prod[1]
        load += prod[2]
        load += prod[3]
        pos_all = c_p > 0.0
        c_div = np.where(pos_all, c_p, 1.0)
        for dd in range(4):
            c = c_p[dd]
            lim = np.where(pos_all[dd], (s_p - load) / c_div[dd], np.inf).min(axis=1)
            extra = np.minimum(r_p[dd] - d_p[dd], lim)
            grow = extra > 0.0
            step = np.where(grow, extra, 0.0)
            d_p[dd] = np.where(grow, d_p[dd] + step, d_p[dd])
            load = np.where(grow[:, None], load + c * step[:, None], load)
        delta[:, part] = d_p
    lo_v = np.maximum(av - delta[3], k.v_min)
    hi_v = np.minimum(av + delta[2], k.v_max)
    lo_w = np.maximum(aw - delta[1], k.w_min)
    hi_w = np.minimum(aw + delta[0], k.w_max)
    return lo_v, hi_v, lo_w, hi_w


def _box_for(k: Consts, rows: BatchRows, idx: Optional[np.ndarray], g: np.ndarray):
    """Boxes of rows ``idx`` (None: all rows) with right-hand sides ``g``."""
    bv = 1.0 / (k.v_max - k.v_min)
    bw = 1.0 / (k.w_max - k.w_min)
    if idx is None:
        gv, gw, valid = rows.gv, rows.gw, rows.valid
    else:
        gv, gw, valid = rows.gv[idx], rows.gw[idx], rows.valid[idx]
    ax, ay, b, ok, bad = scaled_rows_batch(gv, gw, g, valid, bv, bw, k.v_min, k.v_max,
                                           k.w_min, k.w_max)
    cv = 0.5 * (k.v_min + k.v_max)
    n = g.shape[0]
    zx, zy, feas, _, _ = solve_rows_batch(np.full(n, bv * cv), np.full(n, bw * 0.0), ax, ay,
                                          b, ok, k.tol)
    feas &= ~bad
    av = np.minimum(np.maximum(zx / bv, k.v_min), k.v_max)
    aw = np.minimum(np.maximum(zy / bw, k.w_min), k.w_max)
    if valid.all():  # nothing absent: no masking copies
        gz = g
    else:
        gv = np.where(valid, gv, 0.0)
        gw = np.where(valid, gw, 0.0)
        gz = np.where(valid, g, np.inf)
    b1 = _grow(k, gv, gw, gz, av, aw)
    # a box that already spans the limits cannot grow: re-anchoring only for the others
    part = np.nonzero((b1[0] != k.v_min) | (b1[1] != k.v_max) | (b1[2] != k.w_min)
                      | (b1[3] != k.w_max))[0]
    box = list(b1)
    if part.size:
        box = [x.copy() for x in b1]
        p1 = [x[part] for x in b1]
        p2 = _grow(k, gv[part], gw[part], gz[part], 0.5 * (p1[0] + p1[1]),
                   0.5 * (p1[2] + p1[3]))
        a1 = (p1[1] - p1[0]) * bv * ((p1[3] - p1[2]) * bw)
        a2 = (p2[1] - p2[0]) * bv * ((p2[3] - p2[2]) * bw)
        use2 = a2 > a1
        for j in range(4):
            box[j][part] = np.where(use2, p2[j], p1[j])
    return feas, box


def _store_boxes(idx: np.ndarray, feas: np.ndarray, box: list, s_i: int, lo: np.ndarray,
                 hi: np.ndarray, empty: np.ndarray, stage: np.ndarray) -> None:
    done = idx[feas]
    lo[done, 0] = box[0][feas]
    hi[done, 0] = box[1][feas]
    lo[done, 1] = box[2][feas]
    hi[done, 1] = box[3][feas]
    empty[done] = False
    stage[done] = s_i


def action_box_batch(filt: "BatchedSafetyFilter", rows: BatchRows
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Boxes of one chunk: ``(lo (N, 2), hi (N, 2), empty (N,), stage (N,))``.

    :param filt: the filter (constants, stages, backup candidates)
    :param rows: rows of the chunk
    """
    k: Consts = filt._k
    N = rows.h.shape[0]
    lo = np.empty((N, 2))
    hi = np.empty((N, 2))
    empty = np.ones(N, dtype=bool)
    stage = np.full(N, -1, dtype=np.int8)
    gam = k.gamma
    # stage 0 on all rows: no gathers; most calls end here
    feas, box = _box_for(k, rows, None, rows.g(k, (gam, gam, gam)))
    if feas.all():
        lo[:, 0], hi[:, 0], lo[:, 1], hi[:, 1] = box
        empty[:] = False
        stage[:] = 0
        return lo, hi, empty, stage
    pend = np.arange(N)
    _store_boxes(pend, feas, box, 0, lo, hi, empty, stage)
    pend = pend[~feas]
    present = rows.present_groups()
    for s_i, (gammas, _text) in enumerate(filt._stages, start=1):
        sub = softened_rows(pend, present, gammas, gam)
        if sub.size == 0:
            continue
        feas, box = _box_for(k, rows, sub, rows.g(k, gammas, sub))
        _store_boxes(sub, feas, box, s_i, lo, hi, empty, stage)
        solved = np.zeros(N, dtype=bool)
        solved[sub[feas]] = True
        pend = pend[~solved[pend]]
        if pend.size == 0:
            break
    if pend.size:
        sl = rows.backup_slack(k, pend, filt._cand_v, filt._cand_w, filt._cand_bonus)
        best, _ = select_backup_batch(sl)
        lo[pend, 0] = hi[pend, 0] = filt._cand_v[best]
        lo[pend, 1] = hi[pend, 1] = filt._cand_w[best]
    return lo, hi, empty, stage
