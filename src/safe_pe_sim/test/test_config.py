"""Config dataclasses: profile values, YAML round trip, validation errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from safe_pe_sim.config import (PROFILES, ConfigError, EnvConfig, RobotConfig, load_profile)
from safe_pe_sim.world import Layout, generate_obstacles

PROFILE_DIR = Path(__file__).resolve().parents[3] / "config" / "profiles"


def test_default_profile_matches_research_scenario() -> None:
    cfg = load_profile("default")
    assert (cfg.arena.width, cfg.arena.height) == (20.0, 20.0)
    assert (cfg.obstacles.count_min, cfg.obstacles.count_max) == (2, 2)
    assert (cfg.obstacles.radius_min, cfg.obstacles.radius_max) == (0.3, 1.0)
    assert cfg.pursuer.v_max == 1.0 and cfg.pursuer.omega_max == 2.84
    assert cfg.dt == 0.05 and cfg.max_steps == 600
    assert cfg.capture_radius == 0.5
    assert cfg.pursuer.radius == cfg.evader.radius == 0.15
    assert cfg.evader.v_max == pytest.approx(1.15 * cfg.pursuer.v_max)   # speed margin
    assert cfg.substeps >= 10
    assert not cfg.terminate_on_violation


def test_turtlebot3_profile() -> None:
    cfg = load_profile("turtlebot3_burger")
    assert (cfg.arena.width, cfg.arena.height) == pytest.approx((4.4, 4.4))
    for robot in cfg.robots():
        assert robot.radius == 0.105 and robot.omega_max == 2.84
        assert robot.v_max <= 0.22          # never more than the hardware can do
    assert cfg.evader.v_max == 0.22
    assert cfg.evader.v_max / cfg.pursuer.v_max == pytest.approx(1.15, rel=1e-3)
    assert cfg.capture_radius > cfg.pursuer.radius + cfg.evader.radius


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_yaml_files_mirror_code(name: str) -> None:
    from_file = EnvConfig.from_yaml(PROFILE_DIR / f"{name}.yaml")
    assert from_file.to_dict() == load_profile(name).to_dict()
    assert load_profile(str(PROFILE_DIR / f"{name}.yaml")).to_dict() == from_file.to_dict()


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = load_profile("default")
    cfg.obstacles.explicit = [[1.0, 2.0, 0.5], [-3.0, 0.0, 0.4]]
    cfg.rewards.zero_sum = False
    cfg.actuator_noise.v_std = 0.02
    path = tmp_path / "env.yaml"
    text = cfg.to_yaml(path)
    assert EnvConfig.from_yaml(path).to_dict() == cfg.to_dict()
    assert EnvConfig.from_yaml(text).to_dict() == cfg.to_dict()
    assert cfg.copy().to_dict() == cfg.to_dict()


def test_partial_yaml_keeps_defaults() -> None:
    cfg = EnvConfig.from_yaml("dt: 0.1\npursuer:\n  v_max: 0.5\n")
    assert cfg.dt == 0.1 and cfg.pursuer.v_max == 0.5
    assert cfg.pursuer.omega_max == RobotConfig().omega_max


@pytest.mark.parametrize("text,needle", [
    ("capture_radius: 0.2\n", "collision distance"),
    ("pursuer:\n  v_min: 2.0\n", "v_min"),
    ("pursuer:\n  radius: -0.1\n", "pursuer.radius must be > 0"),
    ("dt: .nan\n", "dt must be finite"),
    ("dt: fast\n", "dt must be a number"),
    ("max_steps: 0\n", "max_steps must be >= 1"),
    ("substeps: 0\n", "substeps"),
    ("capture_radiuss: 1.0\n", "unknown key"),
    ("rewards:\n  w6: 1.0\n", "unknown key"),
    ("obstacles:\n  count_min: 3\n  count_max: 2\n", "count_min"),
    ("obstacles:\n  explicit: [[9.9, 0.0, 0.5]]\n", "does not fit inside the arena"),
    ("obstacles:\n  explicit: [[1.0, 0.0]]\n", "[x, y, radius]"),
    ("arena:\n  x_min: 5.0\n  x_max: 5.0\n", "x_max"),
    ("arena:\n  x_min: -1.0e+300\n  x_max: 1.0e+300\n", "arena.x_min = -1e+300 m is beyond"),
    ("arena:\n  x_min: 20000.0\n  x_max: 20010.0\n", "beyond +-10000.0 m"),
    ("arena:\n  y_min: -600.0\n  y_max: 600.0\n", "arena height 1200.0 m exceeds 1000.0 m"),
    ("obstacles:\n  count_max: 2000\n", "obstacles.count_max must be <= 256"),
    ("obstacles:\n  max_tries: 1000000\n", "obstacles.max_tries must be <= 10000"),
    ("obstacles:\n  radius_max: 1.0e+200\n", "obstacles.radius_max"),
    ("obstacles:\n  explicit: " + str([[0.0, 0.0, 0.01]] * 300) + "\n",
     "obstacles.explicit has 300 rows, at most 256"),
    ("spawn:\n  max_tries: 100000000\n", "spawn.max_tries must be <= 10000"),
    ("spawn:\n  min_separation: 0.3\n", "min_separation"),
    ("rewards:\n  h_max: 0.0\n", "h_max"),
    ("rewards:\n  violation: 1.0\n", "violation"),
    ("rewards:\n  zero_sum: maybe\n", "zero_sum"),
    ("pursuer:\n  actuator:\n    linear_decel: -1.0\n", "pursuer.actuator.linear_decel"),
    ("evader:\n  actuator:\n    angular_accel: .nan\n", "evader.actuator.angular_accel"),
    ("evader:\n  actuator:\n    latency_steps: 11\n", "evader.actuator.latency_steps"),
    ("pursuer:\n  actuator:\n    latency_steps: 0.5\n", "latency_steps"),
    ("pursuer:\n  actuator:\n    jerk: 1.0\n", "unknown key"),
    ("dt: [0.1\n", "not valid YAML"),
    ("- 1\n- 2\n", "mapping"),
])
def test_validation_errors_say_what_to_fix(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        EnvConfig.from_yaml(text if "\n" in text else text + "\n")
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_actuator_section_in_yaml(tmp_path: Path) -> None:
    cfg = EnvConfig.from_yaml("pursuer:\n  actuator:\n    linear_accel: 2.5\n"
                              "    latency_steps: 2\n")
    act = cfg.pursuer.actuator
    assert (act.linear_accel, act.linear_decel, act.latency_steps) == (2.5, 0.0, 2)
    assert not act.ideal and cfg.evader.actuator.ideal     # the default stays ideal
    assert EnvConfig.from_yaml(cfg.to_yaml(tmp_path / "e.yaml")).to_dict() == cfg.to_dict()
    cfg.pursuer.actuator.linear_decel = -2.0               # set in Python: validate() checks
    with pytest.raises(ConfigError, match="pursuer.actuator.linear_decel"):
        cfg.validate()


def test_actuated_profiles() -> None:
    for name, base in (("diff_drive_nav2", "default"),
                       ("turtlebot3_burger_ramped", "turtlebot3_burger")):
        cfg = load_profile(name).to_dict()
        ideal = load_profile(base).to_dict()
        for role in ("pursuer", "evader"):
            act = cfg[role].pop("actuator")
            ideal[role].pop("actuator")
            assert act["latency_steps"] == 1 and act["linear_decel"] > 0.0
        assert cfg == ideal                                 # only the actuators differ
    nav2 = load_profile("diff_drive_nav2").pursuer.actuator
    assert (nav2.linear_accel, nav2.linear_decel, nav2.angular_accel) == (2.5, 2.5, 3.2)


def test_missing_file_and_unknown_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        EnvConfig.from_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown profile"):
        load_profile("turtlebot4")


def test_validate_rejects_wrong_section_type() -> None:
    cfg = EnvConfig()
    cfg.pursuer = {"radius": 0.1}  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="pursuer must be a RobotConfig"):
        cfg.validate()


def test_boxes_and_segments_in_yaml(tmp_path: Path) -> None:
    text = """
obstacles:
  count_min: 1
  count_max: 2
  boxes: [[3.0, 3.0, 1.0, 0.25, 0.5]]
  segments: [[-8.0, 5.0, -4.0, 5.0]]
"""
    cfg = EnvConfig.from_yaml(text).validate()
    assert cfg.obstacles.capacity == 4
    assert EnvConfig.from_yaml(cfg.to_yaml(tmp_path / "e.yaml")).to_dict() == cfg.to_dict()
    layout = generate_obstacles(cfg, np.random.default_rng(0))
    assert layout.shape[1] == 6 and layout[-2:, 5].tolist() == [1.0, 1.0]
    assert layout[-1, :5].tolist() == pytest.approx([-6.0, 5.0, 2.0, 0.0, 0.0])
    geo = Layout(cfg.arena.bounds(), layout).to_geometry()[1]
    assert type(geo[-1]).__name__ == "BoxObstacle"
    for bad in ("boxes: [[3.0, 3.0, 0.0, 0.2, 0.0]]", "boxes: [[3.0, 3.0, 1.0]]",
                "segments: [[0, 0, 99, 0]]"):
        with pytest.raises(ConfigError, match="obstacles."):
            EnvConfig.from_yaml("obstacles:\n  " + bad).validate()
