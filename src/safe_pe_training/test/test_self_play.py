"""Tiny-budget self-play training of every run type: artifacts, safety, learning, hooks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from safe_pe_training.checkpoints import load_policy
from safe_pe_training.opponent_pool import OpponentPool
from safe_pe_training.self_play import SelfPlayTrainer, TrainingHooks
from training_fixtures import tiny_config

th.set_num_threads(1)

PLOTS = ("training_curves.png", "capture_rate.png", "safety_rates.png",
         "margin_histogram.png", "sample_episode.png")


@pytest.mark.parametrize("run", ["A", "B", "C", "D"])
def test_tiny_training_run(tmp_path, run):
    config = tiny_config(run)
    trainer = SelfPlayTrainer(config, tmp_path / run, progress_bar=False)
    trainer._build()
    initial = {k: v.clone() for k, v in trainer.models["pursuer"].policy.state_dict().items()}
    result = trainer.train()

    assert result.phases_completed == 2 and result.total_steps == 512
    assert not result.stopped_early
    root = tmp_path / run
    for name in ("phases.json", "phases.csv", "progress.csv", "summary.json"):
        assert (root / "metrics" / name).stat().st_size > 0
    for name in PLOTS:
        assert (root / "plots" / name).stat().st_size > 1000, name
    assert list((root / "tensorboard" / "pursuer").glob("events.out.tfevents.*"))
    assert (root / "config.yaml").exists() and (root / "run_state.json").exists()

    # checkpoints: one per phase, deployable, right policy type; PPO changed the weights
    policy = load_policy(root / "checkpoints" / "pursuer_phase0000.pt")
    evader = load_policy(root / "checkpoints" / "evader_phase0001.json")
    expected_type = "beta" if config.use_beta_policy else "gaussian"
    assert policy.meta.policy_type == expected_type == evader.meta.policy_type
    assert policy.role == "pursuer" and evader.role == "evader"
    trained = policy.policy.state_dict()
    assert any(not th.equal(initial[k], trained[k]) for k in initial)

    # safety accounting: every learner step was counted, per tier
    safety = result.safety
    assert safety["steps"] == 512
    tiers = np.asarray(safety["tier_counts"])
    if run == "B":
        assert tiers[5] == 512  # DISABLED: run B has no filter
    else:
        assert safety["violations"] == 0, f"run {run} had body-level violations"
        assert tiers[5] == 0
    if run in ("A", "D"):
        # Beta actions are inside the safe box: the resolver passes them unchanged
        assert tiers[0] / 512 >= 0.95, tiers

    phases = json.loads((root / "metrics" / "phases.json").read_text())
    assert [p["role"] for p in phases] == ["pursuer", "evader"]
    # the league's references, every phase
    assert set(phases[0]["eval"]) == {"pursuer vs flee", "pursuer vs aware_flee",
                                      "pursuer vs random"}
    assert set(phases[1]["eval"]) == {"evader vs pure_pursuit", "evader vs lead_pursuit"}
    assert all(m["episodes"] == 2 for p in phases for m in p["eval"].values())
    # phase 1's evader plays a mixture: the pursuer snapshot of phase 0 (newest) and the
    # scripted pursuers (PFSP-weighted); no older snapshot yet, so the two groups share all
    # games in the proportion latest_opponent_prob : reference_prob = 0.25 : 0.5
    mix = phases[1]["opponents"]
    assert "phase0" in mix and mix["phase0"]["share"] == pytest.approx(0.25 / 0.75)
    assert set(mix) - {"phase0"} <= {"baseline:pure_pursuit", "baseline:lead_pursuit"}
    assert abs(sum(m["share"] for m in mix.values()) - 1.0) < 1e-12
    league = json.loads((root / "metrics" / "league.json").read_text())
    assert len(league) == 5 and {r["role"] for r in league} == {"pursuer", "evader"}
    assert all(p["safety"]["steps"] == 256 for p in phases)  # tracker.end_phase per phase


class TickClock:
    """A fake progress clock: every reading advances it by one second, so the reports that
    depend on the clock come after a fixed number of env steps whatever the machine's speed."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def test_hooks_and_stop(tmp_path):
    config = tiny_config("A", phases=4)
    progress, checkpoints, batches, phases = [], [], [], []

    def on_checkpoint(event):
        checkpoints.append(event)
        if len(checkpoints) == 2:
            trainer.stop()

    hooks = TrainingHooks(on_progress=progress.append, on_checkpoint=on_checkpoint,
                          on_safety_batch=lambda b, p: batches.append((b, p)),
                          on_phase_end=phases.append, progress_interval_s=10.0,
                          progress_clock=TickClock())
    trainer = SelfPlayTrainer(config, tmp_path / "hooks", hooks=hooks, progress_bar=False)
    result = trainer.train()
    assert result.stopped_early and result.phases_completed == 2 and result.total_steps == 512
    assert [c.role for c in checkpoints[:2]] == ["pursuer", "evader"]
    for event in checkpoints:
        assert load_policy(event.path).meta.phase == event.phase
    # The forced report at the start, one per 10 clock readings (one reading per vector step
    # of 4 envs: every 40 env steps) since the last report, the forced one at the end of each
    # phase (which restarts the count) and the final one; the stop comes after phase 1.
    per_clock = 10 * config.num_envs
    expected = [(0, "pursuer", 0, False)]
    for phase, role in ((0, "pursuer"), (1, "evader")):
        start = 256 * phase
        expected += [(phase, role, start + k, False) for k in range(per_clock, 256, per_clock)]
        expected.append((phase, role, start + 256, False))
    expected.append((1, "evader", 512, True))
    assert [(p.phase, p.training_role, p.total_steps, p.done) for p in progress] == expected
    assert all(p.total_budget == 1024 and p.run_type == "A" for p in progress)
    batch, phase = batches[0]
    assert batch.tier.shape == (4,) and batch.nominal.shape == (4, 2) and phase == 0
    assert {p for _, p in batches} >= {0, 1}
    assert len(phases) == 2 and len(checkpoints) == 2


