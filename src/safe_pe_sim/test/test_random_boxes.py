"""Seeded random box obstacles (ObstacleConfig.box_count_min..box_count_max): the same seed
gives the same layout, every box lies inside its ranges and clear of the walls, the other
obstacles and the spawned bodies (checked on densely sampled outlines with the filter's own
surface distance, not with the generator's geometry), and bad settings fail with the field.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from safe_pe_cbf.barriers import BOX, surface_distance

from safe_pe_sim.config import MAX_OBSTACLES, ConfigError, EnvConfig, load_profile
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.vec_core import VectorizedPursuitEvasion
from safe_pe_sim.world import box_gaps, generate_obstacles, make_rngs, sample_spawns

STEP = 0.002  # [m] spacing of the sampled outlines
SLACK = 1e-9


def _config(profile: str = "default", boxes: tuple[int, int] = (1, 4)) -> EnvConfig:
    cfg = load_profile(profile)
    oc = cfg.obstacles
    oc.count_min, oc.count_max = 1, 3
    oc.box_count_min, oc.box_count_max = boxes
    if profile == "turtlebot3_burger":
        oc.box_half_length_min, oc.box_half_length_max = 0.1, 0.3
        oc.box_half_width_min, oc.box_half_width_max = 0.0, 0.15
    return cfg.validate()


def _corners(row: np.ndarray) -> np.ndarray:
    x, y, hl, hw, a = row[:5]
    c, s = math.cos(a), math.sin(a)
    return np.array([(x + i * hl * c - j * hw * s, y + i * hl * s + j * hw * c)
                     for i, j in ((1, 1), (1, -1), (-1, -1), (-1, 1))])


def _outline(row: np.ndarray) -> np.ndarray:
    """Points every STEP metres along the outline of an obstacle row (circle or box)."""
    if row[5] != BOX:
        n = max(8, int(2 * math.pi * row[2] / STEP))
        t = np.linspace(-math.pi, math.pi, n, endpoint=False)
        return row[:2] + row[2] * np.c_[np.cos(t), np.sin(t)]
    pts = []
    corners = _corners(row)
    for k in range(4):
        p, q = corners[k], corners[(k + 1) % 4]
        n = max(2, int(math.dist(p, q) / STEP) + 1)
        pts.append(p + np.linspace(0.0, 1.0, n)[:, None] * (q - p))
    return np.concatenate(pts)


def _sampled_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Least surface distance between the sampled outline of each and the other: at least the
    true gap, at most STEP / 2 more; <= STEP / 2 where they overlap."""
    pa, pb = _outline(a), _outline(b)
    return float(min(surface_distance(b, pa[:, 0], pa[:, 1]).min(),
                     surface_distance(a, pb[:, 0], pb[:, 1]).min()))


@pytest.mark.parametrize("profile", ["default", "turtlebot3_burger"])
def test_random_boxes_respect_ranges_walls_obstacles_and_spawns(profile: str) -> None:
    cfg = _config(profile)
    oc = cfg.obstacles
    x_min, x_max, y_min, y_max = cfg.arena.bounds()
    counts = set()
    for seed in range(40):
        rng, _ = make_rngs(seed)
        rows = generate_obstacles(cfg, rng)
        assert rows.shape[1] == 6
        boxes = rows[rows[:, 5] == BOX]
        counts.add(len(boxes))
        assert oc.box_count_min <= len(boxes) <= oc.box_count_max
        assert np.all((boxes[:, 2] >= oc.box_half_length_min)
                      & (boxes[:, 2] <= oc.box_half_length_max))
        assert np.all((boxes[:, 3] >= oc.box_half_width_min)
                      & (boxes[:, 3] <= oc.box_half_width_max))
        assert np.all((boxes[:, 4] >= -math.pi) & (boxes[:, 4] < math.pi))
        for box in boxes:
            cx, cy = _corners(box).T
            assert min((cx - x_min).min(), (x_max - cx).min(), (cy - y_min).min(),
                       (y_max - cy).min()) >= oc.clearance_walls - SLACK
        for i in range(len(rows)):
            for j in range(i):
                assert _sampled_gap(rows[i], rows[j]) >= oc.clearance_obstacles - SLACK, (
                    seed, rows[i], rows[j])
        poses = sample_spawns(cfg, rows, rng)
        for pose, robot in zip(poses, cfg.robots()):
            clear = surface_distance(rows, pose[0], pose[1]) - robot.radius
            assert clear.min() >= oc.clearance_spawn - SLACK
    assert len(counts) > 1, "every layout drew the same number of boxes"


