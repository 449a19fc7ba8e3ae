"""The study's results page: ``results.md`` with tables, the seed's claims and figures, and
``tasks.csv`` with every task's measures.

Everything is read back from the study folder (:func:`safe_pe_training.study_stats.load_study`),
so the page can be rewritten for a finished or partial study at any time:
``python -m safe_pe_training.study_report OUT``.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from safe_pe_sim.roles import ROLES  # noqa: E402

from safe_pe_training.artifacts import atomic_write_csv, atomic_write_text  # noqa: E402
from safe_pe_training.plots import save_figure  # noqa: E402
from safe_pe_training.study_stats import METRICS, Interval, aggregate_crossplay, crossplay_world, \
    aggregate_runs, curve_bands, evaluate_claims, load_study  # noqa: E402

SAFETY_KEYS = ("train_violations", "train_violation_rate", "intervention_rate", "backup_rate",
               "feasibility_rate", "min_h", "eval_violations", "eval_intervention_rate",
               "eval_backup_rate", "box_restriction")
COST_KEYS = ("steps_per_second", "wall_time_s")
LABELS = {key: label for key, label, _ in METRICS}


def _band(ax: Any, x: np.ndarray, bands: Sequence[Interval], label: str) -> None:
    mean = np.array([b.mean for b in bands])
    low = np.array([b.low for b in bands])
    high = np.array([b.high for b in bands])
    (line,) = ax.plot(x, mean, marker=".", label=label)
    ok = np.isfinite(low) & np.isfinite(high)
    if ok.any():
        ax.fill_between(x[ok], low[ok], high[ok], color=line.get_color(), alpha=0.2)


def plot_curves(measures: dict[str, dict[int, dict[str, Any]]], keys: Sequence[str],
                roles: Sequence[str | None], titles: Sequence[str], path: Path) -> Path:
    """Per-phase curves of every run, mean with the 95 % band over seeds.

    :param measures: ``measures[run][seed]``
    :param keys: curve field per panel
    :param roles: role filter per panel (None: all phases)
    :param titles: panel titles
    :param path: output PNG
    """
    fig, axes = plt.subplots(1, len(keys), figsize=(5.0 * len(keys), 3.6), squeeze=False)
    for ax, key, role, title in zip(axes[0], keys, roles, titles):
        for run, by_seed in measures.items():
            x, bands = curve_bands(by_seed, key, role)
            if len(x):
                _band(ax, x, bands, run)
        ax.set_title(title)
        ax.set_xlabel("env-steps")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_crossplay(runs: Sequence[str], matrix: dict[tuple[str, str], Interval],
                   path: Path) -> Path:
    """Heat map of the mean cross-play capture rate (rows: pursuer run, columns: evader run).

    :param runs: run names
    :param matrix: :func:`aggregate_crossplay` output
    :param path: output PNG
    """
    values = np.array([[matrix[(p, e)].mean for e in runs] for p in runs])
    fig, ax = plt.subplots(figsize=(1.2 * len(runs) + 2.5, 1.0 * len(runs) + 1.8))
    image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(runs)), runs)
    ax.set_yticks(range(len(runs)), runs)
    ax.set_xlabel("evader of run")
    ax.set_ylabel("pursuer of run")
    for i in range(len(runs)):
        for j in range(len(runs)):
            if math.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center",
                        color="white" if values[i, j] < 0.6 else "black", fontsize=8)
    fig.colorbar(image, ax=ax, label="capture rate")
    ax.set_title("cross-play: final pursuer vs final evader")
    return save_figure(fig, path)


def plot_min_h(measures: dict[str, dict[int, dict[str, Any]]], path: Path) -> Path:
    """Histogram of the per-step smallest barrier value over training, per run (all seeds).

    :param measures: ``measures[run][seed]``
    :param path: output PNG
    """
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for run, by_seed in measures.items():
        tasks = [m for m in by_seed.values() if m.get("margin_histogram")]
        if not tasks:
            continue
        edges = np.asarray(tasks[0]["margin_edges"])
        counts = np.sum([np.asarray(m["margin_histogram"], dtype=np.float64)
                         for m in tasks], axis=0)
        inner = counts[1:-1]  # under/overflow bins have no width
        if inner.sum() > 0:
            ax.stairs(inner / inner.sum(), edges, label=run)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("min barrier value h (< 0: violation margin)")
    ax.set_ylabel("share of steps")
    ax.set_title("min-h over training (runs with the filter)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _table(runs: Sequence[str], agg: dict[str, dict[str, Interval]], keys: Sequence[str],
           labels: Sequence[str], digits: int = 3) -> list[str]:
    lines = ["| run | seeds | " + " | ".join(labels) + " |",
             "|---|---|" + "---|" * len(keys)]
    for run in runs:
        row = agg.get(run, {})
        n = max((i.n for i in row.values()), default=0)
        cells = [row[k].text(digits) if k in row else "-" for k in keys]
        lines.append(f"| {run} | {n} | " + " | ".join(cells) + " |")
    return lines


def write_report(out: str | Path, command: str | None = None) -> Path:
    """Write ``OUT/results.md`` and ``OUT/figures/*.png`` from what the folder holds.

    :param out: the study folder
    :param command: the command that produced the study (shown on the page)
    :return: the path of ``results.md``
    """
    out = Path(out)
    record, measures, crossplay = load_study(out)
    runs = record["runs"]
    agg = aggregate_runs(measures)
    matrix = aggregate_crossplay(runs, crossplay)
    figures = out / "figures"
    plot_curves(measures, ["eval_win_rate", "eval_win_rate"], list(ROLES),
                ["pursuer win rate vs references", "evader win rate vs references"],
                figures / "learning_curves.png")
    plot_curves(measures, ["intervention_rate", "backup_rate", "violation_rate"],
                [None, None, None], ["intervention rate", "backup rate", "violation rate"],
                figures / "safety_rates.png")
    plot_crossplay(runs, matrix, figures / "crossplay.png")
    plot_min_h(measures, figures / "min_h_histogram.png")
    missing = [f"{run}_s{seed}" for run in runs for seed in record["seeds"]
               if seed not in measures[run]]
    refs = sorted({k for row in agg.values() for k in row if ":" in k})
    lines = [
        "# Comparison study results", "",
        f"Runs {', '.join(runs)}; seeds {record['seeds']}; {record['budget']} env-steps per "
        f"task; league {record['league_episodes']} episodes per reference; cross-play "
        f"{record['crossplay_episodes']} episodes per pairing.",
        f"Machine: {platform.node()} ({platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}).",
    ]
    if command:
        lines += ["", "Regenerate with:", "", "```", command, "```"]
    if missing:
        lines += ["", f"**Not measured (failed or not run yet):** {', '.join(missing)}."]
    lines += ["", "Cells are the mean over seeds with the 95 % Student-t interval in brackets.",
              "", "## Performance against the scripted references", "",
              "`capture:X` is the learned pursuer's capture rate against evader X, `caught:X` "
              "how often pursuer X catches the learned evader.", ""]
    lines += _table(runs, agg, refs + ["pursuer_win", "evader_win", "mean_win"],
                    refs + ["pursuer win", "evader win", "mean win"])
    lines += ["", "## Safety", ""]
    lines += _table(runs, agg, SAFETY_KEYS, [LABELS[k] for k in SAFETY_KEYS], 4)
    lines += ["", "## Cost", ""]
    lines += _table(runs, agg, COST_KEYS, [LABELS[k] for k in COST_KEYS], 0)
    lines += ["", "## Cross-play", "",
              f"Capture rate of each run's final pursuer (rows) against each run's final evader "
              f"(columns), every match in run {crossplay_world(record)}'s world.", "",
              "| pursuer \\ evader | " + " | ".join(runs) + " |",
              "|---|" + "---|" * len(runs)]
    for p in runs:
        lines.append(f"| {p} | " + " | ".join(matrix[(p, e)].text(2) for e in runs) + " |")
    lines += ["", "## The seed's claims", ""]
    for claim in evaluate_claims(measures, agg):
        lines += [f"**{claim.title}: {claim.verdict}.** {claim.text}", ""]
    lines += ["## Figures", "",
              "![learning curves](figures/learning_curves.png)", "",
              "![safety rates over training](figures/safety_rates.png)", "",
              "![cross-play](figures/crossplay.png)", "",
              "![min-h histograms](figures/min_h_histogram.png)", ""]
    path = out / "results.md"
    atomic_write_text(path, "\n".join(lines))
    atomic_write_csv(out / "tasks.csv", task_rows(measures))
    return path


def task_rows(measures: dict[str, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One flat row per measured task (every metric of :data:`METRICS` and each reference).

    :param measures: ``measures[run][seed]``
    """
    rows = []
    for run, by_seed in measures.items():
        for seed, m in sorted(by_seed.items()):
            row: dict[str, Any] = {"run": run, "seed": seed}
            row.update({key: get(m) for key, _, get in METRICS})
            for side in ("capture", "caught"):
                row.update({f"{side}:{ref}": v for ref, v in sorted((m.get(side) or {}).items())})
            rows.append(row)
    return rows


if __name__ == "__main__":
    print(write_report(sys.argv[1]))
