"""The rows of one robot: sampled-data VCP-CBF half-planes, linear in ``u = (v, omega)``.

Each barrier is a distance of the virtual control point (VCP) ``p`` (docs/cbf.md):

* ``obstacle[k]``: a barrier type of :mod:`safe_pe_cbf.barriers` (circles:
  ``h = |p - c_k| - (R_k + r + d + margin)``; boxes: the signed distance to the rectangle)
* ``wall_x_min`` ...: ``h = p_x - (x_min + r + d + margin)`` (and the three others)
* ``collision``: ``h = |p - q| - (r + r_o + d + d_o + margin)``, ``q`` the opponent's VCP

All are 1-Lipschitz in ``p`` and convex, so along the true (arc) VCP path under a command
held for ``dt``, ``h(t) >= h0 + t a(u) - c t^2`` with ``a(u) = grad h . J(theta) u`` and
``c = omega_max * s_max / 2``. Requiring ``h(dt) >= (1 - gamma) h0`` of that concave lower
bound keeps ``h >= 0`` on the whole interval; it is the half-plane

    ``-a(u) <= share * gamma * h0 / dt - c dt [- s_opp]``,   i.e. ``G u <= g``.

:func:`fill_rows` is the one row builder: rows
``gv[i] v + gw[i] omega <= coef(group, gamma) h[i] - extra(group)`` of the rows present, in
column order (``col[i]``: 0 collision, 1-4 the walls, ``5 + k`` obstacle ``k``);
:func:`rhs` their right-hand sides at a stage, :func:`certified` the physical check of a
command.
"""

from __future__ import annotations

import math

from safe_pe_cbf import jit
from safe_pe_cbf.barriers import KIND, disk_row, obstacle_row
from safe_pe_cbf.jit import njit

__all__ = ["brake_path", "bonus", "group_of", "row_buffers", "fill_rows", "rhs", "certified",
           "present_groups", "softens", "argmin_h", "CONST_NAMES", "ROW_EXTRA"]

GROUP_COLLISION, GROUP_ARENA, GROUP_OBSTACLES = 0, 1, 2
#: layout of the packed constants ``c`` of every kernel (packed by
#: :class:`safe_pe_cbf.constraints.Consts`)
CONST_NAMES = ("d", "opp_d", "pair_r", "off", "x_min", "x_max", "y_min", "y_max", "v_min",
               "v_max", "w_min", "w_max", "wv", "ww", "tol", "c", "dt", "max_abs",
               "physical_tol", "pair_extra", "static_extra", "gamma",
               # actuation (docs/actuation.md): limits, latency, the opponent's bounds
               "lin_acc", "lin_dec", "ang_acc", "latency", "shared", "opp_speed",
               "opp_commit", "share", "opp_lin_acc", "opp_lin_dec", "opp_ang_acc",
               "opp_latency", "opp_v_max", "opp_w_max",
               # per call (a robot's copy of these constants): its held velocity before the
               # command takes effect
               "v_prev", "w_prev", "x_pred", "y_pred", "th_pred", "opp_qx", "opp_qy")
(D, OPP_D, PAIR_R, OFF, X_MIN, X_MAX, Y_MIN, Y_MAX, V_MIN, V_MAX, W_MIN, W_MAX, WV, WW, TOL,
 C, DT, MAX_ABS_I, PHYSICAL_TOL_I, PAIR_EXTRA, STATIC_EXTRA, GAMMA, LIN_ACC, LIN_DEC, ANG_ACC,
 LATENCY, SHARED, OPP_SPEED, OPP_COMMIT, SHARE, OPP_LIN_ACC, OPP_LIN_DEC, OPP_ANG_ACC,
 OPP_LATENCY, OPP_V_MAX, OPP_W_MAX, V_PREV, W_PREV, X_PRED, Y_PRED, TH_PRED, OPP_QX,
 OPP_QY) = range(len(CONST_NAMES))
#: where a robot's copy of the constants under the actuator model continues with one
#: right-hand-side offset per row (``extra`` of row ``i`` at ``ROW_EXTRA + i``, see :func:`rhs`)
ROW_EXTRA = len(CONST_NAMES)


@njit(cache=True, inline="always")
def brake_path(x, delta, dt):  # pragma: no cover - compiled
    """``dt * sum_{j >= 1} max(x - j delta, 0)``: the distance a speed ``x >= 0`` still
    covers in the periods after this one when each period takes ``delta`` off it (the full
    brake of the actuator model; 0 when ``delta == 0``: it stops at once).

    :param x: the speed held now (>= 0)
    :param delta: the speed taken off per period (deceleration limit * dt)
    :param dt: the period [s]
    """
    if delta <= 0.0 or x <= delta:
        return 0.0
    n = math.floor(x / delta)
    return dt * (n * x - delta * n * (n + 1.0) * 0.5)


@njit(cache=True, inline="always")
def bonus(c, v, w):  # pragma: no cover - compiled
    """Certificate bonus of the command ``(v, w)``: ``(c - c(u)) dt >= 0``, the row bound
    using the worst case ``c`` while the arc of this command deviates from the straight line by
    at most ``c(u) t^2``, ``c(u) = |omega| |J u| / 2``."""
    dw = c[D] * w
    return (c[C] - 0.5 * abs(w) * math.sqrt(v * v + dw * dw)) * c[DT]


@njit(cache=True, inline="always")
def group_of(col):  # pragma: no cover - compiled
    """Constraint group of column ``col`` (collision, arena, obstacles)."""
    return GROUP_COLLISION if col == 0 else (GROUP_ARENA if col < 5 else GROUP_OBSTACLES)