def test_progress_reported_every_phase_whatever_the_clock(tmp_path):
    """Phases shorter than progress_interval_s still publish progress (start, each phase's
    end, done): the reports that do not depend on timing."""
    config = tiny_config("A", phases=2)
    progress = []
    hooks = TrainingHooks(on_progress=progress.append, progress_interval_s=1e9)
    SelfPlayTrainer(config, tmp_path / "slow_clock", hooks=hooks, progress_bar=False).train()
    assert [(p.phase, p.training_role, p.total_steps, p.done) for p in progress] == [
        (0, "pursuer", 0, False), (0, "pursuer", 256, False), (1, "evader", 512, False),
        (1, "evader", 512, True)]


def test_opponent_pool_sampling_and_round_trip():
    pool = OpponentPool("evader", max_snapshots=2, latest_prob=0.5)
    pool.add_baseline("flee")
    for phase in range(4):
        pool.add_checkpoint(f"/x/evader_phase{phase}.pt", phase)
    assert [e.label for e in pool.entries] == ["baseline:flee", "phase2", "phase3"]
    rng = np.random.default_rng(0)
    draws = [pool.sample(rng).label for _ in range(2000)]
    share_latest = draws.count("phase3") / len(draws)
    assert 0.6 < share_latest < 0.73  # 0.5 + 0.5 / 3
    assert draws.count("baseline:flee") > 200
    again = OpponentPool.from_dict(json.loads(json.dumps(pool.to_dict())))
    assert again == pool
    with pytest.raises(RuntimeError, match="empty"):
        OpponentPool("pursuer").sample(rng)
    with pytest.raises(ValueError):
        OpponentPool("referee")
