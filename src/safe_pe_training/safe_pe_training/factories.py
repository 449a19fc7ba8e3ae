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

Sim and CBF modules are imported inside the functions that need them, so importing this
module (and `safe_pe_training.config`) stays cheap; neither imports SB3 or rclpy.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional

import numpy as np

from safe_pe_training.config import ROLES, ConfigError, SafeSelfPlayConfig

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


def role_index(role: str | int) -> int:
    """Agent index of a role: 0 = pursuer, 1 = evader.

    :param role: "pursuer", "evader", 0 or 1.
    """
    if isinstance(role, str) and role in ROLES:
        return ROLES.index(role)
    if isinstance(role, (int, np.integer)) and not isinstance(role, bool) and role in (0, 1):
        return int(role)
    raise ConfigError(f"role must be 'pursuer' (0) or 'evader' (1), got {role!r}")


def _merge(base: dict[str, Any], overrides: Mapping[str, Any], where: str) -> None:
    """Recursively merge `overrides` into `base` (in place); dicts merge, values replace."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = copy.deepcopy(value)


def _forbid(overrides: Mapping[str, Any], path: tuple[str, str], instead: str) -> None:
    section = overrides.get(path[0])
    if isinstance(section, Mapping) and path[1] in section:
        raise ConfigError(f"env.overrides.{path[0]}.{path[1]} conflicts with {instead}; "
                          f"set it there instead")


def make_env_config(config: SafeSelfPlayConfig) -> Any:
    """The simulator `EnvConfig` of a training config.

    Starts from the profile, merges `env.overrides`, then applies the `obstacles` section
    (disabled: no obstacles at all), the safety reward (w5 = 0 without `use_safety_reward`)
    and the evader speed margin (evader v_max = margin * pursuer v_max).

    :param config: the training config.
    :return: a validated `safe_pe_sim.config.EnvConfig`.
    :raises ConfigError: for overrides that conflict with a dedicated section; the sim's
        `ConfigError` for invalid values.
    """
    from safe_pe_sim.config import EnvConfig, load_profile

    overrides = config.env.overrides
    _forbid(overrides, ("rewards", "w5"), "safety_reward.w5 / use_safety_reward")
    _forbid(overrides, ("rewards", "h_max"), "safety_reward.h_max")
    if config.self_play.evader_speed_margin is not None:
        _forbid(overrides, ("evader", "v_max"), "self_play.evader_speed_margin (or set that "
                "to null)")
    for name in ("count_min", "count_max"):
        if getattr(config.obstacles, name) is not None:
            _forbid(overrides, ("obstacles", name), f"obstacles.{name}")
    data = load_profile(config.env.profile).to_dict()
    _merge(data, overrides, "env.overrides")
    obstacles = data["obstacles"]
    if not config.obstacles.enabled:
        obstacles.update(count_min=0, count_max=0, explicit=[])
    else:
        if config.obstacles.count_min is not None:
            obstacles["count_min"] = config.obstacles.count_min
        if config.obstacles.count_max is not None:
            obstacles["count_max"] = config.obstacles.count_max
    data["rewards"]["w5"] = config.safety_reward.w5 if config.use_safety_reward else 0.0
    data["rewards"]["h_max"] = config.safety_reward.h_max
    margin = config.self_play.evader_speed_margin
    if margin is not None:
        data["evader"]["v_max"] = round(float(margin * data["pursuer"]["v_max"]), 9)
    return EnvConfig.from_dict(data)


def make_cbf_config(config: SafeSelfPlayConfig, role: str | int = "pursuer",
                    env_config: Any = None) -> Any:
    """The `CBFConfig` of one robot: its limits, the other robot as opponent, `config.cbf`.

    :param config: the training config.
    :param role: "pursuer"/0 or "evader"/1.
    :param env_config: the `EnvConfig` (default: `make_env_config(config)`).
    :return: a validated `safe_pe_cbf.config.CBFConfig`.
    """
    from safe_pe_cbf.config import CBFConfig

    env = env_config if env_config is not None else make_env_config(config)
    me_index = role_index(role)
    me, other = env.robots()[me_index], env.robots()[1 - me_index]
    c = config.cbf
    return CBFConfig(
        vcp_offset=c.vcp_offset, dt=env.dt, robot_radius=me.radius, v_min=me.v_min,
        v_max=me.v_max, omega_max=me.omega_max, opponent_radius=other.radius,
        opponent_vcp_offset=c.vcp_offset, opponent_v_max=other.v_abs_max,
        opponent_omega_max=other.omega_max, collision_mode=c.collision_mode,
        collision_share=c.collision_share, gamma=c.gamma, weights=tuple(c.weights),
        margin=c.margin, relaxation_order=tuple(c.relaxation_order), solver=c.solver,
        osqp_warm_start=c.osqp_warm_start, feasibility_tol=c.feasibility_tol)


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
    from safe_pe_cbf.geometry import Arena

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
    from safe_pe_cbf.config import CBFConfig
    from safe_pe_cbf.resolver import SafeActionResolver

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
    from safe_pe_cbf.batch import BatchedSafetyFilter

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
    from safe_pe_training.safety_reward import SafetyRewardComputer

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
    from safe_pe_sim.env import PursuitEvasionEnv

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
    from safe_pe_sim.vec_env import PursuitEvasionVecEnv

    env_config = make_env_config(config)
    return PursuitEvasionVecEnv(env_config, num_envs=num_envs or config.num_envs, role=role,
                                opponent=opponent, seed=config.seed if seed is None else seed,
                                safety_reward=make_safety_reward(config, env_config))
