"""Estimate a base's acceleration limits and command latency from a recorded run (no ROS).

Input: the commanded and the measured (odometry) velocities of one robot at the odometry
times, the commands as a zero-order hold (the command in force at each odometry time). The
model is :mod:`safe_pe_cbf.actuator`: the velocity held for sample ``k`` is
``ramp(v[k-1], cmd[k - lag])``, moving toward the command by at most ``accel * h``
(``decel * h`` while |v| falls, ``angular_accel * h`` for omega) over the interval ``h``.

1. **Latency**: for each candidate lag (0 .. the bound, in samples) the limits are estimated
   as below and the model predicts every sample one step ahead from the measured previous
   one; the lag with the least squared prediction error (each axis scaled by its noise)
   wins. Lag 0 means the first odometry after a command already follows it. In seconds the
   latency is ``lag * median sample interval``; in control periods it is rounded up (less
   :data:`PERIOD_SLACK` of a period, the sample timing jitter).
2. **Limits**: a sample is *saturated* when it asked for more change than the limit allows
   in one interval: then the velocity moved at the limit. A first pass takes the samples
   still short of the command (by more than the threshold) after the sample; the second
   pass, with that estimate, the samples that asked for more than ``limit * h`` plus twice
   the noise (chosen on the state before the sample, so the noise of the sample itself does
   not bias the choice). Consecutive saturated samples of one direction form a ramp; its
   least-squares slope measures the limit, and the limit is the **median** of the ramps'
   slopes weighted by their precision (noise, symmetric, does not bias a median; a high
   percentile it would). Ramps slower than 0.3 x the 90th percentile are left out (a base
   that never reaches its command). A linear sign change counts as braking (the model
   brakes to zero at ``linear_decel`` first).
3. **Noise**: the standard deviation of each measured velocity is estimated from the median
   absolute second difference (ramps and holds have none); the threshold is
   ``max(4 sigma, 2 % of the command range)``.

A recording that cannot support an estimate raises :class:`ExcitationError` saying which
manoeuvre to record; bad arrays raise :class:`RecordingError`. ``docs/actuation_id.md``
explains how to record a run, :mod:`safe_pe_training.actuator_log` reads CSV files and
MCAP bags, and ``safe_pe_train identify`` prints the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from safe_pe_cbf.actuator import MAX_LATENCY_STEPS, ActuatorLimits, ramp_axis
from safe_pe_cbf.jit import njit

__all__ = ["IdentificationError", "RecordingError", "ExcitationError", "LimitEstimate",
           "ActuatorEstimate", "identify", "MIN_SAMPLES", "MIN_SUPPORT", "MANOEUVRES",
           "LAG_TOLERANCE", "PERIOD_SLACK", "PLATEAU_FRACTION"]

#: fewest samples accepted in a recording
MIN_SAMPLES = 20
#: fewest saturated samples that support an estimate; fewer gives a warning
MIN_SUPPORT = 10
#: ramps slower than this fraction of the (weighted) 90th percentile of the ramps are left out
PLATEAU_FRACTION = 0.3
#: lags whose prediction cost is within this factor of the best (plus a little for noise)
#: fit "almost equally"
LAG_TOLERANCE = 1.02
#: fraction of a control period by which a latency may exceed whole periods (sample jitter)
PERIOD_SLACK = 0.05
#: what to record for each limit (quoted by :class:`ExcitationError`)
MANOEUVRES = {
    "linear_accel": "step the linear command from 0 to v_max (angular 0) and hold it until "
                    "the odometry reaches it",
    "linear_decel": "brake from speed: step the linear command from v_max to 0 and hold it "
                    "until the base stands still",
    "angular_accel": "step the angular command from 0 to +omega_max, then to -omega_max, "
                     "then to 0 (linear 0), holding each until the odometry reaches it",
    "latency": "step the commands (any of the above): a recording whose commands never change "
               "shows no delay",
}


class IdentificationError(ValueError):
    """The limits cannot be estimated from this recording (the message says why)."""


class RecordingError(IdentificationError):
    """The recording is unusable: empty, too short, NaN, times not increasing, bad file."""


class ExcitationError(IdentificationError):
    """The recording lacks a manoeuvre that an estimate needs.

    :param missing: the estimates that cannot be made (keys of :data:`MANOEUVRES`)
    :param detail: why, per estimate
    """

    def __init__(self, missing: list[str], detail: dict[str, str]) -> None:
        self.missing = list(missing)
        lines = [f"- {name}: {detail[name]}; record: {MANOEUVRES[name]}" for name in missing]
        super().__init__("the recording cannot support every estimate:\n" + "\n".join(lines))


@dataclass
class LimitEstimate:
    """One estimated limit and what supports it.

    :param name: ``linear_accel``, ``linear_decel`` or ``angular_accel``
    :param value: the limit [m/s^2 or rad/s^2]; 0 = no limit seen (steps done in one sample)
    :param samples: saturated samples whose median gave ``value``
    :param excited: samples that asked for a change in this direction
    :param spread: inter-quartile range of the saturated samples' rates (noise and model error)
    :param note: how to read it (empty when nothing is remarkable)
    """

    name: str
    value: float
    samples: int
    excited: int
    spread: float
    note: str = ""


@dataclass
class ActuatorEstimate:
    """What :func:`identify` found.

    :param linear_accel: growth limit of |v|
    :param linear_decel: braking limit of |v|
    :param angular_accel: limit of |d omega / dt|
    :param latency_s: command latency beyond the first odometry sample [s]
    :param latency_samples: the same in odometry samples (the best lag)
    :param latency_steps: the latency in control periods, rounded up
    :param control_dt: the control period used for ``latency_steps`` [s]
    :param sample_dt: the median odometry interval [s]
    :param noise: estimated standard deviation of the measured (v, omega)
    :param lag_costs: prediction cost of every candidate lag (the best is the smallest)
    :param latency_span: the shortest and longest latency [s] whose lag fits almost as well
        as the best (cost within :data:`LAG_TOLERANCE` of it)
    :param warnings: caveats about the estimate (empty when it is well supported)
    """

    linear_accel: LimitEstimate
    linear_decel: LimitEstimate
    angular_accel: LimitEstimate
    latency_s: float
    latency_samples: int
    latency_steps: int
    control_dt: float
    sample_dt: float
    noise: tuple[float, float]
    lag_costs: list[float]
    latency_span: tuple[float, float]
    warnings: list[str] = field(default_factory=list)

    def limits(self) -> ActuatorLimits:
        """The estimate as :class:`ActuatorLimits` for the config: 3 significant digits, the
        braking limit rounded down (the filter assumes the base brakes at least this hard)."""
        return ActuatorLimits(
            linear_accel=_round3(self.linear_accel.value),
            linear_decel=_round3(self.linear_decel.value, down=True),
            angular_accel=_round3(self.angular_accel.value),
            latency_steps=self.latency_steps)

    def to_yaml(self) -> str:
        """The ``actuator:`` block to paste into a robot profile or filter parameters."""
        lim = self.limits()
        return ("actuator:\n"
                f"  linear_accel: {lim.linear_accel:<7g}  # m/s^2\n"
                f"  linear_decel: {lim.linear_decel:<7g}  # m/s^2 (braking)\n"
                f"  angular_accel: {lim.angular_accel:<6g}  # rad/s^2\n"
                f"  latency_steps: {lim.latency_steps:<6d}  # control periods of "
                f"{self.control_dt:g} s ({self.latency_s:.3f} s measured, rounded up)\n")

    def summary(self) -> str:
        """A human-readable report: every estimate, its support, the latency fit, warnings."""
        lines = [f"samples every {self.sample_dt:.4g} s; noise sigma v {self.noise[0]:.3g} m/s, "
                 f"omega {self.noise[1]:.3g} rad/s"]
        for est, unit in ((self.linear_accel, "m/s^2"), (self.linear_decel, "m/s^2"),
                          (self.angular_accel, "rad/s^2")):
            lines.append(f"{est.name:14s} {est.value:8.3f} {unit:7s} from {est.samples} "
                         f"saturated of {est.excited} excited samples, IQR {est.spread:.3g}"
                         + (f" ({est.note})" if est.note else ""))
        costs = sorted(self.lag_costs)
        ratio = costs[1] / costs[0] if len(costs) > 1 and costs[0] > 0 else math.inf
        lines.append(f"{'latency':14s} {self.latency_s:8.3f} s       = {self.latency_samples} "
                     f"sample(s) -> {self.latency_steps} control period(s) of "
                     f"{self.control_dt:g} s")
        lines.append(f"{'':14s} fits from {self.latency_span[0]:.3f} to "
                     f"{self.latency_span[1]:.3f} s; the next best lag costs {ratio:.3g} x")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _round3(value: float, down: bool = False) -> float:
    """``value`` to 3 significant digits (rounded down with ``down``); 0 stays 0."""
    if value <= 0:
        return 0.0
    unit = 10.0 ** (math.floor(math.log10(value)) - 2)
    scaled = value / unit
    return float(f"{(math.floor(scaled + 1e-9) if down else round(scaled)) * unit:.3g}")


def _periods(seconds: float, dt: float) -> int:
    """``seconds`` rounded up to whole periods ``dt``; up to :data:`PERIOD_SLACK` of a period
    over a whole number is the timing jitter of the samples, not another period."""
    return max(0, int(math.ceil(seconds / dt - PERIOD_SLACK)))


def _check(t: np.ndarray, arrays: dict[str, np.ndarray], dt: float | None) -> None:
    n = t.size
    for name, arr in {"t": t, **arrays}.items():
        if arr.ndim != 1 or arr.size != n:
            raise RecordingError(f"{name} must be a 1-D array as long as t ({n}), got shape "
                                 f"{arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise RecordingError(f"{name}[{bad}] is {arr[bad]}: the recording has NaN/inf; "
                                 "drop those rows or record again")
    if n < MIN_SAMPLES:
        raise RecordingError(f"{n} samples: a recording needs at least {MIN_SAMPLES} (a few "
                             "seconds of step commands; see docs/actuation_id.md)")
    if np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise RecordingError(f"t must increase strictly: t[{bad + 1}] = {t[bad + 1]} after "
                             f"t[{bad}] = {t[bad]}; sort the rows or drop duplicates")
    if dt is not None and not (math.isfinite(dt) and 0.0 < dt <= 10.0):
        raise RecordingError(f"dt = {dt!r} must be the control period in seconds, in (0, 10]")


def _noise(x: np.ndarray) -> float:
    """Standard deviation of white noise on ``x`` (robust: ramps and steps are rare outliers)."""
    d2 = np.diff(x, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def _saturated(v0: np.ndarray, v1: np.ndarray, c: np.ndarray, thr: float, linear: bool
               ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per limit of one axis, per sample: whether it asked for such a change (by more than
    ``thr``), the change it asked for (``room``), whether the velocity was still short of
    the command after it, and the sign that makes the change positive."""
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    if linear:
        rest = np.abs(v0) <= thr
        room = np.abs(c) - np.abs(v0)
        grow = (rest | (c * v0 > 0)) & (room > thr)
        short = (np.abs(c) - np.abs(v1) > thr) & (rest | (v1 * c > 0))
        out["linear_accel"] = (grow, room, short, np.sign(c))
        target = np.where(c * v0 > 0, c, 0.0)
        room = np.abs(v0) - np.abs(target)
        fall = ~rest & (room > thr)
        short = (np.abs(v1) - np.abs(target) > thr) & (v1 * v0 > 0)
        out["linear_decel"] = (fall, room, short, -np.sign(v0))
    else:
        room = np.abs(c - v0)
        short = (c - v1) * np.sign(c - v0) > thr
        out["angular_accel"] = (room > thr, room, short, np.sign(c - v0))
    return out


