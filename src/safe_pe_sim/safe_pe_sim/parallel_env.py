"""``PursuitEvasionParallelEnv``: PettingZoo ParallelEnv with agents "pursuer" and "evader".

Both agents act every step with normalised actions in ``[-1, 1]^2`` (same map and observation
as :class:`~safe_pe_sim.env.PursuitEvasionEnv`). Rewards follow
:class:`~safe_pe_sim.config.RewardConfig` (zero-sum game part by default). When the episode
ends both agents are terminated (capture / violation with ``terminate_on_violation``) or
truncated (timeout) and ``agents`` becomes empty.

``reset(options=...)`` understands ``obstacles`` and ``poses`` like the gymnasium env; other keys
are ignored (PettingZoo's API test passes arbitrary options).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from .actions import to_physical_scalar
from .config import EnvConfig, load_profile
from .errors import SimInputError
from .game import PursuitEvasionGame
from .observations import OBS_DIM
from .roles import ROLES

__all__ = ["PursuitEvasionParallelEnv"]


class PursuitEvasionParallelEnv(ParallelEnv):
    """Both agents of one game, stepped simultaneously."""

    metadata = {"render_modes": ["rgb_array"], "name": "safe_pe_pursuit_evasion_v0",
                "is_parallelizable": True, "render_fps": 20}

    def __init__(self, config: EnvConfig | str | None = None,
                 render_mode: str | None = None, safety_reward: Any = None) -> None:
        """
        :param config: game config, a profile name / YAML path, or None for ``"default"``.
        :param render_mode: None or ``"rgb_array"``.
        :param safety_reward: optional extra reward, ``compute(poses, obstacles, mask) ->
            (N, 2)`` (e.g. training's w5 ``SafetyRewardComputer``), added to both agents'.
        """
        if config is None or isinstance(config, str):
            config = load_profile(config or "default")
        if render_mode not in (None, "rgb_array"):
            raise SimInputError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.config = config
        self.game = PursuitEvasionGame(config)
        self.game.safety_reward = safety_reward
        self.possible_agents = list(ROLES)
        self.agents: list[str] = []
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": max(1, round(1.0 / config.dt))}
        self._robots = dict(zip(ROLES, config.robots()))
        self._renderer: Any = None
        self.trajectory: list[tuple[tuple[float, float, float], ...]] = []

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> gym.spaces.Box:
        """``Box(-1, 1, (OBS_DIM,), float32)`` for either agent.

        :param agent: agent name.
        """
        return gym.spaces.Box(-1.0, 1.0, (OBS_DIM,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> gym.spaces.Box:
        """``Box(-1, 1, (2,), float32)`` for either agent.

        :param agent: agent name.
        """
        return gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def _observations(self) -> dict[str, np.ndarray]:
        return {name: self.game.observation(i) for i, name in enumerate(ROLES)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode.

        :param seed: re-seed the game.
        :param options: optional ``obstacles`` ``(k, 3)`` and ``poses`` ``(2, 3)``.
        """
        options = options or {}
        self.game.reset(seed=seed, obstacles=options.get("obstacles"),
                        poses=options.get("poses"))
        self.agents = list(ROLES)
        self.trajectory = [tuple(self.game.poses)]
        info = self.game.info()
        return self._observations(), {name: dict(info) for name in ROLES}

    def step(self, actions: dict[str, np.ndarray]
             ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool],
                        dict[str, bool], dict[str, dict[str, Any]]]:
        """Advance one control period.

        :param actions: normalised action per live agent (both are required).
        """
        if not self.agents:
            raise SimInputError("episode is over (or never started): call reset() first")
        cmds = []
        for name in ROLES:
            if name not in actions:
                raise SimInputError(f"missing action for {name!r}; both agents act every step")
            a = actions[name]
            try:
                a_v, a_w = float(a[0]), float(a[1])
            except (TypeError, IndexError, ValueError) as exc:
                raise SimInputError(f"action of {name} must be a length-2 array") from exc
            if not (math.isfinite(a_v) and math.isfinite(a_w)):
                raise SimInputError(f"non-finite action for {name}: {a!r}")
            cmds.append(to_physical_scalar(a_v, a_w, self._robots[name]))
        result = self.game.step(cmds[0], cmds[1])
        self.trajectory.append(tuple(self.game.poses))
        info = self.game.info(result)
        obs = self._observations()
        rewards = {name: float(result.rewards[i]) for i, name in enumerate(ROLES)}
        terms = {name: bool(result.terminated) for name in ROLES}
        truncs = {name: bool(result.truncated) for name in ROLES}
        infos = {name: dict(info) for name in ROLES}
        if result.terminated or result.truncated:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> np.ndarray | None:
        """RGB frame of the current state (``render_mode="rgb_array"``)."""
        if self.render_mode != "rgb_array":
            return None
        from .rendering import FrameRenderer  # matplotlib: only when rendering
        if self._renderer is None:
            self._renderer = FrameRenderer(self.config)
        return self._renderer.frame(self.game.poses, self.game.obstacles_array, self.trajectory,
                                    self.game.distance <= self.config.capture_radius)

    def close(self) -> None:
        """Release the renderer."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
