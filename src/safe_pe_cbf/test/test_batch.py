"""BatchedSafetyFilter: bitwise-identical to the single-robot path (and its compiled loop to
the same loop in plain Python); barrier values; input."""

import numpy as np
import pytest

from cbf_random import random_scenes
from plain_python import run_plain_python
from safe_pe_cbf.batch import BatchedSafetyFilter, barrier_values, min_barrier
from safe_pe_cbf.bounds import safe_action_box
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import build_constraints
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver

ARENA = Arena.square(6.0)

CONFIGS = {
    "default": CBFConfig(),
    "worst_case": CBFConfig(collision_mode="worst_case", gamma=0.3, weights=(1.0, 1.0)),
    "reverse": CBFConfig(v_min=-0.5, margin=0.0, relaxation_order=("obstacles", "arena",
                                                                     "collision")),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("with_opp", [True, False])
def test_resolve_identical_to_single_path(name, with_opp):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(10 * sorted(CONFIGS).index(name) + with_opp)
    N = 1500
    P, Q, O, mask, U = random_scenes(rng, N)
    filt = BatchedSafetyFilter(cfg, ARENA, chunk_size=512)  # several chunks
    assert filt.backend == "numba"  # numba is in requirements.txt: its absence must fail
    u, rec = filt.resolve(P, U, O, mask, Q if with_opp else None)
    tiers = set()
    for i in range(N):
        res = SafeActionResolver(cfg, ARENA, O[i][mask[i]])
        us, rs = res.resolve(P[i], U[i], Q[i] if with_opp else None)
        assert np.array_equal(us, u[i]), (i, us, u[i])
        assert rs.tier == rec.tier[i]
        assert rs.min_h == rec.min_h[i]
        assert rs.intervention == rec.intervention[i]
        assert rs.intervened == rec.intervened[i]
        assert rs.qp_feasible == rec.qp_feasible[i]
        # names differ only by obstacle numbering (masked slots are skipped in the single path)
        kind = rec.min_h_constraint(i).split("[")[0]
        assert rs.min_h_constraint.split("[")[0] == kind
        tiers.add(int(rs.tier))
    assert {0, 1, 3} <= tiers


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_rare_relaxed_tier_identical_to_single_path(name):
    """RELAXED is rare in random scenes: find some in a large batch and compare them."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(77)
    P, Q, O, mask, U = random_scenes(rng, 40_000, near=0.8)
    u, rec = BatchedSafetyFilter(cfg, ARENA).resolve(P, U, O, mask, Q)
    rows = np.nonzero(rec.tier == 2)[0]
    assert rows.size >= 5
    for i in rows[:200]:
        us, rs = SafeActionResolver(cfg, ARENA, O[i][mask[i]]).resolve(P[i], U[i], Q[i])
        assert np.array_equal(us, u[i]) and rs.tier == 2 and "softened" in rs.reason


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_action_box_identical_to_single_path(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(7)
    N = 1000
    P, Q, O, mask, _ = random_scenes(rng, N)
    filt = BatchedSafetyFilter(cfg, ARENA)
    lo, hi, empty, stage = filt.action_box(P, O, mask, Q, with_stage=True)
    for i in range(N):
        box = safe_action_box(P[i], ARENA, O[i][mask[i]], Q[i], cfg)
        assert np.array_equal(box.lo, lo[i]) and np.array_equal(box.hi, hi[i])
        assert box.empty == empty[i] and box.stage == stage[i]
    assert 0 < empty.mean() < 1


def test_barrier_values_match_constraint_set():
    cfg = CBFConfig()
    rng = np.random.default_rng(2)
    P, Q, O, mask, _ = random_scenes(rng, 200)
    H = barrier_values(P, ARENA, O, mask, Q, config=cfg)
    assert H.shape == (200, 5 + 3)
    assert np.all(np.isinf(H[:, 5:][~mask]))
    np.testing.assert_array_equal(H.min(axis=1), min_barrier(P, ARENA, O, mask, Q, cfg))
    filt = BatchedSafetyFilter(cfg, ARENA)
    np.testing.assert_array_equal(filt.barrier_values(P, O, mask, Q), H)
    for i in range(200):
        cs = build_constraints(P[i], ARENA, O[i][mask[i]], Q[i], cfg)
        present = np.r_[True, True, True, True, True, mask[i]]
        np.testing.assert_array_equal(cs.h, H[i][present])
    assert np.all(np.isinf(barrier_values(P, ARENA, O, mask, None, cfg)[:, 0]))


def test_shared_obstacles_and_no_mask():
    cfg = CBFConfig()
    P = np.array([[1.0, 1.0, 0.0], [3.0, 3.0, 1.0]])
    obs = np.array([[2.0, 1.0, 0.3]])
    u, rec = BatchedSafetyFilter(cfg, ARENA).resolve(P, np.array([[1.0, 0.0], [0.5, 0.0]]),
                                                     obs)
    assert u.shape == (2, 2) and rec.tier.shape == (2,)


def test_numba_is_the_default_backend_and_numpy_is_gone():
    assert BatchedSafetyFilter(CBFConfig(), ARENA).backend == "numba"
    with pytest.raises(SafetyInputError, match="backend"):
        BatchedSafetyFilter(CBFConfig(), ARENA, backend="fortran")
    with pytest.raises(SafetyInputError, match="numpy backend was removed"):
        BatchedSafetyFilter(CBFConfig(), ARENA, backend="numpy")


_PLAIN = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from cbf_random import random_scenes
from safe_pe_cbf import jit
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.geometry import Arena
assert not jit.AVAILABLE
cfg = CBFConfig.from_dict(json.loads(sys.argv[2]))
P, Q, O, mask, U = random_scenes(np.random.default_rng(5), 1500, near=0.8)
filt = BatchedSafetyFilter(cfg, Arena.square(6.0))
assert filt.backend == "python"
out = {}
for tag, opp in (("q", Q), ("n", None)):
    u, rec = filt.resolve(P, U, O, mask, opp)
    out[tag + "u"] = u
    for f in ("tier", "min_h", "min_h_index", "intervention", "intervened", "qp_feasible",
              "active_i", "active_j"):
        out[tag + f] = getattr(rec, f)
    for f, a in zip(("lo", "hi", "empty", "stage"), filt.action_box(P, O, mask, opp, True)):
        out[tag + f] = a
np.savez(sys.argv[3], **out)
"""


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_plain_python_loop_equals_the_compiled_one(name, tmp_path):
    """The kernels without numba (a robot, NUMBA_DISABLE_JIT=1) give the compiled results
    bitwise: commands, records (active constraints too) and boxes, every tier."""
    cfg = CONFIGS[name]
    plain = run_plain_python(_PLAIN, cfg, tmp_path)
    P, Q, O, mask, U = random_scenes(np.random.default_rng(5), 1500, near=0.8)
    filt = BatchedSafetyFilter(cfg, ARENA)
    tiers = set()
    for tag, opp in (("q", Q), ("n", None)):
        u, rec = filt.resolve(P, U, O, mask, opp)
        assert np.array_equal(plain[tag + "u"], u)
        for f in ("tier", "min_h", "min_h_index", "intervention", "intervened",
                  "qp_feasible", "active_i", "active_j"):
            assert np.array_equal(plain[tag + f], getattr(rec, f)), f
        for f, a in zip(("lo", "hi", "empty", "stage"),
                        filt.action_box(P, O, mask, opp, True)):
            assert np.array_equal(plain[tag + f], a), f
        tiers |= set(np.unique(rec.tier).tolist())
    assert tiers >= {0, 1, 3}


@pytest.mark.parametrize("bad", [
    dict(P=np.array([[np.nan, 1.0, 0.0]])),
    dict(U=np.array([[np.inf, 0.0]])),
    dict(Q=np.array([[1.0, 1.0, np.nan]])),
    dict(O=np.array([[[2.0, 2.0, -1.0]]])),
    dict(mask=np.array([[1]])),
    dict(P=np.zeros((1, 2))),
    dict(U=np.zeros((2, 2))),
])
def test_bad_batched_input_raises(bad):
    args = dict(P=np.array([[1.0, 1.0, 0.0]]), U=np.array([[0.5, 0.0]]),
                O=np.array([[[2.0, 2.0, 0.5]]]), mask=np.array([[True]]),
                Q=np.array([[4.0, 4.0, 0.0]]))
    args.update(bad)
    filt = BatchedSafetyFilter(CBFConfig(), ARENA)
    with pytest.raises(SafetyInputError):
        filt.resolve(args["P"], args["U"], args["O"], args["mask"], args["Q"])
    with pytest.raises(SafetyInputError):
        rows = filt.build_rows(args["P"], args["O"], args["mask"], args["Q"])
        filt.resolve_rows(rows, args["U"])


def test_masked_rows_may_hold_garbage():
    O = np.array([[[2.0, 2.0, 0.5], [np.nan, np.inf, -3.0]]])
    mask = np.array([[True, False]])
    u, rec = BatchedSafetyFilter(CBFConfig(), ARENA).resolve(
        np.array([[1.0, 1.0, 0.0]]), np.array([[0.5, 0.0]]), O, mask)
    assert np.all(np.isfinite(u))
