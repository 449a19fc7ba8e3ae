"""Compiled (numba) kernels of the batched filter: one loop over robots, scalar maths inside.

Each kernel is the single-robot path written once more as a per-row loop: the same
expressions in the same order as :mod:`safe_pe_cbf.constraints`, :mod:`safe_pe_cbf.qp`,
:mod:`safe_pe_cbf.resolver`, :mod:`safe_pe_cbf.backup` and :mod:`safe_pe_cbf.bounds`, so the
results are bitwise identical to them (tested on random instances). IEEE double arithmetic
without fast-math (no reassociation, no fused multiply-add) makes that possible.

numba is optional: :data:`AVAILABLE` says whether it imported. Without it the batched filter
uses its numpy implementation (same results, 2-10x slower). The first call compiles (about
15 s; numba caches the machine code on disk, later processes load it in well under a second).

Constants are packed in one float array ``c`` (fewer arguments: a cheaper call at small N,
where the call overhead is what counts). The kernels also validate their inputs (finite and
within ``max_abs``) and return an error code instead of raising; the caller then runs the
numpy checks of :mod:`safe_pe_cbf.batch_rows` for the detailed message.
"""

from __future__ import annotations

import math

import numpy as np

from safe_pe_cbf.bounds import BOX_EPS
from safe_pe_cbf.jit import AVAILABLE, njit  # numba, or a stand-in without it
from safe_pe_cbf.qp import MULT_TOL, PARALLEL_EPS

__all__ = ["AVAILABLE", "CONST_NAMES", "build_rows_kernel", "resolve_kernel", "box_kernel"]

#: Layout of the constants array ``c`` (see :func:`safe_pe_cbf.batch.BatchedSafetyFilter`).
CONST_NAMES = ("d", "opp_d", "pair_r", "wall_off", "obs_off", "x_min", "x_max", "y_min",
               "y_max", "v_min", "v_max", "w_min", "w_max", "wv", "ww", "tol", "c", "dt",
               "max_abs", "physical_tol")
(_D, _OPP_D, _PAIR_R, _WALL_OFF, _OBS_OFF, _X_MIN, _X_MAX, _Y_MIN, _Y_MAX, _V_MIN, _V_MAX,
 _W_MIN, _W_MAX, _WV, _WW, _TOL, _C, _DT, _MAX_ABS,
 _PHYSICAL_TOL) = range(len(CONST_NAMES))

# tolerances of the single-robot path (numba freezes module globals at compile time)
_PARALLEL_EPS = PARALLEL_EPS
_MULT_TOL = MULT_TOL
_BOX_EPS = BOX_EPS


# ---------------------------------------------------------------- Python's min/max semantics
@njit(cache=True, inline="always")
def _pmax(a, b):
    return b if b > a else a  # max(a, b): the first argument unless the second is larger


@njit(cache=True, inline="always")
def _pmin(a, b):
    return b if b < a else a


# ---------------------------------------------------------------- rows (constraints.build_rows)
@njit(cache=True, inline="always")
def _distance_col(dx, dy, radius, cth, sth, d):
    dist = math.sqrt(dx * dx + dy * dy)
    if dist > 0.0:
        nx = dx / dist
        ny = dy / dist
    else:
        nx = 1.0
        ny = 0.0
    return -(nx * cth + ny * sth), -(d * (ny * cth - nx * sth)), dist - radius


@njit(cache=True, inline="always")
def _bad(x, lim):
    return not abs(x) <= lim  # also true for NaN


@njit(cache=True)
def _inputs_bad(c, P, O, mask, Q, has_opp):  # pragma: no cover
    lim = c[_MAX_ABS]
    for n in range(P.shape[0]):
        for j in range(3):
            if _bad(P[n, j], lim) or (has_opp and _bad(Q[n, j], lim)):
                return True
        for k in range(O.shape[1]):
            if mask[n, k] and (_bad(O[n, k, 0], lim) or _bad(O[n, k, 1], lim)
                               or _bad(O[n, k, 2], lim) or O[n, k, 2] < 0.0):
                return True
    return False


