"""BatchedSafetyFilter: the resolver of :mod:`safe_pe_cbf.resolver` for N robots at once.

Same tiers, same candidate order, same floating-point expressions as the single-robot path,
hence identical commands and records (tested bitwise on random instances). Two backends with
identical results: compiled per-robot loops (``numba``, :mod:`safe_pe_cbf.batch_kernels`,
the default when numba is installed) and whole-array numpy operations (``numpy``). N is
processed in chunks (``chunk_size`` rows) to stay in cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from safe_pe_cbf.backup import backup_candidates
from safe_pe_cbf.batch_compiled import CompiledKernels, pick_backend
from safe_pe_cbf.batch_rows import (BatchRows, _buffer, build_rows_batch,
                                    check_batch_inputs, check_commands, coerce_batch_inputs,
                                    coerce_commands, column_names, select_backup_batch,
                                    softened_rows)
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import PHYSICAL_TOL, Consts
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.qp_batch import scaled_rows_batch, solve_rows_batch
from safe_pe_cbf.resolver import Tier, check_arena_fits, relaxation_stages

__all__ = ["BatchRecord", "BatchedSafetyFilter", "FilterRows", "barrier_values", "min_barrier"]


@dataclass
class BatchRecord:
    """Per-row records of one batched call (arrays of length N).

    :param tier: ``(N,)`` int8 :class:`Tier` values
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

    :param chunks: rows of consecutive chunks of at most ``chunk_size`` envs
    :param num_envs: N
    :param num_obstacles: K (obstacle slots)
    :param config: the filter's configuration at build time
    :param arena: the filter's arena at build time
    """

    def __init__(self, chunks: list[BatchRows], num_envs: int, num_obstacles: int,
                 config: CBFConfig, arena: Arena) -> None:
        self.chunks = chunks
        self.num_envs = num_envs
        self.num_obstacles = num_obstacles
        self.config = config
        self.arena = arena
        self._min: Optional[tuple[np.ndarray, np.ndarray]] = None

    def barrier_values(self) -> np.ndarray:
        """``(N, 5 + K)`` barrier values [m]; absent rows +inf (see ``column_names``)."""
        if not self.chunks:
            return np.empty((0, 5 + self.num_obstacles))
        return np.concatenate([np.where(r.valid, r.h, np.inf) for r in self.chunks], axis=0)

    def _minimum(self) -> tuple[np.ndarray, np.ndarray]:
        if self._min is None and self.chunks and all(r.min_h is not None
                                                     for r in self.chunks):
            if len(self.chunks) == 1:  # computed by the compiled row builder
                self._min = (self.chunks[0].min_h, self.chunks[0].min_i)
            else:
                self._min = (np.concatenate([r.min_h for r in self.chunks]),
                             np.concatenate([r.min_i for r in self.chunks]))
        if self._min is None:
            min_h = np.empty(self.num_envs)
            min_i = np.empty(self.num_envs, dtype=np.int64)
            s = 0
            for r in self.chunks:
                e = s + r.h.shape[0]
                hh = np.where(r.valid, r.h, np.inf)
                min_i[s:e] = np.argmin(hh, axis=1)
                min_h[s:e] = hh[np.arange(e - s), min_i[s:e]]
                s = e
            self._min = (min_h, min_i)
        return self._min

    @property
    def min_h(self) -> np.ndarray:
        """``(N,)`` smallest barrier value [m] (read-only view; copy before changing it)."""
        return self._minimum()[0]

    @property
    def min_h_index(self) -> np.ndarray:
        """``(N,)`` column attaining ``min_h``."""
        return self._minimum()[1]


def _ws_buffer(workspace: dict, name: str, shape: tuple[int, int]) -> np.ndarray:
    return _buffer(workspace, name, shape, np.float64)


def _bonus(k: Consts, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    dw = k.d * w
    return (k.c - 0.5 * np.abs(w) * np.sqrt(v * v + dw * dw)) * k.dt


class BatchedSafetyFilter:
    """Tiered CBF filter of one robot role over N environments.

    :param config: filter configuration (solver "osqp" is ignored here: exact batched solver)
    :param arena: the arena, shared by all environments
    :param chunk_size: rows per chunk, >= 1
    :param backend: "auto" (numba if installed, else numpy), "numba" or "numpy"; the
        results are identical, numba is 2-10x faster
    """

    def __init__(self, config: CBFConfig, arena: Arena, chunk_size: int = 4096,
                 backend: str = "auto") -> None:
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise SafetyInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self.chunk_size = chunk_size
        #: the backend in use: "numba" or "numpy"
        self.backend = pick_backend(backend)
        self._kern: Optional[CompiledKernels] = None
        self._ws: dict = {}  # reused buffers (a filter is not thread-safe)
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
        self._k = Consts(cfg)
        self._stages = relaxation_stages(cfg)
        cands = backup_candidates(self._k)
        self._cand_v = np.array([c[0] for c in cands])
        self._cand_w = np.array([c[1] for c in cands])
        self._cand_bonus = _bonus(self._k, self._cand_v, self._cand_w)
        if self.backend == "numba":
            self._kern = CompiledKernels(self._k, ar.as_tuple(), self._stages, cands)

    # ------------------------------------------------------------------ barrier values
    def barrier_values(self, poses: np.ndarray, obstacles: np.ndarray,
                       mask: Optional[np.ndarray] = None,
                       opponent_poses: Optional[np.ndarray] = None) -> np.ndarray:
        """``(N, 5 + K)`` barrier values [m]; absent rows (masked, no opponent) are +inf.

        Columns: collision, wall_x_min, wall_x_max, wall_y_min, wall_y_max, obstacle[k].

        :param poses: ``(N, 3)`` own poses
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` or None
        """
        return self.build_rows(poses, obstacles, mask, opponent_poses).barrier_values()

    def min_barrier(self, poses: np.ndarray, obstacles: np.ndarray,
                    mask: Optional[np.ndarray] = None,
                    opponent_poses: Optional[np.ndarray] = None) -> np.ndarray:
        """``(N,)`` smallest barrier value [m] (same arguments as ``barrier_values``)."""
        return self.build_rows(poses, obstacles, mask, opponent_poses).min_h.copy()

    # ------------------------------------------------------------------ rows, built once
    def build_rows(self, poses: np.ndarray, obstacles: np.ndarray,
                   mask: Optional[np.ndarray] = None,
                   opponent_poses: Optional[np.ndarray] = None) -> FilterRows:
        """Constraint rows of N robots at one state, for several calls at that state.

        ``resolve_rows(rows, u)`` equals ``resolve(poses, u, ...)``, ``action_box_rows(rows)``
        equals ``action_box(poses, ...)`` and ``rows.min_h`` equals ``min_barrier(...)``
        bitwise; the rows are built (and the inputs validated) once.

        :param poses: ``(N, 3)`` own poses at the sampling instant
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` opponent poses or None
        :raises SafetyInputError: on any non-finite or malformed input
        """
        P, O, M, Q = self._inputs(poses, obstacles, mask, opponent_poses)
        N = P.shape[0]
        arena = self.arena.as_tuple()
        chunks = []
        for s in range(0, N, self.chunk_size):
            e = min(N, s + self.chunk_size)
            chunks.append(self._build(P[s:e], arena, O[s:e], M[s:e],
                                      None if Q is None else Q[s:e]))
        return FilterRows(chunks, N, O.shape[1], self.config, self.arena)

    def _inputs(self, poses: object, obstacles: object, mask: object, opponent_poses: object
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Converted inputs; the compiled backend checks the values while building rows."""
        if self._kern is not None:
            return coerce_batch_inputs(poses, obstacles, mask, opponent_poses)
        return check_batch_inputs(poses, obstacles, mask, opponent_poses)[:4]

    def _commands(self, u_nom: object, N: int) -> np.ndarray:
        if self._kern is not None:
            return coerce_commands(u_nom, N)
        return check_commands(u_nom, N)

    def _build(self, P: np.ndarray, arena: tuple[float, float, float, float], O: np.ndarray,
               M: np.ndarray, Q: Optional[np.ndarray], workspace: Optional[dict] = None
               ) -> BatchRows:
        if self._kern is not None:
            return self._kern.build(P, O, M, Q, workspace)
        return build_rows_batch(self._k, P, arena, O, M, Q, workspace)

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
        U = self._commands(u_nom, N)
        out = self._outputs(N)
        if len(rows.chunks) == 1:
            self._resolve_chunk(rows.chunks[0], U, *out)
        else:
            s = 0
            for r in rows.chunks:
                e = s + r.h.shape[0]
                self._resolve_chunk(r, U[s:e], *(a[s:e] for a in out))
                s = e
        min_h, min_i = rows._minimum()
        return out[0], self._record(U, out, min_h.copy(), min_i.copy(), rows.num_obstacles,
                                    t0)

    def action_box_rows(self, rows: FilterRows, with_stage: bool = False
                        ) -> tuple[np.ndarray, ...]:
        """:meth:`action_box` on rows from :meth:`build_rows` (identical results).

        :param rows: rows of this filter at the state of the boxes
        :param with_stage: also return ``stage (N,)``
        """
        from safe_pe_cbf.bounds_batch import action_box_batch

        rows = self._check_rows(rows)
        N = rows.num_envs
        box_chunk = self._kern.box if self._kern is not None \
            else (lambda r: action_box_batch(self, r))
        if len(rows.chunks) == 1:
            lo, hi, empty, stage = box_chunk(rows.chunks[0])
        else:
            lo = np.empty((N, 2))
            hi = np.empty((N, 2))
            empty = np.empty(N, dtype=bool)
            stage = np.empty(N, dtype=np.int8)
            s = 0
            for r in rows.chunks:
                e = s + r.h.shape[0]
                lo[s:e], hi[s:e], empty[s:e], stage[s:e] = box_chunk(r)
                s = e
        return (lo, hi, empty, stage) if with_stage else (lo, hi, empty)

    # ------------------------------------------------------------------ resolving
    def resolve(self, poses: np.ndarray, u_nom: np.ndarray, obstacles: np.ndarray,
                mask: Optional[np.ndarray] = None,
                opponent_poses: Optional[np.ndarray] = None
                ) -> tuple[np.ndarray, BatchRecord]:
        """Filter N nominal commands.

        :param poses: ``(N, 3)`` own poses at the sampling instant
        :param u_nom: ``(N, 2)`` nominal commands
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` opponent poses or None
        :returns: ``(u_safe (N, 2), record)``
        :raises SafetyInputError: on any non-finite or malformed input (nothing is filtered)
        """
        t0 = time.perf_counter()
        P, O, M, Q = self._inputs(poses, obstacles, mask, opponent_poses)
        N = P.shape[0]
        U = self._commands(u_nom, N)
        out = self._outputs(N)
        min_h = np.empty(N)
        min_i = np.empty(N, dtype=np.int64)
        arena = self.arena.as_tuple()
        for s in range(0, N, self.chunk_size):
            e = min(N, s + self.chunk_size)
            rows = self._build(P[s:e], arena, O[s:e], M[s:e], None if Q is None else Q[s:e],
                               self._ws)
            self._resolve_chunk(rows, U[s:e], *(a[s:e] for a in out))
            if rows.min_h is not None:
                min_h[s:e] = rows.min_h
                min_i[s:e] = rows.min_i
            else:
                hh = np.where(rows.valid, rows.h, np.inf)
                min_i[s:e] = np.argmin(hh, axis=1)
                min_h[s:e] = hh[np.arange(e - s), min_i[s:e]]
        return out[0], self._record(U, out, min_h, min_i, O.shape[1], t0)

    @staticmethod
    def _outputs(N: int) -> tuple[np.ndarray, ...]:
        """``(u, tier, qp_feasible, active_i, active_j, intervention, intervened)`` arrays."""
        return (np.empty((N, 2)), np.empty(N, dtype=np.int8), np.empty(N, dtype=bool),
                np.empty(N, dtype=np.int64), np.empty(N, dtype=np.int64), np.empty(N),
                np.empty(N, dtype=bool))

    @staticmethod
    def _record(U: np.ndarray, out: tuple[np.ndarray, ...], min_h: np.ndarray,
                min_i: np.ndarray, K: int, t0: float) -> BatchRecord:
        out_u, tier, qp_ok, act_i, act_j, intervention, intervened = out
        return BatchRecord(
            tier=tier, min_h=min_h, min_h_index=min_i, intervention=intervention,
            intervened=intervened, qp_feasible=qp_ok, active_i=act_i, active_j=act_j,
            names=column_names(K), solve_time=time.perf_counter() - t0)

    def _solve(self, rows: BatchRows, idx: np.ndarray, g: np.ndarray, v: np.ndarray,
               w: np.ndarray):
        k = self._k
        ax, ay, b, ok, bad = scaled_rows_batch(rows.gv[idx], rows.gw[idx], g,
                                               rows.valid[idx], k.wv, k.ww, k.v_min,
                                               k.v_max, k.w_min, k.w_max)
        zx, zy, feas, ai, aj = solve_rows_batch(k.wv * v, k.ww * w, ax, ay, b, ok, k.tol)
        feas &= ~bad
        uv = np.minimum(np.maximum(zx / k.wv, k.v_min), k.v_max)
        uw = np.minimum(np.maximum(zy / k.ww, k.w_min), k.w_max)
        # resolver.certified_within: the unscaled rows, the command's bonus, PHYSICAL_TOL [m]
        slack = (g + _bonus(k, uv, uw)[:, None]) - (rows.gv[idx] * uv[:, None]
                                                    + rows.gw[idx] * uw[:, None])
        feas &= np.all((slack >= -PHYSICAL_TOL / k.dt) | ~rows.valid[idx], axis=1)
        M = rows.h.shape[1]
        ai = np.where(ai < M, ai, -1)
        aj = np.where(aj < M, aj, -1)
        # single path lists the active rows in order; a limit row first means -1 first
        swap = (ai < 0) & (aj >= 0)
        ai, aj = np.where(swap, aj, ai), np.where(swap, -1, aj)
        return feas, uv, uw, ai, aj

    def _resolve_chunk(self, rows: BatchRows, U: np.ndarray, out_u: np.ndarray,
                       tier: np.ndarray, qp_ok: np.ndarray, act_i: np.ndarray,
                       act_j: np.ndarray, intervention: np.ndarray,
                       intervened: np.ndarray) -> None:
        if self._kern is not None:
            self._kern.resolve(rows, U, out_u, tier, qp_ok, act_i, act_j, intervention,
                               intervened)
            return
        self._resolve_chunk_numpy(rows, U, out_u, tier, qp_ok, act_i, act_j)
        k = self._k
        dv = k.wv * (out_u[:, 0] - U[:, 0])
        dw = k.ww * (out_u[:, 1] - U[:, 1])
        intervention[:] = np.sqrt(dv * dv + dw * dw)
        intervened[:] = (out_u[:, 0] != U[:, 0]) | (out_u[:, 1] != U[:, 1])

    def _resolve_chunk_numpy(self, rows: BatchRows, U: np.ndarray, out_u: np.ndarray,
                             tier: np.ndarray, qp_ok: np.ndarray, act_i: np.ndarray,
                             act_j: np.ndarray) -> None:
        k = self._k
        v = U[:, 0]
        w = U[:, 1]
        gam = k.gamma
        g = rows.g(k, (gam, gam, gam))
        # ---- tier 0: nominal certified
        inside = (k.v_min <= v) & (v <= k.v_max) & (k.w_min <= w) & (w <= k.w_max)
        # slack = (g + bonus) - (gv * v + gw * w), in reused buffers (same operation order)
        n, m = g.shape
        lhs = _ws_buffer(self._ws, "lhs", (m, n)).T
        tmp = _ws_buffer(self._ws, "tmp", (m, n)).T
        np.multiply(rows.gv, v[:, None], out=lhs)
        np.multiply(rows.gw, w[:, None], out=tmp)
        np.add(lhs, tmp, out=lhs)
        np.add(g, _bonus(k, v, w)[:, None], out=tmp)
        np.subtract(tmp, lhs, out=tmp)
        ok = np.greater_equal(tmp, 0.0)
        if not rows.valid.all():
            ok |= ~rows.valid
        nominal = inside & np.all(ok, axis=1)
        out_u[:, 0] = v
        out_u[:, 1] = w
        tier[:] = Tier.NOMINAL
        qp_ok[:] = True
        act_i[:] = -1
        act_j[:] = -1
        pend = np.nonzero(~nominal)[0]
        if pend.size == 0:
            return
        # ---- tier 1: CBF-QP
        feas, uv, uw, ai, aj = self._solve(rows, pend, g[pend], v[pend], w[pend])
        self._store(pend, feas, uv, uw, ai, aj, Tier.QP, out_u, tier, act_i, act_j)
        pend = pend[~feas]
        qp_ok[pend] = False
        # ---- tier 2: relaxed stages
        if pend.size:
            present = rows.present_groups()
            for gammas, _text in self._stages:
                sub = softened_rows(pend, present, gammas, gam)
                if sub.size == 0:
                    continue
                g_s = rows.g(k, gammas, sub)
                feas, uv, uw, ai, aj = self._solve(rows, sub, g_s, v[sub], w[sub])
                self._store(sub, feas, uv, uw, ai, aj, Tier.RELAXED, out_u, tier, act_i,
                            act_j)
                solved = np.zeros(rows.h.shape[0], dtype=bool)
                solved[sub[feas]] = True
                pend = pend[~solved[pend]]
                if pend.size == 0:
                    break
        # ---- tier 3: backup (largest smallest certificate slack)
        if pend.size:
            sl = rows.backup_slack(k, pend, self._cand_v, self._cand_w, self._cand_bonus)
            best, arg = select_backup_batch(sl)
            out_u[pend, 0] = self._cand_v[best]
            out_u[pend, 1] = self._cand_w[best]
            tier[pend] = Tier.BACKUP
            act_i[pend] = arg
            act_j[pend] = -1

    @staticmethod
    def _store(idx, feas, uv, uw, ai, aj, t, out_u, tier, act_i, act_j) -> None:
        sel = idx[feas]
        out_u[sel, 0] = uv[feas]
        out_u[sel, 1] = uw[feas]
        tier[sel] = t
        act_i[sel] = ai[feas]
        act_j[sel] = aj[feas]

    # ------------------------------------------------------------------ action boxes
    def action_box(self, poses: np.ndarray, obstacles: np.ndarray,
                   mask: Optional[np.ndarray] = None,
                   opponent_poses: Optional[np.ndarray] = None, with_stage: bool = False
                   ) -> tuple[np.ndarray, ...]:
        """Safe action boxes ``(lo (N, 2), hi (N, 2), empty (N,))`` (see
        :func:`safe_pe_cbf.bounds.safe_action_box`; identical per row).

        :param poses: ``(N, 3)``
        :param obstacles: ``(N, K, 3)`` (or ``(K, 3)`` shared)
        :param mask: ``(N, K)`` bool, None = all present
        :param opponent_poses: ``(N, 3)`` or None
        :param with_stage: also return ``stage (N,)`` (see ``ActionBox.stage``)
        """
        return self.action_box_rows(self.build_rows(poses, obstacles, mask, opponent_poses),
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
    P, O, M, Q, _ = check_batch_inputs(poses, obstacles, mask, opponent_poses)
    rows = build_rows_batch(Consts(config), P, arena.as_tuple(), O, M, Q)
    return np.where(rows.valid, rows.h, np.inf)


def min_barrier(poses: np.ndarray, arena: Arena, obstacles: np.ndarray,
                mask: Optional[np.ndarray], opponent_poses: Optional[np.ndarray],
                config: CBFConfig) -> np.ndarray:
    """``(N,)`` smallest barrier value [m]; same arguments as :func:`barrier_values`."""
    return barrier_values(poses, arena, obstacles, mask, opponent_poses, config).min(axis=1)
