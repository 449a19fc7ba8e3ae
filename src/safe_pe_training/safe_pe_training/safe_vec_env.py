"""SB3 ``VecEnv`` of one learning role against a frozen opponent, through the safety filter.

Per step, for N games at once (the sim's ``VectorizedPursuitEvasion`` core):

1. the learner's action becomes a physical command:
   * Gaussian policy (runs B, C): ``a`` in ``[-1, 1]^2`` mapped affinely to the limits;
   * CBF-Beta policy (runs A, D): ``y`` in ``(0, 1)^2`` mapped into the safe box
     ``lo + (hi - lo) * y`` of the state in which ``y`` was sampled (the box that was appended
     to the previous observation), so the PPO buffer stores ``y`` and ratios need no bounds;
2. the opponent (:mod:`safe_pe_training.opponents`) computes its command;
3. with ``filters`` (``use_cbf``), BOTH commands pass the batched CBF resolver (for a Beta
   learner the nominal command is already safe and the resolver reports tier NOMINAL);
   without filters (run B) they go to the sim unchanged. Under the simulator's actuator model
   (ramps and latency, ``RobotConfig.actuator``) each filter also gets, from the core, the
   velocities its robot held over the last step, the commands still in flight and the
   opponent's held velocities (:mod:`safe_pe_training.actuation_state`; docs/actuation.md); its
   ``actuator`` / ``opponent_actuator`` are the robots' own (checked here);
4. the sim steps (exact unicycle arcs, sub-stepped violation check, auto-reset) and returns
   the state and the ground-truth safety;
5. with ``safety_reward`` (a :class:`~safe_pe_training.safety_reward.SafetyRewardComputer`)
   this env adds the learner's w5 term, from the filter rows of the end state: rows built once
   per state serve the w5 term, the next safe box and the next resolve (and the terminal safe
   boxes of finished games). Data flows one way: the sim never calls back into training.

Observations: the sim's normalised ego observation of the learner (``OBS_DIM``), plus for Beta
learners the encoded safe box as the last 4 entries (see :mod:`safe_pe_training.action_mapping`).

``infos[i]["safety"]`` follows :mod:`safe_pe_training.safety_tracker` (``tier``, ``min_h``,
``intervention``, ``intervened``, ``violation``, ``qp_feasible``) for the learner; run B reports
tier DISABLED (5), ``min_h`` NaN (not computed, to keep run B unburdened) and the sim's
ground-truth violations. Finished games add ``episode`` (``r``, ``l``, ``t``),
``terminal_observation``, ``TimeLimit.truncated``, ``is_success`` and ``outcome``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvStepReturn,
)

from safe_pe_sim.vec_core import VectorizedPursuitEvasion
from safe_pe_training.action_mapping import (
    BOX_OBS_DIM,
    CommandLimits,
    beta_to_physical,
    clip_array,
    normalise_box,
    unit_to_physical,
)
from safe_pe_training.actuation_state import check_filter_actuators, filter_actuation
from safe_pe_training.factories import make_batched_filter, make_env_config, make_safety_reward
from safe_pe_training.opponents import ROLE_INDEX, AgentView, Opponent

TIER_DISABLED = 5


@dataclass
class SafetyBatch:
    """What the filter did for the learner in all N games at one step (for listeners).

    :param role: learner role
    :param nominal: ``(N, 2)`` learner commands asked for
    :param safe: ``(N, 2)`` commands sent to the sim
    :param tier: ``(N,)`` resolver tiers
    :param min_h: ``(N,)`` smallest barrier values (NaN when not computed)
    :param intervention: ``(N,)`` weighted intervention norms
    :param intervened: ``(N,)`` safe != nominal
    :param qp_feasible: ``(N,)`` exact QP feasible
    :param violation: ``(N,)`` learner body-level violation during the step (ground truth)
    """

    role: str
    nominal: np.ndarray
    safe: np.ndarray
    tier: np.ndarray
    min_h: np.ndarray
    intervention: np.ndarray
    intervened: np.ndarray
    qp_feasible: np.ndarray
    violation: np.ndarray


@dataclass
class EpisodeStats:
    """Outcomes of the learner's finished episodes since the last :meth:`pop`.

    :param episodes: finished episodes
    :param captures: episodes ended by capture
    :param timeouts: episodes truncated at the step limit (evader escaped)
    :param violation_episodes: episodes with at least one learner violation step
    :param length_sum: summed episode lengths
    :param return_sum: summed learner returns
    """

    episodes: int = 0
    captures: int = 0
    timeouts: int = 0
    violation_episodes: int = 0
    length_sum: int = 0
    return_sum: float = 0.0

    @property
    def capture_rate(self) -> float:
        """Fraction of finished episodes ended by capture (NaN if none finished)."""
        return self.captures / self.episodes if self.episodes else float("nan")

    @property
    def mean_length(self) -> float:
        """Mean episode length (NaN if none finished)."""
        return self.length_sum / self.episodes if self.episodes else float("nan")

    @property
    def mean_return(self) -> float:
        """Mean learner return (NaN if none finished)."""
        return self.return_sum / self.episodes if self.episodes else float("nan")

    def to_dict(self) -> dict[str, float]:
        """Plain dict with the rates."""
        return {
            "episodes": self.episodes, "captures": self.captures, "timeouts": self.timeouts,
            "violation_episodes": self.violation_episodes, "capture_rate": self.capture_rate,
            "mean_length": self.mean_length, "mean_return": self.mean_return,
        }


def _end_actuation(core: Any, info: dict[str, Any], prev_queue: np.ndarray,
                   done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Actuator state ``(velocities (N, 2, 2), queue (N, 2, D, 2))`` at the end of a step,
    before the automatic reset of the finished games (which zeroes theirs in the core): the
    velocities held over the step and the queue shifted by the step's commands.

    :param core: the vector core after the step
    :param info: the step's info (``applied_commands``, ``commands``)
    :param prev_queue: the core's command queue before the step
    :param done: ``(N,)`` games that finished (and were reset)
    """
    velocities = core.velocities.copy()
    queue = core.command_queue.copy()
    if done.any():
        velocities[done] = np.asarray(info["applied_commands"])[done]
        commands = np.asarray(info["commands"])[done]
        for a, steps in enumerate(core.actuators.latency):
            if steps:   # safe_pe_sim.actuation.actuate: the oldest left, this one entered
                queue[done, a, :steps - 1] = prev_queue[done, a, 1:steps]
                queue[done, a, steps - 1] = commands[:, a]
    return velocities, queue


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays hold the same bytes (stricter than ``array_equal``: -0.0 != 0.0;
    a miss only costs a rebuild). A few times faster than ``np.array_equal`` at small N."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


