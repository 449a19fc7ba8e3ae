"""Typed configuration of the CBF safety filter (:class:`CBFConfig`).

Defaults match the research scenario (docs/cbf.md): dt 0.05 s, robot radius 0.15 m,
v in [0, 1] m/s, |omega| <= 2.84 rad/s, VCP offset 0.05 m, both robots filtered.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

from safe_pe_cbf.errors import ConfigError

__all__ = ["CBFConfig", "GROUPS", "COLLISION_MODES", "SOLVERS"]

#: Constraint groups, names used in ``relaxation_order`` and ``ConstraintSet.groups``.
GROUPS = ("collision", "arena", "obstacles")
#: ``shared``: the opponent is filtered too (responsibility split by ``collision_share``);
#: ``worst_case``: the opponent is unfiltered and may move at ``opponent_v_max`` anywhere.
COLLISION_MODES = ("shared", "worst_case")
SOLVERS = ("exact", "osqp")


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
    :param feasibility_tol: constraint tolerance of the solvers [scaled units], > 0
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

    def __post_init__(self) -> None:
        self.weights = tuple(self.weights)  # type: ignore[assignment]
        self.relaxation_order = tuple(self.relaxation_order)
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> "CBFConfig":
        """Check every field; raise :class:`ConfigError` saying what to fix. Returns self."""
        floats = ("vcp_offset", "dt", "robot_radius", "v_min", "v_max", "omega_max",
                  "opponent_radius", "opponent_vcp_offset", "opponent_v_max",
                  "opponent_omega_max", "collision_share", "gamma", "margin",
                  "feasibility_tol")
        for name in floats:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"CBFConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"CBFConfig.{name} must be finite, got {value}")
            setattr(self, name, float(value))
        positive = ("vcp_offset", "dt", "omega_max", "feasibility_tol")
        for name in positive:
            if getattr(self, name) <= 0.0:
                raise ConfigError(f"CBFConfig.{name} must be > 0, got {getattr(self, name)}")
        nonneg = ("robot_radius", "opponent_radius", "opponent_vcp_offset", "opponent_v_max",
                  "opponent_omega_max", "margin")
        for name in nonneg:
            if getattr(self, name) < 0.0:
                raise ConfigError(f"CBFConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not (self.v_min <= 0.0 <= self.v_max and self.v_min < self.v_max):
            raise ConfigError(
                f"CBFConfig needs v_min <= 0 <= v_max and v_min < v_max (the backup must be "
                f"able to stop), got v_min={self.v_min}, v_max={self.v_max}")
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"CBFConfig.gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 < self.collision_share <= 1.0:
            raise ConfigError(
                f"CBFConfig.collision_share must be in (0, 1], got {self.collision_share}")
        if self.collision_mode not in COLLISION_MODES:
            raise ConfigError(f"CBFConfig.collision_mode must be one of {COLLISION_MODES}, "
                              f"got {self.collision_mode!r}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"CBFConfig.solver must be one of {SOLVERS}, got {self.solver!r}")
        if not isinstance(self.osqp_warm_start, bool):
            raise ConfigError(f"CBFConfig.osqp_warm_start must be a bool, "
                              f"got {self.osqp_warm_start!r}")
        if len(self.weights) != 2:
            raise ConfigError(f"CBFConfig.weights must be (w_v, w_omega), got {self.weights}")
        weights = []
        for w in self.weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) \
                    or w <= 0.0:
                raise ConfigError(f"CBFConfig.weights must be finite and > 0, "
                                  f"got {self.weights}")
            weights.append(float(w))
        self.weights = (weights[0], weights[1])
        if sorted(self.relaxation_order) != sorted(GROUPS):
            raise ConfigError(f"CBFConfig.relaxation_order must be a permutation of {GROUPS}, "
                              f"got {self.relaxation_order}")
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
    def opponent_vcp_speed_max(self) -> float:
        """Bound on the opponent VCP's speed (worst_case mode) [m/s]."""
        return math.sqrt(self.opponent_v_max ** 2
                         + (self.opponent_vcp_offset * self.opponent_omega_max) ** 2)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (lists for tuples), suitable for YAML/JSON."""
        out = dataclasses.asdict(self)
        out["weights"] = list(self.weights)
        out["relaxation_order"] = list(self.relaxation_order)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CBFConfig":
        """Build from a mapping; unknown keys are an error (typos must not pass silently).

        :param data: field name -> value
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"CBFConfig.from_dict needs a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown CBFConfig keys {unknown}; valid keys: {sorted(names)}")
        kwargs = dict(data)
        for key in ("weights", "relaxation_order"):
            if key in kwargs:
                try:
                    kwargs[key] = tuple(kwargs[key])
                except TypeError as exc:
                    raise ConfigError(f"CBFConfig.{key} must be a list, "
                                      f"got {kwargs[key]!r}") from exc
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> "CBFConfig":
        """Load from a YAML file holding a mapping (optionally under a ``cbf:`` key).

        :param path: file path
        """
        import yaml

        try:
            with open(path, "r", encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read CBF config {path}: {exc}") from exc
        if isinstance(data, Mapping) and set(data) == {"cbf"}:
            data = data["cbf"]
        return cls.from_dict(data if data is not None else {})

    def to_yaml(self, path: Union[str, Path]) -> None:
        """Write as YAML (atomically: temp file + rename).

        :param path: file path
        """
        import os
        import tempfile

        import yaml

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
