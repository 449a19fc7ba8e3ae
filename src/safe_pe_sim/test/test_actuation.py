"""The simulator's actuator model: ramps, braking time, latency, resets, what the bodies follow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim.config import ActuatorLimits, ArenaConfig, EnvConfig, ObstacleConfig
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.vec_core import VectorizedPursuitEvasion

NO_OBSTACLES = np.zeros((0, 3))


def _config(act: ActuatorLimits, dt: float = 0.05, contact: str = "pass_through") -> EnvConfig:
    """Both robots with ``act``, no obstacles, a large arena (velocities never hit anything)."""
    cfg = EnvConfig(dt=dt, max_steps=10_000, contact=contact,
                    arena=ArenaConfig(-50.0, 50.0, -50.0, 50.0),
                    obstacles=ObstacleConfig(count_min=0, count_max=0))
    cfg.pursuer.actuator = ActuatorLimits(**act.to_dict())
    cfg.evader.actuator = ActuatorLimits(**act.to_dict())
    return cfg.validate()


def _drive(cmds_p: list[tuple[float, float]], cfg: EnvConfig) -> tuple[np.ndarray, np.ndarray]:
    """Held pursuer velocities per step, ``(steps, 2)``, of the single game and the core."""
    game = PursuitEvasionGame(cfg)
    game.reset(seed=0, obstacles=NO_OBSTACLES, poses=[[0.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    core = VectorizedPursuitEvasion(cfg, 3, seed=0)
    single, vec = [], []
    for cmd in cmds_p:
        game.step(cmd, (0.0, 0.0))
        single.append(game.velocities[0])
        core.step(np.tile(cmd, (3, 1)), np.zeros((3, 2)))
        vec.append(core.velocities[:, 0].copy())
    vec_arr = np.array(vec)
    for i in range(1, 3):  # every game of the core ramps alike
        np.testing.assert_array_equal(vec_arr[:, i], vec_arr[:, 0])
    np.testing.assert_allclose(vec_arr[:, 0], np.array(single), atol=1e-12)
    return np.array(single), vec_arr[:, 0]


@pytest.mark.parametrize("v0,decel,dt", [(0.9, 2.5, 0.05), (1.0, 2.5, 0.05), (0.22, 1.0, 0.1),
                                         (1.0, 3.3, 0.05)])
def test_a_braking_robot_takes_ceil_v_over_decel_dt_steps_to_stop(v0: float, decel: float,
                                                                   dt: float) -> None:
    cfg = _config(ActuatorLimits(linear_accel=0.0, linear_decel=decel), dt=dt)
    held, _ = _drive([(v0, 0.0)] + [(0.0, 0.0)] * 40, cfg)
    assert held[0, 0] == v0                      # accel 0: the speed is reached at once
    braking = held[1:, 0]
    stopped = int(np.flatnonzero(braking == 0.0)[0]) + 1
    assert stopped == math.ceil(v0 / (decel * dt) - 1e-9)
    assert np.all(np.diff(held[:stopped + 1, 0]) >= -decel * dt - 1e-12)  # never faster
    assert np.all(braking[stopped:] == 0.0)


def test_acceleration_and_turn_rate_ramp_at_their_limits() -> None:
    cfg = _config(ActuatorLimits(linear_accel=1.0, linear_decel=2.0, angular_accel=4.0))
    held, _ = _drive([(1.0, 2.0)] * 25, cfg)
    np.testing.assert_allclose(held[:20, 0], 0.05 * np.arange(1, 21), atol=1e-12)
    np.testing.assert_allclose(held[:10, 1], 0.2 * np.arange(1, 11), atol=1e-12)
    assert np.all(held[20:] == [1.0, 2.0])


@pytest.mark.parametrize("latency", [1, 2, 5])
def test_latency_delays_the_first_response_by_exactly_latency_steps(latency: int) -> None:
    for act in (ActuatorLimits(latency_steps=latency),
                ActuatorLimits(2.5, 2.5, 3.2, latency_steps=latency)):
        held, _ = _drive([(0.8, -1.0)] * (latency + 3), _config(act))
        assert np.all(held[:latency] == 0.0)
        assert held[latency, 0] > 0.0 and held[latency, 1] < 0.0
        if act.linear_accel == 0.0:
            assert tuple(held[latency]) == (0.8, -1.0)
        # the command sequence is replayed in order, delayed
    seq = [(0.1 * k, 0.0) for k in range(1, 8)]
    held, _ = _drive(seq, _config(ActuatorLimits(latency_steps=2)))
    np.testing.assert_array_equal(held[2:, 0], [c[0] for c in seq[:-2]])


def test_the_bodies_follow_the_held_velocity() -> None:
    cfg = _config(ActuatorLimits(linear_accel=2.0, linear_decel=2.0, latency_steps=1))
    game = PursuitEvasionGame(cfg)
    game.reset(seed=0, obstacles=NO_OBSTACLES, poses=[[0.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    x = 0.0
    for _ in range(12):
        res = game.step((1.0, 0.0), (0.0, 0.0))
        assert res.applied[0] == game.velocities[0]
        x += res.applied[0][0] * cfg.dt           # straight line: x advances by v dt
        assert game.poses[0][0] == pytest.approx(x, abs=1e-12)
    assert game.velocities[0] == (1.0, 0.0)       # 1 step late, then 0.1 m/s per step


def test_braking_into_a_wall_is_a_violation_only_with_a_decel_limit() -> None:
    """The sub-stepped check samples the held velocity, not the command."""
    for decel, violated in ((0.0, False), (2.5, True)):
        cfg = _config(ActuatorLimits(linear_decel=decel), contact="solid")
        game = PursuitEvasionGame(cfg)
        # 0.2 m from the wall: one step at 1 m/s covers 0.05 m, braking from 1 m/s at
        # 2.5 m/s^2 covers 0.05 * (0.875 + 0.75 + ... + 0.125) = 0.175 m more
        x0 = 50.0 - cfg.pursuer.radius - 0.2
        game.reset(seed=0, obstacles=NO_OBSTACLES, poses=[[x0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        game.step((1.0, 0.0), (0.0, 0.0))
        hits = [game.step((0.0, 0.0), (0.0, 0.0)).safety.violated[0] for _ in range(10)]
        assert any(hits) == violated
        assert game.velocities[0] == (0.0, 0.0)   # stopped: by the ramp or by the wall


def test_reset_zeroes_the_held_velocities_and_the_queue() -> None:
    cfg = _config(ActuatorLimits(1.0, 1.0, 1.0, latency_steps=3))
    cfg.max_steps = 5
    core = VectorizedPursuitEvasion(cfg, 2, seed=1)
    game = PursuitEvasionGame(cfg)
    game.reset(seed=1)
    for _ in range(4):
        core.step(np.full((2, 2), 0.5), np.full((2, 2), 0.5))
        game.step((0.5, 0.5), (0.5, 0.5))
    assert np.all(core.velocities != 0.0) and np.all(core.command_queue != 0.0)
    _, _, _, trunc, _ = core.step(np.full((2, 2), 0.5), np.full((2, 2), 0.5))
    assert trunc.all()                            # auto-reset at max_steps
    assert np.all(core.velocities == 0.0) and np.all(core.command_queue == 0.0)
    game.reset()
    assert game.velocities == [(0.0, 0.0), (0.0, 0.0)] and np.all(game.command_queue == 0.0)
    assert core.command_queue.shape == (2, 2, 3, 2)


def test_ideal_actuation_has_no_queue_and_follows_the_command() -> None:
    cfg = _config(ActuatorLimits())
    held, _ = _drive([(0.3, 0.7), (0.9, -2.0), (0.0, 0.0)], cfg)
    np.testing.assert_array_equal(held, [(0.3, 0.7), (0.9, -2.0), (0.0, 0.0)])
    assert VectorizedPursuitEvasion(cfg, 1, seed=0).command_queue.shape == (1, 2, 0, 2)


def test_set_actuators_keeps_the_newest_commands_in_flight() -> None:
    cfg = _config(ActuatorLimits(latency_steps=3))
    game = PursuitEvasionGame(cfg)
    game.reset(seed=0, obstacles=NO_OBSTACLES, poses=[[0.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    for v in (0.1, 0.2, 0.3):
        game.step((v, 0.0), (v, 0.0))
    assert game.velocities[0] == (0.0, 0.0)
    game.set_actuators([ActuatorLimits(latency_steps=1), ActuatorLimits(latency_steps=5)])
    assert game.config.evader.actuator.latency_steps == 5
    res = game.step((0.4, 0.0), (0.4, 0.0))
    assert res.applied[0] == (0.3, 0.0)          # the newest command in flight is due next
    assert res.applied[1] == (0.1, 0.0)          # a longer latency repeats the one due next
    later = [game.step((0.0, 0.0), (0.0, 0.0)).applied[1][0] for _ in range(5)]
    assert later == [0.1, 0.1, 0.2, 0.3, 0.4]
    bad = ActuatorLimits()
    bad.latency_steps = 20
    with pytest.raises(ValueError, match="latency_steps"):
        game.set_actuators([ActuatorLimits(), bad])
    assert game.actuators.latency.tolist() == [1, 5]    # unchanged


def test_limits_switched_on_at_run_time_ramp_from_the_current_velocity() -> None:
    game = PursuitEvasionGame(_config(ActuatorLimits()))
    game.reset(seed=0, obstacles=NO_OBSTACLES, poses=[[0.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    game.step((1.0, 0.0), (0.0, 0.0))
    game.set_actuators([ActuatorLimits(linear_decel=2.0), ActuatorLimits()])
    assert game.step((0.0, 0.0), (0.0, 0.0)).applied[0] == (0.9, 0.0)
