"""BatchedSafetyFilter: the resolver of :mod:`safe_pe_cbf.resolver` for N robots at once.

It validates the inputs and runs the loops of :mod:`safe_pe_cbf.kernels.loops` over the very
kernels the single-robot path runs, compiled by numba, hence identical commands, records and
boxes (tested bitwise on random instances). Without numba the same loops run as plain Python
(slow; ``.backend`` says ``"python"``). The rows of a state are built once
(:meth:`BatchedSafetyFilter.build_rows`) and serve the resolver, the safe box and the barrier
values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from safe_pe_cbf import jit
from safe_pe_cbf.batch_inputs import (bad_commands, check_batch_values, coerce_actuation,
                                      coerce_batch_inputs, coerce_commands)
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import Consts, check_arena_fits, column_names
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import MAX_ABS, Arena
from safe_pe_cbf.kernels.loops import box_loop, build_loop, resolve_loop

__all__ = ["BACKENDS", "BatchRecord", "BatchedSafetyFilter", "FilterRows", "barrier_values",
           "min_barrier", "column_names"]

#: ``auto``: the compiled loop where numba is installed, else the same loop in plain Python
BACKENDS = ("auto", "numba")


# ---------------------------------------------------------------- rows and records
@dataclass
class BatchRecord:
    """Per-row records of one batched call (arrays of length N).

    :param tier: ``(N,)`` int8 :class:`~safe_pe_cbf.resolver.Tier` values
    :param min_h: ``(N,)`` smallest barrier value [m]
    :param min_h_index: ``(N,)`` column attaining it (see ``names``)
    :param intervention: ``(N,)`` ``|W (u_safe - u_nom)|``
    :param intervened: ``(N,)`` bool
    :param qp_feasible: ``(N,)`` bool, the CBF-QP with the configured gamma was feasible
    :param active_i: ``(N,)`` first active column at the solution (-1 if none)
    :param active_j: ``(N,)`` second active column (-1 if none)
    :param names: names of the ``5 + K`` columns
    :param solve_time: wall time of the whole call [s]
    """

    tier: np.ndarray
    min_h: np.ndarray
    min_h_index: np.ndarray
    intervention: np.ndarray
    intervened: np.ndarray
    qp_feasible: np.ndarray
    active_i: np.ndarray
    active_j: np.ndarray
    names: list[str]
    solve_time: float

    def min_h_constraint(self, row: int) -> str:
        """Name of the constraint attaining ``min_h[row]``.

        :param row: env index
        """
        return self.names[int(self.min_h_index[row])]


class FilterRows:
    """Constraint rows of N robots at one sampled state, built once and reused.

    Built by :meth:`BatchedSafetyFilter.build_rows`; :meth:`BatchedSafetyFilter.resolve_rows`
    and :meth:`BatchedSafetyFilter.action_box_rows` use them instead of rebuilding, with
    results identical to ``resolve`` / ``action_box`` at the same state. Valid only for the
    filter's ``config`` and ``arena`` they were built with (checked on use).

    :param arrays: ``(gv, gw, h, col)`` ``(N, 5 + K)`` rows of each robot, packed in column
        order, ``cnt (N,)`` of them; ``min_h (N,)``, ``min_i (N,)``
    :param num_obstacles: K (obstacle slots)
    :param config: the filter's configuration at build time
    :param arena: the filter's arena at build time
    :param consts: ``(N, len(CONST_NAMES) + 5 + K)`` each robot's constants under the actuator model
        (docs/actuation.md: reachable limits, held velocity), None with ideal actuation
    """

    def __init__(self, arrays: tuple[np.ndarray, ...], num_obstacles: int, config: CBFConfig,
                 arena: Arena, consts: Optional[np.ndarray] = None) -> None:
        self.gv, self.gw, self.h, self.col, self.cnt, self._min_h, self._min_i = arrays
        self.consts = consts
        self.num_envs = self.h.shape[0]
        self.num_obstacles = num_obstacles
        self.config = config
        self.arena = arena

    def barrier_values(self) -> np.ndarray:
        """``(N, 5 + K)`` barrier values [m]; absent rows +inf (see ``column_names``)."""
        H = np.full(self.h.shape, np.inf)
        present = np.arange(self.h.shape[1])[None, :] < self.cnt[:, None]
        H[np.nonzero(present)[0], self.col[present]] = self.h[present]
        return H

    def select(self, idx: np.ndarray) -> "FilterRows":
        """The rows of the robots ``idx`` (same config and arena).

        :param idx: indices (or a boolean mask) of the robots
        """
        arrays = (self.gv, self.gw, self.h, self.col, self.cnt, self._min_h, self._min_i)
        return FilterRows(tuple(np.ascontiguousarray(a[idx]) for a in arrays),
                          self.num_obstacles, self.config, self.arena,
                          None if self.consts is None else np.ascontiguousarray(self.consts[idx]))

    @property
    def min_h(self) -> np.ndarray:
        """``(N,)`` smallest barrier value [m] (read-only view; copy before changing it)."""
        return self._min_h

    @property
    def min_h_index(self) -> np.ndarray:
        """``(N,)`` column attaining ``min_h``."""
        return self._min_i


def _build_act(k: Consts, c: np.ndarray, P: np.ndarray, O: np.ndarray, M: np.ndarray,
               Q: Optional[np.ndarray], velocities: object, pending: object,
               opponent_velocities: object) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Rows under the actuator model: ``((gv, gw, h, col, cnt, min_h, min_i), consts)``."""
    N, K = P.shape[0], O.shape[1]
    V, PEND = coerce_actuation(velocities, pending, N, k.latency,
                               not k.config.actuator.ideal)
    if opponent_velocities is None:
        QV = np.full((N, 2), np.nan)
    else:  # NaN rows: that opponent's velocity is unknown (its speed limits are assumed)
        QV = np.ascontiguousarray(opponent_velocities, dtype=np.float64)
        if QV.shape != (N, 2) or not np.all(np.isnan(QV) | (np.abs(QV) <= MAX_ABS)):
            raise SafetyInputError(f"opponent_velocities must be (N, 2) = {(N, 2)}, finite "
                                   f"(or NaN: unknown) and within +-{MAX_ABS:g}")
    shape = (N, 5 + K)
    out = (np.empty(shape), np.empty(shape), np.empty(shape), np.empty(shape, dtype=np.int64),
           np.empty(N, dtype=np.int64), np.empty(N), np.empty(N, dtype=np.int64))
    CL = np.empty((N, len(c) + out[0].shape[1]))  # constants, one offset per row
    if build_loop(c, CL, P, O, M, P if Q is None else Q, Q is not None, V, PEND, QV, *out):
        check_batch_values(P, O, M, Q)  # raises with the details
    return out, CL


