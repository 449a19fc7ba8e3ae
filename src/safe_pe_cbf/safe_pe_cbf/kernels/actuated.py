"""The filter's rows under the actuator model: ramps, braking distance, latency.

docs/actuation.md derives them; in short, for a robot whose velocity ramps at the limits of
:class:`~safe_pe_cbf.actuator.ActuatorLimits` and whose commands take effect
``latency_steps`` periods late:

* the state is predicted through the latency with the commands already sent
  (:func:`~safe_pe_cbf.actuator.ramp_one`, exact arcs): the rows are those of the predicted
  pose, and the command decides the velocity held in the period after the latency;
* that velocity must be reachable in one period (the limits of the QP become the reachable
  box of the ramp from the held velocity ``(v_prev, w_prev)``);
* a wall or obstacle barrier ``h`` (convex) becomes ``H = h - S_n``, ``S_n`` how far the full
  brake (:func:`~safe_pe_cbf.kernels.rows.brake_path`) can move the VCP *towards* it, given
  the headings the brake can take; the row asks ``h(next) - S_n(u) >= (1 - gamma) max(H, 0)``
  with ``S_n(u)`` over-estimated by its chord over the reachable box (convex): one
  half-plane per row, like the ideal rows, each with its own right-hand-side offset;
* the robot pair keeps the path length ``S`` of the brake: "worst_case" grows the opponent by
  its reach over the latency, "shared" keeps the split of docs/cbf.md with the opponent's
  braking bound, at the predicted instant when both latencies are equal, else a commitment
  row at the sampled state.

:func:`actuated_rows` writes a robot's own copy ``cl`` of the packed constants (reachable
limits, held velocity) followed by one right-hand-side offset per row
(:data:`~safe_pe_cbf.kernels.rows.ROW_EXTRA`), and its rows; the resolver tiers
(:func:`~safe_pe_cbf.kernels.tiers.resolve_one`) and the safe box
(:func:`~safe_pe_cbf.kernels.box.box_one`) then run unchanged on ``cl``, with the full brake
(command ``(0, 0)``) as the only backup candidate. With ideal actuation none of this runs
(the ideal kernels are untouched, hence bitwise the same results as before).
"""

from __future__ import annotations

import math

from safe_pe_cbf.actuator import ramp_axis, ramp_one
from safe_pe_cbf.jit import njit
from safe_pe_cbf.kernels.rows import (ANG_ACC, C, D, DT, LIN_ACC, LIN_DEC, OPP_ANG_ACC,
                                      OPP_COMMIT, OPP_D, OPP_LATENCY, OPP_LIN_ACC, OPP_LIN_DEC,
                                      OPP_QX, OPP_QY, OPP_SPEED, OPP_V_MAX, OPP_W_MAX, PAIR_R,
                                      ROW_EXTRA, SHARED, TH_PRED, V_MAX, V_MIN, V_PREV, W_MAX,
                                      W_MIN, W_PREV, X_PRED, Y_PRED, bonus, brake_path,
                                      certified, fill_rows, rhs)

__all__ = ["advance", "actuated_rows", "nominal_ok", "opponent_commitment_from",
           "opponent_reach", "evade_backup", "CHORD_EPS"]

#: added to every chord's intercept [m] so that rounding never makes it an under-estimate
CHORD_EPS = 1e-12
#: horizon [periods] over which the worst-case backup looks for the way away (a heuristic:
#: safety against walls and obstacles comes from the certificate of the one period)
EVADE_PERIODS = 10


@njit(cache=True, inline="always")
def advance(x, y, th, v, w, dt):  # pragma: no cover - compiled
    """Pose after holding ``(v, w)`` for ``dt`` (exact unicycle arc).

    :param x: x [m]; ``y``: y [m]; ``th``: heading [rad]
    :param v: linear speed [m/s]; ``w``: angular speed [rad/s]
    :param dt: duration [s]
    """
    a = 0.5 * w * dt
    f = 1.0 if a == 0.0 else math.sin(a) / a  # chord = v dt sin(a)/a along th + a
    s = v * dt * f
    hm = th + a
    return x + s * math.cos(hm), y + s * math.sin(hm), th + 2.0 * a


