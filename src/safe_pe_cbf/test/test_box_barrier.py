"""Box obstacles (oriented rectangles, wall segments as half_width = 0): the barrier's maths
(convex, 1-Lipschitz, a unit subgradient: what docs/cbf.md §3 needs), its rows, inputs, the
single vs batched paths bitwise, and the closed-loop property test of test_property_safety.py
with boxes and segments (exact arcs, sub-stepped body checks, 0 violations)."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from closed_loop import (adversarial_commands, checked_step, pair_filters, safe_start,
                         surface_distance)
from safe_pe_cbf.barriers import BOX, keepout, kind_of
from safe_pe_cbf.barriers.box import row, signed_distance
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import build_constraints
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena, BoxObstacle, CircleObstacle, obstacles_array
from safe_pe_cbf.resolver import SafeActionResolver

ARENA = Arena.square(6.0)
SUBSTEPS = 10
BODY_TOL = 1e-9
TOTAL = {"env": 0, "near_box": 0}
coord = st.floats(-3.0, 3.0)
box_st = st.tuples(coord, coord, st.floats(0.0, 1.0), st.sampled_from([0.0, 0.05, 0.3, 1.0]),
                   st.floats(-4.0, 4.0))


def _sd(o, p):
    d, nx, ny = signed_distance(np.array(o + (1.0,)), p[0], p[1])
    return d, np.array([nx, ny])


def random_obstacles(rng, N, K, size, box_p=0.6):
    """(N, K, 6) mixed circles / boxes / wall segments inside ``[0.5, size - 0.5]^2``."""
    O = np.zeros((N, K, 6))
    O[..., :2] = rng.uniform(0.5, size - 0.5, (N, K, 2))
    is_box = rng.random((N, K)) < box_p
    O[..., 2] = np.where(is_box, rng.uniform(0.05, 0.8, (N, K)), rng.uniform(0.1, 0.5, (N, K)))
    seg = rng.random((N, K)) < 0.4
    O[..., 3] = np.where(is_box & ~seg, rng.uniform(0.02, 0.4, (N, K)), 0.0)
    O[..., 4] = np.where(is_box, rng.uniform(-np.pi, np.pi, (N, K)), 0.0)
    O[..., 5] = is_box
    return O


@settings(max_examples=300, deadline=None, derandomize=True)
@given(o=box_st, p=st.tuples(coord, coord), q=st.tuples(coord, coord), lam=st.floats(0, 1))
def test_signed_distance_is_convex_lipschitz_with_unit_subgradient(o, p, q, lam):
    p, q = np.array(p), np.array(q)
    hp, n = _sd(o, p)
    hq, _ = _sd(o, q)
    hm, _ = _sd(o, lam * p + (1 - lam) * q)
    assert abs(np.linalg.norm(n) - 1.0) < 1e-12
    assert hq >= hp + n @ (q - p) - 1e-12  # the inequality §3 uses (convexity at p0)
    assert hm <= lam * hp + (1 - lam) * hq + 1e-12
    assert abs(hp - hq) <= np.linalg.norm(p - q) + 1e-12
    ref = surface_distance(p[None, None, :], np.array(o + (1.0,))[None, None, :])
    assert abs(hp - ref[0, 0, 0]) < 1e-12


def test_wall_segment_is_the_distance_to_the_segment():
    seg = BoxObstacle.segment(1.0, 1.0, 3.0, 2.0)
    rng = np.random.default_rng(0)
    a, b = np.array([1.0, 1.0]), np.array([3.0, 2.0])
    for p in rng.uniform(0.0, 4.0, (500, 2)):
        t = np.clip((p - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0)
        d, _, _ = signed_distance(np.array(seg.row()), p[0], p[1])
        assert abs(d - np.linalg.norm(p - (a + t * (b - a)))) < 1e-12


def test_row_is_the_derivative_along_the_command():
    """``-(gv v + gw w)`` is dh/dt at the sampled state (finite differences, away from kinks)."""
    rng = np.random.default_rng(1)
    o = np.array([0.0, 0.0, 0.6, 0.2, 0.7, 1.0])
    d, off = 0.08, 0.3
    for _ in range(200):
        x, y, th = rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(-np.pi, np.pi)
        v, w = rng.uniform(-1, 1), rng.uniform(-3, 3)
        gv, gw, h = row(o, x + d * math.cos(th), y + d * math.sin(th), math.cos(th),
                        math.sin(th), d, off)
        eps = 1e-7
        x1, y1, th1 = x + eps * v * math.cos(th), y + eps * v * math.sin(th), th + eps * w
        _, _, h1 = row(o, x1 + d * math.cos(th1), y1 + d * math.sin(th1), math.cos(th1),
                       math.sin(th1), d, off)
        if abs(h + off) > 1e-3:  # not on the rectangle's boundary (kinks of the inside part)
            assert abs((h1 - h) / eps + (gv * v + gw * w)) < 1e-5


def test_obstacle_inputs():
    assert obstacles_array([(1, 2, 0.3)]).shape == (1, 3)  # circles keep their API
    mixed = obstacles_array([CircleObstacle(1, 2, 0.3), BoxObstacle(3, 3, 0.5, 0.1, 0.2)])
    assert mixed.shape == (2, 6)
    assert mixed[0].tolist() == [1, 2, 0.3, 0, 0, 0] and kind_of(mixed[1]) == BOX
    with pytest.raises(SafetyInputError, match="kind"):
        obstacles_array([(1, 2, 0.3, 0, 0, 7)])
    with pytest.raises(SafetyInputError, match="negative"):
        obstacles_array([(1, 2, 0.3, -0.1, 0, 1)])
    with pytest.raises(SafetyInputError):
        BoxObstacle(0, 0, -1, 0)
    filt = BatchedSafetyFilter(CBFConfig(), ARENA)
    bad = np.array([[3.0, 3.0, 0.3, 0.1, 0.0, 2.0]])
    with pytest.raises(SafetyInputError, match="kind"):
        filt.resolve(np.array([[1.0, 1.0, 0.0]]), np.array([[0.5, 0.0]]), bad)
    shape = keepout(BOX, mixed[1], 0.2)
    assert shape[0] == "polygon" and len(shape[1]) == 24


def test_box_rows_in_the_constraint_set():
    box = BoxObstacle(3.0, 3.0, 0.5, 0.2, 0.0)
    cs = build_constraints((2.0, 3.0, 0.0), ARENA, [box], None, CBFConfig(margin=0.0))
    cfg = CBFConfig(margin=0.0)
    i = cs.names.index("obstacle[0]")
    vcp_x = 2.0 + cfg.vcp_offset
    assert cs.h[i] == pytest.approx(2.5 - vcp_x - cfg.robot_radius - cfg.vcp_offset)
    assert cs.G[i].tolist() == pytest.approx([1.0, 0.0])  # driving at it lowers h


@pytest.mark.parametrize("with_opp", [True, False])
def test_single_and_batched_paths_bitwise_with_boxes(with_opp):
    cfg = CBFConfig()
    rng = np.random.default_rng(7 + with_opp)
    N, K = 800, 4
    P = np.c_[rng.uniform(0, 6, (N, 2)), rng.uniform(-np.pi, np.pi, N)]
    Q = np.c_[P[:, :2] + rng.uniform(-1, 1, (N, 2)), rng.uniform(-np.pi, np.pi, N)]
    O = random_obstacles(rng, N, K, 6.0)
    O[..., :2] = P[:, None, :2] + rng.uniform(-1.2, 1.2, (N, K, 2))  # near the robot
    mask = rng.random((N, K)) < 0.8
    U = np.c_[rng.uniform(-0.3, 1.3, N), rng.uniform(-4.0, 4.0, N)]
    filt = BatchedSafetyFilter(cfg, ARENA)
    u, rec = filt.resolve(P, U, O, mask, Q if with_opp else None)
    lo, hi = filt.action_box(P, O, mask, Q if with_opp else None)[:2]
    tiers = set()
    for i in range(N):
        res = SafeActionResolver(cfg, ARENA, O[i][mask[i]])
        us, rs = res.resolve(P[i], U[i], Q[i] if with_opp else None)
        assert np.array_equal(us, u[i]), (i, us, u[i])
        assert (rs.tier, rs.min_h, rs.intervention) == (rec.tier[i], rec.min_h[i],
                                                        rec.intervention[i])
        bs = res.action_box(P[i], Q[i] if with_opp else None)
        assert np.array_equal(bs.lo, lo[i]) and np.array_equal(bs.hi, hi[i])
        tiers.add(int(rs.tier))
    assert {0, 1, 3} <= tiers


def sample_start(rng, N, arena, K, filters):
    """Mixed obstacles and poses with every barrier >= 0 (rejection sampling)."""
    O = random_obstacles(rng, N, K, arena.x_max - arena.x_min)
    return safe_start(rng, O, arena, filters, sizes=slice(2, 4))


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@example(seed=1, gamma=0.5, vcp_offset=0.05, dt=0.05, v_min=0.0, radius=0.15,
         evader_speed=1.1, n_obstacles=3, size=4.0)
@example(seed=2, gamma=1.0, vcp_offset=0.05, dt=0.1, v_min=0.0, radius=0.15,
         evader_speed=1.2, n_obstacles=5, size=3.0)
@given(seed=st.integers(0, 2**31 - 1), gamma=st.sampled_from([0.1, 0.3, 0.5, 0.8, 1.0]),
       vcp_offset=st.floats(0.02, 0.15), dt=st.sampled_from([0.02, 0.05, 0.1]),
       v_min=st.sampled_from([0.0, -0.3]), radius=st.floats(0.1, 0.25),
       evader_speed=st.floats(1.0, 1.2), n_obstacles=st.integers(1, 5),
       size=st.floats(2.5, 6.0))
def test_zero_body_violations_with_boxes_and_segments(seed, gamma, vcp_offset, dt, v_min,
                                                      radius, evader_speed, n_obstacles, size):
    rng = np.random.default_rng(seed)
    N, T = 1024, 30
    arena = Arena(0.0, size, 0.0, size)
    radii = np.array([radius, radius])
    filters = pair_filters(arena, gamma, dt, v_min, radius, vcp_offset, evader_speed)
    O, poses = sample_start(rng, N, arena, n_obstacles, filters)
    assert (O[..., 5] == 1).any() and ((O[..., 5] == 1) & (O[..., 3] == 0)).any()
    mode = rng.integers(0, 4, (N, 2))
    for step in range(T):
        if step % 5 == 0:
            mode = rng.integers(0, 4, (N, 2))
        nominal = adversarial_commands(rng, poses, O, arena, mode, 1.0, 2.84)
        nominal[:, 1, 0] = evader_speed
        out = [f.resolve(poses[:, a], nominal[:, a], O, None, poses[:, 1 - a])
               for a, f in enumerate(filters)]
        cmds = np.stack([u for u, _ in out], axis=1)
        for _, rec in out:  # robots pressed against a box or segment (its row active)
            k = np.clip(rec.min_h_index - 5, 0, None)
            on_box = (rec.min_h_index >= 5) & (O[np.arange(N), k, 5] == 1) & (rec.min_h < 0.02)
            TOTAL["near_box"] += int((on_box & rec.intervened).sum())
        assert np.all(np.isfinite(cmds))
        poses = checked_step(poses, cmds, dt, arena, O, radii, filters, step, SUBSTEPS,
                             BODY_TOL)
    TOTAL["env"] += N * T


def test_enough_box_steps_were_checked():
    """Runs after the property test (same module): >= 1e5 env steps, boxes pressed against."""
    if TOTAL["env"] == 0:
        pytest.skip("counts the steps of the property test: run the whole module")
    assert TOTAL["env"] >= 100_000 and TOTAL["near_box"] >= 1000, TOTAL
    print(f"\nbox property test: {TOTAL}, 0 body violations")


_PLAIN = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_box_barrier import scenes
from safe_pe_cbf import jit
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver
assert not jit.AVAILABLE
P, Q, O, mask, U = scenes()
filt = BatchedSafetyFilter(CBFConfig(), Arena.square(6.0))
u, rec = filt.resolve(P, U, O, mask, Q)
lo, hi = filt.action_box(P, O, mask, Q)[:2]
single = np.array([SafeActionResolver(CBFConfig(), Arena.square(6.0), O[i][mask[i]]).resolve(
    P[i], U[i], Q[i])[0] for i in range(len(P))])
np.savez(sys.argv[2], u=u, tier=rec.tier, min_h=rec.min_h, lo=lo, hi=hi, single=single)
"""


