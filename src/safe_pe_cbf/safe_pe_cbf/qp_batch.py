"""Batched exact QP: the same KKT enumeration as :func:`safe_pe_cbf.qp.solve_rows` on arrays.

Rows that are satisfied by the unconstrained point are finished with a few ``(N, n)`` array
operations. Only the remaining rows (a small fraction in practice) get the candidate active
sets, all at once per row: ``(s, n)`` single projections and ``(s, n(n-1)/2)`` vertices,
each checked against all ``n`` rows. Every row takes its *first* KKT candidate in the same
order as the single-robot path, with the same floating-point expressions, so both paths
return bitwise-identical commands.
"""

from __future__ import annotations

import numpy as np

from safe_pe_cbf.qp import MULT_TOL, PARALLEL_EPS

__all__ = ["scaled_rows_batch", "solve_rows_batch"]

_PAIR_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n not in _PAIR_CACHE:
        ii, jj = np.triu_indices(n, k=1)  # row-major: (0,1), (0,2), ..., (1,2), ...
        _PAIR_CACHE[n] = (ii, jj)
    return _PAIR_CACHE[n]


def scaled_rows_batch(gv: np.ndarray, gw: np.ndarray, g: np.ndarray, valid: np.ndarray,
                      wv: float, ww: float, lo_v: float, hi_v: float, lo_w: float,
                      hi_w: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                            np.ndarray]:
    """Unit rows in ``z = W u`` with the 4 limit rows appended (see ``scaled_rows``).

    :param gv: ``(N, m)`` coefficients of v
    :param gw: ``(N, m)`` coefficients of omega
    :param g: ``(N, m)`` right-hand sides
    :param valid: ``(N, m)`` which rows exist
    :returns: ``(ax, ay, b, valid, trivially_infeasible (N,))`` with ``m + 4`` columns
    """
    rx = gv / wv
    ry = gw / ww
    nrm = np.sqrt(rx * rx + ry * ry)
    keep = valid & (nrm > 0.0)
    bad = np.any(valid & ~(nrm > 0.0) & (g < 0.0), axis=1)
    nn = np.where(keep, nrm, 1.0)
    N, m = g.shape
    # filled in place (no broadcast/concatenate temporaries: fixed cost matters at small N)
    ax = np.empty((N, m + 4))
    ay = np.empty((N, m + 4))
    b = np.empty((N, m + 4))
    ok = np.empty((N, m + 4), dtype=bool)
    np.divide(rx, nn, out=ax[:, :m])
    np.divide(ry, nn, out=ay[:, :m])
    np.divide(g, nn, out=b[:, :m])
    ok[:, :m] = keep
    ax[:, m:] = (-1.0, 1.0, 0.0, 0.0)
    ay[:, m:] = (0.0, 0.0, -1.0, 1.0)
    b[:, m:] = (-(wv * lo_v), wv * hi_v, -(ww * lo_w), ww * hi_w)
    ok[:, m:] = True
    return ax, ay, b, ok, bad


