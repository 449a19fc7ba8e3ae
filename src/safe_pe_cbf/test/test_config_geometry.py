"""CBFConfig and geometry: validation, round trips, typed errors."""

import math

import numpy as np
import pytest

from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.errors import ConfigError, SafetyInputError
from safe_pe_cbf.geometry import (Arena, CircleObstacle, check_command, check_pose,
                                  obstacles_array, wrap_angle)


def test_defaults_match_research_scenario():
    cfg = CBFConfig()
    assert (cfg.dt, cfg.robot_radius, cfg.v_max, cfg.omega_max, cfg.vcp_offset) == (
        0.05, 0.15, 1.0, 2.84, 0.05)
    assert cfg.sampling_coeff == pytest.approx(0.5 * 2.84 * math.hypot(1.0, 0.05 * 2.84))


def test_dict_and_yaml_round_trip(tmp_path):
    cfg = CBFConfig(gamma=0.3, weights=(2.0, 0.5), relaxation_order=("arena", "collision",
                                                                     "obstacles"))
    assert CBFConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "cbf.yaml"
    cfg.to_yaml(path)
    assert CBFConfig.from_yaml(path) == cfg


@pytest.mark.parametrize("kwargs", [
    dict(dt=0.0), dict(dt=float("nan")), dict(robot_radius=-0.1), dict(v_min=0.5),
    dict(v_min=1.0, v_max=1.0), dict(gamma=0.0), dict(gamma=1.5), dict(collision_share=0.0),
    dict(weights=(1.0, 0.0)), dict(weights=(1.0,)), dict(relaxation_order=("arena",)),
    dict(solver="cvx"), dict(collision_mode="maybe"), dict(omega_max=-1.0),
    dict(margin=float("inf")), dict(vcp_offset=0.0), dict(dt="0.05"),
])
def test_bad_config_raises_config_error(kwargs):
    with pytest.raises(ConfigError):
        CBFConfig(**kwargs)


def test_from_dict_rejects_unknown_keys_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="CBFConfig: unknown key"):
        CBFConfig.from_dict({"gamma": 0.5, "gamma_typo": 1})
    bad = tmp_path / "bad.yaml"
    bad.write_text("gamma: [unclosed\n")
    with pytest.raises(ConfigError):
        CBFConfig.from_yaml(bad)
    assert issubclass(ConfigError, ValueError) and issubclass(SafetyInputError, ValueError)


def test_geometry_validation():
    with pytest.raises(SafetyInputError):
        Arena(1.0, 0.0, 0.0, 1.0)
    with pytest.raises(SafetyInputError):
        Arena(0.0, float("nan"), 0.0, 1.0)
    with pytest.raises(SafetyInputError):
        CircleObstacle(0.0, 0.0, -1.0)
    with pytest.raises(SafetyInputError):
        obstacles_array([(0.0, 0.0, float("inf"))])
    with pytest.raises(SafetyInputError):
        obstacles_array([(0.0, 0.0)])
    arr = obstacles_array([CircleObstacle(1, 2, 0.5), (3, 4, 1.0)])
    np.testing.assert_array_equal(arr, [[1, 2, 0.5], [3, 4, 1.0]])
    assert obstacles_array(None).shape == (0, 3)
    with pytest.raises(SafetyInputError):
        check_pose((0.0, float("nan"), 0.0))
    with pytest.raises(SafetyInputError):
        check_pose((0.0, 0.0))
    with pytest.raises(SafetyInputError):
        check_command((float("inf"), 0.0))
    with pytest.raises(SafetyInputError):
        check_command("ab")
    assert -math.pi <= wrap_angle(7.0) < math.pi
