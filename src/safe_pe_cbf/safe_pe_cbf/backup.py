"""Backup controller: brake and turn away from the nearest danger, certified per candidate.

Each candidate command ``u`` is scored by its smallest *certificate slack* with gamma = 1:
``g_i + (c - c(u)) dt - G_i u`` (docs/cbf.md), where ``c(u) = |omega| |J u| / 2`` is the exact
arc-deviation coefficient of that command. Slack >= 0 for every row means ``h >= 0`` on the
whole control interval. ``u = (0, 0)`` keeps the VCP still, so its slack equals
``share * h0 / dt >= 0`` for every static barrier (and for the robot pair in "shared" mode):
a certified candidate exists whenever the current state is safe. The candidate with the
largest smallest slack wins (first in the list on ties).
"""

from __future__ import annotations

import math

from safe_pe_cbf.jit import njit

__all__ = ["backup_candidates", "select_backup"]


def backup_candidates(v_min: float, v_max: float, w_max: float) -> list[tuple[float, float]]:
    """Candidate commands: stop first, then turn in place, then reverse/forward with turns.

    :param v_min: lowest speed (<= 0)
    :param v_max: highest speed
    :param w_max: turn-rate limit
    """
    ws = (0.0, w_max, -w_max, 0.5 * w_max, -0.5 * w_max)
    vs = [0.0]
    if v_min < 0.0:
        vs.append(v_min)
    if v_max > 0.0:
        vs += [0.5 * v_max, v_max]
    return [(v, w) for v in vs for w in ws]


@njit(cache=True, inline="always")
def select_backup(cand, gv, gw, g1, m):  # pragma: no cover - compiled
    """The candidate maximising the smallest certificate slack.

    Returns ``(v, omega, min_slack, row index attaining it or -1)``.

    :param cand: ``(C, 3)`` candidates ``(v, omega, certificate bonus)``
    :param gv: row coefficients of v
    :param gw: row coefficients of omega
    :param g1: right-hand sides with gamma = 1 for every group
    :param m: number of rows
    """
    bv, bw, best, barg = 0.0, 0.0, -math.inf, -1
    for q in range(len(cand)):
        cq = cand[q]
        v = cq[0]
        w = cq[1]
        bonus = cq[2]
        worst = math.inf
        arg = -1
        for i in range(m):
            s = (g1[i] + bonus) - (gv[i] * v + gw[i] * w)
            if s < worst:
                worst = s
                arg = i
        if worst > best:
            bv, bw, best, barg = v, w, worst, arg
    return bv, bw, best, barg
