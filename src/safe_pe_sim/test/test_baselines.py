"""Scripted baselines: scalar == batched, limits, and behaviour as health checks."""

from __future__ import annotations

import numpy as np
import pytest

from safe_pe_sim.baselines import (SCRIPTED, scripted_policy, scripted_policy_single,
                                   to_normalized)
from safe_pe_sim.config import load_profile
from safe_pe_sim.vec_core import VectorizedPursuitEvasion

CFG = load_profile("default")


def _random_states(n: int = 300):
    rng = np.random.default_rng(0)
    poses = np.concatenate((rng.uniform(-9.5, 9.5, (n, 2, 2)),
                            rng.uniform(-np.pi, np.pi, (n, 2, 1))), axis=-1)
    vel = rng.uniform(0, 1, (n, 2, 2))
    obs = np.concatenate((rng.uniform(-8, 8, (n, 2, 2)), rng.uniform(0.3, 1, (n, 2, 1))), -1)
    return poses, vel, obs, np.ones((n, 2), bool)


@pytest.mark.parametrize("name", sorted(SCRIPTED))
def test_scalar_equals_batched_and_within_limits(name: str) -> None:
    role = "evader" if SCRIPTED[name][0] == "evader" else "pursuer"
    robot = CFG.robots()[0 if role == "pursuer" else 1]
    p, v, o, m = _random_states()
    batch = scripted_policy(name, CFG, role, np.random.default_rng(3))(p, v, o, m)
    single = scripted_policy_single(name, CFG, role, np.random.default_rng(3))
    scalar = np.array([single([tuple(x) for x in p[i]], [tuple(x) for x in v[i]],
                              [tuple(x) for x in o[i]]) for i in range(len(p))])
    if name != "random":      # one batch draw != N single draws; the limits still hold
        np.testing.assert_allclose(scalar, batch, atol=1e-12)
    for cmds in (batch, scalar):
        assert np.all((cmds[:, 0] >= robot.v_min) & (cmds[:, 0] <= robot.v_max))
        assert np.all(np.abs(cmds[:, 1]) <= robot.omega_max)
        norm = to_normalized(cmds, robot)
        assert np.all(np.abs(norm) <= 1.0)


def _play(evader: str, profile: str = "turtlebot3_burger", n: int = 16, steps: int = 300):
    cfg = load_profile(profile)
    core = VectorizedPursuitEvasion(cfg, n, seed=0)
    pursue = scripted_policy("pure_pursuit", cfg, "pursuer")
    flee = scripted_policy(evader, cfg, "evader", np.random.default_rng(0))
    captured = ended = violations = 0
    for _ in range(steps):
        state = (core.poses, core.velocities, core.obstacles, core.obstacle_mask)
        _, _, term, trunc, info = core.step(pursue(*state), flee(*state))
        captured += int(info["captured"].sum())
        ended += int((term | trunc).sum())
        violations += int(info["violation"][:, 1].sum())
    return captured, ended, violations / (n * steps)


def test_pure_pursuit_catches_a_random_evader() -> None:
    captured, ended, _ = _play("random")
    assert ended >= 16 and captured / ended > 0.9


def test_aware_flee_avoids_walls_and_obstacles_unlike_flee() -> None:
    _, _, naive = _play("flee")
    _, _, aware = _play("aware_flee")
    assert naive > 0.2             # running straight away ends in a wall
    assert aware < 0.01
