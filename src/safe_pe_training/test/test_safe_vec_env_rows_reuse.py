"""SafeLearnerVecEnv reuses one state's CBF rows (w5 reward, safe boxes, resolvers) with
results bitwise equal to building them afresh for every call."""

from __future__ import annotations

import numpy as np
import torch as th
from safe_pe_cbf.batch import min_barrier
from safe_pe_cbf.config import CBFConfig

from safe_pe_training.checkpoints import DeployedPolicy, build_policy
from safe_pe_training.factories import make_env_config
from safe_pe_training.opponents import PolicyOpponent
from safe_pe_training.safe_vec_env import SafeLearnerVecEnv, make_learner_env
from safe_pe_training.self_play import SelfPlayTrainer
from training_fixtures import tiny_config

th.set_num_threads(1)


class _FreshRowsEnv(SafeLearnerVecEnv):
    """Reference: every call builds its rows afresh (no reuse)."""

    def _rows(self, agent, *args):
        self._rows_cache[agent] = None
        return super()._rows(agent, *args)


#: env overrides of ramped robots with latencies 1 and 2 (the actuator model)
ACTUATED = {"pursuer": {"actuator": {"linear_accel": 2.5, "linear_decel": 2.5,
                                     "angular_accel": 3.2, "latency_steps": 1}},
            "evader": {"actuator": {"linear_accel": 1.0, "linear_decel": 2.0,
                                    "angular_accel": 2.0, "latency_steps": 2}}}


def _pair(run: str, role: str, num_envs: int, seed: int, overrides: dict | None = None):
    config = tiny_config(run)
    config.env.overrides = {"max_steps": 25, **(overrides or {})}  # many auto-resets
    env_config = make_env_config(config)
    other = "evader" if role == "pursuer" else "pursuer"
    meta = SelfPlayTrainer(config, progress_bar=False).checkpoint_metadata(other, 0)
    th.manual_seed(seed)
    opponent = PolicyOpponent(DeployedPolicy(build_policy(meta), meta, deterministic=True))
    fast = make_learner_env(config, role, opponent, env_config, num_envs, seed)
    ref = make_learner_env(config, role, opponent, env_config, num_envs, seed)
    ref.__class__ = _FreshRowsEnv
    ref.share_rows = False  # the reward computer's own min_barrier call
    return fast, ref


def test_rows_reuse_is_bitwise_identical_to_fresh_calls():
    for run, role in (("A", "pursuer"), ("A", "evader")):
        fast, ref = _pair(run, role, num_envs=6, seed=4)
        assert fast._shares_rows() and not ref._shares_rows()
        _check_reuse(fast, ref)


def test_rows_reuse_under_the_actuator_model():
    """The cache keys include the actuator state (held velocities, commands in flight):
    reused rows still equal fresh ones, terminal boxes included (built from the state before
    the automatic reset). The w5 term is the geometric barrier, not the rows' min_h."""
    for role in ("pursuer", "evader"):
        fast, ref = _pair("A", role, num_envs=6, seed=4, overrides=ACTUATED)
        assert fast.filters[0].config.actuated and not fast._shares_rows()
        _check_reuse(fast, ref)


def _check_reuse(fast, ref):
    """Step both envs with the same actions; everything they return must be equal."""
    assert fast.core.safety_reward is None  # training adds w5, not the sim
    assert np.array_equal(fast.reset(), ref.reset())
    rng = np.random.default_rng(1)
    dones = 0
    for _ in range(80):
        y = rng.uniform(0.0, 1.0, size=(6, 2))
        a, b = fast.step(y), ref.step(y)
        for x1, x2 in zip(a[:3], b[:3]):
            assert np.array_equal(x1, x2)
        for i1, i2 in zip(a[3], b[3]):
            assert i1["safety"] == i2["safety"]
            assert i1.keys() == i2.keys()
            if "terminal_observation" in i1:
                assert np.array_equal(i1["terminal_observation"],
                                      i2["terminal_observation"])
        assert np.array_equal(fast._box_lo, ref._box_lo)
        assert np.array_equal(fast._box_hi, ref._box_hi)
        dones += int(a[2].sum())
    assert dones >= 6  # auto-resets (inputs changed under the cache) were exercised
    # the learner's commands were all certified as they were (run A: tier NOMINAL)
    assert all(i["safety"]["tier"] == 0 for i in a[3])


def test_reward_keeps_its_own_config_after_a_filter_update():
    """If the learner's filter gets another config, the w5 reward still uses the reward
    computer's config (no sharing of rows any more)."""
    fast, ref = _pair("A", "pursuer", num_envs=4, seed=2)
    fast.reset()
    ref.reset()
    for env in (fast, ref):
        env.safety_reward.h_max = 1e6  # no clipping: the barrier value itself is compared
        old = env.filters[0].config
        env.filters[0].update(CBFConfig(**{**old.to_dict(), "margin": 0.3}))
    assert not fast._shares_rows()
    computer = fast.safety_reward
    core = fast.core
    h = min_barrier(core.poses[:, 0], computer.arena, core.obstacles, core.obstacle_mask,
                    core.poses[:, 1], computer.cbf_configs[0])
    assert np.array_equal(fast._w5_term(core.poses, core.obstacles, core.obstacle_mask, None),
                          computer.w5 * np.clip(h / computer.h_max, -1.0, 1.0))
    y = np.full((4, 2), 0.5)
    a, b = fast.step(y), ref.step(y)  # the env itself keeps working with the new config
    assert np.array_equal(a[1], b[1])
