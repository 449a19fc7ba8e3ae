"""The compiled backend of :class:`safe_pe_cbf.batch.BatchedSafetyFilter`.

Packs a filter's constants once (per ``update``) for the numba kernels of
:mod:`safe_pe_cbf.batch_kernels` and calls them on validated arrays. Results are bitwise
identical to the numpy backend and to the single-robot path.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from safe_pe_cbf import batch_kernels as kern, jit
from safe_pe_cbf.batch_rows import (BatchRows, _buffer, check_batch_values, check_commands,
                                    column_meta, rows_from_columns)
from safe_pe_cbf.constraints import PHYSICAL_TOL, Consts, certificate_bonus
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import MAX_ABS
from safe_pe_cbf.jit import BACKENDS

__all__ = ["BACKENDS", "CompiledKernels", "pick_backend"]


def pick_backend(backend: str) -> str:
    """Resolve ``backend`` to ``"numba"`` or ``"numpy"``.

    :param backend: one of :data:`BACKENDS`
    :raises SafetyInputError: unknown name, or ``"numba"`` without numba installed
    """
    return jit.pick_backend(backend, kern.AVAILABLE, SafetyInputError, SafetyInputError)


class CompiledKernels:
    """Constants of one filter configuration + arena, packed for the kernels.

    :param k: constants of the configuration
    :param arena: ``(x_min, x_max, y_min, y_max)``
    :param stages: from :func:`safe_pe_cbf.resolver.relaxation_stages`
    :param candidates: backup candidates ``[(v, omega), ...]``
    """

    def __init__(self, k: Consts, arena: tuple[float, float, float, float], stages: list,
                 candidates: list[tuple[float, float]]) -> None:
        vals = dict(d=k.d, opp_d=k.opp_d, pair_r=k.pair_r, wall_off=k.wall_off,
                    obs_off=k.obs_off, x_min=arena[0], x_max=arena[1], y_min=arena[2],
                    y_max=arena[3], v_min=k.v_min, v_max=k.v_max, w_min=k.w_min,
                    w_max=k.w_max, wv=k.wv, ww=k.ww, tol=k.tol, c=k.c, dt=k.dt,
                    max_abs=MAX_ABS, physical_tol=PHYSICAL_TOL)
        self.k = k
        self.consts = np.array([float(vals[n]) for n in kern.CONST_NAMES])
        gam = k.gamma
        rates = [(gam, gam, gam)] + [gammas for gammas, _ in stages] + [(1.0, 1.0, 1.0)]
        self.coefs = np.array([k.coefs(r) for r in rates], dtype=np.float64)
        self.changed = np.array([[gammas[q] != gam for q in range(3)] for gammas, _ in stages],
                                dtype=np.bool_).reshape(len(stages), 3)
        self.extra_g = np.array([k.pair_extra, k.static_extra, k.static_extra])
        self.cand_v = np.array([c[0] for c in candidates], dtype=np.float64)
        self.cand_w = np.array([c[1] for c in candidates], dtype=np.float64)
        self.cand_bonus = np.array([certificate_bonus(k, v, w) for v, w in candidates],
                                   dtype=np.float64)
        self._meta: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # column_meta per M

    def build(self, P: np.ndarray, O: np.ndarray, M: np.ndarray, Q: Optional[np.ndarray],
              workspace: Optional[dict] = None) -> BatchRows:
        """Rows of N robots (layout of ``build_rows_batch``) with their ``min_h``/``min_i``.

        :param P: ``(N, 3)`` poses (shapes checked by ``coerce_batch_inputs``; the values are
            checked here)
        :param O: ``(N, K, 3)`` obstacles
        :param M: ``(N, K)`` mask
        :param Q: ``(N, 3)`` opponent poses or None
        :param workspace: reusable buffers (rows valid until the next call with it)
        """
        N, K = P.shape[0], O.shape[1]
        shape = (5 + K, N)
        gvT = _buffer(workspace, "gv", shape, np.float64)
        gwT = _buffer(workspace, "gw", shape, np.float64)
        hT = _buffer(workspace, "h", shape, np.float64)
        validT = _buffer(workspace, "valid", shape, np.bool_)
        P = np.ascontiguousarray(P)
        min_h = np.empty(N)
        min_i = np.empty(N, dtype=np.int64)
        if kern.build_rows_kernel(self.consts, P, np.ascontiguousarray(O),
                                  np.ascontiguousarray(M), P if Q is None
                                  else np.ascontiguousarray(Q), Q is not None, gvT, gwT, hT,
                                  validT, min_h, min_i):
            check_batch_values(P, O, M, Q)  # raises with the details
            raise SafetyInputError("batched inputs must be finite and within +-1e6")
        meta = self._meta.get(shape[0])
        if meta is None:
            meta = column_meta(self.k, shape[0])
            for a in meta:
                a.flags.writeable = False
            self._meta[shape[0]] = meta
        rows = rows_from_columns(self.k, gvT, gwT, hT, validT, meta)
        rows.min_h, rows.min_i = min_h, min_i
        return rows

    @staticmethod
    def _columns(rows: BatchRows) -> tuple[np.ndarray, ...]:
        gvT, gwT, hT, validT = rows.gv.T, rows.gw.T, rows.h.T, rows.valid.T
        if not (gvT.flags.c_contiguous and gwT.flags.c_contiguous and hT.flags.c_contiguous
                and validT.flags.c_contiguous):
            return (np.ascontiguousarray(gvT), np.ascontiguousarray(gwT),
                    np.ascontiguousarray(hT), np.ascontiguousarray(validT))
        return gvT, gwT, hT, validT

    def resolve(self, rows: BatchRows, U: np.ndarray, out_u: np.ndarray, tier: np.ndarray,
                qp_ok: np.ndarray, act_i: np.ndarray, act_j: np.ndarray,
                intervention: np.ndarray, intervened: np.ndarray) -> None:
        """Fill the outputs (``resolver.resolve_rows`` per robot).

        :param rows: rows of N robots
        :param U: ``(N, 2)`` nominal commands (shape checked; values checked here)
        """
        gvT, gwT, hT, validT = self._columns(rows)
        U = np.ascontiguousarray(U)
        if kern.resolve_kernel(self.consts, self.coefs, self.changed, self.extra_g,
                               rows.group, gvT, gwT, hT, validT, U, self.cand_v, self.cand_w,
                               self.cand_bonus, out_u, tier, qp_ok, act_i, act_j,
                               intervention, intervened):
            check_commands(U, U.shape[0])  # raises with the details
            raise SafetyInputError("u_nom must be finite and within +-1e6")

    def box(self, rows: BatchRows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(lo (N, 2), hi (N, 2), empty (N,), stage (N,))`` (``bounds.box_from_rows``).

        :param rows: rows of N robots
        """
        gvT, gwT, hT, validT = self._columns(rows)
        N = gvT.shape[1]
        lo = np.empty((N, 2))
        hi = np.empty((N, 2))
        empty = np.empty(N, dtype=np.bool_)
        stage = np.empty(N, dtype=np.int8)
        kern.box_kernel(self.consts, self.coefs, self.changed, self.extra_g, rows.group, gvT,
                        gwT, hT, validT, self.cand_v, self.cand_w, self.cand_bonus, lo, hi,
                        empty, stage)
        return lo, hi, empty, stage
