"""Every solver result is checked against the unscaled rows in metres (issue 11, item 2).

The config now refuses loose tolerances and extreme weights; these tests take that guard away
(a config whose fields were set after validation, as a corrupted or hand-built one could be)
to show that the resolver's physical check alone holds the wall, on both paths: the
single-robot resolver (the node's path) and the batched filter. Before the
check, feasibility_tol = 1.0 or weights (1e-9, 1) drove the body 5 cm through the wall of a
TurtleBot3 world within 30 steps while the tiers said NOMINAL/QP.
"""

import math

import numpy as np
import pytest

from closed_loop import arc_step
from safe_pe_cbf import jit
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import PHYSICAL_TOL, Consts, build_constraints
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.kernels.qp import qp_rows
from safe_pe_cbf.kernels.rows import certified
from safe_pe_cbf.kernels.tiers import resolve_one, resolve_pose
from safe_pe_cbf.resolver import SafeActionResolver, Tier

TB3 = dict(v_max=0.22, dt=0.1, robot_radius=0.105, omega_max=2.84, margin=0.0)
LOOSE = [dict(feasibility_tol=1.0), dict(feasibility_tol=1e300), dict(weights=(1e-9, 1.0))]
SIZE = 2.0
SUB = 10


def unchecked(**fields) -> CBFConfig:
    """A TurtleBot3 config with ``fields`` set after validation (bypassing the ranges)."""
    cfg = CBFConfig(**TB3)
    for name, value in fields.items():
        setattr(cfg, name, value)
    return cfg


def _drive_at_wall(resolve, cfg, steps=80):
    """Closed loop: full speed at the x_max wall; the smallest body clearance and the tiers."""
    pose = np.array([[SIZE / 2, SIZE / 2, 0.0]])
    worst, tiers = math.inf, set()
    for _ in range(steps):
        u, tier = resolve(pose[0], np.array([cfg.v_max, 0.0]))
        tiers.add(int(tier))
        for s in range(1, SUB + 1):
            x = arc_step(pose, u[None], cfg.dt * s / SUB)[0, 0]
            worst = min(worst, x - cfg.robot_radius, SIZE - x - cfg.robot_radius)
        pose = arc_step(pose, u[None], cfg.dt)
    return worst, tiers


@pytest.mark.parametrize("loose", LOOSE)
def test_single_resolver_holds_the_wall_without_the_config_guard(loose):
    cfg = unchecked(**loose)
    r = SafeActionResolver(CBFConfig(**TB3), Arena(0.0, SIZE, 0.0, SIZE))
    k = Consts(cfg)
    r.set_consts(k)  # the resolver's constants from the unvalidated config
    c = np.asarray(k.packed(r._arena_t), dtype=float)
    unsafe_from_solver = []

    def resolve(pose, u_nom):
        cs = build_constraints(pose, r.arena, [], None, cfg)
        m = cs.m
        gv, gw, g = cs.G[:, 0].copy(), cs.G[:, 1].copy(), cs.g
        ok, uv, uw, _, _ = qp_rows(gv, gw, g, m, *map(float, u_nom), k.wv, k.ww, k.v_min,
                                   k.v_max, k.w_min, k.w_max, k.tol, *(np.empty(m + 4)
                                                                       for _ in range(3)),
                                   np.empty(m + 4, dtype=np.int64), np.empty(m + 4))
        if ok and not certified(c, gv, gw, g, m, uv, uw, PHYSICAL_TOL):
            unsafe_from_solver.append((uv, uw))
        u, rec = r.resolve(pose, u_nom)
        return u, rec.tier

    worst, tiers = _drive_at_wall(resolve, cfg)
    assert worst >= -1e-9, f"body {worst:.4f} m through the wall"
    assert unsafe_from_solver, "the loose solver should have certified a violating command"
    assert tiers & {int(Tier.RELAXED), int(Tier.BACKUP)}  # its results were turned down


@pytest.mark.parametrize("loose", LOOSE)
def test_batched_filter_holds_the_wall_without_the_config_guard(loose):
    cfg = unchecked(**loose)
    arena = Arena(0.0, SIZE, 0.0, SIZE)
    f = BatchedSafetyFilter(CBFConfig(**TB3), arena)
    f.set_consts(Consts(cfg))
    obstacles = np.zeros((1, 0, 3))

    def resolve(pose, u_nom):
        u, rec = f.resolve(pose[None], u_nom[None], obstacles)
        return u[0], rec.tier[0]

    worst, _ = _drive_at_wall(resolve, cfg)
    assert worst >= -1e-9, f"body {worst:.4f} m through the wall"


def test_a_solver_that_certifies_anything_cannot_make_the_resolver_unsafe():
    """The tier code with a QP that calls every nominal command feasible (the slot OSQP plugs
    into): QP/RELAXED results must still satisfy their rows, else BACKUP."""
    cfg = CBFConfig(**TB3)

    def lying_solver(gv, gw, g, m, v, w, wv, ww, lo_v, hi_v, lo_w, hi_w, *rest):
        return True, min(max(v, lo_v), hi_v), min(max(w, lo_w), hi_w), -1, -1

    res = SafeActionResolver(cfg, Arena(0.0, SIZE, 0.0, SIZE))
    res._run = jit.with_globals(resolve_pose, resolve_one=jit.with_globals(
        resolve_one, qp_rows=lying_solver))
    pose = np.array([[SIZE / 2, SIZE / 2, 0.0]])
    worst, tiers = math.inf, set()
    for _ in range(80):
        u, rec = res.resolve(pose[0], (cfg.v_max, 0.0))
        tiers.add(int(rec.tier))
        for s in range(1, SUB + 1):
            x = arc_step(pose, u[None], cfg.dt * s / SUB)[0, 0]
            worst = min(worst, SIZE - x - cfg.robot_radius)
        pose = arc_step(pose, u[None], cfg.dt)
    assert worst >= -1e-9
    assert int(Tier.BACKUP) in tiers
