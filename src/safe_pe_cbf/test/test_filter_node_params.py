"""Parameter specs, descriptors and settings validation of the filter node (no rclpy)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.msg import ParameterType

from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.ros.filter_params import (
    NODE_SPECS,
    all_specs,
    cbf_specs,
    default_robot_id,
    settings_from_values,
)
from safe_pe_cbf.ros_common.param_specs import ParamSpec, check_values, defaults


def _values(**changes):
    values = defaults(list(all_specs().values()))
    values.update(changes)
    return values


def test_every_parameter_has_a_description_and_numbers_have_ranges():
    specs = all_specs()
    assert {f"cbf.{name}" for name in CBFConfig().to_dict()} <= set(specs)
    for spec in specs.values():
        desc = spec.descriptor()
        assert desc.description.strip(), spec.name
        if spec.name.startswith("cbf.") and spec.name[4:] not in (
            "vcp_offset", "dt", "robot_radius", "v_min", "v_max", "omega_max",
            "opponent_radius", "opponent_v_max", "collision_share", "gamma", "margin",
        ):
            continue
        if desc.type == ParameterType.PARAMETER_DOUBLE:
            assert len(desc.floating_point_range) == 1, spec.name


def test_cbf_defaults_follow_the_core_config():
    cfg = CBFConfig(v_max=0.22, robot_radius=0.105)
    specs = {s.name: s for s in cbf_specs(cfg)}
    assert specs["cbf.v_max"].default == 0.22
    assert specs["cbf.weights"].array_kind == "double"
    assert specs["cbf.relaxation_order"].array_kind == "string"


def test_defaults_give_valid_settings():
    s = settings_from_values(_values(), "/evader")
    assert s.robot_id == "evader"
    assert s.state_source == "odom" and not s.output_stamped
    assert s.obstacles.shape == (0, 3)
    assert s.cbf.v_max == CBFConfig().v_max


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"state_timeout": 0.0}, "state_timeout"),
        ({"state_timeout": math.nan}, "finite"),
        ({"state_source": "gps"}, "state_source"),
        ({"cmd_type": "TwistStamped"}, "cmd_type"),
        ({"arena.x_min": 3.0, "arena.x_max": 1.0}, "x_min < x_max"),
        ({"obstacles": [1.0, 2.0]}, "multiple of 3"),
        ({"obstacles": [1.0, 2.0, -0.5]}, "radius"),
        ({"opponent_source": "odom"}, "opponent_odom_topic"),
        ({"cbf.v_min": 0.5, "cbf.v_max": 0.4}, "cbf"),
        ({"cbf.solver": "cvxopt"}, "solver"),
        ({"enabled": "yes"}, "true/false"),
        ({"odom_offset": [1.0]}, "odom_offset"),
        ({"arena.x_min": 0.0, "arena.x_max": 0.2}, "too small"),
        ({"nominal_timeout": -0.1}, "nominal_timeout"),
        ({"nominal_timeout": 0.03, "cbf.dt": 0.05}, "shorter than the command period"),
        ({"zero_hold": 11.0}, "zero_hold"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(changes, fragment):
    with pytest.raises(ValueError, match="invalid filter parameters") as info:
        settings_from_values(_values(**changes))
    assert fragment in str(info.value)


def test_nominal_timeout_defaults_and_off():
    s = settings_from_values(_values())
    assert s.nominal_timeout == pytest.approx(2 * CBFConfig().dt) and s.zero_hold == 0.5
    s = settings_from_values(_values(**{"nominal_timeout": 0.0, "cbf.dt": 0.5}))
    assert s.nominal_timeout == 0.0  # off: no relation to the command period needed
    s = settings_from_values(_values(**{"nominal_timeout": 0.2, "cbf.dt": 0.2}))
    assert s.nominal_timeout == 0.2


@pytest.mark.parametrize("name", ["filter_node.yaml", "turtlebot3_burger_filter.yaml"])
def test_shipped_files_time_out_nominal_commands_after_about_two_periods(name):
    path = Path(__file__).resolve().parents[3] / "config" / name
    params = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    timeout, dt = params["nominal_timeout"], params["cbf.dt"]
    assert 1.5 * dt <= timeout <= 3.0 * dt and 0.0 < params["zero_hold"] <= 1.0


def test_spec_check_and_unknown_names():
    spec = ParamSpec("rate", 10.0, "Rate.", 0.0, 100.0)
    assert spec.check(5.0) is None
    assert "above" in spec.check(101.0)
    assert "number" in spec.check("fast")
    assert check_values({"rate": spec}, {"rat": 1.0}) == ["rat: unknown parameter"]
    choice = ParamSpec("mode", "a", "Mode.", choices=("a", "b"))
    assert "not one of" in choice.check("c")
    assert "One of: a, b." in choice.descriptor().description


def test_default_robot_id_from_namespace():
    assert default_robot_id("/") == "pursuer"
    assert default_robot_id("/robots/evader") == "evader"
    assert default_robot_id("/pursuer/") == "pursuer"


def test_node_spec_names_are_unique():
    names = [s.name for s in NODE_SPECS]
    assert len(names) == len(set(names))
