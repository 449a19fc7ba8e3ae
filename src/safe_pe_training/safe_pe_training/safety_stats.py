"""Safety statistics of filtered control steps: tiers, summaries and streaming counters.

The arithmetic behind `safe_pe_training.safety_tracker.SafetyMetricsTracker`, ROS- and
SB3-free: tier numbers and names, the `SafetyMetricsSummary` of a scope, the streaming
`ScopeCounters` (sums, tier counts, margin histogram), the increments of one recorded batch
(`BatchStats`), and the rolling window (`RingBuffer`).

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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MARGIN_EDGES",
    "NUM_TIERS",
    "TIER_NAMES",
    "BatchStats",
    "PhaseSafetyMetrics",
    "RingBuffer",
    "SafetyMetricsSummary",
    "ScopeCounters",
    "bin_index",
    "tier_index",
    "uniform_width",
]

TIER_NAMES: tuple[str, ...] = ("NOMINAL", "QP", "RELAXED", "BACKUP", "STOP", "DISABLED")
NUM_TIERS = len(TIER_NAMES)
TIER_NOMINAL, TIER_QP, TIER_RELAXED, TIER_BACKUP, TIER_STOP, TIER_DISABLED = range(6)
TIER_ALIASES = {name.lower(): i for i, name in enumerate(TIER_NAMES)}
TIER_ALIASES.update({"exact": TIER_QP, "qp_exact": TIER_QP,
                     "filter_disabled": TIER_DISABLED})

#: Default histogram edges of the barrier margin: [-1, 10] in 0.1 steps (+ under/overflow).
DEFAULT_MARGIN_EDGES = np.round(np.linspace(-1.0, 10.0, 111), 10)
PERCENTILES = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)


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
        if key not in TIER_ALIASES:
            raise ValueError(
                f"unknown resolver tier name {method!r}; use one of {list(TIER_NAMES)}")
        return TIER_ALIASES[key]
    if isinstance(method, (bool, np.bool_)) or not isinstance(method, (int, np.integer)):
        raise ValueError(
            f"resolver tier must be a Tier, an int in [0, {NUM_TIERS - 1}] or a name, "
            f"got {method!r} ({type(method).__name__})")
    value = int(method)
    if not 0 <= value < NUM_TIERS:
        raise ValueError(f"resolver tier {value} out of range [0, {NUM_TIERS - 1}]")
    return value


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


class ScopeCounters:
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

    def add(self, batch: "BatchStats") -> None:
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
            percentiles = (exact_percentiles(values) if values is not None
                           else histogram_percentiles(self.histogram, self._edges,
                                                       self.h_min, self.h_max))
        exact = int(self.tier_counts[TIER_NOMINAL] + self.tier_counts[TIER_QP])
        return SafetyMetricsSummary(
            steps=n, violations=self.violations, interventions=self.interventions,
            backups=int(self.tier_counts[TIER_BACKUP]), infeasible=self.infeasible,
            violation_rate=rate(self.violations), intervention_rate=rate(self.interventions),
            feasibility_rate=1.0 - rate(self.infeasible),
            backup_rate=rate(int(self.tier_counts[TIER_BACKUP])), exact_rate=rate(exact),
            mean_intervention=(self.intervention_sum / n) if n else 0.0,
            mean_min_h=float(mean),
            min_min_h=self.h_min if self.h_count else float("nan"),
            max_min_h=self.h_max if self.h_count else float("nan"),
            std_min_h=std, margin_percentiles=percentiles,
            margin_unknown=n - self.h_count,
            tier_counts=tuple(int(c) for c in self.tier_counts),
            tier_rates=tuple(rate(int(c)) for c in self.tier_counts),
        )


class BatchStats:
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
            self.histogram = np.bincount(bin_index(h, edges, bin_width),
                                         minlength=edges.size + 1)


def uniform_width(edges: np.ndarray) -> float | None:
    width = (edges[-1] - edges[0]) / (edges.size - 1)
    return float(width) if np.allclose(np.diff(edges), width, rtol=1e-9, atol=0) else None


def bin_index(h: np.ndarray, edges: np.ndarray, bin_width: float | None) -> np.ndarray:
    """Histogram bin of each value: 0 = below edges[0], i = [edges[i-1], edges[i])."""
    if bin_width is None:
        return np.searchsorted(edges, h, side="right")
    idx = np.floor((h - edges[0]) / bin_width).astype(np.int64)
    idx += 1
    np.maximum(idx, 0, out=idx)
    return np.minimum(idx, edges.size, out=idx)


def exact_percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {f"p{int(p)}": float("nan") for p in PERCENTILES}
    qs = np.percentile(values, PERCENTILES)
    return {f"p{int(p)}": float(q) for p, q in zip(PERCENTILES, qs)}


def histogram_percentiles(hist: np.ndarray, edges: np.ndarray, h_min: float,
                           h_max: float) -> dict[str, float]:
    total = int(hist.sum())
    if total == 0:
        return {f"p{int(p)}": float("nan") for p in PERCENTILES}
    # Bin i spans [lo_i, hi_i): underflow [h_min, e0), ..., overflow [e_last, h_max].
    lows = np.concatenate(([min(h_min, edges[0])], edges))
    highs = np.concatenate((edges, [max(h_max, edges[-1])]))
    cum = np.cumsum(hist)
    out = {}
    for p in PERCENTILES:
        target = p / 100.0 * total
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, hist.size - 1)
        before = cum[i - 1] if i > 0 else 0
        frac = (target - before) / hist[i] if hist[i] else 0.0
        value = lows[i] + frac * (highs[i] - lows[i])
        out[f"p{int(p)}"] = float(np.clip(value, h_min, h_max))
    return out


class RingBuffer:
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
