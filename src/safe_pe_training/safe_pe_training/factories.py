"""Build the simulator and safety-filter objects a `SafeSelfPlayConfig` describes.

- `make_env_config(config)`: the simulator's `EnvConfig` (profile + overrides, obstacles
  on/off, safety reward weight, evader speed margin);
- `make_cbf_config(config, role)` / `make_cbf_filter(config, role)`: the `CBFConfig` of one
  robot (its own limits and radius, the other robot as opponent, the shared filter settings);
- `make_resolver(config, cbf, arena, obstacles)`: a single-robot `SafeActionResolver`;
- `make_batched_filter(config, role)`: a `BatchedSafetyFilter` for vectorized envs;
- `make_safety_reward(config)`: training's w5 `SafetyRewardComputer` (None without w5), using
  both robots' CBF configs so the reward pays for the margins the filters enforce;
- `make_safe_env(config)` / `make_safe_vec_env(config)`: the game with obstacles and, with
  `use_safety_reward`, the safety reward.

`make_env_config`, `make_cbf_config` and `role_index` live in `safe_pe_training.config` (its
deep validation builds them) and are re-exported here. This module imports numpy-only cores;
the gymnasium and SB3 envs are imported by the two functions that build them, so the policy
node on a robot (numpy + onnxruntime, no gymnasium/SB3) can use the filter factories.
"""

from __future__ import annotations

from typing import Any, Optional

from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver
from safe_pe_sim.roles import ROLES

from safe_pe_training.config import ConfigError, SafeSelfPlayConfig, make_cbf_config, \
    make_env_config, role_index
from safe_pe_training.safety_reward import SafetyRewardComputer

__all__ = [
    "arena_of",
    "make_cbf_config",
    "make_batched_filter",
    "make_cbf_filter",
    "make_env_config",
    "make_resolver",
    "make_safe_env",
    "make_safe_vec_env",
    "make_safety_reward",
    "role_index",
]


def make_cbf_filter(config: SafeSelfPlayConfig, role: str | int = "pursuer",
                    env_config: Any = None) -> Any:
    """Alias of `make_cbf_config` (the filter of a robot is fully described by its config).

    :param config: the training config.
    :param role: "pursuer"/0 or "evader"/1.
    :param env_config: the `EnvConfig` (default: `make_env_config(config)`).
    """
    return make_cbf_config(config, role, env_config)


def arena_of(env_config: Any) -> Any:
    """The `safe_pe_cbf.geometry.Arena` of an `EnvConfig`.

    :param env_config: simulator config.
    """
    return Arena(*env_config.arena.bounds())


def make_resolver(config: SafeSelfPlayConfig, cbf: Any = None, arena: Any = None,
                  obstacles: Any = None, role: str | int = "pursuer") -> Any:
    """A single-robot `SafeActionResolver` of a config.

    :param config: the training config.
    :param cbf: the robot's `CBFConfig` (default: `make_cbf_config(config, role)`).
    :param arena: a `safe_pe_cbf.geometry.Arena` (default: the env config's arena).
    :param obstacles: (K, 3) obstacles (default: none; `resolver.update(obstacles=...)` per
        episode).
    :param role: robot whose CBF config is built when `cbf` is None.
    """
    env_config = None
    if cbf is None or arena is None:
        env_config = make_env_config(config)
    if cbf is None:
        cbf = make_cbf_config(config, role, env_config)
    if not isinstance(cbf, CBFConfig):
        raise ConfigError(f"cbf must be a safe_pe_cbf CBFConfig (see make_cbf_config), "
                          f"got {type(cbf).__name__}")
    if arena is None:
        arena = arena_of(env_config)
    return SafeActionResolver(cbf, arena, () if obstacles is None else obstacles)


def make_batched_filter(config: SafeSelfPlayConfig, role: str | int = "pursuer",
                        env_config: Any = None) -> Any:
    """A `BatchedSafetyFilter` of one robot for N vectorized games.

    :param config: the training config.
    :param role: "pursuer"/0 or "evader"/1.
    :param env_config: the `EnvConfig` (default: `make_env_config(config)`).
    """
    env = env_config if env_config is not None else make_env_config(config)
    return BatchedSafetyFilter(make_cbf_config(config, role, env), arena_of(env))


def make_safety_reward(config: SafeSelfPlayConfig, env_config: Any = None) -> Any:
    """Training's w5 `SafetyRewardComputer`, or None without the safety reward.

    Its barrier values use both robots' CBF configs of this training config, so the reward
    pays for exactly the margins the filters enforce.

    :param config: the training config.
    :param env_config: the `EnvConfig` (default: `make_env_config(config)`); its
        `rewards.w5` / `rewards.h_max` come from the `safety_reward` section.
    """
    if not config.use_safety_reward:
        return None
    env = env_config if env_config is not None else make_env_config(config)
    cbf_configs = tuple(make_cbf_config(config, role, env) for role in ROLES)
    return SafetyRewardComputer(env, cbf_configs=cbf_configs)


def make_safe_env(config: SafeSelfPlayConfig, role: str = "pursuer", opponent: Any = None,
                  render_mode: Optional[str] = None) -> Any:
    """A gymnasium env of one role: the config's game (obstacles included) and, with
    `use_safety_reward`, the safety reward added to each agent's reward by the simulator.

    Commands are not filtered here (see `safe_pe_training.safe_vec_env`).

    :param config: the training config.
    :param role: the learner's role.
    :param opponent: opponent spec (see `safe_pe_sim.opponents`).
    :param render_mode: None or "rgb_array".
    """
    from safe_pe_sim.env import PursuitEvasionEnv  # gymnasium: absent on robots

    env_config = make_env_config(config)
    return PursuitEvasionEnv(env_config, role=role, opponent=opponent, render_mode=render_mode,
                             safety_reward=make_safety_reward(config, env_config))


def make_safe_vec_env(config: SafeSelfPlayConfig, role: str = "pursuer",
                      opponent: Any = None, num_envs: Optional[int] = None,
                      seed: Optional[int] = None) -> Any:
    """The SB3 `PursuitEvasionVecEnv` of a config with the safety reward attached to its core.

    Commands are not filtered here (see `safe_pe_training.safe_vec_env`).

    :param config: the training config.
    :param role: the learner's role.
    :param opponent: opponent spec.
    :param num_envs: games N (default: `config.num_envs`).
    :param seed: base seed (default: `config.seed`).
    """
    from safe_pe_sim.vec_env import PursuitEvasionVecEnv  # SB3: absent on robots

    env_config = make_env_config(config)
    return PursuitEvasionVecEnv(env_config, num_envs=num_envs or config.num_envs, role=role,
                                opponent=opponent, seed=config.seed if seed is None else seed,
                                safety_reward=make_safety_reward(config, env_config))
