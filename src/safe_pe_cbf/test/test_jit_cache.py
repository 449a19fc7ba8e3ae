"""numba's cache stamp of a dependent module (jit.depends_on_core): a change to a sibling file
named with ``also`` (or to the filter core) must change it, so that a compiled caller is
recompiled rather than loaded stale."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from safe_pe_cbf import jit


def _toy_package(root: Path) -> tuple[Path, Path, Path]:
    """A package outside safe_pe_cbf with two sibling modules and one lone module."""
    pkg = root / "toy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", "utf-8")
    caller = pkg / "loops.py"
    caller.write_text("def loop(x):\n    return x\n", "utf-8")
    callee = pkg / "motion.py"
    callee.write_text("def step(x):\n    return x + 1\n", "utf-8")
    lone = root / "lone.py"
    lone.write_text("def f(x):\n    return x\n", "utf-8")
    return caller, callee, lone


def _touch_later(path: Path) -> None:
    """Move ``path``'s mtime forward by 10 s (an edit, without depending on the clock)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))


def test_tree_stamp_lists_py_files_without_skipped_dirs(tmp_path: Path) -> None:
    caller, callee, _ = _toy_package(tmp_path)
    (caller.parent / "__pycache__").mkdir()
    (caller.parent / "__pycache__" / "stale.py").write_text("", "utf-8")
    (caller.parent / "ros").mkdir()
    (caller.parent / "ros" / "node.py").write_text("", "utf-8")
    (caller.parent / "notes.txt").write_text("", "utf-8")
    names = [entry[0] for entry in jit.tree_stamp(str(caller.parent), skip=("ros",))]
    assert names == ["__init__.py", "loops.py", "motion.py"]


def test_source_stamp_follows_the_sibling_files(tmp_path: Path) -> None:
    caller, callee, lone = _toy_package(tmp_path)
    jit.depends_on_core(str(caller), also=str(caller.parent))
    jit.depends_on_core(str(lone))
    core = ("core",)
    before = jit.source_stamp(str(caller), core)
    assert before[0] == core and [e[0] for e in before[1]] == ["__init__.py", "loops.py",
                                                               "motion.py"]
    assert jit.source_stamp(str(lone), core) == (core,)  # no siblings: the core only
    _touch_later(callee)
    assert jit.source_stamp(str(caller), core) != before
    callee.write_text("def step(x):\n    return x + 2.0\n", "utf-8")  # another size
    assert jit.source_stamp(str(caller), core)[1][2][2] == callee.stat().st_size


def _our_locator(py_func, path: Path):
    """The first locator numba would use for ``py_func`` defined in ``path``."""
    from numba.core import caching  # numba: the kernels' optional compiler
    for locator in caching.CacheImpl._locator_classes:  # numba's order: the first that fits
        found = locator.from_function(py_func, str(path))
        if found is not None:
            return found
    return None


@pytest.mark.skipif(not jit.AVAILABLE, reason="numba's cache needs numba")
def test_numba_cache_stamp_changes_with_a_sibling_file(tmp_path: Path) -> None:
    caller, callee, lone = _toy_package(tmp_path)
    jit.depends_on_core(str(caller), also=str(caller.parent))
    jit.depends_on_core(str(lone))

    def loop(x):
        return x

    found = _our_locator(loop, caller)
    assert found is not None and len(found.get_source_stamp()) == 3  # own, core, siblings
    before = found.get_source_stamp()
    _touch_later(callee)
    after = _our_locator(loop, caller).get_source_stamp()
    assert after[:2] == before[:2] and after[2] != before[2]
    # a dependent without siblings keeps the core-only form of the core's own kernels
    assert len(_our_locator(loop, lone).get_source_stamp()) == 2
