"""Ego-centric normalised observations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim.config import load_profile
from safe_pe_sim.observations import (BASE_DIM, OBS_DIM, OBS_NAMES, OBSTACLE_FEATURES,
                                      ObservationBuilder)

CFG = load_profile("default")
B = ObservationBuilder(CFG)
IDX = {name: i for i, name in enumerate(OBS_NAMES)}


def _single(poses, vel, obstacles, step=0):
    return [B.single(a, [tuple(p) for p in poses], [tuple(v) for v in vel],
                     [tuple(o) for o in obstacles], step) for a in range(2)]


def test_layout_constants() -> None:
    assert len(OBS_NAMES) == OBS_DIM == BASE_DIM + 4 * OBSTACLE_FEATURES
    assert OBS_DIM % 4 == 0


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_batch_equals_single_and_is_bounded(backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
    builder = ObservationBuilder(CFG, backend=backend)
    assert builder.backend == backend
    rng = np.random.default_rng(0)
    n, k = 300, 6
    poses = np.concatenate((rng.uniform(-12, 12, (n, 2, 2)),            # some outside
                            rng.uniform(-math.pi, math.pi, (n, 2, 1))), axis=-1)
    vel = rng.uniform(-1.2, 1.2, (n, 2, 2))
    obstacles = np.concatenate((rng.uniform(-9, 9, (n, k, 2)), rng.uniform(0.3, 1, (n, k, 1))),
                               axis=-1)
    mask = rng.uniform(size=(n, k)) < 0.6
    steps = rng.integers(0, 600, n)
    for kk in (0, 1, 2, 6):
        obs, clear = builder.batch_with_clearance(poses, vel, obstacles[:, :kk],
                                                  mask[:, :kk], steps)
        assert obs.shape == (n, 2, OBS_DIM) and obs.dtype == np.float32
        assert np.all(np.abs(obs) <= 1.0)
        for i in range(0, n, 5):
            real = obstacles[i, :kk][mask[i, :kk]]
            s = _single(poses[i], vel[i], real, int(steps[i]))
            np.testing.assert_allclose(obs[i, 0], s[0], atol=1e-6)
            np.testing.assert_allclose(obs[i, 1], s[1], atol=1e-6)
            for a in range(2):
                x, y = poses[i, a, :2]
                r = CFG.robots()[a].radius
                want = min(x + 10, 10 - x, y + 10, 10 - y) - r
                for ox, oy, orad in real:
                    want = min(want, math.dist((x, y), (ox, oy)) - orad - r)
                assert abs(clear[i, a] - want) < 1e-9


def test_ego_frame_semantics() -> None:
    # pursuer at origin facing +y, evader 2 m ahead of it; evader faces -x and moves at 1 m/s
    poses = np.array([[[0.0, 0.0, math.pi / 2], [0.0, 2.0, math.pi]]])
    vel = np.array([[[0.5, 0.0], [1.0, 1.0]]])
    obstacles = np.array([[[-3.0, 0.0, 0.5], [1.5, 0.0, 0.5]]])    # left far, right near
    obs = B.batch(poses, vel, obstacles, np.ones((1, 2), bool), np.array([150]))[0]
    d = CFG.arena.diagonal
    p = obs[0]
    assert p[IDX["opp_dx"]] > 0 and abs(p[IDX["opp_dy"]]) < 1e-6
    assert p[IDX["opp_distance"]] * d == pytest.approx(2.0, abs=1e-5)
    assert abs(p[IDX["opp_cos"]]) < 1e-6 and p[IDX["opp_sin"]] == pytest.approx(1.0)  # +90 deg
    assert p[IDX["opp_vy"]] > 0                                        # moving to my left
    assert p[IDX["own_v"]] == 0.5 and p[IDX["time_left"]] == pytest.approx(0.75)
    assert p[IDX["role"]] == 1.0 and obs[1][IDX["role"]] == -1.0
    # nearest obstacle first: the one at (1.5, 0) is to the pursuer's right (ego y < 0)
    assert p[IDX["obs0_dy"]] < 0 and p[IDX["obs1_dy"]] > 0
    near = B.near                             # 10 capture radii = 5 m in this world
    assert near == pytest.approx(5.0)
    assert p[IDX["obs0_clearance"]] * near == pytest.approx(1.5 - 0.5 - 0.15, abs=1e-5)
    assert p[IDX["obs0_present"]] == 1 and p[IDX["obs2_present"]] == 0
    # line of sight: the evader is straight ahead, 2 m of the 5 m near scale, and moving
    # to my left across the line of sight at 1 m/s (of V = 1.15 m/s)
    assert p[IDX["opp_los_cos"]] == pytest.approx(1.0) and abs(p[IDX["opp_los_sin"]]) < 1e-6
    assert p[IDX["opp_near"]] == pytest.approx(2 * 2.0 / near - 1, abs=1e-6)
    assert p[IDX["opp_los_rate"]] == pytest.approx(1.0 / 1.15, abs=1e-6)
    assert np.all(p[BASE_DIM + 2 * OBSTACLE_FEATURES:] == 0)
    e = obs[1]                                # evader faces -x: the pursuer is to its left
    assert e[IDX["opp_dy"]] > 0 and abs(e[IDX["opp_dx"]]) < 1e-6
