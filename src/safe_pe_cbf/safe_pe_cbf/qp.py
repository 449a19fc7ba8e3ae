"""The 2-variable CBF-QP: ``min |W (u - u_nom)|^2  s.t.  G u <= g,  lo <= u <= hi``.

``solve_exact`` enumerates candidate active sets in the scaled variable ``z = W u`` (where the
problem is a Euclidean projection onto a convex polygon): the unconstrained point, the
projection onto each violated line, then each pair vertex. The first candidate satisfying the
KKT conditions (multipliers >= 0, every row feasible within ``tol``) is the unique optimum; if
none does, the polygon is empty and the problem is reported infeasible. Pure Python floats:
a few microseconds per call.

``OSQPSolver`` solves the same problem with OSQP (fresh setup per call, or set up once and
warm-started via ``update``) for cross-checks and as an alternative backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from safe_pe_cbf.errors import SafetyInputError

__all__ = ["QPResult", "solve_exact", "solve_rows", "scaled_rows", "OSQPSolver",
           "DEFAULT_TOL", "PARALLEL_EPS", "MULT_TOL"]

DEFAULT_TOL = 1e-9
#: pairs of unit rows with |det| below this are treated as parallel (no vertex)
PARALLEL_EPS = 1e-12
#: multipliers above -MULT_TOL count as nonnegative
MULT_TOL = 1e-12


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


def scaled_rows(gv: Sequence[float], gw: Sequence[float], g: Sequence[float], wv: float,
                ww: float, lo_v: float, hi_v: float, lo_w: float, hi_w: float
                ) -> tuple[list[float], list[float], list[float], list[int], bool]:
    """Rows in ``z = W u`` normalised to unit length, limits appended as the last 4 rows.

    Returns ``(ax, ay, b, index, trivially_infeasible)`` where ``index`` maps each kept row
    to its original index (zero rows with ``g >= 0`` are dropped).
    """
    m = len(g)
    rx = [a / wv for a in gv]
    ry = [a / ww for a in gw]
    nrm = [math.sqrt(x * x + y * y) for x, y in zip(rx, ry)]
    bad = False
    if min(nrm, default=1.0) > 0.0:  # the usual case: every row is a proper half-plane
        ax = [x / n for x, n in zip(rx, nrm)]
        ay = [y / n for y, n in zip(ry, nrm)]
        b = [c / n for c, n in zip(g, nrm)]
        idx = list(range(m))
    else:
        ax, ay, b, idx = [], [], [], []
        for i in range(m):
            n = nrm[i]
            if n > 0.0:
                ax.append(rx[i] / n)
                ay.append(ry[i] / n)
                b.append(g[i] / n)
                idx.append(i)
            elif g[i] < 0.0:
                bad = True
    ax += [-1.0, 1.0, 0.0, 0.0]
    ay += [0.0, 0.0, -1.0, 1.0]
    b += [-(wv * lo_v), wv * hi_v, -(ww * lo_w), ww * hi_w]
    idx += [m, m + 1, m + 2, m + 3]
    return ax, ay, b, idx, bad


def solve_rows(z0x: float, z0y: float, ax: list[float], ay: list[float], b: list[float],
               tol: float) -> tuple[float, float, bool, tuple[int, ...]]:
    """Project ``z0`` onto ``{z : ax*zx + ay*zy <= b}`` (unit rows) by KKT enumeration.

    Returns ``(zx, zy, feasible, active positions)``.
    """
    n = len(b)
    viol = [ax[i] * z0x + ay[i] * z0y - b[i] for i in range(n)]
    if max(viol) <= tol:
        return z0x, z0y, True, ()
    rng = range(n)
    for i in rng:
        vi = viol[i]
        if vi <= 0.0:
            continue
        zx = z0x - vi * ax[i]
        zy = z0y - vi * ay[i]
        for j in rng:
            if j != i and ax[j] * zx + ay[j] * zy - b[j] > tol:
                break
        else:
            return zx, zy, True, (i,)
    if n > 4 and _row_excludes_box(ax, ay, b, viol, tol):
        return z0x, z0y, False, ()  # a single row misses the whole box: no vertex can work
    for i in range(n - 1):
        axi = ax[i]
        ayi = ay[i]
        bi = b[i]
        pi = viol[i] > 0.0
        for j in range(i + 1, n):
            if not (pi or viol[j] > 0.0):
                continue
            axj = ax[j]
            ayj = ay[j]
            det = axi * ayj - ayi * axj
            if abs(det) < PARALLEL_EPS:
                continue
            bj = b[j]
            zx = (bi * ayj - bj * ayi) / det
            zy = (axi * bj - axj * bi) / det
            rx = z0x - zx
            ry = z0y - zy
            li = (rx * ayj - ry * axj) / det
            lj = (axi * ry - ayi * rx) / det
            if li < -MULT_TOL or lj < -MULT_TOL:
                continue
            for k in rng:
                if k != i and k != j and ax[k] * zx + ay[k] * zy - b[k] > tol:
                    break
            else:
                return zx, zy, True, (i, j)
    return z0x, z0y, False, ()


def _row_excludes_box(ax: list[float], ay: list[float], b: list[float], viol: list[float],
                      tol: float) -> bool:
    """Whether some violated row cannot be met anywhere in the limits box (the last 4 rows,
    as appended by :func:`scaled_rows`), by a margin that no tolerance can bridge."""
    n = len(b)
    if not (ax[n - 4] == -1.0 and ax[n - 3] == 1.0 and ay[n - 2] == -1.0 and ay[n - 1] == 1.0):
        return False
    lx, hx, ly, hy = -b[n - 4], b[n - 3], -b[n - 2], b[n - 1]
    for i in range(n - 4):
        if viol[i] <= 0.0:
            continue
        a = ax[i]
        c = ay[i]
        low = (a * lx if a > 0.0 else a * hx) + (c * ly if c > 0.0 else c * hy)
        if low > b[i] + 10.0 * tol:
            return True
    return False


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
    ax, ay, b, idx, bad = scaled_rows(G[:, 0].tolist(), G[:, 1].tolist(), g.tolist(), wv, ww,
                                      lo_v, hi_v, lo_w, hi_w)
    if not bad:
        zx, zy, ok, act = solve_rows(wv * unv, ww * unw, ax, ay, b, tol)
        if ok:
            u = np.array([_clip(zx / wv, lo_v, hi_v), _clip(zy / ww, lo_w, hi_w)])
            return QPResult(u, True, tuple(idx[a] for a in act))
    return QPResult(np.array([_clip(unv, lo_v, hi_v), _clip(unw, lo_w, hi_w)]), False, ())


class OSQPSolver:
    """The same QP solved by OSQP (optional dependency ``osqp``).

    A nominal command that already satisfies every row is returned as is without calling
    OSQP (it is the optimum). Non-converged solves raise ``RuntimeError``.

    :param warm_start: set up one OSQP problem per row count and reuse it with ``update()``
        (new weights go in through ``Px``); otherwise a fresh OSQP problem is set up for
        every call
    :param eps: absolute and relative tolerance (tight by default; OSQP's own defaults differ
        from the optimum by > 1e-4 in a large fraction of instances)
    :param max_iter: iteration limit
    """

    def __init__(self, warm_start: bool = True, eps: float = 1e-10,
                 max_iter: int = 20000) -> None:
        try:
            import osqp  # noqa: F401
            from scipy import sparse  # noqa: F401
        except ImportError as exc:  # pragma: no cover - osqp is in requirements.txt
            raise ImportError("solver 'osqp' needs the osqp package (see requirements.txt) "
                              "or use solver='exact'") from exc
        self.warm_start = warm_start
        self.settings = dict(verbose=False, eps_abs=eps, eps_rel=eps, eps_prim_inf=1e-7,
                             eps_dual_inf=1e-7, polishing=True, max_iter=max_iter,
                             polish_refine_iter=10, scaling=10)
        #: warm-start problems by row count: (OSQP problem, the w^2 its P was built from)
        self._probs: dict[int, tuple[object, np.ndarray]] = {}

    def _setup(self, P, q, A, lo, hi):
        import osqp

        prob = osqp.OSQP()
        prob.setup(P, q, A, lo, hi, **self.settings)
        return prob

    def solve(self, u_nom: Sequence[float], weights: Sequence[float], G: np.ndarray,
              g: np.ndarray, lo: Sequence[float], hi: Sequence[float]) -> QPResult:
        """Solve; same arguments and result as :func:`solve_exact`."""
        from scipy import sparse

        G = np.asarray(G, dtype=float).reshape(-1, 2)
        g = np.asarray(g, dtype=float).reshape(-1)
        u_nom = np.asarray(u_nom, dtype=float).reshape(2)
        w = np.asarray(weights, dtype=float).reshape(2)
        lo_a = np.asarray(lo, dtype=float).reshape(2)
        hi_a = np.asarray(hi, dtype=float).reshape(2)
        if not (np.all(np.isfinite(G)) and np.all(np.isfinite(g)) and np.all(np.isfinite(u_nom))
                and np.all(np.isfinite(w)) and np.all(np.isfinite(lo_a))
                and np.all(np.isfinite(hi_a))):
            raise SafetyInputError("QP input must be finite (no NaN/inf)")
        if np.any(w <= 0) or np.any(lo_a > hi_a):
            raise SafetyInputError("weights must be > 0 and lo <= hi")
        m = G.shape[0]
        if np.all(G @ u_nom <= g) and np.all(lo_a <= u_nom) and np.all(u_nom <= hi_a):
            # nothing to project (and OSQP's polisher would print "no active set" on C stdout)
            return QPResult(u_nom.copy(), True, ())
        w2 = w * w
        q = -2.0 * w2 * u_nom
        A_dense = np.vstack([G, np.eye(2)])
        lower = np.concatenate([np.full(m, -np.inf), lo_a])
        upper = np.concatenate([g, hi_a])
        cached = self._probs.get(m) if self.warm_start else None
        if cached is not None:
            prob, w2_old = cached
            # Ax holds the CSC data of A (column-major, all entries structurally present);
            # Px the diagonal of P (upper triangle, both entries present)
            new = dict(q=q, l=lower, u=upper, Ax=A_dense.T.reshape(-1).copy())
            if not np.array_equal(w2_old, w2):
                new["Px"] = 2.0 * w2
                self._probs[m] = (prob, w2.copy())
            prob.update(**new)
        else:
            P = sparse.csc_matrix(np.diag(2.0 * w2))
            # explicit structure (zeros kept) so that update(Ax=...) stays valid
            A = sparse.csc_matrix((A_dense.T.reshape(-1),
                                   (np.tile(np.arange(m + 2), 2),
                                    np.repeat(np.arange(2), m + 2))), shape=(m + 2, 2))
            prob = self._setup(sparse.triu(P, format="csc"), q, A, lower, upper)
            if self.warm_start:
                self._probs[m] = (prob, w2.copy())
        res = prob.solve(raise_error=False)
        status = str(res.info.status).lower()
        if "solved" in status and "inaccurate" not in status:
            x = np.asarray(res.x, dtype=float)
            u = np.minimum(np.maximum(x, lo_a), hi_a)
            slack = G @ u - g
            active = tuple(int(i) for i in np.nonzero(slack > -1e-7)[0])
            return QPResult(u, True, active)
        if "infeasible" in status:
            return QPResult(np.minimum(np.maximum(u_nom, lo_a), hi_a), False, ())
        # max_iter / inaccurate: do not trust OSQP's x (it can be 2143289344.0 = its "NaN")
        raise RuntimeError(f"OSQP did not converge (status {res.info.status!r})")
