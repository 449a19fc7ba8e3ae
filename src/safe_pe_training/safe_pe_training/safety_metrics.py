"""Safety metrics of filtered control steps: tracker, targets, and an SB3 callback.

`SafetyMetricsTracker` counts what the safety filter did at every control step (resolver tier,
smallest barrier value, intervention, QP feasibility, ground-truth violation) over three scopes:

- **lifetime**: everything since construction (`get_summary()`);
- **phase**: since the last `end_phase()` (`get_phase_metrics()`); `end_phase()` archives the
  phase's summary in `phase_history` and resets the phase counters (self-play calls it once per
  training phase);
- **recent**: a rolling window of the last `window_size` steps (`get_recent_metrics()`).

It imports neither stable-baselines3 nor rclpy. `record_batch()` records N steps at once with
numpy (the training loop records thousands of env-steps per call).

Resolver tiers are the numbers of `safe_pe_cbf.resolver.Tier` and `SafetyStatus.TIER_*`:
NOMINAL=0, QP=1, RELAXED=2, BACKUP=3, STOP=4, DISABLED=5. A tier may be given as the `Tier`
IntEnum, a plain int, or a name (case-insensitive; "exact" is an alias of QP).

Definitions (all rates are fractions of the steps of the scope):

- *intervention*: the safe command differs from the nominal one (`intervened`); its size is
  the weighted norm `|W (u_safe - u_nom)|` (`intervention`);
- *backup*: steps resolved by the BACKUP tier;
- *infeasible*: steps whose exact CBF-QP ran and had no solution; when `qp_feasible` is not
  given it is taken as False for the RELAXED and BACKUP tiers and True otherwise. Steps of the
  STOP (watchdog) and DISABLED tiers never count as infeasible: no QP ran for them, whatever
  their `qp_feasible` flag says (a watchdog stop is reported by its tier, not as a solver
  failure);
- *exact*: steps resolved without relaxation, i.e. tier NOMINAL or QP (`exact_rate`);
- *violation*: a robot body was in collision at that step (ground truth from the simulator);
- *margin*: the smallest barrier value `min_h` of the step. Non-finite values (the STOP tier
  on invalid input may report NaN) are counted as steps but left out of margin statistics
  (`margin_unknown`).

Info keys used by `SafetyMetricsCallback` (the safe vectorized env wrapper writes them): each
env's `info` dict may hold `info["safety"]`, a dict for the learning agent's step::

    info["safety"] = {
        "tier": int,            # resolver tier (Tier value)
        "min_h": float,         # smallest barrier value
        "intervention": float,  # weighted norm of u_safe - u_nom
        "intervened": bool,     # optional; default intervention > intervention_tol
        "violation": bool,      # ground-truth body-level violation of the learner this step
        "qp_feasible": bool,    # optional; default from the tier (see above)
    }

Envs whose info has no "safety" key are not counted for that step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import bisect
import math
from enum import IntEnum
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "NUM_TIERS",
    "TIER_NAMES",
    "SafetyMetricsSummary",
    "SafetyMetricsTracker",
    "SafetyTargetCheck",
    "SafetyTargets",
    "TargetResult",
    "log_safety_metrics",
    "record_infos",
    "safety_reward_effect",
    "tier_index",
]

TIER_NAMES: tuple[str, ...] = ("NOMINAL", "QP", "RELAXED", "BACKUP", "STOP", "DISABLED")
NUM_TIERS = len(TIER_NAMES)
_TIER_NOMINAL, _TIER_QP, _TIER_RELAXED, _TIER_BACKUP, _TIER_STOP, _TIER_DISABLED = range(6)
_TIER_ALIASES = {name.lower(): i for i, name in enumerate(TIER_NAMES)}
_TIER_ALIASES.update({"exact": _TIER_QP, "qp_exact": _TIER_QP,
                      "filter_disabled": _TIER_DISABLED})

CMP_LESS_EQUAL = 0  # SafetyTarget.CMP_LESS_EQUAL: met when value <= threshold
CMP_GREATER_EQUAL = 1  # SafetyTarget.CMP_GREATER_EQUAL: met when value >= threshold

#: Default histogram edges of the barrier margin: [-1, 10] in 0.1 steps (+ under/overflow).
DEFAULT_MARGIN_EDGES = np.round(np.linspace(-1.0, 10.0, 111), 10)
_CHUNK = 4096  # steps per internal chunk of record_batch
_PERCENTILES = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)


def tier_index(method: int | str | IntEnum) -> int:
    """Return the resolver tier number of `method`.

    :param method: a `Tier` IntEnum, an int in [0, 5], or a tier name (case-insensitive,
        "exact" is an alias of QP).
    :return: the tier number.
    :raises ValueError: for an unknown name or an out-of-range number.
    """
    if isinstance(method, str):
        key = method.strip().lower()
        if key.startswith("tier_"):
            key = key[5:]
        if key not in _TIER_ALIASES:
            raise ValueError(
                f"unknown resolver tier name {method!r}; use one of {list(TIER_NAMES)}")
        return _TIER_ALIASES[key]
    if isinstance(method, (bool, np.bool_)) or not isinstance(method, (int, np.integer)):
        raise ValueError(
            f"resolver tier must be a Tier, an int in [0, {NUM_TIERS - 1}] or a name, "
            f"got {method!r} ({type(method).__name__})")
    value = int(method)
    if not 0 <= value < NUM_TIERS:
        raise ValueError(f"resolver tier {value} out of range [0, {NUM_TIERS - 1}]")
    return value


@dataclass(frozen=True)
class SafetyTargets:
    """Thresholds of `SafetyMetricsTracker.check_safety_targets()`.

    :param max_violations: most body-level violations allowed (0: zero violations).
    :param min_feasibility_rate: least fraction of steps whose exact QP was feasible.
    :param max_backup_rate: largest fraction of steps resolved by the backup controller.
    :param max_intervention_trend: largest ratio of the intervention rate in the last window
        to that in the first window (prior-art target: < 0.5).
    :param enforce_intervention_trend: whether the trend counts in `all_met` (it is always
        reported; it needs two full windows of data to be measured).
    :param require_steps: whether a check over zero steps counts as failed (`all_met` False).
    """

    max_violations: int = 0
    min_feasibility_rate: float = 0.99
    max_backup_rate: float = 0.01
    max_intervention_trend: float = 0.5
    enforce_intervention_trend: bool = False
    require_steps: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_violations, bool) or int(self.max_violations) < 0:
            raise ValueError(f"max_violations must be an int >= 0, got {self.max_violations}")
        for name in ("min_feasibility_rate", "max_backup_rate"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
        if not float(self.max_intervention_trend) >= 0.0:
            raise ValueError(
                f"max_intervention_trend must be >= 0, got {self.max_intervention_trend}")


@dataclass(frozen=True)
class TargetResult:
    """One safety target: measured value vs threshold (mirrors `safe_pe_msgs/SafetyTarget`).

    :param name: short identifier, e.g. "violations".
    :param description: human-readable statement of the target.
    :param comparison: 0 = met when value <= threshold, 1 = met when value >= threshold.
    :param threshold: the bound.
    :param value: measured value (NaN when it cannot be measured yet).
    :param met: whether the target is met (False when the value is NaN).
    :param enforced: whether the target counts in `SafetyTargetCheck.all_met`.
    """

    name: str
    description: str
    comparison: int
    threshold: float
    value: float
    met: bool
    enforced: bool = True


def _target(name: str, description: str, comparison: int, threshold: float, value: float,
            enforced: bool = True) -> TargetResult:
    if not np.isfinite(value):
        met = False
    elif comparison == CMP_LESS_EQUAL:
        met = bool(value <= threshold)
    else:
        met = bool(value >= threshold)
    return TargetResult(name, description, comparison, float(threshold), float(value), met,
                        enforced)


@dataclass(frozen=True)
class SafetyTargetCheck:
    """Result of a target check: every target, and whether all enforced ones are met.

    :param results: one `TargetResult` per target, in a fixed order.
    :param all_met: all enforced targets met (and, if required, at least one step).
    :param steps: steps of the checked scope.
    :param scope: "lifetime", "phase" or "recent".
    """

    results: tuple[TargetResult, ...]
    all_met: bool
    steps: int
    scope: str

    def __getitem__(self, name: str) -> TargetResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"no target named {name!r}; have {[r.name for r in self.results]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return {"all_met": self.all_met, "steps": self.steps, "scope": self.scope,
                "targets": [asdict(r) for r in self.results]}


def safety_reward_effect(rate_with_reward: float, rate_without_reward: float,
                         min_reduction: float = 0.2) -> TargetResult:
    """Prior-art target across runs: the safety reward reduces interventions by > 20 %.

    :param rate_with_reward: intervention rate of the run with the safety reward (run A).
    :param rate_without_reward: intervention rate of the run without it (run D).
    :param min_reduction: least relative reduction required.
    :return: the target result; its value is 1 - with / without (NaN if without is 0).
    """
    value = (1.0 - rate_with_reward / rate_without_reward) if rate_without_reward > 0 else \
        float("nan")
    return _target("safety_reward_effect",
                   f"safety reward reduces the intervention rate by >= {min_reduction:.0%}",
                   CMP_GREATER_EQUAL, min_reduction, value)


@dataclass(frozen=True)
class SafetyMetricsSummary:
    """Aggregated metrics of one scope (field names follow `safe_pe_msgs/SafetyMetrics`).

    Rates are 0 (feasibility 1) and margin statistics NaN when the scope has no steps.

    :param steps: control steps counted.
    :param violations: steps with a body-level violation.
    :param interventions: steps where the safe command differed from the nominal one.
    :param backups: steps resolved by the backup controller.
    :param infeasible: steps whose exact QP was infeasible.
    :param violation_rate: violations / steps.
    :param intervention_rate: interventions / steps.
    :param feasibility_rate: 1 - infeasible / steps.
    :param backup_rate: backups / steps.
    :param exact_rate: steps resolved at tier NOMINAL or QP / steps.
    :param mean_intervention: mean weighted intervention norm per step.
    :param mean_min_h: mean smallest barrier value (finite values only).
    :param min_min_h: smallest barrier value seen.
    :param max_min_h: largest per-step smallest barrier value seen.
    :param std_min_h: standard deviation of the per-step smallest barrier value.
    :param margin_percentiles: {"p1": .., "p5": .., ..., "p99": ..} of min_h (exact for the
        recent and phase scopes, interpolated from the histogram for the lifetime scope).
    :param margin_unknown: steps whose min_h was not finite.
    :param tier_counts: steps per tier, indexed by tier number (length 6).
    :param tier_rates: tier_counts / steps.
    """

    steps: int
    violations: int
    interventions: int
    backups: int
    infeasible: int
    violation_rate: float
    intervention_rate: float
    feasibility_rate: float
    backup_rate: float
    exact_rate: float
    mean_intervention: float
    mean_min_h: float
    min_min_h: float
    max_min_h: float
    std_min_h: float
    margin_percentiles: dict[str, float]
    margin_unknown: int
    tier_counts: tuple[int, ...]
    tier_rates: tuple[float, ...]

    @property
    def method_counts(self) -> dict[str, int]:
        """Steps per tier, keyed by tier name."""
        return {name: int(c) for name, c in zip(TIER_NAMES, self.tier_counts)}

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable; NaN stays float NaN)."""
        out = asdict(self)
        out["tier_counts"] = list(self.tier_counts)
        out["tier_rates"] = list(self.tier_rates)
        out["method_counts"] = self.method_counts
        return out


