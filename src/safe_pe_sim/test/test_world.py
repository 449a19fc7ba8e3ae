"""Seeded layouts and spawns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim.config import (MAX_OBSTACLES, ConfigError, ObstacleConfig, check_layout,
                                load_profile)
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.world import (explicit_obstacles, generate_obstacles, make_rngs, pad_obstacles,
                               sample_spawns)


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


class CountingRng:
    """A generator that counts its draws (the work a sampler does, whatever the clock)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.draws = 0

    def uniform(self, low: float, high: float) -> float:
        self.draws += 1
        return self.rng.uniform(low, high)


def test_spawn_sampling_is_bounded_with_the_most_obstacles() -> None:
    """The most obstacles a layout may have, packed so that no spawn fits: the sampler gives
    up with its typed error after spawn.max_tries draws of both robots."""
    cfg = load_profile("default")
    grid = np.linspace(-9.0, 9.0, 16)
    obstacles = np.array([(x, y, 0.6) for x in grid for y in grid])
    assert len(obstacles) == MAX_OBSTACLES
    check_layout(cfg.arena.bounds(), obstacles)  # an allowed layout
    rng = CountingRng(0)
    with pytest.raises(ConfigError, match=f"could not sample spawn poses in "
                                          f"{cfg.spawn.max_tries} tries"):
        sample_spawns(cfg, obstacles, rng)
    assert rng.draws == 2 * 3 * cfg.spawn.max_tries


@pytest.mark.parametrize("bounds,obstacles,needle", [
    ((-1e300, 1e300, -1e300, 1e300), [], "beyond"),
    ((-10.0, 10.0, -10.0, 10.0), [[0.0, 0.0, 0.1]] * 2000, "2000 obstacles, at most 256"),
    ((-10.0, 10.0, -10.0, 10.0), [[0.0, 0.0, 10.5]], "radius 10.5 m must be in (0, 10.0]"),
    ((-10.0, 10.0, -10.0, 10.0), [[0.0, 0.0, -1.0]], "radius -1.0 m"),
    ((-10.0, 10.0, -10.0, 10.0), [[50.0, 0.0, 1.0]], "outside the walls"),
    ((-10.0, 10.0, -10.0, 10.0), [[math.nan, 0.0, 1.0]], "must be finite"),
    ((-10.0, 10.0, -10.0, 10.0), [[1.0, 2.0]], "(x, y, radius)"),
])
def test_layouts_are_bounded(bounds, obstacles, needle) -> None:
    with pytest.raises(ConfigError) as info:
        check_layout(bounds, obstacles, "reset layout")
    assert needle in str(info.value) and str(info.value).startswith("reset layout: ")


def test_explicit_obstacles_are_checked_against_the_walls() -> None:
    with pytest.raises(ConfigError, match="outside the walls"):
        explicit_obstacles([[50.0, 0.0, 1.0]], (-10.0, 10.0, -10.0, 10.0))
    assert explicit_obstacles([[50.0, 0.0, 1.0]]).shape == (1, 3)  # walls unknown: no check


def _snapshot(game: PursuitEvasionGame) -> tuple:
    return (game.seed_value, game.episode_id, game.step_count, list(game.poses),
            list(game.velocities), game.obstacles_array.tolist(), game.bounds,
            game._rng.bit_generator.state, game._noise.rngs[0].bit_generator.state,
            game._noise.pos)


@pytest.mark.parametrize("seed", [None, 5])
def test_a_failed_reset_leaves_the_game_as_it_was(seed) -> None:
    """A reset that cannot sample spawns (here: obstacles everywhere) raises and changes
    nothing, random streams included; the next reset is the one that would have come."""
    cfg = load_profile("default")
    game, twin = PursuitEvasionGame(cfg), PursuitEvasionGame(cfg)
    for g in (game, twin):
        g.reset(seed=3)
        g.step((0.5, 0.1), (0.3, -0.2))
    before = _snapshot(game)
    grid = np.linspace(-9.0, 9.0, 16)
    crowded = np.array([(x, y, 0.6) for x in grid for y in grid])
    with pytest.raises(ConfigError, match="could not sample spawn poses"):
        game.reset(seed=seed, obstacles=crowded)
    with pytest.raises(ConfigError, match="at most 256"):
        game.reset(seed=seed, obstacles=[[0.0, 0.0, 0.1]] * 2000)
    with pytest.raises(ValueError, match="seed"):
        game.reset(seed=-4)
    assert _snapshot(game) == before
    game.reset()
    twin.reset()
    assert _snapshot(game) == _snapshot(twin)
