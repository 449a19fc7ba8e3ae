"""Safe action box for the CBF-Beta policy: ``[v_lo, v_hi] x [w_lo, w_hi]`` inside the safe set.

A box satisfies ``a . u <= b`` iff ``sum_j max(a_j lo_j, a_j hi_j) <= b``. Writing the box as
an anchor ``u_a`` (a feasible point) plus four nonnegative extents ``delta = (w+, w-, v+, v-)``,
every half-plane becomes *linear* in ``delta``:
``sum_dir c_i,dir * delta_dir <= s_i`` with ``s_i = b_i - a_i . u_a`` and
``c_i,v+ = max(a_iv, 0)``, ``c_i,v- = max(-a_iv, 0)`` (same for omega). So:

1. anchor: project the centre of the limits onto the safe set (exact QP, range-normalised);
2. grow the four extents proportionally to the room left to the limits (largest common
   factor), then greedily extend omega+, omega-, v+, v- in turn as far as every row allows;
3. re-anchor at the centre of that box and grow again; keep the larger (normalised) area.

Every point of the result satisfies every half-plane (up to the solver tolerance of the
anchor, 1e-9). The half-planes are those of the resolver's first feasible stage (configured
gamma, then the relaxed stages); if none is feasible the box is empty and degrades to the
backup command: ``lo = hi = backup``, ``empty = True``. :func:`box_one` is the kernel of one
robot, shared by :func:`safe_pe_cbf.bounds.safe_action_box`, the resolver and the batched
filter.
"""

from __future__ import annotations

from safe_pe_cbf import jit
from safe_pe_cbf.jit import njit
from safe_pe_cbf.kernels.actuated import actuated_rows
from safe_pe_cbf.kernels.backup import select_backup
from safe_pe_cbf.kernels.qp import scale_rows, scratch, solve_rows
from safe_pe_cbf.kernels.rows import (TOL, V_MAX, V_MIN, W_MAX, W_MIN, fill_rows,
                                      present_groups, rhs, row_buffers, softens)

__all__ = ["box_one", "box_pose", "box_pose_act", "BOX_EPS"]

#: slack kept back from every half-plane so that rounding never crosses it
BOX_EPS = 1e-12


@njit(cache=True, inline="always")
def _pmax(a, b):  # pragma: no cover - compiled
    return b if b > a else a  # Python's max(a, b): the first unless the second is larger


@njit(cache=True, inline="always")
def _pmin(a, b):  # pragma: no cover - compiled
    return b if b < a else a


@njit(cache=True, inline="always")
def _cf(gv, gw, i, dd):  # pragma: no cover - compiled
    """Coefficient of extent ``dd`` (omega+, omega-, v+, v-) in row ``i``."""
    if dd == 0:
        return _pmax(gw[i], 0.0)
    if dd == 1:
        return _pmax(-gw[i], 0.0)
    if dd == 2:
        return _pmax(gv[i], 0.0)
    return _pmax(-gv[i], 0.0)


@njit(cache=True)
def _grow(c, gv, gw, g, m, av, aw, slack, load, rd):  # pragma: no cover - compiled
    """Extents around the anchor ``(av, aw)``: ``(lo_v, hi_v, lo_w, hi_w)``; ``rd`` holds
    the room (0-3) and the extents (4-7), ``slack``/``load`` one entry per row."""
    rd[0] = _pmax(c[W_MAX] - aw, 0.0)
    rd[1] = _pmax(aw - c[W_MIN], 0.0)
    rd[2] = _pmax(c[V_MAX] - av, 0.0)
    rd[3] = _pmax(av - c[V_MIN], 0.0)
    t = 1.0
    for i in range(m):
        slack[i] = _pmax(g[i] - (gv[i] * av + gw[i] * aw) - BOX_EPS, 0.0)
        full = (_cf(gv, gw, i, 0) * rd[0] + _cf(gv, gw, i, 1) * rd[1]
                + _cf(gv, gw, i, 2) * rd[2] + _cf(gv, gw, i, 3) * rd[3])
        if full > 0.0:
            t = _pmin(t, slack[i] / full)
    for dd in range(4):
        rd[4 + dd] = t * rd[dd]
    for i in range(m):
        load[i] = (_cf(gv, gw, i, 0) * rd[4] + _cf(gv, gw, i, 1) * rd[5]
                   + _cf(gv, gw, i, 2) * rd[6] + _cf(gv, gw, i, 3) * rd[7])
    for dd in range(4):
        extra = rd[dd] - rd[4 + dd]
        for i in range(m):
            cf = _cf(gv, gw, i, dd)
            if cf > 0.0:
                extra = _pmin(extra, (slack[i] - load[i]) / cf)
        if extra > 0.0:
            rd[4 + dd] = rd[4 + dd] + extra
            for i in range(m):
                load[i] = load[i] + _cf(gv, gw, i, dd) * extra
    return (_pmax(av - rd[7], c[V_MIN]), _pmin(av + rd[6], c[V_MAX]),
            _pmax(aw - rd[5], c[W_MIN]), _pmin(aw + rd[4], c[W_MAX]))