@njit(cache=True, inline="always")
def row_buffers(M):  # pragma: no cover - compiled
    """``(gv, gw, h, g, col)``: the rows of one robot (:func:`fill_rows`) and their
    right-hand sides (:func:`rhs`), room for ``M = 5 + K``."""
    return jit.floats(M), jit.floats(M), jit.floats(M), jit.floats(M), jit.ints(M)


@njit(cache=True, inline="always")  # inlined in every loop: a call with
# a dozen array arguments costs more than a robot's nominal path
def fill_rows(c, x, y, th, has_opp, ox, oy, oth, obs, mask, gv, gw, h, col):  # pragma: no cover
    """Rows of one robot into ``gv, gw, h, col`` (length >= 5 + K); returns their number.

    Order: collision (if ``has_opp``), the four walls, the obstacles where ``mask``.

    :param c: packed constants (:meth:`safe_pe_cbf.constraints.Consts.packed`)
    :param x: pose x [m]
    :param y: pose y [m]
    :param th: heading [rad]
    :param has_opp: whether there is an opponent
    :param ox: opponent x (ignored without one)
    :param oy: opponent y
    :param oth: opponent heading
    :param obs: ``(K, 3)`` circles or ``(K, 6)`` rows with their kind (see
        :mod:`safe_pe_cbf.barriers`)
    :param mask: ``(K,)`` which obstacles exist
    """
    d = c[D]
    cth = math.cos(th)
    sth = math.sin(th)
    px = x + d * cth
    py = y + d * sth
    m = 0
    if has_opp:
        qx = ox + c[OPP_D] * math.cos(oth)
        qy = oy + c[OPP_D] * math.sin(oth)
        gv[0], gw[0], h[0] = disk_row(px - qx, py - qy, c[PAIR_R], cth, sth, d)
        col[0] = 0
        m = 1
    off = c[OFF]
    dsth = d * sth
    dcth = d * cth
    gv[m], gw[m], h[m], col[m] = -cth, dsth, px - (c[X_MIN] + off), 1
    gv[m + 1], gw[m + 1], h[m + 1], col[m + 1] = cth, -dsth, (c[X_MAX] - off) - px, 2
    gv[m + 2], gw[m + 2], h[m + 2], col[m + 2] = -sth, -dcth, py - (c[Y_MIN] + off), 3
    gv[m + 3], gw[m + 3], h[m + 3], col[m + 3] = sth, dcth, (c[Y_MAX] - off) - py, 4
    m += 4
    wide = len(mask) > 0 and len(obs[0]) > KIND  # (K, 6) rows carry their kind
    for k in range(len(mask)):
        if mask[k]:
            o = obs[k]
            gv[m], gw[m], h[m] = obstacle_row(int(o[KIND]) if wide else 0, o, px, py, cth,
                                              sth, d, off)
            col[m] = 5 + k
            m += 1
    return m


@njit(cache=True, inline="always")
def rhs(c, tab, s, h, col, m, g):  # pragma: no cover - compiled
    """``g[i] = coef(group, gamma of stage s) h[i] - extra`` for the ``m`` rows: ``extra``
    per group (``c[PAIR_EXTRA]``, ``c[STATIC_EXTRA]``), or per row where ``c`` is longer than
    :data:`CONST_NAMES` (a robot's constants under the actuator model: ``c[ROW_EXTRA + i]``)."""
    t = tab[s]
    if len(c) > ROW_EXTRA:
        for i in range(m):
            j = col[i]
            g[i] = (t[GROUP_COLLISION if j == 0 else (GROUP_ARENA if j < 5 else GROUP_OBSTACLES)]
                    * h[i] - c[ROW_EXTRA + i])
        return
    for i in range(m):  # group_of written out: a call per row costs in plain Python
        j = col[i]
        if j == 0:
            g[i] = t[GROUP_COLLISION] * h[i] - c[PAIR_EXTRA]
        else:
            g[i] = t[GROUP_ARENA if j < 5 else GROUP_OBSTACLES] * h[i] - c[STATIC_EXTRA]


@njit(cache=True, inline="always")
def certified(c, gv, gw, g, m, v, w, tol_m):  # pragma: no cover - compiled
    """Whether ``(v, w)`` is within the limits and, with its certificate bonus, violates no
    row by more than ``tol_m`` metres over the control period (``slack * dt >= -tol_m``)."""
    if not (c[V_MIN] <= v <= c[V_MAX] and c[W_MIN] <= w <= c[W_MAX]):
        return False
    extra = bonus(c, v, w)
    lim = -tol_m / c[DT]
    for i in range(m):
        if (g[i] + extra) - (gv[i] * v + gw[i] * w) < lim:
            return False
    return True


@njit(cache=True, inline="always")
def present_groups(col, m):  # pragma: no cover - compiled
    """Bit mask of the groups (collision, arena, obstacles) the ``m`` rows belong to."""
    present = 0
    for i in range(m):
        j = col[i]
        present |= 1 if j == 0 else (2 if j < 5 else 4)
    return present


@njit(cache=True, inline="always")
def softens(tab, s, present):  # pragma: no cover - compiled
    """Whether stage ``s`` (a row of ``tab``) softens a group present in ``present``; a
    stage that softens nothing present is skipped."""
    for q in range(3):
        if tab[s][q] != tab[0][q] and (present >> q) & 1:
            return True
    return False


@njit(cache=True, inline="always")
def argmin_h(h, m):  # pragma: no cover - compiled
    """Index of the smallest of the ``m`` barrier values (first on ties)."""
    best = 0
    for i in range(1, m):
        if h[i] < h[best]:
            best = i
    return best
