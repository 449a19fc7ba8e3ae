#!/usr/bin/env python3
"""Cost of SafetyMetricsTracker recording: one batched call vs a loop of single records.

The training loop records N env-steps at once (`record_batch`); nodes and rollouts may record
one step at a time (`record_step`). Both fill the same tracker state (a test checks equality);
this prints, measured side by side in one run:

    N      batch [us/call]  batch [ns/step]  loop [ns/step]  loop/batch
    ...

plus the cost of reading the metrics (lifetime summary, recent window, end_phase).

Usage::

    source scripts/env.sh
    python bench/bench_safety_metrics.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from safe_pe_training.safety_tracker import SafetyMetricsTracker


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 4, n), rng.normal(0.8, 1.0, n),
            np.where(rng.random(n) < 0.3, rng.random(n), 0.0), rng.random(n) < 0.001,
            rng.random(n) < 0.995)


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timing repeats (best of)")
    args = parser.parse_args()
    print(f"{'N':>6} {'batch [us/call]':>16} {'batch [ns/step]':>16} {'loop [ns/step]':>15} "
          f"{'loop/batch':>11}")
    for n in (64, 1024, 4096, 16384):
        tier, min_h, inter, viol, feas = _data(n)
        tracker = SafetyMetricsTracker()
        batch = _best(lambda: tracker.record_batch(tier, min_h, inter, viol, feas),
                      args.repeats)
        loop_n = min(n, 1024)
        single = SafetyMetricsTracker()
        items = list(zip(tier.tolist(), min_h.tolist(), inter.tolist(), viol.tolist(),
                         feas.tolist()))[:loop_n]

        def loop() -> None:
            for t, h, i, v, f in items:
                single.record_step(t, h, i, v, qp_feasible=f)

        per_step_loop = _best(loop, max(1, args.repeats // 4)) / loop_n
        print(f"{n:>6} {batch * 1e6:>16.1f} {batch / n * 1e9:>16.1f} "
              f"{per_step_loop * 1e9:>15.0f} {per_step_loop / (batch / n):>11.1f}")
    tracker = SafetyMetricsTracker()
    for _ in range(50):
        tracker.record_batch(*_data(4096))
    for name, fn in (("get_summary (lifetime)", tracker.get_summary),
                     ("get_recent_metrics (1000)", tracker.get_recent_metrics),
                     ("check_safety_targets", tracker.check_safety_targets)):
        print(f"{name:<28} {_best(fn, args.repeats) * 1e6:8.1f} us")
    t0 = time.perf_counter()
    tracker.end_phase()
    print(f"{'end_phase (204800 steps)':<28} {(time.perf_counter() - t0) * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
