"""`safe_self_play_rollout`: play episodes with both robots filtered, without SB3.

Both agents act every control step (a policy each, or uniformly random commands). With
`use_cbf`, each robot's nominal command goes through its own `SafeActionResolver`, both
resolved from the same sampled state (each sees the other's pose at that instant; under the
simulator's actuator model also its held velocity, its commands in flight and the other's held
velocity, as the filter node gets them from odometry); the safe commands are then applied
together. Every filtered command is recorded in a
`SafetyMetricsTracker` (one step per robot per control step) together with the simulator's
ground-truth, sub-stepped violation flag of that robot. Without `use_cbf` the nominal
commands are applied unchanged and recorded as tier DISABLED (their barrier margin is still
measured, so runs with and without the filter are comparable).

Policy specs (per role, as `policies={"pursuer": ..., "evader": ...}` or a pair):

- None: uniformly random commands within the robot's limits (seeded);
- a scripted baseline name of `safe_pe_sim.baselines.SCRIPTED` ("pure_pursuit", "flee",
  "aware_flee", "random", ...), acting on the game state;
- a callable ``f(obs) -> action`` with the robot's observation ``(OBS_DIM,)`` and a normalised
  action in ``[-1, 1]^2``; or an object with ``predict(obs, deterministic=True)`` (SB3 model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from safe_pe_sim.game import PursuitEvasionGame
from safe_pe_sim.opponents import Opponent

from safe_pe_training.config import ROLES, ConfigError, SafeSelfPlayConfig
from safe_pe_training.factories import arena_of, make_cbf_config, make_env_config, \
    make_resolver, make_safety_reward
from safe_pe_training.safety_stats import SafetyMetricsSummary
from safe_pe_training.safety_targets import SafetyTargetCheck
from safe_pe_training.safety_tracker import SafetyMetricsTracker

__all__ = ["EpisodeResult", "RolloutResult", "safe_self_play_rollout"]

_TIER_DISABLED = 5


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one episode.

    :param index: episode number within the rollout (0-based).
    :param outcome: "capture", "timeout", or "violation" (ended by a violation with the
        env's `terminate_on_violation`).
    :param length: control steps played.
    :param returns: (pursuer, evader) undiscounted returns, safety reward included.
    :param violations: (pursuer, evader) steps in which that robot's body violated a
        constraint (ground truth, sub-stepped).
    :param interventions: (pursuer, evader) steps in which the filter changed the command.
    :param tier_counts: per robot, steps per resolver tier (length 6 each).
    :param min_h: (pursuer, evader) smallest barrier value seen in the episode.
    :param min_distance: smallest centre distance between the robots [m].
    :param obstacles: number of obstacles in the episode.
    """

    index: int
    outcome: str
    length: int
    returns: tuple[float, float]
    violations: tuple[int, int]
    interventions: tuple[int, int]
    tier_counts: tuple[tuple[int, ...], tuple[int, ...]]
    min_h: tuple[float, float]
    min_distance: float
    obstacles: int

    @property
    def captured(self) -> bool:
        """Whether the evader was captured."""
        return self.outcome == "capture"


