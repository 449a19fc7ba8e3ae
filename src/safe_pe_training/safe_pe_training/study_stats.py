"""Aggregation of a study: mean and 95 % t-interval over seeds, cross-play, the seed's claims.

Pure functions over the JSON files a study writes (``<run>_s<seed>/study_measures.json``,
``crossplay/seed<k>.json``): no simulator, no torch. A value missing in a seed (None / nan)
is left out of that metric; an interval needs two seeds (one seed gives the mean only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from safe_pe_training.artifacts import read_json

__all__ = ["crossplay_world", "Interval", "t_quantile", "mean_interval", "load_study", "METRICS",
           "aggregate_runs", "aggregate_crossplay", "curve_bands", "Claim", "evaluate_claims"]

# two-sided 95 % quantiles t_{0.975, df} of Student's t, df = 1..30
_T975 = (12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851,
         2.364624252, 2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830,
         2.160368656, 2.144786688, 2.131449546, 2.119905299, 2.109815578, 2.100922040,
         2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
         2.059538553, 2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456)
_Z975 = 1.959963985


def t_quantile(df: int) -> float:
    """``t_{0.975, df}`` (exact table to df 30, Cornish-Fisher expansion beyond).

    :param df: degrees of freedom (>= 1)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass(frozen=True)
