"""Constraint rows for N robots at once (numpy), column-for-column the single-robot rows.

Column layout of every ``(N, M)`` array, ``M = 5 + K``: 0 ``collision`` (valid only with an
opponent), 1..4 the walls, ``5 + k`` ``obstacle[k]`` (valid where ``mask[:, k]``).
Expressions mirror :func:`safe_pe_cbf.constraints.build_rows` operation by operation, so
both paths produce bitwise-identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np

from safe_pe_cbf.constraints import (GROUP_ARENA, GROUP_COLLISION, GROUP_OBSTACLES,
                                     WALL_NAMES, Consts)
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import MAX_ABS

__all__ = ["BatchRows", "build_rows_batch", "column_names", "check_batch_inputs",
           "check_batch_values", "check_commands", "coerce_batch_inputs", "coerce_commands",
           "rows_from_columns", "select_backup_batch", "softened_rows"]


def column_names(K: int) -> list[str]:
    """Names of the ``5 + K`` columns (a new list each call).

    :param K: number of obstacle slots
    """
    return list(_column_names(K))


@lru_cache(maxsize=32)
def _column_names(K: int) -> tuple[str, ...]:
    return ("collision", *WALL_NAMES, *[f"obstacle[{k}]" for k in range(K)])


@dataclass
class BatchRows:
    """Rows ``gv * v + gw * omega <= coef[col] * h - extra[col]`` of N robots.

    :param gv: ``(N, M)``
    :param gw: ``(N, M)``
    :param h: ``(N, M)`` barrier values [m]
    :param valid: ``(N, M)`` which rows exist
    :param extra: ``(M,)``
    :param group: ``(M,)`` GROUP_* of each column
    :param min_h: ``(N,)`` smallest present barrier value, if the builder computed it
    :param min_i: ``(N,)`` its column, if the builder computed it
    """

    gv: np.ndarray
    gw: np.ndarray
    h: np.ndarray
    valid: np.ndarray
    extra: np.ndarray
    group: np.ndarray
    min_h: Optional[np.ndarray] = None
    min_i: Optional[np.ndarray] = None

    def g(self, k: Consts, gammas: tuple[float, float, float],
          rows: Optional[np.ndarray] = None) -> np.ndarray:
        """Right-hand sides ``(N, M)`` (or ``(len(rows), M)``) for per-group decay rates.

        :param k: constants
        :param gammas: gamma of (collision, arena, obstacles)
        :param rows: indices of the rows wanted, None = all
        """
        coefs = np.array([k.coef(grp, gammas[grp]) for grp in range(3)])[self.group]
        if rows is None and self.h.T.flags.c_contiguous:
            # (M, N) storage: iterate the long axis innermost (same values, ~2x faster)
            return (coefs[:, None] * self.h.T - self.extra[:, None]).T
        h = self.h if rows is None else self.h[rows]
        return coefs * h - self.extra

    def present_groups(self) -> np.ndarray:
        """``(N, 3)`` bool: which constraint groups (collision, arena, obstacles) each robot
        has rows in (a relaxed stage only applies where it softens a present group)."""
        present = np.zeros((self.h.shape[0], 3), dtype=bool)
        for grp in range(3):
            present[:, grp] = np.any(self.valid & (self.group == grp)[None, :], axis=1)
        return present

    def backup_slack(self, k: Consts, rows: np.ndarray, cand_v: np.ndarray,
                     cand_w: np.ndarray, cand_bonus: np.ndarray) -> np.ndarray:
        """``(len(rows), C, M)`` certificate slack of each backup candidate on each row
        (``backup.select_backup``; absent rows +inf).

        :param k: constants
        :param rows: indices of the robots
        :param cand_v: ``(C,)`` candidate speeds
        :param cand_w: ``(C,)`` candidate turn rates
        :param cand_bonus: ``(C,)`` their certificate bonus
        """
        g1 = self.g(k, (1.0, 1.0, 1.0), rows)
        sl = (g1[:, None, :] + cand_bonus[None, :, None]) \
            - (self.gv[rows][:, None, :] * cand_v[None, :, None]
               + self.gw[rows][:, None, :] * cand_w[None, :, None])
        return np.where(self.valid[rows][:, None, :], sl, np.inf)


def select_backup_batch(sl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``backup.select_backup`` on :meth:`BatchRows.backup_slack`: per robot, the candidate
    certified on every static row (columns 1: walls, obstacles) with the largest smallest
    slack, or the largest smallest slack if none is; first on ties.

    :param sl: ``(P, C, M)`` slack of each candidate on each row (column 0: collision)
    :returns: ``(best candidate (P,), row attaining its smallest slack (P,))``
    """
    arg = np.argmin(sl, axis=2)
    worst = np.take_along_axis(sl, arg[:, :, None], axis=2)[:, :, 0]
    static = np.all(sl[:, :, 1:] >= 0.0, axis=2)
    best = np.where(static.any(axis=1), np.argmax(np.where(static, worst, -np.inf), axis=1),
                    np.argmax(worst, axis=1))
    return best, arg[np.arange(sl.shape[0]), best]


