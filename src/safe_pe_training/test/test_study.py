"""The comparison study: parallel tasks, resume, retry after SIGKILL, Ray, aggregation,
results page, and its input errors (issue 12)."""

from __future__ import annotations

import math
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from safe_pe_training.action_mapping import CommandLimits
from safe_pe_training.artifacts import atomic_write_json, read_json
from safe_pe_training.cli import main
from safe_pe_training.study import StudyError, StudySpec, plan_tasks, prepare_study, \
    run_study, task_done
from safe_pe_training.study_measures import box_removed_share
from safe_pe_training.study_stats import aggregate_crossplay, aggregate_runs, \
    evaluate_claims, mean_interval, t_quantile
from training_fixtures import write_tiny_yaml

FAULT_DIR = Path(__file__).parent / "study_fault"


def _spec(base: Path, runs: list[str], seeds: list[int], budget: int = 512) -> StudySpec:
    return StudySpec(runs=runs, seeds=seeds, budget=budget, steps_per_phase=256,
                     league_episodes=2, crossplay_episodes=2, base_config=str(base))


@pytest.fixture(scope="module")
def base_yaml(tmp_path_factory) -> Path:
    """Tiny base config: 4 envs x 64 steps, 256 steps per phase."""
    return write_tiny_yaml(tmp_path_factory.mktemp("study_base") / "tiny.yaml", "A")