@dataclass
class RolloutResult:
    """Episodes, safety metrics and target check of one rollout.

    :param episodes: one result per episode, in order.
    :param safety: lifetime safety metrics over both robots' filtered steps.
    :param per_agent: safety metrics of each robot ("pursuer", "evader").
    :param targets: safety-target check over both robots (config's thresholds).
    :param tracker: the tracker itself (both robots), for further queries.
    :param config: the config that was played.
    """

    episodes: list[EpisodeResult]
    safety: SafetyMetricsSummary
    per_agent: dict[str, SafetyMetricsSummary]
    targets: SafetyTargetCheck
    tracker: SafetyMetricsTracker = field(repr=False)
    config: SafeSelfPlayConfig = field(repr=False)

    @property
    def capture_rate(self) -> float:
        """Fraction of episodes ending in capture."""
        return sum(e.captured for e in self.episodes) / max(len(self.episodes), 1)

    @property
    def mean_length(self) -> float:
        """Mean episode length in steps."""
        return float(np.mean([e.length for e in self.episodes])) if self.episodes else 0.0

    @property
    def total_violations(self) -> int:
        """Violation steps of both robots over all episodes."""
        return sum(sum(e.violations) for e in self.episodes)

    @property
    def exact_rate(self) -> float:
        """Fraction of filtered commands resolved exactly (tier NOMINAL or QP)."""
        return self.safety.exact_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (episodes, metrics, targets)."""
        return {
            "episodes": [e.__dict__ | {"captured": e.captured} for e in self.episodes],
            "capture_rate": self.capture_rate, "mean_length": self.mean_length,
            "total_violations": self.total_violations, "safety": self.safety.to_dict(),
            "per_agent": {k: v.to_dict() for k, v in self.per_agent.items()},
            "targets": self.targets.to_dict(),
        }


def _policy_specs(policies: Any) -> tuple[Any, Any]:
    if policies is None:
        return (None, None)
    if isinstance(policies, Mapping):
        unknown = set(policies) - set(ROLES)
        if unknown:
            raise ConfigError(f"policies has unknown role(s) {sorted(unknown)}; use "
                              f"{list(ROLES)}")
        return (policies.get("pursuer"), policies.get("evader"))
    if isinstance(policies, Sequence) and not isinstance(policies, str) and len(policies) == 2:
        return (policies[0], policies[1])
    raise ConfigError("policies must be None, {'pursuer': spec, 'evader': spec} or a pair "
                      "(pursuer_spec, evader_spec)")


def safe_self_play_rollout(config: SafeSelfPlayConfig, n_episodes: int,
                           policies: Any = None, seed: Optional[int] = None
                           ) -> RolloutResult:
    """Play `n_episodes` games; filter both robots' commands when `config.use_cbf`.

    :param config: training config (env, obstacles, CBF, safety reward, targets).
    :param n_episodes: episodes to play (>= 1).
    :param policies: per-role policy specs (see module doc); None = both random.
    :param seed: seed of layouts, spawns and random policies (default: `config.seed`).
    :return: episode results, safety metrics (both robots and per robot), target check.
    :raises ConfigError: for a bad config, episode count or policy spec.
    """

    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ConfigError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
    config.validate(deep=False)
    base_seed = config.seed if seed is None else seed
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {base_seed!r}")
    env_config = make_env_config(config)
    arena = arena_of(env_config)
    policy_rng = np.random.default_rng([base_seed, 1])
    agents = [Opponent("random" if spec is None else spec, env_config, role, policy_rng)
              for spec, role in zip(_policy_specs(policies), ROLES)]
    resolvers = [make_resolver(config, make_cbf_config(config, role, env_config), arena)
                 for role in ROLES]
    tracker = SafetyMetricsTracker(targets=config.safety_targets)
    per_agent = [SafetyMetricsTracker(targets=config.safety_targets) for _ in ROLES]

    game = PursuitEvasionGame(env_config)
    safety_reward = make_safety_reward(config, env_config)  # None without w5
    game.seed(base_seed)
    episodes = []
    for index in range(n_episodes):
        game.reset()
        for resolver in resolvers:
            resolver.update(obstacles=game.obstacles_array)
        episodes.append(_play_episode(index, config, game, agents, resolvers, tracker,
                                      per_agent, safety_reward))
    return RolloutResult(
        episodes=episodes, safety=tracker.get_summary(),
        per_agent={role: t.get_summary() for role, t in zip(ROLES, per_agent)},
        targets=tracker.check_safety_targets(), tracker=tracker, config=config)


def _actuation(cbf: Any, game: Any, agent: int) -> dict[str, Any]:
    """The actuator state robot ``agent``'s resolver needs, from the game (its held velocity,
    its commands in flight, the opponent's held velocity); none with ideal actuation.

    :param cbf: the robot's filter ``CBFConfig``
    :param game: the ``PursuitEvasionGame``
    :param agent: 0 pursuer, 1 evader
    """
    if not cbf.actuated:
        return {}
    steps = cbf.actuator.latency_steps
    return {"velocity": game.velocities[agent], "pending": game.command_queue[agent, :steps],
            "opponent_velocity": game.velocities[1 - agent]}


def _w5(safety_reward: Any, game: Any) -> tuple[float, float]:
    """The w5 term of both robots at the game's state after a step (0 without w5).

    :param safety_reward: training's ``SafetyRewardComputer``, or None
    :param game: the ``PursuitEvasionGame``
    """
    if safety_reward is None:
        return 0.0, 0.0
    extra = safety_reward.compute(np.asarray(game.poses, dtype=np.float64)[None],
                                  game.obstacles_array[None],
                                  np.ones((1, len(game.obstacles)), dtype=bool))[0]
    return float(extra[0]), float(extra[1])


def _play_episode(index: int, config: SafeSelfPlayConfig, game: Any, agents: list[Any],
                  resolvers: list[Any], tracker: SafetyMetricsTracker,
                  per_agent: list[SafetyMetricsTracker], safety_reward: Any
                  ) -> EpisodeResult:
    use_cbf = config.use_cbf
    returns = [0.0, 0.0]
    outcome = "timeout"
    # Per control step: [pursuer, evader] rows, recorded into the trackers once per episode.
    tiers_log: list[list[int]] = []
    margins_log: list[list[float]] = []
    sizes_log: list[list[float]] = []
    changed_log: list[list[bool]] = []
    feasible_log: list[list[bool]] = []
    violated_log: list[list[bool]] = []
    while True:
        poses = game.poses
        nominal = [agent.act_single(game.observation(i) if agent.needs_observation else None,
                                    poses, game.velocities, game.obstacles_array)
                   for i, agent in enumerate(agents)]
        if use_cbf:
            records = [resolvers[i].resolve(poses[i], nominal[i], poses[1 - i],
                                            **_actuation(resolvers[i].config, game, i))
                       for i in range(2)]
            commands = [(float(u[0]), float(u[1])) for u, _ in records]
            tiers_log.append([int(r.tier) for _, r in records])
            margins_log.append([r.min_h for _, r in records])
            sizes_log.append([r.intervention for _, r in records])
            changed_log.append([r.intervened for _, r in records])
            feasible_log.append([r.qp_feasible for _, r in records])
        else:
            commands = nominal
            tiers_log.append([_TIER_DISABLED, _TIER_DISABLED])
            # measured, not filtered: the smallest barrier value of the resolver's rows
            margins_log.append([resolvers[i].constraints(poses[i], poses[1 - i]).min_h()[0]
                                for i in range(2)])
            sizes_log.append([0.0, 0.0])
            changed_log.append([False, False])
            feasible_log.append([True, True])
        result = game.step(commands[0], commands[1])
        violated_log.append(list(result.safety.violated))
        w5 = _w5(safety_reward, game)  # training's term: added here, not attached to the game
        returns[0] += result.rewards[0] + w5[0]
        returns[1] += result.rewards[1] + w5[1]
        if result.terminated or result.truncated:
            if result.captured:
                outcome = "capture"
            elif result.terminated:
                outcome = "violation"
            break
    columns = [np.asarray(c) for c in (tiers_log, margins_log, sizes_log, violated_log,
                                         feasible_log, changed_log)]
    tiers, margins, sizes, violated, feasible, changed = columns
    tracker.record_batch(*(c.reshape(-1) for c in columns))  # steps interleaved p, e, p, ...
    for i in range(2):
        per_agent[i].record_batch(*(c[:, i] for c in columns))
    counts = [np.bincount(tiers[:, i], minlength=6) for i in range(2)]
    return EpisodeResult(
        index=index, outcome=outcome, length=game.step_count,
        returns=(returns[0], returns[1]),
        violations=(int(violated[:, 0].sum()), int(violated[:, 1].sum())),
        interventions=(int(changed[:, 0].sum()), int(changed[:, 1].sum())),
        tier_counts=(tuple(int(c) for c in counts[0]), tuple(int(c) for c in counts[1])),
        min_h=(float(np.nanmin(margins[:, 0])), float(np.nanmin(margins[:, 1]))),
        min_distance=float(game.min_distance),
        obstacles=int(game.obstacles_array.shape[0]))
