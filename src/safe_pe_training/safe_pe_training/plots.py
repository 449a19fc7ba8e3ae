"""PNG plots of a training run (matplotlib, Agg backend, no display needed).

All functions take plain data (lists of dicts as written to ``metrics/*.json``) so they can be
re-run on a finished run directory: ``write_run_plots(run_dir)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from safe_pe_sim.roles import ROLES  # noqa: E402

from safe_pe_training.league import league_rows  # noqa: E402

ROLE_COLOURS = {"pursuer": "tab:red", "evader": "tab:blue"}


def save_figure(fig: Any, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically (temporary sibling, then rename) and close it.

    :param fig: matplotlib figure
    :param path: PNG file
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _values(rows: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    out = []
    for row in rows:
        value = row.get(key)
        out.append(np.nan if value is None else float(value))
    return np.asarray(out, dtype=np.float64)


def plot_training_curves(progress: Sequence[dict[str, Any]], path: Path) -> Path:
    """Episode reward and length of each role against environment steps.

    :param progress: rows with ``total_steps``, ``role``, ``ep_rew_mean``, ``ep_len_mean``,
        ``fps``
    :param path: PNG file to write
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for role, colour in ROLE_COLOURS.items():
        rows = [r for r in progress if r.get("role") == role]
        if not rows:
            continue
        steps = _values(rows, "total_steps")
        axes[0].plot(steps, _values(rows, "ep_rew_mean"), ".-", color=colour, label=role)
        axes[1].plot(steps, _values(rows, "ep_len_mean"), ".-", color=colour, label=role)
        axes[2].plot(steps, _values(rows, "fps"), ".-", color=colour, label=role)
    for ax, title in zip(axes, ("mean episode reward (learner)", "mean episode length",
                                "env steps / s")):
        ax.set_title(title)
        ax.set_xlabel("environment steps")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    return save_figure(fig, path)


