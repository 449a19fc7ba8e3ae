"""Exact zero-order-hold unicycle integration, vectorised and scalar.

State ``(x, y, theta)``, command ``(v, omega)`` held constant over ``dt``::

    x(t) = x0 + v t cos(theta0 + omega t / 2) sinc(omega t / 2)
    y(t) = y0 + v t sin(theta0 + omega t / 2) sinc(omega t / 2)
    theta(t) = theta0 + omega t

with ``sinc(a) = sin(a) / a``. This is the closed-form arc, equal to the usual
``x0 + v/omega (sin(theta0 + omega t) - sin(theta0))`` form for ``omega != 0`` and to the straight
line for ``omega == 0``; it is evaluated without dividing by ``omega`` so it is accurate for
every ``omega`` (for ``|omega t / 2| < 1e-4`` the series ``1 - a^2/6`` is used, accurate to
double precision).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["wrap_angle", "wrap_angle_scalar", "unicycle_step", "unicycle_step_scalar",
           "clip_commands", "SMALL_HALF_ANGLE"]

SMALL_HALF_ANGLE = 1e-4
"""Below this ``|omega dt / 2|`` the sinc series is used (error < 1e-17)."""

_TWO_PI = 2.0 * math.pi


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wrap angles to ``[-pi, pi)``.

    :param angle: array of angles [rad].
    """
    return np.mod(angle + math.pi, _TWO_PI) - math.pi


def wrap_angle_scalar(angle: float) -> float:
    """Scalar :func:`wrap_angle` (same arithmetic, so identical results).

    :param angle: angle [rad].
    """
    return (angle + math.pi) % _TWO_PI - math.pi


def _sinc(a: np.ndarray) -> np.ndarray:
    small = np.abs(a) < SMALL_HALF_ANGLE
    safe = np.where(small, 1.0, a)
    return np.where(small, 1.0 - a * a / 6.0, np.sin(safe) / safe)


def unicycle_step(poses: np.ndarray, cmds: np.ndarray, dt: float | np.ndarray) -> np.ndarray:
    """Integrate unicycles exactly over ``dt`` with constant commands.

    :param poses: ``(..., 3)`` array of ``(x, y, theta)``.
    :param cmds: ``(..., 2)`` array of ``(v, omega)``, broadcastable against ``poses[..., :1]``.
    :param dt: hold time [s] (scalar, or broadcastable to the leading dims).
    :return: new poses ``(..., 3)`` with theta wrapped to ``[-pi, pi)``.
    """
    poses = np.asarray(poses, dtype=np.float64)
    cmds = np.asarray(cmds, dtype=np.float64)
    theta = poses[..., 2]
    v = cmds[..., 0]
    omega = cmds[..., 1]
    half = 0.5 * omega * dt
    mid = theta + half
    chord = v * dt * _sinc(half)
    x = poses[..., 0] + chord * np.cos(mid)
    shape = x.shape + (3,)
    out = np.empty(shape, dtype=np.float64)
    out[..., 0] = x
    out[..., 1] = poses[..., 1] + chord * np.sin(mid)
    out[..., 2] = wrap_angle(theta + omega * dt)
    return out


def unicycle_step_scalar(x: float, y: float, theta: float, v: float, omega: float,
                         dt: float) -> tuple[float, float, float]:
    """Scalar :func:`unicycle_step` in pure Python (fast for one robot).

    :param x: position x [m].
    :param y: position y [m].
    :param theta: heading [rad].
    :param v: linear velocity [m/s].
    :param omega: angular velocity [rad/s].
    :param dt: hold time [s].
    :return: ``(x, y, theta)`` after ``dt``, theta wrapped to ``[-pi, pi)``.
    """
    half = 0.5 * omega * dt
    mid = theta + half
    if abs(half) < SMALL_HALF_ANGLE:
        chord = v * dt * (1.0 - half * half / 6.0)
    else:
        chord = v * dt * (math.sin(half) / half)
    return (x + chord * math.cos(mid), y + chord * math.sin(mid),
            wrap_angle_scalar(theta + omega * dt))


def clip_commands(cmds: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Clip ``(..., 2)`` commands elementwise to ``[lo, hi]`` (per-robot limits).

    :param cmds: ``(..., 2)`` commands ``(v, omega)``.
    :param lo: lower limits broadcastable to ``cmds`` (e.g. ``(2, 2)`` per agent).
    :param hi: upper limits broadcastable to ``cmds``.
    """
    return np.minimum(np.maximum(cmds, lo), hi)
