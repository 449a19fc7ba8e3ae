"""Sampled-data VCP-CBF constraints, linear in the command ``u = (v, omega)``.

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

:func:`fill_rows` is the one row builder (compiled by numba, plain Python without it): rows
``gv[i] v + gw[i] omega <= coef(group, gamma) h[i] - extra(group)`` of the rows present, in
column order (``col[i]``: 0 collision, 1-4 the walls, ``5 + k`` obstacle ``k``). The
per-config constants are packed once by :class:`Consts` for every kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from safe_pe_cbf import jit
from safe_pe_cbf.backup import backup_candidates
from safe_pe_cbf.barriers import KIND, disk_row, obstacle_row
from safe_pe_cbf.config import GROUPS, CBFConfig
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import MAX_ABS, Arena, check_pose, obstacles_array
from safe_pe_cbf.jit import njit

__all__ = ["ConstraintSet", "build_constraints", "Consts", "fill_rows", "rhs", "group_of",
           "certified", "certificate_bonus", "column_names", "relaxation_stages",
           "check_arena_fits", "WALL_NAMES", "PHYSICAL_TOL", "brake_path",
           "opponent_commitment", "ROW_EXTRA", "row_buffers"]

#: Absolute tolerance [m] of the physical check of every solver result: a QP or relaxed
#: command is accepted only if each of its unscaled rows, with the command's own certificate
#: bonus, is violated by at most this distance over one control period (slack * dt). Solver
#: results are exact up to rounding (~1e-17 m here); tolerances in weight-scaled units are not
#: trusted (issue 11).
PHYSICAL_TOL = 1e-10

WALL_NAMES = ("wall_x_min", "wall_x_max", "wall_y_min", "wall_y_max")
GROUP_COLLISION, GROUP_ARENA, GROUP_OBSTACLES = 0, 1, 2

#: layout of the packed constants ``c`` of every kernel (see :class:`Consts`)
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


def column_names(K: int) -> list[str]:
    """Names of the ``5 + K`` columns (a new list each call).

    :param K: number of obstacle slots
    """
    return ["collision", *WALL_NAMES, *[f"obstacle[{k}]" for k in range(K)]]


def relaxation_stages(config: CBFConfig) -> list[tuple[tuple[float, float, float], str]]:
    """Per-group gammas of the relaxed stages and a description of each.

    :param config: filter configuration
    """
    gam = [config.gamma] * 3
    stages = []
    relaxed: list[str] = []
    for name in config.relaxation_order:
        gam[GROUPS.index(name)] = 1.0
        relaxed.append(name)
        stages.append((tuple(gam), "softened " + ", ".join(relaxed)))
    return stages  # type: ignore[return-value]


def check_arena_fits(arena: Arena, config: CBFConfig) -> None:
    """Raise :class:`SafetyInputError` if the arena cannot hold the robot's body.

    :param arena: the arena
    :param config: filter configuration
    """
    need = 2.0 * (config.robot_radius + config.vcp_offset + config.margin)
    if arena.x_max - arena.x_min <= need or arena.y_max - arena.y_min <= need:
        raise SafetyInputError(f"arena {arena} is too small for a robot needing {need} m "
                               f"(2 * (robot_radius + vcp_offset + margin))")


def opponent_commitment(config: CBFConfig) -> float:
    """Bound on the path the opponent's VCP still travels when it brakes from now on [m]
    (shared mode, docs/actuation.md): its latency at full speed, then its full brake from
    ``(opponent_v_max, opponent_omega_max)``; 0 for an ideal opponent.

    :param config: filter configuration
    """
    opp = config.opponent_actuator
    dt = config.dt
    return (opp.latency_steps * dt * config.opponent_vcp_speed_max
            + brake_path(config.opponent_v_max, opp.linear_decel * dt, dt)
            + config.opponent_vcp_offset * brake_path(config.opponent_omega_max,
                                                      opp.angular_accel * dt, dt))


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


def certificate_bonus(k: "Consts", v: float, w: float) -> float:
    """Extra slack a *specific* command earns: ``(c - c(u)) dt >= 0``.

    The row bound uses the worst case ``c``; for a given ``u`` the true arc deviates from the
    straight line by at most ``c(u) t^2`` with ``c(u) = |omega| |J u| / 2``.

    :param k: constants
    :param v: linear speed
    :param w: angular speed
    """
    return _bonus(k.c_arr, v, w)


class Consts:
    """Per-config constants, as Python floats and packed for the kernels.

    ``c_arr`` (:data:`CONST_NAMES`; the arena entries are filled by :meth:`packed`), ``tab``
    (``(S + 2, 3)`` h-multipliers per group: configured gamma, the S relaxed stages, gamma 1)
    and ``cand`` (``(C, 3)`` backup candidates ``(v, omega, certificate bonus)``) are numpy
    arrays where numba compiles the kernels and Python lists where it does not.

    :param config: filter configuration
    """

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
        act, opp = config.actuator, config.opponent_actuator
        #: whether the rows of docs/actuation.md are used (else those of docs/cbf.md)
        self.actuated = config.actuated
        self.latency = act.latency_steps
        vals = dict(d=self.d, opp_d=self.opp_d, pair_r=self.pair_r, off=self.wall_off,
                    x_min=0.0, x_max=0.0, y_min=0.0, y_max=0.0, v_min=self.v_min,
                    v_max=self.v_max, w_min=self.w_min, w_max=self.w_max, wv=self.wv,
                    ww=self.ww, tol=self.tol, c=self.c, dt=self.dt, max_abs=MAX_ABS,
                    physical_tol=PHYSICAL_TOL, pair_extra=self.pair_extra,
                    static_extra=self.static_extra, gamma=self.gamma,
                    lin_acc=act.linear_accel, lin_dec=act.linear_decel,
                    ang_acc=act.angular_accel, latency=act.latency_steps,
                    shared=1.0 if config.collision_mode == "shared" else 0.0,
                    opp_speed=config.opponent_vcp_speed_max,
                    opp_commit=opponent_commitment(config), share=self.share,
                    opp_lin_acc=opp.linear_accel, opp_lin_dec=opp.linear_decel,
                    opp_ang_acc=opp.angular_accel, opp_latency=opp.latency_steps,
                    opp_v_max=config.opponent_v_max, opp_w_max=config.opponent_omega_max,
                    v_prev=0.0, w_prev=0.0, x_pred=0.0, y_pred=0.0, th_pred=0.0,
                    opp_qx=0.0, opp_qy=0.0)
        pack = np.array if jit.AVAILABLE else (lambda rows: rows)
        self.c_arr = pack([float(vals[n]) for n in CONST_NAMES])
        self.stages = relaxation_stages(config)
        gam = self.gamma
        rates = [(gam, gam, gam)] + [g for g, _ in self.stages] + [(1.0, 1.0, 1.0)]
        self.tab = pack([[self.coef(grp, r[grp]) for grp in range(3)] for r in rates])
        self.candidates = backup_candidates(self.v_min, self.v_max, self.w_max)
        self.cand = pack([[v, w, _bonus(self.c_arr, v, w)] for v, w in self.candidates])
        #: the backup of the actuated rows: the full brake, command (0, 0)
        self.cand_brake = pack([[0.0, 0.0, _bonus(self.c_arr, 0.0, 0.0)]])

    def coef(self, group: int, gamma: float) -> float:
        """Multiplier of h0 in g: ``share * gamma / dt`` (share = 1 for static groups).

        :param group: GROUP_* index
        :param gamma: decay rate used for this group
        """
        share = self.share if group == GROUP_COLLISION else 1.0
        return share * gamma / self.dt

    def packed(self, arena: tuple[float, float, float, float]):
        """``c_arr`` with the arena filled in (a copy).

        :param arena: ``(x_min, x_max, y_min, y_max)``
        """
        c = list(self.c_arr)
        c[X_MIN:Y_MAX + 1] = [float(a) for a in arena]
        return np.array(c) if jit.AVAILABLE else c


# ---------------------------------------------------------------- kernels
@njit(cache=True, inline="always")
def _bonus(c, v, w):  # pragma: no cover - compiled
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

    :param c: packed constants (:meth:`Consts.packed`)
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
    bonus = _bonus(c, v, w)
    lim = -tol_m / c[DT]
    for i in range(m):
        if (g[i] + bonus) - (gv[i] * v + gw[i] * w) < lim:
            return False
    return True


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
    x, y, th = check_pose(pose)
    has_opp = opponent_pose is not None
    ox, oy, oth = check_pose(opponent_pose, "opponent_pose") if has_opp else (0.0, 0.0, 0.0)
    obs = obstacles_array(obstacles)
    M = 5 + obs.shape[0]
    gv, gw, h, g = np.empty(M), np.empty(M), np.empty(M), np.empty(M)
    col = np.empty(M, dtype=np.int64)
    c = np.asarray(k.packed(arena.as_tuple()), dtype=float)
    m = fill_rows(c, x, y, th, has_opp, ox, oy, oth, obs, np.ones(M - 5, dtype=np.bool_), gv,
                  gw, h, col)
    rhs(c, np.asarray(k.tab, dtype=float), 0, h, col, m, g)
    names = column_names(M - 5)
    return ConstraintSet(G=np.stack([gv[:m], gw[:m]], axis=1), g=g[:m], h=h[:m],
                         names=[names[j] for j in col[:m]],
                         groups=[GROUPS[group_of(j)] for j in col[:m]],
                         lo=np.array([k.v_min, k.w_min]), hi=np.array([k.v_max, k.w_max]))


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