def plot_capture_rates(phases: Sequence[dict[str, Any]], path: Path) -> Path:
    """Self-play and baseline-evaluation capture rates per phase, collapse flags marked.

    :param phases: rows with ``phase``, ``train_capture_rate``, ``eval`` (dict of
        ``<matchup>: {"capture_rate": ...}``) and ``collapse``
    :param path: PNG file to write
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    index = _values(phases, "phase")
    ax.plot(index, _values(phases, "train_capture_rate"), "o-", color="k",
            label="self-play (training)")
    matchups = sorted({m for row in phases for m in (row.get("eval") or {})})
    for matchup in matchups:
        rates = [((row.get("eval") or {}).get(matchup) or {}).get("capture_rate")
                 for row in phases]
        ax.plot(index, [np.nan if r is None else r for r in rates], "s--", label=matchup)
    for row in phases:
        if row.get("collapse"):
            ax.axvline(float(row["phase"]), color="tab:orange", alpha=0.4, lw=6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("phase")
    ax.set_ylabel("capture rate")
    ax.set_title("capture rate per phase (orange: collapse flagged)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_safety_rates(phases: Sequence[dict[str, Any]], path: Path) -> Path:
    """Intervention, backup and violation rates and feasibility per phase.

    :param phases: rows with ``phase`` and ``safety`` (a tracker summary dict with
        ``intervention_rate``, ``backup_rate``, ``violation_rate``, ``feasibility_rate``)
    :param path: PNG file to write
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    index = _values(phases, "phase")
    for key, style in (("intervention_rate", "o-"), ("backup_rate", "s-"),
                       ("violation_rate", "x-"), ("feasibility_rate", "d--")):
        values = [(row.get("safety") or {}).get(key) for row in phases]
        ax.plot(index, [np.nan if v is None else v for v in values], style, label=key)
    ax.set_xlabel("phase")
    ax.set_ylabel("fraction of learner steps")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("safety filter per phase")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_margin_histograms(phases: Sequence[dict[str, Any]], edges: Sequence[float],
                           path: Path) -> Path:
    """Histogram of the smallest barrier value ``min h`` per step, first vs last phase.

    :param phases: rows with ``margin_histogram`` (counts: underflow, bins, overflow)
    :param edges: histogram edges of the tracker (without under/overflow)
    :param path: PNG file to write
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    edges_arr = np.asarray(edges, dtype=np.float64)
    centres = 0.5 * (edges_arr[:-1] + edges_arr[1:])
    width = float(np.min(np.diff(edges_arr))) if edges_arr.size > 1 else 1.0
    shown = [r for r in phases if r.get("margin_histogram")]
    picks = shown[:1] + shown[-1:] if len(shown) > 1 else shown
    for row in picks:
        counts = np.asarray(row["margin_histogram"], dtype=np.float64)
        inner = counts[1:-1] if counts.size == centres.size + 2 else counts[: centres.size]
        total = max(counts.sum(), 1.0)
        ax.bar(centres, inner / total, width=width, alpha=0.5,
               label=f"phase {row.get('phase')} (under {counts[0] / total:.3f})")
    ax.axvline(0.0, color="k", lw=1)
    ax.set_xlabel("min barrier value h per step")
    ax.set_ylabel("fraction of steps")
    ax.set_title("CBF margin distribution")
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_league(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Capture rate against each league reference over training steps, 95 % bands.

    :param rows: :func:`safe_pe_training.league.league_rows`
    :param path: PNG file to write
    """
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    for ax, role in zip(axes, ROLES):
        mine = [r for r in rows if r["role"] == role]
        for matchup in sorted({r["matchup"] for r in mine}):
            pts = [r for r in mine if r["matchup"] == matchup]
            steps = _values(pts, "total_steps")
            line, = ax.plot(steps, _values(pts, "capture_rate"), "o-", ms=3, label=matchup)
            ax.fill_between(steps, _values(pts, "ci_low"), _values(pts, "ci_high"),
                            color=line.get_color(), alpha=0.15)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("learner environment steps (both roles)")
        ax.set_ylabel("capture rate")
        ax.set_title(f"league: the {role} vs fixed references "
                     f"({'higher' if role == 'pursuer' else 'lower'} is better)")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_final_league(result: dict[str, Any], path: Path) -> Path:
    """Capture rate per league pairing for each group of players (the run's, the shipped
    pair) beside the scripted bar, with 95 % intervals.

    :param result: :func:`safe_pe_training.league_report.final_league`
    :param path: PNG file to write
    """
    scripted = {(e["player"], e["reference"]): e for e in result["scripted"]}
    pairings = [(role, e["reference"]) for role in ROLES
                for e in next((g[role]["entries"] for g in result["groups"].values()
                               if role in g), [])]
    if not pairings:   # nothing trained or shipped: the scripted table alone
        pairings = [("pursuer", e["reference"]) for e in result["scripted"]
                    if e["player"] == "baseline:lead_pursuit"]
    bars: dict[str, list[dict[str, Any] | None]] = {}
    for group, players in result["groups"].items():
        bars[group] = [next((e for e in players.get(role, {}).get("entries", [])
                             if e["reference"] == ref), None) for role, ref in pairings]
    bars["scripted bar"] = [
        scripted.get(("baseline:lead_pursuit", ref)) if role == "pursuer"
        else scripted.get((ref, "baseline:aware_flee")) for role, ref in pairings]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(pairings)), 4))
    width = 0.8 / len(bars)
    x = np.arange(len(pairings))
    for k, (group, entries) in enumerate(bars.items()):
        rate = np.array([np.nan if e is None else e["capture_rate"] for e in entries])
        low = np.array([np.nan if e is None else e["ci_low"] for e in entries])
        high = np.array([np.nan if e is None else e["ci_high"] for e in entries])
        ax.bar(x + (k - (len(bars) - 1) / 2) * width, np.nan_to_num(rate), width,
               yerr=np.nan_to_num([rate - low, high - rate]), capsize=3, label=group,
               color="0.6" if group == "scripted bar" else None)
    ax.set_xticks(x, [f"{role}\nvs {ref.removeprefix('baseline:')}" for role, ref in pairings],
                  fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("capture rate")
    ax.set_title(f"league, {result['episodes']} episodes per pairing (pursuer: higher is "
                 "better; evader: lower)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def write_run_plots(plots_dir: Path, phases: Sequence[dict[str, Any]],
                    progress: Sequence[dict[str, Any]],
                    margin_edges: Sequence[float] | None) -> list[Path]:
    """Write every per-run plot into ``plots_dir``; returns the written paths.

    :param plots_dir: output folder
    :param phases: per-phase records
    :param progress: progress rows
    :param margin_edges: tracker histogram edges (None skips the margin plot)
    """
    written = [
        plot_training_curves(progress, plots_dir / "training_curves.png"),
        plot_capture_rates(phases, plots_dir / "capture_rate.png"),
        plot_safety_rates(phases, plots_dir / "safety_rates.png"),
        plot_league(league_rows(phases), plots_dir / "league.png"),
    ]
    if margin_edges is not None:
        written.append(plot_margin_histograms(phases, margin_edges,
                                              plots_dir / "margin_histogram.png"))
    return written
