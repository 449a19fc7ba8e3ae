"""Errors raised by the simulation core.

:class:`SimInputError` is raised for bad runtime input (NaN/inf commands, wrong shapes). It is a
``ValueError`` and a subclass of ``safe_pe_cbf.errors.SafetyInputError`` so callers can catch
one type for both packages.
"""

from __future__ import annotations

from safe_pe_cbf.errors import SafetyInputError

from .config import ConfigError

__all__ = ["ConfigError", "SimInputError"]


class SimInputError(SafetyInputError):
    """Bad runtime input to the simulator (non-finite command, wrong shape, bad role)."""