@njit(cache=True)
def build_rows_kernel(c, P, O, mask, Q, has_opp, gvT, gwT, hT, validT, min_h,
                      min_i):  # pragma: no cover
    """Fill ``(M, N)`` rows (layout of :mod:`safe_pe_cbf.batch_rows`) for N robots.

    Returns 1 (and fills nothing) if an input is non-finite, beyond ``max_abs`` or a present
    obstacle has a negative radius, else 0.

    :param c: constants (``CONST_NAMES``)
    :param P: ``(N, 3)`` poses
    :param O: ``(N, K, 3)`` obstacles
    :param mask: ``(N, K)`` present obstacles
    :param Q: ``(N, 3)`` opponent poses (ignored unless ``has_opp``)
    :param has_opp: whether there is an opponent
    :param min_h: ``(N,)`` output: smallest barrier value of the present rows
    :param min_i: ``(N,)`` output: its column (first on ties)
    """
    if _inputs_bad(c, P, O, mask, Q, has_opp):
        return 1
    N = P.shape[0]
    K = O.shape[1]
    M = 5 + K
    d = c[_D]
    for n in range(N):
        th = P[n, 2]
        cth = math.cos(th)
        sth = math.sin(th)
        px = P[n, 0] + d * cth
        py = P[n, 1] + d * sth
        if has_opp:
            qx = Q[n, 0] + c[_OPP_D] * math.cos(Q[n, 2])
            qy = Q[n, 1] + c[_OPP_D] * math.sin(Q[n, 2])
            gvT[0, n], gwT[0, n], hT[0, n] = _distance_col(px - qx, py - qy, c[_PAIR_R],
                                                           cth, sth, d)
            validT[0, n] = True
        else:
            gvT[0, n] = 0.0
            gwT[0, n] = 0.0
            hT[0, n] = 0.0
            validT[0, n] = False
        off = c[_WALL_OFF]
        dsth = d * sth
        dcth = d * cth
        gvT[1, n] = -cth
        gvT[2, n] = cth
        gvT[3, n] = -sth
        gvT[4, n] = sth
        gwT[1, n] = dsth
        gwT[2, n] = -dsth
        gwT[3, n] = -dcth
        gwT[4, n] = dcth
        hT[1, n] = px - (c[_X_MIN] + off)
        hT[2, n] = (c[_X_MAX] - off) - px
        hT[3, n] = py - (c[_Y_MIN] + off)
        hT[4, n] = (c[_Y_MAX] - off) - py
        for j in range(4):
            validT[1 + j, n] = True
        for k in range(K):
            if mask[n, k]:
                gvT[5 + k, n], gwT[5 + k, n], hT[5 + k, n] = _distance_col(
                    px - O[n, k, 0], py - O[n, k, 1], O[n, k, 2] + c[_OBS_OFF], cth, sth, d)
                validT[5 + k, n] = True
            else:
                gvT[5 + k, n] = 0.0
                gwT[5 + k, n] = 0.0
                hT[5 + k, n] = 0.0
                validT[5 + k, n] = False
        best = math.inf
        arg = 0
        for j in range(M):
            if validT[j, n] and hT[j, n] < best:
                best = hT[j, n]
                arg = j
        min_h[n] = best
        min_i[n] = arg
    return 0


# ---------------------------------------------------------------- QP (qp.scaled_rows/solve_rows)
@njit(cache=True, inline="always")
def _scaled(gv, gw, g, m, wv, ww, lo_v, hi_v, lo_w, hi_w, ax, ay, b, pos):  # pragma: no cover
    """Unit rows + 4 limit rows into ``ax, ay, b``; ``pos`` maps kept rows to inputs.

    Returns ``(n rows written, kept input rows, trivially infeasible)``."""
    n = 0
    bad = False
    for i in range(m):
        rx = gv[i] / wv
        ry = gw[i] / ww
        nrm = math.sqrt(rx * rx + ry * ry)
        if nrm > 0.0:
            ax[n] = rx / nrm
            ay[n] = ry / nrm
            b[n] = g[i] / nrm
            pos[n] = i
            n += 1
        elif g[i] < 0.0:
            bad = True
    kept = n
    ax[n], ay[n], b[n] = -1.0, 0.0, -(wv * lo_v)
    ax[n + 1], ay[n + 1], b[n + 1] = 1.0, 0.0, wv * hi_v
    ax[n + 2], ay[n + 2], b[n + 2] = 0.0, -1.0, -(ww * lo_w)
    ax[n + 3], ay[n + 3], b[n + 3] = 0.0, 1.0, ww * hi_w
    for j in range(4):
        pos[n + j] = -1
    return n + 4, kept, bad