class SafeLearnerVecEnv(VecEnv):
    """One learning role in N games vs a frozen opponent, commands through the CBF filter.

    :param core: ``safe_pe_sim`` ``VectorizedPursuitEvasion``
    :param role: learning role, "pursuer" or "evader"
    :param opponent: frozen opponent for the other role
    :param filters: ``[pursuer_filter, evader_filter]`` batched CBF filters
        (``BatchedSafetyFilter``), or None for no filtering (run B)
    :param use_beta: learner is a CBF-Beta policy (needs ``filters``)
    :param safety_listener: optional ``fn(SafetyBatch)`` called every step
    :param safety_reward: optional w5 term added to the learner's reward
        (:class:`~safe_pe_training.safety_reward.SafetyRewardComputer`; the core must not
        add one itself)
    """

    def __init__(self, core: Any, role: str, opponent: Opponent,
                 filters: Sequence[Any] | None = None, use_beta: bool = False,
                 safety_listener: Callable[[SafetyBatch], None] | None = None,
                 safety_reward: Any = None) -> None:
        if role not in ROLE_INDEX:
            raise ValueError(f"role must be 'pursuer' or 'evader', got {role!r}")
        if use_beta and filters is None:
            raise ValueError("a CBF-Beta learner needs the safety filters (use_cbf: true) to "
                             "compute its safe action box")
        if filters is not None and len(filters) != 2:
            raise ValueError("filters must be [pursuer_filter, evader_filter]")
        if filters is not None:
            check_filter_actuators(filters, core.config.robots())
        self.core = core
        self.role = role
        self.agent = ROLE_INDEX[role]
        self.other = 1 - self.agent
        self.opponent = opponent
        self.filters = list(filters) if filters is not None else None
        self.use_beta = bool(use_beta)
        self.safety_listener = safety_listener
        self.limits = [CommandLimits.from_robot(r) for r in core.config.robots()]
        # per agent: (copies of the inputs, FilterRows) of the last build (see _rows)
        self._rows_cache: list[tuple[tuple[np.ndarray, ...], Any] | None] = [None, None]
        if safety_reward is not None and getattr(core, "safety_reward", None) is not None:
            raise ValueError("the core already adds an extra reward (core.safety_reward): "
                             "pass the w5 term to this env only, not to both")
        #: the learner's w5 term (None: none)
        self.safety_reward = safety_reward
        #: take the w5 barrier values from the learner's filter rows when the filter has the
        #: reward's CBF config and arena (bitwise the same values, one build less per step)
        self.share_rows = True
        self._w5_return = np.zeros(int(core.num_envs))
        base_dim = int(core.observations().shape[-1])
        obs_dim = base_dim + (BOX_OBS_DIM if self.use_beta else 0)
        obs_space = spaces.Box(-1.0, 1.0, (obs_dim,), np.float32)
        if self.use_beta:
            act_space = spaces.Box(0.0, 1.0, (2,), np.float32)
        else:
            act_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.render_mode = None
        super().__init__(int(core.num_envs), obs_space, act_space)
        self.obs_dim = obs_dim
        self.base_obs_dim = base_dim
        self.stats = EpisodeStats()
        self.filter_seconds = 0.0
        self.opponent_seconds = 0.0
        self._actions: np.ndarray | None = None
        self._obs_all: np.ndarray = core.observations()
        self._box_lo = np.zeros((self.num_envs, 2))
        self._box_hi = np.zeros((self.num_envs, 2))
        self._box_empty = np.zeros(self.num_envs, dtype=bool)
        self._t0 = time.monotonic()

    # ------------------------------------------------------------------ helpers
    def set_opponent(self, opponent: Opponent) -> None:
        """Swap the frozen opponent (takes effect at the next step).

        :param opponent: new opponent
        """
        self.opponent = opponent

    def _actuation(self, agent: int, velocities: np.ndarray | None = None,
                   queue: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """:func:`filter_actuation` of ``agent``'s filter (default: the core's current state).

        :param agent: 0 pursuer, 1 evader
        :param velocities: ``(N, 2, 2)`` held velocities (default ``core.velocities``)
        :param queue: ``(N, 2, D, 2)`` commands in flight (default ``core.command_queue``)
        """
        assert self.filters is not None
        core = self.core
        return filter_actuation(self.filters[agent].config,
                                core.velocities if velocities is None else velocities,
                                core.command_queue if queue is None else queue, agent)

    def _rows(self, agent: int, own: np.ndarray, obstacles: np.ndarray, mask: np.ndarray,
              opponent: np.ndarray,
              act: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Any:
        """``FilterRows`` of ``agent``'s filter at this state, reused while the inputs are
        unchanged (the w5 reward, the next safe box and the resolver all read one state).

        :param act: the filter's actuator state (:meth:`_actuation`), None when ideal
        """
        assert self.filters is not None
        filt = self.filters[agent]
        key = (own, obstacles, mask, opponent) + (() if act is None else tuple(act))
        cached = self._rows_cache[agent]
        if cached is not None:
            old, rows = cached
            if (rows.config is filt.config and rows.arena is filt.arena
                    and len(old) == len(key)
                    and all(_same_array(a, b) for a, b in zip(old, key))):
                return rows
        if act is None:
            rows = filt.build_rows(own, obstacles, mask, opponent)
        else:
            rows = filt.build_rows(own, obstacles, mask, opponent, *act)
        self._rows_cache[agent] = (tuple(np.array(a, copy=True) for a in key), rows)
        return rows

    def _shares_rows(self) -> bool:
        """Whether the learner's filter computes exactly the w5 reward's barrier values."""
        reward = self.safety_reward
        if not self.share_rows or self.filters is None or reward is None:
            return False
        filt = self.filters[self.agent]
        # under the actuator model the rows' min_h subtracts braking distances; the w5 term
        # stays the geometric barrier value of every path (SafetyRewardComputer)
        return (hasattr(filt, "build_rows") and filt.config == reward.cbf_configs[self.agent]
                and filt.arena == reward.arena and not filt.config.actuated)

    def _w5_term(self, end: np.ndarray, obstacles: np.ndarray, mask: np.ndarray,
                 rows: Any) -> np.ndarray:
        """``(N,)`` learner's w5 reward at the end state of the step.

        :param end: ``(N, 2, 3)`` poses at the end of the step (before auto-reset)
        :param obstacles: ``(N, K, 3)`` obstacles of the step
        :param mask: ``(N, K)`` their mask
        :param rows: the learner's filter rows at that state, or None
        """
        reward = self.safety_reward
        if rows is not None:
            h = rows.min_h.copy()
        else:
            h = reward.min_barrier(self.agent, end, obstacles, mask)
        scaled = h / reward.h_max
        return reward.w5 * clip_array(scaled, -1.0, 1.0, out=scaled)

    def _box(self, agent: int, poses: np.ndarray, obstacles: np.ndarray, mask: np.ndarray,
             rows: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Safe box of ``agent`` at the core's current state (poses, obstacles and the
        actuator state), or of ``rows`` when given."""
        assert self.filters is not None
        t0 = time.perf_counter()
        if rows is None:
            rows = self._rows(agent, poses[:, agent], obstacles, mask, poses[:, 1 - agent],
                              self._actuation(agent))
        lo, hi, empty = self.filters[agent].action_box_rows(rows)
        self.filter_seconds += time.perf_counter() - t0
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.maximum(np.asarray(hi, dtype=np.float64), lo)
        return lo, hi, np.asarray(empty, dtype=bool)

    def _encoded_box(self, agent: int) -> np.ndarray:
        core = self.core
        lo, hi, _ = self._box(agent, core.poses, core.obstacles, core.obstacle_mask)
        return normalise_box(lo, hi, self.limits[agent])

    def _learner_obs(self, obs_all: np.ndarray) -> np.ndarray:
        if not self.use_beta:
            return obs_all[:, self.agent].astype(np.float32)
        core = self.core
        lo, hi, empty = self._box(self.agent, core.poses, core.obstacles, core.obstacle_mask)
        self._box_lo, self._box_hi, self._box_empty = lo, hi, empty
        obs = np.empty((obs_all.shape[0], self.obs_dim), dtype=np.float32)
        obs[:, :self.base_obs_dim] = obs_all[:, self.agent]
        obs[:, self.base_obs_dim:] = normalise_box(lo, hi, self.limits[self.agent])
        return obs

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> np.ndarray:
        """Reset all games (with the seed given to :meth:`seed`, if any)."""
        seed = self._seeds[0]
        self._obs_all = self.core.reset(seed=seed) if seed is not None else self.core.reset()
        self._w5_return[:] = 0.0
        self._reset_seeds()
        redraw = getattr(self.opponent, "reset_games", None)   # a MixtureOpponent
        if redraw is not None:
            redraw()
        return self._learner_obs(self._obs_all)

    def step_async(self, actions: np.ndarray) -> None:
        """Store the learner's actions ``(N, 2)``.

        :param actions: unit-box (Beta) or [-1, 1] (Gaussian) actions
        """
        self._actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 2)

    def learner_commands(self, actions: np.ndarray) -> np.ndarray:
        """Physical nominal commands of the learner for ``actions`` in the current state.

        :param actions: ``(N, 2)`` policy actions
        """
        if not np.all(np.isfinite(actions)):
            raise ValueError("learner actions contain NaN/inf (diverged policy?)")
        if self.use_beta:
            return beta_to_physical(actions, self._box_lo, self._box_hi)
        return unit_to_physical(actions, self.limits[self.agent])

    def step_wait(self) -> VecEnvStepReturn:
        """Filter both agents' commands, step the sim, build observations and infos."""
        if self._actions is None:
            raise RuntimeError("step_wait() called before step_async()")
        core = self.core
        n, me, other = self.num_envs, self.agent, self.other
        cmds: list[np.ndarray] = [np.empty((n, 2)), np.empty((n, 2))]
        cmds[me] = self.learner_commands(self._actions)
        t0 = time.perf_counter()
        box_fn = self._encoded_box if self.filters is not None else None
        view = AgentView(other, core, self._obs_all, self.limits[other], box_fn)
        cmds[other] = np.asarray(self.opponent.act(view), dtype=np.float64).reshape(n, 2)
        self.opponent_seconds += time.perf_counter() - t0
        if not np.all(np.isfinite(cmds[other])):
            raise ValueError(f"opponent {getattr(self.opponent, 'label', '?')} returned "
                             "NaN/inf commands")
        prev_poses = core.poses.copy()
        prev_obstacles = core.obstacles.copy()
        prev_mask = core.obstacle_mask.copy()
        prev_queue = core.command_queue.copy()   # the core shifts it in place
        if self.filters is not None:
            t0 = time.perf_counter()
            safe = [np.empty((n, 2)), np.empty((n, 2))]
            record = None
            for agent in (0, 1):  # rows of this state, shared with its safe boxes
                rows = self._rows(agent, prev_poses[:, agent], prev_obstacles, prev_mask,
                                  prev_poses[:, 1 - agent], self._actuation(agent))
                safe[agent], rec = self.filters[agent].resolve_rows(rows, cmds[agent])
                if agent == me:
                    record = rec
            self.filter_seconds += time.perf_counter() - t0
            assert record is not None
            tier = np.asarray(record.tier, dtype=np.int64)
            min_h = np.asarray(record.min_h, dtype=np.float64)
            intervention = np.asarray(record.intervention, dtype=np.float64)
            intervened = np.asarray(record.intervened, dtype=bool)
            feasible = np.asarray(record.qp_feasible, dtype=bool)
        else:
            safe = cmds
            tier = np.full(n, TIER_DISABLED, dtype=np.int64)
            min_h = np.full(n, np.nan)
            intervention = np.zeros(n)
            intervened = np.zeros(n, dtype=bool)
            feasible = np.ones(n, dtype=bool)
        obs_all, rewards, terminated, truncated, info = core.step(safe[0], safe[1])
        self._obs_all = obs_all
        done = np.asarray(info["done"], dtype=bool)
        reward = np.asarray(rewards[:, me], dtype=np.float64)
        end = np.asarray(info["end_poses"])
        shared = self._shares_rows()
        end_rows = None  # the learner's rows at the end state (w5 term, terminal boxes)
        if shared or (self.use_beta and done.any()):
            t0 = time.perf_counter()
            end_act = None
            if self.filters[me].config.actuated:
                velocities, queue = _end_actuation(core, info, prev_queue, done)
                end_act = self._actuation(me, velocities, queue)
            end_rows = self._rows(me, end[:, me], prev_obstacles, prev_mask, end[:, other],
                                  end_act)
            self.filter_seconds += time.perf_counter() - t0
        if self.safety_reward is not None and self.safety_reward.w5 != 0.0:
            w5 = self._w5_term(end, prev_obstacles, prev_mask, end_rows if shared else None)
            reward = reward + w5
            self._w5_return += w5
        violation = np.asarray(info["violation"])[:, me].astype(bool)
        if self.safety_listener is not None:
            self.safety_listener(SafetyBatch(self.role, cmds[me], np.asarray(safe[me]), tier,
                                             min_h, intervention, intervened, feasible,
                                             violation))
        obs = self._learner_obs(obs_all)
        infos: list[dict[str, Any]] = [
            {"safety": {"tier": int(tier[i]), "min_h": float(min_h[i]),
                        "intervention": float(intervention[i]),
                        "intervened": bool(intervened[i]), "violation": bool(violation[i]),
                        "qp_feasible": bool(feasible[i])}}
            for i in range(n)
        ]
        if done.any():
            self._finish_episodes(np.flatnonzero(done), infos, info, truncated, end_rows)
        self._actions = None
        return (obs, reward.astype(np.float32), done, infos)

    def _finish_episodes(self, idx: np.ndarray, infos: list[dict[str, Any]],
                         info: dict[str, Any], truncated: np.ndarray, end_rows: Any) -> None:
        me = self.agent
        terminal_all = np.asarray(info["terminal_observation"])[idx, me].astype(np.float32)
        if self.use_beta:
            terminal_all = np.concatenate([terminal_all, self._terminal_boxes(idx, end_rows)],
                                          axis=1)
        captured = np.asarray(info["captured"], dtype=bool)
        timed_out = np.asarray(info["timed_out"], dtype=bool)
        ep_return = np.asarray(info["episode_return"])[:, me] + self._w5_return
        self._w5_return[idx] = 0.0
        ep_len = np.asarray(info["episode_length"])
        ep_viol = np.asarray(info["episode_violation_steps"])[:, me]
        elapsed = round(time.monotonic() - self._t0, 6)
        learner_won = captured[idx] if me == 0 else timed_out[idx]
        notify = getattr(self.opponent, "episodes_done", None)   # a MixtureOpponent
        if notify is not None:
            notify(idx, learner_won)
        for j, i in enumerate(idx):
            won = bool(learner_won[j])
            outcome = "capture" if captured[i] else ("timeout" if timed_out[i] else "other")
            infos[i].update({
                "terminal_observation": terminal_all[j],
                "TimeLimit.truncated": bool(truncated[i]),
                "episode": {"r": float(ep_return[i]), "l": int(ep_len[i]), "t": elapsed},
                "is_success": won,
                "outcome": outcome,
            })
            self.stats.episodes += 1
            self.stats.captures += int(captured[i])
            self.stats.timeouts += int(timed_out[i])
            self.stats.violation_episodes += int(ep_viol[i] > 0)
            self.stats.length_sum += int(ep_len[i])
            self.stats.return_sum += float(ep_return[i])

    def _terminal_boxes(self, idx: np.ndarray, end_rows: Any) -> np.ndarray:
        """Encoded safe boxes of the terminal states (before auto-reset) of games ``idx``,
        from the learner's rows of the step's end state (built once for all games).

        :param idx: finished games
        :param end_rows: the learner's ``FilterRows`` at the end state
        """
        lo, hi, _ = self._box(self.agent, None, None, None, rows=end_rows.select(idx))
        return normalise_box(lo, hi, self.limits[self.agent])

    def pop_stats(self) -> EpisodeStats:
        """Episode outcomes since the previous call (then reset)."""
        stats, self.stats = self.stats, EpisodeStats()
        return stats

    def close(self) -> None:
        """Nothing to release (numpy only)."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attribute of this env object, repeated per selected game.

        :param attr_name: attribute name
        :param indices: games
        """
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of this env object.

        :param attr_name: attribute name
        :param value: new value
        :param indices: ignored (shared by all games)
        """
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a method of this env object once per selected game.

        :param method_name: method name
        :param method_args: positional arguments
        :param indices: games
        :param method_kwargs: keyword arguments
        """
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """No gymnasium wrappers here.

        :param wrapper_class: wrapper type
        :param indices: games
        """
        return [False for _ in self._get_indices(indices)]


# ---------------------------------------------------------------------- builders
def make_filters(config: Any, env_config: Any) -> list[Any] | None:
    """``[pursuer, evader]`` batched CBF filters of a ``SafeSelfPlayConfig`` (None: no CBF).

    :param config: training config
    :param env_config: the sim ``EnvConfig`` built from it
    """
    if not config.use_cbf:
        return None
    return [make_batched_filter(config, role, env_config) for role in ("pursuer", "evader")]


def make_core(config: Any, env_config: Any, num_envs: int, seed: int) -> Any:
    """The sim's vectorized core (the w5 term is added by :class:`SafeLearnerVecEnv`).

    :param config: training config
    :param env_config: the sim ``EnvConfig`` (its ``rewards.w5``/``h_max`` are used)
    :param num_envs: number of games
    :param seed: base seed (game i uses ``seed + i``)
    """
    return VectorizedPursuitEvasion(env_config, num_envs, seed)


def make_learner_env(config: Any, role: str, opponent: Opponent, env_config: Any = None,
                     num_envs: int | None = None, seed: int | None = None,
                     safety_listener: Callable[[SafetyBatch], None] | None = None
                     ) -> SafeLearnerVecEnv:
    """Build the learner's :class:`SafeLearnerVecEnv` from a ``SafeSelfPlayConfig``.

    :param config: training config (``use_cbf``, ``use_beta_policy``, ``use_safety_reward``)
    :param role: learning role
    :param opponent: frozen opponent
    :param env_config: sim config (default: ``factories.make_env_config(config)``)
    :param num_envs: games (default ``config.num_envs``)
    :param seed: base seed (default ``config.seed``)
    :param safety_listener: optional per-step listener of the learner's safety batch
    """
    env_config = env_config if env_config is not None else make_env_config(config)
    core = make_core(config, env_config, num_envs or config.num_envs,
                     config.seed if seed is None else seed)
    return SafeLearnerVecEnv(core, role, opponent, make_filters(config, env_config),
                             use_beta=config.use_beta_policy, safety_listener=safety_listener,
                             safety_reward=make_safety_reward(config, env_config))
