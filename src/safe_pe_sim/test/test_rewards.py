"""Game rewards (the w5 safety term is training's: safe_pe_training/test/test_safety_reward.py)."""

from __future__ import annotations

import numpy as np

from safe_pe_sim.config import RewardConfig
from safe_pe_sim.rewards import game_rewards, game_rewards_scalar


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