@njit(cache=True, inline="always")
def _solve_rows(z0x, z0y, ax, ay, b, n, tol, viol):  # pragma: no cover
    """``qp.solve_rows``: ``(zx, zy, feasible, active position i, j)`` (-1: none)."""
    mx = -math.inf
    for i in range(n):
        v = ax[i] * z0x + ay[i] * z0y - b[i]
        viol[i] = v
        if v > mx:
            mx = v
    if mx <= tol:
        return z0x, z0y, True, -1, -1
    for i in range(n):
        vi = viol[i]
        if vi <= 0.0:
            continue
        zx = z0x - vi * ax[i]
        zy = z0y - vi * ay[i]
        good = True
        for j in range(n):
            if j != i and ax[j] * zx + ay[j] * zy - b[j] > tol:
                good = False
                break
        if good:
            return zx, zy, True, i, -1
    if n > 4:  # qp._row_excludes_box (the last 4 rows are the limits)
        lx, hx, ly, hy = -b[n - 4], b[n - 3], -b[n - 2], b[n - 1]
        for i in range(n - 4):
            if viol[i] <= 0.0:
                continue
            a = ax[i]
            cc = ay[i]
            low = (a * lx if a > 0.0 else a * hx) + (cc * ly if cc > 0.0 else cc * hy)
            if low > b[i] + 10.0 * tol:
                return z0x, z0y, False, -1, -1
    for i in range(n - 1):
        axi = ax[i]
        ayi = ay[i]
        bi = b[i]
        pi = viol[i] > 0.0
        for j in range(i + 1, n):
            if not (pi or viol[j] > 0.0):
                continue
            axj = ax[j]
            ayj = ay[j]
            det = axi * ayj - ayi * axj
            if abs(det) < _PARALLEL_EPS:
                continue
            bj = b[j]
            zx = (bi * ayj - bj * ayi) / det
            zy = (axi * bj - axj * bi) / det
            rx = z0x - zx
            ry = z0y - zy
            li = (rx * ayj - ry * axj) / det
            lj = (axi * ry - ayi * rx) / det
            if li < -_MULT_TOL or lj < -_MULT_TOL:
                continue
            good = True
            for k in range(n):
                if k != i and k != j and ax[k] * zx + ay[k] * zy - b[k] > tol:
                    good = False
                    break
            if good:
                return zx, zy, True, i, j
    return z0x, z0y, False, -1, -1


# ---------------------------------------------------------------- per-robot gather
@njit(cache=True, inline="always")
def _scratch(M):  # pragma: no cover
    """Per-robot work arrays for up to ``M`` rows (+4 limit rows), reused across robots."""
    return (np.empty(M), np.empty(M), np.empty(M), np.empty(M), np.empty(M, dtype=np.int64),
            np.empty(M, dtype=np.int64), np.empty(M + 4), np.empty(M + 4), np.empty(M + 4),
            np.empty(M + 4), np.empty(M + 4, dtype=np.int64))


@njit(cache=True, inline="always")
def _softens(changed, s, present):  # pragma: no cover
    """Whether relaxed stage ``s`` softens a group present in the bit mask ``present``
    (``resolver.resolve_rows`` skips the stage otherwise)."""
    for q in range(3):
        if changed[s, q] and (present >> q) & 1:
            return True
    return False


@njit(cache=True, inline="always")
def _gather(n, gvT, gwT, hT, validT, group, gv, gw, h, grp, col):  # pragma: no cover
    """Present rows of robot ``n`` in column order; returns ``(m, groups present mask)``."""
    m = 0
    present = 0
    for j in range(gvT.shape[0]):
        if validT[j, n]:
            gv[m] = gvT[j, n]
            gw[m] = gwT[j, n]
            h[m] = hT[j, n]
            grp[m] = group[j]
            col[m] = j
            present |= 1 << group[j]
            m += 1
    return m, present


@njit(cache=True, inline="always")
def _rhs(coefs, s, h, grp, extra_g, m, g):  # pragma: no cover
    """``Rows.g``: ``coef[group] * h - extra`` with the gammas of stage row ``s``."""
    for i in range(m):
        g[i] = coefs[s, grp[i]] * h[i] - extra_g[grp[i]]