def solve_rows_batch(z0x: np.ndarray, z0y: np.ndarray, ax: np.ndarray, ay: np.ndarray,
                     b: np.ndarray, valid: np.ndarray, tol: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Project each ``z0`` onto its polygon. Returns ``(zx, zy, feasible, act_i, act_j)``.

    ``act_i``/``act_j`` are the active columns (-1 if none).

    :param z0x: ``(N,)`` scaled nominal, first coordinate
    :param z0y: ``(N,)`` second coordinate
    :param ax: ``(N, n)`` unit row normals, first coordinate
    :param ay: ``(N, n)`` second coordinate
    :param b: ``(N, n)`` right-hand sides
    :param valid: ``(N, n)`` rows that exist
    :param tol: feasibility tolerance
    """
    N, n = b.shape
    viol = ax * z0x[:, None] + ay * z0y[:, None] - b
    done = np.all((viol <= tol) | ~valid, axis=1)
    zx = z0x.copy()
    zy = z0y.copy()
    feasible = done.copy()
    act_i = np.full(N, -1, dtype=np.int64)
    act_j = np.full(N, -1, dtype=np.int64)
    rest = np.nonzero(~done)[0]
    if rest.size == 0:
        return zx, zy, feasible, act_i, act_j
    Ax, Ay, B, V, Vi = ax[rest], ay[rest], b[rest], valid[rest], viol[rest]
    X0, Y0 = z0x[rest], z0y[rest]
    s = rest.size
    eye = np.eye(n, dtype=bool)
    # ---- single active row i (only violated rows can be active alone)
    rr, cc = np.nonzero(V & (Vi > 0.0))  # row-major: per row, rows i in order
    vi = Vi[rr, cc]
    cx = X0[rr] - vi * Ax[rr, cc]
    cy = Y0[rr] - vi * Ay[rr, cc]
    r = Ax[rr] * cx[:, None] + Ay[rr] * cy[:, None] - B[rr]
    ok = np.all((r <= tol) | ~V[rr] | eye[cc], axis=1)
    has1 = np.zeros(s, dtype=bool)
    if ok.any():
        rr1, cc1, cx1, cy1 = rr[ok], cc[ok], cx[ok], cy[ok]
        _, first = np.unique(rr1, return_index=True)
        out = rest[rr1[first]]
        zx[out] = cx1[first]
        zy[out] = cy1[first]
        feasible[out] = True
        act_i[out] = cc1[first]
        has1[rr1[first]] = True
    left = np.nonzero(~has1)[0]
    if left.size == 0:
        return zx, zy, feasible, act_i, act_j
    Ax, Ay, B, V, Vi = Ax[left], Ay[left], B[left], V[left], Vi[left]
    X0, Y0 = X0[left], Y0[left]
    rest = rest[left]
    # ---- provably infeasible: a violated row misses the whole limits box (as qp.py)
    lx, hx, ly, hy = -B[:, n - 4], B[:, n - 3], -B[:, n - 2], B[:, n - 1]
    a_, c_ = Ax[:, :n - 4], Ay[:, :n - 4]
    low = np.where(a_ > 0.0, a_ * lx[:, None], a_ * hx[:, None]) \
        + np.where(c_ > 0.0, c_ * ly[:, None], c_ * hy[:, None])
    hopeless = np.any(V[:, :n - 4] & (Vi[:, :n - 4] > 0.0) & (low > B[:, :n - 4] + 10.0 * tol),
                      axis=1)
    if hopeless.any():
        keep_rows = ~hopeless
        Ax, Ay, B, V, Vi = Ax[keep_rows], Ay[keep_rows], B[keep_rows], V[keep_rows], \
            Vi[keep_rows]
        X0, Y0 = X0[keep_rows], Y0[keep_rows]
        rest = rest[keep_rows]
        if rest.size == 0:
            return zx, zy, feasible, act_i, act_j
    # ---- pairs (i, j), i < j, in row-major order; only plausible (row, pair) entries
    ii, jj = _pairs(n)
    pos = Vi > 0.0
    det_all = Ax[:, ii] * Ay[:, jj] - Ay[:, ii] * Ax[:, jj]
    cand = V[:, ii] & V[:, jj] & (pos[:, ii] | pos[:, jj]) & ~(np.abs(det_all) < PARALLEL_EPS)
    rr, pp = np.nonzero(cand)  # row-major: per row, pairs in order
    if rr.size == 0:
        return zx, zy, feasible, act_i, act_j
    pi_, pj_ = ii[pp], jj[pp]
    axi, axj = Ax[rr, pi_], Ax[rr, pj_]
    ayi, ayj = Ay[rr, pi_], Ay[rr, pj_]
    bi, bj = B[rr, pi_], B[rr, pj_]
    det = det_all[rr, pp]
    px = (bi * ayj - bj * ayi) / det
    py = (axi * bj - axj * bi) / det
    rx = X0[rr] - px
    ry = Y0[rr] - py
    li = (rx * ayj - ry * axj) / det
    lj = (axi * ry - ayi * rx) / det
    keep = ~(li < -MULT_TOL) & ~(lj < -MULT_TOL)
    rr, pp, px, py = rr[keep], pp[keep], px[keep], py[keep]
    if rr.size == 0:
        return zx, zy, feasible, act_i, act_j
    r = Ax[rr] * px[:, None] + Ay[rr] * py[:, None] - B[rr]
    skip = eye[ii] | eye[jj]  # (P, n): the pair's own rows
    ok = np.all((r <= tol) | ~V[rr] | skip[pp], axis=1)
    rr, pp, px, py = rr[ok], pp[ok], px[ok], py[ok]
    if rr.size == 0:
        return zx, zy, feasible, act_i, act_j
    _, first = np.unique(rr, return_index=True)  # first feasible pair of each row
    out = rest[rr[first]]
    zx[out] = px[first]
    zy[out] = py[first]
    feasible[out] = True
    act_i[out] = ii[pp[first]]
    act_j[out] = jj[pp[first]]
    return zx, zy, feasible, act_i, act_j
