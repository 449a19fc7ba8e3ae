"""Typed configuration error of the training package.

Kept apart from ``config`` so that every module that validates settings (the training
config, the safety targets) raises the same type without importing the whole config.
"""

from __future__ import annotations

from safe_pe_sim.config import ConfigError as SimConfigError

__all__ = ["ConfigError"]


class ConfigError(SimConfigError):
    """A SafeSelfPlayConfig value is missing, malformed or inconsistent (a subclass of the
    simulator's and the CBF core's ``ConfigError``)."""