def test_same_seed_same_boxes_and_none_drawn_without_boxes() -> None:
    cfg = _config()
    a, b, c = (generate_obstacles(cfg, make_rngs(s)[0]) for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # box_count_max 0: the box ranges draw nothing, layouts and spawns stay as they were
    plain, ranged = load_profile("default"), load_profile("default")
    ranged.obstacles.box_half_length_min = ranged.obstacles.box_half_length_max = 0.5
    for seed in range(5):
        draws = []
        for cfg in (plain, ranged):
            rng = make_rngs(seed)[0]
            rows = generate_obstacles(cfg, rng)
            draws.append((rows, sample_spawns(cfg, rows, rng)))
        assert draws[0][0].shape[1] == 3
        np.testing.assert_array_equal(draws[0][0], draws[1][0])
        np.testing.assert_array_equal(draws[0][1], draws[1][1])


def test_rows_have_a_kind_even_where_no_box_was_drawn() -> None:
    cfg = _config(boxes=(0, 1))
    assert cfg.obstacles.has_boxes and cfg.obstacles.capacity == 3 + 1
    shapes = {generate_obstacles(cfg, make_rngs(s)[0]).shape for s in range(30)}
    assert {w for _, w in shapes} == {6}
    assert len({k for k, _ in shapes}) > 1


def test_box_gaps_equal_the_sampled_distance() -> None:
    """Boxes, wall segments (half_width 0), crosses and circles in every position."""
    rng = np.random.default_rng(4)
    overlaps = 0
    for _ in range(300):
        box = np.array([*rng.uniform(-1, 1, 2), rng.uniform(0.05, 1.0),
                        rng.choice([0.0, rng.uniform(0.0, 0.5)]), rng.uniform(-4, 4), BOX])
        other = np.array([*rng.uniform(-2, 2, 2), rng.uniform(0.05, 1.0),
                          rng.choice([0.0, rng.uniform(0.0, 0.5)]), rng.uniform(-4, 4),
                          rng.choice([0.0, BOX])])
        if other[5] != BOX:
            other[3:5] = 0.0
        gap = box_gaps(box, other[None])[0]
        sampled = _sampled_gap(box, other)
        if gap <= 0.0:  # overlapping: -inf for two boxes, a negative number for a circle
            overlaps += 1
            assert sampled <= STEP / 2 and (gap == -math.inf) == (other[5] == BOX), (
                box, other, gap, sampled)
        else:
            assert gap - SLACK <= sampled <= gap + STEP / 2 + SLACK, (box, other, gap, sampled)
    cross = np.array([0.0, 0.0, 1.0, 0.0, 0.0, BOX])   # no corner of either inside the other
    assert box_gaps(cross, np.array([[0.0, 0.0, 1.0, 0.0, math.pi / 2, BOX]]))[0] == -math.inf
    assert overlaps > 20


def test_games_play_on_random_boxes() -> None:
    game = PursuitEvasionGame(_config(boxes=(2, 2)))
    for seed in range(3):
        game.reset(seed=seed)
        assert (game.obstacles_array[:, 5] == BOX).sum() == 2
        for _ in range(20):
            game.step((1.0, 0.5), (1.0, -0.5))


def test_crowded_boxes_fail_with_advice() -> None:
    cfg = load_profile("turtlebot3_burger")
    cfg.obstacles.box_count_min = cfg.obstacles.box_count_max = 20
    cfg.obstacles.box_half_length_min = cfg.obstacles.box_half_length_max = 0.5
    with pytest.raises(ConfigError, match="could not place random box .* obstacles.box_count_max"):
        generate_obstacles(cfg.validate(), make_rngs(0)[0])


@pytest.mark.parametrize("yaml_text, needle", [
    ("box_count_min: 3\n  box_count_max: 2", "box_count_min (3) must be <= obstacles.box_count"),
    ("box_count_max: -1", "obstacles.box_count_max must be >= 0"),
    (f"box_count_max: {MAX_OBSTACLES + 1}", f"box_count_max must be <= {MAX_OBSTACLES}"),
    ("box_count_max: 1.5", "box_count_max must be an integer"),
    ("box_half_length_min: 0.0", "box_half_length_min must be > 0"),
    ("box_half_width_min: -0.1", "box_half_width_min must be >= 0"),
    ("box_half_width_min: 0.5\n  box_half_width_max: 0.2", "box_half_width_min (0.5) must be"),
    ("box_half_length_max: 600.0", "box_half_length_max (600.0) must be <= 500.0"),
    ("box_half_length_max: '0.5'", "box_half_length_max must be a number"),
])
def test_bad_box_settings_name_the_field(yaml_text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        EnvConfig.from_yaml("obstacles:\n  " + yaml_text + "\n").validate()
    assert needle in str(info.value)


def test_random_boxes_in_yaml_round_trip(tmp_path) -> None:
    cfg = EnvConfig.from_yaml("obstacles:\n  box_count_min: 1\n  box_count_max: 3\n"
                              "  box_half_width_max: 0.1\n").validate()
    assert (cfg.obstacles.box_count_max, cfg.obstacles.box_half_width_max) == (3, 0.1)
    assert EnvConfig.from_yaml(cfg.to_yaml(tmp_path / "e.yaml")).to_dict() == cfg.to_dict()


def test_vector_core_plays_on_random_boxes_only() -> None:
    """A world whose only boxes are random ones carries box rows in the vector core too."""
    cfg = _config(boxes=(2, 2))
    cfg.obstacles.count_min = cfg.obstacles.count_max = 0
    assert not cfg.obstacles.boxes and not cfg.obstacles.segments
    core = VectorizedPursuitEvasion(cfg, num_envs=3, seed=0)
    core.reset()
    assert core.obstacles.shape[2] == 6
    assert ((core.obstacles[:, :, 5] == BOX) & core.obstacle_mask).sum(axis=1).tolist() == [2, 2, 2]
    cmds = np.tile([1.0, 0.5], (3, 1))
    for _ in range(20):
        core.step(cmds, cmds)
