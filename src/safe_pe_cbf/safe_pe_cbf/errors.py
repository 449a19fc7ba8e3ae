"""Typed errors of the safety core.

Every error raised for bad input is a ``ValueError`` subclass whose message says what to fix,
so callers (the ROS node, the simulator, training) can catch one type and stop the robot.
"""

from __future__ import annotations

__all__ = ["SafetyInputError", "ConfigError"]


class SafetyInputError(ValueError):
    """Invalid input to the safety core: NaN/inf state or command, negative radius,
    limits out of order, wrong shape. The caller must not move the robot on this input."""


class ConfigError(ValueError):
    """Invalid :class:`safe_pe_cbf.config.CBFConfig` field or configuration file."""
