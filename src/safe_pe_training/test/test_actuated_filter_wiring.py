"""The training paths give the filters the simulator's actuator model and state (issue 16).

One source of truth: ``RobotConfig.actuator`` sets the simulator's model and each filter's
``actuator`` (own robot) and ``opponent_actuator`` (the other); the training config's ``cbf``
may not set them. Every step, each filter gets its robot's held velocity, the commands still in
flight and the opponent's held velocity, read from the vector core (or the single game).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_sim.vec_core import VectorizedPursuitEvasion

from safe_pe_training.config import ConfigError, SafeSelfPlayConfig, make_cbf_config
from safe_pe_training.evaluation import play_match
from safe_pe_training.factories import make_batched_filter, make_env_config
from safe_pe_training.opponents import RandomOpponent
from safe_pe_training.actuation_state import (check_filter_actuators, filter_actuation,
                                              held_actuation)
from safe_pe_training.safe_vec_env import _end_actuation, make_learner_env
from training_fixtures import tiny_config

NAV2 = {"linear_accel": 2.5, "linear_decel": 2.5, "angular_accel": 3.2, "latency_steps": 1}
SLOW = {"linear_accel": 1.0, "linear_decel": 2.0, "angular_accel": 2.0, "latency_steps": 2}


def _config(pursuer: dict | None = None, evader: dict | None = None) -> SafeSelfPlayConfig:
    config = tiny_config("A")
    config.env.overrides = {"max_steps": 40}
    for role, act in (("pursuer", pursuer), ("evader", evader)):
        if act is not None:
            config.env.overrides[role] = {"actuator": act}
    return config.validate()


def test_filter_actuators_come_from_the_robots():
    config = _config(NAV2, SLOW)
    env = make_env_config(config)
    p, e = (make_cbf_config(config, role, env) for role in ("pursuer", "evader"))
    assert p.actuator == ActuatorLimits(**NAV2) and p.opponent_actuator == ActuatorLimits(**SLOW)
    assert e.actuator == ActuatorLimits(**SLOW) and e.opponent_actuator == ActuatorLimits(**NAV2)
    assert p.actuated and e.actuated
    # copies: changing the filter's section does not change the simulator's robot
    p.actuator.linear_accel = 9.0
    assert env.pursuer.actuator.linear_accel == 2.5
    # the profile sets them too
    config.env.overrides = {"max_steps": 40}
    config.env.profile = "diff_drive_nav2"
    assert make_cbf_config(config.validate(), "evader").opponent_actuator \
        == ActuatorLimits(**NAV2)


def test_ideal_robots_give_the_filter_config_of_before():
    config = _config()
    cbf = make_cbf_config(config, "pursuer")
    assert cbf.actuator.ideal and cbf.opponent_actuator.ideal and not cbf.actuated
    assert "actuator" not in cbf.to_dict() and "actuator" not in config.to_dict()["cbf"]


def test_setting_the_filter_actuators_in_the_training_config_is_an_error():
    data = _config().to_dict()
    data["cbf"]["actuator"] = NAV2
    with pytest.raises(ConfigError, match=r"actuator.*<role>\.actuator"):
        SafeSelfPlayConfig.from_dict(data)
    data["cbf"].pop("actuator")
    data["cbf"]["opponent_actuator"] = SLOW
    with pytest.raises(ConfigError, match="opponent_actuator"):
        SafeSelfPlayConfig.from_dict(data)
    config = _config(NAV2, NAV2)
    config.cbf = dataclasses.replace(config.cbf, actuator=ActuatorLimits(**NAV2))
    with pytest.raises(ConfigError, match="actuator"):
        config.validate()
    # an ideal section (what configs written before this change hold) reads as "not set"
    data["cbf"]["opponent_actuator"] = ActuatorLimits().to_dict()
    assert SafeSelfPlayConfig.from_dict(data).cbf.opponent_actuator.ideal


def test_env_and_match_refuse_filters_not_told_the_robots_limits():
    config = _config(NAV2, NAV2)
    env_config = make_env_config(config)
    ideal = make_env_config(_config())
    filters = [make_batched_filter(config, role, ideal) for role in ("pursuer", "evader")]
    with pytest.raises(ConfigError, match="pursuer filter's actuator"):
        check_filter_actuators(filters, env_config.robots())
    core = VectorizedPursuitEvasion(env_config, 2, 0)
    with pytest.raises(ConfigError, match="differs from the simulated robot"):
        play_match(core, RandomOpponent(0), RandomOpponent(1), 2, filters)


def test_filter_actuation_reads_the_core_state():
    config = _config(NAV2, SLOW)
    env_config = make_env_config(config)
    core = VectorizedPursuitEvasion(env_config, 3, 0)
    rng = np.random.default_rng(0)
    for _ in range(4):
        core.step(rng.uniform(0, 0.5, (3, 2)), rng.uniform(0, 0.5, (3, 2)))
    cfg = [make_cbf_config(config, role, env_config) for role in ("pursuer", "evader")]
    v, pend, qv = filter_actuation(cfg[1], core.velocities, core.command_queue, 1)
    assert np.array_equal(v, core.velocities[:, 1]) and np.array_equal(qv, core.velocities[:, 0])
    assert pend.shape == (3, 2, 2) and np.array_equal(pend, core.command_queue[:, 1])
    v, pend, qv = filter_actuation(cfg[0], core.velocities, core.command_queue, 0)
    assert pend.shape == (3, 1, 2) and np.array_equal(pend, core.command_queue[:, 0, :1])
    ideal = make_cbf_config(_config(), "pursuer")
    assert filter_actuation(ideal, core.velocities, core.command_queue, 0) is None


def test_end_state_actuation_before_the_reset_is_the_cores():
    """What the env rebuilds for finished games (the core already zeroed theirs) equals the
    core's own state after a step in which nothing was reset."""
    env_config = make_env_config(_config(NAV2, SLOW))
    core = VectorizedPursuitEvasion(env_config, 4, 3)
    rng = np.random.default_rng(2)
    for _ in range(6):
        prev = core.command_queue.copy()
        info = core.step(rng.uniform(-0.2, 1.0, (4, 2)), rng.uniform(-0.2, 1.0, (4, 2)))[4]
        assert not info["done"].any()
        velocities, queue = _end_actuation(core, info, prev, np.ones(4, dtype=bool))
        assert np.array_equal(velocities, core.velocities)
        assert np.array_equal(queue, core.command_queue)


