"""The simulator's kernels: compiled == plain Python (the cache key: test_observation_backends)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safe_pe_cbf import jit
from safe_pe_cbf.jit import AVAILABLE

from safe_pe_sim import kernels
from safe_pe_sim.dynamics import unicycle_step_scalar

BOUNDS = (-3.0, 3.0, -3.0, 3.0)


def _scenes(n: int = 300):
    """Random crowded games: two robots, circles and boxes (rows with a kind), fast commands."""
    rng = np.random.default_rng(5)
    for _ in range(n):
        k = int(rng.integers(0, 5))
        obs = np.zeros((k, 6))
        obs[:, :2] = rng.uniform(-2.5, 2.5, (k, 2))
        obs[:, 2] = rng.uniform(0.1, 0.6, k)
        obs[:, 3] = rng.uniform(0.0, 0.4, k)
        obs[:, 4] = rng.uniform(-np.pi, np.pi, k)
        obs[:, 5] = rng.integers(0, 2, k)
        obs[obs[:, 5] == 0, 3:5] = 0.0
        poses = np.column_stack((rng.uniform(-2.9, 2.9, (2, 2)), rng.uniform(-3, 3, 2)))
        cmds = np.column_stack((rng.uniform(-0.5, 3.0, 2), rng.uniform(-4, 4, 2)))
        yield poses, cmds, obs, rng.uniform(0, 1, k) < 0.8


def _args(poses, cmds, obs, mask):
    return (*poses[0], *cmds[0], *poses[1], *cmds[1], 0.2, 7, 0.15, 0.2, obs, mask, *BOUNDS)


@pytest.mark.skipif(not AVAILABLE, reason="needs numba")
def test_compiled_equals_plain_python() -> None:
    hits = stops = 0
    for poses, cmds, obs, mask in _scenes():
        args = _args(poses, cmds, obs, mask)
        for prefilter in (True, False):
            got = kernels.check_game(*args, prefilter)
            ref = kernels.check_game.py_func(*args, prefilter)
            np.testing.assert_allclose(np.array(got, float), np.array(ref, float), atol=1e-12)
            assert got[:2] == ref[:2] and got[9:] == ref[9:]
            hits += got[0] > 0 or got[1] > 0
        got = kernels.contact_game(*args)
        ref = kernels.contact_game.py_func(*args)
        assert got[:2] == ref[:2]
        np.testing.assert_allclose(got[2:], ref[2:], atol=1e-12)
        stops += got[0] >= 0 or got[1] >= 0
        a = kernels.aware_flee_one(*poses[1], *poses[0, :2], obs, mask, *BOUNDS, 0.2, 1.0,
                                   0.26, 0.0, 1.82, 4.0)
        b = kernels.aware_flee_one.py_func(*poses[1], *poses[0, :2], obs, mask, *BOUNDS, 0.2,
                                           1.0, 0.26, 0.0, 1.82, 4.0)
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert hits > 30 and stops > 30, "the scenes should cover violations and contacts"


def test_prefilter_is_exact() -> None:
    for poses, cmds, obs, mask in _scenes(200):
        args = _args(poses, cmds, obs, mask)
        fast = kernels.check_game(*args, True)
        full = kernels.check_game(*args, False)
        assert fast[:2] == full[:2] and fast[9:13] == full[9:13]
        np.testing.assert_array_equal(fast[2:9], full[2:9])


def test_single_and_batched_paths_share_the_kernel() -> None:
    assert unicycle_step_scalar is kernels.unicycle


def test_compiled_callers_of_the_kernels_live_beside_them() -> None:
    """numba stamps a cached function with its own file: a compiled loop outside the kernels
    package would keep stale code of a changed kernel. Only these modules compile anything."""
    root = Path(kernels.__file__).parent.parent
    compiling = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
                 if "@njit" in p.read_text("utf-8")}
    assert compiling == {"kernels/motion.py", "kernels/safety.py", "kernels/contact.py",
                         "kernels/rules.py", "kernels/steering.py", "kernels/loops.py",
                         "observation_kernels.py", "actuation.py"}


@pytest.mark.parametrize("module", [kernels.motion, kernels.safety, kernels.contact,
                                    kernels.rules, kernels.steering, kernels.loops])
def test_each_kernel_module_is_stamped_on_the_whole_package(module) -> None:
    """Inside the package the kernels call each other across files: each module's cache
    stamp must cover every file of the package (and the filter core)."""
    package = Path(kernels.__file__).parent
    core = ("core",)
    stamp = jit.source_stamp(module.__file__, core)
    assert stamp[0] == core
    assert {entry[0] for entry in stamp[1]} == {p.name for p in package.glob("*.py")}
