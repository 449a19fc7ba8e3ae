"""Watchdog and decision logic of the filter node, with the real resolver (no rclpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.resolver import SafeActionResolver, Tier
from safe_pe_cbf.ros.filter_pipeline import FilterPipeline

BOUNDS = (-2.0, 2.0, -2.0, 2.0)
OBSTACLES = np.array([[1.0, 0.0, 0.3]])


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _pipeline(**kwargs) -> tuple[FilterPipeline, _Clock]:
    clock = _Clock()
    cfg = CBFConfig(v_max=0.22, omega_max=2.84, robot_radius=0.105, dt=0.05)
    p = FilterPipeline(cfg, state_timeout=0.5, clock=clock, **kwargs)
    p.set_arena(BOUNDS, OBSTACLES)
    return p, clock


def test_stop_until_state_then_filters_then_stale_stops_again():
    p, clock = _pipeline()
    d = p.process(0.2, 0.0)
    assert d.tier == Tier.STOP and d.command == (0.0, 0.0)
    assert "no robot state" in d.reason and d.intervened
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    d = p.process(0.1, 0.0)
    assert d.tier == Tier.NOMINAL and d.command == (0.1, 0.0) and not d.intervened
    clock.t += 0.6
    d = p.process(0.1, 0.0)
    assert d.tier == Tier.STOP and d.command == (0.0, 0.0)
    assert "stale" in d.reason and "state_timeout" in d.reason
    assert p.counters.tier_counts[Tier.STOP] == 2 and p.counters.commands == 3


def test_decisions_carry_the_stamp_of_the_state_they_were_computed_from():
    """The node stamps answers to unstamped commands with it (lock-step consumers)."""
    p, clock = _pipeline(nominal_timeout=0.2, zero_hold=1.0)
    assert p.process(0.1, 0.0).state_stamp is None  # STOP: no state yet
    p.set_state(np.array([-1.0, 1.0, 0.0]), stamp=(12, 345))
    assert p.process(0.1, 0.0).state_stamp == (12, 345)
    p.set_state(np.array([-0.9, 1.0, 0.0]), stamp=(12, 346))
    d = p.process(0.22, 0.0)
    assert d.tier == Tier.NOMINAL and d.state_stamp == (12, 346)
    p.set_state(np.array([-0.9, 1.0, 0.0]))  # an unstamped state: no stamp to echo
    assert p.process(0.1, 0.0).state_stamp is None
    p.set_state(np.array([-0.9, 1.0, 0.0]), stamp=(13, 0))
    clock.t += 0.3  # the nominal command timed out: the watchdog's zeros used no state
    z = p.tick()
    assert z is not None and z.tier == Tier.STOP and z.state_stamp is None
    clock.t += 0.3  # the state is stale now: STOP, computed from no state
    d = p.process(0.1, 0.0)
    assert d.tier == Tier.STOP and d.state_stamp is None
    p.reconfigure(p.cbf, p.state_timeout, enabled=False)
    p.set_state(np.array([-0.9, 1.0, 0.0]), stamp=(14, 0))
    assert p.process(0.1, 0.0).state_stamp is None  # DISABLED: no CBF, no state used


def test_full_speed_at_an_obstacle_is_changed():
    p, _ = _pipeline()
    p.set_state(np.array([1.0 - 0.3 - 0.105 - 0.02, 0.0, 0.0]))  # 2 cm from the obstacle
    d = p.process(0.22, 0.0)
    assert d.tier in (Tier.QP, Tier.RELAXED, Tier.BACKUP)
    assert d.intervened and d.command[0] < 0.22
    assert all(math.isfinite(c) for c in d.command)
    assert d.min_h_constraint.startswith("obstacle")


def test_disabled_passes_through_and_reconfigure_reenables():
    p, _ = _pipeline(enabled=False)
    d = p.process(0.2, 1.0)
    assert d.tier == Tier.DISABLED and d.command == (0.2, 1.0) and "enabled" in d.reason
    assert not d.intervened
    p.reconfigure(p.cbf, 0.5, enabled=True)
    d = p.process(5.0, 1.0)
    assert d.tier == Tier.STOP  # no state yet


def test_core_input_error_becomes_stop():
    p, _ = _pipeline()
    p.set_state(np.array([0.0, math.nan, 0.0]))
    d = p.process(0.1, 0.0)
    assert d.tier == Tier.STOP and "rejected" in d.reason
    assert p.counters.core_errors == 1


class _BrokenResolver(SafeActionResolver):
    """Fault injection: a resolver whose resolve() has a bug."""

    def resolve(self, pose, u_nom, opponent_pose=None):
        raise ZeroDivisionError("injected bug")


def test_unexpected_core_exception_becomes_stop():
    clock = _Clock()
    p = FilterPipeline(CBFConfig(), 0.5, clock=clock,
                       factory=lambda c, a, o: _BrokenResolver(c, a, o))
    p.set_arena((-5.0, 5.0, -5.0, 5.0), np.zeros((0, 3)))
    p.set_state(np.zeros(3))
    d = p.process(0.5, 0.0)
    assert d.tier == Tier.STOP and "ZeroDivisionError" in d.reason


def test_missing_or_stale_opponent_stops():
    p, clock = _pipeline(needs_opponent=True)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert "opponent" in p.process(0.1, 0.0).reason
    p.set_opponent(np.array([-1.0, -1.0, 0.0]))
    assert p.process(0.1, 0.0).tier != Tier.STOP
    clock.t += 0.3
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    clock.t += 0.3
    d = p.process(0.1, 0.0)
    assert d.tier == Tier.STOP and "opponent state is stale" in d.reason


@pytest.mark.parametrize("bounds", [(0.0, 0.2, 0.0, 5.0), (1.0, 0.0, 0.0, 1.0)])
def test_unusable_arena_stops_with_reason(bounds):
    p, _ = _pipeline()
    p.set_arena(bounds, np.zeros((0, 3)))
    p.set_state(np.array([0.1, 0.1, 0.0]))
    d = p.process(0.1, 0.0)
    assert d.tier == Tier.STOP and "arena" in d.reason


def test_arena_matches_avoids_rebuilds():
    p, _ = _pipeline()
    assert p.arena_matches(BOUNDS, OBSTACLES)
    assert not p.arena_matches(BOUNDS, OBSTACLES + 0.1)
    p.drop("nominal")
    assert p.counters.dropped["nominal"] == 1


def test_unicycle_arc_matches_the_closed_form():
    from safe_pe_cbf.ros.filter_pipeline import unicycle_arc

    x, y, th, v, w, t = 0.3, -0.2, 0.7, 0.5, 1.3, 0.4
    th1 = th + w * t
    expected = (x + v / w * (math.sin(th1) - math.sin(th)),
                y - v / w * (math.cos(th1) - math.cos(th)), th1)
    assert unicycle_arc(x, y, th, v, w, t) == pytest.approx(expected, abs=1e-12)
    assert unicycle_arc(0.0, 0.0, 0.0, 1.0, 0.0, 2.0) == pytest.approx((2.0, 0.0, 0.0))


def test_state_prediction_follows_the_commands_sent():
    p, clock = _pipeline(predict_state=True)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert p.process(0.2, 0.0).command == (0.2, 0.0)
    np.testing.assert_allclose(p.predicted_pose(clock.t), [-1.0, 1.0, 0.0])
    clock.t += 0.1
    np.testing.assert_allclose(p.predicted_pose(clock.t), [-0.98, 1.0, 0.0], atol=1e-12)
    assert p.process(0.0, 0.0).command == (0.0, 0.0)
    clock.t += 0.2  # stopped since: no further motion
    np.testing.assert_allclose(p.predicted_pose(clock.t), [-0.98, 1.0, 0.0], atol=1e-12)
    p.set_state(np.array([0.5, 0.5, 0.0]))  # a new state restarts the prediction there
    np.testing.assert_allclose(p.predicted_pose(clock.t), [0.5, 0.5, 0.0], atol=1e-12)
    p.process(0.1, 0.0)
    clock.t += 0.5
    np.testing.assert_allclose(p.predicted_pose(clock.t), [0.55, 0.5, 0.0], atol=1e-12)


# -- nominal-command watchdog (tick) ---------------------------------------------------------
def test_nominal_timeout_sends_zeros_for_zero_hold_then_silence():
    p, clock = _pipeline(nominal_timeout=0.1, zero_hold=0.5)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert p.process(0.2, 0.3).command == (0.2, 0.3)
    clock.t += 0.09
    assert p.tick() is None  # still fresh
    clock.t = 100.12  # 0.12 s without a nominal command
    first = p.tick()
    assert first is not None and first.tier == Tier.STOP and first.command == (0.0, 0.0)
    assert first.reason.startswith("nominal command timed out after 0.120 s")
    assert "nominal_timeout 0.1 s" in first.reason and not first.intervened
    zeros = [first]
    for k in range(1, 9):  # every 0.07 s: zeros until 0.5 s after the first one
        clock.t = 100.12 + 0.07 * k
        zeros.append(p.tick())
    assert all(z is not None and z.command == (0.0, 0.0) for z in zeros[:8])  # up to +0.49 s
    assert zeros[8] is None  # +0.56 s: silence
    for dt in (0.1, 1.0, 60.0):
        clock.t += dt
        assert p.tick() is None
    assert p.counters.nominal_timeouts == 1 and p.counters.timeout_zeros == 8
    assert p.counters.commands == 1  # ticks are not nominal commands
    assert p.last_decision is not None and p.last_decision.tier == Tier.STOP

    # A fresh nominal command re-arms the watchdog.
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert p.process(0.1, 0.0).command == (0.1, 0.0)
    assert p.tick() is None
    clock.t += 0.15
    assert p.tick().command == (0.0, 0.0)
    assert p.counters.nominal_timeouts == 2


def test_commands_resuming_during_the_zero_hold_end_it():
    p, clock = _pipeline(nominal_timeout=0.1, zero_hold=0.5)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    p.process(0.2, 0.0)
    clock.t += 0.2
    assert p.tick() is not None
    clock.t += 0.05
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert p.process(0.2, 0.0).command == (0.2, 0.0)  # nominal again: filtered as usual
    clock.t += 0.05
    assert p.tick() is None


def test_no_zeros_when_the_last_command_was_zero_or_nothing_was_sent():
    p, clock = _pipeline(nominal_timeout=0.1)
    clock.t += 5.0
    assert p.tick() is None  # never commanded anything
    assert p.process(0.2, 0.0).command == (0.0, 0.0)  # STOP: no state yet
    clock.t += 1.0
    assert p.tick() is None  # already stopped: stay silent (a mux may hand over)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert p.process(0.0, 0.0).command == (0.0, 0.0)  # the policy itself stopped
    clock.t += 1.0
    assert p.tick() is None
    assert p.counters.nominal_timeouts == 0


@pytest.mark.parametrize("hold, expected", [(0.0, 1), (0.27, 6)])
def test_zero_hold_bounds_the_number_of_zeros(hold, expected):
    p, clock = _pipeline(nominal_timeout=0.1, zero_hold=hold)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    p.process(0.2, 0.0)
    sent = 0
    for k in range(1, 41):  # 2 s of ticks at 20 Hz
        clock.t = 100.0 + 0.05 * k + 0.001
        sent += p.tick() is not None
    assert sent == expected


def test_nominal_timeout_zero_disables_and_reconfigure_enables():
    p, clock = _pipeline()  # nominal_timeout 0 (the ROS-free default): off
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    p.process(0.2, 0.0)
    clock.t += 10.0
    assert p.tick() is None
    p.reconfigure(p.cbf, 0.5, enabled=True, nominal_timeout=0.2, zero_hold=0.1)
    assert (p.nominal_timeout, p.zero_hold) == (0.2, 0.1)
    assert p.tick().command == (0.0, 0.0)
    p.reconfigure(p.cbf, 0.5, enabled=True)  # None: unchanged
    assert (p.nominal_timeout, p.zero_hold) == (0.2, 0.1)


def test_a_disabled_filter_still_stops_a_robot_whose_commands_stopped():
    p, clock = _pipeline(enabled=False, nominal_timeout=0.1)
    assert p.process(5.0, 1.0).tier == Tier.DISABLED
    clock.t += 0.2
    d = p.tick()
    assert d is not None and d.tier == Tier.STOP and d.command == (0.0, 0.0)


def test_state_prediction_knows_the_watchdog_stopped_the_robot():
    p, clock = _pipeline(predict_state=True, nominal_timeout=0.1)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert p.process(0.2, 0.0).command == (0.2, 0.0)
    clock.t += 0.15
    assert p.tick() is not None
    clock.t += 1.0  # stopped at +0.15 s: moved 0.2 m/s * 0.15 s
    np.testing.assert_allclose(p.predicted_pose(clock.t), [-0.97, 1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("nominal, expected", [
    ((5.0, 1.0), (0.22, 1.0)),
    ((1e308, -1e308), (0.22, -2.84)),
    ((-1e308, 1e308), (0.0, 2.84)),
    ((math.inf, 0.0), (0.0, 0.0)),
    ((0.1, math.nan), (0.0, 0.0)),
])
def test_disabled_means_no_cbf_but_still_finite_and_within_the_actuator_limits(nominal,
                                                                               expected):
    p, _ = _pipeline(enabled=False)
    d = p.process(*nominal)
    assert d.command == expected
    finite = all(map(math.isfinite, nominal))
    assert d.tier == (Tier.DISABLED if finite else Tier.STOP)
    assert math.isfinite(d.intervention) and (d.intervened or not finite)


def test_a_stale_stamped_command_is_refused_with_stop_and_counted():
    p, clock = _pipeline(nominal_timeout=0.1)
    p.set_state(np.array([-1.0, 1.0, 0.0]))
    assert p.process(0.1, 0.0).tier == Tier.NOMINAL
    d = p.refuse_stale(2.5, 0.5, 0.1, 0.0)
    assert d.tier == Tier.STOP and d.command == (0.0, 0.0) and "2.500 s old" in d.reason
    d = p.refuse_stale(-7.0, 0.5, 0.1, 0.0)
    assert "7.000 s in the future" in d.reason and "max_command_age 0.5" in d.reason
    assert p.counters.dropped["nominal_stale"] == 2
    assert p.counters.tier_counts[Tier.STOP] == 2 and p.counters.commands == 3
    clock.t += 0.2  # the refused commands were no fresh nominal commands: the watchdog...
    assert p.tick() is None  # ... stays silent because the last command sent was zero
