"""Typed configuration of the CBF safety filter (:class:`CBFConfig`).

Defaults match the research scenario (docs/cbf.md): dt 0.05 s, robot radius 0.15 m,
v in [0, 1] m/s, |omega| <= 2.84 rad/s, VCP offset 0.05 m, both robots filtered.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

import yaml

from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_cbf.dataclass_io import from_mapping
from safe_pe_cbf.errors import ConfigError

__all__ = ["CBFConfig", "GROUPS", "COLLISION_MODES", "SOLVERS", "FIELD_RANGES", "WEIGHT_RANGE",
           "MAX_WEIGHT_RATIO", "check_weights", "ConfigLoader", "load_yaml"]

#: Constraint groups, names used in ``relaxation_order`` and ``ConstraintSet.groups``.
GROUPS = ("collision", "arena", "obstacles")
#: ``shared``: the opponent is filtered too (responsibility split by ``collision_share``);
#: ``worst_case``: the opponent is unfiltered and may move at ``opponent_v_max`` anywhere.
COLLISION_MODES = ("shared", "worst_case")
SOLVERS = ("exact", "osqp")

#: Accepted values of every numeric field: ``name -> (low, high, low is excluded)``, high
#: included. Physically sensible bounds for a ground robot (speeds <= 100 m/s, lengths <= 10 m,
#: periods <= 1 s) that keep every derived quantity far from overflow, and solver tolerances
#: small enough that a "feasible" command is feasible (docs/cbf.md).
FIELD_RANGES: dict[str, tuple[float, float, bool]] = {
    "vcp_offset": (0.0, 1.0, True),
    "dt": (1e-4, 1.0, False),
    "robot_radius": (0.0, 10.0, False),
    "v_min": (-100.0, 0.0, False),
    "v_max": (0.0, 100.0, False),
    "omega_max": (1e-3, 100.0, False),
    "opponent_radius": (0.0, 10.0, False),
    "opponent_vcp_offset": (0.0, 1.0, False),
    "opponent_v_max": (0.0, 100.0, False),
    "opponent_omega_max": (0.0, 100.0, False),
    "collision_share": (0.0, 1.0, True),
    "gamma": (0.0, 1.0, True),
    "margin": (0.0, 10.0, False),
    "feasibility_tol": (1e-15, 1e-6, False),
}
#: what to do when a field is out of range (the end of the ConfigError message)
FIELD_HINTS: dict[str, str] = {
    "vcp_offset": "use the VCP distance ahead of the axle in metres, e.g. 0.05",
    "dt": "use the control period in seconds (e.g. 0.05 or 0.1), not milliseconds",
    "robot_radius": "use the radius of the disk around the body in metres",
    "v_min": "use 0 (no reversing) or the negative reverse speed limit in m/s (0 must be "
             "reachable: the backup brakes)",
    "v_max": "use the robot's forward speed limit in m/s",
    "omega_max": "use the robot's angular speed limit in rad/s",
    "opponent_radius": "use the other robot's body radius in metres",
    "opponent_vcp_offset": "use the VCP offset of the other robot's filter in metres",
    "opponent_v_max": "use a bound on the other robot's speed in m/s",
    "opponent_omega_max": "use a bound on the other robot's angular speed in rad/s",
    "collision_share": "use this robot's share of the collision avoidance, e.g. 0.5",
    "gamma": "use the CBF decay rate per step, e.g. 0.5",
    "margin": "use an extra clearance in metres, e.g. 0.01",
    "feasibility_tol": "use the solver's default 1e-9; a large tolerance certifies commands "
                       "that violate the constraints",
}
#: smallest accepted positive acceleration limit of the actuator sections [m/s^2, rad/s^2]
MIN_ACTUATOR_LIMIT = 1e-3
#: accepted range of each QP weight, and the largest ratio between the two (a near-zero
#: weight makes the scaled QP blind to violations in that coordinate)
WEIGHT_RANGE = (1e-3, 1e3)
MAX_WEIGHT_RATIO = 1e3


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads ``3e-4`` and ``1E9`` (no dot) as floats, like YAML 1.2.

    PyYAML follows YAML 1.1, where such scalars are strings; with this loader every config
    reader can reject strings for numbers (a quoted ``"0.5"`` is a mistake, not a number).
    """


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


def load_yaml(text: str) -> Any:
    """Parse a YAML document with :class:`ConfigLoader` (``yaml.YAMLError`` on bad YAML).

    :param text: the document
    """
    return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass


