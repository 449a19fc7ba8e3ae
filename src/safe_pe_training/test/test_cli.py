"""``safe_pe_train`` CLI: train, evaluate, ablation, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safe_pe_training.cli import ablation_table, main
from training_fixtures import write_tiny_yaml


@pytest.fixture(scope="module")
def trained_b(tmp_path_factory) -> Path:
    """A finished tiny run B trained through the CLI."""
    base = tmp_path_factory.mktemp("cli")
    config = write_tiny_yaml(base / "tiny_b.yaml", "B")
    run_dir = base / "run_b"
    assert main(["train", "--config", str(config), "--run-dir", str(run_dir),
                 "--no-progress"]) == 0
    return run_dir


def test_train_writes_run(trained_b, capsys):
    assert (trained_b / "checkpoints" / "evader_phase0001.pt").exists()
    summary = json.loads((trained_b / "metrics" / "summary.json").read_text())
    assert summary["total_steps"] == 512 and summary["run_type"] == "B"


def test_evaluate_run_dir_against_baselines(trained_b, capsys, tmp_path):
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--run-dir", str(trained_b), "--episodes", "2",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "baseline:flee" in text and "baseline:pure_pursuit" in text
    results = json.loads(out.read_text())
    # latest pursuer vs latest evader + the league's references each way = 1 + 3 + 2
    assert len(results) == 6 and all(r["episodes"] == 2 for r in results)


def test_evaluate_explicit_checkpoints(trained_b, capsys):
    pursuer = trained_b / "checkpoints" / "pursuer_phase0000.pt"
    assert main(["evaluate", "--config", str(trained_b / "config.yaml"), "--pursuer",
                 str(pursuer), "baseline:pure_pursuit", "--evader", "baseline:flee",
                 "--episodes", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4  # header, rule, two matches


def test_evaluate_wrong_role_and_corrupt_checkpoint(trained_b, tmp_path, capsys):
    evader_ckpt = trained_b / "checkpoints" / "evader_phase0001.pt"
    config = str(trained_b / "config.yaml")
    assert main(["evaluate", "--config", config, "--pursuer", str(evader_ckpt),
                 "--evader", "baseline:flee", "--episodes", "2"]) == 1
    assert "not a pursuer" in capsys.readouterr().err
    broken = tmp_path / "broken"
    for suffix in (".pt", ".json"):
        data = (trained_b / "checkpoints" / f"pursuer_phase0000{suffix}").read_bytes()
        (broken.with_suffix(suffix)).write_bytes(data)
    broken.with_suffix(".pt").write_bytes(broken.with_suffix(".pt").read_bytes()[:100])
    assert main(["evaluate", "--config", config, "--pursuer", str(broken) + ".pt",
                 "--evader", "baseline:flee", "--episodes", "2"]) == 1
    assert "SHA-256" in capsys.readouterr().err


def test_argument_and_config_errors(tmp_path, capsys):
    assert main(["train", "--no-progress"]) == 2
    assert "run type" in capsys.readouterr().err
    assert main(["train", "--resume"]) == 2
    assert "--run-dir" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_type: A\nppo: {n_steps: [oops\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "nothing")]) == 1
    assert "not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "A", "--budget", "0"])


def test_ablation_two_runs(tmp_path, capsys):
    base = write_tiny_yaml(tmp_path / "base.yaml", "A")
    out = tmp_path / "ablation"
    assert main(["ablation", "--config", str(base), "--runs", "B", "C", "--seeds", "0",
                 "--budget", "512", "--steps-per-phase", "256", "--eval-episodes", "2",
                 "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| B | 1 |" in text and "| C | 1 |" in text
    rows = json.loads((out / "ablation.json").read_text())
    assert [r["run"] for r in rows] == ["B", "C"]
    assert rows[1]["violations"] == 0  # run C filters every command
    assert all(0.0 <= r["capture_rate"] <= 1.0 for r in rows)
    assert (out / "ablation.md").read_text().startswith("| run |")


def test_ablation_table_aggregates_seeds():
    rows = [{"run": "A", "seed": s, "capture_rate": c, "violations": 0, "violation_rate": 0.0,
             "intervention_rate": 0.1, "backup_rate": 0.0, "feasibility_rate": 1.0,
             "steps_per_second": 1000.0, "targets_met": True} for s, c in ((0, 0.2), (1, 0.4))]
    table = ablation_table(rows)
    assert "| A | 2 | 0.300 ± 0.100 | 0 |" in table and "2/2" in table


def test_module_help_runs():
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "safe_pe_training.cli", "--help"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and "ablation" in proc.stdout


def test_fresh_train_in_used_run_dir_archives_the_old_run(tmp_path):
    config = write_tiny_yaml(tmp_path / "tiny.yaml", "B", phases=1)
    run_dir = tmp_path / "run"
    args = ["train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress"]
    assert main(args) == 0
    first = (run_dir / "checkpoints" / "pursuer_phase0000.pt").read_bytes()
    with pytest.warns(UserWarning, match="moved it to"):
        assert main(args) == 0
    archives = list(run_dir.glob("previous_*"))
    assert len(archives) == 1
    assert (archives[0] / "checkpoints" / "pursuer_phase0000.pt").read_bytes() == first
    assert (archives[0] / "run_state.json").exists()
    assert (run_dir / "run_state.json").exists()