@njit(cache=True, inline="always")  # inlined in every loop: a call with
# a dozen array arguments costs more than a robot's nominal path
def _box_for(c, gv, gw, g, m, ax, ay, b, pos, viol, slack, load, rd):  # pragma: no cover
    """Box inside the rows with right-hand sides ``g``: ``(found, lo_v, hi_v, lo_w, hi_w)``."""
    bv = 1.0 / (c[V_MAX] - c[V_MIN])
    bw = 1.0 / (c[W_MAX] - c[W_MIN])
    n, bad = scale_rows(gv, gw, g, m, bv, bw, c[V_MIN], c[V_MAX], c[W_MIN], c[W_MAX], ax, ay,
                        b, pos)
    if bad:
        return False, 0.0, 0.0, 0.0, 0.0
    cv = 0.5 * (c[V_MIN] + c[V_MAX])
    zx, zy, ok, i, j = solve_rows(bv * cv, bw * 0.0, ax, ay, b, n, c[TOL], viol)
    if not ok:
        return False, 0.0, 0.0, 0.0, 0.0
    av = _pmin(_pmax(zx / bv, c[V_MIN]), c[V_MAX])
    aw = _pmin(_pmax(zy / bw, c[W_MIN]), c[W_MAX])
    a0, a1, a2, a3 = _grow(c, gv, gw, g, m, av, aw, slack, load, rd)
    b0, b1, b2, b3 = _grow(c, gv, gw, g, m, 0.5 * (a0 + a1), 0.5 * (a2 + a3), slack, load, rd)
    if (b1 - b0) * bv * ((b3 - b2) * bw) > (a1 - a0) * bv * ((a3 - a2) * bw):
        return True, b0, b1, b2, b3
    return True, a0, a1, a2, a3


@njit(cache=True, inline="always")  # inlined in every loop: a call with
# a dozen array arguments costs more than a robot's nominal path
def box_one(c, tab, cand, gv, gw, h, col, m, g, ax, ay, b, pos, viol, slack, load, rd
            ):  # pragma: no cover - compiled
    """Box of one robot from its rows: ``(v_lo, v_hi, w_lo, w_hi, empty, stage)``.

    :param c: packed constants; ``tab``, ``cand``: see :class:`~safe_pe_cbf.constraints.Consts`
    :param gv: rows (:func:`~safe_pe_cbf.kernels.rows.fill_rows`), also ``gw, h, col, m``
    :param g: scratch (``m``); ``ax, ay, b, pos, viol``: scratch (``m + 4``); ``slack, load``:
        scratch (``m``); ``rd``: scratch (8)
    """
    rhs(c, tab, 0, h, col, m, g)
    present = present_groups(col, m)
    for s in range(len(tab) - 1):
        if s > 0:
            if not softens(tab, s, present):
                continue
            rhs(c, tab, s, h, col, m, g)
        ok, lo_v, hi_v, lo_w, hi_w = _box_for(c, gv, gw, g, m, ax, ay, b, pos, viol, slack,
                                              load, rd)
        if ok:
            return lo_v, hi_v, lo_w, hi_w, False, s
    rhs(c, tab, len(tab) - 1, h, col, m, g)
    bv, bw, _slack, _arg = select_backup(cand, gv, gw, g, col, m)
    return bv, bv, bw, bw, True, -1


@njit(cache=True)
def box_pose(c, tab, cand, x, y, th, has_opp, ox, oy, oth, obs, mask
             ):  # pragma: no cover - compiled
    """:func:`box_one` at a pose (rows built here)."""
    M = len(mask) + 5
    gv, gw, h, g, col = row_buffers(M)
    slack, load = jit.floats(M), jit.floats(M)
    ax, ay, b, viol, pos = scratch(M)
    m = fill_rows(c, x, y, th, has_opp, ox, oy, oth, obs, mask, gv, gw, h, col)
    return box_one(c, tab, cand, gv, gw, h, col, m, g, ax, ay, b, pos, viol, slack, load,
                   jit.floats(8))


@njit(cache=True)
def box_pose_act(c, tab, cand, x, y, th, has_opp, ox, oy, oth, obs, mask, v0, w0, pend, ov,
                 ow):  # pragma: no cover - compiled
    """:func:`box_one` under the actuator model (rows of
    :func:`~safe_pe_cbf.kernels.actuated.actuated_rows`; ``cand`` the full brake)."""
    M = len(mask) + 5
    gv, gw, h, g, col = row_buffers(M)
    slack, load = jit.floats(M), jit.floats(M)
    ax, ay, b, viol, pos = scratch(M)
    cl = jit.floats(len(c) + M)  # constants, then one right-hand-side offset per row
    m = actuated_rows(c, cl, x, y, th, v0, w0, pend, has_opp, ox, oy, oth, ov, ow, obs, mask,
                      gv, gw, h, col)
    return box_one(cl, tab, cand, gv, gw, h, col, m, g, ax, ay, b, pos, viol, slack, load,
                   jit.floats(8))