@njit(cache=True, inline="always")
def _chord(lo, hi, delta, dt, extra):  # pragma: no cover - compiled
    """``(slope, intercept)`` of a line above ``f(x) = brake_path(|x|) + extra |x|`` on
    ``[lo, hi]`` (the chord: ``f`` is convex)."""
    flo = brake_path(abs(lo), delta, dt) + extra * abs(lo)
    fhi = brake_path(abs(hi), delta, dt) + extra * abs(hi)
    a = (fhi - flo) / (hi - lo) if hi > lo else 0.0
    return a, flo - a * lo + CHORD_EPS


@njit(cache=True, inline="always")
def _grow(x, acc, dt, top):  # pragma: no cover - compiled
    """Largest speed one period after ``x`` when it grows at most ``acc`` (0: at once)."""
    if acc == 0.0:
        return max(x, top)
    return max(x, min(x + acc * dt, top))


@njit(cache=True, inline="always")
def opponent_commitment_from(c, ov, ow):  # pragma: no cover - compiled
    """Bound on the path the opponent's VCP still travels if it brakes from now on, given its
    held velocity ``(ov, ow)`` (NaN: unknown, then the bound at its speed limits): its
    latency with speeds growing at its acceleration limits, then its full brake."""
    return opponent_reach(c, ov, ow)[1]


@njit(cache=True, inline="always")
def opponent_reach(c, ov, ow):  # pragma: no cover - compiled
    """``(latency path, commitment)``: bounds on the path the opponent's VCP travels through
    its latency, and on the whole path if it brakes from now on
    (:func:`opponent_commitment_from`)."""
    if not (ov == ov and ow == ow):
        return c[OPP_LATENCY] * c[DT] * c[OPP_SPEED], c[OPP_COMMIT]
    dt = c[DT]
    do = c[OPP_D]
    v = abs(ov)
    w = abs(ow)
    lam = 0.0
    for _ in range(int(c[OPP_LATENCY])):
        v = _grow(v, c[OPP_LIN_ACC], dt, c[OPP_V_MAX])
        w = _grow(w, c[OPP_ANG_ACC], dt, c[OPP_W_MAX])
        lam += dt * math.sqrt(v * v + do * do * w * w)
    return lam, (lam + brake_path(v, c[OPP_LIN_DEC] * dt, dt)
                 + do * brake_path(w, c[OPP_ANG_ACC] * dt, dt))


@njit(cache=True, inline="always")
def _cone(lo, hi):  # pragma: no cover - compiled
    """The heading interval ``[lo, hi]`` (relative to the predicted heading) as ``(cos, sin)``
    of its middle and of its half-width, and whether it covers every direction."""
    mid = 0.5 * (lo + hi)
    half = 0.5 * (hi - lo)
    return math.cos(mid), math.sin(mid), math.cos(half), math.sin(half), half >= math.pi


@njit(cache=True, inline="always")
def _approach(a, b, cm, sm, ch, sh, full):  # pragma: no cover - compiled
    """``max(0, max a cos(t) + b sin(t))`` over the interval of :func:`_cone`: the largest
    rate at which a unit speed along a heading in the interval lowers a barrier whose row is
    ``(gv, gw) = (a, d b)`` (``a = -grad h . e(theta)``, ``b = -grad h . e_perp(theta)``)."""
    r = math.sqrt(a * a + b * b)
    if full:
        return r
    cosang = a * cm + b * sm  # r cos(angle between (a, b) and the middle)
    if cosang >= r * ch:  # the direction of steepest approach is inside the interval
        return r
    return max(0.0, cosang * ch + abs(b * cm - a * sm) * sh)  # r cos(angle - half)


