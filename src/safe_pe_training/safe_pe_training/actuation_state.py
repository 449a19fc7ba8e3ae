"""What a robot's safety filter needs of the actuator model, from the simulator's state (numpy).

Under the simulator's actuator model (``RobotConfig.actuator``: ramps and latency,
docs/actuation.md) a filter must know its robot's limits and, at every call, the velocity the
robot held over the last period, the commands still in flight and the opponent's held
velocity. One source of truth: the robots' ``actuator`` in the env config sets the simulator's
model and every filter's ``actuator`` (own robot) and ``opponent_actuator`` (the other)
(:func:`safe_pe_training.config.make_cbf_config`); :func:`check_filter_actuators` refuses
filters built otherwise. :func:`filter_actuation` reads the state arrays of the vector core.

numpy only (no gymnasium/SB3): the policy node on a robot uses it too.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from safe_pe_training.errors import ConfigError

__all__ = ["check_filter_actuators", "filter_actuation"]


def filter_actuation(config: Any, velocities: np.ndarray, queue: np.ndarray,
                     agent: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The actuator state a robot's batched filter needs, from the simulator's state arrays.

    :param config: the robot's filter ``CBFConfig``
    :param velocities: ``(N, 2, 2)`` velocities both robots held over the last step
        (``VectorizedPursuitEvasion.velocities``)
    :param queue: ``(N, 2, D, 2)`` commands in flight, oldest first
        (``VectorizedPursuitEvasion.command_queue``)
    :param agent: 0 pursuer, 1 evader
    :return: ``(velocities, pending, opponent_velocities)`` for ``build_rows`` / ``resolve``,
        or None when the filter's actuation is ideal (its call is then the one of before the
        actuator model, bitwise)
    """
    if not config.actuated:
        return None
    steps = config.actuator.latency_steps
    if queue.shape[2] < steps:
        raise ConfigError(f"the filter of robot {agent} expects {steps} period(s) of latency, "
                          f"the simulator queues {queue.shape[2]}: build both from one env "
                          f"config (factories.make_batched_filter)")
    return velocities[:, agent], queue[:, agent, :steps], velocities[:, 1 - agent]


def check_filter_actuators(filters: Sequence[Any], robots: Sequence[Any]) -> None:
    """Raise :class:`ConfigError` unless every filter's ``actuator`` is its robot's and its
    ``opponent_actuator`` the other robot's (one source of truth: ``RobotConfig.actuator``).

    :param filters: ``[pursuer_filter, evader_filter]`` (with ``.config``)
    :param robots: the simulator's ``(pursuer, evader)`` ``RobotConfig``
    """
    for agent, filt in enumerate(filters):
        cfg = filt.config
        for field_name, robot in (("actuator", robots[agent]),
                                  ("opponent_actuator", robots[1 - agent])):
            if getattr(cfg, field_name) != robot.actuator:
                raise ConfigError(
                    f"the {('pursuer', 'evader')[agent]} filter's {field_name} "
                    f"({getattr(cfg, field_name)}) differs from the simulated robot's actuator "
                    f"({robot.actuator}): build the filters from the env config "
                    f"(factories.make_batched_filter), which sets both from <role>.actuator")


def held_actuation(config: Any, velocities: np.ndarray, agent: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`filter_actuation` of one game when the commands in flight are not known (the
    policy node computes its safe box from the game state; the commands it does not see are
    the filter node's): they are taken as the held velocity, i.e. the robot keeps its speed.

    :param config: the robot's filter ``CBFConfig``
    :param velocities: ``(2, 2)`` the velocities both robots held (odometry twists)
    :param agent: 0 pursuer, 1 evader
    :return: ``(velocities (1, 2), pending (1, L, 2), opponent_velocities (1, 2))`` or None
        with ideal actuation
    """
    held = np.asarray(velocities, dtype=np.float64).reshape(1, 2, 2)
    queue = np.repeat(held[:, :, None, :], config.actuator.latency_steps, axis=2)
    return filter_actuation(config, held, queue, agent)


def as_kwargs(act: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The keyword arguments of ``BatchedSafetyFilter.resolve`` / ``action_box`` for ``act``
    (:func:`filter_actuation`; none with ideal actuation).

    :param act: ``(velocities, pending, opponent_velocities)`` or None
    """
    return {} if act is None else dict(zip(("velocities", "pending", "opponent_velocities"),
                                           act))
