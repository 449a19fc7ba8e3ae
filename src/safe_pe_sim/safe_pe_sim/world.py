"""Arena layouts: seeded obstacle generation, explicit layouts and spawn sampling.

All randomness comes from the ``numpy.random.Generator`` passed in, and the same functions are
used by the single and the vectorised environments, so a game seeded ``s`` has the same layout
and spawns wherever it runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from safe_pe_cbf.barriers import BOX, KIND, WIDE, surface_distance
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena, BoxObstacle, CircleObstacle, obstacles_array

from .config import ConfigError, EnvConfig, check_layout

__all__ = ["Layout", "generate_obstacles", "explicit_obstacles", "sample_spawns",
           "pad_obstacles", "box_corners", "box_gaps", "NOISE_STREAM", "make_rngs"]

NOISE_STREAM = 0x6E6F6973
"""Second seed word of the actuator-noise generator: ``default_rng([seed, NOISE_STREAM])``."""


@dataclass(frozen=True)
class Layout:
    """One episode's walls and obstacles."""

    bounds: tuple[float, float, float, float]
    """``(x_min, x_max, y_min, y_max)`` [m]."""
    obstacles: np.ndarray
    """``(k, 3)`` rows ``(x, y, radius)`` [m], or ``(k, 6)`` rows with a kind where the
    world has boxes (:mod:`safe_pe_cbf.barriers`); k may be 0."""

    def to_geometry(self) -> tuple[object, list[object]]:
        """``(safe_pe_cbf.geometry.Arena, [CircleObstacle | BoxObstacle, ...])`` for the CBF
        core."""
        arena = Arena(*self.bounds)
        return arena, [BoxObstacle(*(float(v) for v in o[:5]))
                       if len(o) > 3 and o[5] == BOX else
                       CircleObstacle(float(o[0]), float(o[1]), float(o[2]))
                       for o in self.obstacles]


def make_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Layout/spawn generator and actuator-noise generator of a game seeded ``seed``.

    :param seed: non-negative integer seed.
    """
    return np.random.default_rng(seed), np.random.default_rng([seed, NOISE_STREAM])


def explicit_obstacles(rows: list[list[float]] | np.ndarray,
                       bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Validate and return explicit obstacles as a ``(k, 3)`` float array.

    :param rows: ``[[x, y, radius], ...]``.
    :param bounds: the arena's walls: when given, the whole layout is checked with
        :func:`~safe_pe_sim.config.check_layout` (count, radii, centres inside the walls).
    """
    try:
        arr = np.asarray(rows, dtype=np.float64)
        arr = arr.reshape(-1, WIDE if arr.ndim == 2 and arr.shape[1] == WIDE else 3)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"explicit obstacles must be [x, y, radius] rows (or rows "
                          f"[p0..p4, kind] of safe_pe_cbf.barriers): {exc}") from None
    if arr.shape[1] == WIDE:  # rows with a kind: the filter's checks, centres inside walls
        try:
            obstacles_array(arr)
        except SafetyInputError as exc:
            raise ConfigError(f"explicit obstacles: {exc}") from None
        circles = arr[arr[:, 5] != BOX][:, :3]
        if bounds is not None:
            check_layout(bounds, circles, "explicit obstacles")
            x_min, x_max, y_min, y_max = bounds
            if not np.all((arr[:, 0] >= x_min) & (arr[:, 0] <= x_max) & (arr[:, 1] >= y_min)
                          & (arr[:, 1] <= y_max)):
                raise ConfigError(f"explicit obstacles: a box centre is outside {bounds}")
        if np.any(circles[:, 2] <= 0.0):
            raise ConfigError("explicit obstacle radii must be > 0")
        return arr
    if not np.all(np.isfinite(arr)):
        raise ConfigError("explicit obstacles must be finite numbers")
    if np.any(arr[:, 2] <= 0.0):
        raise ConfigError("explicit obstacle radii must be > 0")
    if bounds is not None:
        check_layout(bounds, arr, "explicit obstacles")
    return arr


