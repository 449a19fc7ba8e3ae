"""Time to competence: learner steps and wall time each run needs to reach the learning
targets (docs/training.md), measured on this machine.

Trains the given runs x seeds as parallel processes (``safe_pe_train train``, one torch
thread each; ``--jobs`` at a time), or reads runs already trained (``--run-dirs``). For each
run it reads the per-phase league (``metrics/phases.json``) and reports the first phase at
which the pursuer, the evader, and then both meet the targets, with the learner steps and
the wall time since training started; the scripted bar is measured on the same seeds. The
per-phase league plays few episodes, so the phases it names are confirmed with a full
league (``--episodes``, default 100) of those checkpoints, and finally the run's last pair.

Run:  python bench/bench_learning.py --seeds 0 1 2 --budget 4000000 --jobs 2 --out runs/bench
      python bench/bench_learning.py --run-dirs runs/A_s0 runs/A_s1 runs/A_s2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from safe_pe_training.checkpoints import read_metadata
from safe_pe_training.config import SafeSelfPlayConfig
from safe_pe_training.league import league_of_checkpoint, scripted_bar, scripted_table, \
    targets_met
from safe_pe_training.league_report import time_to_competence


def train_all(run: str, seeds: list[int], budget: int, jobs: int, out: Path) -> list[Path]:
    """Train ``run`` for every seed, ``jobs`` processes at a time; return the run dirs."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    pending = [(seed, out / f"{run}_s{seed}") for seed in seeds]
    running: list[tuple[subprocess.Popen, Path]] = []
    done: list[Path] = []
    while pending or running:
        while pending and len(running) < jobs:
            seed, run_dir = pending.pop(0)
            cmd = [sys.executable, "-m", "safe_pe_training.cli", "train", run,
                   "--seed", str(seed), "--budget", str(budget), "--run-dir", str(run_dir),
                   "--no-progress"]
            print("$", " ".join(cmd), flush=True)
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            log = open(run_dir.parent / f"{run_dir.name}.log", "w")
            running.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=log), run_dir))
        time.sleep(5.0)
        for proc, run_dir in list(running):
            if proc.poll() is not None:
                running.remove((proc, run_dir))
                if proc.returncode != 0:
                    print(f"{run_dir}: training failed (exit {proc.returncode}), see "
                          f"{run_dir.parent / (run_dir.name + '.log')}", flush=True)
                done.append(run_dir)
    return done


def _wall_seconds(phases: list[dict], phase: int) -> float:
    """Seconds from the start of training to the checkpoint of ``phase``."""
    start = read_metadata(phases[0]["checkpoint"]).created_unix - phases[0]["seconds"]
    rec = next(r for r in phases if r["phase"] == phase)
    return read_metadata(rec["checkpoint"]).created_unix - start


def _confirm(config: SafeSelfPlayConfig, checkpoints: dict[str, str], episodes: int,
             bar: float) -> dict[str, bool]:
    met = {}
    for role, path in checkpoints.items():
        met[role] = all(targets_met(league_of_checkpoint(path, config, episodes), bar).values())
    return met


def main() -> None:
    """Parse options, train (unless given run dirs), report the time to competence."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dirs", nargs="+", type=Path, help="analyse these trained runs")
    parser.add_argument("--run", default="A", help="run type or config YAML to train")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=4_000_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_learning"))
    parser.add_argument("--episodes", type=int, default=100, help="confirmation league")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    run_dirs = args.run_dirs or train_all(args.run, args.seeds, args.budget, args.jobs,
                                          args.out)
    config = SafeSelfPlayConfig.from_yaml(run_dirs[0] / "config.yaml")
    bar = scripted_bar(scripted_table(config, args.episodes))
    print(f"\nscripted bar (lead_pursuit vs aware_flee, {args.episodes} episodes): {bar:.3f}")
    header = (f"{'run':<22} {'role':<8} {'phase':>5} {'steps':>9} {'wall [s]':>9} "
              f"{'confirmed':>9}")
    print(header + "\n" + "-" * len(header))
    results = []
    for run_dir in run_dirs:
        phases = json.loads((run_dir / "metrics" / "phases.json").read_text())
        run_config = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml")
        reached = time_to_competence(phases, bar)
        last = {r["role"]: r["checkpoint"] for r in phases}
        row = {"run": str(run_dir), "seed": run_config.seed, "bar": bar}
        for key, mark in list(reached.items()) + [("last", None)]:
            if key == "last":
                mark = {"phase": phases[-1]["phase"], "total_steps": phases[-1]["total_steps"],
                        "checkpoints": last}
            if mark is None:
                print(f"{run_dir.name:<22} {key:<8} {'not reached':>25}")
                row[key] = None
                continue
            checkpoints = (mark["checkpoints"] if key in ("both", "last")
                           else {key: mark["checkpoints"][key]})
            confirmed = _confirm(run_config, checkpoints, args.episodes, bar)
            wall = _wall_seconds(phases, mark["phase"])
            print(f"{run_dir.name:<22} {key:<8} {mark['phase']:>5d} {mark['total_steps']:>9d} "
                  f"{wall:>9.0f} {str(all(confirmed.values())):>9}")
            row[key] = dict(mark, wall_s=wall, confirmed=confirmed)
        results.append(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