def _segment_slopes(mask: np.ndarray, sign: np.ndarray, t: np.ndarray, v: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares slope of ``sign * v`` over each run of consecutive saturated samples
    of one sign (sample ``j`` spans points ``j`` and ``j + 1`` of ``t``, ``v``), its
    precision weight (the spread of the run's times) and its number of samples."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)
    breaks = np.flatnonzero((np.diff(idx) != 1) | (np.diff(sign[idx]) != 0)) + 1
    slopes, weights, counts = [], [], []
    for run in np.split(idx, breaks):
        tt = t[run[0]:run[-1] + 2]
        vv = v[run[0]:run[-1] + 2] * sign[run[0]]
        dt_ = tt - tt.mean()
        weights.append(float(np.sum(dt_ ** 2)))
        slopes.append(float(np.sum(dt_ * (vv - vv.mean())) / weights[-1]))
        counts.append(run.size)
    return np.array(slopes), np.array(weights), np.array(counts)


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    cum = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cum, q * cum[-1])])


def _limit(name: str, slopes: np.ndarray, weights: np.ndarray, counts: np.ndarray,
           excited: int, largest: float, h: float, scale: float) -> tuple[LimitEstimate, str]:
    """One limit from its ramps' slopes; the second item is why it failed ('' if not)."""
    if excited == 0:
        return LimitEstimate(name, 0.0, 0, 0, 0.0), "no sample asked for such a change"
    if slopes.size:
        keep = slopes >= PLATEAU_FRACTION * _weighted_quantile(slopes, weights, 0.9)
        value = _weighted_quantile(slopes[keep], weights[keep], 0.5) if keep.any() else 0.0
        if value > 0:
            spread = (_weighted_quantile(slopes[keep], weights[keep], 0.75)
                      - _weighted_quantile(slopes[keep], weights[keep], 0.25))
            note = ""
            if counts[keep].sum() < 0.5 * counts.sum():
                note = (f"{counts[~keep].sum()} of {counts.sum()} saturated samples barely "
                        "moved: does the command exceed what the base can do?")
            return LimitEstimate(name, value, int(counts[keep].sum()), excited, spread,
                                 note), ""
    if largest >= 0.5 * scale:
        return LimitEstimate(
            name, 0.0, 0, excited, 0.0,
            f"no limit seen: a change of {largest:.3g} took one sample, "
            f">= {largest / h:.3g} per second"), ""
    return (LimitEstimate(name, 0.0, 0, excited, 0.0),
            f"every change (at most {largest:.3g}) was done within one sample; steps of at "
            f"least half the range ({0.5 * scale:.3g}) show whether there is a limit")


