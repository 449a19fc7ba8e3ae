"""The w5 safety reward equals the single-robot barrier values (moved from the simulator)."""

from __future__ import annotations

import numpy as np
import pytest
import safe_pe_sim.rewards as sim_rewards
from safe_pe_cbf.constraints import build_constraints
from safe_pe_cbf.geometry import Arena
from safe_pe_sim.config import load_profile
from safe_pe_sim.vec_core import VectorizedPursuitEvasion

from safe_pe_training.safety_reward import SafetyRewardComputer, agent_cbf_configs


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


def test_the_simulator_does_not_import_the_batched_filter() -> None:
    """Data flows one way: the sim's reward module knows nothing of the CBF batch."""
    src = open(sim_rewards.__file__, encoding="utf-8").read()
    assert "safe_pe_cbf" not in src
