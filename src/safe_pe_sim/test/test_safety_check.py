"""Body-level safety ground truth on the continuous trajectory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim.safety_check import (ARENA, COLLISION, OBSTACLE, check_step, clearances,
                                      check_step_scalar, describe)

BOUNDS = (-5.0, 5.0, -5.0, 5.0)
RADII = np.array([0.05, 0.05])


def _one(prev, cmds, obstacles, substeps=10, prefilter=True):
    obstacles = np.asarray(obstacles, dtype=float).reshape(1, -1, 3)
    return check_step(np.asarray(prev, float)[None], np.asarray(cmds, float)[None], 0.05,
                      substeps, RADII, obstacles, np.ones(obstacles.shape[:2], bool), BOUNDS,
                      prefilter=prefilter)


def test_tunnelling_through_a_thin_obstacle_corner_is_caught() -> None:
    # A fast robot crosses the corner of a small obstacle between two control samples: both
    # samples are clear, the straight path between them cuts 2 cm into the obstacle.
    obstacle = [0.0, 0.08, 0.05]                      # body gap along y = 0 is -0.02 m
    prev = [[-0.5, 0.0, 0.0], [3.0, 3.0, 0.0]]
    cmds = [[20.0, 0.0], [0.0, 0.0]]                  # 1 m in one 0.05 s step
    end = -0.5 + 20.0 * 0.05
    assert math.dist((end, 0.0), obstacle[:2]) - 0.05 - 0.05 > 0      # end sample clear
    assert math.dist((-0.5, 0.0), obstacle[:2]) - 0.05 - 0.05 > 0     # start sample clear
    only_samples = _one(prev, cmds, [obstacle], substeps=1)
    assert not only_samples.violated.any()            # sampling alone misses it
    rep = _one(prev, cmds, [obstacle], substeps=10)
    assert rep.violated[0].tolist() == [True, False]
    assert rep.kinds[0, 0] == OBSTACLE and rep.obstacle_index[0, 0] == 0
    assert rep.depth[0, 0] == pytest.approx(0.02, abs=1e-9)   # sample at x = 0 is deepest
    scalar = check_step_scalar([tuple(p) for p in prev], [tuple(c) for c in cmds], 0.05, 10,
                               (0.05, 0.05), [tuple(obstacle)], BOUNDS)
    assert scalar.violated == [True, False] and scalar.kinds[0] == OBSTACLE
    assert scalar.depth[0] == pytest.approx(rep.depth[0, 0], abs=1e-15)
    assert "obstacle[0]" in describe(int(rep.kinds[0, 0]), float(rep.depth[0, 0]), 0)


def test_turning_robot_clipping_a_corner_on_its_arc() -> None:
    # Quarter circle of radius 1 around (0, 1) from (0, 0) to (1, 1); obstacle near the arc's
    # middle but far from both end points.
    mid = (math.sin(math.pi / 4), 1 - math.cos(math.pi / 4))
    obstacle = [mid[0] + 0.05, mid[1] - 0.05, 0.04]    # 0.0707 m outside the arc
    prev = [[0.0, 0.0, 0.0], [-3.0, -3.0, 0.0]]
    cmds = [[(math.pi / 2) / 0.05, (math.pi / 2) / 0.05], [0.0, 0.0]]
    assert not _one(prev, cmds, [obstacle], substeps=1).violated.any()
    rep = _one(prev, cmds, [obstacle], substeps=10)
    assert rep.violated[0, 0] and rep.kinds[0, 0] == OBSTACLE


def test_walls_and_collision_per_agent() -> None:
    prev = [[4.9, 0.0, 0.0], [-1.0, 0.0, 0.0]]        # pursuer crosses x_max
    rep = _one(prev, [[1.0, 0.0], [0.0, 0.0]], [])
    assert rep.kinds[0].tolist() == [ARENA, 0]
    assert rep.wall_index[0].tolist() == [1, -1]
    assert rep.depth_arena[0, 0] == pytest.approx(4.95 + 0.05 - 5.0, abs=1e-12)
    prev = [[0.0, 0.0, 0.0], [0.2, 0.0, math.pi]]     # head-on
    rep = _one(prev, [[0.9, 0.0], [0.9, 0.0]], [])
    assert rep.kinds[0].tolist() == [0, 0]            # 1 cm gap left at the end
    rep = _one(prev, [[1.5, 0.0], [1.5, 0.0]], [])
    assert rep.kinds[0].tolist() == [COLLISION, COLLISION]
    assert rep.depth_collision[0].tolist() == pytest.approx([0.05, 0.05], abs=1e-12)
    rep = _one(prev, [[2.0, 0.0], [2.0, 0.0]], [])     # centres 0.0 m apart at the end
    assert rep.depth_collision[0, 0] == pytest.approx(0.1, abs=1e-12)
    assert describe(COLLISION, 0.01) == "collision depth 0.0100 m"
    assert describe(0, 0.0) == ""


def _random_steps(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Poses ``(n, 2, 3)`` around the default arena and commands ``(n, 2, 2)`` beyond the
    limits (both robots)."""
    prev = np.concatenate((rng.uniform(-5.2, 5.2, (n, 2, 2)),
                           rng.uniform(-math.pi, math.pi, (n, 2, 1))), axis=-1)
    cmds = np.stack((rng.uniform(-2, 2, (n, 2)), rng.uniform(-4, 4, (n, 2))), axis=-1)
    return prev, cmds


