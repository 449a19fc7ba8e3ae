"""Opponent pool for self-play: past policy snapshots plus scripted baselines, per role.

Each phase trains one role against an opponent drawn from the *other* role's pool. With
probability ``latest_prob`` the newest snapshot is drawn, otherwise an entry uniformly from the
whole pool (older snapshots and the scripted baselines it was seeded with). Playing against a
mixture of past opponents is what kept earlier self-play from collapsing onto one side.

The pool is plain data (JSON round trip) so ``--resume`` can restore it exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ENTRY_KINDS = ("checkpoint", "baseline")


@dataclass(frozen=True)
class PoolEntry:
    """One opponent the pool can hand out.

    :param kind: "checkpoint" (a policy checkpoint path) or "baseline" (a scripted policy name)
    :param ref: checkpoint path (any suffix) or baseline name
    :param phase: phase that produced the checkpoint (-1 for baselines)
    """

    kind: str
    ref: str
    phase: int = -1

    def __post_init__(self) -> None:
        if self.kind not in ENTRY_KINDS:
            raise ValueError(f"pool entry kind must be one of {ENTRY_KINDS}, got {self.kind!r}")
        if not self.ref:
            raise ValueError("pool entry needs a non-empty ref (checkpoint path or baseline)")

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``baseline:flee`` or ``phase3``."""
        return f"baseline:{self.ref}" if self.kind == "baseline" else f"phase{self.phase}"


@dataclass
class OpponentPool:
    """Snapshots of one role, newest last.

    :param role: the role whose policies the pool holds ("pursuer" or "evader")
    :param max_snapshots: most checkpoint entries kept (oldest dropped first; baselines stay)
    :param latest_prob: probability of drawing the newest entry
    :param entries: initial entries (e.g. scripted baselines)
    """

    role: str
    max_snapshots: int = 8
    latest_prob: float = 0.5
    entries: list[PoolEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.role not in ("pursuer", "evader"):
            raise ValueError(f"pool role must be 'pursuer' or 'evader', got {self.role!r}")
        if self.max_snapshots < 1:
            raise ValueError(f"max_snapshots must be >= 1, got {self.max_snapshots}")
        if not 0.0 <= self.latest_prob <= 1.0:
            raise ValueError(f"latest_prob must be in [0, 1], got {self.latest_prob}")

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def latest(self) -> PoolEntry | None:
        """Newest entry (None when empty)."""
        return self.entries[-1] if self.entries else None

    def add_baseline(self, name: str) -> None:
        """Add a scripted baseline by name (kept forever).

        :param name: baseline name understood by the opponent factory
        """
        self.entries.append(PoolEntry("baseline", name, -1))

    def add_checkpoint(self, path: str, phase: int) -> None:
        """Add a snapshot; drop the oldest snapshot beyond ``max_snapshots``.

        :param path: checkpoint path
        :param phase: phase that produced it
        """
        self.entries.append(PoolEntry("checkpoint", str(path), int(phase)))
        snapshots = [e for e in self.entries if e.kind == "checkpoint"]
        while len(snapshots) > self.max_snapshots:
            oldest = snapshots.pop(0)
            self.entries.remove(oldest)

    def sample(self, rng: np.random.Generator) -> PoolEntry:
        """Draw an opponent.

        :param rng: random generator (seeded by the trainer)
        :raises RuntimeError: when the pool is empty
        """
        if not self.entries:
            raise RuntimeError(
                f"the {self.role} opponent pool is empty: seed it with a baseline or a snapshot"
            )
        if rng.random() < self.latest_prob:
            return self.entries[-1]
        return self.entries[int(rng.integers(len(self.entries)))]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON)."""
        return {
            "role": self.role,
            "max_snapshots": self.max_snapshots,
            "latest_prob": self.latest_prob,
            "entries": [asdict(e) for e in self.entries],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpponentPool:
        """Inverse of :meth:`to_dict`.

        :param data: parsed JSON
        """
        return cls(
            role=data["role"],
            max_snapshots=int(data["max_snapshots"]),
            latest_prob=float(data["latest_prob"]),
            entries=[PoolEntry(**e) for e in data.get("entries", [])],
        )
