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
    d = p.process(5.0, 1.0)
    assert d.tier == Tier.DISABLED and d.command == (5.0, 1.0) and "enabled" in d.reason
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
