"""Constraint rows: radii, gradients, and the sampled-data inequality."""

import math

import numpy as np
import pytest

from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import build_constraints
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena


def _exact_step(pose, u, t):
    x, y, th = pose
    v, w = u
    if abs(w) < 1e-12:
        return x + v * t * math.cos(th), y + v * t * math.sin(th), th
    th1 = th + w * t
    return (x + v / w * (math.sin(th1) - math.sin(th)),
            y - v / w * (math.cos(th1) - math.cos(th)), th1)


def test_rows_names_and_barrier_values():
    cfg = CBFConfig(margin=0.0)
    cs = build_constraints((2.0, 3.0, 0.0), Arena.square(10.0), [(5.0, 3.0, 1.0)],
                           (2.0, 6.0, math.pi / 2), cfg)
    assert cs.names == ["collision", "wall_x_min", "wall_x_max", "wall_y_min", "wall_y_max",
                        "obstacle[0]"]
    assert cs.groups == ["collision", "arena", "arena", "arena", "arena", "obstacles"]
    # VCP at (2.05, 3); opponent VCP at (2, 6.05)
    assert cs.h[1] == pytest.approx(2.05 - 0.2)
    assert cs.h[2] == pytest.approx(10 - 0.2 - 2.05)
    assert cs.h[5] == pytest.approx((5.0 - 2.05) - (1.0 + 0.2))
    assert cs.h[0] == pytest.approx(math.hypot(0.05, 3.05) - 0.4)
    # moving straight at the obstacle decreases h at rate v
    assert cs.G[5] @ np.array([1.0, 0.0]) == pytest.approx(1.0)
    assert cs.min_h()[1] == "obstacle[0]"


def test_halfplane_implies_interval_safety_on_random_commands():
    """h stays >= (1 - gamma) h0 at dt and >= 0 inside for every u satisfying G u <= g."""
    cfg = CBFConfig(margin=0.0, gamma=0.7)
    rng = np.random.default_rng(3)
    arena = Arena.square(4.0)
    obs = [(2.0, 2.0, 0.5)]
    checked = 0
    for _ in range(3000):
        pose = (rng.uniform(0.2, 3.8), rng.uniform(0.2, 3.8), rng.uniform(-math.pi, math.pi))
        cs = build_constraints(pose, arena, obs, None, cfg)
        if np.any(cs.h < 0):
            continue
        u = np.array([rng.uniform(cfg.v_min, cfg.v_max),
                      rng.uniform(-cfg.omega_max, cfg.omega_max)])
        if not np.all(cs.G @ u <= cs.g):
            continue
        checked += 1
        for t in np.linspace(0, cfg.dt, 11)[1:]:
            later = build_constraints(_exact_step(pose, u, t), arena, obs, None, cfg)
            lower = np.minimum(cs.h, (1 - cfg.gamma) * cs.h) if t == cfg.dt else 0.0
            assert np.all(later.h >= lower - 1e-12)
    assert checked > 1000


def test_bad_inputs_raise():
    cfg = CBFConfig()
    with pytest.raises(SafetyInputError):
        build_constraints((0, float("nan"), 0), Arena.square(5), [], None, cfg)
    with pytest.raises(SafetyInputError):
        build_constraints((1, 1, 0), Arena.square(5), [(1, 1, -2)], None, cfg)
    with pytest.raises(SafetyInputError):
        build_constraints((1, 1, 0), Arena.square(5), [], (1, 1, float("inf")), cfg)