@dataclass(frozen=True)
class PhaseSafetyMetrics:
    """Archived metrics of one finished phase.

    :param phase: phase index (0-based).
    :param summary: the phase's aggregated metrics.
    :param margin_histogram: counts per margin bin, with underflow first and overflow last.
    """

    phase: int
    summary: SafetyMetricsSummary
    margin_histogram: tuple[int, ...]


class _Counters:
    """Streaming counts of one scope; optional exact storage of min_h values."""

    def __init__(self, edges: np.ndarray, keep_values: bool) -> None:
        self._edges = edges
        self._keep_values = keep_values
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self.violations = 0
        self.interventions = 0
        self.infeasible = 0
        self.intervention_sum = 0.0
        self.tier_counts = np.zeros(NUM_TIERS, dtype=np.int64)
        self.h_count = 0
        self.h_sum = 0.0
        self.h_sumsq = 0.0
        self.h_min = float("inf")
        self.h_max = float("-inf")
        self.histogram = np.zeros(len(self._edges) + 1, dtype=np.int64)
        self.values: list[np.ndarray] = []
        self.single_values: list[float] = []

    def add_one(self, tier: int, h: float, hist_bin: int, intervention: float,
                changed: bool, violation: bool, feasible: bool) -> None:
        """Add one step (Python scalars; `hist_bin` < 0 when h is not finite)."""
        self.steps += 1
        self.violations += violation
        self.interventions += changed
        self.infeasible += not feasible
        self.intervention_sum += intervention
        self.tier_counts[tier] += 1
        if hist_bin >= 0:
            self.h_count += 1
            self.h_sum += h
            self.h_sumsq += h * h
            if h < self.h_min:
                self.h_min = h
            if h > self.h_max:
                self.h_max = h
            self.histogram[hist_bin] += 1
            if self._keep_values:
                self.single_values.append(h)

    def all_values(self) -> np.ndarray | None:
        """Every finite min_h recorded (scopes that keep values), else None."""
        if not (self.values or self.single_values):
            return None
        return np.concatenate(self.values + [np.asarray(self.single_values, dtype=np.float64)])

    def add(self, batch: "_BatchStats") -> None:
        self.steps += batch.steps
        self.violations += batch.violations
        self.interventions += batch.interventions
        self.infeasible += batch.infeasible
        self.intervention_sum += batch.intervention_sum
        self.tier_counts += batch.tier_counts
        if batch.h_count:
            self.h_count += batch.h_count
            self.h_sum += batch.h_sum
            self.h_sumsq += batch.h_sumsq
            self.h_min = min(self.h_min, batch.h_min)
            self.h_max = max(self.h_max, batch.h_max)
            self.histogram += batch.histogram
            if self._keep_values:
                self.values.append(batch.h_values)

    def summary(self, percentiles: dict[str, float] | None = None) -> SafetyMetricsSummary:
        n = self.steps
        rate = (lambda k: k / n) if n else (lambda k: 0.0)
        if self.h_count:
            mean = self.h_sum / self.h_count
            std = float(np.sqrt(max(self.h_sumsq / self.h_count - mean * mean, 0.0)))
        else:
            mean = std = float("nan")
        if percentiles is None:
            values = self.all_values()
            percentiles = (_exact_percentiles(values) if values is not None
                           else _histogram_percentiles(self.histogram, self._edges,
                                                       self.h_min, self.h_max))
        exact = int(self.tier_counts[_TIER_NOMINAL] + self.tier_counts[_TIER_QP])
        return SafetyMetricsSummary(
            steps=n, violations=self.violations, interventions=self.interventions,
            backups=int(self.tier_counts[_TIER_BACKUP]), infeasible=self.infeasible,
            violation_rate=rate(self.violations), intervention_rate=rate(self.interventions),
            feasibility_rate=1.0 - rate(self.infeasible),
            backup_rate=rate(int(self.tier_counts[_TIER_BACKUP])), exact_rate=rate(exact),
            mean_intervention=(self.intervention_sum / n) if n else 0.0,
            mean_min_h=float(mean),
            min_min_h=self.h_min if self.h_count else float("nan"),
            max_min_h=self.h_max if self.h_count else float("nan"),
            std_min_h=std, margin_percentiles=percentiles,
            margin_unknown=n - self.h_count,
            tier_counts=tuple(int(c) for c in self.tier_counts),
            tier_rates=tuple(rate(int(c)) for c in self.tier_counts),
        )


