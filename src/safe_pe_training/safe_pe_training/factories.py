"""Build the simulator and safety-filter objects a `SafeSelfPlayConfig` describes.

- `make_env_config(config)`: the simulator's `EnvConfig` (profile + overrides, obstacles
  on/off, safety reward weight, evader speed margin);
- `make_cbf_config(config, role)` / `make_cbf_filter(config, role)`: the `CBFConfig` of one
  robot (its own limits and radius, the other robot as opponent, the shared filter settings);
- `make_resolver(config, cbf, arena, obstacles)`: a single-robot `SafeActionResolver`;
- `make_batched_filter(config, role)`: a `BatchedSafetyFilter` for vectorized envs;
- `make_safe_env(config)` / `make_safe_vec_env(config)`: the game with obstacles and, with
  `use_safety_reward`, the safety reward.

Sim and CBF modules are imported inside the functions that need them, so importing this
module (and `safe_pe_training.config`) stays cheap.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from safe_pe_training.config import ROLES, ConfigError, SafeSelfPlayConfig

__all__ = [
    "arena_of",
    "make_cbf_config",
    "make_cbf_filter",
    "make_env_config",
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
