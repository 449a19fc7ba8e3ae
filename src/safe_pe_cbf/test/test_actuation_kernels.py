"""Kernels of the actuator model (docs/actuation.md): the braking path and its chord, one
kernel for the single robot, the batch and plain Python, the brake as the backup, and the
ideal configuration untouched by the new inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbf_random import random_scenes
from plain_python import run_plain_python
from safe_pe_cbf.actuator import ActuatorLimits, ramp_axis, ramp_one
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.kernels.actuated import _chord
from safe_pe_cbf.kernels.rows import brake_path
from safe_pe_cbf.resolver import SafeActionResolver, Tier

ARENA = Arena(0.0, 6.0, 0.0, 6.0)
CONFIGS = {
    "shared_l0": CBFConfig(actuator=ActuatorLimits(2.5, 2.5, 3.2, 0),
                           opponent_actuator=ActuatorLimits(2.5, 2.5, 3.2, 0)),
    "shared_l2": CBFConfig(v_max=2.0, opponent_v_max=2.0,
                           actuator=ActuatorLimits(1.0, 1.0, 3.2, 2),
                           opponent_actuator=ActuatorLimits(1.0, 1.0, 3.2, 1)),
    "worst_l1": CBFConfig(collision_mode="worst_case", opponent_v_max=0.5, v_min=-0.3,
                          actuator=ActuatorLimits(1.0, 2.0, 0.0, 1)),
}


def actuation_inputs(rng, N, cfg):
    """Held velocities, pending commands and opponent velocities (some unknown: NaN)."""
    V = np.c_[rng.uniform(cfg.v_min, cfg.v_max, N), rng.uniform(-cfg.omega_max,
                                                                 cfg.omega_max, N)]
    L = cfg.actuator.latency_steps
    PEND = np.stack([rng.uniform(-0.3, cfg.v_max + 0.3, (N, L)),
                     rng.uniform(-4.0, 4.0, (N, L))], axis=-1)
    QV = np.c_[rng.uniform(0.0, cfg.opponent_v_max, N), rng.uniform(-2.0, 2.0, N)]
    QV[rng.random(N) < 0.3] = np.nan
    return V, PEND, QV


@settings(max_examples=300, deadline=None)
@given(x=st.floats(0.0, 5.0), decel=st.floats(0.05, 20.0), dt=st.floats(0.01, 0.2))
def test_brake_path_is_the_sum_and_obeys_the_recursion(x, decel, dt):
    delta = decel * dt
    direct = dt * sum(max(x - j * delta, 0.0) for j in range(1, int(x / delta) + 3))
    assert brake_path(x, delta, dt) == pytest.approx(direct, rel=1e-9, abs=1e-12)
    b = ramp_axis(x, 0.0, dt, 0.0, decel)  # one period of full brake
    assert brake_path(x, delta, dt) == pytest.approx(dt * b + brake_path(b, delta, dt),
                                                     rel=1e-9, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(lo=st.floats(-2.0, 2.0), width=st.floats(0.0, 1.0), t=st.floats(0.0, 1.0),
       decel=st.floats(0.05, 10.0), extra=st.sampled_from([0.0, 0.05]))
def test_chord_is_above_the_convex_brake_path_on_the_box(lo, width, t, decel, extra):
    dt = 0.05
    hi = lo + width
    a, b = _chord(lo, hi, decel * dt, dt, extra)
    x = lo + t * (hi - lo)
    f = brake_path(abs(x), decel * dt, dt) + extra * abs(x)
    assert a * x + b >= f


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_single_and_batched_paths_are_bitwise_equal(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(7)
    P, Q, O, mask, U = random_scenes(rng, 400, near=1.0)
    V, PEND, QV = actuation_inputs(rng, 400, cfg)
    filt = BatchedSafetyFilter(cfg, ARENA)
    u, rec = filt.resolve(P, U, O, mask, Q, velocities=V, pending=PEND, opponent_velocities=QV)
    lo, hi, empty, stage = filt.action_box(P, O, mask, Q, True, velocities=V, pending=PEND,
                                           opponent_velocities=QV)
    tiers = set()
    for n in range(len(P)):
        r = SafeActionResolver(cfg, ARENA, O[n][mask[n]])
        # the single resolver's obstacles are the present ones: same rows, other columns
        one, srec = r.resolve(P[n], U[n], Q[n], velocity=V[n], pending=PEND[n],
                              opponent_velocity=None if np.isnan(QV[n, 0]) else QV[n])
        assert np.array_equal(one, u[n]), n
        assert int(srec.tier) == rec.tier[n] and srec.min_h == rec.min_h[n]
        box = r.action_box(P[n], Q[n], velocity=V[n], pending=PEND[n],
                           opponent_velocity=None if np.isnan(QV[n, 0]) else QV[n])
        assert np.array_equal(box.lo, lo[n]) and np.array_equal(box.hi, hi[n])
        tiers.add(int(srec.tier))
        if srec.tier == Tier.BACKUP and cfg.collision_mode == "shared":
            assert tuple(one) == (0.0, 0.0) and "full brake" in srec.reason
        elif srec.tier == Tier.BACKUP:  # worst case: the brake, or away from the opponent
            assert tuple(one) == (0.0, 0.0) or "away from the opponent" in srec.reason
        elif srec.tier != Tier.NOMINAL and cfg.actuator.latency_steps == 0:
            # the QP's command is reachable in one period: the base holds it exactly
            act = cfg.actuator
            held = ramp_one(min(max(V[n, 0], cfg.v_min), cfg.v_max), V[n, 1], one[0], one[1],
                            cfg.dt, act.linear_accel, act.linear_decel, act.angular_accel)
            assert held == pytest.approx(tuple(one), abs=1e-12)
    assert tiers >= {0, 1}


def test_ideal_config_ignores_the_new_inputs():
    rng = np.random.default_rng(3)
    P, Q, O, mask, U = random_scenes(rng, 300)
    V, PEND, QV = actuation_inputs(rng, 300, CBFConfig())
    filt = BatchedSafetyFilter(CBFConfig(), ARENA)
    u0, r0 = filt.resolve(P, U, O, mask, Q)
    u1, r1 = filt.resolve(P, U, O, mask, Q, velocities=V, opponent_velocities=QV)
    assert np.array_equal(u0, u1) and np.array_equal(r0.min_h, r1.min_h)
    assert "actuator" not in CBFConfig().to_dict()  # old configs and their hashes unchanged


_PLAIN = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from cbf_random import random_scenes
from test_actuation_kernels import ARENA, actuation_inputs
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
cfg = CBFConfig.from_dict(json.loads(sys.argv[2]))
rng = np.random.default_rng(11)
P, Q, O, mask, U = random_scenes(rng, 200, near=0.8)
V, PEND, QV = actuation_inputs(rng, 200, cfg)
filt = BatchedSafetyFilter(cfg, ARENA)
assert filt.backend == "python"
u, rec = filt.resolve(P, U, O, mask, Q, velocities=V, pending=PEND, opponent_velocities=QV)
lo, hi, empty = filt.action_box(P, O, mask, Q, velocities=V, pending=PEND,
                                opponent_velocities=QV)
np.savez(sys.argv[3], u=u, tier=rec.tier, min_h=rec.min_h, lo=lo, hi=hi)
"""


