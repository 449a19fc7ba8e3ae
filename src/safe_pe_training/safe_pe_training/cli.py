"""``safe_pe_train``: train one run, evaluate checkpoints, run the A/B/C/D ablation.

Examples::

    safe_pe_train train A --budget 200000 --run-dir runs/A_demo
    safe_pe_train train --config my_run.yaml --seed 3
    safe_pe_train train --resume --run-dir runs/A_demo          # continue a killed run
    safe_pe_train evaluate --run-dir runs/A_demo --episodes 50  # latest policies vs baselines
    safe_pe_train evaluate --config config/runs/run_a.yaml \\
        --pursuer runs/A_demo/checkpoints/pursuer_phase0008.pt --evader baseline:aware_flee
    safe_pe_train league --run-dir runs/A_demo --episodes 100   # vs the scripted references
    safe_pe_train league --run-dir runs/A_demo --elo --episodes 20 # Elo of all checkpoints
    safe_pe_train ablation --budget 400000 --seeds 0 1 2 --out runs/ablation
    safe_pe_train study --budget 400000 --seeds 0 1 2 --out runs/study --workers 16
    safe_pe_train study --ray-address 10.0.0.5:6379 --out /shared/study  # on a Ray cluster
    safe_pe_train pretrained --runs runs/A_s0 runs/A_s1 runs/A_s2 --out models
    safe_pe_train league --run A --checkpoint pretrained    # the shipped pair
    safe_pe_train export --onnx runs/A_demo/checkpoints/pursuer_phase0008.pt \\
        --out robot/pursuer.onnx                            # for a robot without torch
    safe_pe_train identify --bag bags/tb3_steps --robot tb3_0 --dt 0.1  # actuator limits
    safe_pe_train identify --csv steps.csv --dt 0.05    # (docs/actuation_id.md)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from safe_pe_cbf.actuator import MAX_LATENCY_STEPS
from safe_pe_sim.roles import ROLES

from safe_pe_training.actuator_id import identify
from safe_pe_training.actuator_log import read_bag, read_csv, write_csv
from safe_pe_training.artifacts import atomic_write_csv, atomic_write_json
from safe_pe_training.config import ConfigError, SafeSelfPlayConfig, get_run_configs, \
    load_run_config
from safe_pe_training.study import PRESET_RUNS, StudySpec, run_study


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", default=None,
                        help="run type A, B, C or D (preset); or use --config")
    parser.add_argument("--config", help="SafeSelfPlayConfig YAML file instead of a preset")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--num-envs", type=int, help="override the number of parallel envs")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``safe_pe_train``."""
    parser = argparse.ArgumentParser(prog="safe_pe_train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one run (self-play)")
    _add_common(train)
    train.add_argument("--budget", type=_positive_int, help="total learner env-steps")
    train.add_argument("--steps-per-phase", type=_positive_int,
                       help="override self_play.steps_per_phase")
    train.add_argument("--run-dir", help="run directory (default runs/<run>_<timestamp>)")
    train.add_argument("--runs-base", default="runs", help="parent of default run dirs")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its last checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    evaluate = sub.add_parser("evaluate", help="play checkpoints vs baselines or each other")
    _add_common(evaluate)
    evaluate.add_argument("--run-dir", help="use this run's config and latest checkpoints")
    evaluate.add_argument("--pursuer", nargs="+",
                          help="pursuer checkpoints (.pt/.json) or baseline:<name>")
    evaluate.add_argument("--evader", nargs="+",
                          help="evader checkpoints (.pt/.json) or baseline:<name>")
    evaluate.add_argument("--episodes", type=_positive_int, default=20)
    evaluate.add_argument("--json", help="also write the results to this JSON file")

    league = sub.add_parser(
        "league", help="checkpoints vs the fixed scripted references (fixed evaluation seeds)")
    _add_common(league)
    league.add_argument("--run-dir", help="a run: its config, and its latest checkpoints "
                                          "unless --checkpoint is given")
    league.add_argument("--checkpoint", nargs="+",
                        help='checkpoints (.pt/.json) to rate; "pretrained": the shipped pair')
    league.add_argument("--episodes", type=_positive_int, default=100,
                        help="episodes per pairing (>= 100 to rank policies)")
    league.add_argument("--references", nargs="+",
                        help="reference names (default: all of the checkpoint's role)")
    league.add_argument("--elo", action="store_true",
                        help="round robin of the run's checkpoints and the references with "
                             "Elo ratings (needs --run-dir)")
    league.add_argument("--max-per-role", type=_positive_int, default=8,
                        help="with --elo: checkpoints per role, evenly spaced")
    league.add_argument("--json", help="also write the results to this JSON file")

    pretrained = sub.add_parser(
        "pretrained", help="ship the best final pursuer and evader of some runs in models/")
    pretrained.add_argument("--runs", nargs="+", required=True, help="trained run directories")
    pretrained.add_argument("--out", default=None, help="output folder (default: models/ of "
                            "this checkout, or $SAFE_PE_MODELS)")
    pretrained.add_argument("--episodes", type=_positive_int, default=100,
                            help="league episodes per reference")

    export = sub.add_parser(
        "export", help="export a checkpoint's deployed policy for a robot without torch")
    export.add_argument("--onnx", required=True, metavar="CHECKPOINT",
                        help="checkpoint (.pt) to export as ONNX (observation -> command)")
    export.add_argument("--out", required=True,
                        help="ONNX file to write; its JSON metadata goes beside it")
    export.add_argument("--config", help="run config YAML if the checkpoint's run directory "
                        "has no config.yaml")

    ablation = sub.add_parser("ablation", help="runs A/B/C/D over several seeds + table")
    ablation.add_argument("--runs", nargs="+", default=["A", "B", "C", "D"],
                          choices=["A", "B", "C", "D"])
    ablation.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ablation.add_argument("--budget", type=_positive_int, default=400_000)
    ablation.add_argument("--steps-per-phase", type=_positive_int)
    ablation.add_argument("--num-envs", type=int)
    ablation.add_argument("--eval-episodes", type=_positive_int, default=20,
                          help="final pursuer vs final evader episodes per run and seed")
    ablation.add_argument("--config", help="base config YAML (flags are set per run)")
    ablation.add_argument("--out", default="runs/ablation", help="output folder")
    ablation.add_argument("--no-progress", action="store_true")

    study = sub.add_parser(
        "study", help="the comparison study: (run, seed) tasks in parallel, results.md")
    study.add_argument("--runs", nargs="+", default=list(PRESET_RUNS),
                       help="run names (A B C D B_obstacles) or config YAML files")
    study.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                       help="training seeds (distinct)")
    study.add_argument("--budget", type=_positive_int, default=400_000,
                       help="learner env-steps per task")
    study.add_argument("--steps-per-phase", type=_positive_int)
    study.add_argument("--num-envs", type=_positive_int)
    study.add_argument("--config", help="base config YAML the presets are built from")
    study.add_argument("--league-episodes", type=_positive_int, default=100,
                       help="episodes per reference in each task's final league")
    study.add_argument("--crossplay-episodes", type=_positive_int, default=50,
                       help="episodes per cross-play pairing")
    study.add_argument("--out", default="runs/study", help="study folder (resumed if it "
                                                          "holds the same study)")
    study.add_argument("--workers", type=_positive_int, default=None,
                       help="tasks at once (default: this machine's cores; "
                            "with Ray: the cluster's CPUs)")
    study.add_argument("--ray", action="store_true", help="run the tasks on a local Ray "
                                                          "instance")
    study.add_argument("--ray-address", help="run the tasks on this Ray cluster (host:port; "
                                             "nodes share --out)")

    ident = sub.add_parser(
        "identify", help="estimate a base's acceleration limits and command latency from a "
                         "recorded run (docs/actuation_id.md)")
    source = ident.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help="CSV with columns t, v_cmd, w_cmd, v_meas, w_meas")
    source.add_argument("--bag", help="rosbag2 directory (MCAP storage) or .mcap file")
    ident.add_argument("--robot", default="", help="with --bag: the robot's namespace "
                       "(topics /<robot>/cmd_vel and /<robot>/odom)")
    ident.add_argument("--cmd-topic", default="", help="with --bag: the command topic "
                       "(Twist or TwistStamped)")
    ident.add_argument("--odom-topic", default="", help="with --bag: the odometry topic")
    ident.add_argument("--stamps", choices=["log", "header"], default="log",
                       help="with --bag: receipt (log) times or header stamps")
    ident.add_argument("--dt", type=float, help="the control period [s] the latency is "
                       "rounded up to (the filter's cbf.dt); default: the odometry interval")
    ident.add_argument("--max-latency-steps", type=int, default=MAX_LATENCY_STEPS,
                       help="longest latency searched [control periods]")
    ident.add_argument("--export-csv", help="also write the resampled recording as CSV")
    return parser


