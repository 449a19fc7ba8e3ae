"""The numba and numpy backends of the batched observation builder give identical results."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim import kernels
from safe_pe_sim import observation_kernels as kern
from safe_pe_sim import observations
from safe_pe_sim.config import load_profile
from safe_pe_sim.errors import SimInputError
from safe_pe_sim.observations import (BASE_DIM, OBS_DIM, OBS_NAMES, ObservationBackendError,
                                      ObservationBuilder)

pytest.importorskip("numba")

CFG = load_profile("default")
NUMBA = ObservationBuilder(CFG, backend="numba")
NUMPY = ObservationBuilder(CFG, backend="numpy")
X_MIN, X_MAX, Y_MIN, Y_MAX = CFG.arena.bounds()

# entries computed with cos/sin: on machines where numpy's float64 cos/sin are not libm's
# (SVML on AVX-512) they may differ in the last ulp; everything else must always be exact
TRIG = [i for i, name in enumerate(OBS_NAMES)
        if name in ("own_cos", "own_sin", "opp_dx", "opp_dy", "opp_cos", "opp_sin", "opp_vx",
                    "opp_vy") or name.endswith(("_dx", "_dy"))]
EXACT = [i for i in range(OBS_DIM) if i not in TRIG]


def _numpy_trig_is_libm() -> bool:
    a = np.random.default_rng(7).uniform(-10.0, 10.0, 4096)
    return all(np.cos(a) == [math.cos(v) for v in a]) and \
        all(np.sin(a) == [math.sin(v) for v in a])


TRIG_EXACT = _numpy_trig_is_libm()


def _assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray],
                 equal_nan: bool = False) -> None:
    obs, clear = got
    obs_w, clear_w = want
    assert obs.shape == obs_w.shape and obs.dtype == obs_w.dtype == np.float32
    assert clear.shape == clear_w.shape and clear.dtype == clear_w.dtype == np.float64
    assert np.array_equal(clear, clear_w, equal_nan=equal_nan)
    if TRIG_EXACT:
        assert np.array_equal(obs, obs_w, equal_nan=equal_nan)
    else:
        assert np.array_equal(obs[..., EXACT], obs_w[..., EXACT], equal_nan=equal_nan)
        np.testing.assert_allclose(obs[..., TRIG], obs_w[..., TRIG], rtol=0, atol=1e-7)


def _random_inputs(rng: np.random.Generator, n: int, k: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xy = np.stack((rng.uniform(X_MIN - 0.5, X_MAX + 0.5, (n, 2)),     # some slightly outside
                   rng.uniform(Y_MIN - 0.5, Y_MAX + 0.5, (n, 2))), axis=-1)
    theta = rng.uniform(-2 * math.pi, 2 * math.pi, (n, 2, 1))
    poses = np.concatenate((xy, theta), axis=-1)
    vel = rng.uniform(-3.5, 3.5, (n, 2, 2))                          # some beyond the limits
    obstacles = np.concatenate((rng.uniform(X_MIN - 1, X_MAX + 1, (n, k, 2)),
                                rng.uniform(0.05, 2.0, (n, k, 1))), axis=-1)
    mask = rng.uniform(size=(n, k)) < rng.uniform(0.0, 1.0, (n, 1))
    if n > 2 and k:
        mask[0] = False                                             # no obstacle at all
        mask[1] = True                                              # all of them
    if k >= 2:
        # ties in clearance: copies of a row, and rows mirrored about the pursuer (on a
        # 1/8 m grid, so the mirrored offsets are exact): equal keys, different features
        src = rng.integers(0, k, n)
        dst = (src + rng.integers(1, k, n)) % k
        for i in np.flatnonzero(rng.uniform(size=n) < 0.5):
            a, b = src[i], dst[i]
            obstacles[i, b] = obstacles[i, a]
            mask[i, b] = mask[i, a] = True
            if i % 2:
                poses[i, 0, :2] = np.round(poses[i, 0, :2] * 8) / 8
                obstacles[i, a, :2] = np.round(obstacles[i, a, :2] * 8) / 8
                obstacles[i, b, :2] = 2 * poses[i, 0, :2] - obstacles[i, a, :2]
    steps = rng.integers(0, CFG.max_steps + 1, n)
    steps[0] = 0
    steps[-1] = CFG.max_steps
    return poses, vel, obstacles, mask, steps


@pytest.mark.parametrize("n", [1, 2, 3, 16, 1000])
@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 6, 9])
def test_numba_equals_numpy_on_random_inputs(n: int, k: int) -> None:
    rng = np.random.default_rng(1000 * n + k)
    for _ in range(3 if n < 1000 else 1):
        args = _random_inputs(rng, n, k)
        _assert_same(NUMBA.batch_with_clearance(*args), NUMPY.batch_with_clearance(*args))


def test_ties_keep_row_order_and_missing_rows_are_zero() -> None:
    poses = np.array([[[0.0, 0.0, 0.0], [3.0, -2.0, -1.0]]])
    vel = np.zeros((1, 2, 2))
    obstacles = np.array([[[5.0, 5.0, 0.5], [2.0, 1.0, 0.5], [-4.0, 0.0, 0.3], [1.0, 2.0, 0.5],
                           [-2.0, -1.0, 0.5], [0.0, 0.0, 0.0]]])
    mask = np.array([[True, True, True, True, True, False]])
    steps = np.array([10])
    obs, clear = NUMBA.batch_with_clearance(poses, vel, obstacles, mask, steps)
    _assert_same((obs, clear), NUMPY.batch_with_clearance(poses, vel, obstacles, mask, steps))
    d = NUMPY.near                             # obstacle entries are in the near scale
    tie = math.sqrt(5.0) - 0.5 - 0.15          # rows 1, 3 and 4 tie for the pursuer
    slots = obs[0, 0, BASE_DIM:].reshape(4, 5)
    np.testing.assert_allclose(slots[:, :2] * d, [[2, 1], [1, 2], [-2, -1], [-4, 0]],
                               atol=1e-5)
    np.testing.assert_allclose(slots[:, 3] * d, [tie, tie, tie, 4.0 - 0.45], atol=1e-5)
    assert clear[0, 0] == tie
    # fewer real obstacles than observed slots: the rest are zero rows with present = 0
    mask[0, 1:] = False
    for builder in (NUMBA, NUMPY):
        obs, _ = builder.batch_with_clearance(poses, vel, obstacles, mask, steps)
        assert obs[0, 0, BASE_DIM + 4] == 1.0
        assert np.all(obs[0, :, BASE_DIM + 5:] == 0.0)


def test_input_dtypes_and_layouts_are_converted() -> None:
    rng = np.random.default_rng(5)
    poses, vel, obstacles, mask, steps = _random_inputs(rng, 40, 6)
    want = NUMPY.batch_with_clearance(poses, vel, obstacles, mask, steps)
    # integer / float step counters, non-contiguous views
    for st in (steps.astype(np.int32), steps.astype(np.float64), steps.astype(np.uint16),
               np.repeat(steps, 2)[::2]):
        _assert_same(NUMBA.batch_with_clearance(poses, vel, obstacles, mask, st), want)
    wide = np.concatenate((obstacles, obstacles), axis=-1)[..., :3]
    _assert_same(NUMBA.batch_with_clearance(np.asfortranarray(poses), vel, wide,
                                            np.asfortranarray(mask), steps), want)
    # integer coordinates are converted; other float types (numpy computes in float32) and
    # non-bool masks run the numpy backend
    ints = np.round(poses * 2), np.round(vel * 4).astype(np.int32), np.round(obstacles * 8)
    variants = [(ints[0].astype(np.int64), ints[1], ints[2], mask, steps),
                (poses, vel, obstacles, mask, steps.astype(np.float32)),
                (poses.astype(np.float32), vel, obstacles, mask, steps),
                (poses, vel, obstacles.astype(np.float32), mask.astype(np.uint8), steps)]
    for args in variants:
        _assert_same(NUMBA.batch_with_clearance(*args), NUMPY.batch_with_clearance(*args))


def test_non_finite_inputs_propagate_alike() -> None:
    rng = np.random.default_rng(9)
    for k in (2, 3, 6):
        poses, vel, obstacles, mask, steps = _random_inputs(rng, 30, k)
        poses[3, 0, 0] = np.nan
        poses[4, 1, 2] = np.inf
        vel[5, 0, 1] = np.nan
        obstacles[6:9, 0, 1] = np.nan           # a real obstacle with a NaN clearance
        mask[6:9, 0] = True
        obstacles[10, :, 2] = np.inf
        mask[10] = True
        obstacles[11, :, :] = np.nan            # garbage in masked rows only
        mask[11] = False
        with np.errstate(invalid="ignore"):
            want_obs, want_clear = NUMPY.batch_with_clearance(poses, vel, obstacles, mask,
                                                              steps)
        obs, clear = NUMBA.batch_with_clearance(poses, vel, obstacles, mask, steps)
        # a slot without a real obstacle is an all-zero row in the numba backend; the numpy
        # backend multiplies the slot's features by the mask, so NaN * 0 stays NaN there
        assert np.isnan(obs[3, 0, :BASE_DIM]).any() and np.isnan(clear[3, 0])
        slots = obs[..., BASE_DIM:].reshape(30, 2, 4, 5)
        empty = slots[..., 4] == 0.0
        assert np.all(slots[empty] == 0.0) and np.all(slots[11][..., :5] == 0.0)
        want_slots = want_obs[..., BASE_DIM:].reshape(30, 2, 4, 5).copy()
        assert np.array_equal(empty, want_slots[..., 4] == 0.0)
        assert np.all(np.isnan(want_slots[empty]) | (want_slots[empty] == 0.0))
        want_slots[empty] = 0.0
        want_obs[..., BASE_DIM:] = want_slots.reshape(30, 2, 4 * 5)
        _assert_same((obs, clear), (want_obs, want_clear), equal_nan=True)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_every_call_returns_new_arrays(backend: str) -> None:
    builder = ObservationBuilder(CFG, backend=backend)
    rng = np.random.default_rng(3)
    first_args = _random_inputs(rng, 600, 4)            # 1200 rows: numpy reuses scratch
    obs1, clear1 = builder.batch_with_clearance(*first_args)
    keep = obs1.copy(), clear1.copy()
    obs2, clear2 = builder.batch_with_clearance(*_random_inputs(rng, 600, 4))
    assert not np.shares_memory(obs1, obs2) and not np.shares_memory(clear1, clear2)
    assert np.array_equal(obs1, keep[0]) and np.array_equal(clear1, keep[1])


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ObservationBuilder(CFG).backend == "numba"
    with pytest.raises(SimInputError, match="backend must be one of"):
        ObservationBuilder(CFG, backend="torch")
    monkeypatch.setattr(kern, "AVAILABLE", False)
    assert ObservationBuilder(CFG).backend == "numpy"
    with pytest.raises(ObservationBackendError, match="install it, or use backend='numpy'"):
        ObservationBuilder(CFG, backend="numba")
    assert issubclass(ObservationBackendError, ImportError)
    assert observations.pick_backend("numpy") == "numpy"


def test_wrong_shapes_are_refused_before_the_kernel() -> None:
    poses, vel, obstacles, mask, steps = _random_inputs(np.random.default_rng(4), 8, 3)
    bad = [(poses[:7], vel, obstacles, mask, steps), (poses, vel[:, :, :1], obstacles, mask,
                                                      steps),
           (poses, vel, obstacles[:, :2], mask, steps), (poses, vel, obstacles, mask[:, :2],
                                                         steps),
           (poses, vel, obstacles, mask, steps[:5]), (poses, vel, obstacles[0], mask, steps)]
    for args in bad:
        with pytest.raises(SimInputError, match="observation inputs must be"):
            NUMBA.batch_with_clearance(*args)


def test_kernel_layout_matches_the_builder() -> None:
    assert (kern._OBS_DIM, kern._BASE_DIM, kern._N_NEAREST, kern._FEATURES) == (
        OBS_DIM, BASE_DIM, observations.N_OBSTACLE_OBS, observations.OBSTACLE_FEATURES)
    assert NUMBA._kernel_consts.shape == (len(kern.CONST_NAMES),)


def test_boxes_and_segments_are_seen_at_their_nearest_point():
    """(N, K, 6) rows with a kind: both backends and the scalar builder agree (within float32
    rounding; numpy's and the kernel's box formulas differ in the last bits), a box is its
    nearest surface point with radius 0 and clearance ``sd - r``."""
    rng = np.random.default_rng(4)
    n, k = 300, 4
    poses = np.concatenate([rng.uniform(-9, 9, (n, 2, 2)), rng.uniform(-3, 3, (n, 2, 1))], -1)
    vel = rng.uniform(-1, 1, (n, 2, 2))
    obst = np.zeros((n, k, 6))
    obst[..., :2] = rng.uniform(-9, 9, (n, k, 2))
    obst[..., 2] = rng.uniform(0.2, 2.0, (n, k))
    box = rng.uniform(size=(n, k)) < 0.6
    obst[..., 3] = np.where(box & (rng.uniform(size=(n, k)) < 0.5), rng.uniform(0, 1, (n, k)), 0)
    obst[..., 4] = np.where(box, rng.uniform(-3, 3, (n, k)), 0.0)
    obst[..., 5] = box
    mask = rng.uniform(size=(n, k)) < 0.8
    steps = rng.integers(0, 100, n)
    a, ca = NUMBA.batch_with_clearance(poses, vel, obst, mask, steps)
    b, cb = NUMPY.batch_with_clearance(poses, vel, obst, mask, steps)
    np.testing.assert_allclose(a, b, atol=2e-6)
    np.testing.assert_allclose(ca, cb, atol=1e-9)
    seen_box = 0
    for i in range(0, n, 5):
        rows = [tuple(o) for o, m in zip(obst[i], mask[i]) if m]
        for g in range(2):
            s = NUMBA.single(g, [tuple(p) for p in poses[i]], [tuple(v) for v in vel[i]], rows,
                             int(steps[i]))
            np.testing.assert_allclose(s, a[i, g], atol=2e-6)
            # nearest present obstacle: a box's radius entry is 0
            j = BASE_DIM
            if rows and s[j + 4] == 1.0 and s[j + 2] == 0.0:
                seen_box += 1
    assert seen_box > 10


@pytest.mark.parametrize("kernel,module", [(kern.observe_kernel, kern),
                                           (kernels.check_game, kernels.safety),
                                           (kernels.check_games, kernels.loops)])
def test_kernel_cache_is_keyed_on_the_filter_core(kernel, module):
    """The observation kernel and the simulator's kernels inline safe_pe_cbf's box barrier:
    their numba cache must be stamped with the filter core's modules, so that a changed
    barrier is recompiled, not loaded stale."""
    from numba.core import caching  # numba: the kernels' optional compiler

    found = None
    for locator in caching.CacheImpl._locator_classes:  # numba's order: the first that fits
        found = locator.from_function(kernel.py_func, module.__file__)
        if found is not None:
            break
    assert found is not None
    stamp = found.get_source_stamp()
    assert any("barriers" in str(entry) for entry in stamp[1])
    if module is not kern:  # the kernels package: every sibling file is in the stamp too
        assert kernel.py_func.__code__.co_filename == module.__file__
        assert {"motion.py", "safety.py", "loops.py"} <= {entry[0] for entry in stamp[2]}