@njit(cache=True, inline="always")
def _backup(c, gv, gw, g1, grp, m, cand_v, cand_w, cand_bonus):  # pragma: no cover
    """``backup.select_backup`` (walls and obstacles first): ``(v, w, arg row or -1)``."""
    bv, bw, best, barg = 0.0, 0.0, -math.inf, -1
    best_static = False
    for q in range(cand_v.shape[0]):
        v = cand_v[q]
        w = cand_w[q]
        bonus = cand_bonus[q]
        worst = math.inf
        arg = -1
        static = True
        for i in range(m):
            s = (g1[i] + bonus) - (gv[i] * v + gw[i] * w)
            if s < worst:
                worst = s
                arg = i
            if s < 0.0 and grp[i] != 0:  # GROUP_COLLISION
                static = False
        if (static and not best_static) or (static == best_static and worst > best):
            bv, bw, best, barg = v, w, worst, arg
            best_static = static
    return bv, bw, barg


@njit(cache=True, inline="always")
def _qp(c, gv, gw, g, m, v, w, ax, ay, b, pos, viol):  # pragma: no cover
    """``SafeActionResolver._solve`` (exact): ``(feasible, v, w, active row i, j)``."""
    n, kept, bad = _scaled(gv, gw, g, m, c[_WV], c[_WW], c[_V_MIN], c[_V_MAX], c[_W_MIN],
                           c[_W_MAX], ax, ay, b, pos)
    if bad:
        return False, v, w, -1, -1
    zx, zy, ok, i, j = _solve_rows(c[_WV] * v, c[_WW] * w, ax, ay, b, n, c[_TOL], viol)
    if not ok:
        return False, v, w, -1, -1
    uv = zx / c[_WV]
    uw = zy / c[_WW]
    uv = c[_V_MIN] if uv < c[_V_MIN] else (c[_V_MAX] if uv > c[_V_MAX] else uv)
    uw = c[_W_MIN] if uw < c[_W_MIN] else (c[_W_MAX] if uw > c[_W_MAX] else uw)
    # resolver.certified_within: the unscaled rows, the command's bonus, PHYSICAL_TOL [m]
    dw = c[_D] * uw
    bonus = (c[_C] - 0.5 * abs(uw) * math.sqrt(uv * uv + dw * dw)) * c[_DT]
    lim = -c[_PHYSICAL_TOL] / c[_DT]
    for r in range(m):
        if (g[r] + bonus) - (gv[r] * uv + gw[r] * uw) < lim:
            return False, v, w, -1, -1
    ri = pos[i] if i >= 0 else -1  # limits map to -1; listed rows keep their order
    rj = pos[j] if j >= 0 else -1
    if ri < 0:
        ri, rj = rj, -1
    return True, uv, uw, ri, rj