def test_prefilter_is_exact_and_scalar_matches() -> None:
    rng = np.random.default_rng(0)
    n, k = 3000, 3
    prev, cmds = _random_steps(rng, n)
    obstacles = np.concatenate((rng.uniform(-4, 4, (n, k, 2)), rng.uniform(0.1, 1.5, (n, k, 1))),
                               axis=-1)
    mask = rng.uniform(size=(n, k)) < 0.7
    radii = np.array([0.15, 0.2])
    args = (prev, cmds, 0.05, 10, radii, obstacles, mask, BOUNDS)
    fast = check_step(*args)
    full = check_step(*args, prefilter=False)
    assert 0.05 < fast.substepped.mean() < 0.95          # the pre-filter does skip games
    assert fast.violated.any() and not fast.violated.all()
    for name in ("violated", "kinds", "obstacle_index", "wall_index"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(full, name))
    for name in ("depth", "depth_obstacle", "depth_arena", "depth_collision"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(full, name))
    for i in range(0, n, 7):
        obs = [tuple(o) for o, m in zip(obstacles[i], mask[i]) if m]
        idx = np.flatnonzero(mask[i])
        s = check_step_scalar([tuple(p) for p in prev[i]], [tuple(c) for c in cmds[i]], 0.05,
                              10, (0.15, 0.2), obs, BOUNDS)
        assert s.violated == fast.violated[i].tolist()
        assert s.kinds == fast.kinds[i].tolist()
        np.testing.assert_allclose(s.depth, fast.depth[i], atol=1e-12)
        for a in range(2):
            j = s.obstacle_index[a]
            assert (idx[j] if j >= 0 else -1) == fast.obstacle_index[i, a]
        assert s.wall_index == fast.wall_index[i].tolist()


def _boxes(rng, n, k):
    """(n, k, 6) mixed circles, boxes and wall segments (safe_pe_cbf.barriers rows)."""
    o = np.zeros((n, k, 6))
    o[..., :2] = rng.uniform(-4, 4, (n, k, 2))
    is_box = rng.uniform(size=(n, k)) < 0.7
    o[..., 2] = rng.uniform(0.1, 1.5, (n, k))
    o[..., 3] = np.where(is_box & (rng.uniform(size=(n, k)) < 0.6), rng.uniform(0, 0.5, (n, k)),
                         0.0)
    o[..., 4] = np.where(is_box, rng.uniform(-math.pi, math.pi, (n, k)), 0.0)
    o[..., 5] = is_box
    return o


