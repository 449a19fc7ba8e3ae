"""Opponent pool for self-play: past policy snapshots plus scripted baselines, per role.

Each phase trains one role against opponents from the *other* role's pool. :meth:`mixture`
picks the entries of a phase, each game of the phase playing one of them (see
``opponents.MixtureOpponent``): the newest snapshot with game share ``latest_prob``, the
scripted references with ``reference_prob``, older snapshots with the rest; within a group
by prioritised fictitious self-play (PFSP, as in AlphaStar): an entry the learner
beats with probability ``p`` is weighted ``(1 - p)^2 + PFSP_FLOOR``, so the opponents it
still loses to come up most, and the ones it always beats rarely but still. The
learner's record against each entry (:meth:`record`, an exponential average over phases) is
what ``p`` is read from; an entry never played counts as ``p = 0.5``. Playing a mixture of
past opponents and scripted references is what kept earlier self-play from collapsing onto
one side and from learning only to beat a weak opponent. :meth:`sample` draws one entry
(``latest_prob`` for the newest, else uniformly), for callers that want a single opponent.

The pool is plain data (JSON round trip) so ``--resume`` can restore it exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from safe_pe_sim.roles import ROLES

ENTRY_KINDS = ("checkpoint", "baseline")
PFSP_FLOOR = 0.05
"""Least PFSP weight of an entry (one the learner always beats)."""
RECORD_DECAY = 0.5
"""Weight of the earlier estimate when a phase's record of an entry comes in."""


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
    :param win_rates: the learner's estimated win rate against each entry, by ``ref``
    """

    role: str
    max_snapshots: int = 8
    latest_prob: float = 0.5
    entries: list[PoolEntry] = field(default_factory=list)
    win_rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
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
            self.win_rates.pop(oldest.ref, None)

    def record(self, ref: str, wins: int, games: int) -> None:
        """Fold a phase's record of the learner against entry ``ref`` into its estimate.

        :param ref: the entry's ``ref``
        :param wins: learner wins
        :param games: finished games (0: nothing changes)
        """
        if games <= 0:
            return
        rate = wins / games
        old = self.win_rates.get(ref)
        self.win_rates[ref] = rate if old is None else \
            RECORD_DECAY * old + (1.0 - RECORD_DECAY) * rate

    def pfsp_weight(self, entry: PoolEntry) -> float:
        """``(1 - p)^2 + PFSP_FLOOR`` with ``p`` the learner's win rate against ``entry``.

        :param entry: a pool entry
        """
        p = self.win_rates.get(entry.ref, 0.5)
        return (1.0 - p) ** 2 + PFSP_FLOOR

    def mixture(self, rng: np.random.Generator, size: int, reference_prob: float = 0.0
                ) -> tuple[list[PoolEntry], list[float]]:
        """Entries a phase plays against and their game shares (summing to 1).

        Three groups: the newest snapshot (share ``latest_prob``), every scripted reference
        (together ``reference_prob``), and up to ``size - 1`` older snapshots drawn without
        replacement by PFSP weight (the rest). Within a group shares follow PFSP weights; a
        group that is empty gives its share to the others in proportion to theirs.

        :param rng: random generator (seeded by the trainer)
        :param size: most snapshots (newest included, >= 1)
        :param reference_prob: share of the scripted references, in [0, 1 - latest_prob]
        :raises RuntimeError: when the pool is empty
        """
        if not self.entries:
            raise RuntimeError(
                f"the {self.role} opponent pool is empty: seed it with a baseline or a snapshot"
            )
        if size < 1:
            raise ValueError(f"a mixture needs >= 1 entry, got {size}")
        if not 0.0 <= reference_prob <= 1.0 - self.latest_prob + 1e-12:
            raise ValueError(f"reference_prob must be in [0, 1 - latest_prob = "
                             f"{1.0 - self.latest_prob:g}], got {reference_prob}")
        snapshots = [e for e in self.entries if e.kind == "checkpoint"]
        newest = snapshots[-1:]
        older = snapshots[:-1]
        k = min(size - 1, len(older))
        if k > 0:
            w = np.array([self.pfsp_weight(e) for e in older])
            pick = rng.choice(len(older), size=k, replace=False, p=w / w.sum())
            older = [older[i] for i in sorted(pick)]
        else:
            older = []
        groups = [(older, 1.0 - self.latest_prob - reference_prob),
                  ([e for e in self.entries if e.kind == "baseline"], reference_prob),
                  (newest, self.latest_prob)]
        groups = [(g, max(0.0, share)) for g, share in groups if g]
        total = sum(share for _, share in groups)
        chosen: list[PoolEntry] = []
        shares: list[float] = []
        for group, share in groups:
            share = share / total if total > 0 else 1.0 / len(groups)
            if share <= 0.0:
                continue
            w = np.array([self.pfsp_weight(e) for e in group])
            chosen += group
            shares += list(share * w / w.sum())
        return chosen, shares

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
            "win_rates": dict(self.win_rates),
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
            win_rates={str(k): float(v) for k, v in data.get("win_rates", {}).items()},
        )