@njit(cache=True)
def resolve_kernel(c, coefs, changed, extra_g, group, gvT, gwT, hT, validT, U, cand_v,
                   cand_w, cand_bonus, out_u, tier, qp_ok, act_i, act_j, intervention,
                   intervened):  # pragma: no cover
    """Tiers of ``resolver.resolve_rows`` for N robots; fills the output arrays.

    Returns 1 (and fills nothing) if a command is non-finite or beyond ``max_abs``, else 0.

    :param coefs: ``(S + 2, 3)`` h-multipliers per group: configured gamma, the S relaxed
        stages, then gamma = 1 (backup)
    :param changed: ``(S, 3)`` which groups each stage softens
    :param extra_g: ``(3,)`` constant term per group
    :param group: ``(M,)`` group of each column
    :param U: ``(N, 2)`` nominal commands
    """
    M, N = gvT.shape
    for n in range(N):
        if _bad(U[n, 0], c[_MAX_ABS]) or _bad(U[n, 1], c[_MAX_ABS]):
            return 1
    S = changed.shape[0]
    gv, gw, h, g, grp, col, ax, ay, b, viol, pos = _scratch(M)
    d = c[_D]
    for n in range(N):
        # one robot: resolver.resolve_rows (written inline: a call per robot with ~30 array
        # arguments costs more than the robot's whole nominal path)
        v = U[n, 0]
        w = U[n, 1]
        m, present = _gather(n, gvT, gwT, hT, validT, group, gv, gw, h, grp, col)
        _rhs(coefs, 0, h, grp, extra_g, m, g)
        qp_ok[n] = True
        act_i[n] = -1
        act_j[n] = -1
        # tier 0: resolver.nominal_certified
        cert = c[_V_MIN] <= v <= c[_V_MAX] and c[_W_MIN] <= w <= c[_W_MAX]
        if cert:
            dw = d * w
            bonus = (c[_C] - 0.5 * abs(w) * math.sqrt(v * v + dw * dw)) * c[_DT]
            for i in range(m):
                if (g[i] + bonus) - (gv[i] * v + gw[i] * w) < 0.0:
                    cert = False
                    break
        if cert:
            out_u[n, 0] = v
            out_u[n, 1] = w
            tier[n] = 0
        else:
            # stage 0: the CBF-QP (tier QP); stages 1..S: relaxed (tier RELAXED). One call
            # site of the (inlined) solver keeps the compile time down.
            ok, uv, uw, ri, rj = False, v, w, -1, -1
            st = 0
            for s in range(S + 1):
                if s > 0:
                    if not _softens(changed, s - 1, present):
                        continue
                    _rhs(coefs, s, h, grp, extra_g, m, g)
                ok, uv, uw, ri, rj = _qp(c, gv, gw, g, m, v, w, ax, ay, b, pos, viol)
                if ok:
                    st = s
                    break
            qp_ok[n] = ok and st == 0
            if ok:
                out_u[n, 0] = uv
                out_u[n, 1] = uw
                tier[n] = 1 if st == 0 else 2
                act_i[n] = col[ri] if ri >= 0 else -1
                act_j[n] = col[rj] if rj >= 0 else -1
            else:
                _rhs(coefs, S + 1, h, grp, extra_g, m, g)
                bv, bw, arg = _backup(c, gv, gw, g, grp, m, cand_v, cand_w, cand_bonus)
                out_u[n, 0] = bv
                out_u[n, 1] = bw
                tier[n] = 3
                act_i[n] = col[arg] if arg >= 0 else -1
        dv = c[_WV] * (out_u[n, 0] - U[n, 0])
        dw = c[_WW] * (out_u[n, 1] - U[n, 1])
        intervention[n] = math.sqrt(dv * dv + dw * dw)
        intervened[n] = out_u[n, 0] != U[n, 0] or out_u[n, 1] != U[n, 1]
    return 0


# ---------------------------------------------------------------- boxes (bounds.py)
@njit(cache=True)
def _grow(c, gv, gw, g, m, av, aw, coef, slack, load):  # pragma: no cover
    """``bounds._grow``: ``(lo_v, hi_v, lo_w, hi_w)``; ``coef`` is ``(M, 4)`` scratch."""
    r0 = _pmax(c[_W_MAX] - aw, 0.0)
    r1 = _pmax(aw - c[_W_MIN], 0.0)
    r2 = _pmax(c[_V_MAX] - av, 0.0)
    r3 = _pmax(av - c[_V_MIN], 0.0)
    t = 1.0
    for i in range(m):
        coef[i, 0] = _pmax(gw[i], 0.0)
        coef[i, 1] = _pmax(-gw[i], 0.0)
        coef[i, 2] = _pmax(gv[i], 0.0)
        coef[i, 3] = _pmax(-gv[i], 0.0)
        slack[i] = _pmax(g[i] - (gv[i] * av + gw[i] * aw) - _BOX_EPS, 0.0)
        full = coef[i, 0] * r0 + coef[i, 1] * r1 + coef[i, 2] * r2 + coef[i, 3] * r3
        if full > 0.0:
            t = _pmin(t, slack[i] / full)
    d0 = t * r0
    d1 = t * r1
    d2 = t * r2
    d3 = t * r3
    for i in range(m):
        load[i] = coef[i, 0] * d0 + coef[i, 1] * d1 + coef[i, 2] * d2 + coef[i, 3] * d3
    for dd in range(4):
        room = r0 if dd == 0 else (r1 if dd == 1 else (r2 if dd == 2 else r3))
        delta = d0 if dd == 0 else (d1 if dd == 1 else (d2 if dd == 2 else d3))
        extra = room - delta
        for i in range(m):
            cf = coef[i, dd]
            if cf > 0.0:
                extra = _pmin(extra, (slack[i] - load[i]) / cf)
        if extra > 0.0:
            delta = delta + extra
            for i in range(m):
                load[i] = load[i] + coef[i, dd] * extra
            if dd == 0:
                d0 = delta
            elif dd == 1:
                d1 = delta
            elif dd == 2:
                d2 = delta
            else:
                d3 = delta
    lo_v = _pmax(av - d3, c[_V_MIN])
    hi_v = _pmin(av + d2, c[_V_MAX])
    lo_w = _pmax(aw - d1, c[_W_MIN])
    hi_w = _pmin(aw + d0, c[_W_MAX])
    return lo_v, hi_v, lo_w, hi_w


