"""The motion of one robot: angle wrapping, the exact unicycle arc and the action map.

:func:`wrap`, :func:`unicycle` (one step on the exact arc) and :func:`arc_fill` (its
sub-step samples, which the safety check and the solid contact read), then the action map and
the actuators' input (:func:`physical`, :func:`command`).
"""

from __future__ import annotations

import math
import os

import numpy as np

from safe_pe_cbf.jit import depends_on_core, njit

__all__ = ["wrap", "unicycle", "arc_fill", "physical", "command"]

depends_on_core(__file__, also=os.path.dirname(__file__))  # see the package docstring

_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / _TWO_PI


# ---------------------------------------------------------------------- dynamics
@njit(cache=True)
def wrap(angle):
    """``angle`` wrapped to ``[-pi, pi)`` (the arithmetic of
    :func:`safe_pe_cbf.geometry.wrap_angle`; NaN for a non-finite angle).

    :param angle: angle [rad]
    """
    return angle - _TWO_PI * np.floor((angle + math.pi) * _INV_TWO_PI)


@njit(cache=True)
def unicycle(x, y, theta, v, omega, dt):
    """``(x, y, theta)`` after holding ``(v, omega)`` for ``dt`` on the exact arc (the sinc
    form of :mod:`safe_pe_sim.dynamics`), theta wrapped to ``[-pi, pi)``.

    :param x: position x [m]
    :param y: position y [m]
    :param theta: heading [rad]
    :param v: linear velocity [m/s]
    :param omega: angular velocity [rad/s]
    :param dt: hold time [s]
    """
    half = 0.5 * omega * dt
    mid = theta + half
    chord = v * dt * (math.sin(half) / half if half != 0.0 else 1.0)
    return x + chord * math.cos(mid), y + chord * math.sin(mid), wrap(theta + omega * dt)


@njit(cache=True)
def arc_fill(x, y, theta, v, omega, dt, substeps, xs, ys):
    """Positions at ``t_k = k dt / S`` (``k = 1..S``) on the exact arc, into ``xs[k - 1]``,
    ``ys[k - 1]`` (the angle-addition recurrence of :func:`safe_pe_sim.dynamics.arc_samples`).

    :param x: start x [m]
    :param y: start y [m]
    :param theta: start heading [rad]
    :param v: linear velocity [m/s]
    :param omega: angular velocity [rad/s]
    :param dt: control period [s]
    :param substeps: number of samples S
    :param xs: output buffer of at least S floats
    :param ys: output buffer of at least S floats
    """
    ct = math.cos(theta)
    st = math.sin(theta)
    delta = omega * (0.5 * dt / substeps)
    cd = math.cos(delta)
    sd = math.sin(delta)
    sinc1 = sd / delta if delta != 0.0 else 1.0
    dsd = delta * sd
    step_len = v * (dt / substeps)
    c_k = 1.0
    q_k = 0.0
    for k in range(substeps):
        c_k, q_k = c_k * cd - q_k * dsd, q_k * cd + c_k * sinc1
        s_k = q_k * delta
        chord = step_len * q_k
        xs[k] = x + chord * (ct * c_k - st * s_k)
        ys[k] = y + chord * (st * c_k + ct * s_k)


# ---------------------------------------------------------------------- actions
@njit(cache=True)
def physical(a_v, a_omega, v_min, v_max, omega_max):
    """Physical ``(v, omega)`` of a normalised action (clipped to ``[-1, 1]`` first; NaN
    passes through, as with ``np.clip``).

    :param a_v: normalised linear action
    :param a_omega: normalised angular action
    :param v_min: the robot's lowest linear velocity [m/s]
    :param v_max: its highest [m/s]
    :param omega_max: its turn-rate limit [rad/s]
    """
    a_v = -1.0 if a_v < -1.0 else (1.0 if a_v > 1.0 else a_v)
    a_omega = -1.0 if a_omega < -1.0 else (1.0 if a_omega > 1.0 else a_omega)
    return v_min + (a_v + 1.0) * 0.5 * (v_max - v_min), a_omega * omega_max


@njit(cache=True)
def command(v, omega, v_min, v_max, omega_max, noisy, n_v, n_omega, std_v, std_omega):
    """The command a robot's actuators receive: ``(v, omega)`` clipped to its limits, then with
    actuator noise ``n * std`` (standard-normal draws ``n``) added and clipped again.

    :param v: commanded linear velocity [m/s]
    :param omega: commanded angular velocity [rad/s]
    :param v_min: the robot's lowest linear velocity [m/s]
    :param v_max: its highest [m/s]
    :param omega_max: its turn-rate limit [rad/s]
    :param noisy: whether actuator noise is on
    :param n_v: standard-normal draw for v (unused without noise)
    :param n_omega: standard-normal draw for omega
    :param std_v: noise standard deviation of v [m/s]
    :param std_omega: of omega [rad/s]
    """
    v = min(max(v, v_min), v_max)
    omega = min(max(omega, -omega_max), omega_max)
    if noisy:
        v = min(max(v + n_v * std_v, v_min), v_max)
        omega = min(max(omega + n_omega * std_omega, -omega_max), omega_max)
    return v, omega