def check_weights(weights: object) -> tuple[float, float]:
    """Validated QP weights ``(w_v, w_omega)`` or :class:`ConfigError` saying what to fix.

    :param weights: two numbers within :data:`WEIGHT_RANGE`, ratio <= :data:`MAX_WEIGHT_RATIO`
    """
    try:
        items = tuple(weights)  # type: ignore[arg-type]
    except TypeError:
        items = ()
    if len(items) != 2:
        raise ConfigError(f"CBFConfig.weights must be (w_v, w_omega), got {weights!r}")
    out = []
    for w in items:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) \
                or not WEIGHT_RANGE[0] <= w <= WEIGHT_RANGE[1]:
            raise ConfigError(f"CBFConfig.weights must be numbers in [{WEIGHT_RANGE[0]:g}, "
                              f"{WEIGHT_RANGE[1]:g}], got {weights!r}: use e.g. (1.0, 0.25)")
        out.append(float(w))
    if max(out) > MAX_WEIGHT_RATIO * min(out):
        raise ConfigError(f"CBFConfig.weights {weights!r}: the larger weight must be at most "
                          f"{MAX_WEIGHT_RATIO:g} times the smaller (a near-zero weight hides "
                          f"constraint violations from the QP); use e.g. (1.0, 0.25)")
    return out[0], out[1]


