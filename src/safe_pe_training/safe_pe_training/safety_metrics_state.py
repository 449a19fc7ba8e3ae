"""Plain (JSON-able) state of a `SafetyMetricsTracker`, and the tracker rebuilt from it.

`SafetyMetricsTracker.state_dict()` and `SafetyMetricsTracker.from_state_dict()` delegate here
(kept apart so that `safety_tracker.py` stays readable in one sitting; this module reads the
tracker's attributes but does not import it, so the two form no import circle). The state
holds only dicts, lists, str, int, float and bool, so it can be written with strict JSON:
non-finite floats (an empty scope's `inf` minimum, NaN margins) are written as the strings
"nan", "inf", "-inf", and every finite float is kept exactly (JSON writes the shortest repr,
which reads back to the same float).

Layout (format `safe_pe_safety_tracker/1`)::

    {"format", "window_size", "margin_edges", "intervention_tol", "targets",
     "lifetime": counters, "phase": counters,        # running sums, histogram, tier counts
     "recent": {column: [values, oldest first]},     # the rolling window
     "first_window_steps", "first_window_interventions",
     "phase_history": [{"phase", "summary", "margin_histogram"}]}

The phase counters keep every finite min_h of the current phase (its percentiles are exact),
so the state grows with the phase length; the trainer saves it right after `end_phase()`,
when that list is empty.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any, Mapping

import numpy as np

from safe_pe_training.safety_stats import PhaseSafetyMetrics, SafetyMetricsSummary, \
    ScopeCounters
from safe_pe_training.safety_targets import SafetyTargets

__all__ = ["TRACKER_STATE_FORMAT", "restore_tracker", "tracker_settings", "tracker_state_dict"]

TRACKER_STATE_FORMAT = "safe_pe_safety_tracker/1"

_COUNTER_INTS = ("steps", "violations", "interventions", "infeasible", "h_count")
_COUNTER_FLOATS = ("intervention_sum", "h_sum", "h_sumsq", "h_min", "h_max")
_RING_COLUMNS = (("tier", np.int64), ("min_h", np.float64), ("intervention", np.float64),
                 ("intervened", bool), ("violation", bool), ("feasible", bool))


def _enc(value: float) -> float | str:
    """A float as JSON-able data: finite as is, NaN/inf as "nan"/"inf"/"-inf"."""
    value = float(value)
    return value if math.isfinite(value) else repr(value)


def _dec(value: Any, name: str) -> float:
    """Inverse of `_enc` (also accepts ints)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"tracker state: {name} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise ValueError(f"tracker state: {name} is not a number: {value!r}") from exc


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"tracker state: {name} must be an int >= 0, got {value!r}")
    return value


