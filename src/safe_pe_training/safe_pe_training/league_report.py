"""End-of-run league: what a run trained and the shipped pair, side by side with the bars.

The main job (``safe_pe_stack``) calls :func:`final_league` after training, so a short run
still ends with numbers and a figure that say how well its robots play: its last pursuer and
evader, the shipped ``pretrained`` pair, and the scripted bars, all on the league's fixed
evaluation seeds (:mod:`safe_pe_training.league`). Writes ``metrics/final_league.json`` and
``plots/league_final.png``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from safe_pe_sim.roles import ROLES

from safe_pe_training.artifacts import atomic_write_json
from safe_pe_training.checkpoints import CheckpointError
from safe_pe_training.config import ConfigError, SafeSelfPlayConfig
from safe_pe_training.league import (REFERENCES, LeagueEntry, league_of_checkpoint,
                                     scripted_bar, scripted_table, targets_met)
from safe_pe_training.plots import plot_final_league
from safe_pe_training.pretrained import PRETRAINED, models_dir, resolve_checkpoint
from safe_pe_training.training_state import ResumeError, read_run_state

__all__ = ["final_league", "format_final_league", "time_to_competence"]


def time_to_competence(phases: Sequence[dict[str, Any]], bar: float) -> dict[str, Any]:
    """When a run's per-phase league first shows each role, and then both, meeting the
    targets (:func:`safe_pe_training.league.targets_met`).

    "Both" is the first phase after which the latest pursuer and the latest evader meet
    their targets together. The per-phase league plays few episodes: confirm the phases it
    names with a full league (``safe_pe_train league --checkpoint ...``).

    :param phases: ``metrics/phases.json`` records (with their ``eval`` league entries)
    :param bar: :func:`safe_pe_training.league.scripted_bar` on the same seeds
    :return: ``{"pursuer" | "evader" | "both": {"phase", "total_steps", "checkpoints"} or
        None}``
    """
    out: dict[str, Any] = {"pursuer": None, "evader": None, "both": None}
    met: dict[str, bool] = {}
    latest: dict[str, str] = {}
    for rec in phases:
        entries = [LeagueEntry.from_dict(e) for e in (rec.get("eval") or {}).values()]
        if not entries:
            continue
        role = rec["role"]
        met[role] = all(targets_met(entries, bar).values())
        latest[role] = rec.get("checkpoint", "")
        mark = {"phase": rec["phase"], "total_steps": rec["total_steps"],
                "checkpoints": dict(latest)}
        if met[role] and out[role] is None:
            out[role] = mark
        if out["both"] is None and met.get("pursuer") and met.get("evader"):
            out["both"] = mark
    return out


def _players_of_run(run_dir: Path) -> dict[str, str]:
    try:
        latest = read_run_state(run_dir / "run_state.json")["latest"]
    except (ResumeError, ValueError, KeyError):
        return {}
    return {role: str(path) for role, path in latest.items() if path and role in ROLES}


def _league(players: dict[str, str], config: SafeSelfPlayConfig, episodes: int,
            bar: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for role, path in players.items():
        entries: list[LeagueEntry] = league_of_checkpoint(path, config, episodes)
        out[role] = {"checkpoint": path, "entries": [e.to_dict() for e in entries],
                     "targets": targets_met(entries, bar)}
    return out


def final_league(run_dir: str | os.PathLike[str], episodes: int = 20,
                 with_pretrained: bool = True) -> dict[str, Any]:
    """League of a run's latest checkpoints and of the shipped pair; JSON and plot written.

    A group that cannot be played (no checkpoint yet, no shipped pair, a pair from another
    observation layout) is reported with the reason instead of failing the run.

    :param run_dir: the run directory (its ``config.yaml`` and ``run_state.json``)
    :param episodes: episodes per pairing (>= 1)
    :param with_pretrained: also play the shipped pair (``models/``)
    :return: ``{"episodes", "bar", "scripted", "groups": {"trained": ..., "pretrained": ...},
        "skipped": {group: reason}}``
    :raises ConfigError: ``episodes`` < 1 or the run has no ``config.yaml``
    """
    if episodes < 1:
        raise ConfigError(f"a final league needs >= 1 episode per pairing, got {episodes}")
    run_dir = Path(run_dir)
    config = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml")
    table = scripted_table(config, episodes)
    bar = scripted_bar(table)
    result: dict[str, Any] = {"episodes": episodes, "bar": bar,
                              "scripted": [e.to_dict() for e in table],
                              "groups": {}, "skipped": {}}
    trained = _players_of_run(run_dir)
    if trained:
        result["groups"]["trained"] = _league(trained, config, episodes, bar)
    else:
        result["skipped"]["trained"] = "the run wrote no checkpoint"
    if with_pretrained:
        try:
            shipped = {role: str(resolve_checkpoint(PRETRAINED, role)) for role in ROLES}
            shipped_config = SafeSelfPlayConfig.from_yaml(models_dir() / "config.yaml")
            result["groups"]["pretrained"] = _league(shipped, shipped_config, episodes, bar)
        except (CheckpointError, ConfigError, FileNotFoundError) as exc:
            result["skipped"]["pretrained"] = str(exc)
    atomic_write_json(run_dir / "metrics" / "final_league.json", result)
    plot_final_league(result, run_dir / "plots" / "league_final.png")
    return result


def format_final_league(result: dict[str, Any]) -> str:
    """Markdown table of :func:`final_league`: capture rate per pairing and group.

    :param result: the dict :func:`final_league` returned
    """
    scripted = {(e["player"].removeprefix("baseline:"), e["reference"].removeprefix(
        "baseline:")): e["capture_rate"] for e in result["scripted"]}
    groups = list(result["groups"])
    lines = [f"League on the fixed evaluation seeds ({result['episodes']} episodes per "
             "pairing; capture rate, higher is better for a pursuer, lower for an evader):",
             "", "| pairing | " + " | ".join(groups) + " | scripted bar |",
             "|---|" + "---|" * (len(groups) + 1)]
    for role in ROLES:
        for ref in REFERENCES[role]:
            cells = []
            for group in groups:
                entry = next((e for e in result["groups"][group].get(role, {}).get(
                    "entries", []) if e["reference"] == f"baseline:{ref}"), None)
                cells.append("-" if entry is None else f"{entry['capture_rate']:.2f}")
            bar = (scripted.get(("lead_pursuit", ref)) if role == "pursuer"
                   else scripted.get((ref, "aware_flee")))
            bar_text = "-" if bar is None else f"{bar:.2f}"
            lines.append(f"| {role} vs {ref} | " + " | ".join(cells) + f" | {bar_text} |")
    for group, reason in result["skipped"].items():
        lines.append(f"\n{group}: not played ({reason})")
    return "\n".join(lines)
