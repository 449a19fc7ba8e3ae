"""The shipped pair: chosen from runs by their league, found by the name ``pretrained``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch as th

from safe_pe_training.checkpoints import CheckpointError, load_policy
from safe_pe_training.cli import main as cli_main
from safe_pe_training.config import ConfigError
from safe_pe_training.league_report import final_league, format_final_league
from safe_pe_training.pretrained import (MODELS_ENV, PRETRAINED, choose_pretrained,
                                         models_dir, resolve_checkpoint)
from safe_pe_training.self_play import SelfPlayTrainer
from training_fixtures import tiny_config

th.set_num_threads(1)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runs = []
    for seed in (0, 1):
        SelfPlayTrainer(tiny_config("A", seed=seed, eval_episodes=0), root / f"A_s{seed}",
                        progress_bar=False).train()
        runs.append(root / f"A_s{seed}")
    return runs


def test_choose_pretrained_ships_the_best_pair(two_runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "models"
    league = choose_pretrained(two_runs, out, episodes=3)
    for role in ("pursuer", "evader"):
        policy = load_policy(out / f"{role}.pt")   # sha256 of the weights checked on load
        assert policy.role == role
        cands = league["candidates"][role]
        chosen = next(c for c in cands if c["checkpoint"] == league["chosen"][role]["checkpoint"])
        assert chosen["mean_win_rate"] == max(c["mean_win_rate"] for c in cands)
        shipped = Path(chosen["checkpoint"]).with_suffix(".pt")
        assert (out / f"{role}.pt").read_bytes() == shipped.read_bytes()
        assert all(len(c["entries"]) == (3 if role == "pursuer" else 2) for c in cands)
    assert (out / "config.yaml").is_file()
    saved = json.loads((out / "league.json").read_text())
    assert saved["episodes"] == 3 and 0.0 <= saved["bar"] <= 1.0

    # the name resolves to the shipped files, for every consumer
    monkeypatch.setenv(MODELS_ENV, str(out))
    assert models_dir() == out.resolve()
    assert resolve_checkpoint(PRETRAINED, "evader") == out.resolve() / "evader.pt"
    assert resolve_checkpoint("runs/x.pt", "evader").name == "x.pt"
    assert cli_main(["league", "--checkpoint", PRETRAINED, "--episodes", "2"]) == 0
    printed = capsys.readouterr().out
    assert "pursuer.pt" in printed and "evader.pt" in printed and "targets:" in printed


def test_pretrained_errors_name_the_fix(two_runs, tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="safe_pe_train pretrained"):
        resolve_checkpoint(PRETRAINED, "pursuer")
    with pytest.raises(ConfigError, match="at least one"):
        choose_pretrained([], tmp_path / "m")
    other = tmp_path / "other"
    other.mkdir()
    config = tiny_config("A")
    config.ppo.gamma = 0.9
    config.to_yaml(other / "config.yaml")
    with pytest.raises(ConfigError, match="another config"):
        choose_pretrained([two_runs[0], other], tmp_path / "m")


def test_final_league_reports_trained_and_shipped(two_runs, tmp_path, monkeypatch):
    models = tmp_path / "models"
    choose_pretrained(two_runs[1:], models, episodes=2)
    monkeypatch.setenv(MODELS_ENV, str(models))
    result = final_league(two_runs[0], episodes=2)
    assert set(result["groups"]) == {"trained", "pretrained"} and not result["skipped"]
    for group in result["groups"].values():
        assert [len(group[r]["entries"]) for r in ("pursuer", "evader")] == [3, 2]
    saved = json.loads((two_runs[0] / "metrics" / "final_league.json").read_text())
    assert saved["groups"]["trained"]["pursuer"]["checkpoint"].endswith(".pt")
    assert (two_runs[0] / "plots" / "league_final.png").stat().st_size > 1000
    table = format_final_league(result)
    assert "| pursuer vs aware_flee |" in table and table.count("\n|") == 7

    # no shipped pair: the run's own league still comes out, with the reason
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "nowhere"))
    result = final_league(two_runs[0], episodes=1)
    assert set(result["groups"]) == {"trained"}
    assert "safe_pe_train pretrained" in result["skipped"]["pretrained"]
    assert "not played" in format_final_league(result)
    with pytest.raises(ConfigError, match=">= 1 episode"):
        final_league(two_runs[0], episodes=0)


def test_models_dir_lookup_order(tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("SAFE_PE_ROOT", str(tmp_path / "checkout"))
    assert models_dir() == (tmp_path / "mine").resolve()
    monkeypatch.delenv(MODELS_ENV)
    assert models_dir() == (tmp_path / "checkout").resolve() / "models"
