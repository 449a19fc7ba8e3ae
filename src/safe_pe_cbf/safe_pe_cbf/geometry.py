"""Geometry of the safety problem: arena, obstacles, virtual control point (VCP).

Conventions (docs/architecture.md): SI units, a pose is ``(x, y, theta)``, obstacles as arrays
are ``(K, 3)`` rows ``(x, y, radius)`` (circles) or ``(K, 6)`` rows ``(p0..p4, kind)`` (any
barrier type of :mod:`safe_pe_cbf.barriers`, e.g. boxes). The robot body is a disk of
``robot_radius`` centred on the axle midpoint ``(x, y)``; the VCP is the point ``vcp_offset``
ahead of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

import numpy as np

from safe_pe_cbf.barriers import BOX, KIND, WIDE, invalid_rows, kinds_text
from safe_pe_cbf.errors import SafetyInputError

__all__ = [
    "MAX_ABS",
    "Arena",
    "CircleObstacle",
    "BoxObstacle",
    "obstacles_array",
    "obstacles_tuple",
    "check_pose",
    "check_command",
    "wrap_angle",
    "vcp_point",
]


#: largest magnitude accepted for any coordinate, radius or command: larger values are
#: garbage (and would overflow the constraint arithmetic), never a real robot state
MAX_ABS = 1e6


def _finite(name: str, value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise SafetyInputError(f"{name} must be a real number, got {value!r}") from exc
    if not -MAX_ABS <= out <= MAX_ABS:
        raise SafetyInputError(f"{name} must be finite and within +-{MAX_ABS:g}, got {out}")
    return out


@dataclass(frozen=True)
class Arena:
    """Axis-aligned rectangular arena; the robot bodies must stay inside it.

    :param x_min: left wall [m]
    :param x_max: right wall [m], > x_min
    :param y_min: bottom wall [m]
    :param y_max: top wall [m], > y_min
    """

    x_min: float
    x_max: float
    y_min: float
    y_max: float

    def __post_init__(self) -> None:
        for name in ("x_min", "x_max", "y_min", "y_max"):
            object.__setattr__(self, name, _finite(f"Arena.{name}", getattr(self, name)))
        if not self.x_min < self.x_max:
            raise SafetyInputError(
                f"Arena needs x_min < x_max, got x_min={self.x_min}, x_max={self.x_max}")
        if not self.y_min < self.y_max:
            raise SafetyInputError(
                f"Arena needs y_min < y_max, got y_min={self.y_min}, y_max={self.y_max}")

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Return ``(x_min, x_max, y_min, y_max)``."""
        return (self.x_min, self.x_max, self.y_min, self.y_max)

    @classmethod
    def square(cls, size: float) -> "Arena":
        """Square arena ``[0, size] x [0, size]``.

        :param size: side length [m], > 0
        """
        return cls(0.0, size, 0.0, size)


@dataclass(frozen=True)
class CircleObstacle:
    """Static circular obstacle.

    :param x: centre x [m]
    :param y: centre y [m]
    :param radius: radius [m], >= 0
    """

    x: float
    y: float
    radius: float

    def __post_init__(self) -> None:
        for name in ("x", "y", "radius"):
            object.__setattr__(self, name, _finite(f"CircleObstacle.{name}",
                                                   getattr(self, name)))
        if self.radius < 0.0:
            raise SafetyInputError(f"CircleObstacle.radius must be >= 0, got {self.radius}")


