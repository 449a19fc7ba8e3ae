"""The vector env equals N single games / envs step for step for the same seeds."""

from __future__ import annotations

import numpy as np
import pytest

from safe_pe_sim.config import ActuatorLimits, ArenaConfig, NoiseConfig, load_profile
from safe_pe_sim.env import PursuitEvasionEnv
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.vec_core import VectorizedPursuitEvasion
from safe_pe_sim.vec_env import PursuitEvasionVecEnv


def _small_config(noise: bool, w5: float = 0.0, profile: str = "turtlebot3_burger",
                  terminate: bool = False, actuated: bool = False):
    cfg = load_profile(profile)
    cfg.max_steps = 60          # several auto-resets within the test
    cfg.terminate_on_violation = terminate
    cfg.rewards.w5 = w5
    cfg.rewards.violation = -0.5
    if profile == "default":    # a smaller arena so that 60-step episodes reach the walls
        cfg.arena = ArenaConfig(-4.0, 4.0, -4.0, 4.0)
        cfg.obstacles.clearance_walls = 0.5
    if noise:
        cfg.actuator_noise = NoiseConfig(v_std=0.05, omega_std=0.3)
    if actuated:  # different ramps and latencies per robot (one queue deeper than the other)
        cfg.pursuer.actuator = ActuatorLimits(1.0, 2.0, 3.0, latency_steps=2)
        cfg.evader.actuator = ActuatorLimits(0.5, 0.0, 0.0, latency_steps=0)
    return cfg.validate()


class _ExtraReward:
    """A state-dependent extra reward on the games' hook (training attaches its w5 term)."""

    def __init__(self, w: float) -> None:
        self.w = w

    def compute(self, poses, obstacles, mask):
        present = mask.sum(axis=1)[:, None]
        return self.w * np.tanh(poses[..., 0] - poses[..., 1]) + 0.01 * present


@pytest.mark.parametrize("noise,w5,profile,terminate,actuated", [
    (False, 0.0, "turtlebot3_burger", False, False),
    (True, 0.0, "turtlebot3_burger", False, False),
    (False, 0.3, "turtlebot3_burger", False, False),
    (True, 0.0, "default", True, False),
    (True, 0.0, "turtlebot3_burger", False, True),
    (False, 0.3, "turtlebot3_burger", True, True),
])
def test_core_equals_single_games(noise: bool, w5: float, profile: str,
                                  terminate: bool, actuated: bool) -> None:
    cfg = _small_config(noise, w5, profile, terminate, actuated)
    n, seed, steps = 6, 11, 200
    vec = VectorizedPursuitEvasion(cfg, n, seed=seed)
    games = [PursuitEvasionGame(cfg) for _ in range(n)]
    if w5 > 0.0:
        computer = _ExtraReward(w5)
        vec.safety_reward = computer
        for g in games:
            g.safety_reward = computer
    for i, g in enumerate(games):
        g.reset(seed=seed + i)
    obs = vec.observations()
    rng = np.random.default_rng(0)
    n_done = n_viol = 0
    for _ in range(steps):
        for i, g in enumerate(games):
            np.testing.assert_allclose(vec.poses[i], np.array(g.poses), atol=1e-9)
            np.testing.assert_allclose(vec.velocities[i], np.array(g.velocities), atol=1e-12)
            np.testing.assert_allclose(vec.command_queue[i], g.command_queue, atol=1e-12)
            np.testing.assert_allclose(obs[i, 0], g.observation(0), atol=2e-6)
            np.testing.assert_allclose(obs[i, 1], g.observation(1), atol=2e-6)
        # wide commands (beyond the limits, so clipping matters too)
        v_hi = 1.3 * cfg.evader.v_max
        cp = rng.uniform([-0.1, -4.0], [v_hi, 4.0], (n, 2))
        ce = rng.uniform([-0.1, -4.0], [v_hi, 4.0], (n, 2))
        obs, rew, term, trunc, info = vec.step(cp, ce)
        for i, g in enumerate(games):
            res = g.step(tuple(cp[i]), tuple(ce[i]))
            assert res.terminated == term[i] and res.truncated == trunc[i]
            assert res.captured == info["captured"][i]
            assert list(res.safety.violated) == list(info["violation"][i])
            assert list(res.safety.kinds) == list(info["violation_kinds"][i])
            np.testing.assert_allclose(res.safety.depth, info["violation_depth"][i], atol=1e-9)
            np.testing.assert_allclose(res.rewards, rew[i], atol=1e-9)
            np.testing.assert_allclose(res.applied, info["applied_commands"][i], atol=1e-12)
            n_viol += any(res.safety.violated)
            if res.terminated or res.truncated:
                n_done += 1
                np.testing.assert_allclose(g.episode_return, info["episode_return"][i],
                                           atol=1e-7)
                assert g.step_count == info["episode_length"][i]
                np.testing.assert_allclose(info["terminal_observation"][i, 0],
                                           g.observation(0), atol=2e-6)
                g.reset()
    assert n_done >= n, "the test should cover auto-resets"
    assert n_viol > 0, "the test should cover violations"


def test_sb3_vec_env_equals_gym_envs() -> None:
    cfg = _small_config(False)
    n, seed = 4, 100
    venv = PursuitEvasionVecEnv(cfg, n, role="evader", opponent="pure_pursuit")
    venv.seed(seed)
    obs = venv.reset()
    envs = [PursuitEvasionEnv(cfg, role="evader", opponent="pure_pursuit") for _ in range(n)]
    single = [e.reset(seed=seed + i)[0] for i, e in enumerate(envs)]
    rng = np.random.default_rng(1)
    dones_seen = 0
    for _ in range(150):
        np.testing.assert_allclose(obs, np.stack(single), atol=2e-6)
        actions = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        obs, rew, done, infos = venv.step(actions)
        single = []
        for i, e in enumerate(envs):
            o, r, te, tr, info = e.step(actions[i])
            assert np.isclose(r, rew[i], atol=1e-5)
            assert (te or tr) == done[i]
            if te or tr:
                dones_seen += 1
                np.testing.assert_allclose(infos[i]["terminal_observation"], o, atol=2e-6)
                assert infos[i]["TimeLimit.truncated"] == tr
                assert infos[i]["episode"]["l"] == info["episode"]["l"]
                o, _ = e.reset()
            single.append(o)
    assert dones_seen >= n