@pytest.fixture(scope="module")
def pool_study(tmp_path_factory, base_yaml):
    """Runs A and B, seed 0, on the process pool; A's training SIGKILLs itself once right
    after its first checkpoint (test/study_fault/sitecustomize.py)."""
    tmp = tmp_path_factory.mktemp("study_pool")
    out = tmp / "study"
    marker = tmp / "killed"
    events: list[tuple[str, str, int | None]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", f"{FAULT_DIR}:{os.environ.get('PYTHONPATH', '')}")
        mp.setenv("SAFE_PE_TEST_KILL_RUN_DIR", str(out / "A_s0"))
        mp.setenv("SAFE_PE_TEST_KILL_MARKER", str(marker))
        result = run_study(_spec(base_yaml, ["A", "B"], [0]), out, workers=2, stream=None,
                           command="safe_pe_train study (test)",
                           on_event=lambda ev, o: events.append((ev, o.name, o.returncode)))
    return result, events, marker, base_yaml


def test_pool_study_completes_after_a_sigkilled_task(pool_study):
    result, events, marker, _ = pool_study
    assert marker.exists(), "the fault injection did not kill A's training"
    assert ("retry", "A_s0", -9) in events
    assert result.failed == []
    assert {name: o.ok for name, o in result.outcomes.items()} == \
        {"A_s0": True, "B_s0": True, "crossplay_s0": True}
    log = Path(result.outcomes["A_s0"].log).read_text()
    assert "== attempt 2:" in log and "train --resume --run-dir" in log  # from its checkpoint
    summary = read_json(result.out / "A_s0" / "metrics" / "summary.json")
    assert summary["total_steps"] == 512 and summary["resumed_from"] == 1
    assert read_json(result.out / "A_s0" / "study_task.json")["failed_attempts"] == 1


def test_pool_study_measures_and_crossplay(pool_study):
    result, *_ = pool_study
    a = read_json(result.out / "A_s0" / "study_measures.json")
    b = read_json(result.out / "B_s0" / "study_measures.json")
    assert set(a["capture"]) == {"flee", "aware_flee", "random"}
    assert set(a["caught"]) == {"pure_pursuit", "lead_pursuit"}
    assert 0.0 <= a["box_restriction"] <= 1.0 and b["box_restriction"] is None
    assert a["train"]["violations"] == 0 and a["eval_violations"] == 0
    assert len(a["curves"]) == 2 and sum(a["margin_histogram"]) > 0
    cross = read_json(result.out / "crossplay" / "seed0.json")
    assert cross["world"] == "A"
    assert sorted((m["pursuer"], m["evader"]) for m in cross["matches"]) == \
        [("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")]
    assert all(m["episodes"] == 2 for m in cross["matches"])


def test_pool_study_results_page(pool_study):
    result, *_ = pool_study
    text = result.report.read_text()
    assert "## The seed's claims" in text and "safe_pe_train study (test)" in text
    assert "**Runs with the CBF filter have 0 violations (training and evaluation): " \
           "supported.**" in text
    assert "| A | 1 |" in text and "| B | 1 |" in text
    for name in ("learning_curves", "safety_rates", "crossplay", "min_h_histogram"):
        assert (result.out / "figures" / f"{name}.png").stat().st_size > 1000
    rows = (result.out / "tasks.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("run,seed,pursuer_win")


def test_rerun_skips_finished_tasks(pool_study, capsys):
    result, _, _, base = pool_study
    measures = result.out / "A_s0" / "study_measures.json"
    before = measures.stat().st_mtime_ns
    again = run_study(_spec(base, ["A", "B"], [0]), result.out, workers=2, stream=None,
                      report=False)
    assert all(o.ok and o.skipped for o in again.outcomes.values())
    assert len(again.outcomes) == 3 and measures.stat().st_mtime_ns == before
    # the same study through the CLI: everything found done, the page rewritten
    assert main(["study", "--runs", "A", "B", "--seeds", "0", "--budget", "512",
                 "--steps-per-phase", "256", "--league-episodes", "2",
                 "--crossplay-episodes", "2", "--config", str(base), "--workers", "2",
                 "--out", str(result.out)]) == 0
    err = capsys.readouterr().err
    assert err.count("already done") == 3 and "done 3/3  running 0  failed 0" in err
    assert measures.stat().st_mtime_ns == before
    assert "safe_pe_train study --runs A B" in result.report.read_text()


def test_new_weights_are_measured_again(pool_study):
    result, *_ = pool_study
    record = read_json(result.out / "study.json")
    task = next(t for t in plan_tasks(result.out, record) if t.name == "A_s0")
    assert task_done(task)
    path = result.out / "A_s0" / "study_measures.json"
    original = path.read_bytes()
    data = read_json(path)
    data["weights"]["pursuer"] = "0" * 64  # as if A_s0 had been trained again since
    try:
        atomic_write_json(path, data)
        assert not task_done(task)
    finally:
        path.write_bytes(original)
    assert task_done(task)


def test_folder_of_another_study_is_refused(pool_study):
    result, _, _, base = pool_study
    spec_file = result.out / "study.json"
    before = spec_file.read_bytes()
    with pytest.raises(StudyError, match="holds another study .*budget"):
        run_study(_spec(base, ["A", "B"], [0], budget=768), result.out, stream=None)
    assert spec_file.read_bytes() == before


def test_task_failing_twice_is_reported_and_the_others_go_on(tmp_path, base_yaml,
                                                             monkeypatch):
    out = tmp_path / "study"
    monkeypatch.setenv("PYTHONPATH", f"{FAULT_DIR}:{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("SAFE_PE_TEST_KILL_RUN_DIR", str(out / "B_s1"))
    monkeypatch.setenv("SAFE_PE_TEST_KILL_MARKER", str(tmp_path / "killed"))
    monkeypatch.setenv("SAFE_PE_TEST_KILL_ALWAYS", "1")
    result = run_study(_spec(base_yaml, ["B"], [0, 1]), out, workers=2, stream=None)
    assert result.failed == ["B_s1"]
    failed = result.outcomes["B_s1"]
    assert failed.attempt == 2 and failed.returncode == -9
    assert Path(failed.log).read_text().count("== exit status -9") == 2
    assert failed.log_tail.splitlines()[-1].startswith("== exit status -9 after")
    assert result.outcomes["B_s0"].ok and result.outcomes["crossplay_s0"].ok
    assert "crossplay_s1" not in result.outcomes  # seed 1 lacks a run
    assert "**Not measured (failed or not run yet):** B_s1." in result.report.read_text()


def test_ray_study(tmp_path, base_yaml):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_study(_spec(base_yaml, ["B"], [0, 1]), tmp_path / "study", use_ray=True,
                           stream=None)
    finally:
        ray.shutdown()
    assert result.failed == [] and len(result.outcomes) == 4
    assert all(o.ok and not o.skipped for o in result.outcomes.values())
    assert (tmp_path / "study" / "crossplay" / "seed1.json").exists()
    assert "| B | 2 |" in result.report.read_text()


# ---------------------------------------------------------------------- bad input
def test_unknown_run_is_refused(tmp_path, base_yaml):
    with pytest.raises(StudyError, match="unknown run 'E'"):
        run_study(_spec(base_yaml, ["A", "E"], [0]), tmp_path / "out", stream=None)
    assert not (tmp_path / "out").exists()
    assert main(["study", "--runs", "E", "--out", str(tmp_path / "cli")]) == 2
    assert not (tmp_path / "cli").exists()


def test_duplicate_or_invalid_seeds_are_refused(tmp_path, base_yaml):
    with pytest.raises(StudyError, match=r"seed\(s\) \[1\] listed twice"):
        run_study(_spec(base_yaml, ["A"], [0, 1, 1]), tmp_path / "out", stream=None)
    with pytest.raises(StudyError, match="seed must be in"):
        run_study(_spec(base_yaml, ["A"], [0, 2_000_000_000]), tmp_path / "out", stream=None)
    assert not (tmp_path / "out").exists()


def test_other_study_config_and_foreign_folder_are_refused(tmp_path, base_yaml):
    out, _ = prepare_study(_spec(base_yaml, ["A", "B"], [0, 1]), tmp_path / "study")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(StudyError, match="holds another study .*runs"):
        run_study(_spec(base_yaml, ["A", "C"], [0, 1]), out, stream=None)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(StudyError, match="holds no study.json"):
        run_study(_spec(base_yaml, ["A"], [0]), foreign, stream=None)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_unreachable_ray_address_is_refused(tmp_path, base_yaml):
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StudyError, match="unreachable"):
        run_study(_spec(base_yaml, ["A"], [0]), tmp_path / "out",
                  ray_address=f"127.0.0.1:{port}", stream=None)
    with pytest.raises(StudyError, match="not host:port"):
        run_study(_spec(base_yaml, ["A"], [0]), tmp_path / "out", ray_address="nowhere",
                  stream=None)
    assert not (tmp_path / "out").exists()


def test_missing_ray_says_how_to_install(tmp_path, base_yaml, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(StudyError, match="pip install ray"):
        run_study(_spec(base_yaml, ["A"], [0]), tmp_path / "out", use_ray=True, stream=None)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- aggregation
def test_t_interval_on_known_values():
    iv = mean_interval([1.0, 2.0, 3.0, 4.0, None, float("nan")])
    half = 3.182446305 * math.sqrt(5.0 / 3.0) / 2.0  # t_{.975,3} s / sqrt(n), s^2 = 5/3
    assert iv.n == 4 and iv.mean == 2.5
    assert iv.low == pytest.approx(2.5 - half) and iv.high == pytest.approx(2.5 + half)
    one = mean_interval([0.3])
    assert one.mean == 0.3 and math.isnan(one.low) and one.text() == "0.300"
    assert mean_interval([]).n == 0 and mean_interval([]).text() == "-"


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 5, 10, 30, 31, 50, 200):
        assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df), rel=2e-4)


