"""SafeActionResolver: tiers, records, certified safety of every output, bad input."""

import math
from dataclasses import replace

import numpy as np
import pytest

from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import Consts, build_constraints, certificate_bonus
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver, Tier

ARENA = Arena.square(6.0)
OBS = [(3.0, 3.0, 0.6), (1.5, 4.5, 0.3)]


def certified(cfg, pose, u, opp, gamma):
    """Certificate slack of u with a given gamma (>= 0 means h stays >= 0 on [0, dt])."""
    cs = build_constraints(pose, ARENA, OBS, opp, replace(cfg, gamma=gamma))
    bonus = certificate_bonus(Consts(cfg), float(u[0]), float(u[1]))
    return float(np.min(cs.g + bonus - cs.G @ np.asarray(u, dtype=float)))


def test_tiers_and_record():
    res = SafeActionResolver(CBFConfig(), ARENA, OBS)
    u, rec = res.resolve((1.0, 1.0, 0.0), (0.5, 0.1))
    assert rec.tier == Tier.NOMINAL and not rec.intervened and np.allclose(u, [0.5, 0.1])
    assert rec.intervention == 0.0 and rec.qp_feasible and rec.solve_time > 0
    # heading straight at obstacle 0, close to it: QP slows down
    edge = 3.0 - 0.6 - (0.15 + 0.05 + 0.01) - 0.05  # axle x where obstacle[0]'s h = 0
    u, rec = res.resolve((edge - 0.02, 3.0, 0.0), (1.0, 0.0))
    assert rec.tier == Tier.QP and rec.intervened and u[0] < 1.0
    assert rec.min_h_constraint == "obstacle[0]" and "obstacle[0]" in rec.active_constraints
    assert rec.intervention == pytest.approx(math.hypot(1.0 * (u[0] - 1.0), 0.25 * u[1]))
    # almost touching, facing it: no linear-certified command exists, backup stops/turns
    u, rec = res.resolve((edge - 0.0005, 3.0, 0.0), (1.0, 0.0))
    assert rec.tier in (Tier.RELAXED, Tier.BACKUP) and not rec.qp_feasible and rec.reason
    assert rec.min_h == pytest.approx(0.0005)
    assert certified(res.config, (edge - 0.0005, 3.0, 0.0), u, None, 1.0) >= 0.0


def test_relaxed_tier_softens_collision_first():
    cfg = CBFConfig(collision_mode="worst_case")
    res = SafeActionResolver(cfg, ARENA, [])
    # opponent close behind: worst case needs the robot to run at > opponent speed...
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(3000):
        pose = (rng.uniform(1, 5), rng.uniform(1, 5), rng.uniform(-3, 3))
        ang = rng.uniform(-3, 3)
        dist = rng.uniform(0.45, 1.5)
        opp = (pose[0] + dist * math.cos(ang), pose[1] + dist * math.sin(ang), 0.0)
        u, rec = res.resolve(pose, (rng.uniform(0, 1), rng.uniform(-2.84, 2.84)), opp)
        seen.add(rec.tier)
        if rec.tier == Tier.RELAXED:
            assert "collision" in rec.reason
    assert {Tier.NOMINAL, Tier.QP, Tier.RELAXED, Tier.BACKUP} <= seen


@pytest.mark.parametrize("solver", ["exact", "osqp"])
def test_every_output_is_certified(solver):
    """Whatever the tier, from a safe state the output keeps h >= 0 over the interval."""
    cfg = CBFConfig(solver=solver, osqp_warm_start=True)
    res = SafeActionResolver(cfg, ARENA, OBS)
    rng = np.random.default_rng(5 + len(solver))
    n_int = 0
    for _ in range(1500 if solver == "osqp" else 6000):
        pose = (rng.uniform(0, 6), rng.uniform(0, 6), rng.uniform(-math.pi, math.pi))
        opp = (rng.uniform(0, 6), rng.uniform(0, 6), rng.uniform(-math.pi, math.pi))
        if build_constraints(pose, ARENA, OBS, opp, cfg).h.min() < 0:
            continue
        u_nom = (rng.uniform(-0.5, 1.5), rng.uniform(-4, 4))
        u, rec = res.resolve(pose, u_nom, opp)
        assert np.all(np.isfinite(u))
        assert cfg.v_min <= u[0] <= cfg.v_max and abs(u[1]) <= cfg.omega_max
        assert certified(cfg, pose, u, opp, 1.0) >= -1e-8
        n_int += rec.intervened
    assert n_int > 100


