"""Seeded layouts and spawns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim.config import ConfigError, ObstacleConfig, load_profile
from safe_pe_sim.world import (generate_obstacles, make_rngs, pad_obstacles, sample_spawns)


@pytest.mark.parametrize("profile", ["default", "turtlebot3_burger"])
def test_layouts_respect_clearances(profile: str) -> None:
    cfg = load_profile(profile)
    cfg.obstacles.count_min, cfg.obstacles.count_max = 1, 3
    x_min, x_max, y_min, y_max = cfg.arena.bounds()
    oc = cfg.obstacles
    for seed in range(150):
        rng, _ = make_rngs(seed)
        obs = generate_obstacles(cfg, rng)
        assert 1 <= len(obs) <= 3
        assert np.all((obs[:, 2] >= oc.radius_min) & (obs[:, 2] <= oc.radius_max))
        for x, y, r in obs:
            assert min(x - x_min, x_max - x, y - y_min, y_max - y) - r >= oc.clearance_walls
        for i in range(len(obs)):
            for j in range(i):
                gap = math.dist(obs[i, :2], obs[j, :2]) - obs[i, 2] - obs[j, 2]
                assert gap >= oc.clearance_obstacles
        poses = sample_spawns(cfg, obs, rng)
        sep = math.dist(poses[0, :2], poses[1, :2])
        assert sep >= cfg.spawn.min_separation
        for a, robot in enumerate(cfg.robots()):
            x, y, th = poses[a]
            assert -math.pi <= th < math.pi
            assert (min(x - x_min, x_max - x, y - y_min, y_max - y) - robot.radius
                    >= cfg.spawn.clearance_walls)
            for ox, oy, orad in obs:
                assert math.dist((x, y), (ox, oy)) - orad - robot.radius >= oc.clearance_spawn


def test_same_seed_same_layout_different_seed_different() -> None:
    cfg = load_profile("default")
    a = generate_obstacles(cfg, make_rngs(5)[0])
    b = generate_obstacles(cfg, make_rngs(5)[0])
    c = generate_obstacles(cfg, make_rngs(6)[0])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_explicit_layout_is_used() -> None:
    cfg = load_profile("default")
    cfg.obstacles = ObstacleConfig(explicit=[[1.0, 1.0, 0.5], [-2.0, 3.0, 0.7], [4, -4, 1]])
    cfg.validate()
    assert cfg.obstacles.capacity == 3
    obs = generate_obstacles(cfg, make_rngs(0)[0])
    np.testing.assert_array_equal(obs, [[1.0, 1.0, 0.5], [-2.0, 3.0, 0.7], [4, -4, 1]])


def test_crowded_arena_fails_with_advice() -> None:
    cfg = load_profile("turtlebot3_burger")
    cfg.obstacles.count_min = cfg.obstacles.count_max = 12
    cfg.obstacles.radius_min = cfg.obstacles.radius_max = 0.5
    with pytest.raises(ConfigError, match="too crowded"):
        generate_obstacles(cfg, make_rngs(0)[0])


def test_impossible_spawn_fails_with_advice() -> None:
    cfg = load_profile("turtlebot3_burger")
    cfg.spawn.min_separation = 10.0
    with pytest.raises(ConfigError, match="spawn"):
        sample_spawns(cfg, np.zeros((0, 3)), make_rngs(0)[0])


def test_pad_obstacles_mask() -> None:
    arr, mask = pad_obstacles(np.array([[1.0, 2.0, 0.3]]), 3)
    assert arr.shape == (3, 3) and mask.tolist() == [True, False, False]
    with pytest.raises(ConfigError):
        pad_obstacles(np.zeros((4, 3)), 3)
