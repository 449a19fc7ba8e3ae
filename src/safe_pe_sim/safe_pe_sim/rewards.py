"""Game rewards (pursuer point of view, zero-sum by default).

See :class:`safe_pe_sim.config.RewardConfig` for the formula. ``timed_out`` means the episode
was truncated at its step limit without capture (the evader escaped). The w5 safety term is
training's (``safe_pe_training.safety_reward``): the games and envs only add an attached
extra-reward object's ``compute(poses, obstacles, mask) -> (N, 2)``.

The formula is written once, per game (:func:`safe_pe_sim.kernels.reward_pair`, compiled by
numba): :func:`game_rewards_scalar` calls it, :func:`game_rewards` loops it over the games
(:func:`~safe_pe_sim.kernels.reward_rows`).
"""

from __future__ import annotations

import numpy as np

from .config import RewardConfig
from . import kernels
from .kernels import reward_pair

__all__ = ["game_rewards", "game_rewards_scalar", "reward_weights"]


def reward_weights(cfg: RewardConfig) -> tuple[float, ...]:
    """The weights :func:`~safe_pe_sim.kernels.reward_pair` takes, as floats (``zero_sum``
    as 1.0 or 0.0).

    :param cfg: reward weights.
    """
    return (float(cfg.capture), float(cfg.escape), float(cfg.distance), float(cfg.time),
            1.0 if cfg.zero_sum else 0.0, float(cfg.evader_capture),
            float(cfg.evader_escape), float(cfg.evader_distance), float(cfg.evader_time),
            float(cfg.violation))


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
    d_prev = np.asarray(d_prev, dtype=np.float64)
    out = np.empty((d_prev.shape[0], 2))
    kernels.reward_rows(reward_weights(cfg), d_prev, np.asarray(d_now, dtype=np.float64),
                        np.asarray(captured, dtype=bool), np.asarray(timed_out, dtype=bool),
                        np.asarray(violated, dtype=bool), out)
    return out


def game_rewards_scalar(cfg: RewardConfig, d_prev: float, d_now: float, captured: bool,
                        timed_out: bool, violated: list[bool]) -> tuple[float, float]:
    """:func:`game_rewards` of one game (the same compiled kernel).

    :param cfg: reward weights.
    :param d_prev: distance before the step [m].
    :param d_now: distance after the step [m].
    :param captured: capture at this step.
    :param timed_out: step limit reached without capture.
    :param violated: ``[pursuer, evader]`` violation flags.
    """
    return reward_pair(reward_weights(cfg), float(d_prev), float(d_now), bool(captured),
                       bool(timed_out), bool(violated[0]), bool(violated[1]))