def test_exact_and_osqp_resolvers_agree():
    a = SafeActionResolver(CBFConfig(), ARENA, OBS)
    b = SafeActionResolver(CBFConfig(solver="osqp"), ARENA, OBS)
    rng = np.random.default_rng(11)
    for _ in range(800):
        pose = (rng.uniform(0.5, 5.5), rng.uniform(0.5, 5.5), rng.uniform(-math.pi, math.pi))
        u_nom = (rng.uniform(0, 1), rng.uniform(-2.84, 2.84))
        ua, ra = a.resolve(pose, u_nom)
        ub, rb = b.resolve(pose, u_nom)
        assert ra.tier == rb.tier
        assert np.max(np.abs(ua - ub)) <= 1e-6


@pytest.mark.parametrize("pose,u,opp", [
    ((np.nan, 1.0, 0.0), (0.5, 0.0), None),
    ((1.0, 1.0, 0.0), (np.inf, 0.0), None),
    ((1.0, 1.0, 0.0), (0.5, 0.0), (1.0, -np.inf, 0.0)),
    ((1.0, 1.0), (0.5, 0.0), None),
    ((1.0, 1.0, 0.0), "fast", None),
])
def test_bad_input_raises_typed_error(pose, u, opp):
    res = SafeActionResolver(CBFConfig(), ARENA, OBS)
    with pytest.raises(SafetyInputError):
        res.resolve(pose, u, opp)


def test_update_validates_before_applying():
    res = SafeActionResolver(CBFConfig(), ARENA, OBS)
    with pytest.raises(SafetyInputError):
        res.update(obstacles=[(1.0, 1.0, -0.5)])
    with pytest.raises(SafetyInputError):
        res.update(arena=Arena(0.0, 0.3, 0.0, 5.0))
    assert res.obstacles.shape == (2, 3)
    res.update(obstacles=[])
    assert res.obstacles.shape == (0, 3)


# ----------------------------------------------------------------------------- fuzzing
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from safe_pe_cbf.batch import BatchedSafetyFilter  # noqa: E402
from safe_pe_cbf.bounds import safe_action_box  # noqa: E402

ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                      st.floats(-10.0, 10.0), st.sampled_from([0.0, -0.0, 1e-300, 1e6, -1e6]))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(pose=st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT), u=st.tuples(ANY_FLOAT, ANY_FLOAT),
       opp=st.one_of(st.none(), st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT)))
def test_fuzz_never_non_finite(pose, u, opp):
    """Any input: a typed error, or a finite command within the limits (single and batch)."""
    cfg = CBFConfig()
    res = SafeActionResolver(cfg, ARENA, OBS)
    try:
        out, rec = res.resolve(pose, u, opp)
    except SafetyInputError:
        out = None
    if out is not None:
        assert np.all(np.isfinite(out)) and np.isfinite(rec.min_h)
        assert cfg.v_min <= out[0] <= cfg.v_max and abs(out[1]) <= cfg.omega_max
        box = safe_action_box(pose, ARENA, OBS, opp, cfg)
        assert np.all(np.isfinite(box.lo)) and np.all(box.lo <= box.hi)
    filt = BatchedSafetyFilter(cfg, ARENA)
    try:
        bu, brec = filt.resolve(np.array([pose]), np.array([u]), np.array([OBS]), None,
                                None if opp is None else np.array([opp]))
    except SafetyInputError:
        assert out is None  # both paths reject the same inputs
        return
    assert out is not None and np.array_equal(bu[0], out)