def generate_obstacles(config: EnvConfig, rng: np.random.Generator) -> np.ndarray:
    """Draw one obstacle layout (or return the explicit list).

    :param config: environment config (``obstacles`` and ``arena`` are used).
    :param rng: generator the draws come from (circles first, then random boxes; none for
        boxes when ``box_count_max`` is 0, so such layouts are unchanged).
    :return: ``(k, 3)`` array of ``(x, y, radius)``, or ``(k, 6)`` rows with a kind when the
        config has boxes (``ObstacleConfig.has_boxes``): circles first, then fixed boxes,
        segments, random boxes.
    """
    oc = config.obstacles
    boxes = np.array(oc.box_rows(), dtype=np.float64).reshape(-1, WIDE)
    circles = _circles(config, rng, boxes)
    if not oc.has_boxes:
        return circles
    rows = np.concatenate([np.pad(circles, ((0, 0), (0, WIDE - 3))), boxes])
    return np.concatenate([rows, _random_boxes(config, rng, rows)])


def _circles(config: EnvConfig, rng: np.random.Generator, boxes: np.ndarray) -> np.ndarray:
    """The circles of one layout (explicit, or drawn clear of each other and of ``boxes``)."""
    oc = config.obstacles
    if oc.explicit:
        return explicit_obstacles(oc.explicit)
    x_min, x_max, y_min, y_max = config.arena.bounds()
    count = int(rng.integers(oc.count_min, oc.count_max + 1))
    out = np.zeros((count, 3))
    for i in range(count):
        placed = out[:i]
        for _ in range(oc.max_tries):
            r = float(rng.uniform(oc.radius_min, oc.radius_max))
            pad = r + oc.clearance_walls
            if 2 * pad >= min(x_max - x_min, y_max - y_min):
                continue
            x = float(rng.uniform(x_min + pad, x_max - pad))
            y = float(rng.uniform(y_min + pad, y_max - pad))
            gaps = np.hypot(x - placed[:, 0], y - placed[:, 1]) - r - placed[:, 2]
            if len(boxes):
                gaps = np.concatenate([gaps, surface_distance(boxes, x, y) - r])
            if not np.any(gaps < oc.clearance_obstacles):
                out[i] = (x, y, r)
                break
        else:
            raise ConfigError(
                f"could not place obstacle {i + 1} of {count} in {oc.max_tries} tries: the "
                f"arena is too crowded; lower obstacles.count_max/radius_max or the clearances")
    return out