def _load_config(args: argparse.Namespace) -> SafeSelfPlayConfig:
    if args.config and args.run:
        raise ConfigError("give either a run type or --config, not both")
    source = args.config or args.run
    if source is None:
        raise ConfigError("say which run to use: a run type (A, B, C, D) or --config FILE")
    config = load_run_config(source)
    if args.seed is not None:
        config.seed = args.seed
    if args.num_envs is not None:
        config.num_envs = args.num_envs
    return config


# ---------------------------------------------------------------------- train
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def cmd_train(args: argparse.Namespace) -> int:
    """``train``: one self-play run; prints a summary."""
    from safe_pe_training.self_play import SelfPlayTrainer  # torch + SB3: this command only

    if args.resume:
        if not args.run_dir:
            raise ConfigError("--resume needs --run-dir (the run to continue)")
        trainer = SelfPlayTrainer.resume(args.run_dir, total_timesteps=args.budget,
                                         progress_bar=not args.no_progress)
        print(f"resuming {trainer.run.root} at phase {trainer.next_phase} "
              f"({trainer.total_steps} steps done)", flush=True)
    else:
        config = _load_config(args)
        if args.budget is not None:
            config.total_timesteps = args.budget
        if args.steps_per_phase is not None:
            config.self_play.steps_per_phase = args.steps_per_phase
        trainer = SelfPlayTrainer(config, args.run_dir, progress_bar=not args.no_progress,
                                  runs_base=args.runs_base)
        print(f"run {config.run_type} -> {trainer.run.root}", flush=True)
    result = trainer.train()
    print(format_phase_table(result.phases))
    s = result.safety
    print(f"\nsteps {result.total_steps}  phases {result.phases_completed}  "
          f"steps/s {_fmt(result.steps_per_second, 0)}  violations {s['violations']}  "
          f"intervention {_fmt(s['intervention_rate'])}  backup {_fmt(s['backup_rate'])}  "
          f"feasibility {_fmt(s['feasibility_rate'])}")
    print(f"safety targets met: {result.safety_targets.get('all_met')}")
    print(f"run directory: {result.run_dir}")
    return 0


