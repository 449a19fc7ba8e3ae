"""SafetyMetricsTracker.state_dict() / from_state_dict(): exact round trips through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from safe_pe_training.safety_targets import SafetyTargets
from safe_pe_training.safety_tracker import SafetyMetricsTracker


def _record_random(tracker: SafetyMetricsTracker, rng: np.random.Generator, calls: int) -> None:
    """A random stream of batches and single steps, NaN margins and phase ends included."""
    for _ in range(calls):
        kind = rng.random()
        if kind < 0.1:
            tracker.end_phase()
        elif kind < 0.5:
            tracker.record_step(int(rng.integers(0, 6)),
                                float("nan") if rng.random() < 0.1 else rng.normal(0.5, 2.0),
                                float(rng.exponential(0.1)) * (rng.random() < 0.5),
                                bool(rng.random() < 0.02),
                                qp_feasible=None if rng.random() < 0.5 else bool(rng.random()
                                                                                 < 0.9))
        else:
            n = int(rng.integers(0, 3 * tracker.window_size))
            h = rng.normal(0.5, 3.0, n)
            h[rng.random(n) < 0.05] = np.nan
            tracker.record_batch(rng.integers(0, 6, n), h,
                                 rng.exponential(0.1, n) * (rng.random(n) < 0.5),
                                 rng.random(n) < 0.01,
                                 intervened=None if rng.random() < 0.5 else rng.random(n) < 0.3)


def _observable(tracker: SafetyMetricsTracker) -> dict:
    """Everything a user can read from a tracker."""
    out = {"steps": (tracker.total_steps, tracker.phase_steps, tracker.current_phase),
           "trend": tracker.intervention_trend(),
           "history": [(p.phase, p.summary.to_dict(), p.margin_histogram)
                       for p in tracker.phase_history],
           "window": [c.tolist() for c in tracker._recent.columns()]}
    for scope in ("lifetime", "phase", "recent"):
        out[scope] = tracker.get_margin_stats(scope)
        out[scope + "_check"] = tracker.check_safety_targets(scope).to_dict()
    out["summary"] = tracker.get_summary().to_dict()
    out["phase_summary"] = tracker.get_phase_metrics().to_dict()
    out["recent_summary"] = tracker.get_recent_metrics().to_dict()
    return out


def _through_json(tracker: SafetyMetricsTracker) -> SafetyMetricsTracker:
    text = json.dumps(tracker.state_dict(), allow_nan=False)  # strict JSON: no NaN literals
    return SafetyMetricsTracker.from_state_dict(json.loads(text))


@pytest.mark.parametrize("seed", range(12))
def test_round_trip_is_exact_and_keeps_counting_identically(seed):
    rng = np.random.default_rng(seed)
    window = int(rng.integers(1, 200))
    edges = None if seed % 3 else np.sort(rng.choice(np.linspace(-3, 8, 40), 12,
                                                     replace=False))  # non-uniform edges
    tracker = SafetyMetricsTracker(window_size=window, margin_edges=edges,
                                   targets=SafetyTargets(max_backup_rate=0.05,
                                                         enforce_intervention_trend=True),
                                   intervention_tol=1e-4)
    _record_random(tracker, rng, int(rng.integers(0, 40)))
    again = _through_json(tracker)
    np.testing.assert_equal(_observable(again), _observable(tracker))
    assert again.targets == tracker.targets and again.window_size == window
    assert again.state_dict() == tracker.state_dict()
    # both go on recording the same stream: still identical (window position, trend, phases)
    tail_seed = 1000 + seed
    _record_random(tracker, np.random.default_rng(tail_seed), 25)
    _record_random(again, np.random.default_rng(tail_seed), 25)
    np.testing.assert_equal(_observable(again), _observable(tracker))


def test_empty_tracker_and_first_window_counters():
    empty = SafetyMetricsTracker(window_size=7)
    np.testing.assert_equal(_observable(_through_json(empty)), _observable(empty))
    tracker = SafetyMetricsTracker(window_size=10)
    tracker.record_batch([1] * 6, np.ones(6), np.full(6, 0.5), False)  # 6 interventions
    again = _through_json(tracker)
    for t in (tracker, again):  # the first window is completed after the restore
        t.record_batch([0] * 14, np.ones(14), np.zeros(14), False)
    assert again.intervention_trend() == tracker.intervention_trend() == 0.0
    assert again.state_dict()["first_window_interventions"] == 6


@pytest.mark.parametrize("before", [0, 3, 9, 10, 13])
def test_partly_filled_window_continues_in_order(before):
    tracker = SafetyMetricsTracker(window_size=10)
    for k in range(before):
        tracker.record_step(k % 6, 0.1 * k, 0.0, False)
    again = _through_json(tracker)
    for t in (tracker, again):
        for k in range(before, before + 4):
            t.record_step(k % 6, 0.1 * k, 0.0, False)
        t.record_batch(np.arange(2) % 6, [0.5, 0.6], 0.0, False)
    np.testing.assert_equal(_observable(again), _observable(tracker))


def test_bad_states_are_rejected():
    tracker = SafetyMetricsTracker(window_size=5)
    tracker.record_batch([0, 1, 2], [0.1, 0.2, 0.3], [0.0, 0.1, 0.2], False)
    good = tracker.state_dict()
    with pytest.raises(ValueError, match="format"):
        SafetyMetricsTracker.from_state_dict({**good, "format": "other/9"})
    with pytest.raises(ValueError, match="lacks 'lifetime'"):
        SafetyMetricsTracker.from_state_dict({k: v for k, v in good.items() if k != "lifetime"})
    bad_window = json.loads(json.dumps(good))
    bad_window["recent"]["tier"] = bad_window["recent"]["tier"][:-1]
    with pytest.raises(ValueError, match="common length"):
        SafetyMetricsTracker.from_state_dict(bad_window)
    bad_hist = json.loads(json.dumps(good))
    bad_hist["lifetime"]["histogram"] = [1, 2]
    with pytest.raises(ValueError, match="lifetime.histogram"):
        SafetyMetricsTracker.from_state_dict(bad_hist)