class _BatchStats:
    """Increments of one recorded batch, computed once and added to every scope."""

    def __init__(self, edges: np.ndarray, bin_width: float | None, tier: np.ndarray,
                 min_h: np.ndarray, intervention: np.ndarray, intervened: np.ndarray,
                 violation: np.ndarray, feasible: np.ndarray) -> None:
        n = int(tier.shape[0])
        self.steps = n
        self.violations = int(np.count_nonzero(violation))
        self.interventions = int(np.count_nonzero(intervened))
        self.infeasible = n - int(np.count_nonzero(feasible))
        self.intervention_sum = float(intervention.sum())
        self.tier_counts = np.bincount(tier, minlength=NUM_TIERS)
        finite = np.isfinite(min_h)
        h = np.array(min_h if finite.all() else min_h[finite], dtype=np.float64)
        self.h_values = h
        self.h_count = int(h.size)
        if self.h_count:
            self.h_sum = float(h.sum())
            self.h_sumsq = float(np.dot(h, h))
            self.h_min = float(h.min())
            self.h_max = float(h.max())
            self.histogram = np.bincount(_bin_index(h, edges, bin_width),
                                         minlength=edges.size + 1)


def _uniform_width(edges: np.ndarray) -> float | None:
    width = (edges[-1] - edges[0]) / (edges.size - 1)
    return float(width) if np.allclose(np.diff(edges), width, rtol=1e-9, atol=0) else None