#: what :func:`_build` hands the build loop for the actuator model's inputs: none (ideal)
_IDEAL = (np.empty((0, 0)), np.empty((0, 2)), np.empty((0, 0, 2)), np.empty((0, 2)))


def _build(k: Consts, c: np.ndarray, P: np.ndarray, O: np.ndarray, M: np.ndarray,
           Q: Optional[np.ndarray], workspace: Optional[dict] = None
           ) -> tuple[np.ndarray, ...]:
    """Rows of validated-shape inputs: ``(gv, gw, h, col, cnt, min_h, min_i)``.

    With ``workspace`` (a dict owned by the caller) the big row arrays are reused instead of
    allocated (and page-faulted) afresh; they are then valid until its next use.
    """
    N, K = P.shape[0], O.shape[1]
    shape = (N, 5 + K)
    ws = workspace if workspace is not None else {}
    if ws.get("shape") != shape:
        ws.update(shape=shape, arrays=(np.empty(shape), np.empty(shape), np.empty(shape),
                                       np.empty(shape, dtype=np.int64)))
    out = ws["arrays"] + (np.empty(N, dtype=np.int64), np.empty(N), np.empty(N, dtype=np.int64))
    if workspace is None:
        ws.clear()
    if build_loop(c, _IDEAL[0], P, O, M, P if Q is None else Q, Q is not None, *_IDEAL[1:],
                  *out):
        check_batch_values(P, O, M, Q)  # raises with the details
    return out


def _pick_backend(backend: str) -> str:
    if backend == "numpy":
        raise SafetyInputError("the batched filter's numpy backend was removed (issue 13): "
                               "it is one loop over the single-robot kernels now; use "
                               "backend='auto' (compiled by numba where installed)")
    if backend not in BACKENDS:
        raise SafetyInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and not jit.AVAILABLE:
        raise SafetyInputError("backend 'numba' needs the numba package (pinned in "
                               "requirements.txt; NUMBA_DISABLE_JIT unset): install it, or "
                               "use backend='auto'")
    return "numba" if jit.AVAILABLE else "python"


