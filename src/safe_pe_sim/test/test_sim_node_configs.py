"""The shipped node parameter files parse, validate and agree with the game profiles."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from safe_pe_cbf.ros.filter_params import all_specs, settings_from_values
from safe_pe_cbf.ros_common.param_specs import defaults
from safe_pe_sim.config import load_profile
from safe_pe_sim.ros.sim_params import SIM_SPECS, sim_settings_from_values

CONFIG = Path(__file__).resolve().parents[3] / "config"


def _params(files: list[str], node: str) -> dict:
    """ros__parameters for ``node`` (e.g. '/pursuer/safety_filter'): /** first, then exact."""
    values: dict = {}
    for name in files:
        data = yaml.safe_load((CONFIG / name).read_text())
        for key in ("/**", node):
            values.update((data.get(key) or {}).get("ros__parameters", {}))
    return values


def _filter(files: list[str], node: str):
    values = defaults(list(all_specs().values()))
    for key, value in _params(files, node).items():
        assert key in values, f"{key} in {files} is not a filter parameter"
        values[key] = value
    return settings_from_values(values, namespace="/" + node.split("/")[1])


@pytest.mark.parametrize("robot", ["pursuer", "evader"])
def test_sim_filter_file_matches_the_default_profile(robot):
    env = load_profile("default")
    s = _filter(["filter_node.yaml"], f"/{robot}/safety_filter")
    me, other = (env.pursuer, env.evader) if robot == "pursuer" else (env.evader, env.pursuer)
    assert s.state_source == s.arena_source == s.opponent_source == "game_state"
    assert s.cbf.dt == env.dt
    assert (s.cbf.robot_radius, s.cbf.v_min, s.cbf.v_max, s.cbf.omega_max) == \
        (me.radius, me.v_min, me.v_max, me.omega_max)
    assert (s.cbf.opponent_radius, s.cbf.opponent_v_max) == (other.radius, other.v_max)


def test_shares_of_the_two_filters_sum_to_at_most_one():
    shares = [_filter(["filter_node.yaml"], f"/{r}/safety_filter").cbf.collision_share
              for r in ("pursuer", "evader")]
    assert sum(shares) <= 1.0


def test_turtlebot3_filter_file_matches_the_burger_hardware():
    env = load_profile("turtlebot3_burger")
    s = _filter(["turtlebot3_burger_filter.yaml", "arena_example.yaml"], "/tb3_0/safety_filter")
    assert s.state_source == "odom" and s.arena_source == "parameters"
    assert s.cbf.dt == env.dt and s.cbf.robot_radius == env.evader.radius
    assert s.cbf.v_max == env.evader.v_max == 0.22 and s.cbf.omega_max == env.evader.omega_max
    assert s.arena_bounds == env.arena.bounds()
    assert s.obstacles.shape == (2, 3)
    # a real Burger ramps: the filter is told the limits of the ramped Burger profile
    assert s.cbf.actuator == load_profile("turtlebot3_burger_ramped").evader.actuator
    assert not s.cbf.actuator.ideal


def test_sim_file_is_valid():
    values = defaults(list(SIM_SPECS))
    for key, value in _params(["sim_node.yaml"], "/safe_pe_sim").items():
        assert key in values, f"{key} is not a simulator parameter"
        values[key] = value
    s = sim_settings_from_values(values)
    assert s.robots == ("pursuer", "evader") and s.env.dt == load_profile("default").dt