def format_phase_table(phases: Sequence[dict[str, Any]]) -> str:
    """Text table of per-phase records.

    :param phases: records as in ``metrics/phases.json``
    """
    header = (f"{'phase':>5} {'role':<8} {'opponent':<20} {'steps':>8} {'capture':>8} "
              f"{'eval win':>8} {'interv':>7} {'backup':>7} {'viol':>5} {'flag':<10}")
    lines = [header, "-" * len(header)]
    for rec in phases:
        safety = rec.get("safety") or {}
        flag = "COLLAPSE" if rec.get("collapse") else ("one-sided" if rec.get("one_sided")
                                                       else "")
        lines.append(
            f"{rec['phase']:>5d} {rec['role']:<8} {str(rec['opponent'])[:20]:<20} "
            f"{rec['total_steps']:>8d} {_fmt(rec.get('train_capture_rate')):>8} "
            f"{_fmt(rec.get('eval_win_rate')):>8} {_fmt(safety.get('intervention_rate')):>7} "
            f"{_fmt(safety.get('backup_rate')):>7} {safety.get('violations', 0):>5} {flag:<10}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- evaluate
def _latest_checkpoints(run_dir: Path) -> dict[str, str]:
    from safe_pe_training.training_state import read_run_state  # torch: this command only

    state = read_run_state(run_dir / "run_state.json")
    return {role: path for role, path in state["latest"].items() if path}


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``evaluate``: every pursuer against every evader; prints a table."""
    # torch + SB3: this command only
    from safe_pe_training.evaluation import format_match_table
    from safe_pe_training.self_play import EVAL_BASELINES, evaluate_checkpoints

    if args.run_dir:
        run_dir = Path(args.run_dir)
        config = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml")
        if args.seed is not None:
            config.seed = args.seed
        latest = _latest_checkpoints(run_dir)
        pursuers = args.pursuer or ([latest["pursuer"]] if "pursuer" in latest else [])
        evaders = args.evader or ([latest["evader"]] if "evader" in latest else [])
        if not args.pursuer and not args.evader:
            pursuers = pursuers + [f"baseline:{n}" for n in EVAL_BASELINES["evader"]]
            evaders = evaders + [f"baseline:{n}" for n in EVAL_BASELINES["pursuer"]]
    else:
        config = _load_config(args)
        pursuers, evaders = args.pursuer or [], args.evader or []
    if not pursuers or not evaders:
        raise ConfigError("evaluate needs at least one --pursuer and one --evader (checkpoint "
                          "path or baseline:<name>), or --run-dir of a trained run")
    results = []
    for p in pursuers:
        for e in evaders:
            if p.startswith("baseline:") and e.startswith("baseline:") and args.run_dir \
                    and not (args.pursuer or args.evader):
                continue
            results.append(evaluate_checkpoints(config, p, e, args.episodes,
                                                seed=config.seed + 99_991))
    print(format_match_table(results))
    if args.json:
        atomic_write_json(args.json, [r.to_dict() for r in results])
    return 0


# ---------------------------------------------------------------------- league
def format_league_table(entries: Sequence[Any]) -> str:
    """Text table of league entries (capture rate with its 95 % interval).

    :param entries: ``LeagueEntry`` objects
    """
    header = (f"{'player':<26} {'reference':<24} {'eps':>4} {'capture':>8} {'95% CI':>15} "
              f"{'t_cap [s]':>9} {'viol P/E':>9} {'backup P/E':>12}")
    lines = [header, "-" * len(header)]
    for e in entries:
        lines.append(
            f"{e.player[-26:]:<26} {e.reference[-24:]:<24} {e.episodes:>4d} "
            f"{e.capture_rate:>8.3f} {f'[{e.ci_low:.3f}, {e.ci_high:.3f}]':>15} "
            f"{_fmt(e.mean_capture_time, 1):>9} "
            f"{e.violation_steps[0]:>4d}/{e.violation_steps[1]:<4d} "
            f"{e.backup_rate[0]:>5.3f}/{e.backup_rate[1]:<6.3f}")
    return "\n".join(lines)


def cmd_league(args: argparse.Namespace) -> int:
    """``league``: rate checkpoints against the scripted references; ``--elo`` a whole run."""
    # torch: this command only
    from safe_pe_training.league import league_of_checkpoint, run_league, scripted_bar, \
        scripted_table, targets_met
    from safe_pe_training.pretrained import PRETRAINED, models_dir, resolve_checkpoint

    if args.run_dir:
        run_dir = Path(args.run_dir)
        config = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml")
    else:
        if args.elo:
            raise ConfigError("league --elo needs --run-dir (the run whose checkpoints to rate)")
        shipped = args.checkpoint and set(args.checkpoint) == {PRETRAINED}
        config = (SafeSelfPlayConfig.from_yaml(models_dir() / "config.yaml")
                  if shipped and not (args.run or args.config) else _load_config(args))
    if args.elo:
        result = run_league(run_dir, args.episodes, args.max_per_role, config)
        ranked = sorted(result["ratings"].items(), key=lambda kv: -kv[1])
        print(f"{'player':<28} {'role':<8} {'steps':>9} {'Elo':>7}")
        for label, rating in ranked:
            info = result["checkpoints"][label]
            steps = "-" if info["total_steps"] is None else str(info["total_steps"])
            print(f"{label:<28} {info['role']:<8} {steps:>9} {rating:>7.0f}")
        if args.json:
            atomic_write_json(args.json, result)
        return 0
    paths = [resolved for path in args.checkpoint or [] for resolved in
             ([resolve_checkpoint(path, role) for role in ROLES] if path == PRETRAINED
              else [path])]
    paths = paths or (list(_latest_checkpoints(run_dir).values()) if args.run_dir else [])
    if not paths:
        raise ConfigError("league needs --checkpoint PATH (with a run type or --config) or "
                          "--run-dir of a trained run")
    bars_entries = scripted_table(config, args.episodes)
    bar = scripted_bar(bars_entries)
    out: dict[str, Any] = {"episodes": args.episodes,
                           "scripted": [e.to_dict() for e in bars_entries], "players": {}}
    print("scripted references (the bars):")
    print(format_league_table(bars_entries))
    for path in paths:
        entries = league_of_checkpoint(path, config, args.episodes, args.references)
        met = targets_met(entries, bar)
        print(f"\n{path}:")
        print(format_league_table(entries))
        print("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                       for k, v in met.items()))
        out["players"][str(path)] = {"entries": [e.to_dict() for e in entries],
                                     "targets": met}
    if args.json:
        atomic_write_json(args.json, out)
    return 0


# ---------------------------------------------------------------------- pretrained
def cmd_pretrained(args: argparse.Namespace) -> int:
    """``pretrained``: league the runs' final checkpoints, copy the best pair to models/."""
    from safe_pe_training.pretrained import choose_pretrained, models_dir  # torch: here only

    out = Path(args.out) if args.out else models_dir()
    league = choose_pretrained(args.runs, out, args.episodes)
    for role, chosen in league["chosen"].items():
        print(f"{role}: {chosen['checkpoint']} -> {out / (role + '.pt')}")
        for cand in league["candidates"][role]:
            print(f"  {cand['run']}: mean win rate {cand['mean_win_rate']:.3f}, targets "
                  + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                              for k, v in cand["targets"].items()))
    return 0


