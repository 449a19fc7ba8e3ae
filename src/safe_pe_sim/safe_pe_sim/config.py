"""Typed, validated configuration of the pursuit-evasion game (dataclasses + YAML).

Every config class has ``validate()`` (raises :class:`ConfigError` with a message that says what
to fix), ``to_dict()`` / ``from_dict()`` and the top-level :class:`EnvConfig` also has
``to_yaml()`` / ``from_yaml()``. Unknown keys are rejected so that typos in YAML files fail
loudly instead of being ignored.

Two profiles ship with the package (:func:`load_profile`):

* ``default``: the earlier research scenario (20 m x 20 m arena, 2 obstacles of radius
  0.3-1.0 m, v_max 1.0 m/s, omega_max 2.84 rad/s, dt 0.05 s, 600-step episodes, capture radius
  0.5 m, robot radius 0.15 m) with an evader speed margin: the evader's v_max is 1.15 times the
  pursuer's (equal speeds made the game trivial for the pursuer in earlier work).
* ``turtlebot3_burger``: a 4.4 m x 4.4 m arena, robot radius 0.105 m, omega_max 2.84 rad/s. The
  hardware limit 0.22 m/s is the *evader's* v_max; the pursuer is capped at 0.22 / 1.15 m/s so
  that the speed margin never asks a robot for more than it can do.

Both have ideal actuation (commands take effect at once). Two more carry realistic actuator
limits (:class:`~safe_pe_cbf.actuator.ActuatorLimits`, ``RobotConfig.actuator``):

* ``turtlebot3_burger_ramped``: ``turtlebot3_burger`` with 1.0 m/s^2, 2.0 rad/s^2 and one period
  of latency;
* ``diff_drive_nav2``: ``default`` (1 m/s) with Nav2's velocity-smoother defaults (2.5 m/s^2,
  3.2 rad/s^2) and one period of latency.

``turtlebot3_burger`` stays ideal beside its ramped twin on purpose (estimated ramp values,
negligible at 0.22 m/s, the ideal reference of many tests): docs/architecture.md, *Actuator
model*. Training gives the robots' ``actuator`` to the safety filters as well.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml
from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_cbf.config import load_yaml
from safe_pe_cbf.dataclass_io import from_mapping
from safe_pe_cbf.errors import ConfigError as CBFConfigError
from safe_pe_cbf.geometry import BoxObstacle

from .contact import CONTACT_MODES

__all__ = [
    "ConfigError",
    "MAX_ARENA_COORD",
    "MAX_ARENA_EXTENT",
    "MAX_OBSTACLES",
    "MAX_PLACEMENT_TRIES",
    "MAX_SPAWN_TRIES",
    "check_layout",
    "ArenaConfig",
    "RobotConfig",
    "ObstacleConfig",
    "SpawnConfig",
    "RewardConfig",
    "NoiseConfig",
    "EnvConfig",
    "PROFILES",
    "load_profile",
    "default_profile",
    "turtlebot3_burger_profile",
    "turtlebot3_burger_ramped_profile",
    "diff_drive_nav2_profile",
    "ActuatorLimits",
]


class ConfigError(CBFConfigError):
    """A configuration value is missing, malformed or inconsistent.

    A subclass of :class:`safe_pe_cbf.errors.ConfigError`, so one ``except`` catches the
    configuration errors of every safe_pe package.
    """


def read_yaml(source: str | os.PathLike[str], what: str) -> tuple[str, Any]:
    """Parse a YAML file, or YAML text (a string containing a newline).

    :param source: path of a YAML file, or the YAML document itself.
    :param what: what the document is, for error messages (e.g. "env config").
    :return: ``(where, data)``: a description of the source for messages, and the parsed
        document (``{}`` for an empty one).
    :raises ConfigError: unreadable file or broken YAML, saying which.
    """
    if isinstance(source, str) and "\n" in source:
        where, text = "YAML text", source
    else:
        where = os.fspath(source)
        try:
            with open(source, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {what} {where!r}: {exc}") from exc
    try:
        data = load_yaml(text)  # 3e-4 is a float; a quoted "0.5" stays a string (rejected)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from exc
    return where, {} if data is None else data


MAX_ARENA_EXTENT = 1000.0
"""Largest arena width and height [m]: far beyond any lab, small enough that distances,
observations and the CBF stay well-conditioned."""
MAX_ARENA_COORD = 1.0e4
"""Largest absolute wall coordinate [m]."""
MAX_OBSTACLES = 256
"""Most obstacles of one layout (random ``count_max`` or explicit): every step checks each
against both robots and the CBF adds a constraint per obstacle."""
MAX_PLACEMENT_TRIES = 10_000
"""Largest ``obstacles.max_tries``: bounds the time a reset may spend placing obstacles."""
MAX_SPAWN_TRIES = 10_000
"""Largest ``spawn.max_tries``: bounds the time a reset may spend sampling start poses."""


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value}")
    return value


def _positive(name: str, value: Any) -> float:
    value = _finite(name, value)
    if value <= 0.0:
        raise ConfigError(f"{name} must be > 0, got {value}")
    return value


def _non_negative(name: str, value: Any) -> float:
    value = _finite(name, value)
    if value < 0.0:
        raise ConfigError(f"{name} must be >= 0, got {value}")
    return value


def _int_at_least(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be <= {high}, got {value}")
    return value


@dataclass
class ArenaConfig:
    """Axis-aligned rectangular arena (walls) in metres."""

    x_min: float = -10.0
    """Left wall [m]."""
    x_max: float = 10.0
    """Right wall [m] (> x_min)."""
    y_min: float = -10.0
    """Bottom wall [m]."""
    y_max: float = 10.0
    """Top wall [m] (> y_min)."""

    @property
    def width(self) -> float:
        """Extent along x [m]."""
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        """Extent along y [m]."""
        return self.y_max - self.y_min

    @property
    def diagonal(self) -> float:
        """Length of the diagonal [m] (the largest possible distance inside the arena)."""
        return math.hypot(self.width, self.height)

    def bounds(self) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` as floats."""
        return (float(self.x_min), float(self.x_max), float(self.y_min), float(self.y_max))

    def validate(self) -> None:
        """Raise :class:`ConfigError` unless the walls are finite, ordered, within
        :data:`MAX_ARENA_COORD` of the origin and at most :data:`MAX_ARENA_EXTENT` apart."""
        for name in ("x_min", "x_max", "y_min", "y_max"):
            value = _finite(f"arena.{name}", getattr(self, name))
            if abs(value) > MAX_ARENA_COORD:
                raise ConfigError(f"arena.{name} = {value} m is beyond +-{MAX_ARENA_COORD} m; "
                                  f"use coordinates near the origin")
        if not self.x_max > self.x_min:
            raise ConfigError(
                f"arena.x_max ({self.x_max}) must be greater than arena.x_min ({self.x_min})")
        if not self.y_max > self.y_min:
            raise ConfigError(
                f"arena.y_max ({self.y_max}) must be greater than arena.y_min ({self.y_min})")
        for name, extent in (("width", self.width), ("height", self.height)):
            if extent > MAX_ARENA_EXTENT:
                raise ConfigError(f"arena {name} {extent} m exceeds {MAX_ARENA_EXTENT} m; "
                                  f"use a smaller arena")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ArenaConfig":
        """Build from a mapping; unknown keys raise :class:`ConfigError`."""
        return _from_dict(cls, data, "arena")