@njit(cache=True)
def _predict(v0: np.ndarray, cmd: np.ndarray, h: np.ndarray, accel: float,
             decel: float) -> np.ndarray:
    """The model's one-step prediction of every sample from the measured previous one."""
    out = np.empty(v0.size)
    for i in range(v0.size):
        out[i] = ramp_axis(v0[i], cmd[i], h[i], accel, decel)
    return out


def _fit(lag: int, first: int, t: np.ndarray, cmd: tuple[np.ndarray, np.ndarray],
         meas: tuple[np.ndarray, np.ndarray], thr: tuple[float, float],
         scale: tuple[float, float], sigma: tuple[float, float]
         ) -> tuple[dict[str, LimitEstimate], dict[str, str], float]:
    """Limits at one lag (and why any is missing) and the model's one-step prediction cost
    over samples ``first..`` (each axis divided by its noise variance ``sigma**2``)."""
    h = np.diff(t)[first - 1:]
    h_med = float(np.median(h))
    ests: dict[str, LimitEstimate] = {}
    why: dict[str, str] = {}
    cost = 0.0
    for axis, linear in ((0, True), (1, False)):
        c = cmd[axis][first - lag:cmd[axis].size - lag]
        v0, v1 = meas[axis][first - 1:-1], meas[axis][first:]
        tt, vv = t[first - 1:], meas[axis][first - 1:]
        for name, (asked, room, short, sign) in _saturated(v0, v1, c, thr[axis],
                                                           linear).items():
            excited = int(asked.sum())
            largest = float(np.max(room[asked], initial=0.0))
            # pass 1: still short of the command after the sample (selects on its noise)
            slopes, weights, counts = _segment_slopes(asked & short, sign, tt, vv)
            ests[name], reason = _limit(name, slopes, weights, counts, excited, largest,
                                        h_med, scale[axis])
            if ests[name].value > 0:
                # pass 2: asked for more than a full period at that limit (unbiased)
                full = asked & (room > ests[name].value * h + 2.0 * sigma[axis])
                if full.any():
                    slopes, weights, counts = _segment_slopes(full, sign, tt, vv)
                    second, why2 = _limit(name, slopes, weights, counts, excited, largest,
                                          h_med, scale[axis])
                    if second.value > 0:
                        ests[name], reason = second, why2
            if reason:
                why[name] = reason
        if linear:
            acc, dec = ests["linear_accel"].value, ests["linear_decel"].value
        else:
            acc = dec = ests["angular_accel"].value
        pred = _predict(v0, c, h, acc, dec)
        cost += float(np.sum((pred - v1) ** 2)) / sigma[axis] ** 2
    return ests, why, cost


