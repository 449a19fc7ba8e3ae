"""The tiers of one robot (same numbers as ``safe_pe_msgs/SafetyStatus.TIER_*``):

0. NOMINAL: the nominal command is within the limits and certified safe as is.
1. QP: the closest command (in ``|W (u - u_nom)|``) satisfying every CBF half-plane.
2. RELAXED: the QP was infeasible; groups are softened one after another in
   ``config.relaxation_order`` (their decay requirement ``h(dt) >= (1 - gamma) h0`` becomes
   ``h(dt) >= 0``: still no body-level violation within the interval).
3. BACKUP: still infeasible: brake and turn away (:mod:`safe_pe_cbf.kernels.backup`).

Every command of tiers 0-2 is checked against the physical (unscaled) rows of its tier, with
the command's own certificate bonus and an absolute tolerance of
:data:`~safe_pe_cbf.constraints.PHYSICAL_TOL` metres over the control period
(:func:`~safe_pe_cbf.kernels.rows.certified`); a solver result that fails the check counts as
infeasible and the next tier decides. The solvers work in weight-scaled units with a
tolerance there, which alone does not bound the violation in metres. The backup needs no
check: ``u = 0`` is certified on every wall and obstacle row in every safe state, and the
backup keeps those rows first, then maximises the smallest slack.

:func:`resolve_one` is the tier logic of one robot on its rows, the kernel shared with the
batched loops (:mod:`safe_pe_cbf.kernels.loops`); :func:`resolve_pose` builds the rows and runs
it, one call per command; the ``_act`` variants do the same under the actuator model
(:mod:`safe_pe_cbf.kernels.actuated`). With ``solver="osqp"`` the resolver runs the same code
in the interpreter with OSQP in place of the exact QP (:func:`safe_pe_cbf.jit.with_globals`).
"""

from __future__ import annotations

import math

from safe_pe_cbf import jit
from safe_pe_cbf.jit import njit
from safe_pe_cbf.kernels.actuated import actuated_rows, evade_backup, nominal_ok
from safe_pe_cbf.kernels.backup import select_backup
from safe_pe_cbf.kernels.qp import qp_rows, scratch
from safe_pe_cbf.kernels.rows import (MAX_ABS_I, PHYSICAL_TOL_I, TOL, V_MAX, V_MIN, W_MAX,
                                      W_MIN, WV, WW, argmin_h, certified, fill_rows,
                                      present_groups, rhs, row_buffers, softens)

__all__ = ["resolve_one", "resolve_one_act", "resolve_pose", "resolve_pose_act",
           "resolve_pose_packed"]


@njit(cache=True)
def resolve_one(c, tab, cand, gv, gw, h, col, m, v, w, g, ax, ay, b, pos, viol
                ):  # pragma: no cover - compiled
    """Tiers of one robot on its ``m`` rows (:func:`~safe_pe_cbf.kernels.rows.fill_rows`).

    Returns ``(v, w, tier, stage, rejected, row i, row j, backup slack)``: ``stage`` 0 for
    NOMINAL/QP, ``s`` for relaxed stage ``s``, -1 for the backup; ``rejected`` whether a
    solver result failed the physical check on the way; rows ``i, j`` active at the solution
    (the backup's worst row as ``i``), -1 for none.

    :param c: packed constants; ``tab``, ``cand``: see :class:`~safe_pe_cbf.constraints.Consts`
    :param v: nominal linear speed; ``w``: nominal angular speed
    :param g: scratch (``m``); ``ax, ay, b, pos, viol``: scratch (``m + 4``)
    """
    rhs(c, tab, 0, h, col, m, g)
    if certified(c, gv, gw, g, m, v, w, 0.0):
        return v, w, 0, 0, False, -1, -1, 0.0
    present = present_groups(col, m)
    rejected = False
    for s in range(len(tab) - 1):  # 0: the CBF-QP, 1..S: the relaxed stages
        if s > 0:
            if not softens(tab, s, present):
                continue  # nothing present was softened by this stage
            rhs(c, tab, s, h, col, m, g)
        ok, uv, uw, ri, rj = qp_rows(gv, gw, g, m, v, w, c[WV], c[WW], c[V_MIN], c[V_MAX],
                                     c[W_MIN], c[W_MAX], c[TOL], ax, ay, b, pos, viol)
        if ok:
            if certified(c, gv, gw, g, m, uv, uw, c[PHYSICAL_TOL_I]):
                return uv, uw, (1 if s == 0 else 2), s, rejected, ri, rj, 0.0
            rejected = True
    rhs(c, tab, len(tab) - 1, h, col, m, g)
    bv, bw, slack, arg = select_backup(cand, gv, gw, g, col, m)
    return bv, bw, 3, -1, rejected, arg, -1, slack


