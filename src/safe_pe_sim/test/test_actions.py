"""Action map: one compiled kernel behind the scalar and the batched form."""

from __future__ import annotations

import math

import numpy as np

from safe_pe_sim.actions import to_normalized, to_physical, to_physical_scalar
from safe_pe_sim.config import load_profile

ROBOT = load_profile("turtlebot3_burger").pursuer


def test_scalar_equals_batched_and_clips() -> None:
    a = np.random.default_rng(0).uniform(-2.0, 2.0, (7, 3, 2))
    out = to_physical(a, ROBOT)
    assert out.shape == (7, 3, 2)
    for i in range(7):
        for j in range(3):
            assert to_physical_scalar(a[i, j, 0], a[i, j, 1], ROBOT) == tuple(out[i, j])
    assert np.all((out[..., 0] >= ROBOT.v_min) & (out[..., 0] <= ROBOT.v_max))
    assert np.all(np.abs(out[..., 1]) <= ROBOT.omega_max)
    inside = np.clip(a, -1.0, 1.0)
    np.testing.assert_allclose(to_normalized(out, ROBOT), inside, atol=1e-12)


def test_ends_and_nan() -> None:
    assert to_physical_scalar(-1.0, 1.0, ROBOT) == (ROBOT.v_min, ROBOT.omega_max)
    assert to_physical_scalar(5.0, -5.0, ROBOT) == (ROBOT.v_max, -ROBOT.omega_max)
    v, w = to_physical_scalar(0.0, math.nan, ROBOT)
    assert math.isnan(w) and v == 0.5 * (ROBOT.v_min + ROBOT.v_max)
    np.testing.assert_array_equal(to_physical(np.array([0.0, np.nan]), ROBOT), [v, w])