# ---------------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> int:
    """``export --onnx``: the deployed policy as ONNX + JSON metadata (for onnxruntime)."""
    try:
        from safe_pe_training.onnx_export import export_onnx  # onnx + torch: here only
        path = export_onnx(args.onnx, args.out, args.config or "")
    except ModuleNotFoundError as exc:
        if exc.name != "onnx":
            raise
        print("safe_pe_train export: error: the onnx package is missing: pip install -r "
              "requirements.txt (or pip install onnx)", file=sys.stderr)
        return 2
    meta = path.with_suffix(".json")
    print(f"exported {args.onnx} -> {path} (metadata {meta}); run it with the policy node's "
          "backend:=onnx")
    return 0


# ---------------------------------------------------------------------- identify
def cmd_identify(args: argparse.Namespace) -> int:
    """``identify``: the actuator limits of a recorded run and the YAML block to paste."""
    if args.csv:
        recording = read_csv(args.csv)
    else:
        recording = read_bag(args.bag, robot=args.robot, cmd_topic=args.cmd_topic,
                             odom_topic=args.odom_topic, stamps=args.stamps)
    if args.export_csv:
        write_csv(args.export_csv, recording)
    estimate = identify(**recording.arrays(), dt=args.dt,
                        max_latency_steps=args.max_latency_steps)
    print(f"recording: {recording.source}, {recording.t.size} samples over "
          f"{recording.t[-1] - recording.t[0]:.1f} s")
    print(estimate.summary())
    print("\n# paste into the robot profile (<role>.actuator) or the filter parameters "
          "(actuator.*):")
    print(estimate.to_yaml(), end="")
    return 0


