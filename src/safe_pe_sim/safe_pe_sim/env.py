"""``PursuitEvasionEnv``: gymnasium environment for one role against an opponent policy.

Action: ``Box(-1, 1, (2,), float32)`` mapped affinely to ``[v_min, v_max] x [-omega_max,
omega_max]`` of the learner's robot (:mod:`safe_pe_sim.actions`). Observation:
``Box(-1, 1, (OBS_DIM,), float32)`` (:mod:`safe_pe_sim.observations`). Capture terminates;
reaching ``max_steps`` truncates. Violations are recorded in ``info`` (and terminate only with
``terminate_on_violation``).

``reset(options=...)`` accepts ``{"obstacles": (k, 3) array, "poses": (2, 3) array}`` to play a
given layout or start. Stepping a finished episode raises (call ``reset``).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from .actions import to_physical_scalar
from .config import EnvConfig, load_profile
from .errors import SimInputError
from .game import PursuitEvasionGame, StepResult
from .observations import OBS_DIM
from .opponents import Opponent
from .roles import ROLES, role_index

__all__ = ["PursuitEvasionEnv"]


class PursuitEvasionEnv(gym.Env):
    """One learner (pursuer or evader) against a fixed opponent."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, config: EnvConfig | str | None = None, role: str = "pursuer",
                 opponent: Any = None, render_mode: str | None = None,
                 safety_reward: Any = None) -> None:
        """
        :param config: game config, a profile name / YAML path, or None for ``"default"``.
        :param role: the learner's agent, ``"pursuer"`` or ``"evader"``.
        :param opponent: opponent spec (see :mod:`safe_pe_sim.opponents`).
        :param render_mode: None or ``"rgb_array"``.
        :param safety_reward: optional extra reward, ``compute(poses, obstacles, mask) ->
            (N, 2)`` (e.g. training's w5 ``SafetyRewardComputer``), added to the learner's.
        """
        if config is None or isinstance(config, str):
            config = load_profile(config or "default")
        if render_mode not in (None, "rgb_array"):
            raise SimInputError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.config = config
        self.role = role
        self.agent = role_index(role)
        self.game = PursuitEvasionGame(config)
        self.game.safety_reward = safety_reward
        self.opponent = Opponent(opponent, config, ROLES[1 - self.agent])
        self.robot = config.robots()[self.agent]
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": max(1, round(1.0 / config.dt))}
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (OBS_DIM,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._done = True
        self._renderer: Any = None
        self.trajectory: list[tuple[tuple[float, float, float], ...]] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode.

        :param seed: re-seed the game (same rule as the vector env: this is game seed ``seed``).
        :param options: optional ``obstacles`` ``(k, 3)`` and ``poses`` ``(2, 3)``.
        """
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"obstacles", "poses"}
        if unknown:
            raise SimInputError(f"unknown reset option(s) {sorted(unknown)}; "
                                f"use 'obstacles' and/or 'poses'")
        self.game.reset(seed=seed, obstacles=options.get("obstacles"),
                        poses=options.get("poses"))
        self._done = False
        self.trajectory = [tuple(self.game.poses)]
        return self.game.observation(self.agent), self.game.info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one control period with the learner's normalised action.

        :param action: ``(2,)`` action in ``[-1, 1]`` (clipped); NaN/inf raises.
        """
        if self._done:
            raise SimInputError("episode is over (or never started): call reset() first")
        try:
            a_v = float(action[0])
            a_w = float(action[1])
        except (TypeError, IndexError, ValueError) as exc:
            raise SimInputError(f"action must be a length-2 array, got {action!r}") from exc
        if not (math.isfinite(a_v) and math.isfinite(a_w)):
            raise SimInputError(f"non-finite action {action!r}")
        cmd = to_physical_scalar(a_v, a_w, self.robot)
        game = self.game
        other = 1 - self.agent
        opp_obs = game.observation(other) if self.opponent.needs_observation else None
        opp_cmd = self.opponent.act_single(opp_obs, game.poses, game.velocities,
                                           game.obstacles)
        result: StepResult = (game.step(cmd, opp_cmd) if self.agent == 0
                              else game.step(opp_cmd, cmd))
        self._done = result.terminated or result.truncated
        self.trajectory.append(tuple(game.poses))
        info = game.info(result)
        info["opponent_command"] = opp_cmd
        if self._done:
            info["episode"] = {"r": game.episode_return[self.agent], "l": game.step_count,
                               "violation_steps": game.episode_violation_steps[self.agent],
                               "captured": result.captured}
        return (game.observation(self.agent), float(result.rewards[self.agent]),
                bool(result.terminated), bool(result.truncated), info)

    def render(self) -> np.ndarray | None:
        """RGB frame ``(H, W, 3)`` uint8 of the current state (``render_mode="rgb_array"``)."""
        if self.render_mode != "rgb_array":
            return None
        from .rendering import FrameRenderer  # matplotlib: only when rendering
        if self._renderer is None:
            self._renderer = FrameRenderer(self.config)
        return self._renderer.frame(self.game.poses, self.game.obstacles_array,
                                    self.trajectory, captured=self.game.distance
                                    <= self.config.capture_radius)

    def close(self) -> None:
        """Release the renderer."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
