"""Safe action box: every point of every box satisfies every constraint (1e5 states)."""

from dataclasses import replace

import numpy as np

from cbf_random import random_scenes
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.bounds import safe_action_box
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import Consts, build_constraints, certificate_bonus
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import relaxation_stages

ARENA = Arena.square(6.0)
TOL = 1e-8  # solver tolerance of the anchor (1e-9 in scaled, normalised rows)


def test_every_point_of_every_box_is_safe_on_1e5_states():
    cfg = CBFConfig()
    k = Consts(cfg)
    rng = np.random.default_rng(2024)
    filt = BatchedSafetyFilter(cfg, ARENA)
    stages = [(cfg.gamma,) * 3] + [s[0] for s in relaxation_stages(cfg)]
    n_states = n_nonempty = 0
    widths = []
    for _ in range(10):
        N = 10_000
        P, Q, O, mask, _ = random_scenes(rng, N, near=1.5)
        lo, hi, empty, stage = filt.action_box(P, O, mask, Q, with_stage=True)
        rows = filt.build_rows(P, O, mask, Q)  # (N, M) rows packed in column order
        valid = np.arange(rows.h.shape[1])[None, :] < rows.cnt[:, None]
        grp = np.where(rows.col == 0, 0, np.where(rows.col < 5, 1, 2))
        extra = np.where(grp == 0, k.pair_extra, k.static_extra)
        # points: 4 corners + 4 uniform samples of each box
        t = rng.random((N, 4, 2))
        pts = np.concatenate([
            np.stack([np.stack([lo[:, 0], lo[:, 1]], 1), np.stack([lo[:, 0], hi[:, 1]], 1),
                      np.stack([hi[:, 0], lo[:, 1]], 1), np.stack([hi[:, 0], hi[:, 1]], 1)],
                     axis=1),
            lo[:, None, :] + t * (hi - lo)[:, None, :]], axis=1)  # (N, 8, 2)
        assert np.all(pts[..., 0] >= cfg.v_min) and np.all(pts[..., 0] <= cfg.v_max)
        assert np.all(np.abs(pts[..., 1]) <= cfg.omega_max)
        for s_i, gammas in enumerate(stages):
            sel = (stage == s_i)
            if not sel.any():
                continue
            coef = np.array([k.coef(q, gammas[q]) for q in range(3)])[grp]
            g = (coef * rows.h - extra)[sel]
            lhs = rows.gv[sel][:, None, :] * pts[sel][..., 0:1] \
                + rows.gw[sel][:, None, :] * pts[sel][..., 1:2]
            viol = np.where(valid[sel][:, None, :], lhs - g[:, None, :], -np.inf)
            assert viol.max() <= TOL, (s_i, viol.max())
        # empty boxes are exactly the states whose every stage is infeasible: backup point
        assert np.all(lo[empty] == hi[empty])
        n_states += N
        n_nonempty += int((~empty).sum())
        widths.append((hi - lo)[~empty & (stage == 0)])
    assert n_states >= 100_000
    assert n_nonempty > 0.5 * n_states
    w = np.concatenate(widths)
    # "as large as practical": most boxes keep a large part of the limits
    assert np.median(w[:, 0]) > 0.5 * (cfg.v_max - cfg.v_min)
    assert np.median(w[:, 1]) > 0.5 * 2 * cfg.omega_max


def test_box_is_maximal_and_degrades_to_backup():
    cfg = CBFConfig()
    k = Consts(cfg)
    # free space: the whole limits box
    box = safe_action_box((3.0, 3.0, 0.0), ARENA, [], None, cfg)
    assert not box.empty and box.stage == 0
    np.testing.assert_array_equal(box.lo, [cfg.v_min, -cfg.omega_max])
    np.testing.assert_array_equal(box.hi, [cfg.v_max, cfg.omega_max])
    # touching an obstacle head-on: empty -> backup command, which is certified
    edge = 3.0 - 0.5 - (0.15 + 0.05 + 0.01) - 0.05
    pose = (edge - 1e-4, 3.0, 0.0)
    box = safe_action_box(pose, ARENA, [(3.0, 3.0, 0.5)], None, cfg)
    assert box.empty and box.stage == -1 and np.array_equal(box.lo, box.hi)
    cs = build_constraints(pose, ARENA, [(3.0, 3.0, 0.5)], None, replace(cfg, gamma=1.0))
    v, w = box.lo
    assert np.min(cs.g + certificate_bonus(k, v, w) - cs.G @ box.lo) >= 0.0
