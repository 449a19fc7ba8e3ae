"""Actuator identification against the simulator itself (issue 16 item 5), no ROS.

The game (:class:`PursuitEvasionGame`, and the vector core for one case) is driven through
the identification manoeuvre of docs/actuation_id.md in an open world (no obstacles; walls
and the other robot out of reach for the whole run, so solid contact never zeroes a
velocity; a disturbed step raises). Its held velocities (what the simulator's odometry
reports) go through the CSV file ``safe_pe_train identify --csv`` reads; the estimate must
give every configured limit within 10 % and the latency exactly, for both robots of the
profiles ``diff_drive_nav2`` and ``turtlebot3_burger_ramped`` and of a custom game with two
periods of latency, dt 0.1 s, reversing bases and different limits per robot.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from safe_pe_sim.config import RobotConfig, load_profile
from safe_pe_sim.vec_core import VectorizedPursuitEvasion

from safe_pe_training.actuator_id import identify
from safe_pe_training.actuator_log import read_csv, write_csv
from safe_pe_training.actuator_sim import (DisturbedRunError, SimRunError, custom_game, manoeuvre,
                                           manoeuvres, open_world, record_game)
from safe_pe_training.cli import main

LIMITS = ("linear_accel", "linear_decel", "angular_accel")


GAMES = {"diff_drive_nav2": lambda: load_profile("diff_drive_nav2"),
         "turtlebot3_burger_ramped": lambda: load_profile("turtlebot3_burger_ramped"),
         "custom_latency2_dt0.1": custom_game}


def assert_recovered(robot: RobotConfig, dt: float, est) -> None:
    want = robot.actuator
    for name in LIMITS:
        got = getattr(est, name)
        assert abs(got.value - getattr(want, name)) <= 0.1 * getattr(want, name), \
            f"{name}: {got.value:.4f} vs {getattr(want, name)}\n{est.summary()}"
        assert got.samples >= 5, est.summary()
    assert est.latency_steps == want.latency_steps, est.summary()
    assert math.isclose(est.latency_s, want.latency_steps * dt, rel_tol=1e-6), est.summary()


@pytest.mark.parametrize("noise", [0.0, 0.01])
@pytest.mark.parametrize("game", sorted(GAMES))
def test_identify_recovers_the_simulators_actuators_from_a_csv(game, noise, tmp_path):
    """Both robots; the simulator's exact odometry, and with 1 % odometry noise added."""
    cfg = GAMES[game]()
    assert any(not r.actuator.ideal for r in cfg.robots())
    commands = manoeuvres(cfg)
    world = open_world(cfg, len(commands))
    for a, (robot, rec) in enumerate(zip(cfg.robots(), record_game(world, commands, seed=3,
                                                                   noise=noise))):
        assert (rec.v_cmd < 0).any() == (robot.v_min < 0)   # reverses where it can
        if noise == 0:                                        # and reaches every command
            assert (rec.v_meas.max(), rec.v_meas.min()) == (robot.v_max, min(robot.v_min, 0))
            assert np.abs(rec.w_meas).max() == robot.omega_max
        path = tmp_path / f"{a}.csv"
        write_csv(path, rec)
        assert_recovered(robot, cfg.dt, identify(**read_csv(path).arrays(), dt=cfg.dt))


def test_the_cli_recovers_the_simulators_actuators(tmp_path, capsys):
    """``safe_pe_train identify --csv`` on the custom game's evader (with odometry noise)."""
    cfg = custom_game()
    commands = manoeuvres(cfg)
    rec = record_game(open_world(cfg, len(commands)), commands, seed=4, noise=0.01)[1]
    write_csv(tmp_path / "evader.csv", rec)
    assert main(["identify", "--csv", str(tmp_path / "evader.csv"), "--dt", str(cfg.dt)]) == 0
    out = capsys.readouterr().out
    block = yaml.safe_load(out[out.index("actuator:"):])["actuator"]
    want = cfg.evader.actuator
    for name in LIMITS:
        assert abs(block[name] - getattr(want, name)) <= 0.1 * getattr(want, name), out
    assert block["latency_steps"] == want.latency_steps == 2, out


def test_the_vector_core_holds_the_same_velocities():
    """The vector core (its ``velocities``: the held ones) gives the game's recording."""
    cfg = custom_game()
    commands = manoeuvres(cfg)
    world = open_world(cfg, len(commands))
    recs = record_game(world, commands, seed=5)
    core = VectorizedPursuitEvasion(world, num_envs=2, seed=5)
    held = np.empty((len(commands), 2, 2, 2))
    for k, cmd in enumerate(commands):
        _, _, _, _, info = core.step(np.tile(cmd[0], (2, 1)), np.tile(cmd[1], (2, 1)))
        assert not info["violation"].any() and not info["done"].any(), k
        held[k] = core.velocities
    for a, rec in enumerate(recs):
        for i in range(2):
            np.testing.assert_allclose(held[:, i, a, 0], rec.v_meas, atol=1e-12)
            np.testing.assert_allclose(held[:, i, a, 1], rec.w_meas, atol=1e-12)


@pytest.mark.parametrize("game", sorted(GAMES))
def test_the_open_world_keeps_full_speed_runs_clear(game):
    """Both robots at full speed (forward or backward) on straight lines for the whole run,
    from every seed tried: nothing is touched, no one is captured."""
    cfg = GAMES[game]()
    steps = len(manoeuvres(cfg))
    world = open_world(cfg, steps)
    for seed in range(5):
        commands = np.zeros((steps, 2, 2))
        for a, robot in enumerate(cfg.robots()):
            commands[:, a, 0] = robot.v_min if seed % 2 and robot.v_min < 0 else robot.v_max
        record_game(world, commands, seed=seed)   # raises DisturbedRunError otherwise


def test_a_run_in_the_profiles_own_arena_is_refused_as_disturbed():
    cfg = load_profile("turtlebot3_burger_ramped")     # a 4.4 m arena with obstacles
    commands = manoeuvres(cfg)
    with pytest.raises(DisturbedRunError, match="open_world"):
        record_game(cfg, commands, seed=0)


def test_bad_arguments_say_what_to_change():
    robot = load_profile("diff_drive_nav2").pursuer
    with pytest.raises(SimRunError, match="repeats"):
        manoeuvre(robot, 0.05, repeats=0)
    with pytest.raises(SimRunError, match="dt"):
        manoeuvre(robot, float("nan"))
    with pytest.raises(SimRunError, match="fewer repeats"):
        open_world(load_profile("diff_drive_nav2"), 100_000)
    cfg = custom_game()
    commands = manoeuvres(cfg)
    commands[10, 1, 0] = 2.0
    with pytest.raises(SimRunError, match="evader commands exceed"):
        record_game(open_world(cfg, len(commands)), commands)
    with pytest.raises(SimRunError, match="shape"):
        record_game(cfg, commands[:, 0])
