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
import os
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

Bench = Callable[[float], tuple[float, float]]   # seconds -> (wall, CPU) env-steps/s


def _timed(start: Callable[[], object], step: Callable[[int], bool],
           restart: Callable[[], object], seconds: float, block: int = 1,
           env_steps_per_call: int = 1) -> tuple[float, float]:
    """Call ``step(n)`` (n = 0, 1, ...) for ``seconds``; ``restart()`` when it returns True.

    Returns env-steps per second of wall-clock time and of this process's CPU time. The clock
    is read once per ``block`` calls.
    """
    start()
    n = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while time.perf_counter() - t0 < seconds:
        for _ in range(block):
            if step(n):
                restart()
            n += 1
    steps = n * env_steps_per_call
    return (steps / (time.perf_counter() - t0),
            steps / max(time.process_time() - c0, 1e-9))


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

    def step(n: int) -> bool:
        k[0] = n
        _, _, term, trunc, _ = env.step(actions[n & 4095])
        return term or trunc

    return lambda seconds: _timed(lambda: env.reset(seed=0), step, env.reset, seconds, 256)


def bench_parallel_env(profile: str) -> Bench:
    """PettingZoo parallel env, both agents' actions pre-drawn."""
    rng = np.random.default_rng(1)
    acts = [{"pursuer": a, "evader": b} for a, b in
            zip(rng.uniform(-1, 1, (4096, 2)), rng.uniform(-1, 1, (4096, 2)))]
    env = PursuitEvasionParallelEnv(profile)

    def step(n: int) -> bool:
        env.step(acts[n & 4095])
        return not env.agents

    return lambda seconds: _timed(lambda: env.reset(seed=0), step, env.reset, seconds, 256)


def bench_game(profile: str) -> Bench:
    """Bare single-game physics (physical commands, no observations)."""
    cfg = load_profile(profile)
    rng = np.random.default_rng(2)
    cmds = [(tuple(a), tuple(b)) for a, b in zip(
        rng.uniform([0, -2.84], [1, 2.84], (4096, 2)), rng.uniform([0, -2.84], [1, 2.84],
                                                                     (4096, 2)))]
    game = PursuitEvasionGame(cfg)

    def step(n: int) -> bool:
        res = game.step(*cmds[n & 4095])
        return res.terminated or res.truncated

    return lambda seconds: _timed(lambda: game.reset(seed=0), step, game.reset, seconds, 256)


def bench_vector_core(profile: str, num_envs: int) -> Bench:
    """Vectorized core, physical commands for both agents pre-drawn, no filter."""
    cfg = load_profile(profile)
    core = VectorizedPursuitEvasion(cfg, num_envs, seed=0)
    rng = np.random.default_rng(3)
    lo, hi = core.cmd_lo, core.cmd_hi
    cmds = [lo + (hi - lo) * rng.uniform(size=(num_envs, 2, 2)) for _ in range(16)]

    def step(n: int) -> bool:
        c = cmds[n % 16]
        core.step(c[:, 0], c[:, 1])
        return False  # the core resets finished games itself

    return lambda seconds: _timed(lambda: core.reset(seed=0), step, core.reset, seconds,
                                  env_steps_per_call=num_envs)


def bench_sb3_vec_env(profile: str, num_envs: int) -> Bench:
    """SB3 VecEnv (learner pursuer vs scripted aware_flee), pre-drawn learner actions."""
    venv = PursuitEvasionVecEnv(profile, num_envs, role="pursuer", opponent="aware_flee",
                                seed=0)
    rng = np.random.default_rng(4)
    acts = [rng.uniform(-1, 1, (num_envs, 2)).astype(np.float32) for _ in range(16)]

    def step(n: int) -> bool:
        venv.step(acts[n % 16])
        return False  # auto-reset inside the VecEnv

    return lambda seconds: _timed(venv.reset, step, venv.reset, seconds,
                                  env_steps_per_call=num_envs)


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

    def step(n: int) -> bool:
        env.step(acts[n & 4095])
        return not env.agents

    return lambda seconds: _timed(lambda: env.reset(seed=0), step, env.reset, seconds, 64)


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
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in benches}
    for name, fn in benches.items():        # warm-up (imports, caches, allocator)
        fn(0.1)
    for _ in range(args.repeats):
        for name, fn in benches.items():
            results[name].append(fn(args.seconds))
    wall = {name: statistics.median(r[0] for r in v) for name, v in results.items()}
    cpu = {name: statistics.median(r[1] for r in v) for name, v in results.items()}
    mpe_name = "MPE simple_tag_v3 (mpe2)"
    single_name = "gym env vs replayed actions"
    vec_name = "vector core N=4096"
    try:
        load = "load average %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        load = "load average n/a"
    print(f"profile {args.profile!r}, {args.repeats} x {args.seconds:.1f} s each, medians; "
          f"{os.cpu_count()} CPUs, {load}")
    print("wall = env-steps per wall-clock second; cpu = per second of this process's CPU time "
          "(what a dedicated core would give when the machine is shared)")
    print(f"{'benchmark':36s} {'wall/s':>12s} {'cpu/s':>12s} {'wall x MPE':>11s} "
          f"{'cpu x MPE':>10s} {'x single':>9s}")
    for name in benches:
        r_w = f"{wall[name] / wall[mpe_name]:11.1f}" if mpe_name in wall else "        n/a"
        r_c = f"{cpu[name] / cpu[mpe_name]:10.1f}" if mpe_name in cpu else "       n/a"
        print(f"{name:36s} {wall[name]:12,.0f} {cpu[name]:12,.0f} {r_w} {r_c} "
              f"{wall[name] / wall[single_name]:9.2f}")
    for label, rates in (("wall", wall), ("cpu", cpu)):
        print(f"targets ({label}): single env >= 20,000 steps/s: "
              f"{'met' if rates[single_name] >= 20_000 else 'NOT met'} "
              f"({rates[single_name]:,.0f}); vector env >= 1,000,000 env-steps/s at N=4096: "
              f"{'met' if rates[vec_name] >= 1e6 else 'NOT met'} ({rates[vec_name]:,.0f})")


if __name__ == "__main__":
    main()
