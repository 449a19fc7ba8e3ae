"""Backup controller: brake and turn away from the nearest danger, certified per candidate.

Each candidate command ``u`` is scored by its smallest *certificate slack* with gamma = 1:
``g_i + (c - c(u)) dt - G_i u`` (docs/cbf.md), where ``c(u) = |omega| |J u| / 2`` is the exact
arc-deviation coefficient of that command. Slack >= 0 for every row means ``h >= 0`` on the
whole control interval. ``u = (0, 0)`` keeps the VCP still, so its slack equals
``share * h0 / dt >= 0`` for every static barrier (and for the robot pair in "shared" mode):
a certified candidate exists whenever the current state is safe. Walls and obstacles come
first: among the candidates certified on every static row (some are, ``u = 0``, whenever the
static barriers hold), the one with the largest smallest slack over all rows wins (first in
the list on ties); only if none is, the largest smallest slack over all rows decides. In
"worst_case" mode ``u = 0`` need not be certified on the collision row, and a plain max-min
over all rows traded a wall or obstacle for that hopeless row (issue 11: a TurtleBot3 body
0.6 mm into an obstacle).
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
def select_backup(cand, gv, gw, g1, col, m):  # pragma: no cover - compiled
    """The candidate maximising the smallest certificate slack, walls and obstacles first.

    Returns ``(v, omega, min_slack, row index attaining it or -1)``.

    :param cand: ``(C, 3)`` candidates ``(v, omega, certificate bonus)``
    :param gv: row coefficients of v
    :param gw: row coefficients of omega
    :param g1: right-hand sides with gamma = 1 for every group
    :param col: column of each row (0: the robot pair, else a wall or obstacle)
    :param m: number of rows
    """
    bv, bw, best, barg = 0.0, 0.0, -math.inf, -1
    best_static = False
    for q in range(len(cand)):
        cq = cand[q]
        v = cq[0]
        w = cq[1]
        bonus = cq[2]
        worst = math.inf
        arg = -1
        static = True  # certified on every wall and obstacle row
        for i in range(m):
            s = (g1[i] + bonus) - (gv[i] * v + gw[i] * w)
            if s < worst:
                worst = s
                arg = i
            if s < 0.0 and col[i] != 0:
                static = False
        if (static and not best_static) or (static == best_static and worst > best):
            bv, bw, best, barg = v, w, worst, arg
            best_static = static
    return bv, bw, best, barg
