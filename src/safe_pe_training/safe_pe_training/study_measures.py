"""Measures of one study task and the cross-play games (run as subprocesses by the study).

``python -m safe_pe_training.study_measures measure --run-dir D --episodes N`` writes
``D/study_measures.json``: the final pursuer and evader against each league reference
(:func:`safe_pe_training.league.play_references`, the league's fixed seeds), evaluation
violations, intervention and backup rates, the **box restriction** (the share of the command
box that the CBF safe box removes, averaged over the states the learned robot visits in
these games: a measure of how much safety restricts a policy that is not 0 for Beta runs,
whose intervention rate is 0 by construction), the training safety summary, throughput,
wall time, per-phase curves and the min-h histogram.

``python -m safe_pe_training.study_measures crossplay --out OUT --seed S --episodes N``
writes ``OUT/crossplay/seed<S>.json``: every run's final pursuer against every run's final
evader of seed ``S``, all in one world (:func:`safe_pe_training.study.crossplay_world`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from safe_pe_sim.roles import ROLES

from safe_pe_training.action_mapping import CommandLimits
from safe_pe_training.artifacts import atomic_write_json, read_json
from safe_pe_training.checkpoints import load_policy
from safe_pe_training.config import SafeSelfPlayConfig
from safe_pe_training.evaluation import play_match
from safe_pe_training.factories import make_env_config
from safe_pe_training.league import EVAL_SEED_BASE, load_player, play_references
from safe_pe_training.opponents import PolicyOpponent
from safe_pe_training.safe_vec_env import make_core, make_filters
from safe_pe_training.safety_stats import DEFAULT_MARGIN_EDGES
from safe_pe_training.study import crossplay_key, final_checkpoints, measures_key

TRAIN_KEYS = ("violations", "violation_rate", "intervention_rate", "backup_rate",
              "feasibility_rate", "min_min_h", "mean_min_h")


def box_removed_share(lo: np.ndarray, hi: np.ndarray, empty: np.ndarray,
                      limits: CommandLimits) -> np.ndarray:
    """Share of the command box ``[v_min, v_max] x [-w_max, w_max]`` outside the safe box.

    :param lo: ``(N, 2)`` lower corners of the safe boxes (physical units)
    :param hi: ``(N, 2)`` upper corners
    :param empty: ``(N,)`` boxes the bound stage found empty (share 1)
    :param limits: the robot's command limits
    :return: ``(N,)`` values in [0, 1]
    """
    lo = np.maximum(np.asarray(lo, dtype=np.float64), limits.low)
    hi = np.minimum(np.asarray(hi, dtype=np.float64), limits.high)
    width = np.clip(hi - lo, 0.0, None)
    full = (limits.v_max - limits.v_min) * 2.0 * limits.omega_max
    share = 1.0 - np.clip(width[:, 0] * width[:, 1] / full, 0.0, 1.0)
    share[np.asarray(empty, dtype=bool)] = 1.0
    return share


class BoxRecorder:
    """A batched filter that also records the box restriction at every state it filters.

    :param inner: the robot's ``BatchedSafetyFilter``
    :param limits: the robot's command limits
    """

    def __init__(self, inner: Any, limits: CommandLimits) -> None:
        self.inner = inner
        self.limits = limits
        self.shares: list[np.ndarray] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def resolve(self, poses: np.ndarray, u_nom: np.ndarray, obstacles: np.ndarray,
                mask: np.ndarray | None = None, opponent_poses: np.ndarray | None = None,
                **actuation: np.ndarray) -> Any:
        """Record the safe box at this state, then filter as the inner filter does.

        :param actuation: ``velocities``, ``pending``, ``opponent_velocities`` under the
            actuator model (see ``BatchedSafetyFilter.resolve``)
        """
        lo, hi, empty = self.inner.action_box(poses, obstacles, mask, opponent_poses,
                                              **actuation)
        self.shares.append(box_removed_share(lo, hi, empty, self.limits))
        return self.inner.resolve(poses, u_nom, obstacles, mask, opponent_poses, **actuation)

    def mean(self) -> float | None:
        """Mean recorded share (None: nothing recorded)."""
        if not self.shares:
            return None
        return float(np.concatenate(self.shares).mean())


def _none(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def measure_run(run_dir: str | Path, episodes: int) -> dict[str, Any]:
    """Measure a finished run; write and return ``study_measures.json``.

    :param run_dir: the trained run directory
    :param episodes: episodes per reference
    """
    run_dir = Path(run_dir)
    config = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml")
    latest = final_checkpoints(run_dir)
    env_config = make_env_config(config)
    filters = make_filters(config, env_config)
    league: dict[str, list[dict[str, Any]]] = {}
    shares: list[np.ndarray] = []
    win: dict[str, float] = {}
    for agent, role in enumerate(ROLES):
        path = latest[role]
        if path is None:
            raise ValueError(f"{run_dir} has no {role} checkpoint: the run did not train it")
        _, player = load_player(path, config, role)
        role_filters = None
        if filters is not None:
            limits = CommandLimits.from_robot(env_config.robots()[agent])
            recorder = BoxRecorder(filters[agent], limits)
            role_filters = list(filters)
            role_filters[agent] = recorder
        entries = play_references(player, role, config, episodes, env_config=env_config,
                                  filters=role_filters)
        if filters is not None:
            shares.extend(recorder.shares)
        league[role] = [e.to_dict() for e in entries]
        win[role] = float(np.mean([e.win_rate for e in entries]))
    all_entries = league["pursuer"] + league["evader"]
    own = [(0, e) for e in league["pursuer"]] + [(1, e) for e in league["evader"]]
    summary = read_json(run_dir / "metrics" / "summary.json")
    phases = read_json(run_dir / "metrics" / "phases.json")
    task_path = run_dir / "study_task.json"
    task = read_json(task_path) if task_path.exists() else {}
    progress = read_json(run_dir / "run_state.json").get("progress") or []
    wall = task.get("train_seconds") or (progress[-1].get("wall_time_s") if progress else None)
    histogram = np.zeros(len(DEFAULT_MARGIN_EDGES) + 1, dtype=np.int64)
    for rec in phases:
        if rec.get("margin_histogram") and len(rec["margin_histogram"]) == len(histogram):
            histogram += np.asarray(rec["margin_histogram"], dtype=np.int64)
    out = {
        **measures_key(config, episodes, run_dir),
        "run_type": config.run_type, "seed": config.seed,
        "use_cbf": config.use_cbf, "use_beta_policy": config.use_beta_policy,
        "checkpoints": latest, "league": league,
        "capture": {e["reference"].removeprefix("baseline:"): e["capture_rate"]
                    for e in league["pursuer"]},
        "caught": {e["reference"].removeprefix("baseline:"): e["capture_rate"]
                   for e in league["evader"]},
        "pursuer_win": win["pursuer"], "evader_win": win["evader"],
        "mean_win": 0.5 * (win["pursuer"] + win["evader"]),
        "eval_violations": int(sum(sum(e["violation_steps"]) for e in all_entries)),
        "eval_intervention_rate": float(np.mean([e["intervention_rate"][a] for a, e in own])),
        "eval_backup_rate": float(np.mean([e["backup_rate"][a] for a, e in own])),
        "box_restriction": float(np.concatenate(shares).mean()) if shares else None,
        "train": {k: _none(summary["safety"].get(k)) for k in TRAIN_KEYS},
        "steps_per_second": _none(summary.get("steps_per_second")),
        "total_steps": int(summary["total_steps"]),
        "wall_time_s": _none(wall),
        "curves": [{"phase": rec["phase"], "role": rec["role"],
                    "total_steps": rec["total_steps"],
                    "eval_win_rate": rec.get("eval_win_rate"),
                    **{k: (rec.get("safety") or {}).get(k) for k in
                       ("intervention_rate", "backup_rate", "violation_rate")}}
                   for rec in phases],
        "margin_edges": [float(e) for e in DEFAULT_MARGIN_EDGES],
        "margin_histogram": [int(c) for c in histogram],
    }
    atomic_write_json(run_dir / "study_measures.json", out)
    return out


def crossplay(out: str | Path, seed: int, episodes: int) -> dict[str, Any]:
    """Every run's final pursuer against every run's final evader of one seed; write and
    return ``OUT/crossplay/seed<seed>.json``.

    :param out: the study folder
    :param seed: the seed
    :param episodes: episodes per pairing
    """
    out = Path(out)
    record = read_json(out / "study.json")
    key = crossplay_key(out, seed, episodes)
    missing = [run for run, ckpts in key["players"].items()
               if ckpts is None or None in ckpts.values()]
    if missing:
        raise ValueError(f"cross-play of seed {seed} needs the trained runs {missing}")
    world = SafeSelfPlayConfig.from_yaml(out / "configs" / f"{key['world']}.yaml")
    world.seed = seed
    env_config = make_env_config(world)
    filters = make_filters(world, env_config)
    players = {run: {role: PolicyOpponent(load_policy(path, deterministic=True),
                                          label=f"{run}:{role}")
                     for role, path in ckpts.items()} for run, ckpts in key["players"].items()}
    matches = []
    for p_run in record["runs"]:
        for e_run in record["runs"]:
            core = make_core(world, env_config, episodes, EVAL_SEED_BASE)
            match = play_match(core, players[p_run]["pursuer"], players[e_run]["evader"],
                               episodes, filters, seed=EVAL_SEED_BASE)
            matches.append({"pursuer": p_run, "evader": e_run, "episodes": match.episodes,
                            "capture_rate": match.capture_rate,
                            "violation_steps": list(match.violation_steps)})
    result = {**key, "seed": seed, "matches": matches}
    atomic_write_json(out / "crossplay" / f"seed{seed}.json", result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the measuring subprocesses (see the module docstring).

    :param argv: arguments (default ``sys.argv[1:]``)
    """
    import torch  # the measuring subprocess only; the study driver stays torch-free

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(prog="python -m safe_pe_training.study_measures")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="final policies of one run vs the references")
    m.add_argument("--run-dir", required=True, help="the trained run directory")
    m.add_argument("--episodes", type=int, required=True, help="episodes per reference")
    c = sub.add_parser("crossplay", help="final pursuers x final evaders of one seed")
    c.add_argument("--out", required=True, help="the study folder")
    c.add_argument("--seed", type=int, required=True, help="the seed")
    c.add_argument("--episodes", type=int, required=True, help="episodes per pairing")
    args = parser.parse_args(argv)
    if args.command == "measure":
        measure_run(args.run_dir, args.episodes)
    else:
        crossplay(args.out, args.seed, args.episodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
