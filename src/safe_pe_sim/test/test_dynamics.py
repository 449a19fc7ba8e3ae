"""Exact zero-order-hold unicycle integration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safe_pe_sim.dynamics import (arc_samples, arc_samples_scalar, clip_commands,
                                  unicycle_step, unicycle_step_scalar, wrap_angle)


def test_straight_line_and_turn_in_place() -> None:
    out = unicycle_step(np.array([1.0, 2.0, math.pi / 2]), np.array([0.5, 0.0]), 2.0)
    np.testing.assert_allclose(out, [1.0, 3.0, math.pi / 2], atol=1e-15)
    out = unicycle_step(np.array([1.0, 2.0, 0.0]), np.array([0.0, 1.0]), 0.5)
    np.testing.assert_allclose(out, [1.0, 2.0, 0.5], atol=1e-15)


def test_matches_closed_form_arc() -> None:
    rng = np.random.default_rng(0)
    poses = rng.uniform(-5, 5, (200, 3))
    cmds = np.column_stack((rng.uniform(-1, 1, 200), rng.uniform(0.1, 3, 200)
                            * rng.choice([-1, 1], 200)))
    dt = 0.3
    out = unicycle_step(poses, cmds, dt)
    v, w = cmds[:, 0], cmds[:, 1]
    th = poses[:, 2]
    x = poses[:, 0] + v / w * (np.sin(th + w * dt) - np.sin(th))
    y = poses[:, 1] - v / w * (np.cos(th + w * dt) - np.cos(th))
    np.testing.assert_allclose(out[:, 0], x, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], y, atol=1e-12)
    np.testing.assert_allclose(np.cos(out[:, 2]), np.cos(th + w * dt), atol=1e-12)


def test_matches_fine_numerical_integration() -> None:
    pose = np.array([0.3, -0.2, 1.0])
    v, w, dt = 0.8, 2.5, 0.4
    n = 200_000
    x, y, th = pose
    h = dt / n
    for_th = th + w * h * (np.arange(n) + 0.5)        # midpoint rule, O(h^2)
    x += v * h * np.cos(for_th).sum()
    y += v * h * np.sin(for_th).sum()
    out = unicycle_step(pose, np.array([v, w]), dt)
    np.testing.assert_allclose(out[:2], [x, y], atol=1e-9)


def test_composition_is_exact() -> None:
    """Two half steps equal one full step (true for exact arcs, false for Euler)."""
    rng = np.random.default_rng(1)
    poses = rng.uniform(-3, 3, (50, 3))
    cmds = rng.uniform(-2, 2, (50, 2))
    one = unicycle_step(poses, cmds, 0.2)
    two = unicycle_step(unicycle_step(poses, cmds, 0.1), cmds, 0.1)
    np.testing.assert_allclose(one[:, :2], two[:, :2], atol=1e-12)
    np.testing.assert_allclose(np.cos(one[:, 2] - two[:, 2]), 1.0, atol=1e-12)


@pytest.mark.parametrize("w", [0.0, 1e-300, 1e-12, -1e-7, 1e-3])
def test_tiny_turn_rates_are_accurate(w: float) -> None:
    out = unicycle_step(np.array([0.0, 0.0, 0.0]), np.array([1.0, w]), 1.0)
    assert out[0] == pytest.approx(math.sin(w) / w if w else 1.0, abs=1e-15)
    # reference without cancellation: (1 - cos w) / w = 2 sin^2(w / 2) / w
    assert out[1] == pytest.approx(2 * math.sin(w / 2) ** 2 / w if w else 0.0, abs=1e-15)


def test_scalar_equals_vector_and_leading_dims() -> None:
    rng = np.random.default_rng(2)
    poses = rng.uniform(-4, 4, (7, 2, 3))
    cmds = rng.uniform(-3, 3, (7, 2, 2))
    cmds[0, 0, 1] = 0.0
    out = unicycle_step(poses, cmds, 0.05)
    assert out.shape == (7, 2, 3)
    for i in range(7):
        for a in range(2):
            s = unicycle_step_scalar(*poses[i, a], *cmds[i, a], 0.05)
            np.testing.assert_allclose(s, out[i, a], atol=1e-15)


def test_wrap_angle_range() -> None:
    a = np.linspace(-50, 50, 10001)
    w = wrap_angle(a)
    assert np.all(w >= -math.pi) and np.all(w < math.pi)
    np.testing.assert_allclose(np.cos(w), np.cos(a), atol=1e-12)
    assert wrap_angle(np.array(math.pi))[()] == -math.pi


def test_arc_samples_match_integration() -> None:
    rng = np.random.default_rng(3)
    poses = rng.uniform(-5, 5, (40, 2, 3))
    cmds = rng.uniform(-3, 3, (40, 2, 2))
    cmds[:5, :, 1] = 0.0
    xs, ys = arc_samples(poses, cmds, 0.05, 10)
    t = 0.05 * np.arange(1, 11) / 10
    ref = unicycle_step(poses[None], cmds[None], t[:, None, None])
    np.testing.assert_allclose(xs, ref[..., 0], atol=1e-12)
    np.testing.assert_allclose(ys, ref[..., 1], atol=1e-12)
    s = arc_samples_scalar(*poses[7, 1], *cmds[7, 1], 0.05, 10)
    np.testing.assert_allclose(np.array(s), np.stack((xs[:, 7, 1], ys[:, 7, 1]), -1),
                               atol=1e-15)


def test_clip_commands_per_robot_limits() -> None:
    lo = np.array([[0.0, -2.0], [-0.5, -1.0]])
    hi = np.array([[1.0, 2.0], [0.5, 1.0]])
    out = clip_commands(np.array([[[5.0, -5.0], [5.0, -5.0]]]), lo, hi)
    np.testing.assert_array_equal(out, [[[1.0, -2.0], [0.5, -1.0]]])
