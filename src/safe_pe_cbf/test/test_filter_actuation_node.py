"""The filter node under actuator limits (no rclpy): its actuator.* parameters, the measured
velocity from odometry, the model when the twist is missing or stale, the queue of commands
not yet in effect (docs/actuation.md §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_cbf.actuator import MAX_LATENCY_STEPS, ActuatorLimits, ramp_one
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.resolver import Tier
from safe_pe_cbf.ros.filter_params import all_specs, settings_from_values
from safe_pe_cbf.ros.filter_pipeline import FilterPipeline
from safe_pe_cbf.ros_common.param_specs import defaults

BOUNDS = (-3.0, 3.0, -3.0, 3.0)
LIMITS = ActuatorLimits(2.5, 2.5, 3.2, 1)


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _values(**changes):
    values = defaults(all_specs().values())
    values.update(changes)
    return values


def _pipeline(limits: ActuatorLimits = LIMITS) -> tuple[FilterPipeline, _Clock]:
    clock = _Clock()
    cfg = CBFConfig(v_max=1.0, dt=0.05, actuator=limits)
    p = FilterPipeline(cfg, state_timeout=0.5, clock=clock)
    p.set_arena(BOUNDS, np.zeros((0, 3)))
    return p, clock


def test_actuator_parameters_build_the_config():
    s = settings_from_values(_values(**{"actuator.linear_accel": 2.5, "actuator.linear_decel": 3,
                                        "actuator.angular_accel": 3.2,
                                        "actuator.latency_steps": 2,
                                        "opponent_actuator.linear_decel": 1.0}))
    assert s.cbf.actuator == ActuatorLimits(2.5, 3.0, 3.2, 2)
    assert s.cbf.opponent_actuator == ActuatorLimits(0.0, 1.0, 0.0, 0)
    assert settings_from_values(_values()).cbf.actuator.ideal  # default: today's model
    specs = all_specs()
    assert specs["actuator.latency_steps"].max_value == MAX_LATENCY_STEPS
    assert specs["actuator.linear_decel"].descriptor().description


@pytest.mark.parametrize("changes, fragment", [
    ({"actuator.linear_decel": -1.0}, "actuator.linear_decel"),
    ({"actuator.linear_accel": math.nan}, "finite"),
    ({"actuator.angular_accel": 1e9}, "actuator.angular_accel"),
    ({"actuator.latency_steps": MAX_LATENCY_STEPS + 1}, "actuator.latency_steps"),
    ({"actuator.latency_steps": -1}, "actuator.latency_steps"),
    ({"opponent_actuator.linear_decel": math.inf}, "opponent_actuator.linear_decel"),
    ({"actuator.linear_decel": 1e-300}, "absurdly small"),
])
def test_bad_actuator_values_are_rejected_with_a_reason(changes, fragment):
    with pytest.raises(ValueError, match="invalid filter parameters") as info:
        settings_from_values(_values(**changes))
    assert fragment in str(info.value)


def test_measured_twist_is_used_and_the_queue_holds_the_commands_sent():
    p, clock = _pipeline()
    p.set_state(np.array([0.0, 0.0, 0.0]), velocity=(0.5, 0.0))
    d = p.process(1.0, 0.0)
    assert p.velocity_source == "measured" and d.tier == Tier.NOMINAL
    assert p.pending() == [(1.0, 0.0)]  # latency 1: this command is not in effect yet
    # the model now holds ramp(0.5 -> the command that took effect: the worst case stand-in)
    clock.t += 0.05
    p.set_state(np.array([0.025, 0.0, 0.0]), velocity=(0.6, 0.0))
    p.process(0.0, 0.0)
    assert p.velocity_source == "measured" and p.pending() == [(0.0, 0.0)]


def test_zero_twist_while_moving_and_stale_twist_use_the_model():
    p, clock = _pipeline(ActuatorLimits(2.5, 2.5, 3.2, 0))
    p.set_state(np.array([0.0, 0.0, 0.0]), velocity=(0.4, 0.0))
    p.process(1.0, 0.0)
    expected = ramp_one(0.4, 0.0, 1.0, 0.0, 0.05, 2.5, 2.5, 3.2)
    clock.t += 0.05
    p.set_state(np.array([0.03, 0.0, 0.0]), velocity=(0.0, 0.0))  # zeros while it moves
    p.process(1.0, 0.0)
    assert p.velocity_source == "model" and p._held_used is None
    clock.t += 0.05
    p.set_state(np.array([0.06, 0.0, 0.0]))  # no twist: the last one is stale
    assert p.held_velocity(clock.t)[1] == "model"
    second = ramp_one(*expected, 1.0, 0.0, 0.05, 2.5, 2.5, 3.2)
    assert p.held_velocity(clock.t)[0] == pytest.approx(second)
    # a robot at rest may report zeros: that is a measurement
    p.set_state(np.array([0.06, 0.0, 0.0]), velocity=(0.0, 0.0))
    assert p.held_velocity(clock.t) == ((0.0, 0.0), "measured")


def test_nothing_sent_assumes_full_speed_and_brakes_near_a_wall():
    p, clock = _pipeline(ActuatorLimits(1.0, 1.0, 3.2, 1))
    # 0.5 m from the wall's keep-out, heading at it; at 1 m/s with 1 m/s^2 it needs ~0.5 m
    p.set_state(np.array([2.2, 0.0, 0.0]))
    d = p.process(1.0, 0.0)
    assert p.velocity_source.startswith("worst case")
    assert d.command[0] < 1.0 and d.intervened
    # the same state with a measured standstill lets the robot go
    q, _ = _pipeline(ActuatorLimits(1.0, 1.0, 3.2, 1))
    q.set_state(np.array([2.2, 0.0, 0.0]), velocity=(0.0, 0.0))
    q._commands = [(0.0, 0.0)]
    assert q.process(1.0, 0.0).tier == Tier.NOMINAL


def test_ideal_config_ignores_the_twist():
    p, _ = _pipeline(ActuatorLimits())
    p.set_state(np.array([0.0, 0.0, 0.0]), velocity=(math.nan, 0.0))
    d = p.process(1.0, 0.0)
    assert d.tier == Tier.NOMINAL and p._held_estimate is None