def test_learner_env_filters_with_the_actuator_state():
    """Run A with ramps and latency: the learner's safe box (its Beta support) is the
    filter's box at the core's actuator state, which is not the box at rest; the learner's
    commands, drawn inside it, pass the resolver unchanged (tier NOMINAL)."""
    config = _config(NAV2, SLOW)
    env = make_learner_env(config, "evader", RandomOpponent(3), num_envs=4, seed=1)
    env.reset()
    rng = np.random.default_rng(5)
    differs = 0
    for _ in range(30):
        _, _, _, infos = env.step(rng.uniform(0.0, 1.0, (4, 2)))
        assert all(i["safety"]["tier"] == 0 for i in infos)
        core, filt = env.core, env.filters[1]
        args = (core.poses[:, 1], core.obstacles, core.obstacle_mask, core.poses[:, 0])
        lo, hi, _ = filt.action_box(*args, velocities=core.velocities[:, 1],
                                    pending=core.command_queue[:, 1, :2],
                                    opponent_velocities=core.velocities[:, 0])
        assert np.array_equal(env._box_lo, lo) and np.array_equal(env._box_hi, np.maximum(hi, lo))
        rest, _, _ = filt.action_box(*args, velocities=np.zeros((4, 2)),
                                     pending=np.zeros((4, 2, 2)),
                                     opponent_velocities=np.zeros((4, 2)))
        differs += int(not np.array_equal(rest, lo))
    assert differs > 0


def test_held_actuation_takes_the_commands_in_flight_as_the_held_velocity():
    config = _config(NAV2, SLOW)
    cfg = make_cbf_config(config, "evader")
    velocities = np.array([[0.5, 0.1], [0.3, -0.2]])
    v, pend, qv = held_actuation(cfg, velocities, 1)
    assert np.array_equal(v, [[0.3, -0.2]]) and np.array_equal(qv, [[0.5, 0.1]])
    assert np.array_equal(pend, [[[0.3, -0.2], [0.3, -0.2]]])
    assert held_actuation(make_cbf_config(_config(), "evader"), velocities, 1) is None