def _counts(value: Any, size: int, name: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != size:
        raise ValueError(f"tracker state: {name} must be a list of {size} counts")
    return np.array([_int(v, name) for v in value], dtype=np.int64)


def _counters_state(counters: ScopeCounters) -> dict[str, Any]:
    out: dict[str, Any] = {k: int(getattr(counters, k)) for k in _COUNTER_INTS}
    out.update({k: _enc(getattr(counters, k)) for k in _COUNTER_FLOATS})
    out["tier_counts"] = [int(c) for c in counters.tier_counts]
    out["histogram"] = [int(c) for c in counters.histogram]
    values = counters.all_values()
    out["values"] = [] if values is None else [float(v) for v in values]  # finite only
    return out


def _load_counters(counters: ScopeCounters, state: Any, name: str) -> None:
    if not isinstance(state, Mapping):
        raise ValueError(f"tracker state: {name} must be a dict")
    try:
        for key in _COUNTER_INTS:
            setattr(counters, key, _int(state[key], f"{name}.{key}"))
        for key in _COUNTER_FLOATS:
            setattr(counters, key, _dec(state[key], f"{name}.{key}"))
        counters.tier_counts = _counts(state["tier_counts"], counters.tier_counts.size,
                                       f"{name}.tier_counts")
        counters.histogram = _counts(state["histogram"], counters.histogram.size,
                                     f"{name}.histogram")
        values = state["values"]
    except KeyError as exc:
        raise ValueError(f"tracker state: {name} lacks {exc.args[0]!r}") from exc
    if not isinstance(values, list):
        raise ValueError(f"tracker state: {name}.values must be a list")
    counters.values = []
    counters.single_values = []
    if values:
        if not counters._keep_values:
            raise ValueError(f"tracker state: {name} keeps no min_h values")
        counters.values.append(np.array([_dec(v, f"{name}.values") for v in values],
                                        dtype=np.float64))


def _summary_state(summary: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in asdict(summary).items():
        if isinstance(value, dict):
            out[key] = {k: _enc(v) for k, v in value.items()}
        elif isinstance(value, (tuple, list)):
            out[key] = [v if isinstance(v, int) else _enc(v) for v in value]
        elif isinstance(value, float):
            out[key] = _enc(value)
        else:
            out[key] = value
    return out


def _load_summary(state: Any, name: str) -> SafetyMetricsSummary:
    if not isinstance(state, Mapping):
        raise ValueError(f"tracker state: {name} must be a dict")
    kwargs: dict[str, Any] = {}
    for field in fields(SafetyMetricsSummary):
        if field.name not in state:
            raise ValueError(f"tracker state: {name} lacks {field.name!r}")
        value, where = state[field.name], f"{name}.{field.name}"
        kind = str(field.type)
        if kind == "int":
            kwargs[field.name] = _int(value, where)
        elif kind == "float":
            kwargs[field.name] = _dec(value, where)
        elif kind.startswith("dict"):
            if not isinstance(value, Mapping):
                raise ValueError(f"tracker state: {where} must be a dict")
            kwargs[field.name] = {str(k): _dec(v, where) for k, v in value.items()}
        elif kind == "tuple[int, ...]":
            kwargs[field.name] = tuple(_int(v, where) for v in value)
        else:  # tuple[float, ...]
            kwargs[field.name] = tuple(_dec(v, where) for v in value)
    return SafetyMetricsSummary(**kwargs)


def tracker_state_dict(tracker: Any) -> dict[str, Any]:
    """Everything `tracker` has recorded and its configuration, as JSON-able data.

    :param tracker: the tracker to describe (not modified).
    :return: the state (see the module docstring for its layout).
    """
    columns = tracker._recent.columns()
    recent: dict[str, list[Any]] = {}
    for (key, dtype), column in zip(_RING_COLUMNS, columns):
        if dtype is np.float64:
            recent[key] = [_enc(v) for v in column.tolist()]
        else:
            recent[key] = column.tolist()
    return {
        "format": TRACKER_STATE_FORMAT,
        "window_size": tracker.window_size,
        "margin_edges": [float(e) for e in tracker.margin_edges],
        "intervention_tol": tracker.intervention_tol,
        "targets": asdict(tracker.targets),
        "lifetime": _counters_state(tracker._lifetime),
        "phase": _counters_state(tracker._phase),
        "recent": recent,
        "first_window_steps": int(tracker._first_window_steps),
        "first_window_interventions": int(tracker._first_window_interventions),
        "phase_history": [
            {"phase": p.phase, "summary": _summary_state(p.summary),
             "margin_histogram": [int(c) for c in p.margin_histogram]}
            for p in tracker.phase_history
        ],
    }


def tracker_settings(state: Any) -> dict[str, Any]:
    """The constructor arguments of the tracker a state was taken from.

    :param state: a dict from :func:`tracker_state_dict` (possibly through JSON).
    :return: ``window_size``, ``targets``, ``margin_edges`` and ``intervention_tol``.
    :raises ValueError: when `state` is not a tracker state.
    """
    if not isinstance(state, Mapping) or state.get("format") != TRACKER_STATE_FORMAT:
        found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"not a {TRACKER_STATE_FORMAT} tracker state (format {found!r})")
    try:
        return {"window_size": _int(state["window_size"], "window_size"),
                "targets": SafetyTargets(**state["targets"]),
                "margin_edges": [_dec(e, "margin_edges") for e in state["margin_edges"]],
                "intervention_tol": _dec(state["intervention_tol"], "intervention_tol")}
    except KeyError as exc:
        raise ValueError(f"tracker state lacks {exc.args[0]!r}") from exc
    except TypeError as exc:
        raise ValueError(f"tracker state is malformed: {exc}") from exc


def restore_tracker(tracker: Any, state: Mapping[str, Any]) -> None:
    """Load everything a state recorded into a fresh tracker built from its settings.

    :param tracker: ``SafetyMetricsTracker(**tracker_settings(state))``, nothing recorded yet.
    :param state: the state dict (checked by :func:`tracker_settings`).
    :raises ValueError: when `state` is inconsistent.
    """
    try:
        _load_counters(tracker._lifetime, state["lifetime"], "lifetime")
        _load_counters(tracker._phase, state["phase"], "phase")
        recent = state["recent"]
        first_steps = _int(state["first_window_steps"], "first_window_steps")
        first_inter = _int(state["first_window_interventions"], "first_window_interventions")
        history = state["phase_history"]
    except KeyError as exc:
        raise ValueError(f"tracker state lacks {exc.args[0]!r}") from exc
    except TypeError as exc:
        raise ValueError(f"tracker state is malformed: {exc}") from exc
    ring = tracker._recent
    if not isinstance(recent, Mapping):
        raise ValueError("tracker state: recent must be a dict of columns")
    lengths = {len(recent.get(key) or ()) for key, _ in _RING_COLUMNS}
    filled = lengths.pop() if len(lengths) == 1 else -1
    if not 0 <= filled <= ring.size:
        raise ValueError(f"tracker state: recent columns must have one common length "
                         f"<= window_size {ring.size}")
    for (key, dtype), dst in zip(_RING_COLUMNS, ring._arrays()):
        values = recent[key]
        if dtype is np.float64:
            values = [_dec(v, f"recent.{key}") for v in values]
        dst[:filled] = np.array(values, dtype=dtype)
    ring.filled, ring.pos = filled, filled % ring.size
    if first_steps > tracker.window_size or first_inter > first_steps:
        raise ValueError("tracker state: first-window counters out of range")
    tracker._first_window_steps, tracker._first_window_interventions = first_steps, first_inter
    if not isinstance(history, list):
        raise ValueError("tracker state: phase_history must be a list")
    for k, item in enumerate(history):
        if not isinstance(item, Mapping) or item.get("phase") != k:
            raise ValueError(f"tracker state: phase_history[{k}] is not phase {k}")
        hist = _counts(item.get("margin_histogram"), tracker.margin_edges.size + 1,
                       f"phase_history[{k}].margin_histogram")
        tracker.phase_history.append(PhaseSafetyMetrics(
            phase=k, summary=_load_summary(item.get("summary"), f"phase_history[{k}].summary"),
            margin_histogram=tuple(int(c) for c in hist)))