def identify(t: np.ndarray, v_cmd: np.ndarray, w_cmd: np.ndarray, v_meas: np.ndarray,
             w_meas: np.ndarray, dt: float | None = None,
             max_latency_steps: int = MAX_LATENCY_STEPS) -> ActuatorEstimate:
    """Estimate the acceleration limits and the command latency of a recorded run.

    :param t: odometry times [s], strictly increasing
    :param v_cmd: linear command in force at each time (zero-order hold) [m/s]
    :param w_cmd: angular command in force at each time [rad/s]
    :param v_meas: measured linear velocity (odometry twist) [m/s]
    :param w_meas: measured angular velocity [rad/s]
    :param dt: the control period the latency is rounded up to (the filter's ``cbf.dt``);
        default: the median sample interval
    :param max_latency_steps: longest latency searched [control periods]
    :raises RecordingError: bad arrays (shape, NaN, too short, times not increasing)
    :raises ExcitationError: a limit or the latency cannot be estimated (says what to record)
    """
    try:
        t, v_cmd, w_cmd, v_meas, w_meas = (np.asarray(a, dtype=float)
                                           for a in (t, v_cmd, w_cmd, v_meas, w_meas))
    except (TypeError, ValueError) as exc:
        raise RecordingError(f"the recording must be numbers: {exc}") from exc
    if isinstance(max_latency_steps, bool) or not isinstance(max_latency_steps, int) \
            or not 0 <= max_latency_steps <= MAX_LATENCY_STEPS:
        raise RecordingError(f"max_latency_steps = {max_latency_steps!r} must be an integer "
                             f"in [0, {MAX_LATENCY_STEPS}]")
    _check(t, {"v_cmd": v_cmd, "w_cmd": w_cmd, "v_meas": v_meas, "w_meas": w_meas}, dt)
    h_med = float(np.median(np.diff(t)))
    control_dt = h_med if dt is None else float(dt)
    max_lag = int(math.ceil(max_latency_steps * control_dt / h_med - 1e-9))
    first = max_lag + 1
    if t.size - first < MIN_SAMPLES:
        raise RecordingError(f"{t.size} samples leave {t.size - first} after the longest "
                             f"latency searched ({max_lag} samples): record longer, or lower "
                             "max_latency_steps")
    if np.ptp(v_cmd) == 0 and np.ptp(w_cmd) == 0:
        raise ExcitationError(["linear_accel", "linear_decel", "angular_accel", "latency"],
                              dict.fromkeys(MANOEUVRES, "the commands never change"))
    sigma = (_noise(v_meas), _noise(w_meas))
    scale = tuple(float(np.percentile(np.abs(c), 95)) or float(np.max(np.abs(c))) or 1.0
                  for c in (v_cmd, w_cmd))
    thr = tuple(max(4.0 * s, 0.02 * sc) for s, sc in zip(sigma, scale))
    floor = tuple(max(s, 0.005 * sc) for s, sc in zip(sigma, scale))
    fits = [_fit(lag, first, t, (v_cmd, w_cmd), (v_meas, w_meas), thr, scale, floor)
            for lag in range(max_lag + 1)]
    costs = [cost for _, _, cost in fits]
    lag = int(np.argmin(costs))
    ests, why, _ = fits[lag]
    if why:
        raise ExcitationError(sorted(why), why)
    latency_s = lag * h_med
    steps = _periods(latency_s, control_dt)
    warnings = [f"{e.name}: only {e.samples} saturated samples support it (>= {MIN_SUPPORT} "
                f"wanted): record more steps; {MANOEUVRES[e.name]}"
                for e in ests.values() if 0 < e.samples < MIN_SUPPORT]
    if lag == max_lag and max_lag > 0:
        warnings.append(f"the best lag is the longest searched ({max_lag} samples): the "
                        "latency may be longer; raise max_latency_steps")
    close = np.flatnonzero(np.asarray(costs) <= LAG_TOLERANCE * costs[lag] + 8.0)
    span = (float(close.min() * h_med), float(close.max() * h_med))
    if _periods(span[0], control_dt) != _periods(span[1], control_dt):
        warnings.append(f"lags from {span[0]:.3f} to {span[1]:.3f} s fit almost equally and "
                        "round to different control periods: record more and sharper steps, "
                        f"or use latency_steps {_periods(span[1], control_dt)} to be "
                        "safe")
    return ActuatorEstimate(ests["linear_accel"], ests["linear_decel"], ests["angular_accel"],
                            latency_s, lag, steps, control_dt, h_med, sigma, costs, span,
                            warnings)
