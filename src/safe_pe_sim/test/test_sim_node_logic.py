"""Simulator node pieces without rclpy: command gate, parameters, message building."""

from __future__ import annotations

import math

import numpy as np
import pytest

from std_msgs.msg import Header

from safe_pe_cbf.ros_common.conversions import odometry_message, pose_from_odometry
from safe_pe_cbf.ros_common.param_specs import defaults
from safe_pe_sim.config import load_profile
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.ros.command_gate import CommandGate
from safe_pe_sim.ros.sim_messages import (
    episode_result_message,
    game_state_message,
    initial_pose_problem,
    obstacle_markers,
    time_from_seconds,
)
from safe_pe_sim.ros.sim_params import SIM_SPECS, sim_settings_from_values


def test_free_running_gate_stops_stale_robots():
    gate = CommandGate(("pursuer", "evader"), cmd_timeout=0.5)
    assert gate.commands(now=0.0) == [(0.0, 0.0), (0.0, 0.0)]
    gate.receive("pursuer", 0.2, 0.1, now=1.0)
    assert gate.commands(now=1.4) == [(0.2, 0.1), (0.0, 0.0)]
    assert gate.stale_robots(now=1.4) == ["evader"]
    assert gate.commands(now=1.6) == [(0.0, 0.0), (0.0, 0.0)]
    with pytest.raises(ValueError, match="not finite"):
        gate.receive("evader", math.nan, 0.0, now=2.0)
    gate.drop("evader")
    assert gate.dropped() == {"pursuer": 0, "evader": 1}
    assert gate.received() == {"pursuer": 1, "evader": 0}


def test_lock_step_gate_waits_for_every_robot():
    gate = CommandGate(("pursuer", "evader"), cmd_timeout=0.5)
    gate.receive("pursuer", 0.2, 0.0, now=0.0)
    assert not gate.all_arrived()
    gate.receive("evader", 0.3, 0.0, now=0.0)
    assert gate.all_arrived()
    assert gate.commands(now=99.0, lock_step=True) == [(0.2, 0.0), (0.3, 0.0)]
    gate.mark_stepped()
    assert not gate.all_arrived()
    gate.receive("evader", 0.1, 0.0, now=0.1)
    assert gate.commands(now=0.1, lock_step=True) == [(0.0, 0.0), (0.1, 0.0)]
    assert gate.stale_robots(now=0.1, lock_step=True) == ["pursuer"]


def test_gate_rejects_bad_construction():
    with pytest.raises(ValueError, match="distinct"):
        CommandGate(("a", "a"), 0.5)
    with pytest.raises(ValueError, match="cmd_timeout"):
        CommandGate(("a", "b"), 0.0)


def test_sim_settings_defaults_and_errors():
    values = defaults(list(SIM_SPECS))
    s = sim_settings_from_values(values)
    assert s.robots == ("pursuer", "evader") and s.mode == "free_running"
    assert s.step_period == pytest.approx(s.env.dt)
    assert s.seed == 0
    with pytest.raises(ValueError, match="profile"):
        sim_settings_from_values({**values, "profile": "/no/such/profile.yaml"})
    with pytest.raises(ValueError, match="robots"):
        sim_settings_from_values({**values, "robots": ["a", "a"]})
    with pytest.raises(ValueError, match="mode"):
        sim_settings_from_values({**values, "mode": "fast"})
    assert sim_settings_from_values({**values, "seed": -1}).seed is None


def test_actuator_parameters_override_the_profile_and_bad_ones_say_why():
    values = defaults(list(SIM_SPECS))
    assert sim_settings_from_values(values).actuators[0].ideal       # default profile
    nav2 = {**values, "profile": "diff_drive_nav2"}
    s = sim_settings_from_values(nav2)                               # -1: the profile's values
    assert [a.to_dict() for a in s.actuators] == [r.actuator.to_dict() for r in s.env.robots()]
    s = sim_settings_from_values({**nav2, "actuator.evader.linear_decel": 4,
                                  "actuator.evader.latency_steps": 0})
    assert (s.actuators[1].linear_decel, s.actuators[1].latency_steps) == (4.0, 0)
    assert s.actuators[1].linear_accel == 2.5 and s.actuators[0].latency_steps == 1
    for name, value, needle in (("actuator.pursuer.linear_decel", -0.5, "must be -1"),
                                ("actuator.pursuer.angular_accel", math.nan, "finite"),
                                ("actuator.evader.latency_steps", 11, "maximum"),
                                ("actuator.evader.linear_accel", 1e6, "maximum"),
                                ("actuator.evader.latency_steps", -3, "minimum")):
        with pytest.raises(ValueError, match=needle):
            sim_settings_from_values({**values, name: value})


