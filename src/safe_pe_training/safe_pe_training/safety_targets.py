"""Safety targets: the thresholds a run, a phase or a live graph is checked against.

`SafetyTargets` is the one definition of the thresholds: the training config's
``safety_targets`` section is this dataclass, the tracker checks it, and the metrics node
declares its ``targets.*`` parameters from `TARGET_PARAMS`. A check gives one `TargetResult`
per target (they mirror ``safe_pe_msgs/SafetyTarget``), collected in a `SafetyTargetCheck`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from safe_pe_training.errors import ConfigError

__all__ = [
    "CMP_GREATER_EQUAL",
    "CMP_LESS_EQUAL",
    "TARGET_PARAMS",
    "SafetyTargetCheck",
    "SafetyTargets",
    "TargetResult",
    "safety_reward_effect",
    "target_result",
]

CMP_LESS_EQUAL = 0  # SafetyTarget.CMP_LESS_EQUAL: met when value <= threshold
CMP_GREATER_EQUAL = 1  # SafetyTarget.CMP_GREATER_EQUAL: met when value >= threshold


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
    :param window_size: steps of the tracker's rolling window (the trend's windows).
    :param require_steps: whether a check over zero steps counts as failed (`all_met` False).
    :raises ConfigError: (a ``ValueError``) for a value of the wrong type or out of range.
    """

    max_violations: int = 0
    min_feasibility_rate: float = 0.99
    max_backup_rate: float = 0.01
    max_intervention_trend: float = 0.5
    enforce_intervention_trend: bool = False
    window_size: int = 1000
    require_steps: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "SafetyTargets":
        """Raise `ConfigError` saying what to fix for a bad value; return self."""
        for f in fields(self):
            value = getattr(self, f.name)
            where = f"safety_targets.{f.name}"
            if f.type == "bool":
                _check(isinstance(value, bool), f"{where} must be true or false, got {value!r}")
            elif f.type == "int":
                _check(isinstance(value, int) and not isinstance(value, bool),
                       f"{where} must be an integer, got {value!r}")
            else:
                _check(isinstance(value, (int, float)) and not isinstance(value, bool)
                       and math.isfinite(value), f"{where} must be a finite number, "
                                                 f"got {value!r}")
        _check(self.max_violations >= 0,
               f"safety_targets.max_violations must be >= 0, got {self.max_violations}")
        for name in ("min_feasibility_rate", "max_backup_rate"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0,
                   f"safety_targets.{name} must be a fraction in [0, 1], got {value}")
        _check(self.max_intervention_trend >= 0.0,
               f"safety_targets.max_intervention_trend must be >= 0, "
               f"got {self.max_intervention_trend}")
        _check(self.window_size >= 1,
               f"safety_targets.window_size must be >= 1, got {self.window_size}")
        return self


#: ROS parameter of each target threshold: name -> (description, min, max) (the metrics
#: node declares ``targets.<name>``; the window is its top-level ``window_size``).
TARGET_PARAMS: dict[str, tuple[str, Any, Any]] = {
    "max_violations": ("Most body-level violations allowed.", 0, 1_000_000_000),
    "min_feasibility_rate": ("Least fraction of steps with a feasible exact QP.", 0.0, 1.0),
    "max_backup_rate": ("Largest fraction of steps resolved by the backup tier.", 0.0, 1.0),
    "max_intervention_trend": ("Largest last-window / first-window intervention ratio.",
                               0.0, 1e9),
    "enforce_intervention_trend": ("Count the intervention trend in all targets met.",
                                   None, None),
    "require_steps": ("A check over zero steps counts as failed.", None, None),
}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


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


def target_result(name: str, description: str, comparison: int, threshold: float,
                  value: float, enforced: bool = True) -> TargetResult:
    """A `TargetResult`, met when `value` compares to `threshold` as asked (never for NaN).

    :param name: short identifier.
    :param description: human-readable statement of the target.
    :param comparison: `CMP_LESS_EQUAL` or `CMP_GREATER_EQUAL`.
    :param threshold: the bound.
    :param value: the measured value.
    :param enforced: whether the target counts in `SafetyTargetCheck.all_met`.
    """
    if not math.isfinite(value):
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
    return target_result("safety_reward_effect",
                         f"safety reward reduces the intervention rate by >= "
                         f"{min_reduction:.0%}", CMP_GREATER_EQUAL, min_reduction, value)
