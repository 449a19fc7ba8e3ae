"""The 2-variable CBF-QP: ``min |W (u - u_nom)|^2  s.t.  G u <= g,  lo <= u <= hi``.

:func:`solve_rows` enumerates candidate active sets in the scaled variable ``z = W u`` (where
the problem is a Euclidean projection onto a convex polygon): the unconstrained point, the
projection onto each violated line, then each pair vertex. The first candidate satisfying the
KKT conditions (multipliers >= 0, every row feasible within ``tol``) is the unique optimum; if
none does, the polygon is empty and the problem is reported infeasible. :func:`qp_rows` is the
resolver's and the safe box's QP on prepared rows; :func:`safe_pe_cbf.qp.solve_exact` the
validated public call, :class:`safe_pe_cbf.osqp_solver.OSQPSolver` the same problem with OSQP
(optional) for cross-checks and as an alternative backend of the resolver.
"""

from __future__ import annotations

import math

from safe_pe_cbf import jit
from safe_pe_cbf.jit import njit

__all__ = ["scale_rows", "solve_rows", "scratch", "qp_rows", "PARALLEL_EPS", "MULT_TOL"]

#: pairs of unit rows with |det| below this are treated as parallel (no vertex)
PARALLEL_EPS = 1e-12
#: multipliers above -MULT_TOL count as nonnegative
MULT_TOL = 1e-12


@njit(cache=True, inline="always")
def scale_rows(gv, gw, g, m, wv, ww, lo_v, hi_v, lo_w, hi_w, ax, ay, b, pos
               ):  # pragma: no cover - compiled
    """Rows in ``z = W u`` normalised to unit length, limits appended as the last 4 rows.

    Writes ``ax, ay, b`` (length >= m + 4) and ``pos`` (the input row of each kept row,
    ``m + 0..3`` for the limits v_lo, v_hi, w_lo, w_hi; zero rows with ``g >= 0`` are
    dropped). Returns ``(n rows, trivially
    infeasible)``.
    """
    n = 0
    bad = False
    for i in range(m):
        rx = gv[i] / wv
        ry = gw[i] / ww
        nrm = math.sqrt(rx * rx + ry * ry)
        if nrm > 0.0:
            ax[n] = rx / nrm
            ay[n] = ry / nrm
            b[n] = g[i] / nrm
            pos[n] = i
            n += 1
        elif g[i] < 0.0:
            bad = True
    ax[n], ay[n], b[n], pos[n] = -1.0, 0.0, -(wv * lo_v), m
    ax[n + 1], ay[n + 1], b[n + 1], pos[n + 1] = 1.0, 0.0, wv * hi_v, m + 1
    ax[n + 2], ay[n + 2], b[n + 2], pos[n + 2] = 0.0, -1.0, -(ww * lo_w), m + 2
    ax[n + 3], ay[n + 3], b[n + 3], pos[n + 3] = 0.0, 1.0, ww * hi_w, m + 3
    return n + 4, bad


@njit(cache=True, inline="always")
def solve_rows(z0x, z0y, ax, ay, b, n, tol, viol):  # pragma: no cover - compiled
    """Project ``z0`` onto ``{z : ax*zx + ay*zy <= b}`` (``n`` unit rows, the last 4 the
    limits box) by KKT enumeration; ``viol`` is scratch of length ``n``.

    Returns ``(zx, zy, feasible, active position i, j)`` (-1: none).
    """
    mx = -math.inf
    for i in range(n):
        v = ax[i] * z0x + ay[i] * z0y - b[i]
        viol[i] = v
        if v > mx:
            mx = v
    if mx <= tol:
        return z0x, z0y, True, -1, -1
    for i in range(n):
        vi = viol[i]
        if vi <= 0.0:
            continue
        zx = z0x - vi * ax[i]
        zy = z0y - vi * ay[i]
        good = True
        for j in range(n):
            if j != i and ax[j] * zx + ay[j] * zy - b[j] > tol:
                good = False
                break
        if good:
            return zx, zy, True, i, -1
    if n > 4:  # a violated row that misses the whole limits box: no vertex can work
        lx, hx, ly, hy = -b[n - 4], b[n - 3], -b[n - 2], b[n - 1]
        for i in range(n - 4):
            if viol[i] <= 0.0:
                continue
            a = ax[i]
            cc = ay[i]
            low = (a * lx if a > 0.0 else a * hx) + (cc * ly if cc > 0.0 else cc * hy)
            if low > b[i] + 10.0 * tol:
                return z0x, z0y, False, -1, -1
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
            good = True
            for k in range(n):
                if k != i and k != j and ax[k] * zx + ay[k] * zy - b[k] > tol:
                    good = False
                    break
            if good:
                return zx, zy, True, i, j
    return z0x, z0y, False, -1, -1


@njit(cache=True, inline="always")
def scratch(m):  # pragma: no cover - compiled
    """``(ax, ay, b, viol, pos)``: the scratch :func:`qp_rows` needs for ``m`` rows (``m + 4``
    entries each: the rows and the four limits)."""
    return (jit.floats(m + 4), jit.floats(m + 4), jit.floats(m + 4), jit.floats(m + 4),
            jit.ints(m + 4))


@njit(cache=True, inline="always")
def qp_rows(gv, gw, g, m, v, w, wv, ww, lo_v, hi_v, lo_w, hi_w, tol, ax, ay, b, pos, viol
            ):  # pragma: no cover - compiled
    """The QP on rows ``gv v + gw w <= g`` (``m`` of them) and the limits.

    Returns ``(feasible, v, w, active row i, j)``: the rows (not the limits) active at the
    solution in order, -1 for none; an infeasible problem returns the nominal ``(v, w)``.
    Scratch ``ax, ay, b, viol`` and ``pos`` need ``m + 4`` entries.
    """
    n, bad = scale_rows(gv, gw, g, m, wv, ww, lo_v, hi_v, lo_w, hi_w, ax, ay, b, pos)
    if bad:
        return False, v, w, -1, -1
    zx, zy, ok, i, j = solve_rows(wv * v, ww * w, ax, ay, b, n, tol, viol)
    if not ok:
        return False, v, w, -1, -1
    uv = zx / wv
    uw = zy / ww
    uv = lo_v if uv < lo_v else (hi_v if uv > hi_v else uv)
    uw = lo_w if uw < lo_w else (hi_w if uw > hi_w else uw)
    ri = pos[i] if i >= 0 and pos[i] < m else -1  # the limits are not reported
    rj = pos[j] if j >= 0 and pos[j] < m else -1
    if ri < 0:
        ri, rj = rj, -1
    return True, uv, uw, ri, rj
