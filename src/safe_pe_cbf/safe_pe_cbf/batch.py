"""BatchedSafetyFilter: the resolver of :mod:`safe_pe_cbf.resolver` for N robots at once.

Same tiers, same candidate order, same floating-point expressions as the single-robot path,
hence identical commands and records (tested bitwise on random instances). N is processed in
chunks (``chunk_size`` rows) to stay in cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from safe_pe_cbf.backup import backup_candidates
from safe_pe_cbf.batch_rows import (BatchRows, _buffer, build_rows_batch,
                                    check_batch_inputs, column_names)
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import Consts
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.qp_batch import scaled_rows_batch, solve_rows_batch
from safe_pe_cbf.resolver import Tier, check_arena_fits, relaxation_stages

__all__ = ["BatchRecord", "BatchedSafetyFilter", "barrier_values", "min_barrier"]


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
    """

    def __init__(self, config: CBFConfig, arena: Arena, chunk_size: int = 4096) -> None:
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise SafetyInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self.chunk_size = chunk_size
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
        P, O, M, Q, _ = check_batch_inputs(poses, obstacles, mask, opponent_poses)
        rows = build_rows_batch(self._k, P, self.arena.as_tuple(), O, M, Q)
        return np.where(rows.valid, rows.h, np.inf)

    def min_barrier(self, poses: np.ndarray, obstacles: np.ndarray,
                    mask: Optional[np.ndarray] = None,
                    opponent_poses: Optional[np.ndarray] = None) -> np.ndarray:
        """``(N,)`` smallest barrier value [m] (same arguments as ``barrier_values``)."""
        return self.barrier_values(poses, obstacles, mask, opponent_poses).min(axis=1)

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
        P, O, M, Q, U = check_batch_inputs(poses, obstacles, mask, opponent_poses, u_nom)
        N = P.shape[0]
        K = O.shape[1]
        out_u = np.empty((N, 2))
        tier = np.empty(N, dtype=np.int8)
        min_h = np.empty(N)
        min_i = np.empty(N, dtype=np.int64)
        qp_ok = np.empty(N, dtype=bool)
        act_i = np.empty(N, dtype=np.int64)
        act_j = np.empty(N, dtype=np.int64)
        arena = self.arena.as_tuple()
        for s in range(0, N, self.chunk_size):
            e = min(N, s + self.chunk_size)
            rows = build_rows_batch(self._k, P[s:e], arena, O[s:e], M[s:e],
                                    None if Q is None else Q[s:e], self._ws)
            self._resolve_chunk(rows, U[s:e], out_u[s:e], tier[s:e], qp_ok[s:e],
                                act_i[s:e], act_j[s:e])
            hh = np.where(rows.valid, rows.h, np.inf)
            min_i[s:e] = np.argmin(hh, axis=1)
            min_h[s:e] = hh[np.arange(e - s), min_i[s:e]]
        k = self._k
        dv = k.wv * (out_u[:, 0] - U[:, 0])
        dw = k.ww * (out_u[:, 1] - U[:, 1])
        rec = BatchRecord(
            tier=tier, min_h=min_h, min_h_index=min_i,
            intervention=np.sqrt(dv * dv + dw * dw),
            intervened=(out_u[:, 0] != U[:, 0]) | (out_u[:, 1] != U[:, 1]),
            qp_feasible=qp_ok, active_i=act_i, active_j=act_j, names=column_names(K),
            solve_time=time.perf_counter() - t0)
        return out_u, rec

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
        M = rows.h.shape[1]
        ai = np.where(ai < M, ai, -1)
        aj = np.where(aj < M, aj, -1)
        # single path lists the active rows in order; a limit row first means -1 first
        swap = (ai < 0) & (aj >= 0)
        ai, aj = np.where(swap, aj, ai), np.where(swap, -1, aj)
        return feas, uv, uw, ai, aj

    def _resolve_chunk(self, rows: BatchRows, U: np.ndarray, out_u: np.ndarray,
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
            present = np.zeros((rows.h.shape[0], 3), dtype=bool)
            for grp in range(3):
                present[:, grp] = np.any(rows.valid & (rows.group == grp)[None, :], axis=1)
            for gammas, _text in self._stages:
                changed = np.array([gammas[grp] != gam for grp in range(3)])
                applies = np.any(present[pend] & changed[None, :], axis=1)
                sub = pend[applies]
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
            g1 = rows.g(k, (1.0, 1.0, 1.0), pend)
            gv = rows.gv[pend]
            gw = rows.gw[pend]
            sl = (g1[:, None, :] + self._cand_bonus[None, :, None]) \
                - (gv[:, None, :] * self._cand_v[None, :, None]
                   + gw[:, None, :] * self._cand_w[None, :, None])
            sl = np.where(rows.valid[pend][:, None, :], sl, np.inf)
            arg = np.argmin(sl, axis=2)
            worst = np.take_along_axis(sl, arg[:, :, None], axis=2)[:, :, 0]
            best = np.argmax(worst, axis=1)
            out_u[pend, 0] = self._cand_v[best]
            out_u[pend, 1] = self._cand_w[best]
            tier[pend] = Tier.BACKUP
            act_i[pend] = arg[np.arange(pend.size), best]
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
        from safe_pe_cbf.bounds_batch import action_box_batch

        P, O, M, Q, _ = check_batch_inputs(poses, obstacles, mask, opponent_poses)
        N = P.shape[0]
        lo = np.empty((N, 2))
        hi = np.empty((N, 2))
        empty = np.empty(N, dtype=bool)
        stage = np.empty(N, dtype=np.int8)
        for s in range(0, N, self.chunk_size):
            e = min(N, s + self.chunk_size)
            rows = build_rows_batch(self._k, P[s:e], self.arena.as_tuple(), O[s:e], M[s:e],
                                    None if Q is None else Q[s:e])
            lo[s:e], hi[s:e], empty[s:e], stage[s:e] = action_box_batch(self, rows)
        return (lo, hi, empty, stage) if with_stage else (lo, hi, empty)


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
