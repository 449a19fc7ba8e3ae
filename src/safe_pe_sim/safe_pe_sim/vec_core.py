"""``VectorizedPursuitEvasion``: N pursuit-evasion games stepped together in numpy.

Physics only: :meth:`VectorizedPursuitEvasion.step` takes both agents' *physical* commands, so a
caller can compute nominal commands from :meth:`observations` or the state arrays, pass them
through a (batched) safety filter, and then step.

Seeding rule: game ``i`` of a core seeded ``s`` uses seed ``s + i`` and behaves exactly like a
single game (:class:`safe_pe_sim.game.PursuitEvasionGame`) seeded ``s + i`` given the same
commands (layouts, spawns, actuator noise, actuator ramps and latency, auto-resets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from safe_pe_cbf.barriers import WIDE

from . import kernels
from .actuation import ActuatorTable, actuate
from .config import EnvConfig
from .dynamics import unicycle_step
from .errors import SimInputError
from .observations import ObservationBuilder
from .rewards import reward_weights
from .safety_check import check_step
from .world import generate_obstacles, make_rngs, pad_obstacles, sample_spawns

__all__ = ["VectorizedPursuitEvasion", "NoiseStream", "draw_base_seed"]


def _distance(poses: np.ndarray) -> np.ndarray:
    dx = poses[:, 0, 0] - poses[:, 1, 0]
    dy = poses[:, 0, 1] - poses[:, 1, 1]
    return np.sqrt(dx * dx + dy * dy)


def draw_base_seed() -> int:
    """A fresh non-negative seed from OS entropy (logged so runs can be repeated)."""
    return int(np.random.SeedSequence().entropy % (2 ** 31))


class NoiseStream:
    """Standard-normal actuator noise ``(n, 2, 2)`` per step, drawn per game in chunks.

    Each game's generator draws ``CHUNK`` steps at a time, so the sequence a game sees does not
    depend on how many games are stepped together.
    """

    CHUNK = 256
    """Steps drawn per refill."""

    def __init__(self, rngs: list[np.random.Generator]) -> None:
        """:param rngs: one noise generator per game."""
        self.rngs = rngs
        self.buf = np.empty((0,))
        self.pos = self.CHUNK

    def next(self) -> np.ndarray:
        """Noise of the next step, ``(n, 2, 2)``."""
        if self.pos == self.CHUNK:
            self.buf = np.stack([r.standard_normal((self.CHUNK, 2, 2)) for r in self.rngs],
                                axis=1)
            self.pos = 0
        out = self.buf[self.pos]
        self.pos += 1
        return out


class VectorizedPursuitEvasion:
    """N games stepped in lock-step with automatic reset.

    State arrays (agent 0 = pursuer, 1 = evader), replaced or updated in place by
    :meth:`step`/:meth:`reset`: ``poses (N, 2, 3)``, ``velocities (N, 2, 2)`` (the velocities
    ``(v, omega)`` the bases held over the last step: the commands themselves with ideal
    actuation, else ramped and delayed, :mod:`safe_pe_sim.actuation`), ``command_queue
    (N, 2, D, 2)`` (each robot's commands in flight, oldest first; robot ``a`` uses its first
    ``actuators.latency[a]`` rows; ``D`` = the longest latency), ``obstacles (N, K, 3)``
    (``(N, K, 6)`` with boxes) with ``obstacle_mask (N, K)``, ``steps (N,)``, ``distance
    (N,)``, ``seeds (N,)``, ``episode_ids (N,)``; ``arena`` is the
    :class:`~safe_pe_sim.config.ArenaConfig` and ``bounds`` its ``(x_min, x_max, y_min,
    y_max)``.
    """

    def __init__(self, config: EnvConfig, num_envs: int, seed: int | None = None) -> None:
        """
        :param config: game config (validated here).
        :param num_envs: number of games N (>= 1).
        :param seed: base seed; game i uses ``seed + i``. None draws one from OS entropy.
        """
        config.validate()
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) \
                or num_envs < 1:
            raise SimInputError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.config = config
        self.num_envs = n = int(num_envs)
        self.arena = config.arena
        self.bounds = config.arena.bounds()
        self.capacity = config.obstacles.capacity
        robots = config.robots()
        self.radii = np.array([r.radius for r in robots], dtype=np.float64)
        self.cmd_lo = np.array([[r.v_min, -r.omega_max] for r in robots], dtype=np.float64)
        self.cmd_hi = np.array([[r.v_max, r.omega_max] for r in robots], dtype=np.float64)
        self.noise_std = np.array([config.actuator_noise.v_std, config.actuator_noise.omega_std],
                                  dtype=np.float64)
        self.actuators = ActuatorTable([r.actuator for r in robots])
        """Ramps and latency of both robots (:class:`~safe_pe_sim.actuation.ActuatorTable`)."""
        self.command_queue = self.actuators.empty_queue(n)
        self._act_rates = np.tile(self.actuators.rates, (n, 1))        # (2 N, 3), row 2 i + a
        self._act_latency = np.tile(self.actuators.latency, n)         # (2 N,)
        self.obs_builder = ObservationBuilder(config)
        self._contact = float(self.radii[0] + self.radii[1])
        self._solid = config.contact == "solid"
        self._bounds_array = np.array(self.bounds, dtype=np.float64)
        self.poses = np.zeros((n, 2, 3))
        self.velocities = np.zeros((n, 2, 2))
        oc = config.obstacles  # rows with a kind where there are boxes (safe_pe_cbf.barriers)
        self.obstacles = np.zeros((n, self.capacity, WIDE if oc.has_boxes else 3))
        self.obstacle_mask = np.zeros((n, self.capacity), dtype=bool)
        self.steps = np.zeros(n, dtype=np.int64)
        self.distance = np.zeros(n)
        self.episode_ids = np.full(n, -1, dtype=np.int64)
        self.episode_return = np.zeros((n, 2))
        self.episode_violation_steps = np.zeros((n, 2), dtype=np.int64)
        self.episode_min_distance = np.zeros(n)
        self.seeds = np.zeros(n, dtype=np.int64)
        self._static_clearance = np.zeros((n, 2))
        self._obs: np.ndarray | None = None
        self._rngs: list[np.random.Generator] = []
        self._noise: NoiseStream | None = None
        self.safety_reward: Any = None
        """Optional extra reward with ``compute(poses, obstacles, mask) -> (N, 2)`` (e.g.
        training's w5 ``SafetyRewardComputer``); its output is added to the rewards."""
        self.reset(seed)

    # ------------------------------------------------------------------ seeding / reset
    def seed(self, seed: int | None) -> int:
        """Re-seed every game (game i gets ``seed + i``); return the base seed used.

        :param seed: base seed, None for a fresh one from OS entropy.
        """
        if seed is None:
            seed = draw_base_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SimInputError(f"seed must be a non-negative integer or None, got {seed!r}")
        seed = int(seed)
        self.seeds = seed + np.arange(self.num_envs, dtype=np.int64)
        pairs = [make_rngs(int(s)) for s in self.seeds]
        self._rngs = [p[0] for p in pairs]
        self._noise = NoiseStream([p[1] for p in pairs])
        self.episode_ids[:] = -1
        return seed

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new episode in every game; re-seed first when ``seed`` is given.

        :param seed: base seed (game i gets ``seed + i``); None keeps the current streams
            (or draws a fresh seed on first use).
        :return: ``(N, 2, OBS_DIM)`` observations.
        """
        if seed is not None or not self._rngs:
            self.seed(seed)
        self._reset_games(np.arange(self.num_envs))
        obs, self._static_clearance = self._observe()
        self._obs = obs
        return obs.copy()

    def _reset_games(self, idx: np.ndarray) -> None:
        cfg = self.config
        for i in idx:
            rng = self._rngs[i]
            obstacles = generate_obstacles(cfg, rng)
            self.obstacles[i], self.obstacle_mask[i] = pad_obstacles(obstacles, self.capacity)
            self.poses[i] = sample_spawns(cfg, obstacles, rng)
        self.velocities[idx] = 0.0
        self.command_queue[idx] = 0.0
        self.steps[idx] = 0
        p = self.poses[idx]
        self.distance[idx] = _distance(p)
        self._obstacle_rows = self.obs_builder.obstacle_rows(self.obstacles, self.obstacle_mask)
        self.episode_ids[idx] += 1
        self.episode_return[idx] = 0.0
        self.episode_violation_steps[idx] = 0
        self.episode_min_distance[idx] = self.distance[idx]

    # ------------------------------------------------------------------ observation
    def observations(self) -> np.ndarray:
        """Current observations of both agents, ``(N, 2, OBS_DIM)`` float32 (a copy)."""
        assert self._obs is not None
        return self._obs.copy()

    def _observe(self, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if idx is None:
            return self.obs_builder.batch_with_clearance(
                self.poses, self.velocities, self.obstacles, self.obstacle_mask, self.steps,
                self._obstacle_rows)
        return self.obs_builder.batch_with_clearance(
            self.poses[idx], self.velocities[idx], self.obstacles[idx],
            self.obstacle_mask[idx], self.steps[idx])

    # ------------------------------------------------------------------ contact
    def _contact_response(self, prev: np.ndarray, applied: np.ndarray,
                          violated: np.ndarray) -> None:
        """Solid world: truncate the arcs of the games whose step violated something at the
        first contact (:func:`safe_pe_sim.kernels.contact_games`, the single game's kernel
        in a compiled loop); stopped robots get zero velocity."""
        games = np.flatnonzero(violated.any(axis=1))
        if games.size:
            cfg = self.config
            kernels.contact_games(prev, applied, self.poses, self.velocities, games, cfg.dt,
                                  cfg.substeps, self.radii, self.obstacles, self.obstacle_mask,
                                  self._bounds_array)

    # ------------------------------------------------------------------ step
    def step(self, cmd_pursuer: np.ndarray, cmd_evader: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Apply physical commands for one control period in every game.

        Commands are clipped to each robot's limits (then noise is added and clipped again if
        configured) and pass through the actuator model (latency, then ramps; skipped when
        ideal); the velocities the bases hold are integrated exactly and checked for
        violations on the continuous trajectory; with ``config.contact == "solid"`` a body
        that would penetrate stops at first contact (:mod:`safe_pe_sim.contact`). Finished
        games are reset automatically.

        :param cmd_pursuer: ``(N, 2)`` pursuer ``(v, omega)``.
        :param cmd_evader: ``(N, 2)`` evader ``(v, omega)``.
        :return: ``obs (N, 2, OBS_DIM)`` (first observation of the new episode for finished
            games), ``rewards (N, 2)``, ``terminated (N,)``, ``truncated (N,)``, ``info``: dict
            of arrays ``captured, timed_out, violation (N, 2), violation_kinds (N, 2),
            violation_depth (N, 2), safety`` (the full
            :class:`~safe_pe_sim.safety_check.SafetyReport`), ``distance, applied_commands
            (N, 2, 2)`` (the velocities held over the step, which the bodies followed),
            ``commands (N, 2, 2)`` (the clipped, noisy commands that entered the actuators),
            ``done, episode_ids, terminal_observation (N, 2, OBS_DIM)`` (equal to
            ``obs`` for games that did not finish), ``end_poses (N, 2, 3)`` (poses at the
            end of the step, before any automatic reset) and, valid where ``done``:
            ``episode_return (N, 2), episode_length, episode_violation_steps (N, 2),
            episode_min_distance, episode_seed``.
        """
        n = self.num_envs
        cmds = np.empty((n, 2, 2))
        for a, cmd in enumerate((cmd_pursuer, cmd_evader)):
            arr = np.asarray(cmd, dtype=np.float64) if not isinstance(cmd, np.ndarray) else cmd
            if arr.shape != (n, 2):
                raise SimInputError(f"{('pursuer', 'evader')[a]} commands must have shape "
                                    f"({n}, 2) = (num_envs, (v, omega)), got {arr.shape}")
            cmds[:, a] = arr
        if not np.isfinite(cmds).all():
            bad = np.flatnonzero(~np.isfinite(cmds).all(axis=(1, 2)))[:10].tolist()
            raise SimInputError(f"non-finite command in game(s) {bad}; filter NaN/inf before "
                                f"stepping (nothing was applied)")
        noisy = self.config.actuator_noise.enabled
        if noisy:
            assert self._noise is not None
        applied = np.empty((n, 2, 2))
        kernels.command_games(cmds, self._noise.next() if noisy else cmds, noisy, self.cmd_lo,
                              self.cmd_hi, self.noise_std, applied)
        cfg = self.config
        commands = applied
        if not self.actuators.ideal:
            applied = self.velocities.copy()
            queue = self.command_queue.reshape(2 * n, self.actuators.depth, 2)   # a view
            actuate(applied.reshape(-1, 2), queue, commands.reshape(-1, 2), cfg.dt,
                    self._act_rates, self._act_latency)
        prev = self.poses
        self.poses = unicycle_step(prev, applied, cfg.dt)
        self.velocities = applied.copy()   # the info keeps `applied` unchanged by resets
        report = check_step(prev, applied, cfg.dt, cfg.substeps, self.radii, self.obstacles,
                            self.obstacle_mask, self.bounds,
                            start_static=self._static_clearance,
                            start_pair=self.distance - self._contact)
        if self._solid:
            self._contact_response(prev, applied, report.violated)
        self.steps += 1
        d = np.empty(n)
        captured = np.empty(n, dtype=bool)
        terminated = np.empty(n, dtype=bool)
        truncated = np.empty(n, dtype=bool)
        rewards = np.empty((n, 2))
        kernels.outcome_games(self.poses, self.distance, self.steps, float(cfg.capture_radius),
                              int(cfg.max_steps), bool(cfg.terminate_on_violation),
                              report.violated, reward_weights(cfg.rewards), d, captured,
                              terminated, truncated, rewards)
        self.distance = d.copy()
        timed_out = truncated
        if self.safety_reward is not None:
            rewards += self.safety_reward.compute(self.poses, self.obstacles,
                                                  self.obstacle_mask)
        self.episode_return += rewards
        self.episode_violation_steps += report.violated
        np.minimum(self.episode_min_distance, d, out=self.episode_min_distance)
        obs, self._static_clearance = self._observe()
        done = terminated | truncated
        info: dict[str, Any] = {
            "captured": captured, "timed_out": timed_out, "violation": report.violated,
            "violation_kinds": report.kinds, "violation_depth": report.depth,
            "safety": report, "distance": d, "applied_commands": applied, "commands": commands,
            "done": done,
            "end_poses": self.poses.copy(),
            "episode_ids": self.episode_ids.copy(), "terminal_observation": obs,
            "episode_return": self.episode_return.copy(),
            "episode_length": self.steps.copy(),
            "episode_violation_steps": self.episode_violation_steps.copy(),
            "episode_min_distance": self.episode_min_distance.copy(),
            "episode_seed": self.seeds.copy(),
        }
        idx = np.flatnonzero(done)
        if idx.size:
            self._reset_games(idx)
            obs = obs.copy()
            obs[idx], self._static_clearance[idx] = self._observe(idx)
        self._obs = obs
        return obs, rewards, terminated, truncated, info
