"""Vectorised pursuit-evasion: the numpy core and an SB3 ``VecEnv`` for one role.

* :class:`~safe_pe_sim.vec_core.VectorizedPursuitEvasion` (re-exported here) steps N games with
  both agents' physical commands and exposes the state arrays.
* :class:`PursuitEvasionVecEnv` is a stable-baselines3 ``VecEnv``: the learner plays ``role``
  with normalised actions; the opponent (scripted name, SB3 model, or callable on the batched
  observations ``(N, OBS_DIM) -> (N, 2)``) plays the other agent. Finished games reset
  automatically; their last observation is in ``infos[i]["terminal_observation"]``,
  ``infos[i]["TimeLimit.truncated"]`` marks timeouts and ``infos[i]["episode"]`` carries
  ``r`` (return), ``l`` (length), ``t`` (wall time since creation), ``captured`` and
  ``violation_steps`` (SB3's Monitor format). The core's full info arrays of the last step are
  in ``last_info``.

Seeding follows SB3: ``seed(s)`` then ``reset()`` gives game i the seed ``s + i`` — the same
game as ``PursuitEvasionEnv`` reset with ``seed=s + i``.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (VecEnv, VecEnvIndices,
                                                           VecEnvObs, VecEnvStepReturn)

from .actions import to_physical
from .config import EnvConfig, load_profile
from .errors import SimInputError
from .observations import OBS_DIM
from .opponents import Opponent
from .roles import ROLES, role_index
from .vec_core import VectorizedPursuitEvasion

__all__ = ["VectorizedPursuitEvasion", "PursuitEvasionVecEnv"]


class PursuitEvasionVecEnv(VecEnv):
    """SB3 ``VecEnv`` of N games: the learner plays ``role`` against ``opponent``."""

    def __init__(self, config: EnvConfig | str | None = None, num_envs: int = 8,
                 role: str = "pursuer", opponent: Any = None, seed: int | None = None,
                 safety_reward: Any = None) -> None:
        """
        :param config: game config, a profile name / YAML path, or None for ``"default"``.
        :param num_envs: number of games N.
        :param role: the learner's agent, ``"pursuer"`` or ``"evader"``.
        :param opponent: opponent spec (see :mod:`safe_pe_sim.opponents`).
        :param seed: base seed (game i uses ``seed + i``); None = from OS entropy.
        :param safety_reward: optional extra reward, ``compute(poses, obstacles, mask) ->
            (N, 2)`` (e.g. training's w5 ``SafetyRewardComputer``), added to the rewards.
        """
        if config is None or isinstance(config, str):
            config = load_profile(config or "default")
        self.config = config
        self.role = role
        self.agent = role_index(role)
        self.core = VectorizedPursuitEvasion(config, num_envs, seed)
        self.core.safety_reward = safety_reward
        self.opponent = Opponent(opponent, config, ROLES[1 - self.agent])
        self.robot = config.robots()[self.agent]
        self.render_mode = None
        self.last_info: dict[str, Any] = {}
        self._actions: np.ndarray | None = None
        self._obs = self.core.observations()
        self._t0 = time.time()
        super().__init__(num_envs, gym.spaces.Box(-1.0, 1.0, (OBS_DIM,), np.float32),
                         gym.spaces.Box(-1.0, 1.0, (2,), np.float32))

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> VecEnvObs:
        """Reset every game (using the seed set by :meth:`seed`, if any)."""
        seed = self._seeds[0]
        self._obs = self.core.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return self._obs[:, self.agent].copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the learner's normalised actions ``(N, 2)``.

        :param actions: actions in ``[-1, 1]`` (clipped); NaN/inf raise in :meth:`step_wait`.
        """
        self._actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 2)

    def step_wait(self) -> VecEnvStepReturn:
        """Step every game; return ``(obs, rewards, dones, infos)`` for the learner."""
        if self._actions is None:
            raise SimInputError("step_wait() called without step_async(actions)")
        actions, self._actions = self._actions, None
        if not np.all(np.isfinite(actions)):
            bad = np.flatnonzero(~np.isfinite(actions).all(axis=1))[:10].tolist()
            raise SimInputError(f"non-finite learner action in game(s) {bad}")
        core = self.core
        cmd = to_physical(actions, self.robot)
        other = 1 - self.agent
        opp_obs = self._obs[:, other] if self.opponent.needs_observation else None
        opp_cmd = self.opponent.act(opp_obs, core.poses, core.velocities, core.obstacles,
                                    core.obstacle_mask)
        if self.agent == 0:
            obs, rewards, terminated, truncated, info = core.step(cmd, opp_cmd)
        else:
            obs, rewards, terminated, truncated, info = core.step(opp_cmd, cmd)
        self._obs = obs
        self.last_info = info
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            elapsed = round(time.time() - self._t0, 6)
            term_obs = info["terminal_observation"]
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": term_obs[i, self.agent].copy(),
                    "TimeLimit.truncated": bool(truncated[i]),
                    "episode": {"r": float(info["episode_return"][i, self.agent]),
                                "l": int(info["episode_length"][i]), "t": elapsed,
                                "captured": bool(info["captured"][i]),
                                "violation_steps":
                                    int(info["episode_violation_steps"][i, self.agent])},
                }
        return (obs[:, self.agent].copy(), rewards[:, self.agent].astype(np.float32), dones,
                infos)

    def close(self) -> None:
        """Nothing to release."""

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attribute of this env (shared by all games), once per requested index.

        :param attr_name: attribute name.
        :param indices: game indices.
        """
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute shared by all games (per-game values are not supported).

        :param attr_name: attribute name.
        :param value: new value.
        :param indices: must be None or all games.
        """
        if indices is not None and len(self._indices(indices)) != self.num_envs:
            raise SimInputError("set_attr only supports all games at once (indices=None)")
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a method of this env once and return its result per requested index.

        :param method_name: method name.
        :param method_args: positional arguments.
        :param indices: game indices.
        :param method_kwargs: keyword arguments.
        """
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper],
                       indices: VecEnvIndices = None) -> list[bool]:
        """No game is wrapped.

        :param wrapper_class: wrapper type.
        :param indices: game indices.
        """
        return [False for _ in self._indices(indices)]