def _task(win: float, interv: float, box: float | None, viol: int, cbf: bool = True) -> dict:
    return {"use_cbf": cbf, "mean_win": win, "pursuer_win": win, "evader_win": win,
            "capture": {"flee": win}, "caught": {"pure_pursuit": 1 - win},
            "train": {"violations": viol, "intervention_rate": interv},
            "eval_violations": 0, "box_restriction": box}


def test_aggregation_and_claims_on_known_inputs():
    measures = {
        "A": {0: _task(0.45, 0.0, 0.10, 0), 1: _task(0.55, 0.0, 0.12, 0)},
        "B": {0: _task(0.50, 0.0, None, 7, cbf=False), 1: _task(0.50, 0.0, None, 3, cbf=False)},
        "D": {0: _task(0.50, 0.0, 0.20, 0), 1: _task(0.50, 0.0, 0.20, 0)},
    }
    agg = aggregate_runs(measures)
    assert agg["A"]["mean_win"].mean == pytest.approx(0.5)
    assert agg["A"]["capture:flee"].n == 2 and agg["B"]["box_restriction"].n == 0
    assert agg["B"]["train_violations"].mean == 5.0
    claims = {c.title.split(" (")[0]: c for c in evaluate_claims(measures, agg)}
    within = claims["A performs within 10 % of B"]
    assert within.verdict == "supported" and "1.000" in within.text  # ratios 0.9 and 1.1
    assert claims["A performs within 10 % of B_obstacles"].verdict == "not measured"
    w5 = claims["The safety reward w5 cuts interventions by > 20 %"]
    assert w5.verdict == "supported" and "0.450" in w5.text  # cuts 0.5 and 0.4
    assert claims["Runs with the CBF filter have 0 violations"].verdict == "supported"
    measures["A"][1]["train"]["violations"] = 2
    measures["D"][0]["box_restriction"] = 0.11  # cuts 1 - 0.10/0.11 = 0.09 and
    measures["D"][1]["box_restriction"] = 0.12  # 1 - 0.12/0.12 = 0: mean 0.045 < 0.2
    claims = {c.title.split(" (")[0]: c for c in
              evaluate_claims(measures, aggregate_runs(measures))}
    assert claims["The safety reward w5 cuts interventions by > 20 %"].verdict == "refuted"
    assert claims["Runs with the CBF filter have 0 violations"].verdict == "refuted"


def test_crossplay_aggregation_on_known_inputs():
    seeds = {0: [{"pursuer": "A", "evader": "B", "capture_rate": 0.2}],
             1: [{"pursuer": "A", "evader": "B", "capture_rate": 0.4}]}
    matrix = aggregate_crossplay(["A", "B"], seeds)
    assert matrix[("A", "B")].mean == pytest.approx(0.3) and matrix[("A", "B")].n == 2
    assert matrix[("B", "A")].n == 0


def test_box_removed_share_on_known_boxes():
    limits = CommandLimits(v_min=0.0, v_max=1.0, omega_max=2.0)  # area 4
    lo = np.array([[0.0, -1.0], [0.0, -2.0], [0.5, 0.0], [0.0, -2.0]])
    hi = np.array([[0.5, 1.0], [1.0, 2.0], [0.4, 1.0], [1.0, 2.0]])
    empty = np.array([False, False, False, True])
    share = box_removed_share(lo, hi, empty, limits)
    assert share == pytest.approx([0.75, 0.0, 1.0, 1.0])
