"""SafeActionResolver: the tiered safety filter of one robot.

It validates its inputs, runs the compiled tier kernels of :mod:`safe_pe_cbf.kernels.tiers`
(NOMINAL, QP, RELAXED, BACKUP: the tiers and their physical check are described there) and
reports what they did in a :class:`ResolverRecord`. STOP (4) and DISABLED (5) are decided by
the node (watchdog, toggle), never here. With ``solver="osqp"`` the same tier code runs in
the interpreter with OSQP in place of the exact QP (:func:`safe_pe_cbf.jit.with_globals`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable, Optional, Sequence

import numpy as np

from safe_pe_cbf import jit
from safe_pe_cbf.bounds import ActionBox
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import (ConstraintSet, Consts, build_constraints, check_arena_fits,
                                     column_names, relaxation_stages)
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena, check_command, check_pose, obstacles_tuple
from safe_pe_cbf.kernels.box import box_pose, box_pose_act
from safe_pe_cbf.kernels.tiers import (resolve_one, resolve_one_act, resolve_pose,
                                       resolve_pose_act, resolve_pose_packed)
from safe_pe_cbf.osqp_solver import OSQPSolver, osqp_rows

__all__ = ["Tier", "ResolverRecord", "SafeActionResolver", "relaxation_stages",
           "check_arena_fits", "pending_array"]


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


_TIERS = tuple(Tier)
_ND = np.ndarray


def pending_array(pending: object, steps: int, name: str = "pending"):
    """Commands sent but not yet in effect as a ``(steps, 2)`` float array (a list of lists
    without numba), validated like commands.

    :param pending: ``steps`` commands ``(v, omega)``, oldest first (None: none, only when
        ``steps == 0``)
    :param steps: the latency in periods
    :param name: what to call it in error messages
    """
    rows = [] if pending is None else list(pending)
    if len(rows) != steps:
        raise SafetyInputError(
            f"{name} must hold the {steps} command(s) sent in the last latency_steps periods "
            f"(oldest first), got {len(rows)}: keep a queue of the commands sent")
    out = [list(check_command(r, f"{name}[{i}]")) for i, r in enumerate(rows)]
    if not jit.AVAILABLE:
        return out
    return np.array(out, dtype=np.float64).reshape(steps, 2)


def _width(obs: tuple) -> int:
    """Row width of validated obstacle rows (3 when there are none)."""
    return len(obs[0]) if obs else 3


class SafeActionResolver:
    """Tiered CBF safety filter of one robot.

    :param config: filter configuration
    :param arena: the arena
    :param obstacles: static obstacles (anything ``obstacles_array`` accepts)
    """

    def __init__(self, config: CBFConfig, arena: Arena,
                 obstacles: Optional[Iterable] = None) -> None:
        self._osqp: Optional[OSQPSolver] = None
        self.update(config=config, arena=arena, obstacles=obstacles if obstacles is not None
                    else ())
        if jit.AVAILABLE:  # compile (or load from numba's disk cache) now, not on the 1st command
            c = 0.5 * (arena.x_min + arena.x_max), 0.5 * (arena.y_min + arena.y_max)
            resolve_pose(self._c, self._k.tab, self._k.cand, c[0], c[1], 0.0, True, c[0],
                         c[1], 0.0, 0.0, 0.0, self._obs, self._mask)
            box_pose(self._c, self._k.tab, self._k.cand, c[0], c[1], 0.0, True, c[0], c[1],
                     0.0, self._obs, self._mask)
            if self._k.actuated:
                pend = pending_array([(0.0, 0.0)] * self._k.latency, self._k.latency)
                resolve_pose_act(self._c, self._k.tab, self._k.cand_brake, c[0], c[1], 0.0,
                                 True, c[0], c[1], 0.0, 0.0, 0.0, self._obs, self._mask, 0.0,
                                 0.0, pend, math.nan, math.nan)
                resolve_pose_packed(self._c, self._k.tab, self._k.cand_brake, c[0], c[1], 0.0,
                                    True, c[0], c[1], 0.0, 0.0, 0.0, self._obs, self._mask,
                                    self._act, True)

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
        self._osqp = osqp_solver if cfg.solver == "osqp" else None
        self._names = column_names(len(obs))
        if jit.AVAILABLE:
            self._obs = np.array(obs, dtype=np.float64).reshape(len(obs), _width(obs))
            self._mask = np.ones(len(obs), dtype=np.bool_)
        else:
            self._obs, self._mask = obs, [True] * len(obs)
        self.set_consts(Consts(cfg))

    def set_consts(self, k: Consts) -> None:
        """Use the constants ``k`` (normally those of ``config``; tests hand in others).

        :param k: packed constants
        """
        self._k = k
        self._c = k.packed(self._arena_t)
        self._pend = np.zeros((k.latency, 2))
        #: the lean path's inputs ``v0, w0, ov, ow, pending...`` (:func:`resolve_pose_packed`)
        #: and a memoryview of them (writing through it costs less than numpy item access)
        self._act = np.zeros(4 + 2 * k.latency)
        self._act_mv = self._act.data if jit.AVAILABLE else None
        self._needs_velocity = not k.config.actuator.ideal
        self._stages = k.stages
        self._run = resolve_pose
        self._run_act = resolve_pose_act
        self._run_packed = resolve_pose_packed
        if self._osqp is not None:  # the same tier code, in the interpreter, with OSQP
            one = jit.with_globals(resolve_one, qp_rows=osqp_rows(self._osqp))
            self._run = jit.with_globals(resolve_pose, resolve_one=one)
            one_act = jit.with_globals(resolve_one_act, resolve_one=one)
            self._run_act = jit.with_globals(resolve_pose_act, resolve_one_act=one_act)
            self._run_packed = jit.with_globals(resolve_pose_packed,
                                                resolve_pose_act=self._run_act)

    @property
    def obstacles(self) -> np.ndarray:
        """Current obstacles as a ``(K, 3)`` (circles) or ``(K, 6)`` array."""
        return np.array(self._obstacles, dtype=float).reshape(len(self._obstacles),
                                                              _width(self._obstacles))

    def constraints(self, pose: Sequence[float],
                    opponent_pose: Optional[Sequence[float]] = None) -> ConstraintSet:
        """The constraint set at a state (for markers and diagnostics).

        :param pose: own pose
        :param opponent_pose: opponent pose or None
        """
        return build_constraints(pose, self.arena, self._obstacles, opponent_pose, self.config)

    # ------------------------------------------------------------------ solving
    def _actuation(self, velocity: Optional[Sequence[float]], pending: Optional[object],
                   opponent_velocity: Optional[Sequence[float]] = None
                   ) -> tuple[float, float, object, float, float]:
        """Validated ``(v0, w0, pending array, ov, ow)`` for the actuated kernels."""
        if opponent_velocity is None:
            ov, ow = math.nan, math.nan
        else:
            ov, ow = check_command(opponent_velocity, "opponent_velocity")
        if velocity is None:
            if self._needs_velocity:
                raise SafetyInputError(
                    "config.actuator has limits: pass velocity, the (v, omega) the robot held "
                    "in the last period (measured, or the last command ramped through the "
                    "model; see docs/actuation.md for an unknown velocity)")
            v0, w0 = 0.0, 0.0
        else:
            v0, w0 = check_command(velocity, "velocity")
        steps = self._k.latency
        rows = () if pending is None else pending
        if steps == 0 and jit.AVAILABLE and not len(rows):
            return v0, w0, self._pend, ov, ow  # (0, 2): nothing pending
        if steps == 0 or not jit.AVAILABLE or len(rows) != steps:
            return v0, w0, pending_array(pending, steps), ov, ow
        buf = self._pend  # filled in place: building an array per call costs more than
        for j in range(steps):  # the compiled kernel
            v, w = check_command(rows[j], "pending (a command sent)")
            buf[j, 0] = v
            buf[j, 1] = w
        return v0, w0, buf, ov, ow

    def resolve(self, pose: Sequence[float], u_nom: Sequence[float],
                opponent_pose: Optional[Sequence[float]] = None,
                velocity: Optional[Sequence[float]] = None, pending: Optional[object] = None,
                opponent_velocity: Optional[Sequence[float]] = None
                ) -> tuple[np.ndarray, ResolverRecord]:
        """Filter one nominal command.

        :param pose: own pose ``(x, y, theta)`` at the sampling instant
        :param u_nom: nominal command ``(v, omega)``
        :param opponent_pose: the other robot's pose at the same instant, or None
        :param velocity: with actuator limits (``config.actuated``): the ``(v, omega)`` held
            in the period that ends at the sampling instant (ignored with ideal actuation)
        :param pending: with ``config.actuator.latency_steps = L > 0``: the L commands sent
            in the last L periods, oldest first (not yet in effect)
        :param opponent_velocity: the ``(v, omega)`` the opponent held in the same period, or
            None (unknown: its speed limits); "shared" mode with actuator limits only
        :returns: ``(u_safe (2,), record)``; ``u_safe`` is always finite
        :raises SafetyInputError: on NaN/inf or malformed input (the caller must stop)
        """
        t0 = time.perf_counter()
        x, y, th = check_pose(pose)
        v, w = check_command(u_nom)
        if opponent_pose is None:
            has_opp, ox, oy, oth = False, 0.0, 0.0, 0.0
        else:
            has_opp = True
            ox, oy, oth = check_pose(opponent_pose, "opponent_pose")
        k = self._k
        if k.actuated:
            a = self._act_mv
            tier = -1
            try:  # the lean path: the inputs copied into one buffer, checked by the kernel
                if a is None:
                    raise TypeError("plain Python: the checked path")
                if type(velocity) is _ND:
                    a[0:2] = velocity  # a buffer copy; another shape or dtype: ValueError
                else:
                    a[0], a[1] = velocity  # type: ignore[misc]  # None: TypeError
                known = opponent_velocity is not None
                if known:
                    if type(opponent_velocity) is _ND:
                        a[2:4] = opponent_velocity
                    else:
                        a[2], a[3] = opponent_velocity  # type: ignore[misc]
                steps = k.latency
                if (0 if pending is None else len(pending)) != steps:  # type: ignore[arg-type]
                    raise ValueError("pending: the checked path says why")
                for j in range(steps):
                    r = pending[j]  # type: ignore[index]
                    if type(r) is _ND:
                        a[4 + 2 * j:6 + 2 * j] = r
                    else:
                        a[4 + 2 * j], a[5 + 2 * j] = r
                uv, uw, tier, stage, rejected, ci, cj, slack, min_h, cmin = self._run_packed(
                    self._c, k.tab, k.cand_brake, x, y, th, has_opp, ox, oy, oth, v, w,
                    self._obs, self._mask, self._act, known)
            except (TypeError, ValueError):
                tier = -1
            if tier < 0:  # the checked path: the typed error that says why (or, for an
                # input the buffer does not take as is, e.g. a (2, 1) array, its values)
                v0, w0, pend, ov, ow = self._actuation(velocity, pending, opponent_velocity)
                uv, uw, tier, stage, rejected, ci, cj, slack, min_h, cmin = self._run_act(
                    self._c, k.tab, k.cand_brake, x, y, th, has_opp, ox, oy, oth, v, w,
                    self._obs, self._mask, v0, w0, pend, ov, ow)
        else:
            uv, uw, tier, stage, rejected, ci, cj, slack, min_h, cmin = self._run(
                self._c, k.tab, k.cand, x, y, th, has_opp, ox, oy, oth, v, w, self._obs,
                self._mask)
        names = self._names
        reason = ""
        if tier >= 2:
            note = " (a solver result failed the physical check)" if rejected else ""
            if tier == 2:
                reason = f"CBF-QP infeasible; {self._stages[stage - 1][1]}{note}"
            else:
                reason = "CBF-QP infeasible after softening every group; backup" + note
                if k.actuated:
                    reason += (" (full brake)" if uv == 0.0 and uw == 0.0 else
                               " (away from the opponent, walls and obstacles kept)")
                elif slack < 0.0:
                    reason += (f" (no certified command: least violation {slack:.3g} on "
                               f"{names[ci]})")
        dv = k.wv * (uv - v)
        dw = k.ww * (uw - w)
        rec = ResolverRecord(
            _TIERS[tier], min_h, names[cmin], uv != v or uw != w, math.sqrt(dv * dv + dw * dw),
            tier <= 1, time.perf_counter() - t0, reason,
            () if ci < 0 else ((names[ci],) if cj < 0 else (names[ci], names[cj])))
        return np.array([uv, uw]), rec

    def action_box(self, pose: Sequence[float],
                   opponent_pose: Optional[Sequence[float]] = None,
                   velocity: Optional[Sequence[float]] = None,
                   pending: Optional[object] = None,
                   opponent_velocity: Optional[Sequence[float]] = None) -> ActionBox:
        """Safe action box at a state (see :func:`safe_pe_cbf.bounds.safe_action_box`); with
        actuator limits it lies in the box reachable in one period (velocity and pending as
        in :meth:`resolve`), and an empty box is the full brake ``(0, 0)``.

        :param pose: own pose
        :param opponent_pose: opponent pose or None
        :param velocity: the held ``(v, omega)`` (see :meth:`resolve`)
        :param pending: commands not yet in effect (see :meth:`resolve`)
        :param opponent_velocity: the opponent's held velocity (see :meth:`resolve`)
        """
        x, y, th = check_pose(pose)
        opp = (0.0, 0.0, 0.0) if opponent_pose is None else check_pose(opponent_pose,
                                                                        "opponent_pose")
        k = self._k
        if k.actuated:
            v0, w0, pend, ov, ow = self._actuation(velocity, pending, opponent_velocity)
            lo_v, hi_v, lo_w, hi_w, empty, stage = box_pose_act(
                self._c, k.tab, k.cand_brake, x, y, th, opponent_pose is not None, opp[0],
                opp[1], opp[2], self._obs, self._mask, v0, w0, pend, ov, ow)
        else:
            lo_v, hi_v, lo_w, hi_w, empty, stage = box_pose(
                self._c, k.tab, k.cand, x, y, th, opponent_pose is not None, opp[0], opp[1],
                opp[2], self._obs, self._mask)
        return ActionBox(np.array([lo_v, lo_w]), np.array([hi_v, hi_w]), bool(empty),
                         int(stage))