@njit(cache=True, inline="always")
def _turn(w, dw, dt, hold):  # pragma: no cover - compiled
    """Heading change of the full brake after a period in which ``w`` was held (plus that
    period's own ``dt w`` if ``hold``)."""
    return hold * dt * w + (brake_path(w, dw, dt) if w >= 0.0 else -brake_path(-w, dw, dt))


@njit(cache=True, inline="always")
def _clamp(x, lo, hi):  # pragma: no cover - compiled
    return lo if x < lo else (hi if x > hi else x)


@njit(cache=True, inline="always")
def actuated_rows(c, cl, x, y, th, v0, w0, pend, has_opp, ox, oy, oth, ov, ow, obs, mask, gv,
                  gw, h, col):  # pragma: no cover - compiled
    """Rows of one robot under the actuator model into ``gv, gw, h, col``; returns their
    number and fills ``cl`` (the robot's constants for this call: reachable limits, the
    right-hand-side offsets, ``v_prev, w_prev``).

    :param c: packed constants (:meth:`~safe_pe_cbf.constraints.Consts.packed`)
    :param cl: output, ``len(c) + len(mask) + 5`` long
    :param x: pose at the sampling instant, x [m] (``y``, ``th`` likewise)
    :param v0: velocity held in the period that ends at the sampling instant [m/s]
    :param w0: its angular part [rad/s]
    :param pend: ``(L, 2)`` commands sent but not yet in effect, oldest first
        (``L = latency_steps``)
    :param has_opp: whether there is an opponent (``ox, oy, oth`` its pose at the instant)
    :param ov: the opponent's held velocity (``ow`` its angular part), NaN if unknown
        ("shared" mode: bounds how far it travels before it stops)
    :param obs: obstacles, ``mask``: which exist (as :func:`fill_rows`)
    """
    for i in range(len(c)):
        cl[i] = c[i]
    dt = c[DT]
    d = c[D]
    la = c[LIN_ACC]
    ld = c[LIN_DEC]
    wa = c[ANG_ACC]
    v = _clamp(v0, c[V_MIN], c[V_MAX])  # a base beyond its limits breaks the model anyway
    w = _clamp(w0, c[W_MIN], c[W_MAX])
    xp, yp, thp = x, y, th
    lam = 0.0  # VCP path through the latency
    lam1 = 0.0  # ... in the first period
    x1, y1, th1 = x, y, th  # pose after the first period
    for j in range(len(pend)):
        v, w = ramp_one(v, w, _clamp(pend[j][0], c[V_MIN], c[V_MAX]),
                        _clamp(pend[j][1], c[W_MIN], c[W_MAX]), dt, la, ld, wa)
        xp, yp, thp = advance(xp, yp, thp, v, w, dt)
        step = dt * math.sqrt(v * v + d * d * w * w)
        lam += step
        if j == 0:
            x1, y1, th1, lam1 = xp, yp, thp, step
    cl[V_PREV] = v
    cl[W_PREV] = w
    cl[X_PRED] = xp
    cl[Y_PRED] = yp
    cl[TH_PRED] = thp
    cl[OPP_QX] = ox + c[OPP_D] * math.cos(oth)
    cl[OPP_QY] = oy + c[OPP_D] * math.sin(oth)
    vlo = ramp_axis(v, c[V_MIN], dt, la, ld)
    vhi = ramp_axis(v, c[V_MAX], dt, la, ld)
    wlo = ramp_axis(w, c[W_MIN], dt, wa, wa)
    whi = ramp_axis(w, c[W_MAX], dt, wa, wa)
    cl[V_MIN] = vlo
    cl[V_MAX] = vhi
    cl[W_MIN] = wlo
    cl[W_MAX] = whi
    dv = ld * dt
    dw = wa * dt
    bv0 = brake_path(abs(v), dv, dt)  # path of the brake from period tau on (linear part)
    bw0 = brake_path(abs(w), dw, dt)  # ... and its heading change [rad]
    s0 = bv0 + d * bw0
    av, bv = _chord(vlo, vhi, dv, dt, 0.0)
    aw, bw = _chord(wlo, whi, dw, dt, 0.0)
    blo = brake_path(abs(vlo), dv, dt)
    bhi = brake_path(abs(vhi), dv, dt)
    # headings of the brake from tau (held w) and of the brake after any command of the box
    t0 = _turn(w, dw, dt, 0.0)
    pm, ps, pc, pn, pfull = _cone(min(0.0, t0), max(0.0, t0))
    # (the heading at the start of that brake, th + dt w, and at its end both grow with w)
    qm, qs, qc, qn, qfull = _cone(min(dt * wlo, _turn(wlo, dw, dt, 1.0)),
                                  max(dt * whi, _turn(whi, dw, dt, 1.0)))
    # the arc-deviation coefficient of the reachable box (docs/cbf.md §3 with its limits)
    wr = max(abs(wlo), abs(whi))
    vr = max(abs(vlo), abs(vhi))
    cr = 0.5 * wr * math.sqrt(vr * vr + d * d * wr * wr)
    cl[C] = cr
    m = fill_rows(cl, xp, yp, thp, has_opp, ox, oy, oth, obs, mask, gv, gw, h, col)
    crdt = cr * dt
    L = len(pend)
    shared = c[SHARED] == 1.0
    lam2, commit2 = opponent_reach(c, ov, ow) if has_opp else (0.0, 0.0)
    pv, pvb, pw, pwb = av, bv, aw, bw  # the pair row's chords
    if has_opp and shared and L > 0 and c[OPP_LATENCY] == L:
        # at the predicted instant (§4): the normal towards the opponent's predicted VCP is
        # within eps of the one towards its sampled VCP; the row pays eps |J u| dt for it
        dist = h[0] + c[PAIR_R]  # VCP distance, predicted pose to the sampled opponent
        eps = min(2.0, 2.0 * lam2 / dist) if dist > 0.0 else 2.0
        pv, pvb = _chord(vlo, vhi, dv, dt, eps * dt)
        pw, pwb = _chord(wlo, whi, dw, dt, eps * dt)
    for i in range(m):
        h0 = h[i]
        if col[i] == 0:  # the pair: the direction-blind bound (docs/actuation.md §4)
            gv[i] += pv / dt
            gw[i] += d * pw / dt
            h[i] = h0 - s0
            cl[ROW_EXTRA + i] = (crdt + (0.0 if shared else c[OPP_SPEED])
                                 - (s0 - (pvb + d * pwb)) / dt)
            continue
        # walls and obstacles: the brake's approach along the headings it can take (§3)
        a = gv[i]
        b = gw[i] / d
        r = math.sqrt(a * a + b * b)
        kp = _approach(a, b, pm, ps, pc, pn, pfull) if v >= 0.0 else _approach(
            -a, -b, pm, ps, pc, pn, pfull)
        fwd = _approach(a, b, qm, qs, qc, qn, qfull)
        rev = _approach(-a, -b, qm, qs, qc, qn, qfull)
        flo = (rev if vlo < 0.0 else fwd) * blo
        fhi = (rev if vhi < 0.0 else fwd) * bhi
        sl = (fhi - flo) / (vhi - vlo) if vhi > vlo else 0.0
        gv[i] += sl / dt
        gw[i] += r * d * aw / dt
        h[i] = max(h0 - (kp * bv0 + r * d * bw0), 0.0)
        cl[ROW_EXTRA + i] = crdt - (h0 - h[i] - (flo - sl * vlo + CHORD_EPS + r * d * bw)) / dt
    if has_opp:
        if not shared:  # worst case: the opponent's reach over the latency
            h[0] -= L * dt * c[OPP_SPEED]
        elif L == 0 or c[OPP_LATENCY] == L:  # shared: the opponent brakes within its bound
            h[0] = max(h[0] - commit2, 0.0)
        else:  # shared, latencies differ: the commitment row at the sampled state
            px = x + d * math.cos(th)
            py = y + d * math.sin(th)
            qx = ox + c[OPP_D] * math.cos(oth)
            qy = oy + c[OPP_D] * math.sin(oth)
            ex = px - qx
            ey = py - qy
            dist = math.sqrt(ex * ex + ey * ey)
            nx, ny = (ex / dist, ey / dist) if dist > 0.0 else (1.0, 0.0)
            k1 = (nx * (x1 + d * math.cos(th1) - px) + ny * (y1 + d * math.sin(th1) - py)
                  + lam1)
            fv, gvb = _chord(vlo, vhi, dv, dt, dt)
            fw, gwb = _chord(wlo, whi, dw, dt, dt)
            gv[0] = fv / dt
            gw[0] = d * fw / dt
            h[0] = max(dist - c[PAIR_R] - lam - s0 - opponent_commitment_from(c, ov, ow), 0.0)
            # + cr dt: the certificate bonus (c - c(u)) dt of certified() must not loosen this
            # row, which has no arc-deviation term of its own
            cl[ROW_EXTRA] = crdt - (k1 + s0 - (gvb + d * gwb)) / dt
    return m