@pytest.mark.parametrize("name", ["shared_l2", "worst_l1"])
def test_plain_python_kernels_equal_the_compiled_ones(name, tmp_path):
    cfg = CONFIGS[name]
    plain = run_plain_python(_PLAIN, cfg, tmp_path)
    rng = np.random.default_rng(11)
    P, Q, O, mask, U = random_scenes(rng, 200, near=0.8)
    V, PEND, QV = actuation_inputs(rng, 200, cfg)
    filt = BatchedSafetyFilter(cfg, ARENA)
    u, rec = filt.resolve(P, U, O, mask, Q, velocities=V, pending=PEND, opponent_velocities=QV)
    lo, hi, _ = filt.action_box(P, O, mask, Q, velocities=V, pending=PEND,
                                opponent_velocities=QV)
    for key, value in (("u", u), ("tier", rec.tier), ("min_h", rec.min_h), ("lo", lo),
                       ("hi", hi)):
        assert np.array_equal(plain[key], value), key


def test_single_resolver_input_forms_agree_and_bad_inputs_raise():
    """The single resolver's lean path (inputs copied into one buffer, checked in the
    kernel) gives what the checked path gives for every accepted form, and every bad input
    is a SafetyInputError."""
    cfg = CONFIGS["shared_l2"]
    rng = np.random.default_rng(5)
    P, Q, O, mask, U = random_scenes(rng, 60, near=1.0)
    V, PEND, QV = actuation_inputs(rng, 60, cfg)
    QV[np.isnan(QV)] = 0.3
    for n in range(len(P)):
        r = SafeActionResolver(cfg, ARENA, O[n][mask[n]])
        ref, rref = r.resolve(P[n], U[n], Q[n], velocity=V[n], pending=PEND[n],
                              opponent_velocity=QV[n])
        wide = np.stack([V[n], V[n]], axis=1)[:, 0]  # a strided view
        forms = [(list(V[n]), [tuple(p) for p in PEND[n]], list(QV[n])),
                 (wide, list(PEND[n]), QV[n].copy()),
                 (tuple(V[n]), PEND[n].tolist(), tuple(QV[n]))]  # numpy scalars
        for vel, pend, qv in forms:
            one, rec = r.resolve(P[n], U[n], Q[n], velocity=vel, pending=pend,
                                 opponent_velocity=qv)
            assert np.array_equal(one, ref) and rec.tier == rref.tier, n
    r = SafeActionResolver(cfg, ARENA, O[0][mask[0]])
    ok = dict(velocity=V[0], pending=PEND[0], opponent_velocity=QV[0])
    bad = [dict(velocity=None), dict(velocity=(np.nan, 0.0)),
           dict(velocity=np.array([0.0, np.inf])), dict(velocity=(1e12, 0.0)), dict(velocity=(0.1,)), dict(velocity="ab"),
           dict(velocity=np.zeros(3)), dict(pending=PEND[0][:1]), dict(pending=None),
           dict(pending=[(0.0, np.nan), (0.0, 0.0)]), dict(pending=[("a", 0.0), (0.0, 0.0)]),
           dict(pending=np.zeros((2, 3))), dict(opponent_velocity=(np.nan, np.nan)),
           dict(opponent_velocity=(0.0, 0.0, 0.0)),
           dict(opponent_velocity=np.array([np.inf, 0.0])), dict(velocity=V[0].reshape(2, 1))]
    for change in bad:
        with pytest.raises(SafetyInputError):
            r.resolve(P[0], U[0], Q[0], **{**ok, **change})
    r.resolve(P[0], U[0], Q[0], **ok)  # and the resolver still works
