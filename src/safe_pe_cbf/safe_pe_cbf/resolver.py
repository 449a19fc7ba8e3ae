"""SafeActionResolver: the tiered safety filter of one robot.

Tiers (same numbers as ``safe_pe_msgs/SafetyStatus.TIER_*``):

0. NOMINAL: the nominal command is within the limits and certified safe as is.
1. QP: the closest command (in ``|W (u - u_nom)|``) satisfying every CBF half-plane.
2. RELAXED: the QP was infeasible; groups are softened one after another in
   ``config.relaxation_order`` (their decay requirement ``h(dt) >= (1 - gamma) h0`` becomes
   ``h(dt) >= 0``: still no body-level violation within the interval).
3. BACKUP: still infeasible: brake and turn away (:mod:`safe_pe_cbf.backup`).

STOP (4) and DISABLED (5) are decided by the node (watchdog, toggle), never here.

Every command of tiers 0-2 is checked against the physical (unscaled) rows of its tier, with
the command's own certificate bonus and an absolute tolerance of
:data:`~safe_pe_cbf.constraints.PHYSICAL_TOL` metres over the control period
(:func:`certified_within`); a solver result that fails the check counts as infeasible and the
next tier decides. The solvers work in weight-scaled units with a tolerance there, which alone
does not bound the violation in metres. The backup needs no check: ``u = 0`` is certified on
every wall and obstacle row in every safe state, and the backup keeps those rows first, then
maximises the smallest slack (:mod:`safe_pe_cbf.backup`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable, Optional, Sequence

import numpy as np

from safe_pe_cbf.backup import backup_candidates, select_backup
from safe_pe_cbf.config import GROUPS, CBFConfig
from safe_pe_cbf.constraints import (PHYSICAL_TOL, ConstraintSet, Consts, Rows,
                                     build_constraints, build_rows, certificate_bonus)
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena, check_command, check_pose, obstacles_tuple
from safe_pe_cbf.qp import OSQPSolver, scaled_rows, solve_rows

__all__ = ["Tier", "ResolverRecord", "SafeActionResolver", "relaxation_stages",
           "check_arena_fits", "nominal_certified", "certified_within", "resolve_rows"]


class Tier(IntEnum):
    """Resolver tier; values equal ``SafetyStatus.TIER_*``."""

    NOMINAL = 0
    QP = 1
    RELAXED = 2
    BACKUP = 3
    STOP = 4
    DISABLED = 5


@dataclass(slots=True)
class ResolverRecord:
    """What the resolver did for one command.

    :param tier: the tier that produced the command
    :param min_h: smallest barrier value at the sampled state [m]
    :param min_h_constraint: name of the constraint attaining it
    :param intervened: the safe command differs from the nominal one
    :param intervention: ``|W (u_safe - u_nom)|``
    :param qp_feasible: the CBF-QP with the configured gamma had a solution
    :param solve_time: wall time of the resolve call [s]
    :param reason: why RELAXED/BACKUP was needed, else empty
    :param active_constraints: names of the constraints active at the solution
    """

    tier: Tier
    min_h: float
    min_h_constraint: str
    intervened: bool
    intervention: float
    qp_feasible: bool
    solve_time: float
    reason: str = ""
    active_constraints: tuple[str, ...] = ()


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


class SafeActionResolver:
    """Tiered CBF safety filter of one robot.

    :param config: filter configuration
    :param arena: the arena
    :param obstacles: static circular obstacles (anything ``obstacles_array`` accepts)
    """

    def __init__(self, config: CBFConfig, arena: Arena,
                 obstacles: Optional[Iterable] = None) -> None:
        self._osqp: Optional[OSQPSolver] = None
        self.update(config=config, arena=arena, obstacles=obstacles if obstacles is not None
                    else ())

    # ------------------------------------------------------------------ configuration
    def update(self, config: Optional[CBFConfig] = None, arena: Optional[Arena] = None,
               obstacles: Optional[Iterable] = None) -> None:
        """Replace the config, arena and/or obstacles (validated before anything changes).

        :param config: new configuration, or None to keep
        :param arena: new arena, or None to keep
        :param obstacles: new obstacles, or None to keep
        """
        cfg = config if config is not None else self.config
        if not isinstance(cfg, CBFConfig):
            raise SafetyInputError(f"config must be a CBFConfig, got {type(cfg).__name__}")
        cfg.validate()
        ar = arena if arena is not None else self.arena
        if not isinstance(ar, Arena):
            raise SafetyInputError(f"arena must be an Arena, got {type(ar).__name__}")
        check_arena_fits(ar, cfg)
        obs = obstacles_tuple(obstacles) if obstacles is not None else self._obstacles
        osqp_solver = self._osqp
        if cfg.solver == "osqp" and (osqp_solver is None
                                     or osqp_solver.warm_start != cfg.osqp_warm_start):
            osqp_solver = OSQPSolver(warm_start=cfg.osqp_warm_start)
        self.config = cfg
        self.arena = ar
        self._arena_t = ar.as_tuple()
        self._obstacles = obs
        self._k = Consts(cfg)
        self._stages = relaxation_stages(cfg)
        self._candidates = backup_candidates(self._k)
        self._osqp = osqp_solver if cfg.solver == "osqp" else None

    @property
    def obstacles(self) -> np.ndarray:
        """Current obstacles as a ``(K, 3)`` array."""
        return np.array(self._obstacles, dtype=float).reshape(-1, 3)

    def constraints(self, pose: Sequence[float],
                    opponent_pose: Optional[Sequence[float]] = None) -> ConstraintSet:
        """The constraint set at a state (for markers and diagnostics).

        :param pose: own pose
        :param opponent_pose: opponent pose or None
        """
        return build_constraints(pose, self.arena, self._obstacles, opponent_pose, self.config)

    # ------------------------------------------------------------------ solving
    def _solve(self, rows: Rows, g: list[float], v: float, w: float
               ) -> tuple[bool, float, float, tuple[int, ...]]:
        k = self._k
        if self._osqp is not None:
            res = None
            try:
                res = self._osqp.solve((v, w), (k.wv, k.ww),
                                       np.array([rows.gv, rows.gw]).T.reshape(-1, 2),
                                       np.array(g), (k.v_min, k.w_min), (k.v_max, k.w_max))
            except RuntimeError:
                res = None  # OSQP did not converge: the exact solver decides
            if res is not None:
                act = tuple(a for a in res.active if a < len(g))
                return res.feasible, float(res.u[0]), float(res.u[1]), act
        ax, ay, b, idx, bad = scaled_rows(rows.gv, rows.gw, g, k.wv, k.ww, k.v_min, k.v_max,
                                          k.w_min, k.w_max)
        if bad:
            return False, v, w, ()
        zx, zy, ok, act = solve_rows(k.wv * v, k.ww * w, ax, ay, b, k.tol)
        if not ok:
            return False, v, w, ()
        uv = zx / k.wv
        uw = zy / k.ww
        uv = k.v_min if uv < k.v_min else (k.v_max if uv > k.v_max else uv)
        uw = k.w_min if uw < k.w_min else (k.w_max if uw > k.w_max else uw)
        return True, uv, uw, tuple(idx[a] for a in act if idx[a] < len(g))

    def resolve(self, pose: Sequence[float], u_nom: Sequence[float],
                opponent_pose: Optional[Sequence[float]] = None
                ) -> tuple[np.ndarray, ResolverRecord]:
        """Filter one nominal command.

        :param pose: own pose ``(x, y, theta)`` at the sampling instant
        :param u_nom: nominal command ``(v, omega)``
        :param opponent_pose: the other robot's pose at the same instant, or None
        :returns: ``(u_safe (2,), record)``; ``u_safe`` is always finite
        :raises SafetyInputError: on NaN/inf or malformed input (the caller must stop)
        """
        t0 = time.perf_counter()
        p = check_pose(pose)
        v, w = check_command(u_nom)
        opp = None if opponent_pose is None else check_pose(opponent_pose, "opponent_pose")
        k = self._k
        rows = build_rows(k, p, self._arena_t, self._obstacles, opp)
        gam = k.gamma
        g = rows.g(k, (gam, gam, gam))
        out = resolve_rows(k, rows, g, v, w, self._stages, self._candidates, self._solve)
        uv, uw, tier, qp_ok, act, reason = out
        hs = rows.h
        imin = hs.index(min(hs))
        dv = k.wv * (uv - v)
        dw = k.ww * (uw - w)
        rec = ResolverRecord(
            tier=tier, min_h=hs[imin], min_h_constraint=rows.names[imin],
            intervened=(uv != v or uw != w), intervention=math.sqrt(dv * dv + dw * dw),
            qp_feasible=qp_ok, solve_time=time.perf_counter() - t0, reason=reason,
            active_constraints=tuple(rows.names[i] for i in act))
        return np.array([uv, uw]), rec

    def action_box(self, pose: Sequence[float],
                   opponent_pose: Optional[Sequence[float]] = None):
        """Safe action box at a state (see :func:`safe_pe_cbf.bounds.safe_action_box`).

        :param pose: own pose
        :param opponent_pose: opponent pose or None
        """
        from safe_pe_cbf.bounds import safe_action_box

        return safe_action_box(pose, self.arena, self._obstacles, opponent_pose, self.config)


def certified_within(k: Consts, rows: Rows, g: list[float], v: float, w: float,
                     tol_m: float) -> bool:
    """Whether ``(v, w)`` is within the limits and, with its certificate bonus, violates no
    row by more than ``tol_m`` metres over the control period (``slack * dt >= -tol_m``).

    :param k: constants
    :param rows: constraint rows
    :param g: right-hand sides (the gammas of the tier being checked)
    :param v: linear speed
    :param w: angular speed
    :param tol_m: absolute tolerance [m], >= 0
    """
    if not (k.v_min <= v <= k.v_max and k.w_min <= w <= k.w_max):
        return False
    bonus = certificate_bonus(k, v, w)
    lim = -tol_m / k.dt
    gv = rows.gv
    gw = rows.gw
    for i in range(len(g)):
        if (g[i] + bonus) - (gv[i] * v + gw[i] * w) < lim:
            return False
    return True


def nominal_certified(k: Consts, rows: Rows, g: list[float], v: float, w: float) -> bool:
    """Whether ``(v, w)`` is within the limits and certified for every row (no tolerance).

    :param k: constants
    :param rows: constraint rows
    :param g: right-hand sides (configured gamma)
    :param v: linear speed
    :param w: angular speed
    """
    return certified_within(k, rows, g, v, w, 0.0)


def resolve_rows(k: Consts, rows: Rows, g: list[float], v: float, w: float, stages: list,
                 candidates: list[tuple[float, float]], solve) -> tuple:
    """Tier logic on prepared rows. Returns ``(v, w, tier, qp_feasible, active, reason)``.

    A QP or relaxed-stage result that fails :func:`certified_within` (tolerance
    :data:`PHYSICAL_TOL`) counts as infeasible: the next tier decides.

    :param k: constants
    :param rows: constraint rows
    :param g: right-hand sides with the configured gamma
    :param v: nominal linear speed
    :param w: nominal angular speed
    :param stages: from :func:`relaxation_stages`
    :param candidates: backup candidates
    :param solve: ``solve(rows, g, v, w) -> (feasible, v, w, active rows)``
    """
    if nominal_certified(k, rows, g, v, w):
        return v, w, Tier.NOMINAL, True, (), ""
    ok, uv, uw, act = solve(rows, g, v, w)
    rejected = ok and not certified_within(k, rows, g, uv, uw, PHYSICAL_TOL)
    if ok and not rejected:
        return uv, uw, Tier.QP, True, act, ""
    note = " (a solver result failed the physical check)" if rejected else ""
    present = set(rows.group)
    for gammas, text in stages:
        if not any(gammas[grp] != k.gamma for grp in present):
            continue  # nothing present was softened by this stage
        g_s = rows.g(k, gammas)
        ok, uv, uw, act = solve(rows, g_s, v, w)
        if ok and certified_within(k, rows, g_s, uv, uw, PHYSICAL_TOL):
            return uv, uw, Tier.RELAXED, False, act, f"CBF-QP infeasible; {text}{note}"
        if ok:
            note = " (a solver result failed the physical check)"
    g1 = rows.g(k, (1.0, 1.0, 1.0))
    bv, bw, slack, arg = select_backup(k, rows, g1, candidates)
    reason = "CBF-QP infeasible after softening every group; backup" + note
    if slack < 0.0:
        reason += (f" (no certified command: least violation {slack:.3g} on "
                   f"{rows.names[arg]})")
    return bv, bw, Tier.BACKUP, False, (arg,) if arg >= 0 else (), reason
