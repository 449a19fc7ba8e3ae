"""numba's ``njit`` where numba is installed, else a stand-in that leaves functions as they are.

The compiled kernels (the batched filter's :mod:`safe_pe_cbf.batch_kernels`, the simulator's
observation kernel) import ``njit`` and ``AVAILABLE`` from here, so they stay importable, and
callable as plain (slow) Python, on a machine without numba; their backends check
``AVAILABLE`` before choosing the compiled path. A robot needs neither: the filter node uses
the single-robot resolver.
"""

from __future__ import annotations

__all__ = ["AVAILABLE", "BACKENDS", "njit", "pick_backend"]

#: ``auto``: numba when it is installed, else numpy.
BACKENDS = ("auto", "numba", "numpy")

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


def pick_backend(backend: str, available: bool, unknown_error: type[Exception],
                 missing_error: type[Exception], what: str = "backend") -> str:
    """Resolve a kernel backend name to ``"numba"`` or ``"numpy"``.

    :param backend: one of :data:`BACKENDS`
    :param available: whether the kernels' module has numba (its ``AVAILABLE``)
    :param unknown_error: raised for a name not in :data:`BACKENDS`
    :param missing_error: raised for ``"numba"`` without numba installed
    :param what: how the error messages call the backend
    """
    if backend not in BACKENDS:
        raise unknown_error(f"{what} must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and not available:
        raise missing_error(f"{what} 'numba' needs the numba package (pinned in "
                            "requirements.txt): install it, or use backend='numpy' or 'auto'")
    if backend == "auto":
        return "numba" if available else "numpy"
    return backend