def check_layout(bounds: tuple[float, float, float, float], obstacles: Any,
                 where: str = "layout") -> None:
    """Raise :class:`ConfigError` unless walls and obstacles make a usable world: walls as
    :meth:`ArenaConfig.validate`, at most :data:`MAX_OBSTACLES` finite obstacles, each with its
    centre inside the walls and a radius in ``(0, min(width, height) / 2]``.

    :param bounds: ``(x_min, x_max, y_min, y_max)`` [m].
    :param obstacles: ``(k, 3)`` rows ``(x, y, radius)`` [m] (array or nested lists), or
        ``(k, 6)`` rows with a kind (:mod:`safe_pe_cbf.barriers`; boxes: sizes, centre).
    :param where: what the layout is, for the message (e.g. "reset request").
    """
    arena = ArenaConfig(*bounds)
    try:
        arena.validate()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    rows = list(obstacles)
    if len(rows) > MAX_OBSTACLES:
        raise ConfigError(f"{where}: {len(rows)} obstacles, at most {MAX_OBSTACLES} are "
                          f"supported; merge or drop obstacles")
    largest = min(arena.width, arena.height) / 2.0
    for i, row in enumerate(rows):
        try:
            vals = [float(v) for v in row]
            if len(vals) == 6 and vals[5] == 1.0:  # a box row (safe_pe_cbf.barriers)
                _check_box(vals, arena, f"{where}: obstacle[{i}]")
                continue
            x, y, r = vals[:3] if len(vals) == 6 and vals[5] == 0.0 else vals
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: obstacle[{i}] must be (x, y, radius) numbers (or a "
                              f"6-entry row with kind 0 or 1), got {row!r}") from None
        if not all(math.isfinite(v) for v in (x, y, r)):
            raise ConfigError(f"{where}: obstacle[{i}] = ({x}, {y}, {r}) must be finite")
        if not 0.0 < r <= largest:
            raise ConfigError(f"{where}: obstacle[{i}] radius {r} m must be in (0, {largest}] "
                              f"(half the arena's smaller side)")
        if not (arena.x_min <= x <= arena.x_max and arena.y_min <= y <= arena.y_max):
            raise ConfigError(f"{where}: obstacle[{i}] centre ({x}, {y}) is outside the walls "
                              f"{arena.bounds()}")


