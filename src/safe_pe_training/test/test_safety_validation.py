"""Safety validation: run A rollouts with aggressive policies have ZERO violations.

Violations are the simulator's ground truth (sub-stepped body-level check), not the filter's
own opinion. The exact-tier rate (commands resolved by NOMINAL or the exact QP, without
relaxation or backup) is reported for every scenario (``-s`` prints it; it is also attached to
the JUnit report via ``record_property``). A negative control shows that the same scenarios
without the filter do violate, so the zero is not vacuous.

Under the simulator's actuator model (ramps and latency: ``diff_drive_nav2``, the ramped
TurtleBot3 Burger, and a sluggish Burger) the filter is told the robots' limits (their
``actuator`` in the env config) and fed the held velocities and the commands in flight; the
second negative control shows that a filter NOT told them (ideal actuation assumed) collides in
the same scenarios on the 1 m/s bases and on the sluggish Burger. (At the Burger's realistic
limits, 0.22 m/s and 1 m/s^2, it happens not to in these scenarios: issue 16 measured the same.)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import pytest
from safe_pe_cbf.actuator import ActuatorLimits

import safe_pe_training.rollout
from safe_pe_training.config import SafeSelfPlayConfig, get_run_configs, make_cbf_config, \
    make_env_config
from safe_pe_training.rollout import safe_self_play_rollout

EPISODES = 3


def _full_speed_random(seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Always full forward speed, random turn rate: the most aggressive random driver."""
    rng = np.random.default_rng(seed)
    return lambda obs: np.array([1.0, rng.uniform(-1.0, 1.0)])


SCENARIOS: dict[str, Callable[[], Any]] = {
    "pure_pursuit_vs_flee": lambda: {"pursuer": "pure_pursuit", "evader": "flee"},
    "lead_pursuit_vs_aware_flee": lambda: {"pursuer": "lead_pursuit", "evader": "aware_flee"},
    "full_speed_random": lambda: (_full_speed_random(1), _full_speed_random(2)),
    "uniform_random": lambda: None,
}


#: a Burger that ramps slowly and lags three periods (not the real one: a harder plant)
SLUGGISH = {"linear_accel": 0.3, "linear_decel": 0.3, "angular_accel": 1.0, "latency_steps": 3}
#: (profile, crowded, actuator of both robots or None: the profile's)
PROFILES = {
    "default": ("default", True, None),
    "turtlebot3_burger": ("turtlebot3_burger", False, None),
    "diff_drive_nav2": ("diff_drive_nav2", True, None),
    "turtlebot3_burger_ramped": ("turtlebot3_burger_ramped", True, None),
    "turtlebot3_burger_sluggish": ("turtlebot3_burger", True, SLUGGISH),
}


def _run_a(profile: str, crowded: bool, actuator: dict | None = None) -> SafeSelfPlayConfig:
    config = get_run_configs()["A"]
    config.env.profile = profile
    if crowded:  # more obstacles than the default two: more chances to hit something
        config.obstacles.count_min, config.obstacles.count_max = 4, 6
    if actuator is not None:
        config.env.overrides = {role: {"actuator": actuator} for role in ("pursuer", "evader")}
    return config.validate()


def _ideal_filter_config(*args: Any, **kwargs: Any) -> Any:
    """The filter's config with ideal actuation assumed (not told the robots' limits)."""
    return dataclasses.replace(make_cbf_config(*args, **kwargs), actuator=ActuatorLimits(),
                               opponent_actuator=ActuatorLimits())


class TestSafetyValidation:
    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    @pytest.mark.parametrize("profile", sorted(PROFILES))
    def test_zero_violations_run_a(self, scenario: str, profile: str,
                                   record_property: Any) -> None:
        config = _run_a(*PROFILES[profile])
        result = safe_self_play_rollout(config, EPISODES, policies=SCENARIOS[scenario](),
                                        seed=0)
        summary = result.safety
        record_property("exact_rate", summary.exact_rate)
        record_property("intervention_rate", summary.intervention_rate)
        record_property("tier_counts", list(summary.tier_counts))
        print(f"\n[{profile}/{scenario}] steps={summary.steps} "
              f"exact_rate={summary.exact_rate:.4f} "
              f"intervention_rate={summary.intervention_rate:.3f} tiers={summary.tier_counts} "
              f"min_h={summary.min_min_h:.4f} capture_rate={result.capture_rate:.2f}")
        assert summary.steps == 2 * sum(e.length for e in result.episodes)
        assert result.total_violations == 0, [e.violations for e in result.episodes]
        assert summary.violations == 0 and result.targets["violations"].met
        assert summary.tier_counts[5] == 0, "every command went through the filter"
        if profile == "default":
            # Prior-art target: the exact QP (no relaxation/backup) resolves > 80 % of
            # commands.
            assert summary.exact_rate > 0.8

    @pytest.mark.parametrize("scenario", ["pure_pursuit_vs_flee", "full_speed_random"])
    def test_negative_control_without_filter_violates(self, scenario: str) -> None:
        config = _run_a("default", crowded=True)
        config.run_type, config.use_cbf, config.use_beta_policy = "custom", False, False
        config.validate()
        result = safe_self_play_rollout(config, EPISODES, policies=SCENARIOS[scenario](),
                                        seed=0)
        assert result.total_violations > 0
        assert not result.targets.all_met

    @pytest.mark.parametrize("profile, scenario", [
        ("diff_drive_nav2", "pure_pursuit_vs_flee"), ("diff_drive_nav2", "full_speed_random"),
        ("turtlebot3_burger_sluggish", "full_speed_random")])
    def test_negative_control_filter_not_told_the_limits_violates(
            self, profile: str, scenario: str, monkeypatch: Any) -> None:
        config = _run_a(*PROFILES[profile])
        assert not make_env_config(config).pursuer.actuator.ideal   # ramped robots
        monkeypatch.setattr(safe_pe_training.rollout, "make_cbf_config", _ideal_filter_config)
        result = safe_self_play_rollout(config, EPISODES, policies=SCENARIOS[scenario](),
                                        seed=0)
        assert result.total_violations > 0
        assert not result.targets.all_met