@dataclass
class CBFConfig:
    """Parameters of the sampled-data VCP-CBF filter of one robot.

    :param vcp_offset: distance d of the virtual control point ahead of the axle [m], > 0
    :param dt: control period (zero-order hold) [s], > 0
    :param robot_radius: radius of the robot's body disk around the axle midpoint [m], >= 0
    :param v_min: lowest linear speed [m/s], <= 0 (0 must be reachable: the backup brakes)
    :param v_max: highest linear speed [m/s], >= 0 and > v_min
    :param omega_max: highest |angular speed| [rad/s], > 0
    :param opponent_radius: body radius of the other robot [m], >= 0
    :param opponent_vcp_offset: VCP offset the other robot's filter uses [m], >= 0
    :param opponent_v_max: bound on the other robot's linear speed [m/s] (worst_case mode)
    :param opponent_omega_max: bound on its |angular speed| [rad/s] (worst_case mode)
    :param collision_mode: "shared" (both robots filtered from the same sampled state) or
        "worst_case" (opponent unfiltered, bounded by opponent_v_max/omega_max)
    :param collision_share: this robot's share of the robot-robot decay budget in "shared"
        mode, in (0, 1]; the two robots' shares must sum to <= 1
    :param gamma: discrete-time CBF rate in (0, 1]: h(t+dt) >= (1 - gamma) h(t)
    :param weights: (w_v, w_omega) > 0; the QP minimises |W (u - u_nom)|^2, W = diag(weights)
    :param margin: extra clearance added to every body-level distance [m], >= 0
    :param relaxation_order: groups softened first to last when the QP is infeasible
        (a permutation of GROUPS); the last one is kept strictest longest
    :param solver: "exact" (active-set enumeration) or "osqp"
    :param osqp_warm_start: with solver "osqp", set up once and update() per call
    :param feasibility_tol: constraint tolerance of the solvers [scaled units], in
        [1e-15, 1e-6]; every command is also checked against the unscaled constraints
    :param actuator: this robot's velocity ramps and command latency (docs/actuation.md);
        the default (all 0) is ideal actuation, the model of docs/cbf.md
    :param opponent_actuator: the other robot's (its braking limits and latency bound how far
        it travels before it stops in "shared" mode); default ideal

    Numeric fields must lie in :data:`FIELD_RANGES`, weights in :data:`WEIGHT_RANGE` with a
    ratio <= :data:`MAX_WEIGHT_RATIO`; anything else raises :class:`ConfigError`.
    """

    vcp_offset: float = 0.05
    dt: float = 0.05
    robot_radius: float = 0.15
    v_min: float = 0.0
    v_max: float = 1.0
    omega_max: float = 2.84
    opponent_radius: float = 0.15
    opponent_vcp_offset: float = 0.05
    opponent_v_max: float = 1.0
    opponent_omega_max: float = 2.84
    collision_mode: str = "shared"
    collision_share: float = 0.5
    gamma: float = 0.5
    weights: tuple[float, float] = (1.0, 0.25)
    margin: float = 0.01
    relaxation_order: tuple[str, ...] = field(default_factory=lambda: GROUPS)
    solver: str = "exact"
    osqp_warm_start: bool = True
    feasibility_tol: float = 1e-9
    actuator: ActuatorLimits = field(default_factory=ActuatorLimits)
    opponent_actuator: ActuatorLimits = field(default_factory=ActuatorLimits)

    def __post_init__(self) -> None:
        for name in ("weights", "relaxation_order"):
            try:
                setattr(self, name, tuple(getattr(self, name)))
            except TypeError as exc:
                raise ConfigError(f"CBFConfig.{name} must be a list, "
                                  f"got {getattr(self, name)!r}") from exc
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> "CBFConfig":
        """Check every field; raise :class:`ConfigError` saying what to fix. Returns self."""
        for name, (lo, hi, open_lo) in FIELD_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"CBFConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"CBFConfig.{name} must be finite, got {value}")
            value = float(value)
            if value < lo or value > hi or (open_lo and value == lo):
                raise ConfigError(
                    f"CBFConfig.{name} = {value!r} is outside its accepted range "
                    f"{'(' if open_lo else '['}{lo:g}, {hi:g}]: {FIELD_HINTS[name]}")
            setattr(self, name, value)
        if not self.v_min < self.v_max:
            raise ConfigError(
                f"CBFConfig needs v_min <= 0 <= v_max and v_min < v_max (the backup must be "
                f"able to stop), got v_min={self.v_min}, v_max={self.v_max}")
        if self.collision_mode not in COLLISION_MODES:
            raise ConfigError(f"CBFConfig.collision_mode must be one of {COLLISION_MODES}, "
                              f"got {self.collision_mode!r}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"CBFConfig.solver must be one of {SOLVERS}, got {self.solver!r}")
        if not isinstance(self.osqp_warm_start, bool):
            raise ConfigError(f"CBFConfig.osqp_warm_start must be a bool, "
                              f"got {self.osqp_warm_start!r}")
        self.weights = check_weights(self.weights)
        if not all(isinstance(g, str) for g in self.relaxation_order) \
                or sorted(self.relaxation_order) != sorted(GROUPS):
            raise ConfigError(f"CBFConfig.relaxation_order must be a permutation of {GROUPS}, "
                              f"got {self.relaxation_order}")
        for name in ("actuator", "opponent_actuator"):
            section = getattr(self, name)
            if not isinstance(section, ActuatorLimits):
                raise ConfigError(f"CBFConfig.{name} must be an ActuatorLimits (or a mapping "
                                  f"in YAML), got {type(section).__name__}")
            section.validate(f"CBFConfig.{name}")
            for limit in ("linear_accel", "linear_decel", "angular_accel"):
                value = getattr(section, limit)
                if 0.0 < value < MIN_ACTUATOR_LIMIT:
                    raise ConfigError(
                        f"CBFConfig.{name}.{limit} = {value!r} is absurdly small: the base "
                        f"would need hours to stop; use the measured limit (>= "
                        f"{MIN_ACTUATOR_LIMIT:g}) or 0 for none (ideal)")
        return self

    # ------------------------------------------------------------------ derived values
    @property
    def vcp_speed_max(self) -> float:
        """Largest VCP speed |J(theta) u| over the command box [m/s]."""
        v = max(-self.v_min, self.v_max)
        return math.sqrt(v * v + (self.vcp_offset * self.omega_max) ** 2)

    @property
    def sampling_coeff(self) -> float:
        """c = omega_max * vcp_speed_max / 2: |VCP path - straight line| <= c t^2 [m/s^2]."""
        return 0.5 * self.omega_max * self.vcp_speed_max

    @property
    def actuated(self) -> bool:
        """Whether the actuation model is not ideal for this filter (its own limits, or the
        opponent's in "shared" mode): then the rows of docs/actuation.md are used."""
        return not self.actuator.ideal or (self.collision_mode == "shared"
                                           and not self.opponent_actuator.ideal)

    @property
    def opponent_vcp_speed_max(self) -> float:
        """Bound on the opponent VCP's speed (worst_case mode) [m/s]."""
        return math.sqrt(self.opponent_v_max ** 2
                         + (self.opponent_vcp_offset * self.opponent_omega_max) ** 2)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (lists for tuples), suitable for YAML/JSON; an ideal actuator
        section (the default) is left out, so configs and their hashes from before the
        actuator model stay the same."""
        out = dataclasses.asdict(self)
        for name in ("actuator", "opponent_actuator"):
            if getattr(self, name).ideal:
                del out[name]
        out["weights"] = list(self.weights)
        out["relaxation_order"] = list(self.relaxation_order)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CBFConfig":
        """Build from a mapping; unknown keys and values of the wrong type are an error
        (typos must not pass silently); missing keys keep their defaults.

        :param data: field name -> value
        """
        return from_mapping(cls, data, ConfigError, where="CBFConfig")

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> "CBFConfig":
        """Load from a YAML file holding a mapping (optionally under a ``cbf:`` key).

        :param path: file path
        """
        try:
            with open(path, "r", encoding="utf-8") as fh:
                data = load_yaml(fh.read())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read CBF config {path}: {exc}") from exc
        if isinstance(data, Mapping) and set(data) == {"cbf"}:
            data = data["cbf"]
        return cls.from_dict(data if data is not None else {})

    def to_yaml(self, path: Union[str, Path]) -> None:
        """Write as YAML (atomically: temp file + rename).

        :param path: file path
        """
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                yaml.safe_dump(self.to_dict(), fh, sort_keys=False)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