def _check_box(vals: list[float], arena: "ArenaConfig", where: str) -> None:
    """Raise :class:`ConfigError` unless box row ``vals`` is finite, sized and centred inside.

    :param vals: ``(x, y, half_length, half_width, angle, 1)``
    :param arena: the walls
    :param where: what the box is, for the message
    """
    if not all(math.isfinite(v) for v in vals):
        raise ConfigError(f"{where} = {vals} must be finite")
    if not (vals[2] > 0.0 and vals[3] >= 0.0):
        raise ConfigError(f"{where}: a box needs half_length > 0 and half_width >= 0, got "
                          f"{vals[2]}, {vals[3]}")
    if not (arena.x_min <= vals[0] <= arena.x_max and arena.y_min <= vals[1] <= arena.y_max):
        raise ConfigError(f"{where}: box centre ({vals[0]}, {vals[1]}) is outside the walls "
                          f"{arena.bounds()}")


def _from_dict(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from ``data`` (typed; unknown keys, i.e. typos, rejected)."""
    return from_mapping(cls, data, ConfigError, where=where)


@dataclass
class RobotConfig:
    """Body and actuator limits of one unicycle robot."""

    radius: float = 0.15
    """Radius of the disk enclosing the body [m]."""
    v_min: float = 0.0
    """Lowest linear velocity [m/s] (negative = may reverse)."""
    v_max: float = 1.0
    """Highest linear velocity [m/s]."""
    omega_max: float = 2.84
    """Largest angular speed [rad/s]: |omega| <= omega_max."""
    actuator: ActuatorLimits = field(default_factory=ActuatorLimits)
    """Velocity ramps and command latency of the base (default: ideal, commands take effect
    at once; see :mod:`safe_pe_cbf.actuator` and docs/architecture.md, *Actuator model*)."""

    @property
    def v_abs_max(self) -> float:
        """Largest speed magnitude the robot can reach [m/s]."""
        return max(abs(self.v_min), abs(self.v_max))

    def validate(self, name: str = "robot") -> None:
        """Raise :class:`ConfigError` unless radius > 0, v_min < v_max, omega_max > 0 and the
        actuator limits are valid.

        :param name: name of this robot in messages (``pursuer`` / ``evader``)
        """
        _positive(f"{name}.radius", self.radius)
        _finite(f"{name}.v_min", self.v_min)
        _positive(f"{name}.v_max", self.v_max)
        _positive(f"{name}.omega_max", self.omega_max)
        if not self.v_min < self.v_max:
            raise ConfigError(
                f"{name}.v_min ({self.v_min}) must be < {name}.v_max ({self.v_max})")
        if not isinstance(self.actuator, ActuatorLimits):
            raise ConfigError(f"{name}.actuator must be an ActuatorLimits, got "
                              f"{type(self.actuator).__name__}")
        try:
            self.actuator.validate(f"{name}.actuator")
        except CBFConfigError as exc:
            raise ConfigError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "robot") -> "RobotConfig":
        """Build from a mapping (``actuator`` a nested mapping); unknown keys raise
        :class:`ConfigError`.

        :param data: field name -> value
        :param name: name of this robot in messages (``pursuer`` / ``evader``)
        """
        try:
            return _from_dict(cls, data, name)
        except ConfigError:
            raise
        except CBFConfigError as exc:  # the nested ActuatorLimits checks itself when built
            raise ConfigError(f"{name}.{exc}") from exc


@dataclass
class ObstacleConfig:
    """Circular obstacles (an explicit list, or a seeded random layout), fixed boxes and wall
    segments (in every episode; random circles are placed clear of them), and seeded random
    boxes (placed clear of everything else).

    With ``explicit`` non-empty, exactly those circles are used in every episode (the count and
    radius ranges are then ignored). Otherwise each reset draws ``count`` uniformly from
    ``[count_min, count_max]`` and radii uniformly from ``[radius_min, radius_max]``, rejecting
    placements closer than the clearances below (surface to surface). Then it draws
    ``box_count_min..box_count_max`` random boxes the same way: half-length, half-width and
    orientation uniform in their ranges (``[-pi, pi)`` for the angle), the whole rectangle at
    least ``clearance_walls`` from every wall and ``clearance_obstacles`` from every obstacle
    and earlier box. Spawned bodies keep ``clearance_spawn`` from all of them.
    """

    count_min: int = 2
    """Fewest obstacles of a random layout."""
    count_max: int = 2
    """Most obstacles of a random layout (also the padded size K of obstacle arrays)."""
    radius_min: float = 0.3
    """Smallest obstacle radius [m]."""
    radius_max: float = 1.0
    """Largest obstacle radius [m]."""
    clearance_obstacles: float = 1.0
    """Least free gap between two obstacles [m]."""
    clearance_walls: float = 1.0
    """Least free gap between an obstacle and a wall [m]."""
    clearance_spawn: float = 1.0
    """Least free gap between an obstacle and a spawned robot body [m]."""
    explicit: list[list[float]] = field(default_factory=list)
    """Fixed obstacles as ``[[x, y, radius], ...]`` [m]; empty = random layout."""
    boxes: list[list[float]] = field(default_factory=list)
    """Fixed oriented rectangles in every episode, beside the circles, as ``[[x, y,
    half_length, half_width, angle], ...]`` [m, rad]; ``half_width = 0`` is a thin wall."""
    segments: list[list[float]] = field(default_factory=list)
    """Fixed thin wall segments in every episode as ``[[x0, y0, x1, y1], ...]`` [m]."""
    box_count_min: int = 0
    """Fewest random boxes per episode."""
    box_count_max: int = 0
    """Most random boxes per episode (0: none, and no random draws for them)."""
    box_half_length_min: float = 0.2
    """Smallest half-length of a random box [m]."""
    box_half_length_max: float = 0.6
    """Largest half-length of a random box [m]."""
    box_half_width_min: float = 0.0
    """Smallest half-width of a random box [m] (0: thin walls possible)."""
    box_half_width_max: float = 0.3
    """Largest half-width of a random box [m]."""
    max_tries: int = 200
    """Placement attempts per obstacle before the generator gives up with an error."""

    @property
    def capacity(self) -> int:
        """Padded number K of obstacle rows in batched arrays."""
        return (len(self.explicit) if self.explicit else self.count_max) + len(self.boxes) \
            + len(self.segments) + self.box_count_max

    @property
    def has_boxes(self) -> bool:
        """Whether layouts carry ``(k, 6)`` rows with a kind (``safe_pe_cbf.barriers``): fixed
        boxes or segments, or random boxes (in every episode, even one that drew none)."""
        return bool(self.boxes or self.segments or self.box_count_max)

    def box_rows(self) -> list[tuple[float, ...]]:
        """The boxes and segments as obstacle rows with their kind (``safe_pe_cbf.barriers``:
        ``(x, y, half_length, half_width, angle, 1)``), boxes first."""
        rows = [BoxObstacle(*(float(v) for v in b)).row() for b in self.boxes]
        return rows + [BoxObstacle.segment(*(float(v) for v in s)).row() for s in self.segments]

    def validate(self, arena: ArenaConfig | None = None) -> None:
        """Raise :class:`ConfigError` for inconsistent ranges or obstacles outside the arena."""
        _int_at_least("obstacles.max_tries", self.max_tries, 1, MAX_PLACEMENT_TRIES)
        for what in ("count", "box_count"):  # circles, random boxes
            lo = _int_at_least(f"obstacles.{what}_min", getattr(self, f"{what}_min"), 0)
            hi = _int_at_least(f"obstacles.{what}_max", getattr(self, f"{what}_max"), 0,
                               MAX_OBSTACLES)
            if lo > hi:
                raise ConfigError(f"obstacles.{what}_min ({lo}) must be <= "
                                  f"obstacles.{what}_max ({hi})")
        for what, check in (("radius", _positive), ("box_half_length", _positive),
                            ("box_half_width", _non_negative)):
            lo = check(f"obstacles.{what}_min", getattr(self, f"{what}_min"))
            hi = check(f"obstacles.{what}_max", getattr(self, f"{what}_max"))
            if hi > MAX_ARENA_EXTENT / 2.0:
                raise ConfigError(f"obstacles.{what}_max ({hi}) must be <= "
                                  f"{MAX_ARENA_EXTENT / 2.0} m")
            if lo > hi:
                raise ConfigError(f"obstacles.{what}_min ({lo}) must be <= "
                                  f"obstacles.{what}_max ({hi})")
        _non_negative("obstacles.clearance_obstacles", self.clearance_obstacles)
        _non_negative("obstacles.clearance_walls", self.clearance_walls)
        _non_negative("obstacles.clearance_spawn", self.clearance_spawn)
        if not isinstance(self.explicit, (list, tuple)):
            raise ConfigError("obstacles.explicit must be a list of [x, y, radius] rows")
        if len(self.explicit) > MAX_OBSTACLES:
            raise ConfigError(f"obstacles.explicit has {len(self.explicit)} rows, at most "
                              f"{MAX_OBSTACLES} are supported")
        for i, row in enumerate(self.explicit):
            if not isinstance(row, (list, tuple)) or len(row) != 3:
                raise ConfigError(
                    f"obstacles.explicit[{i}] must be [x, y, radius], got {row!r}")
            x = _finite(f"obstacles.explicit[{i}].x", row[0])
            y = _finite(f"obstacles.explicit[{i}].y", row[1])
            r = _positive(f"obstacles.explicit[{i}].radius", row[2])
            if arena is not None and not (arena.x_min + r <= x <= arena.x_max - r
                                          and arena.y_min + r <= y <= arena.y_max - r):
                raise ConfigError(
                    f"obstacles.explicit[{i}] = {list(row)} does not fit inside the arena "
                    f"{arena.bounds()}; move it or shrink it")

        for key, width, what in (("boxes", 5, "[x, y, half_length, half_width, angle]"),
                                 ("segments", 4, "[x0, y0, x1, y1]")):
            rows = getattr(self, key)
            if not isinstance(rows, (list, tuple)) or len(rows) + len(self.explicit) \
                    > MAX_OBSTACLES:
                raise ConfigError(f"obstacles.{key} must be a list of {what} rows, with "
                                  f"explicit at most {MAX_OBSTACLES} in all")
            for i, row in enumerate(rows):
                if not isinstance(row, (list, tuple)) or len(row) != width:
                    raise ConfigError(f"obstacles.{key}[{i}] must be {what}, got {row!r}")
                vals = [_finite(f"obstacles.{key}[{i}]", v) for v in row]
                if key == "boxes" and (vals[2] <= 0.0 or vals[3] < 0.0):
                    raise ConfigError(f"obstacles.boxes[{i}] needs half_length > 0 and "
                                      f"half_width >= 0, got {row!r}")
                pts = [vals[:2]] if key == "boxes" else [vals[:2], vals[2:]]
                if arena is not None and not all(
                        arena.x_min <= px <= arena.x_max and arena.y_min <= py <= arena.y_max
                        for px, py in pts):
                    raise ConfigError(f"obstacles.{key}[{i}] = {list(row)} is outside the "
                                      f"arena {arena.bounds()}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML friendly)."""
        data = dataclasses.asdict(self)
        data["explicit"] = [[float(v) for v in row] for row in self.explicit]
        data["boxes"] = [[float(v) for v in row] for row in self.boxes]
        data["segments"] = [[float(v) for v in row] for row in self.segments]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ObstacleConfig":
        """Build from a mapping; unknown keys raise :class:`ConfigError`."""
        cfg = _from_dict(cls, data, "obstacles")
        if cfg.explicit is None:
            cfg.explicit = []
        cfg.boxes = cfg.boxes or []
        cfg.segments = cfg.segments or []
        return cfg


@dataclass
class SpawnConfig:
    """Where robots start an episode (uniform, rejection-sampled)."""

    clearance_walls: float = 1.0
    """Least free gap between a spawned body and a wall [m]."""
    min_separation: float = 3.0
    """Least centre distance between pursuer and evader at spawn [m] (> capture radius)."""
    max_separation: float = 0.0
    """Largest centre distance at spawn [m]; 0 = no limit."""
    max_tries: int = 1000
    """Attempts before the sampler gives up with an error."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` for negative gaps or an empty separation range."""
        _non_negative("spawn.clearance_walls", self.clearance_walls)
        _non_negative("spawn.min_separation", self.min_separation)
        _non_negative("spawn.max_separation", self.max_separation)
        _int_at_least("spawn.max_tries", self.max_tries, 1, MAX_SPAWN_TRIES)
        if 0.0 < self.max_separation < self.min_separation:
            raise ConfigError(f"spawn.max_separation ({self.max_separation}) must be 0 (no "
                              f"limit) or >= spawn.min_separation ({self.min_separation})")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SpawnConfig":
        """Build from a mapping; unknown keys raise :class:`ConfigError`."""
        return _from_dict(cls, data, "spawn")


@dataclass
class RewardConfig:
    """Reward weights. Rewards are given from the pursuer's point of view.

    Pursuer reward per step::

        capture * captured + escape * timed_out
        + distance * (d_prev - d_now) + time
        + violation * violated_pursuer + w5 * clip(min_i h_i / h_max, -1, 1)

    With ``zero_sum`` the evader gets the negated game part (capture, escape, distance, time);
    the safety terms (``violation``, ``w5``) are per agent and never negated. Without
    ``zero_sum`` the evader's game part uses the ``evader_*`` weights.
    """

    capture: float = 10.0
    """Pursuer reward when the evader is captured (terminal)."""
    escape: float = -10.0
    """Pursuer reward when the episode times out (evader escaped; truncation)."""
    distance: float = 1.0
    """Pursuer reward per metre the centre distance shrinks in a step (shaping)."""
    time: float = -0.01
    """Pursuer reward per step."""
    violation: float = 0.0
    """Reward added to an agent in each step its body violates a constraint (<= 0)."""
    w5: float = 0.0
    """Safety reward weight: w5 * clip(min_i h_i / h_max, -1, 1); 0 disables it."""
    h_max: float = 1.0
    """Normaliser of the barrier values in the safety reward (> 0)."""
    zero_sum: bool = True
    """Evader game reward = -pursuer game reward; else the evader_* weights below apply."""
    evader_capture: float = -10.0
    """Evader reward on capture (only without zero_sum)."""
    evader_escape: float = 10.0
    """Evader reward on timeout (only without zero_sum)."""
    evader_distance: float = -1.0
    """Evader reward per metre the distance shrinks (only without zero_sum)."""
    evader_time: float = 0.01
    """Evader reward per step (only without zero_sum)."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` for non-finite weights or h_max <= 0."""
        for f in dataclasses.fields(self):
            if f.name == "zero_sum":
                if not isinstance(self.zero_sum, bool):
                    raise ConfigError(f"rewards.zero_sum must be true/false, got "
                                      f"{self.zero_sum!r}")
                continue
            _finite(f"rewards.{f.name}", getattr(self, f.name))
        _positive("rewards.h_max", self.h_max)
        _non_negative("rewards.w5", self.w5)
        if self.violation > 0.0:
            raise ConfigError(f"rewards.violation must be <= 0 (a penalty), got {self.violation}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RewardConfig":
        """Build from a mapping; unknown keys raise :class:`ConfigError`."""
        return _from_dict(cls, data, "rewards")


@dataclass
class NoiseConfig:
    """Gaussian actuator noise added to the clipped commands (then clipped again)."""

    v_std: float = 0.0
    """Standard deviation of the linear-velocity noise [m/s]."""
    omega_std: float = 0.0
    """Standard deviation of the angular-velocity noise [rad/s]."""

    @property
    def enabled(self) -> bool:
        """Whether any noise is added."""
        return self.v_std > 0.0 or self.omega_std > 0.0

    def validate(self) -> None:
        """Raise :class:`ConfigError` for negative or non-finite deviations."""
        _non_negative("actuator_noise.v_std", self.v_std)
        _non_negative("actuator_noise.omega_std", self.omega_std)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NoiseConfig":
        """Build from a mapping; unknown keys raise :class:`ConfigError`."""
        return _from_dict(cls, data, "actuator_noise")


@dataclass
class EnvConfig:
    """Everything that defines one pursuit-evasion game."""

    dt: float = 0.05
    """Control period [s]; commands are held constant over it (zero-order hold)."""
    max_steps: int = 600
    """Episode length limit in control steps (reaching it = truncation, evader escaped)."""
    capture_radius: float = 0.5
    """Centre distance [m] at or below which the evader is captured (> sum of body radii)."""
    arena: ArenaConfig = field(default_factory=ArenaConfig)
    """Walls."""
    pursuer: RobotConfig = field(default_factory=RobotConfig)
    """Pursuer body and limits."""
    evader: RobotConfig = field(default_factory=lambda: RobotConfig(v_max=1.15))
    """Evader body and limits."""
    obstacles: ObstacleConfig = field(default_factory=ObstacleConfig)
    """Obstacle layout."""
    spawn: SpawnConfig = field(default_factory=SpawnConfig)
    """Spawn sampling."""
    rewards: RewardConfig = field(default_factory=RewardConfig)
    """Reward weights."""
    actuator_noise: NoiseConfig = field(default_factory=NoiseConfig)
    """Optional actuator noise (off by default)."""
    substeps: int = 10
    """Sub-steps per control step for the continuous-trajectory safety check (>= 1)."""
    terminate_on_violation: bool = False
    """End the episode (terminated) when a body violates a constraint; default: only record."""
    contact: str = "solid"
    """What a body that would penetrate something does: ``"solid"`` (walls, obstacles and the
    other robot are solid: the arc is truncated at first contact and the robot stops, see
    :mod:`safe_pe_sim.contact`) or ``"pass_through"`` (pure kinematics). Violations are
    recorded either way, with the depth the command would have reached."""

    def robots(self) -> tuple[RobotConfig, RobotConfig]:
        """``(pursuer, evader)``, index 0 = pursuer, 1 = evader."""
        return (self.pursuer, self.evader)

    def validate(self) -> "EnvConfig":
        """Check every field and their consistency; return self; raise :class:`ConfigError`."""
        _positive("dt", self.dt)
        _int_at_least("max_steps", self.max_steps, 1)
        _int_at_least("substeps", self.substeps, 1)
        _positive("capture_radius", self.capture_radius)
        if not isinstance(self.terminate_on_violation, bool):
            raise ConfigError("terminate_on_violation must be true/false")
        if self.contact not in CONTACT_MODES:
            raise ConfigError(f"contact must be one of {list(CONTACT_MODES)}, got "
                              f"{self.contact!r}")
        for name, cls in (("arena", ArenaConfig), ("pursuer", RobotConfig),
                          ("evader", RobotConfig), ("obstacles", ObstacleConfig),
                          ("spawn", SpawnConfig), ("rewards", RewardConfig),
                          ("actuator_noise", NoiseConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{name} must be a {cls.__name__}, got "
                                  f"{type(getattr(self, name)).__name__}")
        self.arena.validate()
        self.pursuer.validate("pursuer")
        self.evader.validate("evader")
        self.obstacles.validate(self.arena)
        self.spawn.validate()
        self.rewards.validate()
        self.actuator_noise.validate()
        contact = self.pursuer.radius + self.evader.radius
        if not self.capture_radius > contact:
            raise ConfigError(
                f"capture_radius ({self.capture_radius}) must exceed the collision distance of "
                f"the bodies (pursuer.radius + evader.radius = {contact}); otherwise capture "
                f"requires a collision")
        if self.spawn.min_separation <= self.capture_radius:
            raise ConfigError(
                f"spawn.min_separation ({self.spawn.min_separation}) must exceed capture_radius "
                f"({self.capture_radius}), or episodes start captured")
        largest = max(self.pursuer.radius, self.evader.radius)
        margin = largest + self.spawn.clearance_walls
        if 2 * margin >= min(self.arena.width, self.arena.height):
            raise ConfigError(
                f"arena {self.arena.width} x {self.arena.height} m is too small for robots of "
                f"radius {largest} m with spawn.clearance_walls {self.spawn.clearance_walls} m")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-dict form (YAML friendly)."""
        return {
            "dt": float(self.dt),
            "max_steps": int(self.max_steps),
            "capture_radius": float(self.capture_radius),
            "substeps": int(self.substeps),
            "terminate_on_violation": bool(self.terminate_on_violation),
            "contact": str(self.contact),
            "arena": self.arena.to_dict(),
            "pursuer": self.pursuer.to_dict(),
            "evader": self.evader.to_dict(),
            "obstacles": self.obstacles.to_dict(),
            "spawn": self.spawn.to_dict(),
            "rewards": self.rewards.to_dict(),
            "actuator_noise": self.actuator_noise.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], validate: bool = True) -> "EnvConfig":
        """Build from a nested mapping (missing keys keep their defaults) and validate.

        :param data: mapping as produced by :meth:`to_dict` (a subset is fine).
        :param validate: run :meth:`validate` on the result.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"env config must be a mapping, got {type(data).__name__}")
        data = dict(data)
        nested = {
            "arena": ArenaConfig.from_dict,
            "pursuer": lambda d: RobotConfig.from_dict(d, "pursuer"),
            "evader": lambda d: RobotConfig.from_dict(d, "evader"),
            "obstacles": ObstacleConfig.from_dict,
            "spawn": SpawnConfig.from_dict,
            "rewards": RewardConfig.from_dict,
            "actuator_noise": NoiseConfig.from_dict,
        }
        for key, build in nested.items():
            if key in data:
                try:
                    data[key] = build(data[key])
                except TypeError as exc:  # pragma: no cover - guarded by _from_dict
                    raise ConfigError(f"{key}: {exc}") from exc
        cfg = from_mapping(cls, data, ConfigError, label="env config")
        return cfg.validate() if validate else cfg

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """Serialise to YAML; also write it to ``path`` when given.

        :param path: file to write (overwritten), or None to only return the text.
        """
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> "EnvConfig":
        """Load from a YAML file path, or from YAML text (a string containing a newline).

        :param source: path of a YAML file, or the YAML document itself.
        """
        where, data = read_yaml(source, "env config")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc

    def copy(self) -> "EnvConfig":
        """Deep copy."""
        return EnvConfig.from_dict(self.to_dict(), validate=False)


def default_profile() -> EnvConfig:
    """The earlier research scenario with an evader speed margin of 1.15 (see module doc)."""
    return EnvConfig().validate()


def turtlebot3_burger_profile() -> EnvConfig:
    """TurtleBot3 Burger in a 4.4 m x 4.4 m arena (see module doc)."""
    v_hw = 0.22
    return EnvConfig(
        dt=0.1,
        max_steps=600,
        capture_radius=0.3,
        arena=ArenaConfig(-2.2, 2.2, -2.2, 2.2),
        pursuer=RobotConfig(radius=0.105, v_min=0.0, v_max=round(v_hw / 1.15, 4),
                            omega_max=2.84),
        evader=RobotConfig(radius=0.105, v_min=0.0, v_max=v_hw, omega_max=2.84),
        obstacles=ObstacleConfig(count_min=2, count_max=2, radius_min=0.1, radius_max=0.25,
                                 clearance_obstacles=0.4, clearance_walls=0.3,
                                 clearance_spawn=0.25),
        spawn=SpawnConfig(clearance_walls=0.2, min_separation=1.0),
        rewards=RewardConfig(distance=4.5),
        substeps=10,
    ).validate()


#: TurtleBot3 Burger ramps: 1.0 m/s^2 both ways and 2.0 rad/s^2, one period (0.1 s) of latency.
#: ROBOTIS' turtlebot3_navigation2 burger.yaml ships Nav2's smoother defaults (2.5 m/s^2,
#: 3.2 rad/s^2), which the Burger's XL430 wheels do not reach at 0.22 m/s; 1.0 m/s^2 and
#: 2.0 rad/s^2 are the conservative values that issue 16 measured the filter against, and the
#: ones TurtleBot community Nav2 configs lower the smoother to. Measure your own base
#: (docs/architecture.md, *Actuator model*) and override ``actuator`` in a profile YAML.
TB3_BURGER_ACTUATOR = {"linear_accel": 1.0, "linear_decel": 1.0, "angular_accel": 2.0,
                       "latency_steps": 1}
#: Nav2 ``velocity_smoother`` defaults (nav2_velocity_smoother: ``max_accel: [2.5, 0.0, 3.2]``,
#: ``max_decel: [-2.5, 0.0, -3.2]``) with one control period of latency.
NAV2_SMOOTHER_ACTUATOR = {"linear_accel": 2.5, "linear_decel": 2.5, "angular_accel": 3.2,
                          "latency_steps": 1}


def turtlebot3_burger_ramped_profile() -> EnvConfig:
    """``turtlebot3_burger`` with the Burger's velocity ramps and latency
    (:data:`TB3_BURGER_ACTUATOR`) on both robots."""
    cfg = turtlebot3_burger_profile()
    for robot in cfg.robots():
        robot.actuator = ActuatorLimits(**TB3_BURGER_ACTUATOR)
    return cfg.validate()


def diff_drive_nav2_profile() -> EnvConfig:
    """``default`` (1 m/s bases) with Nav2's velocity-smoother limits and one period of latency
    (:data:`NAV2_SMOOTHER_ACTUATOR`) on both robots."""
    cfg = default_profile()
    for robot in cfg.robots():
        robot.actuator = ActuatorLimits(**NAV2_SMOOTHER_ACTUATOR)
    return cfg.validate()


PROFILES = {"default": default_profile, "turtlebot3_burger": turtlebot3_burger_profile,
            "turtlebot3_burger_ramped": turtlebot3_burger_ramped_profile,
            "diff_drive_nav2": diff_drive_nav2_profile}
"""Built-in profiles by name; ``config/profiles/<name>.yaml`` in the repo mirror these."""


def load_profile(name: str | os.PathLike[str] = "default") -> EnvConfig:
    """Return a built-in profile by name, or load a YAML file if ``name`` is a path.

    :param name: ``"default"``, ``"turtlebot3_burger"``, or a path to a ``.yaml`` file.
    """
    key = os.fspath(name)
    if key in PROFILES:
        return PROFILES[key]()
    if key.endswith((".yaml", ".yml")) or os.path.sep in key:
        return EnvConfig.from_yaml(key)
    raise ConfigError(f"unknown profile {key!r}: use one of {sorted(PROFILES)} or a YAML path")
