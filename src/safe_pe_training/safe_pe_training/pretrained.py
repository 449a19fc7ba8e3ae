"""The shipped trained pair (``models/``): choose it from trained runs, find it by name.

``safe_pe_train pretrained --runs runs/A_s0 runs/A_s1 runs/A_s2`` plays the final pursuer and
evader of each run against the league's references (:mod:`safe_pe_training.league`, fixed
evaluation seeds), keeps the best of each role, and writes::

    models/pursuer.pt  models/pursuer.json   weights-only checkpoint + its metadata
    models/evader.pt   models/evader.json
    models/config.yaml                       the run config both were trained with
    models/league.json                       the league that chose them, and where from

Anything that takes a checkpoint path (the policy node, ``sim_eval.launch.py``, the CLI)
also takes the name :data:`PRETRAINED`, resolved by :func:`resolve_checkpoint` to the
shipped file of the robot's role.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from safe_pe_sim.roles import ROLES

from safe_pe_training.artifacts import atomic_write_json
from safe_pe_training.checkpoints import CheckpointError, checkpoint_paths
from safe_pe_training.config import ConfigError, SafeSelfPlayConfig
from safe_pe_training.league import (LeagueEntry, league_of_checkpoint, scripted_bar,
                                     scripted_table, targets_met)
from safe_pe_training.training_state import read_run_state

__all__ = ["PRETRAINED", "models_dir", "resolve_checkpoint", "choose_pretrained"]

PRETRAINED = "pretrained"
"""The name that stands for the shipped checkpoint of a robot's role."""

MODELS_ENV = "SAFE_PE_MODELS"


def models_dir() -> Path:
    """The folder of the shipped pair.

    ``$SAFE_PE_MODELS`` if set; else ``$SAFE_PE_ROOT/models`` (the checkout, as for the
    parameter files); else the ``models/`` folder of the checkout this module lives in (also
    for an ``install/`` inside the checkout); else ``./models``.
    """
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = os.environ.get("SAFE_PE_ROOT")
    if root:
        return Path(root).expanduser().resolve() / "models"
    for parent in Path(__file__).resolve().parents:
        if (parent / "models" / "league.json").is_file():
            return parent / "models"
    return Path.cwd() / "models"


def resolve_checkpoint(spec: str | os.PathLike[str], role: str) -> Path:
    """A checkpoint path for ``spec``: :data:`PRETRAINED` gives the shipped file of ``role``,
    anything else is taken as a path.

    :param spec: ``"pretrained"`` or a checkpoint path (``.pt``, ``.json`` or no suffix)
    :param role: the robot's role ("pursuer" or "evader")
    :raises CheckpointError: the shipped pair is missing
    """
    if str(spec) != PRETRAINED:
        return Path(spec).expanduser()
    if role not in ROLES:
        raise ConfigError(f"role must be 'pursuer' or 'evader', got {role!r}")
    weights = models_dir() / f"{role}.pt"
    if not weights.is_file():
        raise CheckpointError(
            f"no shipped {role} model at {weights}: set ${MODELS_ENV} to the folder that "
            f"holds it, or make one with `safe_pe_train pretrained --runs RUN_DIR ...`")
    return weights


def _score(entries: Sequence[LeagueEntry]) -> tuple[bool, float]:
    """Safe first, then the mean win rate over the references."""
    safe = all(sum(e.violation_steps) == 0 for e in entries)
    return safe, sum(e.win_rate for e in entries) / max(1, len(entries))


def choose_pretrained(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                      episodes: int = 100) -> dict[str, Any]:
    """Pick the best final pursuer and evader of ``run_dirs`` by their league; copy them,
    the run config and the league into ``out``.

    :param run_dirs: trained runs sharing one config up to the seed
    :param out: output folder (e.g. ``models``)
    :param episodes: league episodes per reference
    :return: the ``league.json`` content
    :raises ConfigError: no run given, runs with different configs, or a run without
        final checkpoints
    """
    if not run_dirs:
        raise ConfigError("pretrained needs at least one trained run directory (--runs)")
    configs = [SafeSelfPlayConfig.from_yaml(Path(r) / "config.yaml") for r in run_dirs]
    reference = configs[0].copy()
    for run, config in zip(run_dirs, configs):
        config = config.copy()
        config.seed = reference.seed
        if config.to_dict() != reference.to_dict():
            raise ConfigError(f"{run} was trained with another config than {run_dirs[0]}: "
                              "ship a pair from runs of one config")
    table = scripted_table(configs[0], episodes)
    bar = scripted_bar(table)
    candidates: dict[str, list[dict[str, Any]]] = {role: [] for role in ROLES}
    for run, config in zip(run_dirs, configs):
        latest = read_run_state(Path(run) / "run_state.json")["latest"]
        for role in ROLES:
            if not latest.get(role):
                raise ConfigError(f"{run} has no final {role} checkpoint: train it first")
            entries = league_of_checkpoint(latest[role], config, episodes)
            candidates[role].append({"run": str(run), "seed": config.seed,
                                     "checkpoint": str(latest[role]), "score": _score(entries),
                                     "entries": entries})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, Any] = {}
    for role in ROLES:
        best = max(candidates[role], key=lambda c: c["score"])
        weights, meta = checkpoint_paths(best["checkpoint"])
        shutil.copyfile(weights, out / f"{role}.pt")
        shutil.copyfile(meta, out / f"{role}.json")
        chosen[role] = best
    configs[0].to_yaml(out / "config.yaml")
    league = {
        "episodes": episodes,
        "scripted": [e.to_dict() for e in table],
        "bar": bar,
        "chosen": {role: {"run": c["run"], "seed": c["seed"], "checkpoint": c["checkpoint"]}
                   for role, c in chosen.items()},
        "candidates": {role: [{"run": c["run"], "seed": c["seed"],
                               "checkpoint": c["checkpoint"],
                               "mean_win_rate": c["score"][1],
                               "targets": targets_met(c["entries"], bar),
                               "entries": [e.to_dict() for e in c["entries"]]}
                              for c in cands] for role, cands in candidates.items()},
    }
    atomic_write_json(out / "league.json", league)
    return league
