"""Safety metrics tracker: what the safety filter did at every control step, per scope.

`SafetyMetricsTracker` counts what the safety filter did at every control step (resolver tier,
smallest barrier value, intervention, QP feasibility, ground-truth violation) over three scopes:

- **lifetime**: everything since construction (`get_summary()`);
- **phase**: since the last `end_phase()` (`get_phase_metrics()`); `end_phase()` archives the
  phase's summary in `phase_history` and resets the phase counters (self-play calls it once per
  training phase);
- **recent**: a rolling window of the last `window_size` steps (`get_recent_metrics()`).

It imports neither stable-baselines3 nor rclpy. `record_batch()` records N steps at once with
numpy (the training loop records thousands of env-steps per call). The definitions of
the counted quantities are in `safe_pe_training.safety_stats`; the thresholds in
`safe_pe_training.safety_targets`; the SB3 callback in `safe_pe_training.safety_callback`.

Info keys used by `SafetyMetricsCallback` (the safe vectorized env wrapper writes them): each
env's `info` dict may hold `info["safety"]`, a dict for the learning agent's step::

    info["safety"] = {
        "tier": int,            # resolver tier (Tier value)
        "min_h": float,         # smallest barrier value
        "intervention": float,  # weighted norm of u_safe - u_nom
        "intervened": bool,     # optional; default intervention > intervention_tol
        "violation": bool,      # ground-truth body-level violation of the learner this step
        "qp_feasible": bool,    # optional; default from the tier (see safety_stats)
    }

Envs whose info has no "safety" key are not counted for that step.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from enum import IntEnum
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from safe_pe_training.safety_metrics_state import restore_tracker, tracker_settings, \
    tracker_state_dict
from safe_pe_training.safety_stats import (
    DEFAULT_MARGIN_EDGES,
    NUM_TIERS,
    TIER_BACKUP,
    TIER_DISABLED,
    TIER_RELAXED,
    TIER_STOP,
    BatchStats,
    PhaseSafetyMetrics,
    RingBuffer,
    SafetyMetricsSummary,
    ScopeCounters,
    tier_index,
    uniform_width,
)
from safe_pe_training.safety_targets import (
    CMP_GREATER_EQUAL,
    CMP_LESS_EQUAL,
    SafetyTargetCheck,
    SafetyTargets,
    target_result,
)

__all__ = ["SafetyMetricsTracker", "log_safety_metrics", "record_infos"]

_CHUNK = 4096  # steps per internal chunk of record_batch


class SafetyMetricsTracker:
    """Counts safety-filter outcomes per step over lifetime, phase and a rolling window.

    :param window_size: number of most recent steps of the rolling window (>= 1); None: the
        targets' `window_size` (given, it replaces the targets' window).
    :param targets: thresholds used by `check_safety_targets()` (defaults: zero violations,
        feasibility >= 99 %, backup <= 1 %, a window of 1000 steps).
    :param margin_edges: increasing histogram edges of the barrier margin min_h (underflow and
        overflow bins are added); default [-1, 10] in steps of 0.1.
    :param intervention_tol: an intervention norm above this counts as an intervention when
        `intervened` is not given.
    """

    def __init__(self, window_size: int | None = None, targets: SafetyTargets | None = None,
                 margin_edges: Sequence[float] | np.ndarray | None = None,
                 intervention_tol: float = 1e-6) -> None:
        targets = targets if targets is not None else SafetyTargets()
        if window_size is None:
            window_size = targets.window_size
        if isinstance(window_size, bool) or not isinstance(window_size, (int, np.integer)) \
                or window_size < 1:
            raise ValueError(f"window_size must be an int >= 1, got {window_size!r}")
        edges = np.asarray(DEFAULT_MARGIN_EDGES if margin_edges is None else margin_edges,
                           dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) \
                or not np.all(np.diff(edges) > 0):
            raise ValueError("margin_edges must be >= 2 finite, strictly increasing values")
        if not intervention_tol >= 0.0:
            raise ValueError(f"intervention_tol must be >= 0, got {intervention_tol}")
        self.window_size = int(window_size)
        if targets.window_size != self.window_size:  # one window: the tracker's
            targets = replace(targets, window_size=self.window_size)
        self.targets = targets
        self.margin_edges = edges
        self._bin_width = uniform_width(edges)
        self._edge_list = [float(e) for e in edges]
        self.intervention_tol = float(intervention_tol)
        self._lifetime = ScopeCounters(edges, keep_values=False)
        self._phase = ScopeCounters(edges, keep_values=True)
        self._recent = RingBuffer(self.window_size)
        self._first_window_steps = 0
        self._first_window_interventions = 0
        self.phase_history: list[PhaseSafetyMetrics] = []

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything recorded (lifetime, phase, phase history, rolling window, first-window
        trend counters) and the configuration, as plain JSON-able data (dicts, lists, str,
        int, float, bool; NaN/inf floats as "nan"/"inf"/"-inf").

        :return: the state; `from_state_dict` rebuilds an equal tracker from it.
        """
        return tracker_state_dict(self)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> "SafetyMetricsTracker":
        """Rebuild a tracker from `state_dict()` output (possibly read back from JSON).

        :param state: the state dict.
        :return: a tracker whose summaries, window and phase history equal the original's
            and which goes on counting exactly as the original would.
        :raises ValueError: when `state` is not a tracker state or is inconsistent.
        """
        tracker = cls(**tracker_settings(state))
        restore_tracker(tracker, state)
        return tracker

    # ------------------------------------------------------------------ recording
    @property
    def total_steps(self) -> int:
        """Steps recorded since construction."""
        return self._lifetime.steps

    @property
    def phase_steps(self) -> int:
        """Steps recorded in the current phase."""
        return self._phase.steps

    @property
    def current_phase(self) -> int:
        """Index of the phase being recorded (number of phases ended so far)."""
        return len(self.phase_history)

    def record_step(self, method: int | str | IntEnum, min_h: float, intervention: float,
                    violation: bool, qp_feasible: bool | None = None,
                    intervened: bool | None = None) -> None:
        """Record one filtered control step.

        :param method: resolver tier (`Tier`, int or name).
        :param min_h: smallest barrier value of the step (NaN: unknown, not in margin stats).
        :param intervention: weighted norm of u_safe - u_nom (>= 0); a bool is read as 1/0.
        :param violation: a robot body was in collision at this step (ground truth).
        :param qp_feasible: whether the exact QP was feasible; default from the tier.
        :param intervened: whether the command changed; default intervention > tolerance.
        """
        tier = tier_index(method)
        h = float(min_h)
        size = float(intervention)
        if not (math.isfinite(size) and size >= 0.0):
            raise ValueError(f"intervention norms must be finite and >= 0, got {intervention}")
        changed = size > self.intervention_tol if intervened is None else bool(intervened)
        if qp_feasible is None:
            feasible = tier != TIER_RELAXED and tier != TIER_BACKUP
        else:
            feasible = bool(qp_feasible) or tier == TIER_STOP or tier == TIER_DISABLED
        violation = bool(violation)
        hist_bin = -1
        if math.isfinite(h):
            hist_bin = self._bin_one(h)
        for counters in (self._lifetime, self._phase):
            counters.add_one(tier, h, hist_bin, size, changed, violation, feasible)
        self._recent.write_one(tier, h, size, changed, violation, feasible)
        if self._first_window_steps < self.window_size:
            self._first_window_steps += 1
            self._first_window_interventions += changed

    def record_batch(self, methods: Any, min_h: Any, intervention: Any, violation: Any,
                     qp_feasible: Any = None, intervened: Any = None) -> None:
        """Record N filtered control steps at once (same result as N `record_step` calls).

        :param methods: (N,) tiers: an int array, or a sequence of `Tier`/int/names.
        :param min_h: (N,) smallest barrier values (NaN: unknown).
        :param intervention: (N,) intervention norms (>= 0) or a scalar.
        :param violation: (N,) bools or a scalar.
        :param qp_feasible: (N,) bools, a scalar, or None (derive from the tier).
        :param intervened: (N,) bools, a scalar, or None (intervention > tolerance).
        :raises ValueError: for unknown tiers, mismatched lengths, negative or non-finite
            intervention norms; nothing is recorded then.
        """
        tier = _as_tiers(methods)
        n = tier.shape[0]
        if n == 0:
            return
        h = _column(min_h, n, np.float64, "min_h")
        inter = _column(intervention, n, np.float64, "intervention")
        if not np.all(np.isfinite(inter)) or np.any(inter < 0):
            raise ValueError("intervention norms must be finite and >= 0")
        viol = _column(violation, n, bool, "violation")
        if qp_feasible is None:
            feas = (tier != TIER_RELAXED) & (tier != TIER_BACKUP)
        else:
            feas = _column(qp_feasible, n, bool, "qp_feasible") | (tier == TIER_STOP) \
                | (tier == TIER_DISABLED)
        if intervened is None:
            changed = inter > self.intervention_tol
        else:
            changed = _column(intervened, n, bool, "intervened")
        # Chunks keep numpy temporaries small (large ones cost page faults on every call).
        for start in range(0, n, _CHUNK):
            end = min(n, start + _CHUNK)
            self._record_columns(tier[start:end], h[start:end], inter[start:end],
                                 changed[start:end], viol[start:end], feas[start:end])

    def _record_columns(self, tier: np.ndarray, h: np.ndarray, inter: np.ndarray,
                        changed: np.ndarray, viol: np.ndarray, feas: np.ndarray) -> None:
        batch = BatchStats(self.margin_edges, self._bin_width, tier, h, inter, changed, viol,
                            feas)
        self._lifetime.add(batch)
        self._phase.add(batch)
        self._recent.write(tier, h, inter, changed, viol, feas)
        if self._first_window_steps < self.window_size:
            take = min(batch.steps, self.window_size - self._first_window_steps)
            self._first_window_steps += take
            self._first_window_interventions += int(np.count_nonzero(changed[:take]))

    def _bin_one(self, h: float) -> int:
        """Scalar `bin_index` (same arithmetic as the vectorized one)."""
        if self._bin_width is None:
            return bisect.bisect_right(self._edge_list, h)
        idx = math.floor((h - self._edge_list[0]) / self._bin_width) + 1
        return 0 if idx < 0 else (len(self._edge_list) if idx > len(self._edge_list) else idx)

    def end_phase(self) -> PhaseSafetyMetrics:
        """Archive the current phase's metrics in `phase_history` and reset phase counters.

        :return: the archived phase metrics.
        """
        archived = PhaseSafetyMetrics(
            phase=len(self.phase_history), summary=self._phase.summary(),
            margin_histogram=tuple(int(c) for c in self._phase.histogram))
        self.phase_history.append(archived)
        self._phase.reset()
        return archived

    # ------------------------------------------------------------------ reading
    def get_summary(self) -> SafetyMetricsSummary:
        """Lifetime metrics (percentiles interpolated from the margin histogram)."""
        return self._lifetime.summary()

    def get_phase_metrics(self) -> SafetyMetricsSummary:
        """Metrics of the current (unfinished) phase."""
        return self._phase.summary()

    def get_recent_metrics(self) -> SafetyMetricsSummary:
        """Metrics of the last `window_size` steps."""
        return self._recent_counters().summary()

    def _recent_counters(self) -> ScopeCounters:
        counters = ScopeCounters(self.margin_edges, keep_values=True)
        columns = self._recent.columns()
        if columns[0].size:
            counters.add(BatchStats(self.margin_edges, self._bin_width, *columns))
        return counters

    def get_margin_stats(self, scope: str = "lifetime") -> dict[str, Any]:
        """Barrier-margin statistics and histogram data of a scope.

        :param scope: "lifetime", "phase" or "recent".
        :return: dict with mean, std, min, max, percentiles, unknown, edges (bin edges incl.
            under/overflow as -inf/+inf) and counts.
        """
        if scope == "recent":
            counters = self._recent_counters()
        else:
            counters = self._scope(scope)
        summary = counters.summary()
        return {
            "mean": summary.mean_min_h, "std": summary.std_min_h, "min": summary.min_min_h,
            "max": summary.max_min_h, "percentiles": dict(summary.margin_percentiles),
            "unknown": summary.margin_unknown,
            "edges": [float("-inf")] + [float(e) for e in self.margin_edges] + [float("inf")],
            "counts": [int(c) for c in counters.histogram],
        }

    def get_method_counts(self, scope: str = "lifetime") -> dict[str, int]:
        """Steps per resolver tier name for a scope ("lifetime", "phase" or "recent")."""
        if scope == "recent":
            return self.get_recent_metrics().method_counts
        return self._scope(scope).summary(percentiles={}).method_counts

    def intervention_trend(self) -> float:
        """Intervention rate of the recent window / that of the first window.

        :return: the ratio; 0 when neither window had interventions, inf when only the recent
            one had, NaN until two disjoint full windows were recorded.
        """
        if self.total_steps < 2 * self.window_size:
            return float("nan")
        first = self._first_window_interventions / self.window_size
        recent = self.get_recent_metrics().intervention_rate
        if first == 0.0:
            return 0.0 if recent == 0.0 else float("inf")
        return recent / first

    def check_safety_targets(self, scope: str = "lifetime",
                             targets: SafetyTargets | None = None) -> SafetyTargetCheck:
        """Check the safety targets over a scope.

        :param scope: "lifetime" (default), "phase" or "recent".
        :param targets: thresholds to use instead of the tracker's.
        :return: every target's value and whether it is met; the intervention trend (recent
            window vs first window) is always reported and only enforced if configured.
        """
        t = targets if targets is not None else self.targets
        summary = self.get_recent_metrics() if scope == "recent" else \
            self._scope(scope).summary(percentiles={})
        results = (
            target_result("violations", f"at most {t.max_violations} body-level violations",
                          CMP_LESS_EQUAL, t.max_violations, summary.violations),
            target_result("qp_feasibility", f"exact CBF-QP feasible in >= "
                          f"{t.min_feasibility_rate:.1%} of steps", CMP_GREATER_EQUAL,
                          t.min_feasibility_rate, summary.feasibility_rate),
            target_result("backup_rate",
                          f"backup controller in <= {t.max_backup_rate:.1%} of steps",
                          CMP_LESS_EQUAL, t.max_backup_rate, summary.backup_rate),
            target_result("intervention_trend", "intervention rate of the last window <= "
                          f"{t.max_intervention_trend:.0%} of the first window",
                          CMP_LESS_EQUAL, t.max_intervention_trend, self.intervention_trend(),
                          enforced=t.enforce_intervention_trend),
        )
        all_met = all(r.met for r in results if r.enforced)
        if t.require_steps and summary.steps == 0:
            all_met = False
        return SafetyTargetCheck(results, all_met, summary.steps, scope)

    def _scope(self, scope: str) -> ScopeCounters:
        if scope == "lifetime":
            return self._lifetime
        if scope == "phase":
            return self._phase
        raise ValueError(f"unknown scope {scope!r}; use 'lifetime', 'phase' or 'recent'")