@njit(cache=True, inline="always")
def resolve_one_act(c, cl, tab, cand, gv, gw, h, col, m, v, w, g, ax, ay, b, pos, viol
                    ):  # pragma: no cover - compiled
    """:func:`resolve_one` under the actuator model (:mod:`safe_pe_cbf.kernels.actuated`), same
    returns: the nominal passes when the velocity the base ramps it to is certified; the tiers
    run on the robot's constants ``cl``; in "worst_case" mode an infeasible robot may evade
    rather than brake (:func:`~safe_pe_cbf.kernels.actuated.evade_backup`).

    :param c: packed constants; ``cl``: the robot's own
        (:func:`~safe_pe_cbf.kernels.actuated.actuated_rows`)
    """
    if nominal_ok(c, cl, tab, gv, gw, h, col, m, v, w, g):
        return v, w, 0, 0, False, -1, -1, 0.0
    uv, uw, tier, stage, rejected, ri, rj, slack = resolve_one(cl, tab, cand, gv, gw, h, col, m,
                                                               v, w, g, ax, ay, b, pos, viol)
    if tier == 3:  # g: the gamma-1 right-hand sides of the backup
        found, ev, ew = evade_backup(cl, gv, gw, g, col, m)
        if found:
            uv, uw = ev, ew
    return uv, uw, tier, stage, rejected, ri, rj, slack


@njit(cache=True)
def resolve_pose(c, tab, cand, x, y, th, has_opp, ox, oy, oth, v, w, obs, mask
                 ):  # pragma: no cover - compiled
    """Rows at a pose, then :func:`resolve_one`; also the smallest barrier value.

    Returns ``(v, w, tier, stage, rejected, column i, column j, backup slack, min_h, its
    column)``.
    """
    M = len(mask) + 5
    gv, gw, h, g, col = row_buffers(M)
    ax, ay, b, viol, pos = scratch(M)
    m = fill_rows(c, x, y, th, has_opp, ox, oy, oth, obs, mask, gv, gw, h, col)
    uv, uw, tier, stage, rejected, ri, rj, slack = resolve_one(c, tab, cand, gv, gw, h, col, m,
                                                               v, w, g, ax, ay, b, pos, viol)
    return _answer(uv, uw, tier, stage, rejected, ri, rj, slack, h, col, m)


@njit(cache=True, inline="always")
def _answer(uv, uw, tier, stage, rejected, ri, rj, slack, h, col, m
            ):  # pragma: no cover - compiled
    """The pose-level result: row indices as columns, with the smallest barrier value."""
    imin = argmin_h(h, m)
    return (uv, uw, tier, stage, rejected, col[ri] if ri >= 0 else -1,
            col[rj] if rj >= 0 else -1, slack, h[imin], col[imin])


@njit(cache=True)
def resolve_pose_act(c, tab, cand, x, y, th, has_opp, ox, oy, oth, v, w, obs, mask, v0, w0,
                     pend, ov, ow):  # pragma: no cover - compiled
    """:func:`resolve_pose` under the actuator model (:mod:`safe_pe_cbf.kernels.actuated`): rows at
    the pose predicted through the latency, limits of the reachable box, the full brake as
    the backup (``cand`` = the brake). Same returns as :func:`resolve_pose`.

    :param v0: velocity held in the period ending at the sampling instant; ``w0`` likewise
    :param pend: ``(L, 2)`` commands sent but not yet in effect, oldest first
    :param ov: the opponent's held velocity, ``ow`` its angular part (NaN: unknown)
    """
    M = len(mask) + 5
    gv, gw, h, g, col = row_buffers(M)
    ax, ay, b, viol, pos = scratch(M)
    cl = jit.floats(len(c) + M)  # constants, then one right-hand-side offset per row
    m = actuated_rows(c, cl, x, y, th, v0, w0, pend, has_opp, ox, oy, oth, ov, ow, obs, mask,
                      gv, gw, h, col)
    uv, uw, tier, stage, rejected, ri, rj, slack = resolve_one_act(
        c, cl, tab, cand, gv, gw, h, col, m, v, w, g, ax, ay, b, pos, viol)
    return _answer(uv, uw, tier, stage, rejected, ri, rj, slack, h, col, m)


@njit(cache=True)
def resolve_pose_packed(c, tab, cand, x, y, th, has_opp, ox, oy, oth, v, w, obs, mask, act,
                        opp_known):  # pragma: no cover - compiled
    """:func:`resolve_pose_act` with its per-call inputs in one flat array and checked here
    (the wrapper's lean path: one array to hand over, no numpy object per call).

    Returns :func:`resolve_pose_act`'s tuple, or tier -1 when an input is not finite or
    beyond ``max_abs`` (the caller then raises the typed error).

    :param act: ``(4 + 2 L,)``: ``v0, w0, ov, ow`` and the pending commands, oldest first
    :param opp_known: whether ``ov, ow`` are given (else they are ignored: unknown)
    """
    lim = c[MAX_ABS_I]
    for i in range(len(act)):
        if (opp_known or i < 2 or i > 3) and not (-lim <= act[i] <= lim):
            return v, w, -1, 0, False, -1, -1, 0.0, 0.0, -1
    ov = act[2] if opp_known else math.nan
    ow = act[3] if opp_known else math.nan
    return resolve_pose_act(c, tab, cand, x, y, th, has_opp, ox, oy, oth, v, w, obs, mask,
                            act[0], act[1], act[4:].reshape(((len(act) - 4) // 2, 2)), ov, ow)