def test_odometry_twist_is_the_held_velocity_not_the_command():
    game = PursuitEvasionGame(load_profile("diff_drive_nav2"))
    game.reset(seed=3)
    for k in range(4):
        game.step((1.0, 2.0), (0.5, -1.0))
        odom = odometry_message(np.asarray(game.poses[0]), game.velocities[0], Header(), "p")
        twist = (odom.twist.twist.linear.x, odom.twist.twist.angular.z)
        assert twist == pytest.approx(game.velocities[0], abs=1e-12)
        # one step late, then 2.5 m/s^2 * 0.05 s and 3.2 rad/s^2 * 0.05 s per step
        assert twist == pytest.approx((0.125 * k, 0.16 * k), abs=1e-12)


def test_game_state_and_odometry_messages_follow_the_game():
    game = PursuitEvasionGame(load_profile("turtlebot3_burger"))
    game.reset(seed=3)
    result = game.step((0.1, 0.5), (0.2, -0.5))
    msg = game_state_message(game, ("pursuer", "evader"), Header(frame_id="arena"), 4, result)
    assert msg.episode_id == 4 and msg.step == 1 and msg.dt == game.config.dt
    assert (msg.pursuer.x, msg.pursuer.y, msg.pursuer.theta) == game.poses[0]
    assert msg.evader.v == pytest.approx(game.velocities[1][0])
    assert msg.pursuer.role == 0 and msg.evader.role == 1
    assert len(msg.arena.obstacles) == len(game.obstacles)
    assert msg.distance == pytest.approx(game.distance)
    assert msg.violation == any(result.safety.violated)
    res = episode_result_message(game, Header(), 4, 3, 1, 0, 0)
    assert res.steps == 1 and res.duration == pytest.approx(game.config.dt) and res.seed == 3
    odom = odometry_message(np.asarray(game.poses[0]), game.velocities[0], Header(), "p")
    np.testing.assert_allclose(pose_from_odometry(odom), game.poses[0], atol=1e-12)


def test_initial_pose_problems_are_named():
    obstacles = np.array([[2.0, 2.0, 0.5]])
    bounds = (0.0, 4.0, 0.0, 4.0)
    ok = np.array([[1.0, 1.0, 0.0], [3.0, 3.0, 0.0]])
    assert initial_pose_problem(ok, (0.1, 0.1), obstacles, bounds) == ""
    assert "wall" in initial_pose_problem(np.array([[0.05, 1, 0], [3, 3, 0]]), (0.1, 0.1),
                                          obstacles, bounds)
    assert "obstacle[0]" in initial_pose_problem(np.array([[2.0, 1.5, 0], [3, 3, 0]]),
                                                 (0.1, 0.1), obstacles, bounds)
    assert "overlap" in initial_pose_problem(np.array([[1, 1, 0], [1.1, 1, 0]]), (0.1, 0.1),
                                             obstacles, bounds)
    assert "finite" in initial_pose_problem(np.array([[math.nan, 1, 0], [3, 3, 0]]),
                                            (0.1, 0.1), obstacles, bounds)


def test_markers_and_time():
    markers = obstacle_markers((0.0, 1.0, 0.0, 1.0), np.array([[0.5, 0.5, 0.1]]),
                               Header())
    assert len(markers.markers) == 3 and markers.markers[2].scale.x == pytest.approx(0.2)
    t = time_from_seconds(12.3456789)
    assert t.sec == 12 and t.nanosec == 345678900


def test_free_running_holds_a_command_for_at_most_max_hold_steps():
    gate = CommandGate(("pursuer", "evader"), cmd_timeout=10.0, max_hold_steps=1)
    gate.receive("pursuer", 0.2, 0.0, now=0.0)
    assert gate.commands(now=0.01)[0] == (0.2, 0.0)
    gate.mark_stepped()
    assert gate.commands(now=0.02)[0] == (0.0, 0.0)  # already applied once
    gate.receive("pursuer", 0.3, 0.0, now=0.03)
    assert gate.commands(now=0.04)[0] == (0.3, 0.0)
    unlimited = CommandGate(("a", "b"), cmd_timeout=10.0, max_hold_steps=0)
    unlimited.receive("a", 0.2, 0.0, now=0.0)
    for _ in range(5):
        unlimited.mark_stepped()
    assert unlimited.commands(now=1.0)[0] == (0.2, 0.0)
    with pytest.raises(ValueError, match="max_hold_steps"):
        CommandGate(("a", "b"), 1.0, max_hold_steps=-1)


def test_lock_step_stamp_matching_ignores_commands_for_other_states():
    gate = CommandGate(("pursuer", "evader"), cmd_timeout=0.5)
    gate.expect(5_000)
    assert not gate.receive("pursuer", 0.2, 0.0, now=0.0, stamp=4_000)  # from the last state
    assert gate.late() == {"pursuer": 1, "evader": 0}
    assert not gate.all_arrived()
    assert gate.receive("pursuer", 0.1, 0.0, now=0.0, stamp=5_000)
    assert gate.receive("evader", 0.1, 0.0, now=0.0)  # unstamped: arrival rule
    assert gate.all_arrived()
    gate.expect(None)
    assert gate.receive("pursuer", 0.1, 0.0, now=0.0, stamp=1)