@dataclass(frozen=True)
class BoxObstacle:
    """Static oriented rectangle; ``half_width = 0`` is a thin wall segment.

    :param x: centre x [m]
    :param y: centre y [m]
    :param half_length: half the side along ``angle`` [m], >= 0
    :param half_width: half the other side [m], >= 0 (0: a wall segment)
    :param angle: direction of the length side [rad]
    """

    x: float
    y: float
    half_length: float
    half_width: float
    angle: float = 0.0

    def __post_init__(self) -> None:
        for name in ("x", "y", "half_length", "half_width", "angle"):
            object.__setattr__(self, name, _finite(f"BoxObstacle.{name}", getattr(self, name)))
        if self.half_length < 0.0 or self.half_width < 0.0:
            raise SafetyInputError(f"BoxObstacle half sizes must be >= 0, got "
                                   f"{self.half_length}, {self.half_width}")

    @classmethod
    def segment(cls, x0: float, y0: float, x1: float, y1: float,
                thickness: float = 0.0) -> "BoxObstacle":
        """Wall segment from ``(x0, y0)`` to ``(x1, y1)`` (a box of width ``thickness``).

        :param x0: first end x [m]
        :param y0: first end y [m]
        :param x1: second end x [m]
        :param y1: second end y [m]
        :param thickness: full thickness [m], >= 0
        """
        return cls(0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.5 * math.hypot(x1 - x0, y1 - y0),
                   0.5 * thickness, math.atan2(y1 - y0, x1 - x0))

    def row(self) -> tuple[float, float, float, float, float, float]:
        """The wide obstacle row ``(x, y, half_length, half_width, angle, 1)``."""
        return (self.x, self.y, self.half_length, self.half_width, self.angle, float(BOX))


ObstacleLike = Union[CircleObstacle, BoxObstacle, Sequence[float]]


def obstacles_array(obstacles: Union[Iterable[ObstacleLike], np.ndarray, None]) -> np.ndarray:
    """Validate obstacles and return them as a float64 array (``safe_pe_cbf.barriers``).

    Circles only, given as triples or ``CircleObstacle``: ``(K, 3)`` rows ``(x, y, radius)``
    (the original layout). With any ``BoxObstacle`` or 6-entry row: ``(K, 6)`` rows
    ``(p0..p4, kind)``, circles as ``(x, y, radius, 0, 0, 0)``.

    :param obstacles: ``CircleObstacle`` / ``BoxObstacle`` objects, ``(x, y, radius)``
        triples, ``(p0, p1, p2, p3, p4, kind)`` rows, a ``(K, 3)`` or ``(K, 6)`` array, or
        None (no obstacles)
    :raises SafetyInputError: on a wrong shape, a non-finite value, a negative size or an
        unknown kind
    """
    if obstacles is None:
        return np.zeros((0, 3))
    rows = []
    for k, ob in enumerate(obstacles):
        if isinstance(ob, CircleObstacle):
            rows.append((ob.x, ob.y, ob.radius))
            continue
        if isinstance(ob, BoxObstacle):
            rows.append(ob.row())
            continue
        try:
            vals = [float(v) for v in ob]  # type: ignore[union-attr]
        except (TypeError, ValueError) as exc:
            raise SafetyInputError(
                f"obstacle[{k}] must be (x, y, radius) numbers, got {ob!r}") from exc
        if len(vals) not in (3, WIDE):
            raise SafetyInputError(f"obstacle[{k}] must have 3 entries (x, y, radius) or "
                                   f"{WIDE} (p0..p4, kind), got {len(vals)}")
        rows.append(tuple(vals))
    width = WIDE if any(len(r) == WIDE for r in rows) else 3
    arr = np.array([r + (0.0,) * (width - len(r)) for r in rows],
                   dtype=np.float64).reshape(-1, width)
    if not np.all(np.abs(arr) <= MAX_ABS):
        raise SafetyInputError(f"obstacles must be finite (no NaN/inf) and within "
                               f"+-{MAX_ABS:g}")
    unknown, negative, what = invalid_rows(arr)
    if np.any(unknown):
        bad = int(np.argmax(unknown))
        raise SafetyInputError(f"obstacle[{bad}] has kind {arr[bad, KIND]}: use one of "
                               f"{kinds_text()}")
    if np.any(negative):
        bad = int(np.argmax(negative))
        raise SafetyInputError(f"obstacle[{bad}] has a negative {what[bad]}: "
                               f"{arr[bad, 2:4 if width == WIDE else 3]}")
    return arr


