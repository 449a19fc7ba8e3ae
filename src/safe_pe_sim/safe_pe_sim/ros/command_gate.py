"""Which command each robot gets at the next simulator step (ROS-free, no rclpy).

:class:`CommandGate` keeps the latest finite command of every robot with its receipt time.

* Free-running mode: a command older than ``cmd_timeout`` is stale and the robot stops
  (zero command), like a real base's command timeout.
* Lock-step mode: the simulator advances only when every robot has sent a command *since the
  last step* (:meth:`all_arrived`), or when ``lock_step_timeout`` has passed since that step;
  a robot that sent nothing for the step then stops.

Non-finite commands never reach the gate: the node drops and counts them (:meth:`drop`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class _Slot:
    command: tuple[float, float] = (0.0, 0.0)
    time: float = -math.inf
    fresh_for_step: bool = False
    received: int = 0
    dropped: int = 0


@dataclass
class CommandGate:
    """Latest commands of a fixed set of robots.

    :param robots: robot names in agent order (0 = pursuer, 1 = evader).
    :param cmd_timeout: a command older than this [s] is stale (robot stops).
    :param slots: per-robot state (built from ``robots``).
    """

    robots: Sequence[str]
    cmd_timeout: float
    slots: dict[str, _Slot] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.robots or len(set(self.robots)) != len(self.robots):
            raise ValueError(f"robots must be distinct names, got {list(self.robots)}")
        if not (self.cmd_timeout > 0.0 and math.isfinite(self.cmd_timeout)):
            raise ValueError(f"cmd_timeout must be a positive finite number of seconds, "
                             f"got {self.cmd_timeout}")
        self.slots = {name: _Slot() for name in self.robots}

    def receive(self, robot: str, v: float, omega: float, now: float) -> None:
        """Store a finite command of ``robot`` received at ``now``.

        :param robot: robot name.
        :param v: linear velocity [m/s].
        :param omega: angular velocity [rad/s].
        :param now: receipt time [s] (monotonic).
        """
        if not (math.isfinite(v) and math.isfinite(omega)):
            raise ValueError(f"command of {robot!r} is not finite: ({v}, {omega})")
        slot = self.slots[robot]
        slot.command = (float(v), float(omega))
        slot.time = now
        slot.fresh_for_step = True
        slot.received += 1

    def drop(self, robot: str) -> None:
        """Count one dropped (non-finite) command of ``robot``.

        :param robot: robot name.
        """
        self.slots[robot].dropped += 1

    def commands(self, now: float, lock_step: bool = False) -> list[tuple[float, float]]:
        """Commands for the next step, in ``robots`` order; stale ones are zero.

        :param now: current time [s].
        :param lock_step: use arrival since the last step instead of the age limit.
        """
        out = []
        for name in self.robots:
            slot = self.slots[name]
            if lock_step:
                fresh = slot.fresh_for_step
            else:
                fresh = now - slot.time <= self.cmd_timeout
            out.append(slot.command if fresh else (0.0, 0.0))
        return out

    def stale_robots(self, now: float, lock_step: bool = False) -> list[str]:
        """Names of robots whose command would be replaced by zero.

        :param now: current time [s].
        :param lock_step: as in :meth:`commands`.
        """
        if lock_step:
            return [n for n in self.robots if not self.slots[n].fresh_for_step]
        return [n for n in self.robots if now - self.slots[n].time > self.cmd_timeout]

    def all_arrived(self) -> bool:
        """Every robot has sent a command since the last :meth:`mark_stepped`."""
        return all(slot.fresh_for_step for slot in self.slots.values())

    def mark_stepped(self) -> None:
        """A step used the current commands: lock-step waits for new ones."""
        for slot in self.slots.values():
            slot.fresh_for_step = False

    def dropped(self) -> dict[str, int]:
        """Dropped (non-finite) commands per robot."""
        return {name: slot.dropped for name, slot in self.slots.items()}

    def received(self) -> dict[str, int]:
        """Accepted commands per robot."""
        return {name: slot.received for name, slot in self.slots.items()}
