#!/usr/bin/env python3
"""Simulation throughput, side by side in one run (not a test; numbers vary with load).

Measures, with pre-drawn actions so action sampling is not timed:

* single env: ``PursuitEvasionEnv`` (learner vs a callable opponent replaying pre-drawn actions,
  and vs the scripted ``aware_flee``), ``PursuitEvasionParallelEnv`` (both agents act), and the
  bare ``PursuitEvasionGame`` physics;
* vector env: ``VectorizedPursuitEvasion`` (no filter) at N = 256 and 4096 with physical
  commands for both agents, and the SB3 ``PursuitEvasionVecEnv`` at N = 256;
* reference: MPE ``simple_tag_v3`` (package ``mpe2``, parallel API, 4 agents) env-steps/s.

Each measurement runs ``--repeats`` times, interleaved with the others so load changes hit all
of them alike; the median is reported. Targets (issue 3): single env >= 20 k steps/s, vector
env >= 1 M env-steps/s at N = 4096.

    python bench/bench_sim.py [--seconds 1.0] [--repeats 3] [--profile default]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np

from safe_pe_sim.config import load_profile
from safe_pe_sim.env import PursuitEvasionEnv
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.parallel_env import PursuitEvasionParallelEnv
from safe_pe_sim.vec_core import VectorizedPursuitEvasion
from safe_pe_sim.vec_env import PursuitEvasionVecEnv

Bench = Callable[[float], float]          # seconds -> env-steps per second


def bench_gym_env(profile: str, opponent: str) -> Bench:
    """Single gymnasium env, learner = pursuer; opponent replays actions or is scripted."""
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (4096, 2)).astype(np.float32)
    opp_actions = rng.uniform(-1, 1, (4096, 2))
    k = [0]

    def replay(obs: np.ndarray) -> np.ndarray:
        return opp_actions[k[0] & 4095]

    env = PursuitEvasionEnv(profile, role="pursuer",
                            opponent=replay if opponent == "replay" else opponent)

    def run(seconds: float) -> float:
        env.reset(seed=0)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(256):
                k[0] = n
                _, _, term, trunc, _ = env.step(actions[n & 4095])
                n += 1
                if term or trunc:
                    env.reset()
        return n / (time.perf_counter() - t0)
    return run


def bench_parallel_env(profile: str) -> Bench:
    """PettingZoo parallel env, both agents' actions pre-drawn."""
    rng = np.random.default_rng(1)
    acts = [{"pursuer": a, "evader": b} for a, b in
            zip(rng.uniform(-1, 1, (4096, 2)), rng.uniform(-1, 1, (4096, 2)))]
    env = PursuitEvasionParallelEnv(profile)

    def run(seconds: float) -> float:
        env.reset(seed=0)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(256):
                env.step(acts[n & 4095])
                n += 1
                if not env.agents:
                    env.reset()
        return n / (time.perf_counter() - t0)
    return run


def bench_game(profile: str) -> Bench:
    """Bare single-game physics (physical commands, no observations)."""
    cfg = load_profile(profile)
    rng = np.random.default_rng(2)
    cmds = [(tuple(a), tuple(b)) for a, b in zip(
        rng.uniform([0, -2.84], [1, 2.84], (4096, 2)), rng.uniform([0, -2.84], [1, 2.84],
                                                                     (4096, 2)))]
    game = PursuitEvasionGame(cfg)

    def run(seconds: float) -> float:
        game.reset(seed=0)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(256):
                res = game.step(*cmds[n & 4095])
                n += 1
                if res.terminated or res.truncated:
                    game.reset()
        return n / (time.perf_counter() - t0)
    return run


def bench_vector_core(profile: str, num_envs: int) -> Bench:
    """Vectorized core, physical commands for both agents pre-drawn, no filter."""
    cfg = load_profile(profile)
    core = VectorizedPursuitEvasion(cfg, num_envs, seed=0)
    rng = np.random.default_rng(3)
    lo, hi = core.cmd_lo, core.cmd_hi
    cmds = [lo + (hi - lo) * rng.uniform(size=(num_envs, 2, 2)) for _ in range(16)]

    def run(seconds: float) -> float:
        core.reset(seed=0)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            c = cmds[n % 16]
            core.step(c[:, 0], c[:, 1])
            n += 1
        return n * num_envs / (time.perf_counter() - t0)
    return run


