"""gymnasium / PettingZoo / SB3 API checks and game semantics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

from safe_pe_sim.config import load_profile
from safe_pe_sim.env import PursuitEvasionEnv
from safe_pe_sim.errors import SimInputError
from safe_pe_sim.observations import OBS_DIM
from safe_pe_sim.parallel_env import PursuitEvasionParallelEnv
from safe_pe_sim.vec_env import PursuitEvasionVecEnv


@pytest.mark.parametrize("role", ["pursuer", "evader"])
def test_gymnasium_check_env(role: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(PursuitEvasionEnv(role=role, render_mode="rgb_array"), skip_render_check=True)


def test_pettingzoo_parallel_api() -> None:
    parallel_api_test(PursuitEvasionParallelEnv("turtlebot3_burger"), num_cycles=700)


def test_sb3_env_checker_and_ppo_on_vec_env() -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env as sb3_check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check(PursuitEvasionEnv())
    venv = PursuitEvasionVecEnv("default", num_envs=4, role="pursuer", opponent="aware_flee",
                                seed=3)
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    # a learned model can be the opponent of the other role (SB3 .predict)
    env = PursuitEvasionEnv(role="evader", opponent=model)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    venv2 = PursuitEvasionVecEnv("default", num_envs=3, role="evader", opponent=model, seed=0)
    venv2.reset()
    venv2.step(np.zeros((3, 2)))


def test_action_mapping_and_bad_input() -> None:
    env = PursuitEvasionEnv(opponent=lambda obs: np.array([-1.0, 0.0]))
    with pytest.raises(SimInputError, match="reset"):
        env.step(np.zeros(2))
    env.reset(seed=1)
    _, _, _, _, info = env.step(np.array([1.0, -1.0]))
    assert env.game.velocities[0] == (1.0, -2.84)            # affine map to the limits
    assert info["opponent_command"] == (0.0, 0.0)
    env.step(np.array([5.0, 5.0]))                            # clipped
    assert env.game.velocities[0] == (1.0, 2.84)
    with pytest.raises(SimInputError, match="non-finite"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(SimInputError, match="length-2"):
        env.step(np.array([0.0]))
    with pytest.raises(SimInputError, match="unknown reset option"):
        env.reset(options={"layout": 1})
    bad = PursuitEvasionEnv(opponent=lambda obs: np.array([np.inf, 0.0]))
    bad.reset(seed=0)
    with pytest.raises(SimInputError, match="non-finite"):
        bad.step(np.zeros(2))
    with pytest.raises(SimInputError, match="unknown scripted"):
        PursuitEvasionEnv(opponent="teleport")
    with pytest.raises(ValueError, match="plays the pursuer"):
        PursuitEvasionEnv(role="pursuer", opponent="pure_pursuit")
    with pytest.raises(SimInputError, match="role"):
        PursuitEvasionEnv(role="referee")


def test_capture_terminates_zero_sum() -> None:
    cfg = load_profile("default")
    env = PursuitEvasionParallelEnv(cfg)
    poses = np.array([[0.0, 0.0, 0.0], [0.54, 0.0, 0.0]])
    env.reset(seed=0, options={"poses": poses, "obstacles": np.zeros((0, 3))})
    obs, rew, term, trunc, info = env.step({"pursuer": np.array([1.0, 0.0]),
                                            "evader": np.array([-1.0, 0.0])})
    assert term == {"pursuer": True, "evader": True} and not any(trunc.values())
    assert info["pursuer"]["captured"]
    closing = 0.05                                  # pursuer 1 m/s, evader v_min = 0
    assert rew["pursuer"] == pytest.approx(10.0 + closing - 0.01)
    assert rew["evader"] == pytest.approx(-rew["pursuer"])
    assert env.agents == []


def test_timeout_truncates_and_violation_recorded_or_terminal() -> None:
    cfg = load_profile("default")
    cfg.max_steps = 5
    env = PursuitEvasionEnv(cfg, role="evader", opponent=lambda o: np.array([-1.0, 0.0]))
    poses = np.array([[-5.0, 0.0, 0.0], [9.7, 0.0, 0.0]])       # evader drives into the wall
    env.reset(options={"poses": poses, "obstacles": np.zeros((0, 3))})
    for t in range(5):
        _, r, term, trunc, info = env.step(np.array([1.0, 0.0]))
        assert not term
    assert trunc and info["timed_out"] and info["episode"]["l"] == 5
    assert info["violation"] == (False, True) and info["episode"]["violation_steps"] >= 1
    cfg.terminate_on_violation = True
    env = PursuitEvasionEnv(cfg, role="evader", opponent=lambda o: np.array([-1.0, 0.0]))
    env.reset(options={"poses": poses, "obstacles": np.zeros((0, 3))})
    for _ in range(5):
        _, _, term, trunc, info = env.step(np.array([1.0, 0.0]))
        if term:
            break
    assert term and not trunc and not info["captured"] and info["violation"][1]


def test_same_seed_same_episode() -> None:
    def run(seed: int) -> list[np.ndarray]:
        env = PursuitEvasionEnv(role="pursuer", opponent="aware_flee")
        out = [env.reset(seed=seed)[0]]
        for k in range(30):
            out.append(env.step(np.array([math.sin(k), math.cos(k)]))[0])
        return out
    a, b, c = run(4), run(4), run(5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_vec_env_terminal_observation_and_episode_info() -> None:
    cfg = load_profile("turtlebot3_burger")
    cfg.max_steps = 20
    venv = PursuitEvasionVecEnv(cfg, num_envs=5, role="pursuer", opponent="flee", seed=0)
    venv.reset()
    for _ in range(20):
        obs, rew, done, infos = venv.step(np.zeros((5, 2)))
    assert done.all()
    for info in infos:
        assert info["TimeLimit.truncated"] and info["episode"]["l"] == 20
        assert info["terminal_observation"].shape == (OBS_DIM,)
    assert venv.core.steps.tolist() == [0] * 5                # auto-reset
    assert venv.get_attr("render_mode") == [None] * 5
    assert venv.env_is_wrapped(object) == [False] * 5
    with pytest.raises(SimInputError, match="non-finite"):
        venv.step(np.full((5, 2), np.nan))


def test_vector_core_input_checks_and_empty_layout() -> None:
    from safe_pe_sim.vec_core import VectorizedPursuitEvasion

    cfg = load_profile("default")
    cfg.obstacles.count_min = cfg.obstacles.count_max = 0
    core = VectorizedPursuitEvasion(cfg, 4, seed=0)
    obs, _, _, _, info = core.step(np.zeros((4, 2)), np.ones((4, 2)))
    assert obs.shape == (4, 2, OBS_DIM) and core.obstacles.shape == (4, 0, 3)
    before = core.poses.copy()
    with pytest.raises(SimInputError, match=r"shape \(4, 2\)"):
        core.step(np.zeros(2), np.zeros((4, 2)))          # no silent broadcasting
    bad = np.zeros((4, 2))
    bad[2, 1] = np.inf
    with pytest.raises(SimInputError, match=r"game\(s\) \[2\]"):
        core.step(np.zeros((4, 2)), bad)
    np.testing.assert_array_equal(core.poses, before)     # nothing was applied
    with pytest.raises(SimInputError, match="seed"):
        core.reset(seed=-1)


def test_reset_options_are_validated() -> None:
    env = PursuitEvasionEnv()
    with pytest.raises(SimInputError, match=r"\(2, 3\)"):
        env.reset(options={"poses": np.zeros(5)})
    with pytest.raises(SimInputError, match="finite"):
        env.reset(options={"poses": [[0.0, 0.0, np.nan], [1.0, 1.0, 0.0]]})
    with pytest.raises(ValueError, match="radii"):
        env.reset(options={"obstacles": [[0.0, 0.0, -1.0]]})
    env.reset(options={"poses": [[0.0, 0.0, 7.0], [3.0, 3.0, 0.0]]})
    assert env.game.poses[0][2] == pytest.approx(7.0 - 2 * math.pi)
