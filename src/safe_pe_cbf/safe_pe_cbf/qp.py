"""The 2-variable CBF-QP ``min |W (u - u_nom)|^2 s.t. G u <= g, lo <= u <= hi`` as a
validated public call, solved exactly by the kernels of :mod:`safe_pe_cbf.kernels.qp`
(:class:`safe_pe_cbf.osqp_solver.OSQPSolver` solves the same problem with OSQP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from safe_pe_cbf import jit
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.kernels.qp import scale_rows, scratch, solve_rows

__all__ = ["QPResult", "solve_exact", "DEFAULT_TOL"]

DEFAULT_TOL = 1e-9


@dataclass(frozen=True)
class QPResult:
    """Solution of one QP.

    :param u: ``(2,)`` command; for an infeasible problem the nominal clipped to the limits
        (not safe: check ``feasible``)
    :param feasible: whether the constraints have a common point
    :param active: indices of active rows; ``m + 0..3`` are the limits v_lo, v_hi, w_lo, w_hi
    """

    u: np.ndarray
    feasible: bool
    active: tuple[int, ...]


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


def solve_exact(u_nom: Sequence[float], weights: Sequence[float], G: np.ndarray,
                g: np.ndarray, lo: Sequence[float], hi: Sequence[float],
                tol: float = DEFAULT_TOL) -> QPResult:
    """Exact solution of ``min |W (u - u_nom)|^2 s.t. G u <= g, lo <= u <= hi``.

    :param u_nom: nominal command ``(v, omega)``
    :param weights: ``(w_v, w_omega)`` > 0, ``W = diag(weights)``
    :param G: ``(m, 2)`` half-plane normals
    :param g: ``(m,)`` right-hand sides
    :param lo: ``(2,)`` lower limits
    :param hi: ``(2,)`` upper limits, >= lo
    :param tol: feasibility tolerance in the scaled, normalised rows
    :raises SafetyInputError: on non-finite input, wrong shapes, bad weights or limits
    """
    G = np.asarray(G, dtype=float).reshape(-1, 2)
    g = np.asarray(g, dtype=float).reshape(-1)
    if G.shape[0] != g.shape[0]:
        raise SafetyInputError(f"G has {G.shape[0]} rows but g has {g.shape[0]} entries")
    vals = [*map(float, u_nom), *map(float, weights), *map(float, lo), *map(float, hi)]
    if len(vals) != 8:
        raise SafetyInputError("u_nom, weights, lo, hi must each have 2 entries")
    if not (all(math.isfinite(x) for x in vals) and np.all(np.isfinite(G))
            and np.all(np.isfinite(g))):
        raise SafetyInputError("QP input must be finite (no NaN/inf)")
    unv, unw, wv, ww, lo_v, lo_w, hi_v, hi_w = vals
    if wv <= 0.0 or ww <= 0.0:
        raise SafetyInputError(f"weights must be > 0, got {weights}")
    if lo_v > hi_v or lo_w > hi_w:
        raise SafetyInputError(f"limits out of order: lo={lo}, hi={hi}")
    m = G.shape[0]
    gv, gw = np.ascontiguousarray(G[:, 0]), np.ascontiguousarray(G[:, 1])
    if not jit.AVAILABLE:  # plain Python: lists beat numpy scalars
        gv, gw, g = gv.tolist(), gw.tolist(), g.tolist()
    ax, ay, b, viol, pos = scratch(m)
    n, bad = scale_rows(gv, gw, g, m, wv, ww, lo_v, hi_v, lo_w, hi_w, ax, ay, b, pos)
    if not bad:
        zx, zy, ok, i, j = solve_rows(wv * unv, ww * unw, ax, ay, b, n, tol, viol)
        if ok:
            u = np.array([_clip(zx / wv, lo_v, hi_v), _clip(zy / ww, lo_w, hi_w)])
            return QPResult(u, True, tuple(int(pos[a]) for a in (i, j) if a >= 0))
    return QPResult(np.array([_clip(unv, lo_v, hi_v), _clip(unw, lo_w, hi_w)]), False, ())