def softened_rows(pend: np.ndarray, present: np.ndarray, gammas: tuple[float, float, float],
                  gamma: float) -> np.ndarray:
    """The robots of ``pend`` for which a relaxed stage softens a present group.

    :param pend: indices of the robots still without a solution
    :param present: ``(N, 3)`` from :meth:`BatchRows.present_groups`
    :param gammas: the stage's gamma per group
    :param gamma: the configured gamma
    """
    changed = np.array([gammas[grp] != gamma for grp in range(3)])
    return pend[np.any(present[pend] & changed[None, :], axis=1)]


def _buffer(workspace: Optional[dict], name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A reusable array from ``workspace`` (or a fresh one); contents are undefined."""
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    buf = workspace.get(name)
    if buf is None or buf.shape != shape:
        buf = np.empty(shape, dtype=dtype)
        workspace[name] = buf
    return buf


def _distance_cols(dx: np.ndarray, dy: np.ndarray, radius, cth: np.ndarray,
                   sth: np.ndarray, d: float):
    dist = np.sqrt(dx * dx + dy * dy)
    zero = dist == 0.0
    if zero.any():  # VCP exactly on a centre: unit normal (1, 0) as in the single path
        safe = np.where(zero, 1.0, dist)
        nx = np.where(zero, 1.0, dx / safe)
        ny = np.where(zero, 0.0, dy / safe)
    else:
        nx = dx / dist
        ny = dy / dist
    gv = -(nx * cth + ny * sth)
    gw = -(d * (ny * cth - nx * sth))
    return gv, gw, dist - radius


def check_batch_inputs(poses: object, obstacles: object, mask: object,
                       opponent_poses: object, u_nom: object = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray],
                                  Optional[np.ndarray]]:
    """Validate and convert batched inputs (raises :class:`SafetyInputError`).

    :param poses: ``(N, 3)``
    :param obstacles: ``(N, K, 3)`` or ``(K, 3)`` shared by all
    :param mask: ``(N, K)`` bool or None (all present)
    :param opponent_poses: ``(N, 3)`` or None
    :param u_nom: ``(N, 2)`` or None
    """
    P, O, M, Q = coerce_batch_inputs(poses, obstacles, mask, opponent_poses)
    check_batch_values(P, O, M, Q)
    U = None if u_nom is None else check_commands(u_nom, N=P.shape[0])
    return P, O, M, Q, U


def coerce_batch_inputs(poses: object, obstacles: object, mask: object, opponent_poses: object
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Convert batched inputs to float/bool arrays and check their shapes (not their values:
    :func:`check_batch_values`); raises :class:`SafetyInputError`.

    :param poses: ``(N, 3)``
    :param obstacles: ``(N, K, 3)`` or ``(K, 3)`` shared by all
    :param mask: ``(N, K)`` bool or None (all present)
    :param opponent_poses: ``(N, 3)`` or None
    """
    P = np.asarray(poses, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 3:
        raise SafetyInputError(f"poses must be (N, 3), got shape {P.shape}")
    N = P.shape[0]
    O = np.asarray(obstacles if obstacles is not None else np.zeros((0, 3)), dtype=np.float64)
    if O.ndim == 2:
        O = np.broadcast_to(O, (N,) + O.shape)
    if O.ndim != 3 or O.shape[0] != N or O.shape[2] != 3:
        raise SafetyInputError(f"obstacles must be (N, K, 3) or (K, 3) with N={N}, "
                               f"got shape {O.shape}")
    K = O.shape[1]
    if mask is None:
        M = np.ones((N, K), dtype=bool)
    else:
        M = np.asarray(mask)
        if M.shape != (N, K) or M.dtype != np.bool_:
            raise SafetyInputError(f"mask must be a bool array of shape {(N, K)}, got "
                                   f"{M.dtype} {M.shape}")
    Q = None
    if opponent_poses is not None:
        Q = np.asarray(opponent_poses, dtype=np.float64)
        if Q.shape != (N, 3):
            raise SafetyInputError(f"opponent_poses must be (N, 3) = {(N, 3)}, got {Q.shape}")
    return P, O, M, Q


def check_batch_values(P: np.ndarray, O: np.ndarray, M: np.ndarray, Q: Optional[np.ndarray]
                       ) -> None:
    """Raise :class:`SafetyInputError` on non-finite/huge values or negative radii.

    :param P: ``(N, 3)`` poses
    :param O: ``(N, K, 3)`` obstacles
    :param M: ``(N, K)`` mask
    :param Q: ``(N, 3)`` opponent poses or None
    """
    if not np.all(np.abs(P) <= MAX_ABS):
        raise SafetyInputError(f"poses must be finite and within +-{MAX_ABS:g}; bad rows "
                               f"{np.nonzero(~np.all(np.abs(P) <= MAX_ABS, axis=1))[0][:10]}")
    if not np.all((np.abs(O) <= MAX_ABS) | ~M[..., None]):
        raise SafetyInputError(f"obstacles must be finite and within +-{MAX_ABS:g} where mask "
                               f"is True")
    if np.any((O[..., 2] < 0.0) & M):
        raise SafetyInputError("obstacle radii must be >= 0 where mask is True")
    if Q is not None and not np.all(np.abs(Q) <= MAX_ABS):
        raise SafetyInputError(f"opponent_poses must be finite and within +-{MAX_ABS:g}")


def check_commands(u_nom: object, N: int) -> np.ndarray:
    """Validate and convert ``(N, 2)`` nominal commands (raises :class:`SafetyInputError`).

    :param u_nom: ``(N, 2)`` commands
    :param N: number of robots
    """
    U = coerce_commands(u_nom, N)
    if not np.all(np.abs(U) <= MAX_ABS):
        raise SafetyInputError(f"u_nom must be finite and within +-{MAX_ABS:g}; bad rows "
                               f"{np.nonzero(~np.all(np.abs(U) <= MAX_ABS, axis=1))[0][:10]}")
    return U


def coerce_commands(u_nom: object, N: int) -> np.ndarray:
    """``(N, 2)`` float array of ``u_nom`` (shape checked, values not: :func:`check_commands`).

    :param u_nom: ``(N, 2)`` commands
    :param N: number of robots
    """
    U = np.asarray(u_nom, dtype=np.float64)
    if U.shape != (N, 2):
        raise SafetyInputError(f"u_nom must be (N, 2) = {(N, 2)}, got {U.shape}")
    return U


def build_rows_batch(k: Consts, poses: np.ndarray, arena: tuple[float, float, float, float],
                     obstacles: np.ndarray, mask: np.ndarray,
                     opponent: Optional[np.ndarray],
                     workspace: Optional[dict] = None) -> BatchRows:
    """Rows of N robots from validated arrays.

    ``workspace`` (a dict owned by the caller) lets repeated calls reuse the big output
    buffers instead of allocating (and page-faulting) fresh ones every time; the returned
    rows are then only valid until the next call with the same workspace.

    :param k: constants
    :param poses: ``(N, 3)``
    :param arena: ``(x_min, x_max, y_min, y_max)``
    :param obstacles: ``(N, K, 3)``
    :param mask: ``(N, K)``
    :param opponent: ``(N, 3)`` or None
    """
    N = poses.shape[0]
    K = obstacles.shape[1]
    M = 5 + K
    d = k.d
    x = poses[:, 0]
    y = poses[:, 1]
    th = poses[:, 2]
    cth = np.cos(th)
    sth = np.sin(th)
    px = x + d * cth
    py = y + d * sth
    # Stored as (M, N) C-order and handed out as (N, M) views: every column is contiguous,
    # and numpy iterates the long N axis innermost in all later (N, M) operations.
    gvT, gwT, hT = (_buffer(workspace, name, (M, N), np.float64) for name in ("gv", "gw", "h"))
    validT = _buffer(workspace, "valid", (M, N), np.bool_)
    validT[:5] = True
    if opponent is not None:
        qx = opponent[:, 0] + k.opp_d * np.cos(opponent[:, 2])
        qy = opponent[:, 1] + k.opp_d * np.sin(opponent[:, 2])
        gvT[0], gwT[0], hT[0] = _distance_cols(px - qx, py - qy, k.pair_r, cth, sth, d)
    else:
        gvT[0] = gwT[0] = 0.0
        hT[0] = 0.0  # absent: excluded by valid (barrier_values reports +inf)
        validT[0] = False
    x_min, x_max, y_min, y_max = arena
    off = k.wall_off
    dsth = d * sth
    dcth = d * cth
    gvT[1] = -cth
    gvT[2] = cth
    gvT[3] = -sth
    gvT[4] = sth
    gwT[1] = dsth
    gwT[2] = -dsth
    gwT[3] = -dcth
    gwT[4] = dcth
    hT[1] = px - (x_min + off)
    hT[2] = (x_max - off) - px
    hT[3] = py - (y_min + off)
    hT[4] = (y_max - off) - py
    if K:
        obsT = np.ascontiguousarray(obstacles.transpose(2, 1, 0))  # (3, K, N)
        maskT = mask.T
        full = bool(maskT.all())
        if full:
            cx, cy, rad = obsT[0], obsT[1], obsT[2]
        else:  # absent slots may hold anything: compute them on a harmless dummy
            cx = np.where(maskT, obsT[0], 0.0)
            cy = np.where(maskT, obsT[1], 0.0)
            rad = np.where(maskT, obsT[2], 0.0)
        ogv, ogw, oh = _distance_cols(px - cx, py - cy, rad + k.obs_off, cth, sth, d)
        gvT[5:] = ogv
        gwT[5:] = ogw
        hT[5:] = oh if full else np.where(maskT, oh, 0.0)
        validT[5:] = maskT
    return rows_from_columns(k, gvT, gwT, hT, validT)


def column_meta(k: Consts, M: int) -> tuple[np.ndarray, np.ndarray]:
    """``(extra (M,), group (M,))`` of the column layout (see :class:`BatchRows`).

    :param k: constants
    :param M: number of columns, ``5 + K``
    """
    extra = np.full(M, k.static_extra)
    extra[0] = k.pair_extra
    group = np.full(M, GROUP_OBSTACLES, dtype=np.int64)
    group[0] = GROUP_COLLISION
    group[1:5] = GROUP_ARENA
    return extra, group


def rows_from_columns(k: Consts, gvT: np.ndarray, gwT: np.ndarray, hT: np.ndarray,
                      validT: np.ndarray,
                      meta: Optional[tuple[np.ndarray, np.ndarray]] = None) -> BatchRows:
    """:class:`BatchRows` over filled ``(M, N)`` column arrays (handed out as ``(N, M)``).

    :param k: constants
    :param gvT: ``(M, N)`` coefficients of v
    :param gwT: ``(M, N)`` coefficients of omega
    :param hT: ``(M, N)`` barrier values
    :param validT: ``(M, N)`` which rows exist
    :param meta: ``column_meta(k, M)`` if the caller keeps it (read-only), else built here
    """
    extra, group = meta if meta is not None else column_meta(k, gvT.shape[0])
    return BatchRows(gv=gvT.T, gw=gwT.T, h=hT.T, valid=validT.T, extra=extra, group=group)
