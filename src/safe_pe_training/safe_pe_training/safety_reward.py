"""The w5 safety reward of training: ``w5 * clip(min_i h_i / h_max, -1, 1)`` per agent.

``h_i`` are the agent's barrier values as the CBF core reports them
(:func:`safe_pe_cbf.batch.min_barrier`: walls, obstacles and the other robot, with the
filter's VCP offset and margin), so the reward pays for keeping the margins the filter
enforces. The term is per agent and never negated by ``zero_sum``.

Training adds it on its side of the step: :class:`~safe_pe_training.safe_vec_env.SafeLearnerVecEnv`
from the filter rows it already built for the learner, the rollouts
(:mod:`safe_pe_training.rollout`) after each game step; only the gymnasium/PettingZoo envs
take the computer through the simulator's generic extra-reward argument (``safety_reward=``).
The simulator itself knows nothing of the CBF.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from safe_pe_cbf.batch import min_barrier
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.geometry import Arena
from safe_pe_sim.config import ConfigError, EnvConfig

__all__ = ["SafetyRewardComputer", "agent_cbf_configs"]


def agent_cbf_configs(config: EnvConfig, **cbf_kwargs: Any) -> tuple[CBFConfig, CBFConfig]:
    """Each robot's :class:`~safe_pe_cbf.config.CBFConfig` derived from the game config.

    Sets ``dt``, the robot's radius and limits, and the other robot as opponent (radius,
    speed bounds); everything else keeps the CBF defaults unless given in ``cbf_kwargs``.

    :param config: game config.
    :param cbf_kwargs: further ``CBFConfig`` fields (``vcp_offset``, ``margin``, ...).
    :return: ``(pursuer_config, evader_config)``.
    """
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

    Has the simulator's extra-reward interface ``compute(poses, obstacles, mask) -> (N, 2)``.

    :param config: game config (arena; ``rewards.w5`` and ``rewards.h_max`` by default).
    :param cbf_configs: ``(pursuer, evader)`` ``CBFConfig`` as the filters use them;
        default :func:`agent_cbf_configs` (CBF defaults for offset and margin).
    :param w5: weight override (>= 0).
    :param h_max: normaliser override (> 0).
    """

    def __init__(self, config: EnvConfig, cbf_configs: Sequence[Any] | None = None,
                 w5: float | None = None, h_max: float | None = None) -> None:
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

    def min_barrier(self, agent: int, poses: np.ndarray, obstacles: np.ndarray,
                    mask: np.ndarray) -> np.ndarray:
        """``(N,)`` smallest barrier value of ``agent`` [m].

        :param agent: 0 pursuer, 1 evader.
        :param poses: ``(N, 2, 3)`` poses.
        :param obstacles: ``(N, K, 3)`` obstacles.
        :param mask: ``(N, K)`` real obstacle rows.
        """
        return min_barrier(poses[:, agent], self.arena, obstacles, mask, poses[:, 1 - agent],
                           self.cbf_configs[agent])

    def min_barriers(self, poses: np.ndarray, obstacles: np.ndarray,
                     mask: np.ndarray) -> np.ndarray:
        """``(N, 2)`` smallest barrier value of each agent [m] (see :meth:`min_barrier`)."""
        return np.stack([self.min_barrier(a, poses, obstacles, mask) for a in range(2)],
                        axis=1)

    def term(self, h: np.ndarray) -> np.ndarray:
        """``w5 * clip(h / h_max, -1, 1)`` of barrier values ``h`` (any shape).

        :param h: smallest barrier values [m].
        """
        return self.w5 * np.clip(h / self.h_max, -1.0, 1.0)

    def compute(self, poses: np.ndarray, obstacles: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``(N, 2)`` safety rewards of both agents.

        :param poses: ``(N, 2, 3)`` poses (after the step).
        :param obstacles: ``(N, K, 3)`` obstacles.
        :param mask: ``(N, K)`` real obstacle rows.
        """
        if self.w5 == 0.0:
            return np.zeros((poses.shape[0], 2))
        return self.term(self.min_barriers(poses, obstacles, mask))
