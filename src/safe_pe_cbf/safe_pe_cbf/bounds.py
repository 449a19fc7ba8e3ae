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
backup command: ``lo = hi = backup``, ``empty = True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from safe_pe_cbf.backup import backup_candidates, select_backup
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import Consts, Rows, build_rows
from safe_pe_cbf.geometry import Arena, check_pose, obstacles_tuple
from safe_pe_cbf.qp import scaled_rows, solve_rows
from safe_pe_cbf.resolver import check_arena_fits, relaxation_stages

__all__ = ["ActionBox", "safe_action_box", "box_from_rows", "BOX_EPS"]

#: slack kept back from every half-plane so that rounding never crosses it
BOX_EPS = 1e-12


@dataclass(frozen=True)
class ActionBox:
    """Axis-aligned box of commands.

    :param lo: ``(2,)`` ``(v_lo, omega_lo)``
    :param hi: ``(2,)`` ``(v_hi, omega_hi)``
    :param empty: True when no safe box exists; then ``lo == hi`` = the backup command
    :param stage: 0 = half-planes with the configured gamma, ``s >= 1`` = relaxed stage ``s``
        (``config.relaxation_order[:s]`` softened), -1 = empty (backup command)
    """

    lo: np.ndarray
    hi: np.ndarray
    empty: bool
    stage: int = 0


def _grow(k: Consts, gv: list[float], gw: list[float], g: list[float], av: float,
          aw: float) -> tuple[float, float, float, float]:
    n = len(g)
    room = [max(k.w_max - aw, 0.0), max(aw - k.w_min, 0.0), max(k.v_max - av, 0.0),
            max(av - k.v_min, 0.0)]
    coef = [[max(gw[i], 0.0), max(-gw[i], 0.0), max(gv[i], 0.0), max(-gv[i], 0.0)]
            for i in range(n)]
    slack = [max(g[i] - (gv[i] * av + gw[i] * aw) - BOX_EPS, 0.0) for i in range(n)]
    t = 1.0
    for i in range(n):
        c = coef[i]
        full = c[0] * room[0] + c[1] * room[1] + c[2] * room[2] + c[3] * room[3]
        if full > 0.0:
            t = min(t, slack[i] / full)
    delta = [t * room[0], t * room[1], t * room[2], t * room[3]]
    load = [coef[i][0] * delta[0] + coef[i][1] * delta[1] + coef[i][2] * delta[2]
            + coef[i][3] * delta[3] for i in range(n)]
    for dd in range(4):
        extra = room[dd] - delta[dd]
        for i in range(n):
            c = coef[i][dd]
            if c > 0.0:
                extra = min(extra, (slack[i] - load[i]) / c)
        if extra > 0.0:
            delta[dd] = delta[dd] + extra
            for i in range(n):
                load[i] = load[i] + coef[i][dd] * extra
    lo_v = max(av - delta[3], k.v_min)
    hi_v = min(av + delta[2], k.v_max)
    lo_w = max(aw - delta[1], k.w_min)
    hi_w = min(aw + delta[0], k.w_max)
    return lo_v, hi_v, lo_w, hi_w


def _box_for(k: Consts, rows: Rows, g: list[float]
             ) -> Optional[tuple[float, float, float, float]]:
    bv = 1.0 / (k.v_max - k.v_min)
    bw = 1.0 / (k.w_max - k.w_min)
    ax, ay, b, _idx, bad = scaled_rows(rows.gv, rows.gw, g, bv, bw, k.v_min, k.v_max,
                                       k.w_min, k.w_max)
    if bad:
        return None
    cv = 0.5 * (k.v_min + k.v_max)
    zx, zy, ok, _ = solve_rows(bv * cv, bw * 0.0, ax, ay, b, k.tol)
    if not ok:
        return None
    av = min(max(zx / bv, k.v_min), k.v_max)
    aw = min(max(zy / bw, k.w_min), k.w_max)
    b1 = _grow(k, rows.gv, rows.gw, g, av, aw)
    b2 = _grow(k, rows.gv, rows.gw, g, 0.5 * (b1[0] + b1[1]), 0.5 * (b1[2] + b1[3]))
    a1 = (b1[1] - b1[0]) * bv * ((b1[3] - b1[2]) * bw)
    a2 = (b2[1] - b2[0]) * bv * ((b2[3] - b2[2]) * bw)
    return b2 if a2 > a1 else b1


def box_from_rows(k: Consts, rows: Rows, stages: list,
                  candidates: list[tuple[float, float]]
                  ) -> tuple[float, float, float, float, bool, int]:
    """Box from prepared rows: ``(v_lo, v_hi, w_lo, w_hi, empty, stage)``.

    :param k: constants
    :param rows: constraint rows
    :param stages: from :func:`safe_pe_cbf.resolver.relaxation_stages`
    :param candidates: backup candidates
    """
    gam = k.gamma
    present = set(rows.group)
    box = _box_for(k, rows, rows.g(k, (gam, gam, gam)))
    stage = 0
    if box is None:
        for stage, (gammas, _text) in enumerate(stages, start=1):
            if not any(gammas[grp] != gam for grp in present):
                continue
            box = _box_for(k, rows, rows.g(k, gammas))
            if box is not None:
                break
    if box is not None:
        return box[0], box[1], box[2], box[3], False, stage
    bv, bw, _slack, _arg = select_backup(k, rows, rows.g(k, (1.0, 1.0, 1.0)), candidates)
    return bv, bv, bw, bw, True, -1


def safe_action_box(pose: Sequence[float], arena: Arena, obstacles: object,
                    opponent_pose: Optional[Sequence[float]], config: CBFConfig) -> ActionBox:
    """Largest practical box of commands that all satisfy every CBF constraint.

    :param pose: own pose ``(x, y, theta)``
    :param arena: the arena
    :param obstacles: anything :func:`safe_pe_cbf.geometry.obstacles_array` accepts
    :param opponent_pose: the other robot's pose, or None
    :param config: filter configuration
    :raises SafetyInputError: on non-finite or malformed input
    """
    check_arena_fits(arena, config)
    k = Consts(config)
    p = check_pose(pose)
    opp = None if opponent_pose is None else check_pose(opponent_pose, "opponent_pose")
    rows = build_rows(k, p, arena.as_tuple(), obstacles_tuple(obstacles), opp)
    lo_v, hi_v, lo_w, hi_w, empty, stage = box_from_rows(k, rows, relaxation_stages(config),
                                                         backup_candidates(k))
    return ActionBox(np.array([lo_v, lo_w]), np.array([hi_v, hi_w]), empty, stage)
