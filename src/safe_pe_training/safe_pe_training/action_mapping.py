"""Maps between policy actions and physical unicycle commands ``(v, omega)``.

Two policy families are trained:

* **Gaussian** (runs B, C): the policy's action ``a`` lives in ``[-1, 1]^2`` and is mapped
  affinely to ``[v_min, v_max] x [-omega_max, omega_max]`` (same map as the sim's single env).
* **CBF-Beta** (runs A, D): the policy samples ``y`` in ``(0, 1)^2`` and the command is
  ``lo + (hi - lo) * y`` where ``[lo, hi]`` is the state's safe action box from the CBF core.

The safe box travels in the learner's observation as its **last 4 entries**, normalised with
the same affine map as the Gaussian action (so they lie in ``[-1, 1]``):
``[v_lo', v_hi', omega_lo', omega_hi']`` with ``v' = 2 (v - v_min) / (v_max - v_min) - 1`` and
``omega' = omega / omega_max``. This is exactly invertible given the robot limits, which are
stored in every checkpoint's metadata, so a deployed policy can recover the physical box from
the observation alone. These entries must never be normalised by a running normaliser.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

BOX_OBS_DIM = 4
"""Number of observation entries carrying the safe action box (appended last)."""


@dataclass(frozen=True)
class CommandLimits:
    """Physical command limits of one robot.

    :param v_min: smallest forward speed [m/s] (may be negative for reversing robots)
    :param v_max: largest forward speed [m/s]
    :param omega_max: largest absolute turn rate [rad/s]
    """

    v_min: float
    v_max: float
    omega_max: float

    def __post_init__(self) -> None:
        values = (self.v_min, self.v_max, self.omega_max)
        if not all(np.isfinite(values)):
            raise ValueError(f"CommandLimits must be finite, got {values}")
        if not self.v_max > self.v_min:
            raise ValueError(
                f"CommandLimits needs v_max > v_min, got v_min={self.v_min}, v_max={self.v_max}"
            )
        if not self.omega_max > 0.0:
            raise ValueError(f"CommandLimits needs omega_max > 0, got {self.omega_max}")

    @property
    def low(self) -> np.ndarray:
        """Lower corner ``(v_min, -omega_max)`` of the command box."""
        return np.array([self.v_min, -self.omega_max], dtype=np.float64)

    @property
    def high(self) -> np.ndarray:
        """Upper corner ``(v_max, omega_max)`` of the command box."""
        return np.array([self.v_max, self.omega_max], dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        """Plain-dict form for JSON metadata."""
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CommandLimits:
        """Inverse of :meth:`to_dict`.

        :param data: mapping with keys ``v_min``, ``v_max``, ``omega_max``
        """
        try:
            return cls(float(data["v_min"]), float(data["v_max"]), float(data["omega_max"]))
        except KeyError as exc:
            raise ValueError(f"command limits are missing key {exc}") from exc

    @classmethod
    def from_robot(cls, robot: Any) -> CommandLimits:
        """Build from any object with ``v_min``, ``v_max`` and ``omega_max`` attributes.

        :param robot: e.g. the sim's ``RobotConfig``
        """
        return cls(float(robot.v_min), float(robot.v_max), float(robot.omega_max))


def unit_to_physical(action: np.ndarray, limits: CommandLimits) -> np.ndarray:
    """Map a Gaussian policy action in ``[-1, 1]^2`` (clipped) to a physical command.

    :param action: array ``(..., 2)``
    :param limits: the robot's command limits
    :return: ``(..., 2)`` commands inside the limits
    """
    a = clip_array(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    low, span = _scale(limits)
    return low + 0.5 * (a + 1.0) * span


def physical_to_unit(command: np.ndarray, limits: CommandLimits) -> np.ndarray:
    """Inverse of :func:`unit_to_physical` (no clipping).

    :param command: array ``(..., 2)`` of physical commands
    :param limits: the robot's command limits
    """
    c = np.asarray(command, dtype=np.float64)
    low, span = _scale(limits)
    return 2.0 * (c - low) / span - 1.0


def beta_to_physical(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Map a Beta sample ``y`` in ``[0, 1]^2`` into the box ``[lo, hi]``.

    ``y`` is clipped to ``[0, 1]`` first, so the result is inside the box for any input.

    :param y: array ``(..., 2)``
    :param lo: lower corners ``(..., 2)``
    :param hi: upper corners ``(..., 2)``
    """
    y = clip_array(np.asarray(y, dtype=np.float64), 0.0, 1.0)
    return lo + (hi - lo) * y


def normalise_box(lo: np.ndarray, hi: np.ndarray, limits: CommandLimits) -> np.ndarray:
    """Encode safe boxes as the 4 observation entries ``[v_lo', v_hi', w_lo', w_hi']``.

    :param lo: ``(..., 2)`` lower corners in physical units
    :param hi: ``(..., 2)`` upper corners in physical units
    :param limits: the robot's command limits
    :return: ``(..., 4)`` float32 array in ``[-1, 1]``
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    shape = lo.shape if lo.shape == hi.shape else np.broadcast_shapes(lo.shape, hi.shape)
    out = np.empty(shape[:-1] + (BOX_OBS_DIM,))
    out[..., 0::2] = lo  # v_lo, w_lo
    out[..., 1::2] = hi  # v_hi, w_hi
    # physical_to_unit on the four columns at once, in place: 2 (x - low) / span - 1
    low, span = _box_scale(limits)
    np.subtract(out, low, out=out)
    np.multiply(2.0, out, out=out)
    np.divide(out, span, out=out)
    np.subtract(out, 1.0, out=out)
    return clip_array(out, -1.0, 1.0, out=out).astype(np.float32)


def clip_array(x: np.ndarray, low: float, high: float, out: np.ndarray | None = None
               ) -> np.ndarray:
    """``np.clip(x, low, high)`` (the same values, NaN kept) without its Python-level dispatch,
    which costs more than the work on the small arrays of a training step.

    :param x: values
    :param low: lower bound
    :param high: upper bound
    :param out: where to write (may be ``x``), else a new array
    """
    return np.minimum(np.maximum(x, low, out=out), high, out=out)


@lru_cache(maxsize=64)
def _scale(limits: CommandLimits) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high - low)`` of ``(v, omega)`` (read-only, cached per limits)."""
    low = limits.low
    span = limits.high - low
    low.flags.writeable = False
    span.flags.writeable = False
    return low, span


@lru_cache(maxsize=64)
def _box_scale(limits: CommandLimits) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high - low)`` per encoded box entry (read-only, cached per limits)."""
    low, span = _scale(limits)
    low4 = np.repeat(low, 2)
    span4 = np.repeat(span, 2)
    low4.flags.writeable = False
    span4.flags.writeable = False
    return low4, span4


def denormalise_box(encoded: np.ndarray, limits: CommandLimits) -> tuple[np.ndarray, np.ndarray]:
    """Decode the last-4 observation entries back to physical ``(lo, hi)``.

    :param encoded: ``(..., 4)`` as written by :func:`normalise_box`
    :param limits: the robot's command limits
    :return: ``lo (..., 2)``, ``hi (..., 2)`` in physical units
    """
    e = np.asarray(encoded, dtype=np.float64)
    if e.shape[-1] != BOX_OBS_DIM:
        raise ValueError(f"encoded safe box must have {BOX_OBS_DIM} entries, got {e.shape}")
    lo = unit_to_physical(e[..., 0::2], limits)  # (v_lo', w_lo')
    hi = unit_to_physical(e[..., 1::2], limits)  # (v_hi', w_hi')
    return lo, np.maximum(hi, lo)
