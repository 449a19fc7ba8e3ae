"""Evaluation matches: two frozen policies (checkpoints or scripted baselines) for N episodes.

``play_match`` runs ``n_episodes`` games side by side, one episode per game slot, so short
episodes are not over-represented, with both agents' commands through the batched CBF filter
when filters are given (the same pipeline as training, the actuator state included). It
reports capture rate, episode length, body-level violations and filter activity per agent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from safe_pe_training.action_mapping import CommandLimits, normalise_box
from safe_pe_training.checkpoints import load_policy
from safe_pe_training.factories import make_env_config
from safe_pe_training.opponents import AgentView, Opponent, PolicyOpponent, baseline_opponent
from safe_pe_training.safe_vec_env import make_core, make_filters
from safe_pe_training.actuation_state import as_kwargs, check_filter_actuators, \
    filter_actuation

TIER_BACKUP = 3


@dataclass
class MatchResult:
    """Outcome of an evaluation match.

    :param pursuer: label of the pursuer policy
    :param evader: label of the evader policy
    :param episodes: finished episodes
    :param capture_rate: fraction ended by capture
    :param timeout_rate: fraction truncated at the step limit (evader escaped)
    :param mean_length: mean episode length in steps
    :param mean_capture_steps: mean length of the episodes ended by capture (nan: none)
    :param violation_steps: body-level violation steps per agent ``[pursuer, evader]``
    :param violation_episodes: episodes with any violation (either agent)
    :param intervention_rate: fraction of steps the filter changed the command, per agent
    :param backup_rate: fraction of steps resolved by the backup tier, per agent
    :param steps: game steps played (summed over games)
    :param filtered: whether the CBF filter was on
    """

    pursuer: str
    evader: str
    episodes: int
    capture_rate: float
    timeout_rate: float
    mean_length: float
    mean_capture_steps: float = float("nan")
    violation_steps: list[int] = field(default_factory=lambda: [0, 0])
    violation_episodes: int = 0
    intervention_rate: list[float] = field(default_factory=lambda: [0.0, 0.0])
    backup_rate: list[float] = field(default_factory=lambda: [0.0, 0.0])
    steps: int = 0
    filtered: bool = True
    trajectory: np.ndarray | None = field(default=None, repr=False, compare=False)
    obstacles: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON), without the recorded trajectory."""
        data = asdict(self)
        data.pop("trajectory")
        data.pop("obstacles")
        return data


