"""Game rewards (pursuer point of view, zero-sum by default).

See :class:`safe_pe_sim.config.RewardConfig` for the formula. ``timed_out`` means the episode
was truncated at its step limit without capture (the evader escaped). The w5 safety term is
training's (``safe_pe_training.safety_reward``): the games and envs only add an attached
extra-reward object's ``compute(poses, obstacles, mask) -> (N, 2)``.
"""

from __future__ import annotations

import numpy as np

from .config import RewardConfig

__all__ = ["game_rewards", "game_rewards_scalar"]


def game_rewards(cfg: RewardConfig, d_prev: np.ndarray, d_now: np.ndarray,
                 captured: np.ndarray, timed_out: np.ndarray,
                 violated: np.ndarray) -> np.ndarray:
    """Rewards of both agents for N games (without the w5 safety term).

    :param cfg: reward weights.
    :param d_prev: ``(N,)`` centre distance before the step [m].
    :param d_now: ``(N,)`` centre distance after the step [m].
    :param captured: ``(N,)`` bool, capture at this step.
    :param timed_out: ``(N,)`` bool, step limit reached without capture.
    :param violated: ``(N, 2)`` bool, body-level violation per agent during the step.
    :return: ``(N, 2)`` rewards, column 0 = pursuer, 1 = evader.
    """
    closing = d_prev - d_now
    rp = cfg.capture * captured + cfg.escape * timed_out + cfg.distance * closing + cfg.time
    if cfg.zero_sum:
        re = -rp
    else:
        re = (cfg.evader_capture * captured + cfg.evader_escape * timed_out
              + cfg.evader_distance * closing + cfg.evader_time)
    out = np.stack((rp, re), axis=1)
    if cfg.violation != 0.0:
        out += cfg.violation * violated
    return out


def game_rewards_scalar(cfg: RewardConfig, d_prev: float, d_now: float, captured: bool,
                        timed_out: bool, violated: list[bool]) -> tuple[float, float]:
    """Scalar :func:`game_rewards` for one game (same arithmetic).

    :param cfg: reward weights.
    :param d_prev: distance before the step [m].
    :param d_now: distance after the step [m].
    :param captured: capture at this step.
    :param timed_out: step limit reached without capture.
    :param violated: ``[pursuer, evader]`` violation flags.
    """
    closing = d_prev - d_now
    rp = cfg.capture * captured + cfg.escape * timed_out + cfg.distance * closing + cfg.time
    if cfg.zero_sum:
        re = -rp
    else:
        re = (cfg.evader_capture * captured + cfg.evader_escape * timed_out
              + cfg.evader_distance * closing + cfg.evader_time)
    if cfg.violation != 0.0:
        rp += cfg.violation * violated[0]
        re += cfg.violation * violated[1]
    return rp, re