@njit(cache=True, inline="always")
def nominal_ok(c, cl, tab, gv, gw, h, col, m, v, w, g):  # pragma: no cover - compiled
    """Whether the nominal command passes as is: within the command limits of ``c``, and the
    velocity the base ramps to from ``(v_prev, w_prev)`` is certified on the rows (``g``
    gets the configured-gamma right-hand sides)."""
    rhs(cl, tab, 0, h, col, m, g)
    if not (c[V_MIN] <= v <= c[V_MAX] and c[W_MIN] <= w <= c[W_MAX]):
        return False
    hv, hw = ramp_one(cl[V_PREV], cl[W_PREV], v, w, cl[DT], cl[LIN_ACC], cl[LIN_DEC],
                      cl[ANG_ACC])
    return certified(cl, gv, gw, g, m, hv, hw, 0.0)


@njit(cache=True, inline="always")
def evade_backup(cl, gv, gw, g, col, m):  # pragma: no cover - compiled
    """The backup of "worst_case" mode when there is a pair row: among the corners, edge
    midpoints and centre of the reachable box, the command certified on every wall and
    obstacle row (``g``: gamma 1) that, held for :data:`EVADE_PERIODS` periods from the
    predicted pose, ends farthest from the opponent's VCP, ``(found, v, w)``. It keeps every
    wall and obstacle invariant like the brake does and, unlike the brake, turns and drives
    away from an opponent that keeps coming (docs/actuation.md §4)."""
    if m == 0 or col[0] != 0 or cl[SHARED] != 0.0:
        return False, 0.0, 0.0
    best = -math.inf
    bv = 0.0
    bw = 0.0
    found = False
    for v in (cl[V_MIN], 0.5 * (cl[V_MIN] + cl[V_MAX]), cl[V_MAX]):
        for w in (cl[W_MIN], 0.5 * (cl[W_MIN] + cl[W_MAX]), cl[W_MAX]):
            extra = bonus(cl, v, w)
            ok = True
            for i in range(1, m):
                if (g[i] + extra) - (gv[i] * v + gw[i] * w) < 0.0:
                    ok = False
                    break
            if ok:
                x, y, th = advance(cl[X_PRED], cl[Y_PRED], cl[TH_PRED], v, w,
                                   EVADE_PERIODS * cl[DT])
                ex = x + cl[D] * math.cos(th) - cl[OPP_QX]
                ey = y + cl[D] * math.sin(th) - cl[OPP_QY]
                s = ex * ex + ey * ey
                if s > best:
                    best, bv, bw, found = s, v, w, True
    return found, bv, bw