class BatchedSafetyFilter:
    """Tiered CBF filter of one robot role over N environments.

    :param config: filter configuration (solver "osqp" is ignored here: exact solver)
    :param arena: the arena, shared by all environments
    :param chunk_size: >= 1; kept for callers of the chunked numpy filter (the loop holds the
        rows of all N robots, ``(5 + K) * 32`` bytes each)
    :param backend: "auto" (compiled where numba is installed, else plain Python) or
        "numba" (an error without numba); ``.backend`` says which runs
    """

    def __init__(self, config: CBFConfig, arena: Arena, chunk_size: int = 4096,
                 backend: str = "auto") -> None:
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise SafetyInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self.chunk_size = chunk_size
        #: the loop in use: "numba" (compiled) or "python"
        self.backend = _pick_backend(backend)
        self._ws: dict = {}  # row buffers of resolve() (a filter is not thread-safe)
        self.update(config, arena)

    def update(self, config: Optional[CBFConfig] = None, arena: Optional[Arena] = None) -> None:
        """Replace config and/or arena (validated first).

        :param config: new configuration or None
        :param arena: new arena or None
        """
        cfg = config if config is not None else self.config
        ar = arena if arena is not None else self.arena
        if not isinstance(cfg, CBFConfig) or not isinstance(ar, Arena):
            raise SafetyInputError("config must be a CBFConfig and arena an Arena")
        cfg.validate()
        check_arena_fits(ar, cfg)
        self.config = cfg
        self.arena = ar
        self.set_consts(Consts(cfg))

    def set_consts(self, k: Consts) -> None:
        """Use the constants ``k`` (normally those of ``config``; tests hand in others).

        :param k: packed constants
        """
        self._k = k
        self._c = np.asarray(k.packed(self.arena.as_tuple()), dtype=np.float64)
        self._tab = np.asarray(k.tab, dtype=np.float64)
        self._cand = np.asarray(k.cand, dtype=np.float64)
        self._cand_brake = np.asarray(k.cand_brake, dtype=np.float64)
        self._no_consts = np.empty((0, self._c.size))   # ideal actuation: every robot uses c

    # ------------------------------------------------------------------ barrier values
    def barrier_values(self, poses: np.ndarray, obstacles: np.ndarray,
                       mask: Optional[np.ndarray] = None,
                       opponent_poses: Optional[np.ndarray] = None) -> np.ndarray:
        """``(N, 5 + K)`` barrier values [m]; absent rows (masked, no opponent) are +inf.

        Columns: collision, wall_x_min, wall_x_max, wall_y_min, wall_y_max, obstacle[k].
        These are the geometric barriers of docs/cbf.md §2 at the given poses, also under
        the actuator model (whose rows subtract braking distances: ``FilterRows.min_h``).

        :param poses: ``(N, 3)`` own poses
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared; 6 wide with a kind)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` or None
        """
        return self._geometric_rows(poses, obstacles, mask, opponent_poses).barrier_values()

    def min_barrier(self, poses: np.ndarray, obstacles: np.ndarray,
                    mask: Optional[np.ndarray] = None,
                    opponent_poses: Optional[np.ndarray] = None) -> np.ndarray:
        """``(N,)`` smallest barrier value [m] (same arguments as ``barrier_values``)."""
        return self._geometric_rows(poses, obstacles, mask, opponent_poses).min_h.copy()

    def _geometric_rows(self, poses: np.ndarray, obstacles: np.ndarray,
                        mask: Optional[np.ndarray], opponent_poses: Optional[np.ndarray]
                        ) -> FilterRows:
        P, O, M, Q = coerce_batch_inputs(poses, obstacles, mask, opponent_poses)
        return FilterRows(_build(self._k, self._c, P, O, M, Q), O.shape[1], self.config,
                          self.arena)

    # ------------------------------------------------------------------ rows, built once
    def build_rows(self, poses: np.ndarray, obstacles: np.ndarray,
                   mask: Optional[np.ndarray] = None,
                   opponent_poses: Optional[np.ndarray] = None,
                   velocities: Optional[np.ndarray] = None,
                   pending: Optional[np.ndarray] = None,
                   opponent_velocities: Optional[np.ndarray] = None) -> FilterRows:
        """Constraint rows of N robots at one state, for several calls at that state.

        ``resolve_rows(rows, u)`` equals ``resolve(poses, u, ...)``, ``action_box_rows(rows)``
        equals ``action_box(poses, ...)`` and ``rows.min_h`` equals ``min_barrier(...)``
        bitwise; the rows are built (and the inputs validated) once.

        :param poses: ``(N, 3)`` own poses at the sampling instant
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared; 6 wide with a kind)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` opponent poses or None
        :param velocities: with actuator limits (``config.actuated``, docs/actuation.md):
            ``(N, 2)`` the ``(v, omega)`` each robot held in the period ending at the
            sampling instant (ignored with ideal actuation)
        :param pending: with ``config.actuator.latency_steps = L > 0``: ``(N, L, 2)`` the
            commands sent in the last L periods, oldest first
        :param opponent_velocities: ``(N, 2)`` the opponents' held velocities in the same
            period, or None (unknown: their speed limits); "shared" mode with actuator limits
        :raises SafetyInputError: on any non-finite or malformed input
        """
        P, O, M, Q = coerce_batch_inputs(poses, obstacles, mask, opponent_poses)
        if self._k.actuated:
            arrays, CL = _build_act(self._k, self._c, P, O, M, Q, velocities, pending,
                                    opponent_velocities)
            return FilterRows(arrays, O.shape[1], self.config, self.arena, CL)
        return FilterRows(_build(self._k, self._c, P, O, M, Q), O.shape[1], self.config,
                          self.arena)

    def _check_rows(self, rows: object) -> FilterRows:
        if not isinstance(rows, FilterRows):
            raise SafetyInputError(f"rows must come from build_rows(), got {type(rows)}")
        if rows.config is not self.config or rows.arena is not self.arena:
            raise SafetyInputError("rows were built with another config/arena (update() was "
                                   "called since, or another filter): call build_rows() again")
        return rows

    def resolve_rows(self, rows: FilterRows, u_nom: np.ndarray
                     ) -> tuple[np.ndarray, BatchRecord]:
        """:meth:`resolve` on rows from :meth:`build_rows` (identical results).

        :param rows: rows of this filter at the sampling instant
        :param u_nom: ``(N, 2)`` nominal commands
        :returns: ``(u_safe (N, 2), record)``
        :raises SafetyInputError: on foreign/stale rows or a non-finite/malformed ``u_nom``
        """
        t0 = time.perf_counter()
        rows = self._check_rows(rows)
        N = rows.num_envs
        U = coerce_commands(u_nom, N)
        out = (np.empty((N, 2)), np.empty(N, dtype=np.int8), np.empty(N, dtype=bool),
               np.empty(N, dtype=np.int64), np.empty(N, dtype=np.int64), np.empty(N),
               np.empty(N, dtype=bool))
        consts, cand = self._constants(rows)
        bad = resolve_loop(self._c, consts, self._tab, cand, rows.gv, rows.gw, rows.h, rows.col,
                           rows.cnt, U, *out)
        if bad:
            raise bad_commands(U)
        out_u, tier, qp_ok, act_i, act_j, intervention, intervened = out
        return out_u, BatchRecord(
            tier=tier, min_h=rows.min_h.copy(), min_h_index=rows.min_h_index.copy(),
            intervention=intervention, intervened=intervened, qp_feasible=qp_ok,
            active_i=act_i, active_j=act_j, names=column_names(rows.num_obstacles),
            solve_time=time.perf_counter() - t0)

    def _constants(self, rows: FilterRows) -> tuple[np.ndarray, np.ndarray]:
        """Each robot's constants (none with ideal actuation) and the backup candidates."""
        if rows.consts is not None:
            return rows.consts, self._cand_brake
        return self._no_consts, self._cand

    def action_box_rows(self, rows: FilterRows, with_stage: bool = False
                        ) -> tuple[np.ndarray, ...]:
        """:meth:`action_box` on rows from :meth:`build_rows` (identical results).

        :param rows: rows of this filter at the state of the boxes
        :param with_stage: also return ``stage (N,)``
        """
        rows = self._check_rows(rows)
        N = rows.num_envs
        lo, hi = np.empty((N, 2)), np.empty((N, 2))
        empty, stage = np.empty(N, dtype=np.bool_), np.empty(N, dtype=np.int8)
        consts, cand = self._constants(rows)
        box_loop(self._c, consts, self._tab, cand, rows.gv, rows.gw, rows.h, rows.col, rows.cnt,
                 lo, hi, empty, stage)
        return (lo, hi, empty, stage) if with_stage else (lo, hi, empty)

    # ------------------------------------------------------------------ one-shot calls
    def resolve(self, poses: np.ndarray, u_nom: np.ndarray, obstacles: np.ndarray,
                mask: Optional[np.ndarray] = None,
                opponent_poses: Optional[np.ndarray] = None,
                velocities: Optional[np.ndarray] = None,
                pending: Optional[np.ndarray] = None,
                opponent_velocities: Optional[np.ndarray] = None
                ) -> tuple[np.ndarray, BatchRecord]:
        """Filter N nominal commands.

        :param poses: ``(N, 3)`` own poses at the sampling instant
        :param u_nom: ``(N, 2)`` nominal commands
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared; 6 wide with a kind)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` opponent poses or None
        :param velocities: held velocities ``(N, 2)`` (see :meth:`build_rows`)
        :param pending: commands not yet in effect ``(N, L, 2)`` (see :meth:`build_rows`)
        :param opponent_velocities: ``(N, 2)`` or None (see :meth:`build_rows`)
        :returns: ``(u_safe (N, 2), record)``
        :raises SafetyInputError: on any non-finite or malformed input (nothing is filtered)
        """
        t0 = time.perf_counter()
        if self._k.actuated:
            rows = self.build_rows(poses, obstacles, mask, opponent_poses, velocities, pending,
                                   opponent_velocities)
        else:
            P, O, M, Q = coerce_batch_inputs(poses, obstacles, mask, opponent_poses)
            rows = FilterRows(_build(self._k, self._c, P, O, M, Q, self._ws), O.shape[1],
                              self.config, self.arena)
        u, rec = self.resolve_rows(rows, u_nom)
        rec.solve_time = time.perf_counter() - t0
        return u, rec

    def action_box(self, poses: np.ndarray, obstacles: np.ndarray,
                   mask: Optional[np.ndarray] = None,
                   opponent_poses: Optional[np.ndarray] = None, with_stage: bool = False,
                   velocities: Optional[np.ndarray] = None,
                   pending: Optional[np.ndarray] = None,
                   opponent_velocities: Optional[np.ndarray] = None
                   ) -> tuple[np.ndarray, ...]:
        """Safe action boxes ``(lo (N, 2), hi (N, 2), empty (N,))`` (see
        :func:`safe_pe_cbf.bounds.safe_action_box`; identical per row).

        :param poses: ``(N, 3)``
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared; 6 wide with a kind)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` or None
        :param with_stage: also return ``stage (N,)`` (see ``ActionBox.stage``)
        :param velocities: held velocities ``(N, 2)`` (see :meth:`build_rows`)
        :param pending: commands not yet in effect ``(N, L, 2)`` (see :meth:`build_rows`)
        :param opponent_velocities: ``(N, 2)`` or None (see :meth:`build_rows`)
        """
        return self.action_box_rows(self.build_rows(poses, obstacles, mask, opponent_poses,
                                                    velocities, pending, opponent_velocities),
                                    with_stage)


