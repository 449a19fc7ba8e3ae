"""The simulator's actuator state: held velocities and the queue of commands in flight.

Each robot ``m`` has an :class:`~safe_pe_cbf.actuator.ActuatorLimits` (``RobotConfig.actuator``).
Per control step, with ``L = latency_steps``:

1. the step's command (clipped to the robot's limits, plus actuator noise if configured)
   enters the robot's FIFO of the last ``L`` commands, and the command sent ``L`` steps ago
   leaves it (``L = 0``: the command itself);
2. the held velocity ramps toward the command that left the FIFO
   (:func:`safe_pe_cbf.actuator.ramp_one`, the one ramp of the stack) and is held for the step:
   it is what the exact-arc dynamics integrates and what the sub-stepped safety check samples.

At an episode's reset the held velocities are zero and the FIFO holds zeros. With ideal
limits (all zero) the held velocity is the command and the games skip this module entirely.

:func:`actuate` is the one implementation, used by the vector core (``M = 2 N`` robots) and by
the single game (``M = 2``); numba compiles it where installed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from safe_pe_cbf.actuator import ActuatorLimits, ramp_one
from safe_pe_cbf.jit import depends_on_core, njit

__all__ = ["ActuatorTable", "actuate"]

depends_on_core(__file__)  # the kernel compiles ramp_one in: recompile when it changes


class ActuatorTable:
    """The per-robot limits of a game as arrays (pursuer then evader).

    :param limits: ``(pursuer, evader)`` actuator limits.
    """

    def __init__(self, limits: Sequence[ActuatorLimits]) -> None:
        self.rates = np.array([[a.linear_accel, a.linear_decel, a.angular_accel]
                               for a in limits], dtype=np.float64)
        """``(2, 3)``: linear_accel, linear_decel, angular_accel per robot."""
        self.latency = np.array([a.latency_steps for a in limits], dtype=np.int64)
        """``(2,)``: latency in control periods per robot."""
        self.ideal = all(a.ideal for a in limits)
        """Whether every robot follows its command at once (the model is then skipped)."""
        self.depth = int(self.latency.max()) if len(limits) else 0
        """Length of the command queue (the longest latency)."""

    def empty_queue(self, n: int) -> np.ndarray:
        """Zero command queues ``(n, 2, depth, 2)`` of ``n`` games (the state at a reset).

        :param n: number of games
        """
        return np.zeros((n, 2, self.depth, 2))


@njit(cache=True)
def actuate(held: np.ndarray, queue: np.ndarray, cmds: np.ndarray, dt: float,
            rates: np.ndarray, latency: np.ndarray) -> None:
    """Advance the actuators of ``M`` robots by one control step, in place.

    :param held: ``(M, 2)`` velocities ``(v, omega)`` held over the last step; replaced by the
        ones held over this step
    :param queue: ``(M, D, 2)`` commands in flight, oldest first (robot ``m`` uses its first
        ``latency[m]`` rows); shifted by one
    :param cmds: ``(M, 2)`` commands of this step (already clipped and noisy)
    :param dt: control period [s]
    :param rates: ``(M, 3)`` linear_accel, linear_decel, angular_accel (0: no limit)
    :param latency: ``(M,)`` latency in control periods (<= D)
    """
    for m in range(held.shape[0]):
        lag = latency[m]
        if lag == 0:
            v = cmds[m, 0]
            w = cmds[m, 1]
        else:
            v = queue[m, 0, 0]
            w = queue[m, 0, 1]
            for k in range(lag - 1):
                queue[m, k, 0] = queue[m, k + 1, 0]
                queue[m, k, 1] = queue[m, k + 1, 1]
            queue[m, lag - 1, 0] = cmds[m, 0]
            queue[m, lag - 1, 1] = cmds[m, 1]
        held[m, 0], held[m, 1] = ramp_one(held[m, 0], held[m, 1], v, w, dt,
                                          rates[m, 0], rates[m, 1], rates[m, 2])
