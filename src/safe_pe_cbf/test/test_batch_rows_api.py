"""build_rows / resolve_rows / action_box_rows / FilterRows.min_h equal the one-shot calls."""

import numpy as np
import pytest

from cbf_random import random_scenes
from safe_pe_cbf.batch import BatchedSafetyFilter, FilterRows, min_barrier
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena

ARENA = Arena.square(6.0)

CONFIGS = {
    "default": CBFConfig(),
    "worst_case": CBFConfig(collision_mode="worst_case", gamma=0.3, weights=(1.0, 1.0)),
    "reverse": CBFConfig(v_min=-0.5, margin=0.0, relaxation_order=("obstacles", "arena",
                                                                     "collision")),
}


def _same_record(a, b) -> None:
    for name in ("tier", "min_h", "min_h_index", "intervention", "intervened",
                 "qp_feasible", "active_i", "active_j"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.names == b.names


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("with_opp", [True, False])
@pytest.mark.parametrize("chunk", [256, 4096])
def test_rows_calls_equal_one_shot_calls(name, with_opp, chunk):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(3 + with_opp)
    N = 1000
    P, Q, O, mask, U = random_scenes(rng, N, near=0.8)
    Q = Q if with_opp else None
    filt = BatchedSafetyFilter(cfg, ARENA, chunk_size=chunk)
    rows = filt.build_rows(P, O, mask, Q)
    assert isinstance(rows, FilterRows) and rows.num_envs == N
    u0, rec0 = filt.resolve(P, U, O, mask, Q)
    u1, rec1 = filt.resolve_rows(rows, U)
    assert np.array_equal(u0, u1)
    _same_record(rec0, rec1)
    assert set(np.unique(rec1.tier)) >= {0, 1, 3}
    # the same rows serve several calls: a second command set, then the boxes
    U2 = U[::-1].copy()
    u2, rec2 = filt.resolve_rows(rows, U2)
    u3, rec3 = filt.resolve(P, U2, O, mask, Q)
    assert np.array_equal(u2, u3)
    _same_record(rec2, rec3)
    box0 = filt.action_box(P, O, mask, Q, with_stage=True)
    box1 = filt.action_box_rows(rows, with_stage=True)
    for a, b in zip(box0, box1):
        assert np.array_equal(a, b)
    assert np.array_equal(rows.min_h, min_barrier(P, ARENA, O, mask, Q, cfg))
    assert np.array_equal(rows.min_h, filt.min_barrier(P, O, mask, Q))
    assert np.array_equal(rows.barrier_values(), filt.barrier_values(P, O, mask, Q))
    assert np.array_equal(rows.min_h, rec1.min_h)
    assert np.array_equal(rows.min_h_index, rec1.min_h_index)


def test_rows_of_another_config_or_stale_rows_are_refused():
    rng = np.random.default_rng(5)
    P, Q, O, mask, U = random_scenes(rng, 10)
    filt = BatchedSafetyFilter(CBFConfig(), ARENA)
    other = BatchedSafetyFilter(CBFConfig(gamma=0.3), ARENA)
    rows = filt.build_rows(P, O, mask, Q)
    with pytest.raises(SafetyInputError, match="another config"):
        other.resolve_rows(rows, U)
    with pytest.raises(SafetyInputError, match="build_rows"):
        filt.action_box_rows("rows")
    filt.update(CBFConfig(gamma=0.4))
    with pytest.raises(SafetyInputError, match="update"):
        filt.action_box_rows(rows)


@pytest.mark.parametrize("bad", [np.array([[np.nan, 0.0]] * 10), np.zeros((9, 2)),
                                 np.full((10, 2), 1e7)])
def test_resolve_rows_validates_commands(bad):
    rng = np.random.default_rng(6)
    P, Q, O, mask, _ = random_scenes(rng, 10)
    filt = BatchedSafetyFilter(CBFConfig(), ARENA)
    with pytest.raises(SafetyInputError, match="u_nom"):
        filt.resolve_rows(filt.build_rows(P, O, mask, Q), bad)


def test_empty_batch():
    filt = BatchedSafetyFilter(CBFConfig(), ARENA)
    rows = filt.build_rows(np.zeros((0, 3)), np.zeros((0, 2, 3)), None, None)
    u, rec = filt.resolve_rows(rows, np.zeros((0, 2)))
    lo, hi, empty = filt.action_box_rows(rows)
    assert u.shape == (0, 2) and lo.shape == (0, 2) and rows.min_h.shape == (0,)
    assert rows.barrier_values().shape == (0, 7)
