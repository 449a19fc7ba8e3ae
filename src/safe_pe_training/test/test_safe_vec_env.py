"""SafeLearnerVecEnv: Beta actions satisfy every CBF constraint, filtering, infos, PPO ratio."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from safe_pe_cbf.constraints import build_constraints
from safe_pe_training.action_mapping import denormalise_box
from safe_pe_training.beta_policy import BetaDistribution, CBFBetaPolicy
from safe_pe_training.checkpoints import DeployedPolicy, build_policy
from safe_pe_training.factories import arena_of, make_cbf_config, make_env_config
from safe_pe_training.opponents import PolicyOpponent, RandomOpponent, baseline_opponent
from safe_pe_training.safe_vec_env import SafeLearnerVecEnv, make_learner_env
from training_fixtures import tiny_config

th.set_num_threads(1)


def _env(run: str, num_envs: int = 8, role: str = "pursuer", seed: int = 0,
         max_steps: int = 80) -> SafeLearnerVecEnv:
    config = tiny_config(run)
    config.env.overrides = {"max_steps": max_steps}
    env_config = make_env_config(config)
    opponent = RandomOpponent(seed) if role == "pursuer" else \
        baseline_opponent("pure_pursuit", env_config, "pursuer")
    env = make_learner_env(config, role, opponent, env_config, num_envs, seed)
    env.reset()
    return env


def test_beta_commands_satisfy_every_cbf_constraint():
    """>= 1e5 commands sampled from Beta policies in random states all satisfy every
    constraint of the CBF core, and the resolver passes them unchanged (tier NOMINAL)."""
    config = tiny_config("A")
    env_config = make_env_config(config)
    cbf = make_cbf_config(config, "pursuer", env_config)
    arena = arena_of(env_config)
    env = _env("A", num_envs=64, max_steps=60)
    rng = np.random.default_rng(0)
    dist = BetaDistribution(2)
    per_state = 16
    checked = empty_boxes = 0
    worst = -np.inf
    nominal = 0
    resolved = 0
    for step in range(110):
        poses = env.core.poses.copy()
        obstacles, mask = env.core.obstacles.copy(), env.core.obstacle_mask.copy()
        lo, hi, empty = env._box_lo.copy(), env._box_hi.copy(), env._box_empty.copy()
        # the box carried in the observation decodes to the box used for the mapping
        obs = env._learner_obs(env.core.observations())
        lo_obs, hi_obs = denormalise_box(obs[:, -4:], env.limits[0])
        assert np.allclose(lo_obs, lo, atol=1e-5) and np.allclose(hi_obs, hi, atol=1e-5)
        logits = th.as_tensor(rng.normal(0.0, 3.0, size=(64 * per_state, 4)),
                              dtype=th.float32)
        y = dist.proba_distribution(logits).sample().numpy().reshape(64, per_state, 2)
        y[:, 0] = (0.0, 0.0)  # box corners too
        y[:, 1] = (1.0, 1.0)
        # the env's own mapping, for each of the per_state samples of every env
        all_cmds = np.stack([env.learner_commands(y[:, j]) for j in range(per_state)], axis=1)
        for i in range(64):
            if empty[i]:
                empty_boxes += 1
                continue
            cmds = all_cmds[i]
            assert np.all(cmds >= lo[i] - 1e-12) and np.all(cmds <= hi[i] + 1e-12)
            cs = build_constraints(poses[i, 0], arena, obstacles[i][mask[i]], poses[i, 1], cbf)
            slack = cs.G @ cmds.T - cs.g[:, None]
            worst = max(worst, float(slack.max()))
            assert np.all(cmds >= cs.lo - 1e-12) and np.all(cmds <= cs.hi + 1e-12)
            checked += per_state
        # the resolver sees the nominal Beta command of every env as safe
        cmds = env.learner_commands(y[:, 2])
        _, record = env.filters[0].resolve(poses[:, 0], cmds, obstacles, mask, poses[:, 1])
        ok = ~empty
        nominal += int(np.count_nonzero(np.asarray(record.tier)[ok] == 0))
        resolved += int(np.count_nonzero(ok))
        env.step(rng.uniform(0.0, 1.0, size=(64, 2)))
    assert checked >= 100_000
    assert worst <= 1e-9, f"a Beta command violated a CBF constraint by {worst}"
    assert empty_boxes <= 0.01 * 64 * 110
    assert nominal == resolved


class _RatioProbe(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[float] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buf = self.model.rollout_buffer
        dim = buf.observations.shape[-1]
        with th.no_grad():
            _, log_prob, _ = self.model.policy.evaluate_actions(
                th.as_tensor(buf.observations.reshape(-1, dim)),
                th.as_tensor(buf.actions.reshape(-1, 2)))
        stored = th.as_tensor(buf.log_probs.reshape(-1))
        self.errors.append(float((th.exp(log_prob - stored) - 1.0).abs().max()))


def test_ppo_ratio_is_one_on_the_safe_env():
    env = _env("A", num_envs=4)
    model = PPO(CBFBetaPolicy, env, n_steps=32, batch_size=64, n_epochs=2, seed=0,
                device="cpu", learning_rate=1e-3)
    probe = _RatioProbe()
    model.learn(4 * 32 * 3, callback=probe)
    assert len(probe.errors) == 3 and max(probe.errors) < 1e-5, probe.errors


@pytest.mark.parametrize("run", ["A", "B", "C"])
def test_infos_terminal_observations_and_stats(run):
    env = _env(run, num_envs=6, max_steps=20)
    expected_dim = env.base_obs_dim + (4 if run == "A" else 0)
    assert env.observation_space.shape == (expected_dim,)
    rng = np.random.default_rng(1)
    finished = 0
    for _ in range(25):
        actions = rng.uniform(env.action_space.low, env.action_space.high, size=(6, 2))
        obs, rewards, dones, infos = env.step(actions)
        assert obs.shape == (6, expected_dim) and obs.dtype == np.float32
        assert rewards.shape == (6,) and np.all(np.isfinite(rewards))
        for done, info in zip(dones, infos):
            safety = info["safety"]
            assert set(safety) == {"tier", "min_h", "intervention", "intervened",
                                   "violation", "qp_feasible"}
            if run == "B":
                assert safety["tier"] == 5 and np.isnan(safety["min_h"])
            else:
                assert safety["tier"] in (0, 1, 2, 3) and np.isfinite(safety["min_h"])
            if done:
                finished += 1
                assert info["terminal_observation"].shape == (expected_dim,)
                assert info["outcome"] in ("capture", "timeout", "other")
                assert info["TimeLimit.truncated"] == (info["outcome"] == "timeout")
                assert info["episode"]["l"] <= 20
                if run == "A":
                    assert np.all(np.abs(info["terminal_observation"][-4:]) <= 1.0)
    stats = env.pop_stats()
    assert stats.episodes == finished >= 6
    assert stats.captures + stats.timeouts == stats.episodes
    assert env.pop_stats().episodes == 0


def test_run_b_sends_commands_unfiltered_and_c_filters():
    for run in ("B", "C"):
        env = _env(run, num_envs=8, max_steps=50)
        actions = np.tile([1.0, 1.0], (8, 1))  # full speed, hard left turn
        cmds = env.learner_commands(actions)
        assert np.allclose(cmds, env.limits[0].high)
        env.step(actions)
        applied = env.core.velocities[:, 0]
        if run == "B":
            assert np.allclose(applied, cmds)


def test_evader_learner_and_opponents():
    env = _env("A", num_envs=4, role="evader")
    assert env.agent == 1
    obs, _, _, infos = env.step(np.full((4, 2), 0.5))
    assert len(infos) == 4
    # a Beta opponent reads its own safe box; in an unfiltered env it is refused clearly
    config = tiny_config("A")
    env_config = make_env_config(config)
    from safe_pe_training.self_play import SelfPlayTrainer

    meta = SelfPlayTrainer(config, progress_bar=False).checkpoint_metadata("pursuer", 0)
    beta_pursuer = PolicyOpponent(DeployedPolicy(build_policy(meta), meta))
    env.set_opponent(beta_pursuer)
    env.step(np.full((4, 2), 0.5))
    env_b = make_learner_env(tiny_config("B"), "evader", beta_pursuer, num_envs=4)
    env_b.reset()
    with pytest.raises(ValueError, match="use_cbf"):
        env_b.step(np.zeros((4, 2)))
    assert env_config.dt > 0


def test_bad_inputs():
    env = _env("C", num_envs=2)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([[np.nan, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="filters"):
        SafeLearnerVecEnv(env.core, "pursuer", RandomOpponent(), None, use_beta=True)
    with pytest.raises(ValueError, match="role"):
        SafeLearnerVecEnv(env.core, "referee", RandomOpponent())


def test_safety_reward_w5_only_in_runs_with_it():
    """Runs A and D differ only by w5: same seed and actions give rewards that differ by
    exactly w5 * clip(min_h / h_max, -1, 1) of the learner after the step."""
    env_a, env_d = _env("A", num_envs=6, seed=3), _env("D", num_envs=6, seed=3)
    assert env_a.safety_reward is not None and env_d.safety_reward is None
    assert env_a.core.safety_reward is None  # the sim returns state; training adds w5
    rng = np.random.default_rng(2)
    compared = 0
    for _ in range(10):
        actions = rng.uniform(0.0, 1.0, size=(6, 2))
        _, r_a, done_a, _ = env_a.step(actions)
        _, r_d, done_d, _ = env_d.step(actions)
        assert np.array_equal(done_a, done_d)
        computer = env_a.safety_reward
        h = computer.min_barriers(env_a.core.poses, env_a.core.obstacles,
                                  env_a.core.obstacle_mask)[:, 0]
        bonus = computer.w5 * np.clip(h / computer.h_max, -1.0, 1.0)
        live = ~done_a
        assert np.allclose(r_a[live] - r_d[live], bonus[live], atol=1e-6)
        assert np.all(bonus[live] > 0.0)
        compared += int(live.sum())
    assert compared >= 50