def bench_sb3_vec_env(profile: str, num_envs: int) -> Bench:
    """SB3 VecEnv (learner pursuer vs scripted aware_flee), pre-drawn learner actions."""
    venv = PursuitEvasionVecEnv(profile, num_envs, role="pursuer", opponent="aware_flee",
                                seed=0)
    rng = np.random.default_rng(4)
    acts = [rng.uniform(-1, 1, (num_envs, 2)).astype(np.float32) for _ in range(16)]

    def run(seconds: float) -> float:
        venv.reset()
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            venv.step(acts[n % 16])
            n += 1
        return n * num_envs / (time.perf_counter() - t0)
    return run


def bench_mpe() -> Bench | None:
    """MPE simple_tag_v3 (mpe2) parallel env with pre-drawn discrete actions."""
    try:
        from mpe2 import simple_tag_v3
    except ImportError:
        return None
    env = simple_tag_v3.parallel_env(max_cycles=600, continuous_actions=False)
    env.reset(seed=0)
    rng = np.random.default_rng(5)
    agents = list(env.possible_agents)
    acts = [{a: int(x) for a, x in zip(agents, row)}
            for row in rng.integers(0, 5, (4096, len(agents)))]

    def run(seconds: float) -> float:
        env.reset(seed=0)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(64):
                env.step(acts[n & 4095])
                n += 1
                if not env.agents:
                    env.reset()
        return n / (time.perf_counter() - t0)
    return run


def main() -> None:
    """Run all benchmarks interleaved and print a table with ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats")
    parser.add_argument("--profile", default="default", help="env profile name or YAML")
    args = parser.parse_args()
    benches: dict[str, Bench] = {
        "gym env vs replayed actions": bench_gym_env(args.profile, "replay"),
        "gym env vs scripted aware_flee": bench_gym_env(args.profile, "aware_flee"),
        "PettingZoo parallel env": bench_parallel_env(args.profile),
        "bare game physics": bench_game(args.profile),
        "vector core N=256": bench_vector_core(args.profile, 256),
        "vector core N=4096": bench_vector_core(args.profile, 4096),
        "SB3 VecEnv N=256 (vs aware_flee)": bench_sb3_vec_env(args.profile, 256),
    }
    mpe = bench_mpe()
    if mpe is not None:
        benches["MPE simple_tag_v3 (mpe2)"] = mpe
    results: dict[str, list[float]] = {name: [] for name in benches}
    for name, fn in benches.items():        # warm-up (imports, caches, allocator)
        fn(0.1)
    for _ in range(args.repeats):
        for name, fn in benches.items():
            results[name].append(fn(args.seconds))
    med = {name: statistics.median(v) for name, v in results.items()}
    ref = med.get("MPE simple_tag_v3 (mpe2)")
    single = med["gym env vs replayed actions"]
    print(f"profile {args.profile!r}, {args.repeats} x {args.seconds:.1f} s each, medians "
          f"(min..max)")
    print(f"{'benchmark':38s} {'env-steps/s':>14s} {'min..max':>24s} {'x MPE':>8s} "
          f"{'x single':>9s}")
    for name, value in med.items():
        lo, hi = min(results[name]), max(results[name])
        vs_mpe = f"{value / ref:8.1f}" if ref else "     n/a"
        print(f"{name:38s} {value:14,.0f} {f'{lo:,.0f}..{hi:,.0f}':>24s} {vs_mpe} "
              f"{value / single:9.2f}")
    print("targets: single env >= 20,000 steps/s "
          f"({'met' if single >= 20_000 else 'NOT met'}: {single:,.0f}); "
          f"vector env >= 1,000,000 env-steps/s at N=4096 "
          f"({'met' if med['vector core N=4096'] >= 1e6 else 'NOT met'}: "
          f"{med['vector core N=4096']:,.0f})")


if __name__ == "__main__":
    main()
