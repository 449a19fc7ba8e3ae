"""Opponent policies for single-role environments.

An opponent spec is one of:

* a scripted baseline name (see :data:`safe_pe_sim.baselines.SCRIPTED`), acting on the state;
* an object with ``predict(obs, deterministic=True) -> (action, state)`` (an SB3 model),
  returning normalised actions;
* a callable ``f(obs) -> action`` returning normalised actions in ``[-1, 1]^2``; in a vector
  env it receives the batch ``(N, OBS_DIM)`` and must return ``(N, 2)``;
* None: the default scripted opponent (``"flee"`` against a pursuer, ``"pure_pursuit"``
  against an evader).

Non-finite opponent actions raise :class:`~safe_pe_sim.errors.SimInputError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .actions import to_physical, to_physical_scalar
from .baselines import SCRIPTED, scripted_policy, scripted_policy_single
from .config import EnvConfig
from .errors import SimInputError
from .roles import ROLES, role_index

__all__ = ["Opponent", "ROLES", "role_index"]


class Opponent:
    """Resolved opponent: produces physical commands for the agent ``role``."""

    def __init__(self, spec: Any, config: EnvConfig, role: str,
                 rng: np.random.Generator | None = None) -> None:
        """
        :param spec: opponent spec (see module doc).
        :param config: game config.
        :param role: the agent the opponent plays (``"pursuer"`` or ``"evader"``).
        :param rng: generator for a ``"random"`` scripted opponent.
        """
        self.index = role_index(role)
        self.role = role
        self.config = config
        self.robot = config.robots()[self.index]
        if spec is None:
            spec = "flee" if role == "evader" else "pure_pursuit"
        self.spec = spec
        self.scripted = None
        self.scripted_single = None
        self.predict = None
        self.fn = None
        if isinstance(spec, str):
            if spec not in SCRIPTED:
                raise SimInputError(f"unknown scripted opponent {spec!r}; use one of "
                                    f"{sorted(SCRIPTED)}, an SB3 model or a callable")
            self.scripted = scripted_policy(spec, config, role, rng)
            self.scripted_single = scripted_policy_single(spec, config, role, rng)
        elif hasattr(spec, "predict"):
            self.predict = spec.predict
        elif callable(spec):
            self.fn = spec
        else:
            raise SimInputError(f"opponent must be a scripted name, an object with .predict or "
                                f"a callable, got {type(spec).__name__}")

    @property
    def needs_observation(self) -> bool:
        """Whether :meth:`act` uses the observation (learned opponents) or the state."""
        return self.scripted is None

    def act(self, obs: np.ndarray | None, poses: np.ndarray, velocities: np.ndarray,
            obstacles: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Physical commands ``(N, 2)`` for N games.

        :param obs: ``(N, OBS_DIM)`` opponent observations (needed unless scripted).
        :param poses: ``(N, 2, 3)`` poses.
        :param velocities: ``(N, 2, 2)`` last applied commands.
        :param obstacles: ``(N, K, 3)`` obstacles.
        :param mask: ``(N, K)`` real obstacle rows.
        """
        if self.scripted is not None:
            return self.scripted(poses, velocities, obstacles, mask)
        if self.predict is not None:
            action = self.predict(obs, deterministic=True)[0]
        else:
            assert self.fn is not None
            action = self.fn(obs)
        try:
            action = np.asarray(action, dtype=np.float64).reshape(poses.shape[0], 2)
        except (TypeError, ValueError) as exc:
            raise SimInputError(f"opponent {self.spec!r} must return ({poses.shape[0]}, 2) "
                                f"actions: {exc}") from exc
        if not np.all(np.isfinite(action)):
            raise SimInputError(f"opponent {self.spec!r} returned a non-finite action")
        return to_physical(action, self.robot)

    def act_single(self, obs: np.ndarray | None, poses: list[tuple[float, float, float]],
                   velocities: list[tuple[float, float]],
                   obstacles: list[tuple[float, float, float]]) -> tuple[float, float]:
        """Physical command of one game.

        :param obs: ``(OBS_DIM,)`` opponent observation (needed unless scripted).
        :param poses: ``[(x, y, theta)] * 2``.
        :param velocities: ``[(v, omega)] * 2``.
        :param obstacles: real obstacles, ``(k, 3)`` array or ``[(x, y, radius), ...]``.
        """
        if self.scripted_single is not None:
            return self.scripted_single(poses, velocities, obstacles)
        if self.predict is not None:
            action = self.predict(obs, deterministic=True)[0]
        else:
            assert self.fn is not None
            action = self.fn(obs)
        try:
            a_v = float(action[0])
            a_w = float(action[1])
        except (TypeError, IndexError, ValueError) as exc:
            raise SimInputError(f"opponent {self.spec!r} must return a length-2 action, got "
                                f"{action!r}") from exc
        if not (math.isfinite(a_v) and math.isfinite(a_w)):
            raise SimInputError(f"opponent {self.spec!r} returned a non-finite action "
                                f"{action!r}")
        return to_physical_scalar(a_v, a_w, self.robot)