def _as_tiers(methods: Any) -> np.ndarray:
    if isinstance(methods, np.ndarray) and methods.dtype.kind in "iu":
        tier = methods.astype(np.int64, copy=False).reshape(-1)
        if methods.ndim > 1:
            raise ValueError(f"methods must be 1-D, got shape {methods.shape}")
        if tier.size and (tier.min() < 0 or tier.max() >= NUM_TIERS):
            raise ValueError(f"resolver tiers must be in [0, {NUM_TIERS - 1}], got "
                             f"{int(tier.min())}..{int(tier.max())}")
        return tier
    if isinstance(methods, (str, bytes)) or not isinstance(methods, Iterable):
        raise ValueError("methods must be a sequence of tiers; use record_step for one step")
    return np.fromiter((tier_index(m) for m in methods), dtype=np.int64)


def _column(value: Any, n: int, dtype: type, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n, arr, dtype=dtype)
    arr = arr.reshape(-1) if arr.ndim > 1 and arr.size == n else arr
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({n},) like methods")
    return arr


def record_infos(tracker: SafetyMetricsTracker, infos: Sequence[Mapping[str, Any]],
                 info_key: str = "safety") -> int:
    """Record the `info[info_key]` dicts of one vector-env step into `tracker`.

    :param tracker: destination tracker.
    :param infos: per-env info dicts (those without the key are skipped).
    :param info_key: key of the safety dict.
    :return: number of steps recorded.
    """
    items = [info[info_key] for info in infos if info_key in info]
    if not items:
        return 0
    tracker.record_batch(
        [item["tier"] for item in items],
        np.array([item["min_h"] for item in items], dtype=np.float64),
        np.array([item["intervention"] for item in items], dtype=np.float64),
        np.array([bool(item["violation"]) for item in items]),
        None if any("qp_feasible" not in i for i in items)
        else np.array([bool(i["qp_feasible"]) for i in items]),
        None if any("intervened" not in i for i in items)
        else np.array([bool(i["intervened"]) for i in items]),
    )
    return len(items)


def log_safety_metrics(logger: Any, tracker: SafetyMetricsTracker) -> None:
    """Write the tracker's recent-window rates into an SB3 logger (`logger.record`).

    :param logger: an SB3 `Logger` (anything with `record(key, value)`).
    :param tracker: the tracker to report.
    """
    recent = tracker.get_recent_metrics()
    if recent.steps == 0:
        return
    logger.record("safety/intervention_rate", recent.intervention_rate)
    logger.record("safety/backup_rate", recent.backup_rate)
    logger.record("safety/violation_rate", recent.violation_rate)
    logger.record("safety/feasibility_rate", recent.feasibility_rate)
    logger.record("safety/exact_rate", recent.exact_rate)
    if np.isfinite(recent.mean_min_h):
        logger.record("safety/mean_cbf_margin", recent.mean_min_h)
    logger.record("safety/total_violations", tracker.get_summary().violations)
    logger.record("safety/total_steps", tracker.total_steps)
