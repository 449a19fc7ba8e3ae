"""``PursuitEvasionGame``: one pursuit-evasion game on plain Python values (the fast N = 1 path).

Same maths and the same random streams as :class:`~safe_pe_sim.vec_core.VectorizedPursuitEvasion`
(whose game ``i`` seeded ``s`` equals this game seeded ``s + i``; test_vec_equivalence keeps
them equal, actuator model included), but without per-step numpy overhead. Unlike the vector
core it does not reset itself: call :meth:`reset` after an episode ends.

The maths is not copied: both classes call the per-robot and per-game kernels of
:mod:`safe_pe_sim.kernels` (exact arcs, the sub-stepped safety check, rewards; compiled by
numba), the single game once per robot or game, the vector core in compiled loops over its
games, and both call :func:`safe_pe_sim.actuation.actuate` and
:func:`safe_pe_sim.contact.solid_contact`. What stays per class is the orchestration of a step
(clipping, noise, the order of the calls, episode bookkeeping) on plain Python values here and
on arrays there. Issue 13 first asked to run this class on the vector core with N = 1; measured
in one process on the shared 2-core dev box the numpy vector core at N = 1 stepped ~2.9 k
games/s against ~26 k for this class, and the single env's target is >= 20 k steps/s (issue 3,
``bench/bench_sim.py``); calling the kernels directly keeps this class's speed (faster than the
pure-Python copies it replaced).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from safe_pe_cbf.actuator import ActuatorLimits

from .actuation import ActuatorTable, actuate
from .config import EnvConfig
from .contact import solid_contact
from .dynamics import unicycle_step_scalar, wrap_angle
from .errors import SimInputError
from .kernels import command, outcome
from .observations import ObservationBuilder
from .rewards import reward_weights
from .safety_check import ScalarSafety, check_step_scalar
from .vec_core import NoiseStream, draw_base_seed
from .world import explicit_obstacles, generate_obstacles, make_rngs, sample_spawns

__all__ = ["PursuitEvasionGame", "StepResult"]


@dataclass
class StepResult:
    """Outcome of one control step of one game."""

    rewards: tuple[float, float]
    """``(pursuer, evader)`` rewards."""
    terminated: bool
    """Capture (or a violation with ``terminate_on_violation``)."""
    truncated: bool
    """Step limit reached without termination (evader escaped)."""
    captured: bool
    """Evader captured at this step."""
    safety: ScalarSafety
    """Per-agent violation report of this step."""
    distance: float
    """Centre distance after the step [m]."""
    applied: list[tuple[float, float]] = field(default_factory=list)
    """Velocities the bases held over the step per agent (the clipped, noisy commands with
    ideal actuation; else ramped and delayed, :mod:`safe_pe_sim.actuation`)."""


class PursuitEvasionGame:
    """State and rules of one game. Agent 0 = pursuer, 1 = evader."""

    def __init__(self, config: EnvConfig) -> None:
        """:param config: game config (validated here)."""
        config.validate()
        self.config = config
        self.bounds = config.arena.bounds()
        robots = config.robots()
        self.radii = (robots[0].radius, robots[1].radius)
        self.limits = [(float(r.v_min), float(r.v_max), float(r.omega_max)) for r in robots]
        self.obs_builder = ObservationBuilder(config)
        self.poses: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * 2
        self.velocities: list[tuple[float, float]] = [(0.0, 0.0)] * 2
        self.obstacles: list[tuple[float, float, float]] = []
        self.obstacles_array = np.zeros((0, 3))
        self._obstacle_mask = np.zeros(0, dtype=bool)
        self.step_count = 0
        self.distance = 0.0
        self.seed_value = -1
        self.episode_id = -1
        self.episode_return = [0.0, 0.0]
        self.episode_violation_steps = [0, 0]
        self.min_distance = math.inf
        self._rng: np.random.Generator | None = None
        self._noise: NoiseStream | None = None
        self.safety_reward: Any = None
        """Optional extra reward with ``compute(poses, obstacles, mask) -> (N, 2)`` (e.g.
        training's w5 ``SafetyRewardComputer``); its output is added to the rewards."""
        self._solid = config.contact == "solid"
        self._noise_on = config.actuator_noise.enabled
        self._noise_std = (float(config.actuator_noise.v_std),
                           float(config.actuator_noise.omega_std))
        self.actuators = ActuatorTable([r.actuator for r in robots])
        """Ramps and latency of both robots (:class:`~safe_pe_sim.actuation.ActuatorTable`)."""
        self.command_queue = self.actuators.empty_queue(1)[0]
        """``(2, D, 2)`` commands in flight per robot, oldest first (see the vector core)."""
        self._held = np.zeros((2, 2))
        self._cmd_buf = np.zeros((2, 2))

    def set_actuators(self, limits: Sequence[ActuatorLimits]) -> None:
        """Change both robots' actuator limits from the next step on (the simulator node's
        runtime parameters); ``config`` follows. The held velocities stay; each robot keeps its
        newest commands in flight up to its new latency, and a longer latency repeats the
        command due next (the held velocity when none was in flight).

        :param limits: ``(pursuer, evader)`` limits (validated here)
        """
        limits = [ActuatorLimits(**a.validate().to_dict()) for a in limits]
        self._held[:] = self.velocities   # ideal actuation does not keep _held up to date
        table = ActuatorTable(limits)
        queue = table.empty_queue(1)[0]
        for a in range(2):
            pending = list(self.command_queue[a, :self.actuators.latency[a]])
            if not pending:
                pending = [self._held[a].copy()]
            lag = int(table.latency[a])
            kept = pending[-lag:] if lag else []
            kept = [pending[0]] * (lag - len(kept)) + kept
            if lag:
                queue[a, :lag] = kept
        self.actuators, self.command_queue = table, queue
        self.config.pursuer.actuator, self.config.evader.actuator = limits

    def seed(self, seed: int | None) -> int:
        """Re-seed the layout/spawn and noise streams; return the seed used.

        :param seed: non-negative seed, None for a fresh one from OS entropy.
        """
        self.seed_value, self._rng, self._noise = self._streams(seed)
        self.episode_id = -1
        return self.seed_value

    @staticmethod
    def _streams(seed: int | None) -> tuple[int, np.random.Generator, NoiseStream]:
        """``(seed, layout/spawn generator, noise stream)`` of a (validated) seed.

        :param seed: non-negative seed, None for a fresh one from OS entropy.
        """
        if seed is None:
            seed = draw_base_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SimInputError(f"seed must be a non-negative integer or None, got {seed!r}")
        rng, noise_rng = make_rngs(int(seed))
        return int(seed), rng, NoiseStream([noise_rng])

    def reset(self, seed: int | None = None, obstacles: np.ndarray | None = None,
              poses: np.ndarray | None = None) -> None:
        """Start an episode: new layout and spawns from the stream (or the given ones).

        All or nothing: when it raises (a bad seed, layout or pose, or no room for the spawns),
        the game, its random streams included, is exactly as before.

        :param seed: re-seed first when given (None keeps the stream; first use draws one).
        :param obstacles: explicit ``(k, 3)`` obstacles for this episode (else generated).
        :param poses: explicit ``(2, 3)`` start poses (else sampled).
        """
        if seed is not None or self._rng is None:
            seed_value, rng, noise = self._streams(seed)
            episode_id = -1
        else:  # continue the stream: draw from a copy, kept only on success
            seed_value, rng, noise = self.seed_value, copy.deepcopy(self._rng), self._noise
            episode_id = self.episode_id
        if obstacles is None:
            obs_arr = generate_obstacles(self.config, rng)
        else:
            obs_arr = explicit_obstacles(obstacles, self.bounds)
        if poses is None:
            start = sample_spawns(self.config, obs_arr, rng)
        else:
            try:
                start = np.asarray(poses, dtype=np.float64).reshape(2, 3)
            except (TypeError, ValueError) as exc:
                raise SimInputError(f"start poses must be (2, 3) rows (x, y, theta) of pursuer "
                                    f"and evader: {exc}") from exc
            if not np.all(np.isfinite(start)):
                raise SimInputError("start poses must be finite")
            start[:, 2] = wrap_angle(start[:, 2])
        self.seed_value, self._rng, self._noise = seed_value, rng, noise
        self.obstacles_array = obs_arr
        self._obstacle_mask = np.ones(len(obs_arr), dtype=bool)
        self.obstacles = [tuple(map(float, row)) for row in obs_arr]
        self.poses = [tuple(map(float, row)) for row in start]
        self.velocities = [(0.0, 0.0), (0.0, 0.0)]
        self._held[:] = 0.0
        self.command_queue[:] = 0.0
        self.step_count = 0
        (x0, y0, _), (x1, y1, _) = self.poses
        self.distance = math.sqrt((x0 - x1) * (x0 - x1) + (y0 - y1) * (y0 - y1))
        self.min_distance = self.distance
        self.episode_id = episode_id + 1
        self.episode_return = [0.0, 0.0]
        self.episode_violation_steps = [0, 0]

    def observation(self, agent: int) -> np.ndarray:
        """Observation ``(OBS_DIM,)`` float32 of agent 0 (pursuer) or 1 (evader).

        :param agent: agent index.
        """
        return self.obs_builder.single(agent, self.poses, self.velocities, self.obstacles,
                                       self.step_count)

    def step(self, cmd_pursuer: tuple[float, float], cmd_evader: tuple[float, float]
             ) -> StepResult:
        """Apply physical commands ``(v, omega)`` for one control period.

        :param cmd_pursuer: pursuer command (clipped to its limits).
        :param cmd_evader: evader command (clipped to its limits).
        """
        cfg = self.config
        applied = []
        noise = None
        if self._noise_on:
            assert self._noise is not None
            noise = self._noise.next()[0]
        for a, cmd in enumerate((cmd_pursuer, cmd_evader)):
            try:
                v = float(cmd[0])
                om = float(cmd[1])
            except (TypeError, ValueError, IndexError) as exc:
                raise SimInputError(f"command of agent {a} must be (v, omega): {exc}") from exc
            if not (math.isfinite(v) and math.isfinite(om)):
                raise SimInputError(f"non-finite command ({v}, {om}) for agent {a}; filter "
                                    f"NaN/inf before stepping (nothing was applied)")
            n_v, n_w = (noise[a, 0], noise[a, 1]) if noise is not None else (0.0, 0.0)
            applied.append(command(v, om, *self.limits[a], noise is not None, n_v, n_w,
                                   *self._noise_std))
        if not self.actuators.ideal:
            buf = self._cmd_buf
            buf[0, 0], buf[0, 1] = applied[0]
            buf[1, 0], buf[1, 1] = applied[1]
            actuate(self._held, self.command_queue, buf, cfg.dt, self.actuators.rates,
                    self.actuators.latency)
            (v0, w0), (v1, w1) = self._held.tolist()
            applied = [(v0, w0), (v1, w1)]
        prev = self.poses
        dt = cfg.dt
        self.poses = [unicycle_step_scalar(*prev[a], *applied[a], dt) for a in range(2)]
        self.velocities = applied
        safety = check_step_scalar(prev, applied, dt, cfg.substeps, self.radii,
                                   self.obstacles_array, self.bounds, self._obstacle_mask)
        if self._solid and (safety.violated[0] or safety.violated[1]):
            self.poses, stopped = solid_contact(prev, applied, self.poses, dt, cfg.substeps,
                                                self.radii, self.obstacles_array, self.bounds,
                                                self._obstacle_mask)
            self.velocities = [(0.0, 0.0) if stopped[a] else applied[a] for a in range(2)]
            self._held[:] = self.velocities
        self.step_count += 1
        (x0, y0, _), (x1, y1, _) = self.poses
        d, captured, terminated, truncated, rp, re = outcome(
            x0, y0, x1, y1, self.distance, self.step_count, float(cfg.capture_radius),
            int(cfg.max_steps), bool(cfg.terminate_on_violation), safety.violated[0],
            safety.violated[1], reward_weights(cfg.rewards))
        self.distance = d
        rewards = (rp, re)
        if self.safety_reward is not None:
            extra = self.safety_reward.compute(
                np.asarray(self.poses, dtype=np.float64)[None],
                self.obstacles_array[None], np.ones((1, len(self.obstacles)), dtype=bool))[0]
            rewards = (rewards[0] + float(extra[0]), rewards[1] + float(extra[1]))
        self.episode_return[0] += rewards[0]
        self.episode_return[1] += rewards[1]
        self.episode_violation_steps[0] += safety.violated[0]
        self.episode_violation_steps[1] += safety.violated[1]
        if d < self.min_distance:
            self.min_distance = d
        return StepResult(rewards, terminated, truncated, captured, safety, d, applied)

    def info(self, result: StepResult | None = None) -> dict[str, Any]:
        """Plain info dict of the current state (and of ``result`` when given).

        :param result: the step just taken, if any.
        """
        info: dict[str, Any] = {
            "step": self.step_count, "distance": self.distance, "episode_id": self.episode_id,
            "seed": self.seed_value,
        }
        if result is not None:
            s = result.safety
            info.update(captured=result.captured, timed_out=result.truncated,
                        violation=tuple(s.violated), violation_kinds=tuple(s.kinds),
                        violation_depth=tuple(s.depth))
        return info