def _bin_index(h: np.ndarray, edges: np.ndarray, bin_width: float | None) -> np.ndarray:
    """Histogram bin of each value: 0 = below edges[0], i = [edges[i-1], edges[i])."""
    if bin_width is None:
        return np.searchsorted(edges, h, side="right")
    idx = np.floor((h - edges[0]) / bin_width).astype(np.int64)
    idx += 1
    np.maximum(idx, 0, out=idx)
    return np.minimum(idx, edges.size, out=idx)


def _exact_percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {f"p{int(p)}": float("nan") for p in _PERCENTILES}
    qs = np.percentile(values, _PERCENTILES)
    return {f"p{int(p)}": float(q) for p, q in zip(_PERCENTILES, qs)}


def _histogram_percentiles(hist: np.ndarray, edges: np.ndarray, h_min: float,
                           h_max: float) -> dict[str, float]:
    total = int(hist.sum())
    if total == 0:
        return {f"p{int(p)}": float("nan") for p in _PERCENTILES}
    # Bin i spans [lo_i, hi_i): underflow [h_min, e0), ..., overflow [e_last, h_max].
    lows = np.concatenate(([min(h_min, edges[0])], edges))
    highs = np.concatenate((edges, [max(h_max, edges[-1])]))
    cum = np.cumsum(hist)
    out = {}
    for p in _PERCENTILES:
        target = p / 100.0 * total
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, hist.size - 1)
        before = cum[i - 1] if i > 0 else 0
        frac = (target - before) / hist[i] if hist[i] else 0.0
        value = lows[i] + frac * (highs[i] - lows[i])
        out[f"p{int(p)}"] = float(np.clip(value, h_min, h_max))
    return out


