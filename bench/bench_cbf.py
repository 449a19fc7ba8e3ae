#!/usr/bin/env python3
"""Benchmark of the safe_pe_cbf core, all numbers measured side by side in one run.

1. per-call latency (p50/p99) of SafeActionResolver with the exact solver, compiled (numba)
   and as plain Python (NUMBA_DISABLE_JIT=1 in a subprocess: a robot without numba), vs
   OSQP set up fresh per call vs OSQP warm-started (update()), on states of a filtered
   pursuit-evasion rollout (all calls, and the calls that needed the QP), plus the bare QP
   solve;
2. BatchedSafetyFilter throughput at N = 4096 (safe actions/s), and of action_box;
3. intervention rate of the filter for goal-directed (pure-pursuit vs flee) and uniformly
   random nominal commands in the research scenario (20 m arena, 2 obstacles, dt 0.05).

    python bench/bench_cbf.py [--quick]

The node latency (nominal -> safe across processes) is measured by the node's own bench.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.osqp_solver import OSQPSolver
from safe_pe_cbf.qp import solve_exact
from safe_pe_cbf.resolver import SafeActionResolver

ARENA = Arena.square(20.0)
CAPTURE_RADIUS = 0.5


def arc_step(poses: np.ndarray, cmds: np.ndarray, t: float) -> np.ndarray:
    """Exact unicycle arcs (bench-local: safe_pe_cbf does not depend on the simulator)."""
    x, y, th = poses[..., 0], poses[..., 1], poses[..., 2]
    v, w = cmds[..., 0], cmds[..., 1]
    small = np.abs(w * t) < 1e-9
    ws = np.where(small, 1.0, w)
    th1 = th + w * t
    dx = np.where(small, v * t * np.cos(th + 0.5 * w * t), v / ws * (np.sin(th1) - np.sin(th)))
    dy = np.where(small, v * t * np.sin(th + 0.5 * w * t), -v / ws * (np.cos(th1) - np.cos(th)))
    th1 = (th1 + math.pi) % (2 * math.pi) - math.pi
    return np.stack([x + dx, y + dy, th1], axis=-1)


def reset_envs(rng, poses, obstacles, idx, filt):
    """Random safe starting poses for envs ``idx`` (rejection sampling on the barriers)."""
    todo = np.asarray(idx)
    while todo.size:
        cand = np.stack([rng.uniform(1, 19, (todo.size, 2)), rng.uniform(1, 19, (todo.size, 2)),
                         rng.uniform(-np.pi, np.pi, (todo.size, 2))], axis=-1)
        ok = (filt.min_barrier(cand[:, 0], obstacles[todo], None, cand[:, 1]) > 0.05) \
            & (filt.min_barrier(cand[:, 1], obstacles[todo], None, cand[:, 0]) > 0.05) \
            & (np.linalg.norm(cand[:, 0, :2] - cand[:, 1, :2], axis=1) > 2.0)
        poses[todo[ok]] = cand[ok]
        todo = todo[~ok]


def goal_directed(poses: np.ndarray, rng) -> np.ndarray:
    """Pure-pursuit pursuer (index 0) and a fleeing evader with noise, full speed.

    Both ignore obstacles and walls on purpose (the filter is what keeps them clear): the
    fleeing evader runs into walls, so its intervention rate mostly measures the policy."""
    N = poses.shape[0]
    cmds = np.empty((N, 2, 2))
    d = poses[:, 1, :2] - poses[:, 0, :2]
    bearing = np.arctan2(d[:, 1], d[:, 0])
    err0 = (bearing - poses[:, 0, 2] + np.pi) % (2 * np.pi) - np.pi
    err1 = (bearing + rng.normal(0, 0.6, N) - poses[:, 1, 2] + np.pi) % (2 * np.pi) - np.pi
    cmds[:, 0] = np.stack([np.ones(N), np.clip(3.0 * err0, -2.84, 2.84)], axis=1)
    cmds[:, 1] = np.stack([np.ones(N), np.clip(3.0 * err1, -2.84, 2.84)], axis=1)
    return cmds


def rollout(cfg: CBFConfig, n_envs: int, steps: int, policy: str, seed: int):
    """Filtered rollout; returns intervention stats and the visited single-robot cases."""
    rng = np.random.default_rng(seed)
    filt = BatchedSafetyFilter(cfg, ARENA)
    obstacles = np.concatenate([rng.uniform(4, 16, (n_envs, 2, 2)),
                                rng.uniform(0.3, 1.0, (n_envs, 2, 1))], axis=2)
    poses = np.zeros((n_envs, 2, 3))
    reset_envs(rng, poses, obstacles, np.arange(n_envs), filt)
    intervened = np.zeros(2)
    tiers = 0
    tier_counts = np.zeros(6, dtype=np.int64)
    cases = []
    for step in range(steps):
        if policy == "goal":
            nominal = goal_directed(poses, rng)
        else:
            nominal = np.stack([rng.uniform(cfg.v_min, cfg.v_max, (n_envs, 2)),
                                rng.uniform(-cfg.omega_max, cfg.omega_max, (n_envs, 2))], -1)
        safe = np.empty_like(nominal)
        for a in range(2):
            u, rec = filt.resolve(poses[:, a], nominal[:, a], obstacles, None, poses[:, 1 - a])
            safe[:, a] = u
            intervened[a] += int(rec.intervened.sum())
            tier_counts += np.bincount(rec.tier, minlength=6)
            if step % 5 == 0:
                pick = rng.choice(n_envs, 4, replace=False)
                cases += [(poses[i, a].copy(), nominal[i, a].copy(), poses[i, 1 - a].copy(),
                           obstacles[i].copy()) for i in pick]
        poses = arc_step(poses, safe, cfg.dt)
        caught = np.linalg.norm(poses[:, 0, :2] - poses[:, 1, :2], axis=1) < CAPTURE_RADIUS
        if caught.any():
            reset_envs(rng, poses, obstacles, np.nonzero(caught)[0], filt)
        tiers += n_envs
    return intervened / tiers, tier_counts / (2 * tiers), cases


def pct(ts) -> tuple[float, float]:
    a = np.asarray(ts) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def latency(cfg: CBFConfig, cases, reps: int, block: int = 200):
    """Per-call resolver latency of the three backends on the same cases.

    Backends alternate in blocks of ``block`` calls (A B C A B C ...), so slow drifts of the
    shared machine hit all three alike while one backend does not evict the others' caches
    on every call.
    """
    names = ["exact", "osqp_fresh", "osqp_warm"]
    cfgs = [CBFConfig(**{**cfg.to_dict(), "solver": "exact"}),
            CBFConfig(**{**cfg.to_dict(), "solver": "osqp", "osqp_warm_start": False}),
            CBFConfig(**{**cfg.to_dict(), "solver": "osqp", "osqp_warm_start": True})]
    times = {n: [] for n in names}
    qp_times = {n: [] for n in names}
    # one resolver per backend (as a node has): obstacles are swapped outside the timing,
    # and the warm-started OSQP problem survives the swap (same row count)
    resolvers = [SafeActionResolver(c, ARENA) for c in cfgs]
    for pose, u, opp, obs in cases[:50]:  # warm-up
        for res in resolvers:
            res.update(obstacles=obs)
            res.resolve(pose, u, opp)
    for _ in range(reps):
        for start in range(0, len(cases), block):
            chunk = cases[start:start + block]
            for j, n in enumerate(names):
                res = resolvers[j]
                for pose, u, opp, obs in chunk:
                    res.update(obstacles=obs)
                    t0 = time.perf_counter()
                    _, rec = res.resolve(pose, u, opp)
                    dt = time.perf_counter() - t0
                    times[n].append(dt)
                    if rec.tier != 0:
                        qp_times[n].append(dt)
    return times, qp_times


def bare_qp(cfg: CBFConfig, cases, reps: int):
    """The QP alone (instances where the nominal command was not certified)."""
    res = SafeActionResolver(cfg, ARENA)
    insts = []
    for pose, u, opp, obs in cases:
        res.update(obstacles=obs)
        cs = res.constraints(pose, opp)
        if not cs.satisfied(u, tol=0.0):
            insts.append((u, cfg.weights, cs.G, cs.g, cs.lo, cs.hi))
    fresh, warm = OSQPSolver(warm_start=False), OSQPSolver(warm_start=True)
    out = {"exact": [], "osqp_fresh": [], "osqp_warm": []}
    maxdiff = 0.0
    exact_u = [solve_exact(*inst) for inst in insts]
    for _ in range(reps):  # each backend in its own loop over the same instances
        for inst in insts:
            t0 = time.perf_counter()
            solve_exact(*inst)
            out["exact"].append(time.perf_counter() - t0)
        for name, solver in (("osqp_fresh", fresh), ("osqp_warm", warm)):
            for inst, ex in zip(insts, exact_u):
                t0 = time.perf_counter()
                try:
                    b = solver.solve(*inst)
                except RuntimeError:
                    b = None
                out[name].append(time.perf_counter() - t0)
                if b is not None and ex.feasible and b.feasible:
                    maxdiff = max(maxdiff, float(np.max(np.abs(ex.u - b.u))))
    return out, len(insts), maxdiff


def plain_latency(cfg: CBFConfig, cases, reps: int):
    """The exact resolver as plain Python (a subprocess with NUMBA_DISABLE_JIT=1)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cases.npz")
        np.savez(path, pose=[c[0] for c in cases], u=[c[1] for c in cases],
                 opp=[c[2] for c in cases], obs=[c[3] for c in cases])
        out = subprocess.run([sys.executable, __file__, "--plain", path, "--reps", str(reps)],
                             env={**os.environ, "NUMBA_DISABLE_JIT": "1"}, check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _plain_main(path: str, reps: int) -> None:
    from safe_pe_cbf import jit

    assert not jit.AVAILABLE, "run with NUMBA_DISABLE_JIT=1"
    d = np.load(path)
    cases = list(zip(d["pose"], d["u"], d["opp"], d["obs"]))
    res = SafeActionResolver(CBFConfig(), ARENA)
    times, qp_times = [], []
    for pose, u, opp, obs in cases[:50]:  # warm-up
        res.update(obstacles=obs)
        res.resolve(pose, u, opp)
    for _ in range(reps):
        for pose, u, opp, obs in cases:
            res.update(obstacles=obs)
            t0 = time.perf_counter()
            _, rec = res.resolve(pose, u, opp)
            dt = time.perf_counter() - t0
            times.append(dt)
            if rec.tier != 0:
                qp_times.append(dt)
    print(json.dumps({"all": times, "qp": qp_times}))


def throughput(cfg: CBFConfig, cases, N: int, reps: int):
    """(median, best) safe actions/s and median boxes/s of the compiled batched filter."""
    sel = [cases[i % len(cases)] for i in range(N)]
    P = np.array([c[0] for c in sel])
    U = np.array([c[1] for c in sel])
    Q = np.array([c[2] for c in sel])
    O = np.array([c[3] for c in sel])
    filt = BatchedSafetyFilter(cfg, ARENA)
    filt.resolve(P, U, O, None, Q)  # warm-up (numba: load or compile the kernels)
    filt.action_box(P, O, None, Q)
    res, box = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        filt.resolve(P, U, O, None, Q)
        res.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        filt.action_box(P, O, None, Q)
        box.append(time.perf_counter() - t0)
    return N / np.median(res), N / np.min(res), N / np.median(box)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain", help=argparse.SUPPRESS)  # internal: the plain-Python run
    ap.add_argument("--reps", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plain:
        _plain_main(args.plain, args.reps)
        return
    cfg = CBFConfig()
    q = args.quick
    print(f"config: {cfg.to_dict()}")
    t0 = time.perf_counter()
    acc = 0
    for i in range(1_000_000):
        acc += i
    print(f"machine speed: a Python loop of 1e6 additions takes "
          f"{1e3 * (time.perf_counter() - t0):.0f} ms (scale absolute numbers by it)")

    print("\n== intervention rate (research scenario, both robots filtered) ==")
    for policy in ("goal", "random"):
        rate, tiers, cases = rollout(cfg, 256 if q else 1024, 100 if q else 400, policy,
                                     args.seed)
        names = ("pure pursuit", "flee") if policy == "goal" else ("random", "random")
        print(f"{policy:>6} nominal: intervened on {100 * rate.mean():.2f} % of robot-steps "
              f"(pursuer [{names[0]}] {100 * rate[0]:.2f} %, evader [{names[1]}] "
              f"{100 * rate[1]:.2f} %); tiers nominal/qp/relaxed/backup = "
              + "/".join(f"{100 * t:.2f}%" for t in tiers[:4]))
        if policy == "goal":
            goal_cases = cases

    print("\n== resolver latency per call [us] (same states; exact = compiled kernels, exact_py "
          "= the same kernels as plain Python in a subprocess (NUMBA_DISABLE_JIT=1), the "
          "others in alternating blocks) ==")
    lat_cases = goal_cases[: 600 if q else 4000]
    times, qp_times = latency(cfg, lat_cases, 1 if q else 2)
    plain = plain_latency(cfg, lat_cases, 1 if q else 2)
    times = {"exact": times.pop("exact"), "exact_py": plain["all"], **times}
    qp_times = {"exact": qp_times.pop("exact"), "exact_py": plain["qp"], **qp_times}
    base = pct(times["exact"])
    for n in times:
        p50, p99 = pct(times[n])
        line = f"{n:>10}: all calls p50 {p50:8.1f}  p99 {p99:8.1f}"
        if qp_times[n]:
            a, b = pct(qp_times[n])
            line += f" | calls needing the QP ({len(qp_times[n])}): p50 {a:8.1f}  p99 {b:8.1f}"
        print(line + f" | p50 ratio vs exact {p50 / base[0]:.1f}x")
    if qp_times["exact"]:
        e = pct(qp_times["exact"])
        for n in ("osqp_fresh", "osqp_warm"):
            o = pct(qp_times[n])
            print(f"  QP calls: {n} / exact = {o[0] / e[0]:.1f}x (p50), {o[1] / e[1]:.1f}x (p99)")

    print("\n== bare QP solve [us] (instances where the nominal was not certified) ==")
    bare, n_inst, maxdiff = bare_qp(cfg, goal_cases[: 2000 if q else 8000], 2)
    e = pct(bare["exact"])
    for n, ts in bare.items():
        p50, p99 = pct(ts)
        print(f"{n:>10}: p50 {p50:8.1f}  p99 {p99:8.1f}  (p50 {p50 / e[0]:.1f}x exact)")
    print(f"  {n_inst} instances, max |u_exact - u_osqp| = {maxdiff:.2e}")

    print("\n== batched filter, N = 4096 (compiled loop over the single-robot kernels) ==")
    med, best, box = throughput(cfg, goal_cases, 4096, 5 if q else 20)
    print(f"resolve: {med / 1e6:.2f} M safe actions/s (median), {best / 1e6:.2f} M/s (best); "
          f"action_box: {box / 1e6:.2f} M boxes/s (median) (target: >= 2 M safe actions/s)")


if __name__ == "__main__":
    main()