def obstacles_tuple(obstacles: Union[Iterable[ObstacleLike], np.ndarray, None]
                    ) -> tuple[tuple[float, ...], ...]:
    """Validated obstacles as a tuple of Python-float rows (fast path of the resolver).

    :param obstacles: anything :func:`obstacles_array` accepts
    """
    return tuple(tuple(row) for row in obstacles_array(obstacles).tolist())


def check_pose(pose: object, name: str = "pose") -> tuple[float, float, float]:
    """Return ``(x, y, theta)`` as finite Python floats or raise :class:`SafetyInputError`.

    :param pose: sequence or array of 3 numbers
    :param name: what to call it in the error message
    """
    if type(pose) is np.ndarray and pose.shape == (3,) and pose.dtype == np.float64:
        x, y, th = pose.tolist()  # fast path: already float64
        if not (-MAX_ABS <= x <= MAX_ABS and -MAX_ABS <= y <= MAX_ABS
                and -MAX_ABS <= th <= MAX_ABS):
            raise SafetyInputError(f"{name} must be finite and within +-{MAX_ABS:g}, "
                                   f"got ({x}, {y}, {th})")
        return x, y, th
    try:
        x, y, th = pose  # type: ignore[misc]
        x = float(x)
        y = float(y)
        th = float(th)
    except (TypeError, ValueError) as exc:
        raise SafetyInputError(f"{name} must be 3 numbers (x, y, theta), got {pose!r}") from exc
    if not (-MAX_ABS <= x <= MAX_ABS and -MAX_ABS <= y <= MAX_ABS
            and -MAX_ABS <= th <= MAX_ABS):
        raise SafetyInputError(f"{name} must be finite and within +-{MAX_ABS:g}, "
                               f"got ({x}, {y}, {th})")
    return x, y, th


def check_command(cmd: object, name: str = "u_nom") -> tuple[float, float]:
    """Return ``(v, omega)`` as finite Python floats or raise :class:`SafetyInputError`.

    :param cmd: sequence or array of 2 numbers
    :param name: what to call it in the error message
    """
    if type(cmd) is np.ndarray and cmd.shape == (2,) and cmd.dtype == np.float64:
        v, w = cmd.tolist()
        if not (-MAX_ABS <= v <= MAX_ABS and -MAX_ABS <= w <= MAX_ABS):
            raise SafetyInputError(f"{name} must be finite and within +-{MAX_ABS:g}, "
                                   f"got ({v}, {w})")
        return v, w
    try:
        v, w = cmd  # type: ignore[misc]
        v = float(v)
        w = float(w)
    except (TypeError, ValueError) as exc:
        raise SafetyInputError(f"{name} must be 2 numbers (v, omega), got {cmd!r}") from exc
    if not (-MAX_ABS <= v <= MAX_ABS and -MAX_ABS <= w <= MAX_ABS):
        raise SafetyInputError(f"{name} must be finite and within +-{MAX_ABS:g}, "
                               f"got ({v}, {w})")
    return v, w


_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / _TWO_PI


def wrap_angle(angle: Union[float, np.ndarray]) -> Union[float, np.ndarray]:
    """Wrap angles to ``[-pi, pi)``: the one definition (filter, simulator, ROS conversions).

    A number gives a float, an array an array, with the same arithmetic (identical results,
    which the simulator's scalar and vectorized paths rely on); non-finite values give NaN.

    :param angle: angle [rad], a number or an array
    """
    if isinstance(angle, (float, int)):
        if not math.isfinite(angle):
            return math.nan
        return angle - _TWO_PI * math.floor((angle + math.pi) * _INV_TWO_PI)
    return angle - _TWO_PI * np.floor((angle + math.pi) * _INV_TWO_PI)


def vcp_point(pose: Sequence[float], offset: float) -> tuple[float, float]:
    """Virtual control point ``(x + d cos th, y + d sin th)``.

    :param pose: ``(x, y, theta)``
    :param offset: VCP offset d [m]
    """
    x, y, th = pose
    return x + offset * math.cos(th), y + offset * math.sin(th)
