"""Shape and value checks of the batched filter's array inputs (typed errors that say what to
fix); the values are checked by the compiled row loop first, these say what was wrong."""

from __future__ import annotations

from typing import Optional

import numpy as np

from safe_pe_cbf.barriers import KIND, WIDE, invalid_rows, kinds_text
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import MAX_ABS

__all__ = ["coerce_batch_inputs", "check_batch_values", "coerce_commands", "bad_commands",
           "coerce_actuation"]


def coerce_batch_inputs(poses: object, obstacles: object, mask: object, opponent_poses: object
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Convert batched inputs to contiguous float/bool arrays and check their shapes (the
    values are checked by the row loop, then :func:`check_batch_values` says what is wrong).

    :param poses: ``(N, 3)``
    :param obstacles: ``(N, K, 3)`` or ``(K, 3)`` shared by all (or ``6`` wide with a kind)
    :param mask: ``(N, K)`` bool or None (all present)
    :param opponent_poses: ``(N, 3)`` or None
    """
    P = np.ascontiguousarray(poses, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 3:
        raise SafetyInputError(f"poses must be (N, 3), got shape {P.shape}")
    N = P.shape[0]
    O = np.asarray(obstacles if obstacles is not None else np.zeros((0, 3)), dtype=np.float64)
    if O.ndim == 2:
        O = np.broadcast_to(O, (N,) + O.shape)
    if O.ndim != 3 or O.shape[0] != N or O.shape[2] not in (3, WIDE):
        raise SafetyInputError(f"obstacles must be (N, K, 3) or (K, 3) circles, or (N, K, "
                               f"{WIDE}) or (K, {WIDE}) rows with a kind, with N={N}, got "
                               f"shape {O.shape}")
    O = np.ascontiguousarray(O)
    K = O.shape[1]
    if mask is None:
        M = np.ones((N, K), dtype=bool)
    else:
        M = np.asarray(mask)
        if M.shape != (N, K) or M.dtype != np.bool_:
            raise SafetyInputError(f"mask must be a bool array of shape {(N, K)}, got "
                                   f"{M.dtype} {M.shape}")
        M = np.ascontiguousarray(M)
    Q = None
    if opponent_poses is not None:
        Q = np.ascontiguousarray(opponent_poses, dtype=np.float64)
        if Q.shape != (N, 3):
            raise SafetyInputError(f"opponent_poses must be (N, 3) = {(N, 3)}, got {Q.shape}")
    return P, O, M, Q


def check_batch_values(P: np.ndarray, O: np.ndarray, M: np.ndarray, Q: Optional[np.ndarray]
                       ) -> None:
    """Raise :class:`SafetyInputError` on non-finite/huge values, negative sizes or bad kinds.

    :param P: ``(N, 3)`` poses
    :param O: ``(N, K, 3)`` or ``(N, K, 6)`` obstacles
    :param M: ``(N, K)`` mask
    :param Q: ``(N, 3)`` opponent poses or None
    """
    if not np.all(np.abs(P) <= MAX_ABS):
        raise SafetyInputError(f"poses must be finite and within +-{MAX_ABS:g}; bad rows "
                               f"{np.nonzero(~np.all(np.abs(P) <= MAX_ABS, axis=1))[0][:10]}")
    if not np.all((np.abs(O) <= MAX_ABS) | ~M[..., None]):
        raise SafetyInputError(f"obstacles must be finite and within +-{MAX_ABS:g} where mask "
                               f"is True")
    unknown, negative, what = invalid_rows(O[M])
    if np.any(unknown):
        raise SafetyInputError(f"obstacle kinds (column {KIND}) must be one of {kinds_text()} "
                               f"where mask is True")
    if np.any(negative):
        raise SafetyInputError(f"obstacle sizes must be >= 0 where mask is True (a "
                               f"{what[int(np.argmax(negative))]} is negative)")
    if Q is not None and not np.all(np.abs(Q) <= MAX_ABS):
        raise SafetyInputError(f"opponent_poses must be finite and within +-{MAX_ABS:g}")
    raise SafetyInputError(f"batched inputs must be finite and within +-{MAX_ABS:g}")


def coerce_commands(u_nom: object, N: int) -> np.ndarray:
    """``(N, 2)`` contiguous float array of ``u_nom`` (shape checked, values by the loop).

    :param u_nom: ``(N, 2)`` commands
    :param N: number of robots
    """
    U = np.ascontiguousarray(u_nom, dtype=np.float64)
    if U.shape != (N, 2):
        raise SafetyInputError(f"u_nom must be (N, 2) = {(N, 2)}, got {U.shape}")
    return U


def bad_commands(U: np.ndarray) -> SafetyInputError:
    """The error for non-finite or huge commands (naming the first bad rows).

    :param U: ``(N, 2)`` commands
    """
    bad = np.nonzero(~np.all(np.abs(U) <= MAX_ABS, axis=1))[0][:10]
    return SafetyInputError(f"u_nom must be finite and within +-{MAX_ABS:g}; bad rows {bad}")


def coerce_actuation(velocities: object, pending: object, N: int, steps: int,
                     needs_velocity: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(V (N, 2), PEND (N, steps, 2))`` for the actuated rows, checked (finite, within
    +-MAX_ABS) with errors that say what to pass.

    :param velocities: ``(N, 2)`` velocities held in the period ending at the sampling
        instant, or None (zeros; only when ``needs_velocity`` is False)
    :param pending: ``(N, steps, 2)`` commands sent but not yet in effect, oldest first, or
        None when ``steps == 0``
    :param N: number of robots
    :param steps: the latency in periods
    :param needs_velocity: the robot's own actuator has limits
    """
    if velocities is None:
        if needs_velocity:
            raise SafetyInputError(
                "config.actuator has limits: pass velocities (N, 2), the (v, omega) each robot "
                "held in the last period (docs/actuation.md)")
        V = np.zeros((N, 2))
    else:
        V = np.ascontiguousarray(velocities, dtype=np.float64)
        if V.shape != (N, 2):
            raise SafetyInputError(f"velocities must be (N, 2) = {(N, 2)}, got {V.shape}")
    if pending is None:
        if steps:
            raise SafetyInputError(
                f"config.actuator.latency_steps = {steps}: pass pending (N, {steps}, 2), the "
                f"commands sent in the last {steps} periods, oldest first")
        PEND = np.zeros((N, 0, 2))
    else:
        PEND = np.ascontiguousarray(pending, dtype=np.float64)
        if PEND.shape != (N, steps, 2):
            raise SafetyInputError(f"pending must be (N, latency_steps, 2) = {(N, steps, 2)}, "
                                   f"got {PEND.shape}")
    if not (np.all(np.abs(V) <= MAX_ABS) and np.all(np.abs(PEND) <= MAX_ABS)):
        raise SafetyInputError(f"velocities and pending must be finite and within "
                               f"+-{MAX_ABS:g}")
    return V, PEND
