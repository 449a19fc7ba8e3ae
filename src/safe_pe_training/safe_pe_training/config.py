"""`SafeSelfPlayConfig`: every parameter of a safe self-play run, typed, validated, YAML.

Layout (YAML keys = field names; every section is a dataclass below)::

    run_type: A                 # A | B | C | D | custom (A-D must match their flags)
    use_cbf / use_beta_policy / use_safety_reward
    seed, num_envs, total_timesteps, device, torch_threads
    env:            profile (safe_pe_sim profile name or YAML path) + overrides (partial
                    EnvConfig dict merged over the profile)
    obstacles:      enabled, count_min / count_max (null: the profile's)
    cbf:            the filter's own `CBFConfig`, embedded: its shared fields (vcp_offset,
                    gamma, weights, margin, ...); the per-robot fields (`CBF_ENV_FIELDS`:
                    limits, radii, dt, actuator models) always come from the env and are
                    not written here
    safety_reward:  w5, h_max (used only with use_safety_reward)
    safety_targets: thresholds of the safety-target check (zero violations, QP feasibility,
                    backup rate, intervention trend): `safety_targets.SafetyTargets`
    self_play:      steps_per_phase, opponent pool, evaluation, evader speed margin
    ppo:            n_steps, batch_size, learning_rate, ... net_arch

`get_run_configs()` returns the four ablation runs A/B/C/D; `config/runs/run_{a,b,c,d}.yaml`
in the repository hold the same configs.

Validation is two-level: `validate()` checks types and ranges of every field and the
consistency of the flags; with `deep=True` (the default) it also builds the simulator's
`EnvConfig` and both robots' `CBFConfig` (`make_env_config`, `make_cbf_config` below, also
exported by `safe_pe_training.factories`), so a bad override is reported when the config is
loaded, not when training starts. Dicts become dataclasses through the one engine of every
safe_pe config, `safe_pe_cbf.dataclass_io`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import numpy as np
import yaml
from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.dataclass_io import check_types, from_mapping, plain
from safe_pe_cbf.errors import ConfigError as CBFConfigError
from safe_pe_sim.config import ConfigError as SimConfigError, EnvConfig, load_profile, read_yaml
from safe_pe_sim.roles import ROLES

from safe_pe_training.artifacts import atomic_write_text
from safe_pe_training.errors import ConfigError
from safe_pe_training.safety_targets import SafetyTargets

__all__ = [
    "RUN_TYPES",
    "CBF_ENV_FIELDS",
    "ConfigError",
    "EnvSection",
    "ObstacleSection",
    "PPOSection",
    "SafeSelfPlayConfig",
    "SafetyRewardSection",
    "SafetyTargets",
    "SelfPlaySection",
    "get_run_configs",
    "load_run_config",
    "make_cbf_config",
    "make_env_config",
    "role_index",
]

RUN_TYPES = ("A", "B", "C", "D", "custom")
MAX_SEED = 1_000_000_000
"""Training seeds stay below this; the league's evaluation seeds start at twice it."""


#: `CBFConfig` fields each robot's filter takes from the env config (its limits and radius,
#: the other robot's, dt, both robots' actuator models; the opponent's VCP offset is
#: `cbf.vcp_offset`): `make_cbf_config`. The training config's `cbf` holds the other, shared
#: fields; these are not written to YAML and setting them there is an error (one source of
#: truth: the robot's `actuator` in the env config sets the simulator's model and both
#: filters' `actuator` / `opponent_actuator`).
CBF_ENV_FIELDS = ("dt", "robot_radius", "v_min", "v_max", "omega_max", "opponent_radius",
                  "opponent_vcp_offset", "opponent_v_max", "opponent_omega_max", "actuator",
                  "opponent_actuator")
_CBF_DEFAULT = CBFConfig()
_ACTUATOR_FIELDS = ("actuator", "opponent_actuator")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _ideal_section(value: Any) -> bool:
    """Whether ``value`` is an actuator section of ideal actuation (all limits 0): what a
    config written before the actuators came from the env holds, i.e. "not set"."""
    if isinstance(value, ActuatorLimits):
        return value.ideal
    return isinstance(value, Mapping) and all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and v == 0
        for v in value.values())