# ---------------------------------------------------------------------- ablation
def cmd_ablation(args: argparse.Namespace) -> int:
    """``ablation``: train every run type over every seed; print the comparison table."""
    # torch + SB3: this command only
    from safe_pe_training.self_play import SelfPlayTrainer, evaluate_checkpoints

    base = SafeSelfPlayConfig.from_yaml(args.config) if args.config else None
    configs = get_run_configs(base)
    out = Path(args.out)
    rows: list[dict[str, Any]] = []
    for run in args.runs:
        for seed in args.seeds:
            config = configs[run].copy()
            config.seed = seed
            config.total_timesteps = args.budget
            if args.steps_per_phase:
                config.self_play.steps_per_phase = args.steps_per_phase
            if args.num_envs:
                config.num_envs = args.num_envs
            config.validate()
            print(f"== run {run} seed {seed} ==", flush=True)
            trainer = SelfPlayTrainer(config, out / f"{run}_seed{seed}",
                                      progress_bar=not args.no_progress)
            result = trainer.train()
            latest = result.last_checkpoints
            capture = float("nan")
            eval_violations = 0
            if latest.get("pursuer") and latest.get("evader"):
                match = evaluate_checkpoints(config, latest["pursuer"], latest["evader"],
                                             args.eval_episodes, seed=seed + 99_991)
                capture = match.capture_rate
                eval_violations = int(sum(match.violation_steps))
            s = result.safety
            rows.append({
                "run": run, "seed": seed, "steps": result.total_steps,
                "capture_rate": capture, "eval_violation_steps": eval_violations,
                "violations": s["violations"], "violation_rate": s["violation_rate"],
                "intervention_rate": s["intervention_rate"], "backup_rate": s["backup_rate"],
                "feasibility_rate": s["feasibility_rate"],
                "steps_per_second": result.steps_per_second,
                "targets_met": bool(result.safety_targets.get("all_met")),
                "run_dir": result.run_dir,
            })
    table = ablation_table(rows)
    print()
    print(table)
    atomic_write_json(out / "ablation.json", rows)
    atomic_write_csv(out / "ablation.csv", rows)
    (out / "ablation.md").write_text(table + "\n", encoding="utf-8")
    return 0


