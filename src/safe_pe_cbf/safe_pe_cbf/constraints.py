"""The constraint rows' Python side: per-config constants and the public constraint set.

The maths is :mod:`safe_pe_cbf.kernels.rows` (the sampled-data VCP-CBF half-planes of
docs/cbf.md, one row builder for every caller). Here: :class:`Consts`, the per-config
constants packed once for every kernel; the relaxation stages; the arena check; and
:func:`build_constraints`, the validated constraint set of one robot (numpy output, for
markers and diagnostics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from safe_pe_cbf import jit
from safe_pe_cbf.config import GROUPS, CBFConfig
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import MAX_ABS, Arena, check_pose, obstacles_array
from safe_pe_cbf.kernels.backup import backup_candidates
from safe_pe_cbf.kernels.rows import (CONST_NAMES, GROUP_COLLISION, X_MIN, Y_MAX, bonus,
                                      brake_path, fill_rows, group_of, rhs)

__all__ = ["ConstraintSet", "build_constraints", "Consts", "certificate_bonus",
           "column_names", "relaxation_stages", "check_arena_fits", "WALL_NAMES",
           "PHYSICAL_TOL", "opponent_commitment"]

#: Absolute tolerance [m] of the physical check of every solver result: a QP or relaxed
#: command is accepted only if each of its unscaled rows, with the command's own certificate
#: bonus, is violated by at most this distance over one control period (slack * dt). Solver
#: results are exact up to rounding (~1e-17 m here); tolerances in weight-scaled units are not
#: trusted (issue 11).
PHYSICAL_TOL = 1e-10

WALL_NAMES = ("wall_x_min", "wall_x_max", "wall_y_min", "wall_y_max")


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


def certificate_bonus(k: "Consts", v: float, w: float) -> float:
    """Extra slack a *specific* command earns, ``(c - c(u)) dt >= 0``
    (:func:`~safe_pe_cbf.kernels.rows.bonus`).

    :param k: constants
    :param v: linear speed
    :param w: angular speed
    """
    return bonus(k.c_arr, v, w)


class Consts:
    """Per-config constants, as Python floats and packed for the kernels.

    ``c_arr`` (:data:`~safe_pe_cbf.kernels.rows.CONST_NAMES`; the arena entries are filled
    by :meth:`packed`), ``tab`` (``(S + 2, 3)`` h-multipliers per group: configured gamma, the
    S relaxed stages, gamma 1) and ``cand`` (``(C, 3)`` backup candidates ``(v, omega,
    certificate bonus)``) are numpy arrays where numba compiles the kernels and Python lists
    where it does not.

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
        self.cand = pack([[v, w, bonus(self.c_arr, v, w)] for v, w in self.candidates])
        #: the backup of the actuated rows: the full brake, command (0, 0)
        self.cand_brake = pack([[0.0, 0.0, bonus(self.c_arr, 0.0, 0.0)]])

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