def test_a_fast_robot_crossing_a_thin_wall_segment_is_caught() -> None:
    # a wall segment (box of half width 0) across the path, between two control samples
    segment = [0.0, 0.0, 0.5, 0.0, math.pi / 2, 1.0]  # from (0, -0.5) to (0, 0.5)
    prev = [[-0.5, 0.1, 0.0], [3.0, 3.0, 0.0]]
    cmds = [[20.0, 0.0], [0.0, 0.0]]
    obstacles = np.asarray([segment]).reshape(1, 1, 6)
    args = (np.asarray(prev)[None], np.asarray(cmds)[None], 0.05)
    mask = np.ones((1, 1), bool)
    assert not check_step(*args, 1, RADII, obstacles, mask, BOUNDS).violated.any()
    rep = check_step(*args, 10, RADII, obstacles, mask, BOUNDS)
    assert rep.kinds[0, 0] == OBSTACLE and rep.obstacle_index[0, 0] == 0
    assert rep.depth[0, 0] == pytest.approx(0.05, abs=1e-9)  # the body centre on the segment
    scalar = check_step_scalar([tuple(p) for p in prev], [tuple(c) for c in cmds], 0.05, 10,
                               (0.05, 0.05), [tuple(segment)], BOUNDS)
    assert scalar.kinds[0] == OBSTACLE and scalar.depth[0] == pytest.approx(0.05, abs=1e-9)


def test_box_clearances_prefilter_exact_and_scalar_matches() -> None:
    rng = np.random.default_rng(3)
    n, k = 3000, 3
    prev, cmds = _random_steps(rng, n)
    obstacles = _boxes(rng, n, k)
    mask = rng.uniform(size=(n, k)) < 0.7
    radii = np.array([0.15, 0.2])
    ob, _, _ = clearances(prev[..., :2], radii, obstacles, mask, BOUNDS)
    # brute force: distance to the rectangle's boundary points, signed by inside/outside
    i, a, j = np.nonzero(np.isfinite(ob))
    for t in rng.choice(i.size, 300, replace=False):
        o, (x, y) = obstacles[i[t], j[t]], prev[i[t], a[t], :2]
        c, s = math.cos(o[4]), math.sin(o[4])
        qx, qy = c * (x - o[0]) + s * (y - o[1]), c * (y - o[1]) - s * (x - o[0])
        if o[5] == 0:
            ref = math.hypot(x - o[0], y - o[1]) - o[2]
        else:
            u = np.linspace(-1, 1, 4001)
            edges = np.concatenate([np.c_[u * o[2], np.full_like(u, sgn * o[3])]
                                    for sgn in (-1, 1)] +
                                   [np.c_[np.full_like(u, sgn * o[2]), u * o[3]]
                                    for sgn in (-1, 1)])
            ref = np.hypot(edges[:, 0] - qx, edges[:, 1] - qy).min()
            if abs(qx) < o[2] and abs(qy) < o[3]:
                ref = -ref
        assert ob[i[t], a[t], j[t]] + radii[a[t]] == pytest.approx(ref, abs=1e-3)
    args = (prev, cmds, 0.05, 10, radii, obstacles, mask, BOUNDS)
    fast = check_step(*args)
    full = check_step(*args, prefilter=False)
    assert fast.violated.any() and (fast.obstacle_index >= 0).any()
    for name in ("violated", "kinds", "obstacle_index", "depth"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(full, name))
    hit_box = 0
    for i in range(0, n, 7):
        obs = [tuple(o) for o, m in zip(obstacles[i], mask[i]) if m]
        idx = np.flatnonzero(mask[i])
        s = check_step_scalar([tuple(p) for p in prev[i]], [tuple(c) for c in cmds[i]], 0.05,
                              10, (0.15, 0.2), obs, BOUNDS)
        assert s.violated == fast.violated[i].tolist()
        np.testing.assert_allclose(s.depth, fast.depth[i], atol=1e-12)
        for a in range(2):
            j = s.obstacle_index[a]
            assert (idx[j] if j >= 0 else -1) == fast.obstacle_index[i, a]
            hit_box += j >= 0 and obs[j][5] == 1
    assert hit_box > 10
