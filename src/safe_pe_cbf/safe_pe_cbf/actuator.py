"""Actuator limits of a differential-drive base: velocity ramps and command latency.

Real bases do not follow a velocity command at once: a velocity smoother (Nav2's
``velocity_smoother``: 2.5 m/s^2 and 3.2 rad/s^2 by default) or the motor controller limits how
fast the velocity changes, and a command reaches the wheels ``latency_steps`` control periods
after the state it was computed from. This module is the one description of that model:

- :class:`ActuatorLimits`: the limits of one robot (0 = that part is ideal, as before);
- :func:`ramp_one`: the velocity a base holds for the next period, given the velocity it held
  for the last one and the command that takes effect now (the discrete ramp of a velocity
  smoother run at the control rate: each period the velocity moves toward the command by at
  most ``accel * dt``, ``decel * dt`` while the speed falls, and is held for that period).

The simulator applies it to every robot; the safety filter uses the same limits to predict
the state through the latency and to keep every state brakable (docs/actuation.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from safe_pe_cbf.dataclass_io import from_mapping
from safe_pe_cbf.errors import ConfigError
from safe_pe_cbf.jit import njit

__all__ = ["ActuatorLimits", "ACTUATOR_RANGES", "MAX_LATENCY_STEPS", "ramp_one", "ramp_axis"]

#: the longest latency accepted [control periods]
MAX_LATENCY_STEPS = 10
#: accepted ranges of the limits: 0 is "ideal" (no limit); a positive value is a limit
ACTUATOR_RANGES: dict[str, tuple[float, float]] = {
    "linear_accel": (0.0, 1000.0),
    "linear_decel": (0.0, 1000.0),
    "angular_accel": (0.0, 1000.0),
}


@dataclass
class ActuatorLimits:
    """Velocity ramps and command latency of one robot (all zero: ideal actuation).

    :param linear_accel: largest rate at which |v| grows [m/s^2] (0: at once)
    :param linear_decel: largest rate at which |v| falls, i.e. the braking limit [m/s^2]
        (0: at once)
    :param angular_accel: largest rate of change of omega [rad/s^2] (0: at once)
    :param latency_steps: control periods between the state a command was computed from and
        the period in which the base starts to follow it (0..MAX_LATENCY_STEPS); measure the
        latency in seconds and round it up to whole periods
    """

    linear_accel: float = 0.0
    linear_decel: float = 0.0
    angular_accel: float = 0.0
    latency_steps: int = 0

    def __post_init__(self) -> None:
        self.validate()

    @property
    def ideal(self) -> bool:
        """Whether commands take effect at once and exactly (today's model)."""
        return (self.linear_accel == 0.0 and self.linear_decel == 0.0
                and self.angular_accel == 0.0 and self.latency_steps == 0)

    def validate(self, where: str = "actuator") -> "ActuatorLimits":
        """Check every field; raise :class:`ConfigError` saying what to fix. Returns self.

        :param where: name of this section in messages (e.g. ``pursuer.actuator``)
        """
        for name, (lo, hi) in ACTUATOR_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or not lo <= value <= hi:
                raise ConfigError(
                    f"{where}.{name} = {value!r} must be a number in [{lo:g}, {hi:g}]: the "
                    f"limit in SI units (e.g. 2.5 m/s^2 or 3.2 rad/s^2), or 0 for none")
            setattr(self, name, float(value))
        steps = self.latency_steps
        if isinstance(steps, bool) or not isinstance(steps, int) \
                or not 0 <= steps <= MAX_LATENCY_STEPS:
            raise ConfigError(
                f"{where}.latency_steps = {steps!r} must be an integer in "
                f"[0, {MAX_LATENCY_STEPS}]: the command latency in control periods, rounded up")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML friendly)."""
        return {"linear_accel": self.linear_accel, "linear_decel": self.linear_decel,
                "angular_accel": self.angular_accel, "latency_steps": self.latency_steps}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "actuator") -> "ActuatorLimits":
        """Build from a mapping; unknown keys and wrong types raise :class:`ConfigError`.

        :param data: field name -> value
        :param where: name of this section in messages
        """
        return from_mapping(cls, data, ConfigError, where=where)


@njit(cache=True, inline="always")
def ramp_axis(prev: float, cmd: float, dt: float, accel: float, decel: float) -> float:
    """One velocity component after one period of ramping from ``prev`` toward ``cmd``.

    The magnitude falls at most ``decel * dt`` and grows at most ``accel * dt``; a sign change
    first brakes to zero (at ``decel``) and then accelerates for the rest of the period. A
    limit of 0 is no limit.

    :param prev: the value held for the last period
    :param cmd: the commanded value
    :param dt: the period [s]
    :param accel: growth limit of the magnitude per second (0: none)
    :param decel: fall limit of the magnitude per second (0: none)
    """
    if cmd == prev:
        return cmd
    if prev == 0.0 or (prev > 0.0) == (cmd > 0.0) and abs(cmd) > abs(prev):
        # the magnitude grows (same sign, or from rest)
        if accel == 0.0:
            return cmd
        step = accel * dt
        return min(cmd, prev + step) if cmd > prev else max(cmd, prev - step)
    # the magnitude falls toward cmd, or toward zero when the sign changes
    target = cmd if (prev > 0.0) == (cmd > 0.0) or cmd == 0.0 else 0.0
    if decel == 0.0:
        left = dt
        value = target
    else:
        need = abs(prev - target) / decel              # time to reach target at the limit
        if need >= dt:
            return prev - decel * dt if prev > target else prev + decel * dt
        left = dt - need
        value = target
    if value == cmd:
        return cmd
    # sign change: accelerate from rest toward cmd for what is left of the period
    if accel == 0.0:
        return cmd
    step = accel * left
    return min(cmd, step) if cmd > 0.0 else max(cmd, -step)


@njit(cache=True)
def ramp_one(v_prev: float, w_prev: float, v_cmd: float, w_cmd: float, dt: float,
             linear_accel: float, linear_decel: float,
             angular_accel: float) -> tuple[float, float]:
    """The (v, omega) a base holds for the next period (see the module docstring).

    :param v_prev: linear velocity held for the last period [m/s]
    :param w_prev: angular velocity held for the last period [rad/s]
    :param v_cmd: the linear velocity command taking effect now [m/s]
    :param w_cmd: the angular velocity command taking effect now [rad/s]
    :param dt: the control period [s]
    :param linear_accel: :attr:`ActuatorLimits.linear_accel`
    :param linear_decel: :attr:`ActuatorLimits.linear_decel`
    :param angular_accel: :attr:`ActuatorLimits.angular_accel`
    """
    return (ramp_axis(v_prev, v_cmd, dt, linear_accel, linear_decel),
            ramp_axis(w_prev, w_cmd, dt, angular_accel, angular_accel))