def ablation_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown comparison table, one line per run type (mean ± std over seeds).

    :param rows: one dict per (run, seed) as produced by ``cmd_ablation``
    """
    keys = [("capture_rate", "capture"), ("violations", "violations"),
            ("violation_rate", "viol rate"), ("intervention_rate", "intervention"),
            ("backup_rate", "backup"), ("feasibility_rate", "feasibility"),
            ("steps_per_second", "steps/s")]
    header = "| run | seeds | " + " | ".join(label for _, label in keys) + " | targets met |"
    lines = [header, "|" + "---|" * (len(keys) + 3)]
    for run in sorted({r["run"] for r in rows}):
        group = [r for r in rows if r["run"] == run]
        cells = []
        for key, _ in keys:
            values = np.array([np.nan if r[key] is None else float(r[key]) for r in group])
            if key == "violations":
                cells.append(f"{int(np.nansum(values))}")
            elif key == "steps_per_second":
                cells.append(f"{np.nanmean(values):.0f}")
            elif np.all(np.isnan(values)):
                cells.append("-")
            else:
                cells.append(f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}")
        met = sum(bool(r["targets_met"]) for r in group)
        lines.append(f"| {run} | {len(group)} | " + " | ".join(cells) + f" | {met}/{len(group)} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- study
def cmd_study(args: argparse.Namespace) -> int:
    """``study``: run or resume the comparison study; exit 1 when a task failed twice."""
    spec = StudySpec(runs=list(args.runs), seeds=list(args.seeds), budget=args.budget,
                     steps_per_phase=args.steps_per_phase, num_envs=args.num_envs,
                     league_episodes=args.league_episodes,
                     crossplay_episodes=args.crossplay_episodes, base_config=args.config)
    words = sys.argv[1:] if args.argv is None else args.argv
    result = run_study(spec, args.out, workers=args.workers, use_ray=args.ray,
                       ray_address=args.ray_address, stream=sys.stderr,
                       command="safe_pe_train " + " ".join(words))
    print(f"results: {result.report}")
    if result.failed:
        print(f"failed tasks: {', '.join(result.failed)} (see {result.out / 'logs'})",
              file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``safe_pe_train``.

    :param argv: arguments (default ``sys.argv[1:]``)
    :return: exit status (0 ok, 2 bad arguments/config, 1 other errors)
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    handlers = {"train": cmd_train, "evaluate": cmd_evaluate, "league": cmd_league,
                "ablation": cmd_ablation, "pretrained": cmd_pretrained, "export": cmd_export,
                "study": cmd_study, "identify": cmd_identify}
    try:
        return handlers[args.command](args)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"safe_pe_train {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # CheckpointError, ResumeError, sim/CBF input errors
        print(f"safe_pe_train {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"safe_pe_train {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
