"""Game state from odometry without ROS: offsets, capture, violations, staleness, parameters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from safe_pe_cbf.ros_common.param_specs import defaults  # noqa: E402

from safe_pe_sim.config import load_profile  # noqa: E402
from safe_pe_sim.ros.game_state_core import (  # noqa: E402
    GAME_STATE_SPECS,
    GameStateAssembler,
    body_violations,
    settings_from_values,
)
from safe_pe_sim.safety_check import check_step_scalar  # noqa: E402

ENV = load_profile("turtlebot3_burger")  # radius 0.105, capture 0.3, dt 0.1, max_steps 600


def _values(**changes):
    values = defaults(GAME_STATE_SPECS)
    values.update({"arena.x_min": -2.0, "arena.x_max": 2.0, "arena.y_min": -1.5,
                   "arena.y_max": 1.5, "obstacles": [0.5, 0.5, 0.2]})
    values.update(changes)
    return values


def _assembler(**changes) -> GameStateAssembler:
    return GameStateAssembler(settings_from_values(_values(**changes), env=ENV))


def test_offsets_move_odometry_into_the_arena_frame():
    a = _assembler(pursuer_odom_offset=[-1.5, 0.0, 0.0],
                   evader_odom_offset=[1.0, -1.0, math.pi / 2])
    a.receive(0, (0.2, 0.1, 0.3), (0.1, 0.0), 5, now=0.0)
    a.receive(1, (0.5, 0.0, 0.0), (0.0, 0.2), 7, now=0.0)
    state = a.assemble(0.01)
    assert state is not None
    np.testing.assert_allclose(state.poses[0], [-1.3, 0.1, 0.3], atol=1e-12)
    # rotated by +90 deg: odometry +x is arena +y
    np.testing.assert_allclose(state.poses[1], [1.0, -0.5, math.pi / 2], atol=1e-12)
    np.testing.assert_allclose(state.velocities, [[0.1, 0.0], [0.0, 0.2]])
    assert state.distance == pytest.approx(math.hypot(2.3, 0.6))
    assert state.stamp_ns == 7  # the newest odometry stamp
    # headings stay wrapped to [-pi, pi)
    a.receive(1, (0.0, 0.0, 3.0), (0.0, 0.0), 8, now=0.0)
    assert a.assemble(0.02).poses[1][2] == pytest.approx(3.0 + math.pi / 2 - 2 * math.pi)


def test_capture_at_the_capture_radius_and_parameter_override():
    a = _assembler()
    a.receive(0, (-1.0, -1.0, 0.0), (0.0, 0.0), 1, now=0.0)
    a.receive(1, (-0.705, -1.0, 0.0), (0.0, 0.0), 1, now=0.0)
    state = a.assemble(0.0)
    assert state.distance == pytest.approx(0.295) and state.captured  # profile: 0.3 m
    a.receive(1, (-0.69, -1.0, 0.0), (0.0, 0.0), 1, now=0.0)
    assert not a.assemble(0.0).captured
    b = _assembler(capture_radius=0.5)
    b.receive(0, (-1.0, -1.0, 0.0), (0.0, 0.0), 1, now=0.0)
    b.receive(1, (-0.6, -1.0, 0.0), (0.0, 0.0), 1, now=0.0)
    assert b.assemble(0.0).captured
    with pytest.raises(ValueError, match="contact distance"):
        settings_from_values(_values(capture_radius=0.2), env=ENV)


def test_violations_match_the_simulator_check():
    names = ("tb3_0", "tb3_1")
    bounds = (-2.0, 2.0, -1.5, 1.5)
    obstacles = np.array([[0.5, 0.5, 0.2]])
    clear = np.array([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0]])
    assert body_violations(clear, (0.105, 0.105), obstacles, bounds, names) == (False, "")
    # pursuer 0.25 m from the obstacle centre: 0.055 m deep; evader 0.05 m through x_max
    bad = np.array([[0.75, 0.5, 0.0], [1.945, 0.0, 1.0]])
    violated, detail = body_violations(bad, (0.105, 0.105), obstacles, bounds, names)
    assert violated
    assert detail == "tb3_0: obstacle[0] depth 0.0550 m; tb3_1: wall x_max depth 0.0500 m"
    rep = check_step_scalar([tuple(p) for p in bad], [(0.0, 0.0)] * 2, 1.0, 1,
                            (0.105, 0.105), [tuple(obstacles[0])], bounds)
    assert rep.violated == [True, True]
    touching = np.array([[0.0, -1.0, 0.0], [0.2, -1.0, 0.0]])  # 0.2 < 2 * 0.105
    violated, detail = body_violations(touching, (0.105, 0.105), obstacles, bounds, names)
    assert violated
    assert detail == "tb3_0: collision depth 0.0100 m; tb3_1: collision depth 0.0100 m"


def test_assembled_violation_uses_the_arena_and_profile_radii():
    a = _assembler()
    a.receive(0, (0.75, 0.5, 0.0), (0.0, 0.0), 1, now=0.0)
    a.receive(1, (-1.0, -1.0, 0.0), (0.0, 0.0), 1, now=0.0)
    state = a.assemble(0.0)
    assert state.violation and state.violation_detail.startswith("pursuer: obstacle[0]")


def test_staleness_missing_and_new_episode_after_a_stall():
    a = _assembler(odom_timeout=0.3)
    assert "no odometry from pursuer" in a.stale_reason(0.0)
    a.receive(0, (0.0, 0.0, 0.0), (0.0, 0.0), 1, now=0.0)
    assert a.assemble(0.1) is None
    assert a.stale_reason(0.1) == "no odometry from evader yet (/evader/odom)"
    a.receive(1, (1.0, 0.0, 0.0), (0.0, 0.0), 2, now=0.05)
    first = a.assemble(0.1)
    assert (first.episode_id, first.step) == (0, 0)
    assert a.assemble(0.2).step == 1
    assert a.assemble(0.31) is None  # pursuer 0.31 s old
    assert "odometry of pursuer is stale: 0.310 s old > odom_timeout 0.3 s" in a.stale_reason(
        0.31)
    a.receive(0, (0.0, 0.0, 0.0), (0.0, 0.0), 3, now=0.32)
    again = a.assemble(0.33)
    assert (again.episode_id, again.step) == (1, 0)
    assert a.ages(0.4) == pytest.approx([0.08, 0.35])


def test_timeout_at_max_steps_then_a_new_episode():
    env = ENV.copy()
    env.max_steps = 3
    a = GameStateAssembler(settings_from_values(_values(), env=env))
    a.receive(0, (0.0, 0.0, 0.0), (0.0, 0.0), 1, now=0.0)
    a.receive(1, (1.0, 0.0, 0.0), (0.0, 0.0), 1, now=0.0)
    states = [a.assemble(0.0) for _ in range(5)]
    assert [(s.episode_id, s.step, s.timed_out) for s in states] == [
        (0, 0, False), (0, 1, False), (0, 2, False), (0, 3, True), (1, 0, False)]


def test_bad_odometry_is_refused_and_arena_from_topic_is_awaited():
    a = _assembler(arena_source="topic")
    with pytest.raises(ValueError, match="not finite"):
        a.receive(0, (math.nan, 0.0, 0.0), (0.0, 0.0), 1, now=0.0)
    with pytest.raises(ValueError, match="not finite"):
        a.receive(0, (0.0, 0.0, 0.0), (math.inf, 0.0), 1, now=0.0)
    a.receive(0, (0.0, 0.0, 0.0), (0.0, 0.0), 1, now=0.0)
    a.receive(1, (1.0, 0.0, 0.0), (0.0, 0.0), 1, now=0.0)
    assert a.assemble(0.0) is None and "no arena" in a.stale_reason(0.0)
    a.set_arena((-2.0, 2.0, -1.0, 1.0), np.zeros((0, 3)))
    state = a.assemble(0.0)
    assert state is not None and not state.violation


@pytest.mark.parametrize("change, message", [
    ({"robots": ["a", "a"]}, "two distinct"),
    ({"robots": ["1x", "b"]}, "two distinct"),
    ({"pursuer_odom_offset": [1.0, 2.0]}, "pursuer_odom_offset: need"),
    ({"evader_odom_offset": [0.0, math.nan, 0.0]}, "finite"),
    ({"arena.x_min": 3.0}, "x_min < x_max"),
    ({"obstacles": [0.0, 0.0]}, "triples"),
    ({"obstacles": [0.0, 0.0, -1.0]}, "radius must be > 0"),
    ({"arena.x_min": -1e300, "arena.x_max": 1e300}, "below the minimum"),
    ({"arena.x_min": -600.0, "arena.x_max": 600.0}, "width 1200.0 m exceeds"),
    ({"obstacles": [0.0, 0.0, 0.01] * 2000}, "2000 obstacles, at most 256"),
    ({"odom_timeout": 0.0}, "below the minimum"),
    ({"rate": -1.0}, "below the minimum"),
    ({"arena_source": "odom"}, "not one of"),
])
def test_invalid_parameters_are_refused_with_the_reason(change, message):
    with pytest.raises(ValueError, match=message):
        settings_from_values(_values(**change), env=ENV)


def test_profile_is_loaded_and_rate_defaults_to_one_over_dt():
    s = settings_from_values(_values())
    assert s.env.dt == ENV.dt and s.period == pytest.approx(ENV.dt)
    assert s.capture_radius == ENV.capture_radius
    assert settings_from_values(_values(rate=20.0), env=ENV).period == pytest.approx(0.05)
    with pytest.raises(ValueError, match="profile"):
        settings_from_values(_values(profile="/nonexistent/profile.yaml"))


def test_shipped_file_with_the_arena_file_gives_valid_settings():
    config = Path(__file__).resolve().parents[3] / "config"
    if not (config / "game_state_node.yaml").is_file():
        pytest.skip("config/ not found (not a repository checkout)")
    values = defaults(GAME_STATE_SPECS)
    for name in ("game_state_node.yaml", "arena_example.yaml"):
        params = yaml.safe_load((config / name).read_text())["/**"]["ros__parameters"]
        for key, value in params.items():
            if name == "arena_example.yaml" and key == "odom_offset":
                continue  # the filter's offset: not a game-state parameter (ROS ignores it)
            assert key in values, f"{key} in {name} is not a game-state parameter"
            values[key] = value
    s = settings_from_values(values)
    assert s.env.dt == pytest.approx(0.1) and s.period == pytest.approx(0.1)  # turtlebot3
    assert s.capture_radius == pytest.approx(0.3) and s.arena_source == "parameters"
    assert s.bounds == (-2.2, 2.2, -2.2, 2.2) and s.obstacles.shape == (2, 3)
