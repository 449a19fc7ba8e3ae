"""Sampled-data VCP-CBF constraints, linear in the command ``u = (v, omega)``.

Each barrier is a distance of the virtual control point (VCP) ``p`` (docs/cbf.md):

* ``obstacle[k]``: ``h = |p - c_k| - (R_k + r + d + margin)``
* ``wall_x_min`` ...: ``h = p_x - (x_min + r + d + margin)`` (and the three others)
* ``collision``: ``h = |p - q| - (r + r_o + d + d_o + margin)``, ``q`` the opponent's VCP

All are 1-Lipschitz in ``p`` and convex, so along the true (arc) VCP path under a command
held for ``dt``, ``h(t) >= h0 + t a(u) - c t^2`` with ``a(u) = grad h . J(theta) u`` and
``c = omega_max * s_max / 2``. Requiring ``h(dt) >= (1 - gamma) h0`` of that concave lower
bound keeps ``h >= 0`` on the whole interval; it is the half-plane

    ``-a(u) <= share * gamma * h0 / dt - c dt [- s_opp]``,   i.e. ``G u <= g``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from safe_pe_cbf.config import GROUPS, CBFConfig
from safe_pe_cbf.geometry import Arena, check_pose, obstacles_array, obstacles_tuple

__all__ = ["ConstraintSet", "build_constraints", "Rows", "Consts", "build_rows",
           "certificate_bonus", "WALL_NAMES", "PHYSICAL_TOL"]

#: Absolute tolerance [m] of the physical check of every solver result: a QP or relaxed
#: command is accepted only if each of its unscaled rows, with the command's own certificate
#: bonus, is violated by at most this distance over one control period (slack * dt). Solver
#: results are exact up to rounding (~1e-17 m here); tolerances in weight-scaled units are not
#: trusted (issue 11).
PHYSICAL_TOL = 1e-10

WALL_NAMES = ("wall_x_min", "wall_x_max", "wall_y_min", "wall_y_max")
GROUP_COLLISION, GROUP_ARENA, GROUP_OBSTACLES = 0, 1, 2


class Consts:
    """Per-config constants of the constraint builder (Python floats for the fast path).

    :param config: filter configuration
    """

    __slots__ = ("d", "dt", "c", "c_dt", "wall_off", "obs_off", "pair_r", "opp_d",
                 "share", "pair_extra", "static_extra", "v_min", "v_max", "w_min", "w_max",
                 "wv", "ww", "tol", "gamma", "config", "_coefs")

    def __init__(self, config: CBFConfig) -> None:
        self.config = config
        self.d = config.vcp_offset
        self.dt = config.dt
        self.c = config.sampling_coeff
        self.c_dt = self.c * self.dt
        self.wall_off = config.robot_radius + config.vcp_offset + config.margin
        self.obs_off = self.wall_off
        self.pair_r = (config.robot_radius + config.opponent_radius + config.vcp_offset
                       + config.opponent_vcp_offset + config.margin)
        self.opp_d = config.opponent_vcp_offset
        if config.collision_mode == "shared":
            self.share = config.collision_share
            self.pair_extra = self.c_dt
        else:
            self.share = 1.0
            self.pair_extra = self.c_dt + config.opponent_vcp_speed_max
        self.static_extra = self.c_dt
        self.v_min, self.v_max = config.v_min, config.v_max
        self.w_min, self.w_max = -config.omega_max, config.omega_max
        self.wv, self.ww = config.weights
        self.tol = config.feasibility_tol
        self.gamma = config.gamma
        self._coefs: dict[tuple[float, ...], list[float]] = {}

    def coefs(self, gammas: Sequence[float]) -> list[float]:
        """``[coef(group, gammas[group]) for group in 0, 1, 2]`` (cached).

        :param gammas: gamma for (collision, arena, obstacles)
        """
        key = tuple(gammas)
        out = self._coefs.get(key)
        if out is None:
            out = [self.coef(grp, key[grp]) for grp in range(3)]
            self._coefs[key] = out
        return out

    def coef(self, group: int, gamma: float) -> float:
        """Multiplier of h0 in g: ``share * gamma / dt`` (share = 1 for static groups).

        :param group: GROUP_* index
        :param gamma: decay rate used for this group
        """
        share = self.share if group == GROUP_COLLISION else 1.0
        return share * gamma / self.dt


class Rows:
    """Constraint rows as Python lists (fast single-robot path).

    ``gv[i] * v + gw[i] * omega <= coef_i * h[i] - extra[i]``.
    """

    __slots__ = ("gv", "gw", "h", "extra", "group", "names")

    def __init__(self) -> None:
        self.gv: list[float] = []
        self.gw: list[float] = []
        self.h: list[float] = []
        self.extra: list[float] = []
        self.group: list[int] = []
        self.names: list[str] = []

    def g(self, k: Consts, gammas: Sequence[float]) -> list[float]:
        """Right-hand sides for per-group decay rates.

        :param k: constants
        :param gammas: gamma for (collision, arena, obstacles)
        """
        coefs = k.coefs(gammas)
        return [coefs[grp] * h - e for grp, h, e in zip(self.group, self.h, self.extra)]

    def __len__(self) -> int:
        return len(self.h)


def _add_distance_row(rows: Rows, dx: float, dy: float, radius: float, cth: float,
                      sth: float, d: float, extra: float, group: int, name: str) -> None:
    dist = math.sqrt(dx * dx + dy * dy)
    if dist > 0.0:
        nx = dx / dist
        ny = dy / dist
    else:  # VCP exactly on the centre: deep violation; any unit normal is a valid gradient
        nx, ny = 1.0, 0.0
    rows.gv.append(-(nx * cth + ny * sth))
    rows.gw.append(-(d * (ny * cth - nx * sth)))
    rows.h.append(dist - radius)
    rows.extra.append(extra)
    rows.group.append(group)
    rows.names.append(name)


def build_rows(k: Consts, pose: tuple[float, float, float],
               arena: tuple[float, float, float, float],
               obstacles: tuple[tuple[float, float, float], ...],
               opponent: Optional[tuple[float, float, float]]) -> Rows:
    """Build the rows from validated Python floats (no checks: see build_constraints).

    Row order: collision (if opponent), the four walls, obstacles in input order.

    :param k: constants of the config
    :param pose: own pose
    :param arena: ``(x_min, x_max, y_min, y_max)``
    :param obstacles: ``((x, y, R), ...)``
    :param opponent: opponent pose or None
    """
    x, y, th = pose
    d = k.d
    cth = math.cos(th)
    sth = math.sin(th)
    px = x + d * cth
    py = y + d * sth
    rows = Rows()
    if opponent is not None:
        ox, oy, oth = opponent
        qx = ox + k.opp_d * math.cos(oth)
        qy = oy + k.opp_d * math.sin(oth)
        _add_distance_row(rows, px - qx, py - qy, k.pair_r, cth, sth, d, k.pair_extra,
                          GROUP_COLLISION, "collision")
    x_min, x_max, y_min, y_max = arena
    off = k.wall_off
    ex = k.static_extra
    dsth = d * sth
    dcth = d * cth
    rows.gv += [-cth, cth, -sth, sth]
    rows.gw += [dsth, -dsth, -dcth, dcth]
    rows.h += [px - (x_min + off), (x_max - off) - px, py - (y_min + off), (y_max - off) - py]
    rows.extra += [ex, ex, ex, ex]
    rows.group += [GROUP_ARENA] * 4
    rows.names += list(WALL_NAMES)
    for j, (cx, cy, rad) in enumerate(obstacles):
        _add_distance_row(rows, px - cx, py - cy, rad + k.obs_off, cth, sth, d, ex,
                          GROUP_OBSTACLES, f"obstacle[{j}]")
    return rows


def certificate_bonus(k: Consts, v: float, w: float) -> float:
    """Extra slack a *specific* command earns: ``(c - c(u)) dt >= 0``.

    The row bound uses the worst case ``c``; for a given ``u`` the true arc deviates from the
    straight line by at most ``c(u) t^2`` with ``c(u) = |omega| |J u| / 2``.

    :param k: constants
    :param v: linear speed
    :param w: angular speed
    """
    dw = k.d * w
    return (k.c - 0.5 * abs(w) * math.sqrt(v * v + dw * dw)) * k.dt


@dataclass(frozen=True)
class ConstraintSet:
    """Half-planes ``G @ u <= g`` of one robot at one sampled state.

    :param G: ``(m, 2)`` rows
    :param g: ``(m,)`` right-hand sides (with the config's gamma)
    :param h: ``(m,)`` barrier values [m]
    :param names: constraint names ("collision", "wall_x_min", ..., "obstacle[k]")
    :param groups: group of each row ("collision", "arena", "obstacles")
    :param lo: command lower limits ``(v_min, -omega_max)``
    :param hi: command upper limits ``(v_max, omega_max)``
    """

    G: np.ndarray
    g: np.ndarray
    h: np.ndarray
    names: list[str]
    groups: list[str]
    lo: np.ndarray
    hi: np.ndarray

    @property
    def m(self) -> int:
        """Number of rows."""
        return len(self.names)

    def min_h(self) -> tuple[float, str]:
        """Smallest barrier value and the name of the constraint attaining it."""
        i = int(np.argmin(self.h))
        return float(self.h[i]), self.names[i]

    def satisfied(self, u: Sequence[float], tol: float = 1e-9) -> bool:
        """Whether ``u`` satisfies every half-plane and the limits (within ``tol``).

        :param u: command ``(v, omega)``
        :param tol: tolerance
        """
        uu = np.asarray(u, dtype=float)
        return bool(np.all(self.G @ uu <= self.g + tol)
                    and np.all(uu >= self.lo - tol) and np.all(uu <= self.hi + tol))


def build_constraints(pose: Sequence[float], arena: Arena, obstacles: object,
                      opponent_pose: Optional[Sequence[float]], config: CBFConfig
                      ) -> ConstraintSet:
    """Validated constraint set of one robot (public, numpy output).

    :param pose: own pose ``(x, y, theta)``
    :param arena: the arena
    :param obstacles: anything :func:`safe_pe_cbf.geometry.obstacles_array` accepts
    :param opponent_pose: the other robot's pose, or None for no robot-robot constraint
    :param config: filter configuration
    :raises SafetyInputError: on non-finite or malformed input
    """
    k = Consts(config)
    p = check_pose(pose)
    opp = None if opponent_pose is None else check_pose(opponent_pose, "opponent_pose")
    rows = build_rows(k, p, arena.as_tuple(), obstacles_tuple(obstacles_array(obstacles)), opp)
    gam = config.gamma
    g = rows.g(k, (gam, gam, gam))
    return ConstraintSet(
        G=np.array([rows.gv, rows.gw], dtype=float).T.reshape(-1, 2),
        g=np.array(g, dtype=float),
        h=np.array(rows.h, dtype=float),
        names=list(rows.names),
        groups=[GROUPS[i] for i in rows.group],
        lo=np.array([k.v_min, k.w_min]),
        hi=np.array([k.v_max, k.w_max]),
    )