def scenes(N=600, K=4):
    """Robots next to mixed circles, boxes and segments (seeded)."""
    rng = np.random.default_rng(11)
    P = np.c_[rng.uniform(0, 6, (N, 2)), rng.uniform(-np.pi, np.pi, N)]
    Q = np.c_[P[:, :2] + rng.uniform(-1, 1, (N, 2)), rng.uniform(-np.pi, np.pi, N)]
    O = random_obstacles(rng, N, K, 6.0)
    O[..., :2] = P[:, None, :2] + rng.uniform(-1.2, 1.2, (N, K, 2))
    mask = rng.random((N, K)) < 0.8
    U = np.c_[rng.uniform(-0.3, 1.3, N), rng.uniform(-4.0, 4.0, N)]
    return P, Q, O, mask, U


def test_plain_python_kernels_equal_the_compiled_ones_with_boxes(tmp_path):
    """On a robot (NUMBA_DISABLE_JIT=1) the box rows, the batch loop and the resolver give
    the compiled results bitwise."""
    dump = tmp_path / "plain.npz"
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    subprocess.run([sys.executable, "-c", _PLAIN, str(Path(__file__).parent), str(dump)],
                   env=env, check=True, timeout=600)
    plain = np.load(dump)
    P, Q, O, mask, U = scenes()
    filt = BatchedSafetyFilter(CBFConfig(), ARENA)
    u, rec = filt.resolve(P, U, O, mask, Q)
    lo, hi = filt.action_box(P, O, mask, Q)[:2]
    for name, ours in (("u", u), ("tier", rec.tier), ("min_h", rec.min_h), ("lo", lo),
                       ("hi", hi), ("single", u)):
        assert np.array_equal(plain[name], ours), name
    assert len(set(rec.tier.tolist())) >= 3
