"""Solid world: arcs truncated at first contact, violations still recorded, all paths equal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim.config import ArenaConfig, ConfigError, load_profile
from safe_pe_sim.contact import solid_contact
from safe_pe_sim.dynamics import unicycle_step_scalar
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.safety_check import clearances
from safe_pe_sim.vec_core import VectorizedPursuitEvasion

BOUNDS = (-5.0, 5.0, -5.0, 5.0)
RADII = (0.15, 0.15)


def _ends(prev, applied, dt=0.05):
    return [unicycle_step_scalar(*prev[a], *applied[a], dt) for a in range(2)]


def _step(prev, applied, obstacles=(), dt=0.05, substeps=10):
    return solid_contact(prev, applied, _ends(prev, applied, dt), dt, substeps, RADII,
                         list(obstacles), BOUNDS)


def test_robot_driving_into_a_wall_stops_at_the_last_free_sample():
    prev = [(4.82, 0.0, 0.0), (0.0, 0.0, 0.0)]     # 3 cm from the wall x_max
    applied = [(1.0, 0.0), (0.0, 0.0)]             # 5 cm per step, in 0.5 cm samples
    poses, stopped = _step(prev, applied)
    assert stopped == [True, False]
    # samples at 4.825 ... 4.870; the last one with the body inside is 4.845 or 4.85
    assert 4.845 - 1e-9 <= poses[0][0] <= 4.85 + 1e-9
    assert 5.0 - poses[0][0] - RADII[0] >= 0.0
    assert poses[1] == prev[1]
    # next step pushing on: blocked at once, nothing moves
    poses2, stopped2 = _step(poses, applied)
    assert stopped2[0] and poses2[0] == poses[0]


def test_obstacle_and_heading_of_a_truncated_arc():
    obstacle = (1.0, 0.0, 0.5)
    prev = [(0.33, 0.0, 0.0), (-3.0, -3.0, 0.0)]
    applied = [(1.0, 2.0), (0.5, 0.0)]
    poses, stopped = _step(prev, applied, [obstacle])
    assert stopped == [True, False]
    x, y, th = poses[0]
    assert math.hypot(x - 1.0, y) - 0.5 - 0.15 >= 0.0
    # the heading is the arc's at the same instant: theta0 + omega * k dt / S for some k < S
    k = th / (2.0 * 0.05 / 10)
    assert abs(k - round(k)) < 1e-9 and 0 <= round(k) < 10
    assert poses[1] == pytest.approx(_ends(prev, applied)[1])


def test_robots_stop_at_contact_with_each_other():
    prev = [(0.0, 0.0, 0.0), (0.34, 0.0, math.pi)]   # 4 cm apart, driving at each other
    applied = [(1.0, 0.0), (1.0, 0.0)]
    poses, stopped = _step(prev, applied)
    assert stopped == [True, True]
    gap = math.dist(poses[0][:2], poses[1][:2]) - sum(RADII)
    assert 0.0 <= gap < 0.011


def test_a_body_that_starts_in_contact_may_leave_but_not_go_deeper():
    prev = [(4.9, 0.0, 0.0), (0.0, 0.0, 0.0)]       # 5 cm through the wall x_max
    poses, stopped = _step(prev, [(1.0, 0.0), (0.0, 0.0)])
    assert stopped[0] and poses[0] == prev[0]
    out, stopped = _step(prev, [(1.0, math.pi / 0.05), (0.0, 0.0)])   # turns around: deeper
    back = [(4.9, 0.0, math.pi), (0.0, 0.0, 0.0)]
    out, stopped = _step(back, [(1.0, 0.0), (0.0, 0.0)])
    assert not stopped[0] and out[0][0] < 4.9


def _config(contact: str):
    cfg = load_profile("default")
    cfg.arena = ArenaConfig(-3.0, 3.0, -3.0, 3.0)
    cfg.obstacles.clearance_walls = 0.3
    cfg.obstacles.radius_max = 0.5
    cfg.max_steps = 80
    cfg.contact = contact
    return cfg.validate()


@pytest.mark.parametrize("contact", ["solid", "pass_through"])
def test_vector_core_equals_single_games_under_contact(contact):
    cfg = _config(contact)
    n, seed = 6, 5
    vec = VectorizedPursuitEvasion(cfg, n, seed=seed)
    games = [PursuitEvasionGame(cfg) for _ in range(n)]
    for i, g in enumerate(games):
        g.reset(seed=seed + i)
    rng = np.random.default_rng(1)
    hits = deepest = 0.0
    for _ in range(150):
        for i, g in enumerate(games):
            np.testing.assert_allclose(vec.poses[i], np.array(g.poses), atol=1e-9)
            np.testing.assert_allclose(vec.velocities[i], np.array(g.velocities), atol=1e-12)
        cp = rng.uniform([0.5, -1.0], [1.0, 1.0], (n, 2))   # mostly straight: hits walls
        ce = rng.uniform([0.5, -1.0], [1.15, 1.0], (n, 2))
        _, _, _, _, info = vec.step(cp, ce)
        ends = info["end_poses"]
        for i, g in enumerate(games):
            res = g.step(tuple(cp[i]), tuple(ce[i]))
            assert tuple(res.safety.violated) == tuple(info["violation"][i])
            np.testing.assert_allclose(res.safety.depth, info["violation_depth"][i], atol=1e-12)
            np.testing.assert_allclose(np.array(g.poses), ends[i], atol=1e-9)
            if res.terminated or res.truncated:
                g.reset()
        hits += info["violation"].sum()
        deepest = max(deepest, float(info["violation_depth"].max()))
        ob, wa, pa = clearances(ends[..., :2], vec.radii, vec.obstacles, vec.obstacle_mask,
                                vec.bounds)
        worst = min(ob.min(), wa.min(), pa.min())
        if contact == "solid":
            assert worst >= -1e-12, "a body ended a step inside something"
    assert hits > 20, "the test did not exercise contacts"
    assert deepest > 0.0     # violations keep their depth before the contact response
    if contact == "pass_through":
        assert worst < 0.0 or deepest > 0.0


def test_contact_mode_is_validated():
    cfg = load_profile("default")
    cfg.contact = "bouncy"
    with pytest.raises(ConfigError, match="contact"):
        cfg.validate()
    assert load_profile("default").contact == "solid"


def test_box_and_wall_segment_are_solid():
    box = (1.0, 0.0, 0.3, 0.2, 0.3, 1.0)          # oriented rectangle ahead of the robot
    prev = [(0.5, 0.0, 0.0), (-3.0, -3.0, 0.0)]
    poses, stopped = _step(prev, [(2.0, 0.0), (0.0, 0.0)], [box])
    assert stopped == [True, False]
    gap = clearances(np.array([[poses[0][:2], poses[1][:2]]]), np.array(RADII),
                     np.array([[box]]), np.ones((1, 1), bool), BOUNDS)[0]
    assert 0.0 <= gap[0, 0, 0] < 0.02             # stopped at its last free sample, touching
    segment = (0.0, 1.0, 1.0, 0.0, 0.0, 1.0)      # from (-1, 1) to (1, 1)
    prev = [(0.0, 0.8, math.pi / 2), (-3.0, -3.0, 0.0)]
    poses, stopped = _step(prev, [(1.0, 0.0), (0.0, 0.0)], [segment])
    assert stopped[0] and 1.0 - poses[0][1] - RADII[0] >= 0.0
    poses, _ = _step([(0.0, 0.8, 0.0), prev[1]], [(1.0, 0.0), (0.0, 0.0)], [segment])
    assert poses[0][0] > 0.0                      # sliding along it is free


def _box_config():
    cfg = _config("solid")
    cfg.obstacles.count_min = cfg.obstacles.count_max = 1
    cfg.obstacles.clearance_spawn = cfg.obstacles.clearance_obstacles = 0.3
    cfg.obstacles.boxes = [[1.2, 1.0, 0.8, 0.3, 0.6]]
    cfg.obstacles.segments = [[-2.5, -1.0, -0.5, -1.2]]
    return cfg.validate()


def test_vector_core_equals_single_games_with_boxes_and_segments():
    """Boxes and wall segments: layouts, solid contacts, violations and observations of the
    vector core equal the single games' (observations within float32 rounding: the compiled
    box kernel vs its plain-Python source)."""
    cfg = _box_config()
    n, seed = 6, 9
    vec = VectorizedPursuitEvasion(cfg, n, seed=seed)
    assert vec.obstacles.shape == (n, 3, 6) and (vec.obstacles[:, 1:, 5] == 1).all()
    games = [PursuitEvasionGame(cfg) for _ in range(n)]
    for i, g in enumerate(games):
        g.reset(seed=seed + i)
        np.testing.assert_array_equal(vec.obstacles[i], g.obstacles_array)
    rng = np.random.default_rng(2)
    box_hits = 0
    for _ in range(150):
        obs = vec.observations()
        for i, g in enumerate(games):
            np.testing.assert_allclose(vec.poses[i], np.array(g.poses), atol=1e-9)
            for a in range(2):
                np.testing.assert_allclose(obs[i, a], g.observation(a), atol=2e-6)
        cp = rng.uniform([0.5, -1.0], [1.0, 1.0], (n, 2))
        ce = rng.uniform([0.5, -1.0], [1.15, 1.0], (n, 2))
        _, _, _, _, info = vec.step(cp, ce)
        for i, g in enumerate(games):
            res = g.step(tuple(cp[i]), tuple(ce[i]))
            assert tuple(res.safety.violated) == tuple(info["violation"][i])
            np.testing.assert_allclose(res.safety.depth, info["violation_depth"][i], atol=1e-12)
            box_hits += sum(j >= 1 for j in res.safety.obstacle_index)
            if res.terminated or res.truncated:
                g.reset()
        ob, _, _ = clearances(info["end_poses"][..., :2], vec.radii, vec.obstacles,
                              vec.obstacle_mask, vec.bounds)
        assert ob.min() >= -1e-12, "a body ended a step inside an obstacle"
    assert box_hits > 5, "the test did not drive into the boxes"
