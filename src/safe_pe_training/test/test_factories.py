"""Tests of the factories: env config, CBF configs, resolver, safe envs, batched filter."""

from __future__ import annotations

import numpy as np
import pytest

from safe_pe_training.config import ConfigError, SafeSelfPlayConfig, get_run_configs
from safe_pe_training.factories import (
    arena_of,
    make_batched_filter,
    make_cbf_config,
    make_cbf_filter,
    make_env_config,
    make_resolver,
    make_safe_env,
    make_safe_vec_env,
    make_safety_reward,
    role_index,
)


def _custom(**flags: bool) -> SafeSelfPlayConfig:
    return SafeSelfPlayConfig(run_type="custom", **flags)


class TestMakeComponents:
    def test_env_config_from_profile_and_overrides(self) -> None:
        config = _custom()
        config.env.overrides = {"max_steps": 123, "arena": {"x_max": 8.0, "x_min": -8.0}}
        config.obstacles.count_min, config.obstacles.count_max = 1, 3
        env = make_env_config(config)
        assert env.max_steps == 123 and env.arena.x_max == 8.0 and env.arena.y_max == 10.0
        assert (env.obstacles.count_min, env.obstacles.count_max) == (1, 3)
        assert env.rewards.w5 == config.safety_reward.w5
        assert env.evader.v_max == pytest.approx(1.15 * env.pursuer.v_max)

    def test_env_config_turtlebot_profile(self) -> None:
        config = _custom()
        config.env.profile = "turtlebot3_burger"
        env = make_env_config(config)
        assert env.arena.x_max == pytest.approx(2.2)
        # margin 1.15 * pursuer (0.22 / 1.15 rounded): at, not above, the hardware limit.
        assert env.evader.v_max == pytest.approx(0.22, abs=1e-4) and env.evader.v_max <= 0.22
        config.self_play.evader_speed_margin = None
        assert make_env_config(config).evader.v_max == 0.22

    def test_obstacles_disabled(self) -> None:
        config = _custom()
        config.obstacles.enabled = False
        config.env.overrides = {"obstacles": {"explicit": [[0.0, 0.0, 1.0]],
                                              "box_count_min": 1, "box_count_max": 2}}
        env = make_env_config(config)
        assert env.obstacles.count_max == 0 and env.obstacles.explicit == []
        assert env.obstacles.box_count_max == 0 and not env.obstacles.has_boxes

    def test_override_conflicts(self) -> None:
        config = _custom()
        config.obstacles.count_max = 3
        config.env.overrides = {"obstacles": {"count_max": 4}}
        with pytest.raises(ConfigError, match="obstacles.count_max"):
            make_env_config(config)

    def test_make_safe_env(self) -> None:
        with_w5 = _custom(use_cbf=True, use_beta_policy=True, use_safety_reward=True)
        without = _custom(use_cbf=True, use_beta_policy=True, use_safety_reward=False)
        env = make_safe_env(with_w5, role="evader", opponent="pure_pursuit")
        plain = make_safe_env(without, role="evader", opponent="pure_pursuit")
        obs, _ = env.reset(seed=3)
        plain.reset(seed=3)
        assert env.unwrapped.game.obstacles_array.shape[0] == 2  # obstacles present
        differences = []
        for _ in range(20):
            obs, reward, terminated, truncated, _ = env.step(np.array([1.0, 0.0]))
            _, reward_plain, *_ = plain.step(np.array([1.0, 0.0]))
            differences.append(reward - reward_plain)
            if terminated or truncated:
                break
        # Same game, plus a bounded per-step safety term for the learner.
        assert all(0.0 < abs(d) <= with_w5.safety_reward.w5 + 1e-12 for d in differences)
        assert env.observation_space.contains(obs)

    def test_make_safe_env_without_safety_reward(self) -> None:
        config = get_run_configs()["D"]
        env = make_safe_env(config)
        env.reset(seed=0)
        env.step(np.zeros(2))
        assert env.unwrapped.game.safety_reward is None
        assert make_safety_reward(config) is None
        assert make_env_config(config).rewards.w5 == 0.0

    def test_safety_reward_matches_formula(self) -> None:
        config = _custom(use_cbf=True, use_beta_policy=True, use_safety_reward=True)
        config.safety_reward.w5, config.safety_reward.h_max = 0.5, 2.0
        computer = make_safety_reward(config)
        assert computer.cbf_configs == (make_cbf_config(config, "pursuer"),
                                        make_cbf_config(config, "evader"))
        poses = np.array([[[0.0, 0.0, 0.0], [5.0, 5.0, 1.0]]])
        obstacles = np.array([[[2.0, 0.0, 0.5]]])
        out = computer.compute(poses, obstacles, np.ones((1, 1), bool))
        assert out.shape == (1, 2) and np.all(np.abs(out) <= 0.5 + 1e-12)
        # The pursuer is closer to the obstacle than the evader is to anything: less reward.
        assert out[0, 0] < out[0, 1]

    def test_cbf_filter(self) -> None:
        config = _custom()
        config.cbf.gamma, config.cbf.weights = 0.3, (2.0, 0.5)
        env = make_env_config(config)
        pursuer = make_cbf_config(config, "pursuer")
        evader = make_cbf_filter(config, 1)
        assert pursuer.gamma == 0.3 and pursuer.weights == (2.0, 0.5)
        assert pursuer.dt == env.dt and pursuer.v_max == env.pursuer.v_max
        assert pursuer.opponent_v_max == env.evader.v_max
        assert evader.v_max == env.evader.v_max and evader.opponent_v_max == env.pursuer.v_max
        assert pursuer.collision_share + evader.collision_share <= 1.0
        with pytest.raises(ConfigError, match="role"):
            role_index("referee")

    def test_resolver(self) -> None:
        config = _custom()
        resolver = make_resolver(config)
        assert resolver.config == make_cbf_config(config, "pursuer")
        env = make_env_config(config)
        assert resolver.arena == arena_of(env)
        # Heading straight into the right wall at full speed, 0.18 m from contact: the
        # exact QP slows the robot down.
        x = env.arena.x_max - env.pursuer.radius - 0.18
        u, record = resolver.resolve((x, 0.0, 0.0), (env.pursuer.v_max, 0.0))
        assert record.intervened and int(record.tier) == 1 and 0.0 < u[0] < env.pursuer.v_max
        assert record.min_h_constraint == "wall_x_max"
        u_free, free = resolver.resolve((0.0, 0.0, 0.0), (0.5, 0.0))
        assert int(free.tier) == 0 and np.allclose(u_free, (0.5, 0.0))
        with pytest.raises(ConfigError, match="CBFConfig"):
            make_resolver(config, cbf={"gamma": 0.5})

    def test_resolver_with_obstacles(self) -> None:
        config = _custom()
        cbf = make_cbf_config(config, "evader")
        resolver = make_resolver(config, cbf, arena_of(make_env_config(config)),
                                 obstacles=np.array([[1.0, 0.0, 0.5]]), role="evader")
        u, record = resolver.resolve((0.2, 0.0, 0.0), (cbf.v_max, 0.0))
        assert record.intervened and record.min_h_constraint == "obstacle[0]"

    def test_safe_vec_env(self) -> None:
        config = _custom(use_cbf=True, use_beta_policy=True, use_safety_reward=True)
        venv = make_safe_vec_env(config, num_envs=3, seed=5)
        assert venv.num_envs == 3 and venv.core.safety_reward is not None
        venv.reset()
        obs, rewards, dones, infos = venv.step(np.zeros((3, 2), dtype=np.float32))
        assert obs.shape[0] == 3 and rewards.shape == (3,)
        assert make_safe_vec_env(get_run_configs()["B"], num_envs=2).core.safety_reward is None

    def test_batched_filter_matches_resolver(self) -> None:
        config = _custom()
        env = make_env_config(config)
        batched = make_batched_filter(config, "pursuer", env)
        resolver = make_resolver(config, role="pursuer")
        rng = np.random.default_rng(0)
        n = 64
        poses = np.column_stack((rng.uniform(-9, 9, n), rng.uniform(-9, 9, n),
                                 rng.uniform(-np.pi, np.pi, n)))
        opponents = np.column_stack((rng.uniform(-9, 9, n), rng.uniform(-9, 9, n),
                                     rng.uniform(-np.pi, np.pi, n)))
        u_nom = np.column_stack((rng.uniform(0, 1, n), rng.uniform(-2.84, 2.84, n)))
        obstacles = np.tile(np.array([[[2.0, 2.0, 0.8], [-3.0, 1.0, 0.5]]]), (n, 1, 1))
        mask = np.ones((n, 2), dtype=bool)
        u_safe, record = batched.resolve(poses, u_nom, obstacles, mask, opponents)
        resolver.update(obstacles=obstacles[0])
        for i in range(n):
            u, rec = resolver.resolve(poses[i], u_nom[i], opponents[i])
            assert np.allclose(u_safe[i], u, atol=1e-7)
            assert int(record.tier[i]) == int(rec.tier)
