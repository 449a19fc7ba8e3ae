"""Frozen opponents for the learner's vectorized env: batched state in, physical commands out.

An opponent is any object with ``act(view: AgentView) -> (N, 2)`` physical commands
``(v, omega)`` and a ``needs_box`` attribute (True for CBF-Beta policies, which read the safe
box from their observation). :class:`AgentView` gives lazy access to everything an opponent
may need for its agent in all N games: the sim observation, the observation with the safe box
appended, raw poses/velocities/obstacles.

Adapters: :class:`PolicyOpponent` (a loaded checkpoint), :class:`CallableOpponent` (any
``fn(obs (N, D)) -> (N, 2)``), :class:`ScriptedOpponent` (a ``fn(view) -> (N, 2)`` working on
raw state, e.g. the sim's scripted baselines) and :class:`RandomOpponent`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np
from safe_pe_sim.baselines import scripted_policy
from safe_pe_sim.roles import ROLES

from safe_pe_training.action_mapping import CommandLimits
from safe_pe_training.checkpoints import DeployedPolicy

ROLE_INDEX = {role: index for index, role in enumerate(ROLES)}


class AgentView:
    """What one agent sees in N games at the current step (computed lazily, cached).

    :param agent: 0 = pursuer, 1 = evader
    :param core: the sim core (``poses``, ``velocities``, ``obstacles``, ``obstacle_mask``)
    :param obs_all: ``(N, 2, OBS_DIM)`` sim observations of both agents
    :param limits: this agent's command limits
    :param box_fn: ``fn(agent) -> encoded box (N, 4)`` (None when no filter exists)
    """

    def __init__(self, agent: int, core: Any, obs_all: np.ndarray, limits: CommandLimits,
                 box_fn: Callable[[int], np.ndarray] | None) -> None:
        self.agent = agent
        self.core = core
        self.obs_all = obs_all
        self.limits = limits
        self._box_fn = box_fn
        self._obs_box: np.ndarray | None = None

    @property
    def num_envs(self) -> int:
        """Number of games N."""
        return int(self.obs_all.shape[0])

    @property
    def obs(self) -> np.ndarray:
        """``(N, OBS_DIM)`` sim observation of this agent."""
        return self.obs_all[:, self.agent]

    @property
    def obs_with_box(self) -> np.ndarray:
        """``(N, OBS_DIM + 4)``: the observation with the encoded safe box appended."""
        if self._obs_box is None:
            if self._box_fn is None:
                raise ValueError(
                    "this opponent needs the safe action box, but the env has no safety "
                    "filter (use_cbf is False): use a Gaussian-policy opponent instead"
                )
            box = self._box_fn(self.agent)
            obs = self.obs
            out = np.empty((obs.shape[0], obs.shape[1] + box.shape[1]), dtype=np.float32)
            out[:, :obs.shape[1]] = obs
            out[:, obs.shape[1]:] = box
            self._obs_box = out
        return self._obs_box

    @property
    def poses(self) -> np.ndarray:
        """``(N, 2, 3)`` poses of both agents (0 = pursuer)."""
        return self.core.poses

    @property
    def own_pose(self) -> np.ndarray:
        """``(N, 3)`` pose of this agent."""
        return self.core.poses[:, self.agent]

    @property
    def opponent_pose(self) -> np.ndarray:
        """``(N, 3)`` pose of the other agent."""
        return self.core.poses[:, 1 - self.agent]


class Opponent(Protocol):
    """A frozen policy for one agent of N games."""

    needs_box: bool
    label: str

    def act(self, view: AgentView) -> np.ndarray:
        """Physical commands ``(N, 2)`` for the agent of ``view``."""


class PolicyOpponent:
    """A loaded checkpoint as opponent.

    :param policy: deployed policy (see :func:`safe_pe_training.checkpoints.load_policy`)
    :param label: name shown in logs
    """

    def __init__(self, policy: DeployedPolicy, label: str = "policy") -> None:
        self.policy = policy
        self.needs_box = policy.meta.policy_type == "beta"
        self.label = label

    def act(self, view: AgentView) -> np.ndarray:
        """Commands from the policy (sampled unless the policy is deterministic)."""
        obs = view.obs_with_box if self.needs_box else view.obs
        return self.policy(obs)


class CallableOpponent:
    """Wraps ``fn(obs (N, D)) -> (N, 2)`` physical commands.

    :param fn: batched policy function
    :param needs_box: pass the observation with the safe box appended
    :param label: name shown in logs
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], needs_box: bool = False,
                 label: str = "callable") -> None:
        self.fn = fn
        self.needs_box = needs_box
        self.label = label

    def act(self, view: AgentView) -> np.ndarray:
        """Commands from ``fn``."""
        obs = view.obs_with_box if self.needs_box else view.obs
        return np.asarray(self.fn(obs), dtype=np.float64).reshape(view.num_envs, 2)


class ScriptedOpponent:
    """Wraps ``fn(view) -> (N, 2)``: scripted controllers working on raw state.

    :param fn: batched controller on an :class:`AgentView`
    :param label: name shown in logs
    """

    def __init__(self, fn: Callable[[AgentView], np.ndarray], label: str = "scripted") -> None:
        self.fn = fn
        self.needs_box = False
        self.label = label

    def act(self, view: AgentView) -> np.ndarray:
        """Commands from the controller."""
        return np.asarray(self.fn(view), dtype=np.float64).reshape(view.num_envs, 2)


