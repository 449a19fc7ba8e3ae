"""A training process killed with SIGKILL in the middle of a phase resumes to completion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safe_pe_training.checkpoints import load_policy
from safe_pe_training.cli import main
from safe_pe_training.training_state import ResumeError, load_tracker
from training_fixtures import write_tiny_yaml

PHASES = 6
KILL_PHASE, KILL_STEP = 2, 20  # SIGKILL at env step 20 (of 64) of phase 2: phases 0, 1 done

# The training process: the run of `safe_pe_train train --config C --run-dir R`, with one
# public hook (TrainingHooks.on_safety_batch, called every env step). At env step KILL_STEP of
# phase KILL_PHASE it writes the marker file and blocks on stdin; the test waits for the
# marker and sends SIGKILL. The kill point is fixed by the run's own progress, not by how
# fast this machine trains (issue 11, item 7).
_CHILD = """
import os, sys
from pathlib import Path
from safe_pe_training.config import SafeSelfPlayConfig
from safe_pe_training.hooks import TrainingHooks
from safe_pe_training.self_play import SelfPlayTrainer

config, run_dir, marker, kill_phase, kill_step = sys.argv[1:6]
seen = {}

def on_batch(batch, phase):
    seen[phase] = seen.get(phase, 0) + 1
    if phase == int(kill_phase) and seen[phase] == int(kill_step):
        Path(marker + ".tmp").write_text(f"{phase} {seen[phase]}\\n")
        os.replace(marker + ".tmp", marker)  # appears whole: the test reads it after the kill
        sys.stdin.read()  # the test SIGKILLs us here; EOF means the test went away
        os._exit(3)

trainer = SelfPlayTrainer(SafeSelfPlayConfig.from_yaml(config), run_dir, progress_bar=False,
                          hooks=TrainingHooks(on_safety_batch=on_batch))
trainer.train()
"""


def test_kill_mid_phase_and_resume(tmp_path):
    config = write_tiny_yaml(tmp_path / "tiny.yaml", "A", phases=PHASES, eval_episodes=0)
    run_dir = tmp_path / "run"
    marker = tmp_path / "about_to_be_killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(config), str(run_dir), str(marker),
         str(KILL_PHASE), str(KILL_STEP)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=dict(os.environ))
    state_path = run_dir / "run_state.json"
    deadline = time.monotonic() + 600  # a cap for a hung child, not a speed requirement
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the child never reached the kill point"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert marker.read_text().split() == [str(KILL_PHASE), str(KILL_STEP)]
    state = json.loads(state_path.read_text())
    assert state["next_phase"] == KILL_PHASE, "the last completed phase is KILL_PHASE - 1"
    # the killed phase left no checkpoint: only phases 0 .. KILL_PHASE - 1 are on disk
    assert len(list((run_dir / "checkpoints").glob("*_phase*.json"))) == KILL_PHASE

    assert main(["train", "--resume", "--run-dir", str(run_dir), "--no-progress"]) == 0

    summary = json.loads((run_dir / "metrics" / "summary.json").read_text())
    assert summary["phases_completed"] == PHASES
    assert summary["total_steps"] == 256 * PHASES
    assert summary["resumed_from"] == KILL_PHASE
    phases = json.loads((run_dir / "metrics" / "phases.json").read_text())
    assert [p["phase"] for p in phases] == list(range(PHASES))
    assert [p["role"] for p in phases] == ["pursuer", "evader"] * (PHASES // 2)
    assert [p["resumed"] for p in phases] == [False] * KILL_PHASE + [True] * (PHASES - KILL_PHASE)
    # the restored tracker kept counting: every learner step of every phase is in it, and
    # none of the killed phase's 20 steps twice
    assert summary["safety"]["steps"] == 256 * PHASES
    assert summary["safety"]["violations"] == 0
    final = json.loads(state_path.read_text())
    tracker = load_tracker(run_dir / final["tracker"])
    assert len(tracker.phase_history) == PHASES
    # every checkpoint on disk is complete and loads (atomic writes survived the kill)
    for meta in sorted((run_dir / "checkpoints").glob("*.json")):
        assert load_policy(meta).meta.phase >= 0
    assert len(list((run_dir / "checkpoints").glob("*_phase*.json"))) == PHASES


def test_resume_refuses_changed_config(tmp_path):
    config = write_tiny_yaml(tmp_path / "tiny.yaml", "B", phases=1)
    run_dir = tmp_path / "run"
    assert main(["train", "--config", str(config), "--run-dir", str(run_dir),
                 "--no-progress"]) == 0
    text = (run_dir / "config.yaml").read_text().replace("seed: 0", "seed: 5")
    (run_dir / "config.yaml").write_text(text)
    from safe_pe_training.self_play import SelfPlayTrainer

    with pytest.raises(ResumeError, match="no longer matches"):
        SelfPlayTrainer.resume(run_dir, progress_bar=False)


def test_tracker_round_trip(tmp_path):
    import numpy as np

    from safe_pe_training.safety_tracker import SafetyMetricsTracker
    from safe_pe_training.training_state import save_tracker

    tracker = SafetyMetricsTracker(window_size=50)
    rng = np.random.default_rng(0)
    for phase in range(3):
        tracker.record_batch(rng.integers(0, 4, 300), rng.normal(1.0, 0.5, 300),
                             rng.random(300), rng.random(300) < 0.01)
        tracker.end_phase()
    tracker.record_step(1, 0.3, 0.2, False)
    save_tracker(tracker, tmp_path / "t.json")
    again = load_tracker(tmp_path / "t.json")
    assert again.get_summary() == tracker.get_summary()
    assert again.get_recent_metrics() == tracker.get_recent_metrics()
    assert len(again.phase_history) == 3 and again.phase_steps == 1


def test_tracker_state_never_unpickles(tmp_path):
    """A pickle (an older version's tracker file, or a tampered one) is refused unread."""
    import pickle

    for name in ("evil.pkl", "evil.json"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(subprocess.Popen))
        with pytest.raises(ResumeError, match="older safe_pe version"):
            load_tracker(path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "safe_pe_tracker_file/1", "tracker": {"format": 3}}')
    with pytest.raises(ResumeError, match="inconsistent"):
        load_tracker(broken)
