"""Resume state of a self-play run (``run_state.json`` and the files it points to).

After every completed phase the trainer writes, in this order and each atomically:

1. the trained role's deployable checkpoint ``checkpoints/<role>_phase<k>.pt/.json``;
2. its optimizer state ``checkpoints/<role>_phase<k>.train.pt`` (tensors and numbers only,
   loaded with ``torch.load(weights_only=True)``);
3. the safety tracker ``state/tracker_phase<k>.pkl`` (see below);
4. ``run_state.json``: next phase, step counters, both roles' latest checkpoints, opponent
   pools, per-phase records, progress rows, the trainer's RNG state.

``run_state.json`` is written last, so whatever it references exists: a run killed at any
moment resumes from the last completed phase.

The tracker is stored with :mod:`pickle` because :class:`SafetyMetricsTracker` has no plain
state API; it is read back with a restricted unpickler that only accepts numpy arrays, builtin
containers and classes of ``safe_pe_training.safety_metrics``, so a tampered file cannot run
code. Deployable policies never need this file.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import torch as th

from safe_pe_training.artifacts import atomic_write_bytes, atomic_write_json, read_json

RUN_STATE_FORMAT = "safe_pe_run_state/1"

_ALLOWED_MODULE_PREFIXES = ("safe_pe_training.safety_metrics",)
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("numpy", "float64"), ("numpy", "int64"),
    ("numpy", "bool_"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "tuple"),
    ("builtins", "list"), ("builtins", "dict"), ("builtins", "float"), ("builtins", "int"),
    ("collections", "deque"), ("collections", "OrderedDict"), ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}
_ALLOWED_NUMPY_DTYPES = ("numpy.dtypes",)


class ResumeError(ValueError):
    """A run directory cannot be resumed (missing or inconsistent state)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS or module.startswith(_ALLOWED_MODULE_PREFIXES) \
                or module.startswith(_ALLOWED_NUMPY_DTYPES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from tracker state")


def save_tracker(tracker: Any, path: Path) -> Path:
    """Pickle a :class:`SafetyMetricsTracker` atomically.

    :param tracker: the tracker
    :param path: output file
    """
    return atomic_write_bytes(path, pickle.dumps(tracker, protocol=pickle.HIGHEST_PROTOCOL))


def load_tracker(path: Path) -> Any:
    """Read a tracker written by :func:`save_tracker` (restricted unpickler).

    :param path: the file
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ResumeError(f"tracker state {path} is missing") from exc
    try:
        tracker = _RestrictedUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # any unpickling failure
        raise ResumeError(f"tracker state {path} is unreadable: {exc}") from exc
    from safe_pe_training.safety_metrics import SafetyMetricsTracker

    if not isinstance(tracker, SafetyMetricsTracker):
        raise ResumeError(f"{path} does not hold a SafetyMetricsTracker")
    return tracker


def save_train_state(optimizer: th.optim.Optimizer, path: Path) -> Path:
    """Save an optimizer's state_dict atomically.

    :param optimizer: the PPO policy's optimizer
    :param path: output file (``.train.pt``)
    """
    buffer = io.BytesIO()
    th.save({"optimizer": optimizer.state_dict()}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_train_state(path: Path) -> dict[str, Any]:
    """Load a ``.train.pt`` file with ``weights_only=True``.

    :param path: the file
    """
    try:
        state = th.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ResumeError(f"optimizer state {path} is missing") from exc
    except Exception as exc:
        raise ResumeError(f"optimizer state {path} is unreadable: {exc}") from exc
    if not isinstance(state, dict) or "optimizer" not in state:
        raise ResumeError(f"{path} is not an optimizer state file")
    return state


def write_run_state(path: Path, state: dict[str, Any]) -> Path:
    """Write ``run_state.json`` atomically (adds the format tag).

    :param path: output file
    :param state: JSON-able state
    """
    return atomic_write_json(path, {**state, "format": RUN_STATE_FORMAT})


def read_run_state(path: Path) -> dict[str, Any]:
    """Read and check ``run_state.json``.

    :param path: the file
    """
    if not Path(path).exists():
        raise ResumeError(
            f"{path} does not exist: the run has not completed a phase yet (nothing to resume; "
            "start it again without --resume)"
        )
    try:
        state = read_json(path)
    except ValueError as exc:
        raise ResumeError(str(exc)) from exc
    if not isinstance(state, dict) or state.get("format") != RUN_STATE_FORMAT:
        raise ResumeError(f"{path} is not a {RUN_STATE_FORMAT} file")
    return state