class RandomOpponent:
    """Uniformly random commands within the agent's limits (seeded).

    :param seed: random seed
    """

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.needs_box = False
        self.label = "random"

    def act(self, view: AgentView) -> np.ndarray:
        """Random commands."""
        return self.rng.uniform(view.limits.low, view.limits.high, size=(view.num_envs, 2))


class MixtureOpponent:
    """Several frozen opponents sharing the N games: each game is played by one of them,
    drawn (with ``weights``) whenever the game's episode starts.

    Every opponent acts only for its own games (a policy's forward pass runs on those rows
    alone). The env reports finished episodes through :meth:`episodes_done`, which keeps a
    tally of the learner's wins per opponent (for prioritised sampling) and draws the next
    opponent of those games.

    :param opponents: the opponents (all for the same agent)
    :param weights: drawing weights (>= 0, not all 0), one per opponent
    :param num_envs: number of games N
    :param rng: generator for the draws (seeded by the caller)
    :param labels: names of the opponents in the tallies (default: their ``label``)
    """

    def __init__(self, opponents: list[Any], weights: list[float], num_envs: int,
                 rng: np.random.Generator, labels: list[str] | None = None) -> None:
        if not opponents or len(weights) != len(opponents):
            raise ValueError("MixtureOpponent needs one weight per opponent (>= 1 opponent)")
        w = np.asarray(weights, dtype=np.float64)
        if not (np.all(np.isfinite(w)) and np.all(w >= 0.0) and w.sum() > 0.0):
            raise ValueError(f"mixture weights must be finite, >= 0 and not all 0, got {weights}")
        self.opponents = list(opponents)
        self.labels = list(labels) if labels is not None else [o.label for o in opponents]
        self.prob = w / w.sum()
        self.rng = rng
        self.needs_box = any(o.needs_box for o in opponents)
        self.label = "mix(" + ",".join(self.labels) + ")"
        self.assignment = self._draw(num_envs)
        #: learner wins and finished episodes per opponent label
        self.tally: dict[str, list[int]] = {label: [0, 0] for label in self.labels}

    def _draw(self, n: int) -> np.ndarray:
        return self.rng.choice(len(self.opponents), size=n, p=self.prob)

    def act(self, view: AgentView) -> np.ndarray:
        """Commands ``(N, 2)``: each game's rows from its own opponent."""
        out = np.empty((view.num_envs, 2))
        for k, opponent in enumerate(self.opponents):
            rows = np.flatnonzero(self.assignment == k)
            if rows.size == 0:
                continue
            if rows.size == view.num_envs:
                return np.asarray(opponent.act(view), dtype=np.float64).reshape(-1, 2)
            out[rows] = np.asarray(opponent.act(_RowsView(view, rows)),
                                   dtype=np.float64).reshape(-1, 2)
        return out

    def episodes_done(self, games: np.ndarray, learner_won: np.ndarray) -> None:
        """Tally finished episodes and draw the next opponent of those games.

        :param games: indices of the games whose episode ended
        :param learner_won: ``(len(games),)`` whether the learner won each of them
        """
        for g, won in zip(games, learner_won):
            entry = self.tally[self.labels[self.assignment[g]]]
            entry[0] += int(bool(won))
            entry[1] += 1
        self.assignment[games] = self._draw(len(games))

    def reset_games(self) -> None:
        """Draw every game's opponent afresh (the env was reset)."""
        self.assignment = self._draw(self.assignment.size)


class _RowsView(AgentView):
    """An :class:`AgentView` restricted to some games (for a mixture's members)."""

    def __init__(self, view: AgentView, rows: np.ndarray) -> None:
        self._full = view
        self._rows = rows
        self.agent = view.agent
        self.limits = view.limits
        self.obs_all = view.obs_all[rows]
        self.core = _RowsCore(view.core, rows)
        self._obs_box = None
        self._box_fn = None

    @property
    def obs_with_box(self) -> np.ndarray:
        """Rows of the full view's observation with the safe box."""
        if self._obs_box is None:
            self._obs_box = self._full.obs_with_box[self._rows]
        return self._obs_box


class _RowsCore:
    """The state arrays of a sim core restricted to some games (read-only use)."""

    def __init__(self, core: Any, rows: np.ndarray) -> None:
        self.config = core.config
        self.poses = core.poses[rows]
        self.velocities = core.velocities[rows]
        self.obstacles = core.obstacles[rows]
        self.obstacle_mask = core.obstacle_mask[rows]
        self.num_envs = int(rows.size)


def baseline_opponent(name: str, env_config: Any, role: str, seed: int = 0) -> ScriptedOpponent:
    """A scripted baseline of ``safe_pe_sim.baselines`` as a batched opponent.

    :param name: baseline name (``safe_pe_sim.baselines.SCRIPTED``: "pure_pursuit",
        "lead_pursuit", "flee", "aware_flee", "random")
    :param env_config: the sim's ``EnvConfig`` (limits, arena)
    :param role: the role the baseline plays
    :param seed: seed of the "random" baseline
    """
    fn = scripted_policy(name, env_config, role, rng=np.random.default_rng(seed))

    def act(view: AgentView) -> np.ndarray:
        core = view.core
        return fn(core.poses, core.velocities, core.obstacles, core.obstacle_mask)

    return ScriptedOpponent(act, label=f"baseline:{name}")
