"""Game rewards (pursuer point of view, zero-sum by default) and the safety reward.

See :class:`safe_pe_sim.config.RewardConfig` for the formula. ``timed_out`` means the episode
was truncated at its step limit without capture (the evader escaped).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .config import EnvConfig, RewardConfig

__all__ = ["game_rewards", "game_rewards_scalar", "SafetyRewardComputer", "agent_cbf_configs"]


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


def agent_cbf_configs(config: EnvConfig, **cbf_kwargs: Any) -> tuple[Any, Any]:
    """Each robot's ``safe_pe_cbf.config.CBFConfig`` derived from the game config.

    Sets ``dt``, the robot's radius and limits, and the other robot as opponent (radius,
    speed bounds); everything else keeps the CBF defaults unless given in ``cbf_kwargs``.

    :param config: game config.
    :param cbf_kwargs: further ``CBFConfig`` fields (``vcp_offset``, ``margin``, ...).
    :return: ``(pursuer_config, evader_config)``.
    """
    from safe_pe_cbf.config import CBFConfig

    out = []
    for a in range(2):
        me, other = config.robots()[a], config.robots()[1 - a]
        fields = dict(dt=config.dt, robot_radius=me.radius, v_min=me.v_min, v_max=me.v_max,
                      omega_max=me.omega_max, opponent_radius=other.radius,
                      opponent_v_max=other.v_abs_max, opponent_omega_max=other.omega_max)
        fields.update(cbf_kwargs)
        out.append(CBFConfig(**fields))
    return out[0], out[1]


class SafetyRewardComputer:
    """Safety reward ``w5 * clip(min_i h_i / h_max, -1, 1)`` per agent.

    ``h_i`` are the agent's barrier values as the CBF core reports them
    (:func:`safe_pe_cbf.batch.min_barrier`: walls, obstacles and the other robot, with the
    filter's VCP offset and margin), so the reward pays for keeping the margins the filter
    enforces. The term is per agent and never negated by ``zero_sum``.

    Attach it to a :class:`~safe_pe_sim.vec_core.VectorizedPursuitEvasion` (``core.safety_reward
    = computer``), a :class:`~safe_pe_sim.game.PursuitEvasionGame` (``game.safety_reward``), or
    pass it as ``safety_reward=`` to the environments; ``rewards.w5`` has no effect otherwise.
    """

    def __init__(self, config: EnvConfig, cbf_configs: Sequence[Any] | None = None,
                 w5: float | None = None, h_max: float | None = None) -> None:
        """
        :param config: game config (arena; ``rewards.w5`` and ``rewards.h_max`` by default).
        :param cbf_configs: ``(pursuer, evader)`` ``CBFConfig`` as the filters use them;
            default :func:`agent_cbf_configs` (CBF defaults for offset and margin).
        :param w5: weight override (>= 0).
        :param h_max: normaliser override (> 0).
        """
        from safe_pe_cbf.geometry import Arena

        from .config import ConfigError

        self.w5 = float(config.rewards.w5 if w5 is None else w5)
        self.h_max = float(config.rewards.h_max if h_max is None else h_max)
        if not (np.isfinite(self.w5) and self.w5 >= 0.0):
            raise ConfigError(f"w5 must be finite and >= 0, got {self.w5}")
        if not (np.isfinite(self.h_max) and self.h_max > 0.0):
            raise ConfigError(f"h_max must be finite and > 0, got {self.h_max}")
        self.cbf_configs = (tuple(cbf_configs) if cbf_configs is not None
                            else agent_cbf_configs(config))
        if len(self.cbf_configs) != 2:
            raise ConfigError("cbf_configs must be (pursuer_config, evader_config)")
        self.arena = Arena(*config.arena.bounds())

    def min_barriers(self, poses: np.ndarray, obstacles: np.ndarray,
                     mask: np.ndarray) -> np.ndarray:
        """``(N, 2)`` smallest barrier value of each agent [m].

        :param poses: ``(N, 2, 3)`` poses.
        :param obstacles: ``(N, K, 3)`` obstacles.
        :param mask: ``(N, K)`` real obstacle rows.
        """
        from safe_pe_cbf.batch import min_barrier

        return np.stack([min_barrier(poses[:, a], self.arena, obstacles, mask,
                                     poses[:, 1 - a], self.cbf_configs[a]) for a in range(2)],
                        axis=1)

    def compute(self, poses: np.ndarray, obstacles: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``(N, 2)`` safety rewards of both agents.

        :param poses: ``(N, 2, 3)`` poses (after the step).
        :param obstacles: ``(N, K, 3)`` obstacles.
        :param mask: ``(N, K)`` real obstacle rows.
        """
        if self.w5 == 0.0:
            return np.zeros((poses.shape[0], 2))
        h = self.min_barriers(poses, obstacles, mask)
        return self.w5 * np.clip(h / self.h_max, -1.0, 1.0)
