"""Uniform decimation of the training's per-step safety statuses (ROS-free).

Training filters thousands of commands per second (N envs x steps/s); publishing each as a
SafetyStatus would swamp DDS and the metrics node. :class:`StatusSampler` keeps a uniform
random sample (reservoir sampling) of at most ``capacity`` statuses per publishing period, so
rates the metrics node computes from the sample are unbiased estimates; the exact totals are
in ``TrainingProgress`` and in the run's own metrics files.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from safe_pe_sim.roles import ROLES

_FIELDS = (('tier', np.int64, ()), ('min_h', np.float64, ()),
           ('intervention', np.float64, ()), ('intervened', bool, ()),
           ('qp_feasible', bool, ()), ('violation', bool, ()), ('nominal', np.float64, (2,)),
           ('safe', np.float64, (2,)), ('env', np.int64, ()), ('role', np.int64, ()))


class StatusSampler:
    """Reservoir sample of the statuses added since the last :meth:`drain`.

    Thread-safe: the training thread adds, the node's timer drains.

    :param capacity: most statuses kept per period (>= 1).
    :param seed: seed of the sampling RNG.
    """

    def __init__(self, capacity: int, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f'capacity must be >= 1, got {capacity}')
        self.capacity = int(capacity)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._rows = {name: np.zeros((self.capacity, *shape), dtype=dtype)
                      for name, dtype, shape in _FIELDS}
        self._seen = 0
        self.total_seen = 0

    def add(self, batch: Any) -> None:
        """Add one env step of N statuses (a ``safe_vec_env.SafetyBatch``).

        :param batch: object with ``role`` and (N,) arrays ``tier, min_h, intervention,
            intervened, qp_feasible, violation`` and (N, 2) ``nominal, safe``.
        """
        n = int(np.asarray(batch.tier).shape[0])
        if n == 0:
            return
        columns = {
            'tier': batch.tier, 'min_h': batch.min_h, 'intervention': batch.intervention,
            'intervened': batch.intervened, 'qp_feasible': batch.qp_feasible,
            'violation': batch.violation, 'nominal': batch.nominal, 'safe': batch.safe,
            'env': np.arange(n), 'role': np.full(n, ROLES.index(batch.role)),
        }
        with self._lock:
            seen = self._seen
            free = max(0, min(n, self.capacity - seen))
            if free:
                for name, values in columns.items():
                    self._rows[name][seen:seen + free] = np.asarray(values)[:free]
            if n > free:
                # Item i (0-based over everything seen) replaces slot j ~ U[0, i] if j < cap.
                index = np.arange(seen + free, seen + n)
                slots = (self._rng.random(n - free) * (index + 1)).astype(np.int64)
                keep = slots < self.capacity
                if np.any(keep):
                    rows = np.arange(free, n)[keep]
                    for name, values in columns.items():
                        self._rows[name][slots[keep]] = np.asarray(values)[rows]
            self._seen += n
            self.total_seen += n

    def drain(self) -> dict[str, np.ndarray]:
        """The sample since the last drain (copies), and reset.

        :return: arrays by field name (``tier``, ``min_h``, ..., ``env``, ``role``), all of
            the same length (0 when nothing was added).
        """
        with self._lock:
            k = min(self._seen, self.capacity)
            out = {name: array[:k].copy() for name, array in self._rows.items()}
            self._seen = 0
        return out