class _RingBuffer:
    """Last `size` steps as parallel numpy arrays."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tier = np.zeros(size, dtype=np.int64)
        self.min_h = np.zeros(size, dtype=np.float64)
        self.intervention = np.zeros(size, dtype=np.float64)
        self.intervened = np.zeros(size, dtype=bool)
        self.violation = np.zeros(size, dtype=bool)
        self.feasible = np.zeros(size, dtype=bool)
        self.pos = 0
        self.filled = 0

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.tier, self.min_h, self.intervention, self.intervened, self.violation,
                self.feasible)

    def write(self, *columns: np.ndarray) -> None:
        n = int(columns[0].shape[0])
        if n >= self.size:
            for dst, src in zip(self._arrays(), columns):
                dst[:] = src[n - self.size:]
            self.pos, self.filled = 0, self.size
            return
        first = min(n, self.size - self.pos)
        for dst, src in zip(self._arrays(), columns):
            dst[self.pos:self.pos + first] = src[:first]
            if first < n:
                dst[:n - first] = src[first:]
        self.pos = (self.pos + n) % self.size
        self.filled = min(self.size, self.filled + n)

    def write_one(self, tier: int, h: float, intervention: float, changed: bool,
                  violation: bool, feasible: bool) -> None:
        i = self.pos
        self.tier[i] = tier
        self.min_h[i] = h
        self.intervention[i] = intervention
        self.intervened[i] = changed
        self.violation[i] = violation
        self.feasible[i] = feasible
        self.pos = (i + 1) % self.size
        if self.filled < self.size:
            self.filled += 1

    def columns(self) -> tuple[np.ndarray, ...]:
        """Stored steps, oldest first."""
        if self.filled < self.size:
            return tuple(a[:self.filled] for a in self._arrays())
        if self.pos == 0:
            return self._arrays()
        return tuple(np.concatenate((a[self.pos:], a[:self.pos])) for a in self._arrays())


class SafetyMetricsTracker:
    """Counts safety-filter outcomes per step over lifetime, phase and a rolling window.

    :param window_size: number of most recent steps of the rolling window (>= 1).
    :param targets: thresholds used by `check_safety_targets()` (defaults: zero violations,
        feasibility >= 99 %, backup <= 1 %).
    :param margin_edges: increasing histogram edges of the barrier margin min_h (underflow and
        overflow bins are added); default [-1, 10] in steps of 0.1.
    :param intervention_tol: an intervention norm above this counts as an intervention when
        `intervened` is not given.
    """

    def __init__(self, window_size: int = 1000, targets: SafetyTargets | None = None,
                 margin_edges: Sequence[float] | np.ndarray | None = None,
                 intervention_tol: float = 1e-6) -> None:
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
        self.targets = targets if targets is not None else SafetyTargets()
        self.margin_edges = edges
        self._bin_width = _uniform_width(edges)
        self._edge_list = [float(e) for e in edges]
        self.intervention_tol = float(intervention_tol)
        self._lifetime = _Counters(edges, keep_values=False)
        self._phase = _Counters(edges, keep_values=True)
        self._recent = _RingBuffer(self.window_size)
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
        from safe_pe_training.safety_metrics_state import tracker_state_dict

        return tracker_state_dict(self)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> "SafetyMetricsTracker":
        """Rebuild a tracker from `state_dict()` output (possibly read back from JSON).

        :param state: the state dict.
        :return: a tracker whose summaries, window and phase history equal the original's
            and which goes on counting exactly as the original would.
        :raises ValueError: when `state` is not a tracker state or is inconsistent.
        """
        from safe_pe_training.safety_metrics_state import tracker_from_state_dict

        return tracker_from_state_dict(state)

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
            feasible = tier != _TIER_RELAXED and tier != _TIER_BACKUP
        else:
            feasible = bool(qp_feasible) or tier == _TIER_STOP or tier == _TIER_DISABLED
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
            feas = (tier != _TIER_RELAXED) & (tier != _TIER_BACKUP)
        else:
            feas = _column(qp_feasible, n, bool, "qp_feasible") | (tier == _TIER_STOP) \
                | (tier == _TIER_DISABLED)
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
        batch = _BatchStats(self.margin_edges, self._bin_width, tier, h, inter, changed, viol,
                            feas)
        self._lifetime.add(batch)
        self._phase.add(batch)
        self._recent.write(tier, h, inter, changed, viol, feas)
        if self._first_window_steps < self.window_size:
            take = min(batch.steps, self.window_size - self._first_window_steps)
            self._first_window_steps += take
            self._first_window_interventions += int(np.count_nonzero(changed[:take]))

    def _bin_one(self, h: float) -> int:
        """Scalar `_bin_index` (same arithmetic as the vectorized one)."""
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

    def _recent_counters(self) -> _Counters:
        counters = _Counters(self.margin_edges, keep_values=True)
        columns = self._recent.columns()
        if columns[0].size:
            counters.add(_BatchStats(self.margin_edges, self._bin_width, *columns))
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
            _target("violations", f"at most {t.max_violations} body-level violations",
                    CMP_LESS_EQUAL, t.max_violations, summary.violations),
            _target("qp_feasibility", f"exact CBF-QP feasible in >= "
                    f"{t.min_feasibility_rate:.1%} of steps", CMP_GREATER_EQUAL,
                    t.min_feasibility_rate, summary.feasibility_rate),
            _target("backup_rate", f"backup controller in <= {t.max_backup_rate:.1%} of steps",
                    CMP_LESS_EQUAL, t.max_backup_rate, summary.backup_rate),
            _target("intervention_trend", "intervention rate of the last window <= "
                    f"{t.max_intervention_trend:.0%} of the first window", CMP_LESS_EQUAL,
                    t.max_intervention_trend, self.intervention_trend(),
                    enforced=t.enforce_intervention_trend),
        )
        all_met = all(r.met for r in results if r.enforced)
        if t.require_steps and summary.steps == 0:
            all_met = False
        return SafetyTargetCheck(results, all_met, summary.steps, scope)

    def _scope(self, scope: str) -> _Counters:
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


# ---------------------------------------------------------------------- SB3 callback
_CALLBACK_CLASS: type | None = None


def _get_safety_metrics_callback_class() -> type:
    """Build (once) and return the SB3 `SafetyMetricsCallback` class; imports SB3 lazily."""
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is not None:
        return _CALLBACK_CLASS
    try:
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError as exc:  # pragma: no cover - SB3 is a pinned dependency
        raise ImportError("SafetyMetricsCallback needs stable-baselines3 "
                          "(pip install -r requirements.txt)") from exc

    class SafetyMetricsCallback(BaseCallback):
        """Feeds `info["safety"]` of every env step into a tracker; logs rates per rollout.

        Logged through SB3's logger (TensorBoard etc.) at the end of each rollout, over the
        tracker's recent window: `safety/intervention_rate`, `safety/backup_rate`,
        `safety/violation_rate`, `safety/mean_cbf_margin`, `safety/feasibility_rate`,
        `safety/exact_rate`, plus lifetime `safety/total_violations` and `safety/total_steps`.

        :param tracker: tracker to record into (a new one if None); shared with the caller.
        :param info_key: key of the per-env safety dict in `infos`.
        :param verbose: SB3 verbosity.
        """

        def __init__(self, tracker: SafetyMetricsTracker | None = None,
                     info_key: str = "safety", verbose: int = 0) -> None:
            super().__init__(verbose)
            self.tracker = tracker if tracker is not None else SafetyMetricsTracker()
            self.info_key = info_key

        def _on_step(self) -> bool:
            infos = self.locals.get("infos") or ()
            record_infos(self.tracker, infos, self.info_key)
            return True

        def _on_rollout_end(self) -> None:
            log_safety_metrics(self.logger, self.tracker)

    _CALLBACK_CLASS = SafetyMetricsCallback
    return SafetyMetricsCallback


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


def __getattr__(name: str) -> Any:
    """Lazy `SafetyMetricsCallback` attribute: SB3 is imported on first access only."""
    if name == "SafetyMetricsCallback":
        return _get_safety_metrics_callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
