"""Which command each robot gets at the next simulator step (ROS-free, no rclpy).

:class:`CommandGate` keeps the latest finite command of every robot with its receipt time.

* Free-running mode: a command older than ``cmd_timeout``, or already applied for
  ``max_hold_steps`` steps, is stale and the robot stops (zero command), like a real base's
  command timeout. The step bound keeps the simulator inside the safety filter's assumption
  that a command is held for at most one control period.
* Lock-step mode: the simulator advances only when every robot has sent a command *since the
  last step* (:meth:`all_arrived`), or when ``lock_step_timeout`` has passed since that step;
  a robot that sent nothing for the step then stops. With :meth:`expect` a command counts
  for the step only if it carries that step's stamp (it was computed from that state).

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
    steps_used: int = 0
    received: int = 0
    dropped: int = 0
    late: int = 0


@dataclass
class CommandGate:
    """Latest commands of a fixed set of robots.

    :param robots: robot names in agent order (0 = pursuer, 1 = evader).
    :param cmd_timeout: a command older than this [s] is stale (robot stops).
    :param max_hold_steps: free-running: steps one command may be applied (0: no limit).
    :param slots: per-robot state (built from ``robots``).
    """

    robots: Sequence[str]
    cmd_timeout: float
    max_hold_steps: int = 1
    slots: dict[str, _Slot] = field(default_factory=dict)
    expected_stamp: int | None = None

    def __post_init__(self) -> None:
        if not self.robots or len(set(self.robots)) != len(self.robots):
            raise ValueError(f"robots must be distinct names, got {list(self.robots)}")
        if not (self.cmd_timeout > 0.0 and math.isfinite(self.cmd_timeout)):
            raise ValueError(f"cmd_timeout must be a positive finite number of seconds, "
                             f"got {self.cmd_timeout}")
        if self.max_hold_steps < 0:
            raise ValueError(f"max_hold_steps must be >= 0, got {self.max_hold_steps}")
        self.slots = {name: _Slot() for name in self.robots}

    def expect(self, stamp: int | None) -> None:
        """Only commands stamped ``stamp`` (ns) count from now on (``None``: any command).

        :param stamp: stamp of the state just published, in nanoseconds.
        """
        self.expected_stamp = stamp

    def receive(
        self, robot: str, v: float, omega: float, now: float, stamp: int | None = None
    ) -> bool:
        """Store a finite command of ``robot`` received at ``now``; False if it came too late.

        :param robot: robot name.
        :param v: linear velocity [m/s].
        :param omega: angular velocity [rad/s].
        :param now: receipt time [s] (monotonic).
        :param stamp: header stamp [ns] of the command (``None`` or 0: unstamped).
        """
        if not (math.isfinite(v) and math.isfinite(omega)):
            raise ValueError(f"command of {robot!r} is not finite: ({v}, {omega})")
        slot = self.slots[robot]
        if self.expected_stamp is not None and stamp and stamp != self.expected_stamp:
            slot.late += 1  # computed from another state: never applied to this one
            return False
        slot.command = (float(v), float(omega))
        slot.time = now
        slot.fresh_for_step = True
        slot.steps_used = 0
        slot.received += 1
        return True

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
            out.append(slot.command if self._fresh(slot, now, lock_step) else (0.0, 0.0))
        return out

    def _fresh(self, slot: _Slot, now: float, lock_step: bool) -> bool:
        if lock_step:
            return slot.fresh_for_step
        if self.max_hold_steps and slot.steps_used >= self.max_hold_steps:
            return False
        return now - slot.time <= self.cmd_timeout

    def stale_robots(self, now: float, lock_step: bool = False) -> list[str]:
        """Names of robots whose command would be replaced by zero.

        :param now: current time [s].
        :param lock_step: as in :meth:`commands`.
        """
        return [n for n in self.robots if not self._fresh(self.slots[n], now, lock_step)]

    def all_arrived(self) -> bool:
        """Every robot has sent a command since the last :meth:`mark_stepped`."""
        return all(slot.fresh_for_step for slot in self.slots.values())

    def mark_stepped(self) -> None:
        """A step used the current commands: lock-step waits for new ones."""
        for slot in self.slots.values():
            slot.fresh_for_step = False
            slot.steps_used += 1

    def dropped(self) -> dict[str, int]:
        """Dropped (non-finite) commands per robot."""
        return {name: slot.dropped for name, slot in self.slots.items()}

    def late(self) -> dict[str, int]:
        """Commands ignored per robot because they carried another step's stamp."""
        return {name: slot.late for name, slot in self.slots.items()}

    def received(self) -> dict[str, int]:
        """Accepted commands per robot."""
        return {name: slot.received for name, slot in self.slots.items()}
