"""Affine map between normalised actions in ``[-1, 1]^2`` and physical commands.

``v = v_min + (a_v + 1) / 2 * (v_max - v_min)``, ``omega = a_omega * omega_max``; actions
outside ``[-1, 1]`` are clipped first. The inverse maps a command inside the limits back.

The map is written once, per robot (:func:`safe_pe_sim.kernels.physical`, compiled by numba):
:func:`to_physical_scalar` calls it, :func:`to_physical` loops it over the rows.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .config import RobotConfig
from .kernels import physical

__all__ = ["command_limits", "to_physical", "to_normalized", "to_physical_scalar"]


def command_limits(robot: RobotConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` arrays ``(v_min, -omega_max)`` and ``(v_max, omega_max)``.

    :param robot: robot limits.
    """
    return (np.array([robot.v_min, -robot.omega_max]),
            np.array([robot.v_max, robot.omega_max]))


def to_physical(actions: np.ndarray, robot: RobotConfig) -> np.ndarray:
    """Map ``(..., 2)`` normalised actions to physical ``(v, omega)``.

    :param actions: actions in ``[-1, 1]`` (clipped).
    :param robot: robot limits.
    """
    a = np.asarray(actions, dtype=np.float64)
    out = np.empty(a.shape)
    kernels.physical_rows(np.ascontiguousarray(a).reshape(-1, 2), out.reshape(-1, 2),
                   float(robot.v_min), float(robot.v_max), float(robot.omega_max))
    return out


def to_physical_scalar(a_v: float, a_omega: float, robot: RobotConfig) -> tuple[float, float]:
    """:func:`to_physical` of one action (the same compiled kernel).

    :param a_v: normalised linear action.
    :param a_omega: normalised angular action.
    :param robot: robot limits.
    """
    return physical(float(a_v), float(a_omega), float(robot.v_min), float(robot.v_max),
                    float(robot.omega_max))


def to_normalized(cmds: np.ndarray, robot: RobotConfig) -> np.ndarray:
    """Map ``(..., 2)`` physical commands to normalised actions (clipped to ``[-1, 1]``).

    :param cmds: physical ``(v, omega)``.
    :param robot: robot limits.
    """
    c = np.asarray(cmds, dtype=np.float64)
    out = np.empty(c.shape)
    out[..., 0] = 2.0 * (c[..., 0] - robot.v_min) / (robot.v_max - robot.v_min) - 1.0
    out[..., 1] = c[..., 1] / robot.omega_max
    return np.clip(out, -1.0, 1.0)
