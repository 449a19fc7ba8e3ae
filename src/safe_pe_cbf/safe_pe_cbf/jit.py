"""numba's ``njit`` where numba is installed, else a stand-in that leaves functions as they are.

The compiled kernels (the batched filter's :mod:`safe_pe_cbf.batch_kernels`, the simulator's
observation kernel) import ``njit`` and ``AVAILABLE`` from here, so they stay importable, and
callable as plain (slow) Python, on a machine without numba; their backends check
``AVAILABLE`` before choosing the compiled path. A robot needs neither: the filter node uses
the single-robot resolver.
"""

from __future__ import annotations

__all__ = ["AVAILABLE", "njit"]

try:  # pragma: no cover - depends on the environment
    from numba import njit
    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        """Stand-in decorator: the function is returned unchanged."""
        def wrap(fn):
            return fn
        return wrap(args[0]) if args and callable(args[0]) else wrap
