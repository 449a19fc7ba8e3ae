"""The rewards and the end-of-step rules of one game (:func:`reward_pair`, :func:`outcome`)."""

from __future__ import annotations

import math
import os

from safe_pe_cbf.jit import depends_on_core, njit

__all__ = ["reward_pair", "outcome"]

depends_on_core(__file__, also=os.path.dirname(__file__))  # see the package docstring


@njit(cache=True)
def reward_pair(w, d_prev, d_now, captured, timed_out, violated0, violated1):
    """``(pursuer, evader)`` rewards of one game's step (without the w5 safety term).

    :param w: weights ``(capture, escape, distance, time, zero_sum, evader_capture,
        evader_escape, evader_distance, evader_time, violation)``
        (:func:`safe_pe_sim.rewards.reward_weights`)
    :param d_prev: centre distance before the step [m]
    :param d_now: centre distance after the step [m]
    :param captured: capture at this step
    :param timed_out: step limit reached without capture
    :param violated0: the pursuer violated something during the step
    :param violated1: the evader did
    """
    closing = d_prev - d_now
    rp = w[0] * captured + w[1] * timed_out + w[2] * closing + w[3]
    if w[4] != 0.0:
        re = -rp
    else:
        re = w[5] * captured + w[6] * timed_out + w[7] * closing + w[8]
    if w[9] != 0.0:
        rp += w[9] * violated0
        re += w[9] * violated1
    return rp, re


@njit(cache=True)
def outcome(x0, y0, x1, y1, d_prev, steps, capture_radius, max_steps, terminate_on_violation,
            violated0, violated1, w):
    """The rules at the end of one game's step: ``(distance, captured, terminated,
    truncated, pursuer reward, evader reward)`` (the rewards without the w5 term).

    Capture is a centre distance ``<= capture_radius``; a step terminates on capture (or on a
    violation with ``terminate_on_violation``) and is truncated (the evader escaped) when it
    reaches ``max_steps`` without terminating.

    :param x0: pursuer x after the step [m] (then y0)
    :param x1: evader x after the step [m] (then y1)
    :param d_prev: centre distance before the step [m]
    :param steps: steps of the episode, this one included
    :param capture_radius: capture distance [m]
    :param max_steps: step limit of an episode
    :param terminate_on_violation: a violation ends the episode
    :param violated0: the pursuer violated something during the step
    :param violated1: the evader did
    :param w: reward weights (see :func:`reward_pair`)
    """
    d = math.sqrt((x0 - x1) * (x0 - x1) + (y0 - y1) * (y0 - y1))
    captured = d <= capture_radius
    terminated = captured or (terminate_on_violation and (violated0 or violated1))
    truncated = steps >= max_steps and not terminated
    rp, re = reward_pair(w, d_prev, d, captured, truncated, violated0, violated1)
    return d, captured, terminated, truncated, rp, re