def _check_no_env_fields(cbf: Mapping[str, Any]) -> None:
    set_here = sorted(name for name in set(cbf) & set(CBF_ENV_FIELDS)
                      if name not in _ACTUATOR_FIELDS or not _ideal_section(cbf[name]))
    _check(not set_here, f"cbf: {set_here} are set per robot from the env config (the "
                         f"profile and env.overrides: dt, pursuer/evader radius and limits, "
                         f"actuator / opponent_actuator = the robots' <role>.actuator, which "
                         f"the simulator applies too; opponent_vcp_offset = cbf.vcp_offset); "
                         f"remove them from cbf")


def _cbf_message(exc: Exception) -> str:
    """A CBFConfig error in the training config's terms (``cbf.gamma``, not CBFConfig's)."""
    return str(exc).replace("CBFConfig.", "cbf.").replace("CBFConfig", "cbf")


@dataclass
class EnvSection:
    """Which game to play.

    :param profile: safe_pe_sim profile name ("default", "turtlebot3_burger") or a YAML path.
    :param overrides: partial `EnvConfig` dict merged (recursively) over the profile, e.g.
        ``{"max_steps": 300, "arena": {"x_max": 5.0}}``. Unknown keys are an error.
    """

    profile: str = "default"
    overrides: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise `ConfigError` for an empty profile."""
        _check(bool(self.profile.strip()), "env.profile must be a profile name or YAML path")


@dataclass
class ObstacleSection:
    """Obstacles on/off and their count (radii and clearances: env overrides).

    :param enabled: place obstacles; False = an empty arena (walls only).
    :param count_min: fewest obstacles per episode (null: the profile's).
    :param count_max: most obstacles per episode (null: the profile's).
    """

    enabled: bool = True
    count_min: Optional[int] = None
    count_max: Optional[int] = None

    def validate(self) -> None:
        """Raise `ConfigError` for negative or unordered counts."""
        for name in ("count_min", "count_max"):
            value = getattr(self, name)
            _check(value is None or value >= 0, f"obstacles.{name} must be >= 0, got {value}")
        if self.count_min is not None and self.count_max is not None:
            _check(self.count_min <= self.count_max,
                   f"obstacles.count_min ({self.count_min}) must be <= obstacles.count_max "
                   f"({self.count_max})")


@dataclass
class SafetyRewardSection:
    """Safety reward ``w5 * clip(min_i h_i / h_max, -1, 1)`` (with `use_safety_reward`).

    :param w5: weight, > 0.
    :param h_max: normaliser of the barrier values, > 0.
    """

    w5: float = 0.01
    h_max: float = 1.0

    def validate(self) -> None:
        """Raise `ConfigError` unless both are > 0."""
        _check(self.w5 > 0.0, f"safety_reward.w5 must be > 0 (turn the reward off with "
                              f"use_safety_reward: false), got {self.w5}")
        _check(self.h_max > 0.0, f"safety_reward.h_max must be > 0, got {self.h_max}")


@dataclass
class SelfPlaySection:
    """Alternating self-play with short phases and an opponent pool.

    :param steps_per_phase: learner env-steps (summed over envs) per phase; short phases
        avoid one side collapsing.
    :param first_role: role trained in phase 0 ("pursuer" or "evader"); roles alternate.
    :param opponent_pool_size: past snapshots kept per role (>= 1).
    :param latest_opponent_prob: share of a phase's games played by the newest opponent
        snapshot.
    :param reference_prob: share of a phase's games played by the scripted references of
        the league (by PFSP weight: mostly the ones the learner still loses to); the rest go
        to older snapshots. At most ``1 - latest_opponent_prob``.
    :param mixture_size: policy snapshots a phase plays against at once, the newest included
        (each game plays one opponent, redrawn per episode; the scripted references are
        always in; ``opponent_pool.OpponentPool.mixture``).
    :param eval_episodes: episodes per phase against scripted baselines (0: no evaluation).
    :param collapse_threshold: a side is collapsing when its evaluation win rate against the
        scripted baselines falls below this fraction.
    :param evader_speed_margin: evader v_max = margin * pursuer v_max (null: the profile's).
    """

    steps_per_phase: int = 100_000
    first_role: str = "pursuer"
    opponent_pool_size: int = 5
    latest_opponent_prob: float = 0.25
    reference_prob: float = 0.5
    mixture_size: int = 4
    eval_episodes: int = 20
    collapse_threshold: float = 0.05
    evader_speed_margin: Optional[float] = 1.15

    def validate(self) -> None:
        """Raise `ConfigError` for out-of-range values."""
        _check(self.steps_per_phase >= 1,
               f"self_play.steps_per_phase must be >= 1, got {self.steps_per_phase}")
        _check(self.first_role in ROLES,
               f"self_play.first_role must be one of {ROLES}, got {self.first_role!r}")
        _check(self.opponent_pool_size >= 1,
               f"self_play.opponent_pool_size must be >= 1, got {self.opponent_pool_size}")
        _check(0.0 <= self.latest_opponent_prob <= 1.0,
               f"self_play.latest_opponent_prob must be in [0, 1], "
               f"got {self.latest_opponent_prob}")
        _check(0.0 <= self.reference_prob <= 1.0 - self.latest_opponent_prob,
               f"self_play.reference_prob must be in [0, 1 - latest_opponent_prob], "
               f"got {self.reference_prob}")
        _check(self.mixture_size >= 1,
               f"self_play.mixture_size must be >= 1, got {self.mixture_size}")
        _check(self.eval_episodes >= 0,
               f"self_play.eval_episodes must be >= 0, got {self.eval_episodes}")
        _check(0.0 <= self.collapse_threshold <= 1.0,
               f"self_play.collapse_threshold must be in [0, 1], got {self.collapse_threshold}")
        margin = self.evader_speed_margin
        _check(margin is None or 0.5 <= margin <= 3.0,
               f"self_play.evader_speed_margin must be null or in [0.5, 3], got {margin}")


@dataclass
class PPOSection:
    """stable-baselines3 PPO hyperparameters (per learner).

    :param n_steps: rollout steps per env per update.
    :param batch_size: minibatch size (<= n_steps * num_envs, > 1).
    :param learning_rate: Adam learning rate.
    :param n_epochs: optimisation epochs per update.
    :param gamma: discount factor in (0, 1].
    :param gae_lambda: GAE lambda in [0, 1].
    :param clip_range: PPO clip range, > 0.
    :param ent_coef: entropy coefficient, >= 0.
    :param vf_coef: value-loss coefficient, >= 0.
    :param max_grad_norm: gradient clipping norm, > 0.
    :param net_arch: hidden layer sizes of the actor and the critic.
    """

    n_steps: int = 256
    batch_size: int = 256
    learning_rate: float = 3e-4
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: list[int] = field(default_factory=lambda: [64, 64])

    def validate(self) -> None:
        """Raise `ConfigError` for out-of-range values."""
        _check(self.n_steps >= 2, f"ppo.n_steps must be >= 2, got {self.n_steps}")
        _check(self.batch_size >= 2, f"ppo.batch_size must be >= 2, got {self.batch_size}")
        _check(self.learning_rate > 0.0,
               f"ppo.learning_rate must be > 0, got {self.learning_rate}")
        _check(self.n_epochs >= 1, f"ppo.n_epochs must be >= 1, got {self.n_epochs}")
        _check(0.0 < self.gamma <= 1.0, f"ppo.gamma must be in (0, 1], got {self.gamma}")
        _check(0.0 <= self.gae_lambda <= 1.0,
               f"ppo.gae_lambda must be in [0, 1], got {self.gae_lambda}")
        _check(self.clip_range > 0.0, f"ppo.clip_range must be > 0, got {self.clip_range}")
        _check(self.ent_coef >= 0.0, f"ppo.ent_coef must be >= 0, got {self.ent_coef}")
        _check(self.vf_coef >= 0.0, f"ppo.vf_coef must be >= 0, got {self.vf_coef}")
        _check(self.max_grad_norm > 0.0,
               f"ppo.max_grad_norm must be > 0, got {self.max_grad_norm}")
        _check(len(self.net_arch) >= 1 and all(n >= 1 for n in self.net_arch),
               f"ppo.net_arch must be a non-empty list of layer sizes >= 1, got {self.net_arch}")


#: (use_cbf, use_beta_policy, use_safety_reward, obstacles.enabled) of each preset run.
RUN_FLAGS: dict[str, tuple[bool, bool, bool, bool]] = {
    "A": (True, True, True, True),  # full safe: CBF-Beta policy + filter + obstacles + w5
    "B": (False, False, False, False),  # unsafe baseline: no CBF, no obstacles
    "C": (True, False, False, True),  # CBF-QP filter only: Gaussian policy, filter on
    "D": (True, True, False, True),  # safe without the safety reward w5
}


@dataclass
class SafeSelfPlayConfig:
    """Every parameter of one safe self-play run (defaults: run A).

    :param run_type: "A", "B", "C", "D" (flags must match the preset) or "custom".
    :param use_cbf: filter every command of both robots through the CBF resolver.
    :param use_beta_policy: CBF-Beta actor whose support is the safe action box (needs
        use_cbf); False = Gaussian actor.
    :param use_safety_reward: add the safety reward (`safety_reward` section).
    :param seed: seed of envs, policies and layouts.
    :param num_envs: parallel environments of the vectorized env.
    :param total_timesteps: training budget in learner env-steps (summed over envs).
    :param device: torch device ("cpu", "cuda", "cuda:N", "auto").
    :param torch_threads: torch intra-op threads (1 is fastest for small nets here).
    :param env: game profile and overrides.
    :param obstacles: obstacles on/off and counts.
    :param cbf: the shared safety-filter parameters (a `CBFConfig`; per-robot fields from
        the env).
    :param safety_reward: safety reward weight and normaliser.
    :param safety_targets: safety/feasibility target thresholds.
    :param self_play: phase length, opponent pool, evaluation, evader speed margin.
    :param ppo: PPO hyperparameters.
    """

    run_type: str = "A"
    use_cbf: bool = True
    use_beta_policy: bool = True
    use_safety_reward: bool = True
    seed: int = 0
    num_envs: int = 16
    total_timesteps: int = 4_000_000
    device: str = "cpu"
    torch_threads: int = 1
    env: EnvSection = field(default_factory=EnvSection)
    obstacles: ObstacleSection = field(default_factory=ObstacleSection)
    cbf: CBFConfig = field(default_factory=CBFConfig)
    safety_reward: SafetyRewardSection = field(default_factory=SafetyRewardSection)
    safety_targets: SafetyTargets = field(default_factory=SafetyTargets)
    self_play: SelfPlaySection = field(default_factory=SelfPlaySection)
    ppo: PPOSection = field(default_factory=PPOSection)

    def __post_init__(self) -> None:
        # Normalise containers so that equality and YAML round trips are exact.
        self.ppo.net_arch = list(self.ppo.net_arch)

    # ------------------------------------------------------------------ derived values
    @property
    def num_phases(self) -> int:
        """Self-play phases the budget buys: ceil(total_timesteps / steps_per_phase)."""
        return math.ceil(self.total_timesteps / self.self_play.steps_per_phase)

    @property
    def flags(self) -> tuple[bool, bool, bool, bool]:
        """(use_cbf, use_beta_policy, use_safety_reward, obstacles.enabled)."""
        return (self.use_cbf, self.use_beta_policy, self.use_safety_reward,
                self.obstacles.enabled)

    # ------------------------------------------------------------------ validation
    def validate(self, deep: bool = True) -> "SafeSelfPlayConfig":
        """Check every field; raise `ConfigError` saying what to fix; return self.

        :param deep: also build the simulator's EnvConfig and both robots' CBFConfig.
        """
        check_types(self, ConfigError)
        _check(self.run_type in RUN_TYPES,
               f"run_type must be one of {RUN_TYPES}, got {self.run_type!r}")
        if self.run_type != "custom":
            names = ("use_cbf", "use_beta_policy", "use_safety_reward", "obstacles.enabled")
            want = RUN_FLAGS[self.run_type]
            wrong = [f"{n}={got} (run {self.run_type} has {w})"
                     for n, got, w in zip(names, self.flags, want) if got != w]
            _check(not wrong, f"run_type {self.run_type!r} does not match its flags: "
                              f"{', '.join(wrong)}; set run_type: custom for other mixes")
        _check(self.use_cbf or not self.use_beta_policy,
               "use_beta_policy needs use_cbf: the Beta support is the CBF safe action box")
        _check(0 <= self.seed < MAX_SEED,
               f"seed must be in [0, {MAX_SEED}), got {self.seed}: larger seeds are the "
               "league's evaluation games (safe_pe_training.league.EVAL_SEED_BASE)")
        _check(self.num_envs >= 1, f"num_envs must be >= 1, got {self.num_envs}")
        _check(self.total_timesteps >= 1,
               f"total_timesteps must be >= 1, got {self.total_timesteps}")
        _check(self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:"),
               f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}")
        _check(self.torch_threads >= 1,
               f"torch_threads must be >= 1, got {self.torch_threads}")
        for section in (self.env, self.obstacles, self.safety_reward, self.safety_targets,
                        self.self_play, self.ppo):
            section.validate()
        self._validate_cbf()
        _check(self.total_timesteps >= self.self_play.steps_per_phase,
               f"total_timesteps ({self.total_timesteps}) is below one self-play phase "
               f"(self_play.steps_per_phase = {self.self_play.steps_per_phase}): only the "
               f"first role would learn; raise the budget (--budget) or shorten the phases "
               f"(--steps-per-phase)")
        rollout = self.ppo.n_steps * self.num_envs
        _check(self.ppo.batch_size <= rollout,
               f"ppo.batch_size ({self.ppo.batch_size}) must be <= ppo.n_steps * num_envs "
               f"({rollout}); lower batch_size or raise n_steps/num_envs")
        if deep:
            try:
                env_config = make_env_config(self)
                for role in ROLES:
                    make_cbf_config(self, role, env_config)
            except ConfigError:
                raise
            except ValueError as exc:  # the sim's / CBF's ConfigError
                raise ConfigError(f"config does not give a valid env/CBF config: {exc}") \
                    from exc
        return self

    def _validate_cbf(self) -> None:
        """The shared filter settings: CBFConfig's ranges, no per-robot values, and shares of
        the two robots (both use `collision_share`) that sum to <= 1."""
        try:
            self.cbf.validate()
        except CBFConfigError as exc:
            raise ConfigError(_cbf_message(exc)) from exc
        _check_no_env_fields({name: getattr(self.cbf, name) for name in CBF_ENV_FIELDS
                              if getattr(self.cbf, name) != getattr(_CBF_DEFAULT, name)})
        # CBFConfig allows a share up to 1 for one robot; here both robots get this share.
        _check(self.cbf.collision_mode != "shared" or self.cbf.collision_share <= 0.5,
               f"cbf.collision_share must be in (0, 0.5] with collision_mode 'shared': both "
               f"robots use it and the two shares must sum to <= 1, got "
               f"{self.cbf.collision_share}")

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (lists for tuples), YAML/JSON friendly."""
        data = plain(dataclasses.asdict(self))
        data["cbf"] = {k: v for k, v in data["cbf"].items() if k not in CBF_ENV_FIELDS}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], validate: bool = True,
                  deep: bool = True) -> "SafeSelfPlayConfig":
        """Build from a nested mapping; missing keys keep their defaults.

        :param data: mapping as written by `to_dict` (a subset is fine).
        :param validate: run `validate` on the result.
        :param deep: passed to `validate`.
        :raises ConfigError: unknown keys, wrong types, out-of-range values.
        """
        cbf = data.get("cbf") if isinstance(data, Mapping) else None
        if isinstance(cbf, Mapping):
            _check_no_env_fields(cbf)
        try:
            config = from_mapping(cls, data, ConfigError)
        except ConfigError:
            raise
        except CBFConfigError as exc:  # CBFConfig's own range checks, at construction
            raise ConfigError(_cbf_message(exc)) from exc
        return config.validate(deep=deep) if validate else config

    def to_yaml(self, path: Union[str, os.PathLike[str], None] = None) -> str:
        """Serialise to YAML; also write it atomically to `path` when given.

        :param path: destination file, or None to only return the text.
        """
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_yaml(cls, source: Union[str, os.PathLike[str]],
                  deep: bool = True) -> "SafeSelfPlayConfig":
        """Load and validate a YAML file (or YAML text: a string containing a newline).

        :param source: file path or YAML document.
        :param deep: passed to `validate`.
        :raises ConfigError: unreadable file, broken YAML, or an invalid config.
        """
        try:
            where, data = read_yaml(source, "training config")
        except SimConfigError as exc:
            raise ConfigError(str(exc)) from exc
        try:
            return cls.from_dict(data, deep=deep)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc

    def copy(self) -> "SafeSelfPlayConfig":
        """Deep copy (not re-validated)."""
        return SafeSelfPlayConfig.from_dict(self.to_dict(), validate=False)


def get_run_configs(base: SafeSelfPlayConfig | None = None) -> dict[str, SafeSelfPlayConfig]:
    """The four ablation runs, each a copy of `base` with its preset flags.

    A: full safe (CBF-Beta + filter + obstacles + w5); B: unsafe baseline (no CBF, no
    obstacles); C: CBF-QP filter only (Gaussian policy, filter on, no w5); D: A without w5.

    :param base: shared parameters (default: `SafeSelfPlayConfig()`).
    :return: {"A": ..., "B": ..., "C": ..., "D": ...}, each validated.
    """
    base = base if base is not None else SafeSelfPlayConfig()
    configs = {}
    for run, (cbf, beta, reward, obstacles) in RUN_FLAGS.items():
        config = base.copy()
        config.run_type = run
        config.use_cbf, config.use_beta_policy, config.use_safety_reward = cbf, beta, reward
        config.obstacles.enabled = obstacles
        configs[run] = config.validate()
    return configs


def load_run_config(name: Union[str, os.PathLike[str]]) -> SafeSelfPlayConfig:
    """A preset run ("A"-"D", any case) or a SafeSelfPlayConfig YAML file.

    :param name: run letter or path.
    """
    key = os.fspath(name)
    if key.upper() in RUN_FLAGS:
        return get_run_configs()[key.upper()]
    if not os.path.exists(key):
        raise ConfigError(f"{key!r} is neither a run type {tuple(RUN_FLAGS)} nor a YAML file")
    return SafeSelfPlayConfig.from_yaml(key)


# ---------------------------------------------------------------------- derived configs
def role_index(role: str | int) -> int:
    """Agent index of a role: 0 = pursuer, 1 = evader.

    :param role: "pursuer", "evader", 0 or 1.
    """
    if isinstance(role, str) and role in ROLES:
        return ROLES.index(role)
    if isinstance(role, (int, np.integer)) and not isinstance(role, bool) and role in (0, 1):
        return int(role)
    raise ConfigError(f"role must be 'pursuer' (0) or 'evader' (1), got {role!r}")


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Recursively merge `overrides` into `base` (in place); dicts merge, values replace."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _forbid(overrides: Mapping[str, Any], path: tuple[str, str], instead: str) -> None:
    section = overrides.get(path[0])
    if isinstance(section, Mapping) and path[1] in section:
        raise ConfigError(f"env.overrides.{path[0]}.{path[1]} conflicts with {instead}; "
                          f"set it there instead")


def make_env_config(config: SafeSelfPlayConfig) -> EnvConfig:
    """The simulator `EnvConfig` of a training config.

    Starts from the profile, merges `env.overrides`, then applies the `obstacles` section
    (disabled: no obstacles at all), the safety reward (w5 = 0 without `use_safety_reward`)
    and the evader speed margin (evader v_max = margin * pursuer v_max).

    :param config: the training config.
    :return: a validated `safe_pe_sim.config.EnvConfig`.
    :raises ConfigError: for overrides that conflict with a dedicated section; the sim's
        `ConfigError` for invalid values.
    """
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
    _merge(data, overrides)
    obstacles = data["obstacles"]
    if not config.obstacles.enabled:
        obstacles.update(count_min=0, count_max=0, explicit=[], boxes=[], segments=[],
                         box_count_min=0, box_count_max=0)
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
                    env_config: EnvConfig | None = None) -> CBFConfig:
    """The `CBFConfig` of one robot: `config.cbf` with the `CBF_ENV_FIELDS` of this robot
    (its limits, radius and actuator model, the other robot as opponent with its actuator
    model, the env's dt). Both robots' actuators ideal: the config of before the actuator
    model, field for field.

    :param config: the training config.
    :param role: "pursuer"/0 or "evader"/1.
    :param env_config: the `EnvConfig` (default: `make_env_config(config)`).
    :return: a validated `safe_pe_cbf.config.CBFConfig`.
    """
    env = env_config if env_config is not None else make_env_config(config)
    me_index = role_index(role)
    me, other = env.robots()[me_index], env.robots()[1 - me_index]
    return dataclasses.replace(
        config.cbf, dt=env.dt, robot_radius=me.radius, v_min=me.v_min, v_max=me.v_max,
        omega_max=me.omega_max, opponent_radius=other.radius,
        opponent_vcp_offset=config.cbf.vcp_offset, opponent_v_max=other.v_abs_max,
        opponent_omega_max=other.omega_max, actuator=dataclasses.replace(me.actuator),
        opponent_actuator=dataclasses.replace(other.actuator))