class Interval:
    """Mean of a metric over seeds with its 95 % t-interval.

    :param mean: mean (nan: no value)
    :param low: lower end (nan: fewer than 2 values)
    :param high: upper end
    :param n: number of values
    """

    mean: float
    low: float
    high: float
    n: int

    def text(self, digits: int = 3) -> str:
        """``mean [low, high]`` (``-`` without values, the mean alone for one value)."""
        if self.n == 0:
            return "-"
        if self.n == 1 or not math.isfinite(self.low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def mean_interval(values: Sequence[float | None]) -> Interval:
    """Mean and 95 % Student-t interval ``mean +- t_{0.975,n-1} s / sqrt(n)``.

    :param values: one value per seed; None and nan are left out
    """
    x = np.array([float(v) for v in values if v is not None and math.isfinite(float(v))])
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = t_quantile(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def load_study(out: str | Path) -> tuple[dict[str, Any], dict[str, dict[int, dict[str, Any]]],
                                          dict[int, list[dict[str, Any]]]]:
    """Read what a study folder holds (tasks not measured yet are absent).

    :param out: the study folder
    :return: ``(study record, measures[run][seed], crossplay matches[seed])``
    """
    out = Path(out)
    record = read_json(out / "study.json")
    measures: dict[str, dict[int, dict[str, Any]]] = {run: {} for run in record["runs"]}
    for run in record["runs"]:
        for seed in record["seeds"]:
            path = out / f"{run}_s{seed}" / "study_measures.json"
            if path.exists():
                measures[run][seed] = read_json(path)
    crossplay = {}
    for seed in record["seeds"]:
        path = out / "crossplay" / f"seed{seed}.json"
        if path.exists():
            crossplay[seed] = read_json(path)["matches"]
    return record, measures, crossplay


def _get(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def get(m: dict[str, Any]) -> Any:
        for key in keys:
            if not isinstance(m, dict) or key not in m:
                return None
            m = m[key]
        return m
    return get


METRICS: tuple[tuple[str, str, Callable[[dict[str, Any]], Any]], ...] = (
    ("pursuer_win", "pursuer capture vs references", _get("pursuer_win")),
    ("evader_win", "evader escape vs references", _get("evader_win")),
    ("mean_win", "mean win rate vs references", _get("mean_win")),
    ("train_violations", "training violations", _get("train", "violations")),
    ("train_violation_rate", "training violation rate", _get("train", "violation_rate")),
    ("intervention_rate", "training intervention rate", _get("train", "intervention_rate")),
    ("backup_rate", "training backup rate", _get("train", "backup_rate")),
    ("feasibility_rate", "QP feasibility", _get("train", "feasibility_rate")),
    ("min_h", "min barrier value (training)", _get("train", "min_min_h")),
    ("eval_violations", "evaluation violation steps", _get("eval_violations")),
    ("eval_intervention_rate", "evaluation intervention rate",
     _get("eval_intervention_rate")),
    ("eval_backup_rate", "evaluation backup rate", _get("eval_backup_rate")),
    ("box_restriction", "box restriction (share of command box removed)",
     _get("box_restriction")),
    ("steps_per_second", "steps/s", _get("steps_per_second")),
    ("wall_time_s", "wall time [s]", _get("wall_time_s")),
)
"""(key, label, getter of one task's measures) of every aggregated metric."""


def aggregate_runs(measures: dict[str, dict[int, dict[str, Any]]]
                   ) -> dict[str, dict[str, Interval]]:
    """Every metric of :data:`METRICS` plus capture per reference, per run over its seeds.

    :param measures: ``measures[run][seed]`` as from :func:`load_study`
    :return: ``{run: {metric key: Interval}}``; reference keys are ``capture:<ref>`` (pursuer)
        and ``caught:<ref>`` (evader)
    """
    out: dict[str, dict[str, Interval]] = {}
    for run, by_seed in measures.items():
        tasks = list(by_seed.values())
        row = {key: mean_interval([get(m) for m in tasks]) for key, _, get in METRICS}
        for side in ("capture", "caught"):
            refs = sorted({ref for m in tasks for ref in (m.get(side) or {})})
            for ref in refs:
                row[f"{side}:{ref}"] = mean_interval([(m.get(side) or {}).get(ref)
                                                      for m in tasks])
        out[run] = row
    return out


def aggregate_crossplay(runs: Sequence[str], crossplay: dict[int, list[dict[str, Any]]]
                        ) -> dict[tuple[str, str], Interval]:
    """Capture rate of every (pursuer run, evader run) pairing over seeds.

    :param runs: run names
    :param crossplay: matches per seed as from :func:`load_study`
    """
    values: dict[tuple[str, str], list[float]] = {(p, e): [] for p in runs for e in runs}
    for matches in crossplay.values():
        for m in matches:
            key = (m["pursuer"], m["evader"])
            if key in values and m.get("capture_rate") is not None:
                values[key].append(float(m["capture_rate"]))
    return {key: mean_interval(v) for key, v in values.items()}


def curve_bands(by_seed: dict[int, dict[str, Any]], key: str, role: str | None = None
                ) -> tuple[np.ndarray, list[Interval]]:
    """A per-phase curve of one run over its seeds: x = env-steps, one interval per phase.

    :param by_seed: ``measures[run]``
    :param key: curve field (``eval_win_rate``, ``intervention_rate``, ...)
    :param role: only the phases that train this role (None: all)
    """
    per_phase: dict[int, list[Any]] = {}
    steps: dict[int, int] = {}
    for m in by_seed.values():
        for rec in m.get("curves") or []:
            if role is not None and rec["role"] != role:
                continue
            per_phase.setdefault(rec["phase"], []).append(rec.get(key))
            steps[rec["phase"]] = int(rec["total_steps"])
    phases = sorted(per_phase)
    return (np.array([steps[p] for p in phases], dtype=np.float64),
            [mean_interval(per_phase[p]) for p in phases])


def _ratios(measures: dict[str, dict[int, dict[str, Any]]], num: str, den: str,
            get: Callable[[dict[str, Any]], Any]) -> list[float]:
    out = []
    for seed in sorted(set(measures.get(num, {})) & set(measures.get(den, {}))):
        a, b = get(measures[num][seed]), get(measures[den][seed])
        if a is not None and b is not None and float(b) > 0:
            out.append(float(a) / float(b))
    return out


@dataclass(frozen=True)
class Claim:
    """One claim of the seed and what the study says about it.

    :param title: the claim
    :param verdict: ``supported``, ``refuted`` or ``not measured``
    :param text: one paragraph with the supporting numbers
    """

    title: str
    verdict: str
    text: str


def evaluate_claims(measures: dict[str, dict[int, dict[str, Any]]],
                    agg: dict[str, dict[str, Interval]]) -> list[Claim]:
    """The seed's claims, each judged on the study's numbers (means over seeds; the
    per-seed ratios' 95 % intervals say how sure).

    :param measures: ``measures[run][seed]``
    :param agg: :func:`aggregate_runs` of them
    """
    claims = []
    # 1. safety costs little performance: A within 10 % of B (and of B in A's world)
    win = _get("mean_win")
    for base in ("B", "B_obstacles"):
        title = f"A performs within 10 % of {base} (mean win rate vs the references)"
        ratio = mean_interval(_ratios(measures, "A", base, win))
        if ratio.n == 0:
            claims.append(Claim(title, "not measured", f"The study has no seed with both A and "
                                f"{base} measured (or {base} never wins)."))
            continue
        verdict = "supported" if ratio.mean >= 0.9 else "refuted"
        claims.append(Claim(title, verdict, (
            f"A's mean win rate against the scripted references is "
            f"{agg['A']['mean_win'].text()} against {base}'s {agg[base]['mean_win'].text()} "
            f"(mean [95 % interval] over seeds). Per seed, A reaches {ratio.text()} of "
            f"{base}'s win rate ({ratio.n} seeds); the claim needs >= 0.90. "
            + ("The interval's lower end also clears 0.90." if ratio.n > 1 and
               ratio.low >= 0.9 else "The interval does not exclude the other verdict."
               if ratio.n > 1 else "One seed gives no interval."))))
    # 2. w5 cuts interventions by > 20 % (A vs D): interventions and the box restriction
    title = "The safety reward w5 cuts interventions by > 20 % (A vs D)"
    parts, verdicts = [], []
    for key, label in (("intervention_rate", "training intervention rate"),
                       ("box_restriction", "box restriction")):
        ratio = mean_interval(_ratios(measures, "A", "D", _get(*(
            ("train", key) if key == "intervention_rate" else (key,)))))
        if ratio.n == 0:
            parts.append(f"The {label} cannot decide it (D's is 0 or missing"
                         + (": for Beta runs it is 0 by construction)." if key ==
                            "intervention_rate" else ")."))
            continue
        cut = Interval(1 - ratio.mean, 1 - ratio.high, 1 - ratio.low, ratio.n)
        verdicts.append(cut.mean > 0.2)
        parts.append(f"The {label} is {agg['A'][key].text()} for A and "
                     f"{agg['D'][key].text()} for D: w5 cuts it by {cut.text()} per seed.")
    verdict = "not measured" if not verdicts else ("supported" if verdicts[-1] else "refuted")
    claims.append(Claim(title, verdict, " ".join(parts) + (
        " The verdict follows the box restriction (it is defined for every CBF run)."
        if verdicts else "")))
    # 3. safe runs never violate
    safe = [run for run, by_seed in measures.items() if by_seed and
            all(m.get("use_cbf") for m in by_seed.values())]
    title = "Runs with the CBF filter have 0 violations (training and evaluation)"
    if not safe:
        claims.append(Claim(title, "not measured", "The study has no run with the filter."))
    else:
        counts = {run: (sum(int(m["train"]["violations"] or 0) for m in measures[run].values()),
                        sum(int(m["eval_violations"]) for m in measures[run].values()))
                  for run in safe}
        bad = [run for run, (t, e) in counts.items() if t or e]
        unsafe = {run: sum(int(m["train"]["violations"] or 0) for m in by_seed.values())
                  for run, by_seed in measures.items() if run not in safe and by_seed}
        claims.append(Claim(title, "refuted" if bad else "supported", (
            "Violation steps summed over seeds (training / evaluation): "
            + ", ".join(f"{run} {t} / {e}" for run, (t, e) in counts.items()) + ". "
            + (f"Runs without the filter for contrast (training): "
               + ", ".join(f"{run} {v}" for run, v in unsafe.items()) + "." if unsafe
               else ""))))
    return claims


def crossplay_world(record: dict[str, Any]) -> str:
    """The run whose world (game and filter) every cross-play match is played in: ``A`` if
    the study has it, else its first run with the CBF filter (Beta policies need the safe
    box), else its first run.

    :param record: ``study.json`` content
    """
    runs = record["runs"]
    if "A" in runs:
        return "A"
    filtered = [r for r in runs if record["configs"][r]["use_cbf"]]
    return filtered[0] if filtered else runs[0]