def barrier_values(poses: np.ndarray, arena: Arena, obstacles: np.ndarray,
                   mask: Optional[np.ndarray], opponent_poses: Optional[np.ndarray],
                   config: CBFConfig) -> np.ndarray:
    """``(N, 5 + K)`` barrier values [m] (absent rows +inf); see ``BatchedSafetyFilter``.

    :param poses: ``(N, 3)``
    :param arena: the arena
    :param obstacles: ``(N, K, 3)`` or ``(K, 3)``
    :param mask: ``(N, K)`` bool or None
    :param opponent_poses: ``(N, 3)`` or None
    :param config: filter configuration (radii, VCP offsets, margin)
    """
    P, O, M, Q = coerce_batch_inputs(poses, obstacles, mask, opponent_poses)
    k = Consts(config)
    c = np.asarray(k.packed(arena.as_tuple()), dtype=np.float64)
    return FilterRows(_build(k, c, P, O, M, Q), O.shape[1], config, arena).barrier_values()


def min_barrier(poses: np.ndarray, arena: Arena, obstacles: np.ndarray,
                mask: Optional[np.ndarray], opponent_poses: Optional[np.ndarray],
                config: CBFConfig) -> np.ndarray:
    """``(N,)`` smallest barrier value [m]; same arguments as :func:`barrier_values`."""
    P, O, M, Q = coerce_batch_inputs(poses, obstacles, mask, opponent_poses)
    k = Consts(config)
    c = np.asarray(k.packed(arena.as_tuple()), dtype=np.float64)
    return _build(k, c, P, O, M, Q)[5]
