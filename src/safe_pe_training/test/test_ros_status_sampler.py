"""Uniform decimation of training safety statuses and their message conversion."""

from __future__ import annotations

import numpy as np
import pytest

from safe_pe_training.ros.status_sampler import StatusSampler
from safe_pe_training.safe_vec_env import SafetyBatch


def _batch(n: int, tier_value: int | np.ndarray = 0, role: str = 'pursuer') -> SafetyBatch:
    tier = np.broadcast_to(np.asarray(tier_value), (n,)).astype(np.int64)
    return SafetyBatch(role, np.zeros((n, 2)), np.ones((n, 2)), tier, np.linspace(0, 1, n),
                       np.zeros(n), tier > 0, np.ones(n, bool), np.zeros(n, bool))


def test_sampler_keeps_everything_below_capacity_then_resets():
    sampler = StatusSampler(capacity=10)
    sampler.add(_batch(4, 1, 'evader'))
    sampler.add(_batch(3))
    out = sampler.drain()
    assert len(out['tier']) == 7 and list(out['tier']) == [1] * 4 + [0] * 3
    assert list(out['role']) == [1] * 4 + [0] * 3 and list(out['env'][:4]) == [0, 1, 2, 3]
    assert len(sampler.drain()['tier']) == 0
    assert sampler.total_seen == 7


def test_sampler_is_a_uniform_sample_of_a_period():
    sampler = StatusSampler(capacity=200, seed=1)
    fractions = []
    for _ in range(30):
        for _ in range(50):    # 50 steps of 16 envs; a quarter of the statuses are tier QP
            sampler.add(_batch(16, np.array([1, 0, 0, 0] * 4)))
        out = sampler.drain()
        assert len(out['tier']) == 200
        fractions.append(np.mean(out['tier'] == 1))
    assert np.mean(fractions) == pytest.approx(0.25, abs=0.02)


def test_sampler_rejects_zero_capacity():
    with pytest.raises(ValueError, match='capacity'):
        StatusSampler(0)


def test_sample_to_statuses_messages():
    pytest.importorskip('rclpy', reason='rclpy is not installed')
    from safe_pe_training.ros.training_node import sample_to_statuses

    sampler = StatusSampler(capacity=5)
    batch = _batch(3, 3, 'evader')
    batch.intervention[:] = [0.0, np.nan, 0.5]
    sampler.add(batch)
    msgs = sample_to_statuses(sampler.drain())
    assert [m.tier for m in msgs] == [3, 3, 3]
    assert [m.source for m in msgs] == ['training/env0', 'training/env1', 'training/env2']
    assert msgs[0].agent_id == 'evader' and msgs[1].intervention == 0.0
    assert msgs[2].safe.linear.x == 1.0 and msgs[2].nominal.linear.x == 0.0
