"""numba's ``njit`` where numba is installed, else a stand-in that leaves functions as they are.

The filter's kernels (:mod:`safe_pe_cbf.kernels`, :mod:`safe_pe_cbf.barriers`) and the
simulator's kernels (:mod:`safe_pe_sim.kernels`, the observation and actuation kernels)
import ``njit``, ``prange`` and the scratch allocators from here. Without numba -- or with ``NUMBA_DISABLE_JIT=1`` in the environment, e.g. on a
robot that should not compile -- they run as plain Python: ``prange`` is ``range`` and the
scratch buffers are Python lists (indexed like the arrays the compiled code gets, and faster
than numpy scalars in the interpreter).
"""

from __future__ import annotations

import os

__all__ = ["AVAILABLE", "BACKENDS", "njit", "prange", "floats", "ints", "pick_backend",
           "with_globals", "depends_on_core", "tree_stamp", "source_stamp"]

#: ``auto``: numba when it is installed, else numpy.
BACKENDS = ("auto", "numba", "numpy")

try:  # pragma: no cover - depends on the environment
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        raise ImportError("NUMBA_DISABLE_JIT is set")
    import numpy as np
    from numba import njit, prange
    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False
    prange = range

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        """Stand-in decorator: the function is returned unchanged."""
        def wrap(fn):
            return fn
        return wrap(args[0]) if args and callable(args[0]) else wrap


_PACKAGE = os.path.dirname(os.path.abspath(__file__))
#: modules outside this package whose kernels inline this package's (see depends_on_core),
#: each with the directory of sibling modules its kernels also inline (or None)
_DEPENDENTS: dict[str, str | None] = {}


def depends_on_core(path: str, also: str | None = None) -> None:
    """Key numba's on-disk cache of the kernels in module file ``path`` (outside this
    package) on this package's core modules too, as for the package's own kernels: call it
    from a module whose kernels inline ours (the simulator's observation kernel inlines the
    box barrier), so that a changed barrier recompiles them rather than loading stale code.

    numba stamps a cached function with its own file only: a module whose compiled functions
    call kernels of sibling modules (the simulator's :mod:`safe_pe_sim.kernels` package)
    passes their directory as ``also``, so that a change to any ``.py`` file under it
    recompiles its kernels too.

    :param path: the module's ``__file__``
    :param also: directory whose ``.py`` files (recursively, without ``__pycache__``) are
        added to the stamp, e.g. ``os.path.dirname(__file__)``; None: only the core
    """
    _DEPENDENTS[os.path.abspath(path)] = None if also is None else os.path.abspath(also)


def tree_stamp(root: str, skip: tuple[str, ...] = ()) -> tuple:
    """Relative name, mtime and size of every ``.py`` file under ``root`` (sorted; the
    directories named in ``skip`` and ``__pycache__`` left out): what a cache stamp compares.

    :param root: directory to walk
    :param skip: names of sub-directories to leave out
    """
    out = []
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip and d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            st = os.stat(os.path.join(base, name))
            out.append((os.path.relpath(os.path.join(base, name), root), st.st_mtime,
                        st.st_size))
    return tuple(out)


def _package_stamp() -> tuple:
    """Name, mtime and size of every core module of the package (not ``ros/``)."""
    return tree_stamp(_PACKAGE, skip=("ros",))


def source_stamp(path: str, core: tuple) -> tuple:
    """The part of a kernel's cache stamp this module adds for the module file ``path``:
    ``(core,)`` for this package's modules and for dependents without sibling files, else
    ``(core, tree_stamp(also))`` with ``also`` as given to :func:`depends_on_core`.

    :param path: the kernel's module file
    :param core: :func:`_package_stamp` (taken once at import)
    """
    also = _DEPENDENTS.get(os.path.abspath(path))
    return (core,) if also is None else (core, tree_stamp(also))


def _version_the_cache() -> None:
    """Key numba's on-disk cache of this package's kernels on *all* its modules.

    numba stamps a cached function with its own file only, but the kernels inline each other
    across modules (the batched loop inlines the row builder of ``kernels/rows.py``, the
    barrier rows of ``barriers/``): a changed callee would leave a stale compiled caller. The
    stamp here covers every core module, so any change recompiles every kernel once, and for
    a dependent module (:func:`depends_on_core`) the sibling files it names too. Uses
    numba's locator hooks; without them (another numba) the default per-file stamp stays.
    """
    try:  # numba's internals: only where numba is installed (this runs only then)
        from numba.core import caching
        bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                 caching.UserWideCacheLocator)
        impl = caching.CacheImpl
    except AttributeError:  # pragma: no cover - numba without these internals
        return
    stamp = _package_stamp()

    def versioned(base):
        class Locator(base):
            @classmethod
            def from_function(cls, py_func, py_file):
                path = os.path.abspath(py_file)
                if not (path.startswith(_PACKAGE + os.sep) or path in _DEPENDENTS):
                    return None  # not ours: numba's own locators decide
                found = super().from_function(py_func, py_file)
                if found is not None:
                    found._safe_pe_path = path
                return found

            def get_source_stamp(self):
                return (super().get_source_stamp(), *source_stamp(self._safe_pe_path, stamp))
        return Locator

    impl._locator_classes[:0] = [versioned(b) for b in bases]


if AVAILABLE:
    _version_the_cache()

    @njit(cache=True, inline="always")
    def floats(n):  # pragma: no cover - compiled
        """Scratch buffer of ``n`` floats (contents undefined)."""
        return np.empty(n)

    @njit(cache=True, inline="always")
    def ints(n):  # pragma: no cover - compiled
        """Scratch buffer of ``n`` ints (contents undefined)."""
        return np.empty(n, dtype=np.int64)
else:
    def floats(n):
        """Scratch buffer of ``n`` floats (a list in plain Python)."""
        return [0.0] * n

    def ints(n):
        """Scratch buffer of ``n`` ints (a list in plain Python)."""
        return [0] * n


def with_globals(kernel, **names):
    """The kernel's Python function with some of the globals it calls replaced.

    Runs the *same code* in the interpreter with another callee, e.g. the resolver's tier
    logic with OSQP instead of the compiled exact QP (numba cannot call Python code).

    :param kernel: a function decorated with :func:`njit` (or a plain function)
    :param names: global name -> replacement
    """
    fn = getattr(kernel, "py_func", kernel)
    env = dict(fn.__globals__)
    env.update(names)
    return type(fn)(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)


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
                            "requirements.txt; NUMBA_DISABLE_JIT unset): install it, or use "
                            "backend='numpy' or 'auto'")
    if backend == "auto":
        return "numba" if available else "numpy"
    return backend
