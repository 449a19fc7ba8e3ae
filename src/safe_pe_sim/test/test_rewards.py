"""Game rewards and the SafetyRewardComputer."""

from __future__ import annotations

import numpy as np
import pytest
from safe_pe_cbf.constraints import build_constraints
from safe_pe_cbf.geometry import Arena

from safe_pe_sim.config import RewardConfig, load_profile
from safe_pe_sim.rewards import (SafetyRewardComputer, agent_cbf_configs, game_rewards,
                                 game_rewards_scalar)
from safe_pe_sim.vec_core import VectorizedPursuitEvasion


def test_zero_sum_and_general_sum() -> None:
    cfg = RewardConfig(violation=-2.0)
    d_prev = np.array([5.0, 1.0, 3.0])
    d_now = np.array([4.9, 0.4, 3.1])
    cap = np.array([False, True, False])
    out = np.array([False, False, True])
    viol = np.array([[False, False], [True, False], [False, True]])
    r = game_rewards(cfg, d_prev, d_now, cap, out, viol)
    np.testing.assert_allclose(r[:, 0], [0.1 - 0.01, 10 + 0.6 - 0.01 - 2.0, -10 - 0.1 - 0.01])
    np.testing.assert_allclose(r[:, 1], [-(0.1 - 0.01), -(10 + 0.6 - 0.01), 10.11 - 2.0])
    for i in range(3):
        s = game_rewards_scalar(cfg, d_prev[i], d_now[i], cap[i], out[i], viol[i].tolist())
        np.testing.assert_allclose(s, r[i], atol=1e-12)
    gs = RewardConfig(zero_sum=False, evader_capture=-3.0, evader_escape=7.0,
                      evader_distance=-0.5, evader_time=0.02)
    r = game_rewards(gs, d_prev, d_now, cap, out, viol)
    np.testing.assert_allclose(r[:, 1], [-0.05 + 0.02, -3 - 0.3 + 0.02, 7 + 0.05 + 0.02])


def test_safety_reward_equals_single_robot_barriers() -> None:
    cfg = load_profile("default")
    cfg.rewards.w5 = 0.5
    cfg.rewards.h_max = 2.0
    core = VectorizedPursuitEvasion(cfg, 12, seed=0)
    core.poses[0, 0, :2] = (9.5, 0.0)              # near a wall: h small, positive
    core.poses[1, 1, :2] = (10.2, 0.0)             # outside: h negative
    comp = SafetyRewardComputer(cfg)
    got = comp.compute(core.poses, core.obstacles, core.obstacle_mask)
    arena = Arena(*cfg.arena.bounds())
    cbf = agent_cbf_configs(cfg)
    for i in range(12):
        for a in range(2):
            h = build_constraints(core.poses[i, a], arena,
                                  core.obstacles[i][core.obstacle_mask[i]],
                                  core.poses[i, 1 - a], cbf[a]).h.min()
            assert got[i, a] == pytest.approx(0.5 * np.clip(h / 2.0, -1, 1), abs=1e-12)
    assert 0 < got[0, 0] < 0.5 and got[1, 1] < 0
    assert np.all(SafetyRewardComputer(cfg, w5=0.0).compute(
        core.poses, core.obstacles, core.obstacle_mask) == 0)