def play_match(core: Any, pursuer: Opponent, evader: Opponent, n_episodes: int,
               filters: Sequence[Any] | None, seed: int = 0,
               record_game: int | None = None) -> MatchResult:
    """Play one episode in each of the core's ``num_envs`` games (``n_episodes`` of them).

    :param core: a fresh ``VectorizedPursuitEvasion`` with ``num_envs == n_episodes``
    :param pursuer: pursuer policy
    :param evader: evader policy
    :param n_episodes: number of episodes (must equal ``core.num_envs``)
    :param filters: ``[pursuer_filter, evader_filter]`` or None (unfiltered)
    :param seed: base seed of the games
    :param record_game: index of a game whose poses are kept in ``result.trajectory``
        ``(T, 2, 3)`` (obstacles in ``result.obstacles``), e.g. for an episode figure
    """
    if n_episodes < 1 or core.num_envs != n_episodes:
        raise ValueError(f"play_match needs a core with num_envs == n_episodes >= 1, got "
                         f"num_envs={core.num_envs}, n_episodes={n_episodes}")
    limits = [CommandLimits.from_robot(r) for r in core.config.robots()]
    if filters is not None:
        check_filter_actuators(filters, core.config.robots())
    obs_all = core.reset(seed=seed)
    n = n_episodes
    active = np.ones(n, dtype=bool)
    captured = np.zeros(n, dtype=bool)
    timed_out = np.zeros(n, dtype=bool)
    length = np.zeros(n, dtype=np.int64)
    any_violation = np.zeros(n, dtype=bool)
    violation_steps = np.zeros(2, dtype=np.int64)
    interventions = np.zeros(2, dtype=np.int64)
    backups = np.zeros(2, dtype=np.int64)
    steps = 0
    players = (pursuer, evader)
    trajectory: list[np.ndarray] = []
    recorded_obstacles = None
    if record_game is not None:
        trajectory.append(core.poses[record_game].copy())
        recorded_obstacles = core.obstacles[record_game][core.obstacle_mask[record_game]].copy()

    def actuation(agent: int) -> dict[str, np.ndarray]:
        """The filter's actuator state in the core now (none with ideal actuation)."""
        assert filters is not None
        return as_kwargs(filter_actuation(filters[agent].config, core.velocities,
                                          core.command_queue, agent))

    def box_fn(agent: int) -> np.ndarray:
        assert filters is not None
        lo, hi, _ = filters[agent].action_box(core.poses[:, agent], core.obstacles,
                                              core.obstacle_mask, core.poses[:, 1 - agent],
                                              **actuation(agent))
        lo = np.asarray(lo, dtype=np.float64)
        return normalise_box(lo, np.maximum(np.asarray(hi, dtype=np.float64), lo),
                             limits[agent])

    max_steps = int(core.config.max_steps)
    for _ in range(max_steps + 1):
        if not active.any():
            break
        cmds = []
        for agent in (0, 1):
            view = AgentView(agent, core, obs_all, limits[agent],
                             box_fn if filters is not None else None)
            cmd = np.asarray(players[agent].act(view), dtype=np.float64).reshape(n, 2)
            if not np.all(np.isfinite(cmd)):
                raise ValueError(f"{players[agent].label} returned NaN/inf commands")
            cmds.append(cmd)
        if filters is not None:
            poses = core.poses.copy()
            safe = []
            for agent in (0, 1):
                u, rec = filters[agent].resolve(poses[:, agent], cmds[agent], core.obstacles,
                                                core.obstacle_mask, poses[:, 1 - agent],
                                                **actuation(agent))
                safe.append(u)
                interventions[agent] += int(np.count_nonzero(
                    np.asarray(rec.intervened, dtype=bool) & active))
                backups[agent] += int(np.count_nonzero(
                    (np.asarray(rec.tier) == TIER_BACKUP) & active))
        else:
            safe = cmds
        obs_all, _, _, _, info = core.step(safe[0], safe[1])
        if record_game is not None and active[record_game]:
            trajectory.append(np.asarray(info["end_poses"])[record_game].copy())
        viol = np.asarray(info["violation"], dtype=bool)
        violation_steps += viol[active].sum(axis=0)
        any_violation |= viol.any(axis=1) & active
        steps += int(active.sum())
        done = np.asarray(info["done"], dtype=bool) & active
        captured[done] = np.asarray(info["captured"], dtype=bool)[done]
        timed_out[done] = np.asarray(info["timed_out"], dtype=bool)[done]
        length[done] = np.asarray(info["episode_length"])[done]
        active &= ~done
    finished = ~active
    count = int(finished.sum())
    denom = max(steps, 1)
    return MatchResult(
        pursuer=getattr(pursuer, "label", "pursuer"), evader=getattr(evader, "label", "evader"),
        episodes=count,
        capture_rate=float(captured[finished].mean()) if count else float("nan"),
        timeout_rate=float(timed_out[finished].mean()) if count else float("nan"),
        mean_length=float(length[finished].mean()) if count else float("nan"),
        mean_capture_steps=(float(length[finished & captured].mean())
                            if (finished & captured).any() else float("nan")),
        violation_steps=[int(v) for v in violation_steps],
        violation_episodes=int(any_violation.sum()),
        intervention_rate=[float(i / denom) for i in interventions],
        backup_rate=[float(b / denom) for b in backups],
        steps=steps, filtered=filters is not None,
        trajectory=np.asarray(trajectory) if record_game is not None else None,
        obstacles=recorded_obstacles,
    )


def format_match_table(results: Sequence[MatchResult]) -> str:
    """Fixed-width text table of match results.

    :param results: matches to show
    """
    header = (f"{'pursuer':<26} {'evader':<26} {'eps':>4} {'capture':>8} {'len':>7} "
              f"{'viol P/E':>10} {'interv P/E':>12} {'backup P/E':>12}")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.pursuer[-26:]:<26} {r.evader[-26:]:<26} {r.episodes:>4d} "
            f"{r.capture_rate:>8.3f} {r.mean_length:>7.1f} "
            f"{r.violation_steps[0]:>4d}/{r.violation_steps[1]:<5d} "
            f"{r.intervention_rate[0]:>5.3f}/{r.intervention_rate[1]:<6.3f} "
            f"{r.backup_rate[0]:>5.3f}/{r.backup_rate[1]:<6.3f}")
    return "\n".join(lines)


def evaluate_checkpoints(config: Any, pursuer: str, evader: str,
                         n_episodes: int, seed: int = 0) -> MatchResult:
    """Play a match between two checkpoints or baselines (``baseline:<name>``).

    :param config: config giving the game, filters and limits
    :param pursuer: checkpoint path or ``baseline:<name>`` for the pursuer
    :param evader: checkpoint path or ``baseline:<name>`` for the evader
    :param n_episodes: episodes
    :param seed: seed of the games
    """
    env_config = make_env_config(config)
    players = []
    for role, ref in (("pursuer", pursuer), ("evader", evader)):
        if ref.startswith("baseline:"):
            players.append(baseline_opponent(ref.split(":", 1)[1], env_config, role, seed))
        else:
            policy = load_policy(ref, deterministic=True)
            if policy.role != role:
                raise ValueError(f"{ref} is a {policy.role} checkpoint, not a {role} one")
            players.append(PolicyOpponent(policy, label=Path(ref).stem))
    core = make_core(config, env_config, n_episodes, seed)
    return play_match(core, players[0], players[1], n_episodes,
                      make_filters(config, env_config), seed=seed)