@njit(cache=True, inline="always")
def _box_for(c, gv, gw, g, m, ax, ay, b, pos, viol, coef, slack, load, out):  # pragma: no cover
    """``bounds._box_for``: writes ``(lo_v, hi_v, lo_w, hi_w)`` to ``out``; feasible?"""
    bv = 1.0 / (c[_V_MAX] - c[_V_MIN])
    bw = 1.0 / (c[_W_MAX] - c[_W_MIN])
    n, kept, bad = _scaled(gv, gw, g, m, bv, bw, c[_V_MIN], c[_V_MAX], c[_W_MIN], c[_W_MAX],
                           ax, ay, b, pos)
    if bad:
        return False
    cv = 0.5 * (c[_V_MIN] + c[_V_MAX])
    zx, zy, ok, i, j = _solve_rows(bv * cv, bw * 0.0, ax, ay, b, n, c[_TOL], viol)
    if not ok:
        return False
    av = _pmin(_pmax(zx / bv, c[_V_MIN]), c[_V_MAX])
    aw = _pmin(_pmax(zy / bw, c[_W_MIN]), c[_W_MAX])
    a0, a1_, a2_, a3 = _grow(c, gv, gw, g, m, av, aw, coef, slack, load)
    b0, b1_, b2_, b3 = _grow(c, gv, gw, g, m, 0.5 * (a0 + a1_), 0.5 * (a2_ + a3), coef,
                             slack, load)
    area1 = (a1_ - a0) * bv * ((a3 - a2_) * bw)
    area2 = (b1_ - b0) * bv * ((b3 - b2_) * bw)
    if area2 > area1:
        out[0], out[1], out[2], out[3] = b0, b1_, b2_, b3
    else:
        out[0], out[1], out[2], out[3] = a0, a1_, a2_, a3
    return True


@njit(cache=True)
def box_kernel(c, coefs, changed, extra_g, group, gvT, gwT, hT, validT, cand_v, cand_w,
               cand_bonus, lo, hi, empty, stage):  # pragma: no cover
    """``bounds.box_from_rows`` for N robots; same arguments as :func:`resolve_kernel`.

    :param lo: ``(N, 2)`` output ``(v_lo, omega_lo)``
    :param hi: ``(N, 2)`` output ``(v_hi, omega_hi)``
    :param empty: ``(N,)`` output
    :param stage: ``(N,)`` output
    """
    M, N = gvT.shape
    S = changed.shape[0]
    gv, gw, h, g, grp, col, ax, ay, b, viol, pos = _scratch(M)
    coef = np.empty((M, 4))
    slack = np.empty(M)
    load = np.empty(M)
    out = np.empty(4)
    for n in range(N):
        m, present = _gather(n, gvT, gwT, hT, validT, group, gv, gw, h, grp, col)
        _rhs(coefs, 0, h, grp, extra_g, m, g)
        st = -1  # the first feasible stage (0: configured gamma), -1: none (backup)
        for s in range(S + 1):
            if s > 0:
                if not _softens(changed, s - 1, present):
                    continue
                _rhs(coefs, s, h, grp, extra_g, m, g)
            if _box_for(c, gv, gw, g, m, ax, ay, b, pos, viol, coef, slack, load, out):
                st = s
                break
        if st >= 0:
            lo[n, 0] = out[0]
            hi[n, 0] = out[1]
            lo[n, 1] = out[2]
            hi[n, 1] = out[3]
            empty[n] = False
            stage[n] = st
        else:
            _rhs(coefs, S + 1, h, grp, extra_g, m, g)
            bv, bw, arg = _backup(c, gv, gw, g, grp, m, cand_v, cand_w, cand_bonus)
            lo[n, 0] = bv
            hi[n, 0] = bv
            lo[n, 1] = bw
            hi[n, 1] = bw
            empty[n] = True
            stage[n] = -1
