"""The actuator model (safe_pe_cbf.actuator): limits validated, ramps within their limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safe_pe_cbf.actuator import MAX_LATENCY_STEPS, ActuatorLimits, ramp_axis, ramp_one
from safe_pe_cbf.errors import ConfigError

speeds = st.floats(-3.0, 3.0, allow_nan=False)
limits = st.one_of(st.just(0.0), st.floats(0.1, 10.0))


def test_defaults_are_ideal_and_round_trip():
    assert ActuatorLimits().ideal
    limits_ = ActuatorLimits(2.5, 2.5, 3.2, 1)
    assert not limits_.ideal
    assert ActuatorLimits.from_dict(limits_.to_dict()) == limits_


@pytest.mark.parametrize('field, value', [
    ('linear_accel', -1.0), ('linear_decel', math.nan), ('angular_accel', math.inf),
    ('linear_accel', 1e6), ('linear_decel', '2.5'), ('latency_steps', -1),
    ('latency_steps', MAX_LATENCY_STEPS + 1), ('latency_steps', 1.5), ('latency_steps', True)])
def test_bad_limits_are_rejected_with_the_field_named(field, value):
    with pytest.raises(ConfigError, match=field):
        ActuatorLimits(**{field: value})
    with pytest.raises(ConfigError, match=field):
        ActuatorLimits.from_dict({field: value})


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match='unknown'):
        ActuatorLimits.from_dict({'linear_acel': 1.0})


@settings(max_examples=400, deadline=None)
@given(prev=speeds, cmd=speeds, accel=limits, decel=limits, dt=st.floats(0.01, 0.2))
def test_ramp_moves_toward_the_command_within_the_limits(prev, cmd, accel, decel, dt):
    out = ramp_axis(prev, cmd, dt, accel, decel)
    # never past the command, never away from it
    assert min(prev, cmd) - 1e-12 <= out <= max(prev, cmd) + 1e-12
    # the speed falls at most decel*dt (while it falls) and grows at most accel*dt
    big = 1e9
    a, d = accel or big, decel or big
    if prev * out >= 0.0 and abs(out) <= abs(prev):
        assert abs(prev) - abs(out) <= d * dt + 1e-9
    elif prev * out >= 0.0:
        assert abs(out) - abs(prev) <= a * dt + 1e-9
    else:   # crossed zero: braked |prev| at decel, then accelerated in the time left
        t_brake = abs(prev) / d
        assert t_brake <= dt + 1e-12
        assert abs(out) <= a * (dt - t_brake) + 1e-6
    if accel == 0.0 and decel == 0.0:
        assert out == cmd


def test_braking_takes_v_over_decel_and_ideal_is_instant():
    v, steps = 1.0, 0
    while v > 0.0:
        v, _ = ramp_one(v, 0.0, 0.0, 0.0, 0.05, 2.5, 2.5, 3.2)
        steps += 1
    assert steps == 8          # 1.0 m/s at 2.5 m/s^2 = 0.4 s = 8 periods of 0.05 s
    assert ramp_one(1.0, 2.0, -0.5, -1.0, 0.05, 0.0, 0.0, 0.0) == (-0.5, -1.0)
    # reversing at the limits: 0.1 m/s brakes in 0.04 s, then 0.01 s at 2 m/s^2
    v, w = ramp_one(0.1, 2.0, -1.0, -2.0, 0.05, 2.0, 2.5, 4.0)
    assert v == pytest.approx(-0.02) and w == pytest.approx(1.8)
