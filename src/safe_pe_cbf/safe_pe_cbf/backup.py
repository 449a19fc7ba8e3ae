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

from safe_pe_cbf.constraints import GROUP_COLLISION, Consts, Rows, certificate_bonus

__all__ = ["backup_candidates", "select_backup"]


def backup_candidates(k: Consts) -> list[tuple[float, float]]:
    """Candidate commands: stop first, then turn in place, then reverse/forward with turns.

    :param k: constants of the config
    """
    wm = k.w_max
    ws = (0.0, wm, -wm, 0.5 * wm, -0.5 * wm)
    vs = [0.0]
    if k.v_min < 0.0:
        vs.append(k.v_min)
    if k.v_max > 0.0:
        vs += [0.5 * k.v_max, k.v_max]
    return [(v, w) for v in vs for w in ws]


def select_backup(k: Consts, rows: Rows, g1: list[float],
                  candidates: list[tuple[float, float]]) -> tuple[float, float, float, int]:
    """Pick the candidate maximising the smallest certificate slack.

    Returns ``(v, omega, min_slack, row index attaining it or -1)``.

    :param k: constants
    :param rows: constraint rows
    :param g1: right-hand sides with gamma = 1 for every group
    :param candidates: from :func:`backup_candidates`
    """
    gv = rows.gv
    gw = rows.gw
    group = rows.group
    n = len(g1)
    best = (0.0, 0.0, -float("inf"), -1)
    best_static = False
    for v, w in candidates:
        bonus = certificate_bonus(k, v, w)
        worst = float("inf")
        arg = -1
        static = True  # certified on every wall and obstacle row
        for i in range(n):
            s = (g1[i] + bonus) - (gv[i] * v + gw[i] * w)
            if s < worst:
                worst = s
                arg = i
            if s < 0.0 and group[i] != GROUP_COLLISION:
                static = False
        if (static and not best_static) or (static == best_static and worst > best[2]):
            best = (v, w, worst, arg)
            best_static = static
    return best
