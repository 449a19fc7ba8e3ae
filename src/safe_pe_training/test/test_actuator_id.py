"""Actuator identification: recordings generated with the actuator model give back its limits.

Recordings are made here with :func:`safe_pe_cbf.actuator.ramp_one` every control period and
a FIFO of ``latency_steps`` commands (what the simulator's odometry reports), plus Gaussian
odometry noise; :func:`identify` must recover every limit within 10 % and the latency
exactly. Bad recordings and files raise typed errors saying what to do.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_training.actuator_id import ExcitationError, RecordingError, identify
from safe_pe_training.actuator_log import Recording, read_csv, write_csv, zero_order_hold
from safe_pe_training.actuator_sim import model_recording, step_commands

NOISE = (0.01, 0.02)   # odometry sigma [m/s], [rad/s]


def assert_recovered(limits: ActuatorLimits, rec: Recording, dt: float) -> None:
    est = identify(**rec.arrays(), dt=dt)
    for name in ("linear_accel", "linear_decel", "angular_accel"):
        want, got = getattr(limits, name), getattr(est, name).value
        assert abs(got - want) <= 0.1 * want, f"{name}: {got:.3f} vs {want}\n{est.summary()}"
        assert getattr(est, name).samples >= 5
    assert est.latency_steps == limits.latency_steps, est.summary()
    assert math.isclose(est.latency_s, limits.latency_steps * dt, abs_tol=1e-9)
    pasted = ActuatorLimits.from_dict(yaml.safe_load(est.to_yaml())["actuator"])
    assert pasted == est.limits() and pasted.latency_steps == limits.latency_steps


@pytest.mark.parametrize("dt", [0.05, 0.1])
@pytest.mark.parametrize("latency", [0, 1, 2])
@pytest.mark.parametrize("accel", [1.0, 2.5])
def test_recovers_the_configured_limits_within_10_percent(accel, latency, dt):
    limits = ActuatorLimits(accel, 1.6 * accel, 1.28 * accel, latency)
    rng = np.random.default_rng(round(100 * accel) + 10 * latency + round(100 * dt))
    v_cmd, w_cmd = step_commands(1.0, 2.0, dt, 2.0, 3, rng)
    assert_recovered(limits, model_recording(limits, dt, v_cmd, w_cmd, NOISE, rng), dt)


@settings(max_examples=12, deadline=None)
@given(ramp_v=st.floats(3.0, 25.0), ramp_brake=st.floats(3.0, 25.0),
       ramp_w=st.floats(3.0, 25.0), latency=st.integers(0, 3),
       dt=st.sampled_from([0.05, 0.1]), v_max=st.sampled_from([0.22, 1.0, 2.0]),
       seed=st.integers(0, 2**16))
def test_recovers_random_limits(ramp_v, ramp_brake, ramp_w, latency, dt, v_max, seed):
    """Any limits whose ramps 0 <-> v_max and 0 -> omega 2 rad/s last 3..25 periods."""
    limits = ActuatorLimits(v_max / (ramp_v * dt), v_max / (ramp_brake * dt),
                            2.0 / (ramp_w * dt), latency)
    rng = np.random.default_rng(seed)
    hold = dt * max(ramp_v, ramp_brake, 2 * ramp_w, 10.0) + 0.5
    v_cmd, w_cmd = step_commands(v_max, 2.0, dt, hold, 3, rng)
    assert_recovered(limits, model_recording(limits, dt, v_cmd, w_cmd, (0.01 * v_max, 0.02), rng),
                     dt)


def test_driving_backwards_too_gives_the_same_limits():
    """The documented loop drives forward and back: |v| ramps the same way both ways."""
    limits, dt = ActuatorLimits(1.0, 2.0, 3.0, 1), 0.1
    rng = np.random.default_rng(6)
    v_cmd, w_cmd = step_commands(0.5, 2.0, dt, 1.5, 3, rng)
    v_cmd = np.where(np.cumsum(np.diff(v_cmd, prepend=0.0) > 0) % 2 == 0, -v_cmd, v_cmd)
    assert v_cmd.min() < 0 < v_cmd.max()
    assert_recovered(limits, model_recording(limits, dt, v_cmd, w_cmd, NOISE, rng), dt)


def test_timing_jitter_of_the_samples_does_not_add_a_period():
    """Odometry received a little late and unevenly (times from a recorder's clock): the
    median interval exceeds dt by a fraction of a percent, the latency stays 2 periods."""
    limits, dt = ActuatorLimits(2.5, 3.0, 3.2, 2), 0.05
    rng = np.random.default_rng(4)
    v_cmd, w_cmd = step_commands(1.0, 2.0, dt, 1.5, 2, rng)
    rec = model_recording(limits, dt, v_cmd, w_cmd, NOISE, rng)
    rec.t = rec.t * 1.002 + rng.uniform(0.0, 0.004, rec.t.size)
    est = identify(**rec.arrays(), dt=dt)
    assert est.latency_samples == 2 and est.latency_steps == 2, est.summary()
    assert abs(est.linear_decel.value / 3.0 - 1.0) <= 0.1


def test_no_limit_is_reported_as_zero_with_a_note():
    rng = np.random.default_rng(3)
    v_cmd, w_cmd = step_commands(1.0, 2.0, 0.05, 1.0, 2, rng)
    rec = model_recording(ActuatorLimits(2.0, 2.0, 0.0, 1), 0.05, v_cmd, w_cmd, NOISE, rng)
    est = identify(**rec.arrays(), dt=0.05)
    assert est.angular_accel.value == 0.0 and "no limit seen" in est.angular_accel.note
    assert est.limits().angular_accel == 0.0 and est.latency_steps == 1


def _arrays(n: int = 200, dt: float = 0.05) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    v_cmd, w_cmd = step_commands(1.0, 2.0, dt, 1.0, 3, rng)
    rec = model_recording(ActuatorLimits(2.0, 2.0, 3.0, 1), dt, v_cmd[:n], w_cmd[:n], NOISE, rng)
    return rec.arrays()


@pytest.mark.parametrize("change, match", [
    (lambda a: {k: v[:0] for k, v in a.items()}, "at least"),
    (lambda a: {k: v[:10] for k, v in a.items()}, "at least"),
    (lambda a: {**a, "v_meas": np.where(np.arange(a["t"].size) == 7, np.nan, a["v_meas"])},
     r"v_meas\[7\] is nan"),
    (lambda a: {**a, "t": a["t"][::-1].copy()}, "increase strictly"),
    (lambda a: {**a, "w_cmd": a["w_cmd"][:-1]}, "as long as t"),
    (lambda a: {**a, "t": np.array(["x"] * a["t"].size)}, "must be numbers"),
])
def test_bad_recordings_raise_recording_error(change, match):
    with pytest.raises(RecordingError, match=match):
        identify(**change(_arrays()))


def test_bad_arguments_raise_recording_error():
    with pytest.raises(RecordingError, match="dt"):
        identify(**_arrays(), dt=-0.1)
    with pytest.raises(RecordingError, match="max_latency_steps"):
        identify(**_arrays(), max_latency_steps=11)
    with pytest.raises(RecordingError, match="record longer"):   # 40 samples, lag up to 40
        identify(**_arrays(40), dt=0.2)


def test_constant_commands_say_every_manoeuvre_is_missing():
    n = 100
    with pytest.raises(ExcitationError, match="never change") as info:
        identify(np.arange(n) * 0.05, np.full(n, 0.5), np.zeros(n), np.full(n, 0.5),
                 np.zeros(n))
    assert set(info.value.missing) == {"linear_accel", "linear_decel", "angular_accel",
                                       "latency"}


def test_no_braking_asks_for_a_brake_from_speed():
    rng = np.random.default_rng(1)
    v_cmd, w_cmd = step_commands(1.0, 2.0, 0.05, 1.5, 2, rng)
    v_cmd = np.maximum.accumulate(v_cmd)        # speeds up once and never slows down
    v_cmd, w_cmd = np.r_[np.zeros(20), v_cmd], np.r_[np.zeros(20), w_cmd]   # from rest
    rec = model_recording(ActuatorLimits(2.0, 2.0, 3.0, 0), 0.05, v_cmd, w_cmd, NOISE, rng)
    with pytest.raises(ExcitationError, match="brake from speed") as info:
        identify(**rec.arrays(), dt=0.05)
    assert info.value.missing == ["linear_decel"]


def test_small_steps_only_cannot_tell_a_limit():
    """Speed changes of 0.05 m/s (up to 1 m/s and back) are done in one period at 2 m/s^2:
    no sample shows the limit."""
    dt = 0.05
    stairs = 0.05 * np.r_[np.arange(21), np.arange(19, -1, -1)]
    v_cmd = np.repeat(np.tile(stairs, 2), 5)
    n = v_cmd.size
    w_cmd = np.repeat([0.0, 2.0, -2.0, 0.0], n // 4 + 1)[:n]
    rec = model_recording(ActuatorLimits(2.0, 2.0, 3.0, 0), dt, v_cmd, w_cmd, NOISE,
                    np.random.default_rng(2))
    with pytest.raises(ExcitationError, match="within one sample") as info:
        identify(**rec.arrays(), dt=dt)
    assert set(info.value.missing) == {"linear_accel", "linear_decel"}


def test_csv_round_trip_and_bad_files(tmp_path):
    rec = Recording(**_arrays())
    path = tmp_path / "run.csv"
    write_csv(path, rec)
    back = read_csv(path)
    for name, values in rec.arrays().items():
        np.testing.assert_allclose(getattr(back, name), values, rtol=1e-8, atol=1e-12)
    cases = {"empty.csv": ("", "is empty"),
             "cols.csv": ("t,v_cmd,w_cmd,v_meas\n0,0,0,0\n", "no column w_meas"),
             "text.csv": ("t,v_cmd,w_cmd,v_meas,w_meas\n0,0,0,0,zero\n", "data row 1"),
             "short.csv": ("t,v_cmd,w_cmd,v_meas,w_meas\n0,0,0\n", "data row 1")}
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(RecordingError, match=match):
            read_csv(tmp_path / name)
    with pytest.raises(RecordingError, match="cannot read"):
        read_csv(tmp_path / "missing.csv")


def test_a_command_stamped_with_an_odometry_time_counts_from_the_next_one():
    """The filter and the lock-step simulator stamp a command with the state it answers: the
    odometry of that stamp was published before the command and cannot show it."""
    t_cmd = np.array([0.0, 0.1, 0.2])
    cmd = np.array([[1.0], [2.0], [3.0]])
    valid, held = zero_order_hold(t_cmd, cmd, np.array([0.0, 0.05, 0.1, 0.2, 0.25]))
    assert valid.tolist() == [False, True, True, True, True]
    assert held[1:, 0].tolist() == [1.0, 1.0, 2.0, 3.0]