def box_corners(box: np.ndarray) -> np.ndarray:
    """The four corners ``(4, 2)`` of box row ``(x, y, half_length, half_width, angle, ...)``
    (two pairs coincide for a wall segment, ``half_width = 0``).

    :param box: one obstacle row of kind box.
    """
    c, s = math.cos(box[4]), math.sin(box[4])
    u = np.array([c, s]) * box[2]
    v = np.array([-s, c]) * box[3]
    return box[:2] + np.array([u + v, u - v, -u - v, -u + v])


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether boxes ``a`` and ``b`` share a point: no separating axis among their four edge
    directions (the separating-axis test; a segment's are its direction and normal)."""
    ca, cb = box_corners(a), box_corners(b)
    for angle in (a[4], b[4]):
        for axis in ((math.cos(angle), math.sin(angle)), (-math.sin(angle), math.cos(angle))):
            pa, pb = ca @ axis, cb @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def box_gaps(box: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Surface-to-surface gaps [m] between box row ``box`` and each of ``rows`` (``(k, 6)``
    circles or boxes); negative where a circle overlaps it, -inf where a box does.

    Two disjoint boxes are closest at a corner of one of them, so their gap is the least
    surface distance of the corners; overlap is decided first (a cross has no corner inside).

    :param box: one obstacle row of kind box.
    :param rows: obstacle rows with a kind.
    """
    gaps = surface_distance(box, rows[:, 0], rows[:, 1]) - rows[:, 2]  # circles: exact
    for j in np.flatnonzero(rows[:, KIND] == BOX):
        other = rows[j]
        gaps[j] = -math.inf if _overlap(box, other) else min(
            surface_distance(other, *box_corners(box).T).min(),
            surface_distance(box, *box_corners(other).T).min())
    return gaps


def _random_boxes(config: EnvConfig, rng: np.random.Generator,
                  placed: np.ndarray) -> np.ndarray:
    """``(n, 6)`` random boxes drawn clear of the walls, of ``placed`` and of each other."""
    oc = config.obstacles
    if oc.box_count_max == 0:
        return np.zeros((0, WIDE))
    x_min, x_max, y_min, y_max = config.arena.bounds()
    count = int(rng.integers(oc.box_count_min, oc.box_count_max + 1))
    out = np.zeros((count, WIDE))
    for i in range(count):
        others = np.concatenate([placed, out[:i]])
        for _ in range(oc.max_tries):
            hl = float(rng.uniform(oc.box_half_length_min, oc.box_half_length_max))
            hw = float(rng.uniform(oc.box_half_width_min, oc.box_half_width_max))
            angle = float(rng.uniform(-math.pi, math.pi))
            c, s = abs(math.cos(angle)), abs(math.sin(angle))
            pad_x = hl * c + hw * s + oc.clearance_walls  # half extents of the rotated box
            pad_y = hl * s + hw * c + oc.clearance_walls
            if 2 * pad_x >= x_max - x_min or 2 * pad_y >= y_max - y_min:
                continue
            box = np.array([rng.uniform(x_min + pad_x, x_max - pad_x),
                            rng.uniform(y_min + pad_y, y_max - pad_y), hl, hw, angle, BOX])
            if not np.any(box_gaps(box, others) < oc.clearance_obstacles):
                out[i] = box
                break
        else:
            raise ConfigError(
                f"could not place random box {i + 1} of {count} in {oc.max_tries} tries: the "
                f"arena is too crowded; lower obstacles.box_count_max, box_half_length_max, "
                f"box_half_width_max, count_max/radius_max or the clearances")
    return out


def sample_spawns(config: EnvConfig, obstacles: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Draw start poses for pursuer and evader clear of walls, obstacles and each other.

    At most ``spawn.max_tries`` (<= :data:`~safe_pe_sim.config.MAX_SPAWN_TRIES`) draws, each
    checked against all obstacles at once: bounded in time whatever the layout.

    :param config: environment config (``spawn``, radii, ``obstacles.clearance_spawn``).
    :param obstacles: ``(k, 3)`` obstacles of this episode.
    :param rng: generator the draws come from.
    :return: ``(2, 3)`` poses, row 0 = pursuer, row 1 = evader.
    """
    x_min, x_max, y_min, y_max = config.arena.bounds()
    sc = config.spawn
    gap = config.obstacles.clearance_spawn
    poses = np.zeros((2, 3))
    obstacles = np.asarray(obstacles, dtype=np.float64)
    wide = obstacles.ndim == 2 and obstacles.shape[1] == WIDE
    obstacles = obstacles.reshape(-1, WIDE if wide else 3)
    for _ in range(sc.max_tries):
        ok = True
        for a, robot in enumerate(config.robots()):
            pad = robot.radius + sc.clearance_walls
            x = float(rng.uniform(x_min + pad, x_max - pad))
            y = float(rng.uniform(y_min + pad, y_max - pad))
            theta = float(rng.uniform(-math.pi, math.pi))
            poses[a] = (x, y, theta)
            if wide:
                clear = surface_distance(obstacles, x, y) - robot.radius
            else:
                clear = (np.hypot(x - obstacles[:, 0], y - obstacles[:, 1]) - obstacles[:, 2]
                         - robot.radius)
            if np.any(clear < gap):
                ok = False
        if not ok:
            continue
        d = math.hypot(poses[0, 0] - poses[1, 0], poses[0, 1] - poses[1, 1])
        if d < sc.min_separation or (sc.max_separation > 0.0 and d > sc.max_separation):
            continue
        return poses
    raise ConfigError(
        f"could not sample spawn poses in {sc.max_tries} tries; lower spawn.min_separation, "
        f"spawn.clearance_walls or obstacles.clearance_spawn, or use fewer/smaller obstacles")


def pad_obstacles(obstacles: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``(k, W)`` obstacles to ``(capacity, W)`` plus a boolean mask of real rows.

    Padding rows are zeros and must be ignored through the mask (never treated as obstacles).

    :param obstacles: ``(k, 3)`` with ``k <= capacity``.
    :param capacity: padded row count K.
    """
    k = obstacles.shape[0]
    if k > capacity:
        raise ConfigError(f"{k} obstacles do not fit the capacity {capacity}")
    arr = np.zeros((capacity, obstacles.shape[1]))
    arr[:k] = obstacles
    mask = np.zeros(capacity, dtype=bool)
    mask[:k] = True
    return arr, mask
