"""The CBF-QP solved by OSQP (optional dependency ``osqp``): cross-checks of the exact solver
and the resolver's ``solver="osqp"`` (fresh setup per call, or set up once and warm-started
via ``update``)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.kernels.qp import qp_rows
from safe_pe_cbf.qp import QPResult

__all__ = ["OSQPSolver", "osqp_rows"]


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
            import osqp  # noqa: F401  (optional: only solver="osqp" needs it)
            from scipy import sparse  # noqa: F401  (comes with osqp)
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
        import osqp  # optional dependency, checked in __init__

        prob = osqp.OSQP()
        prob.setup(P, q, A, lo, hi, **self.settings)
        return prob

    def solve(self, u_nom: Sequence[float], weights: Sequence[float], G: np.ndarray,
              g: np.ndarray, lo: Sequence[float], hi: Sequence[float]) -> QPResult:
        """Solve; same arguments and result as :func:`solve_exact`."""
        from scipy import sparse  # optional (with osqp), checked in __init__

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


def osqp_rows(solver: OSQPSolver):
    """A drop-in for :func:`~safe_pe_cbf.kernels.qp.qp_rows` that solves with OSQP (the exact solver
    decides where OSQP does not converge).

    :param solver: the OSQP solver (fresh or warm-started)
    """
    def solve(gv, gw, g, m, v, w, wv, ww, lo_v, hi_v, lo_w, hi_w, tol, ax, ay, b, pos, viol):
        try:
            res = solver.solve((v, w), (wv, ww), np.array([gv[:m], gw[:m]]).T.reshape(-1, 2),
                               np.array(g[:m]), (lo_v, lo_w), (hi_v, hi_w))
        except RuntimeError:  # OSQP did not converge: the exact solver decides
            return qp_rows(gv, gw, g, m, v, w, wv, ww, lo_v, hi_v, lo_w, hi_w, tol, ax, ay, b,
                           pos, viol)
        act = [a for a in res.active if a < m] + [-1, -1]
        return res.feasible, float(res.u[0]), float(res.u[1]), act[0], act[1]
    return solve
