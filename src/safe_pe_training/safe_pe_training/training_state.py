"""Resume state of a self-play run (``run_state.json`` and the files it points to).

After every completed phase the trainer writes, in this order and each atomically:

1. the trained role's deployable checkpoint ``checkpoints/<role>_phase<k>.pt/.json``;
2. its optimizer state ``checkpoints/<role>_phase<k>.train.pt`` (tensors and numbers only,
   loaded with ``torch.load(weights_only=True)``);
3. the safety tracker ``state/tracker_phase<k>.json`` (``SafetyMetricsTracker.state_dict()``,
   strict JSON: counts, histograms, the rolling window, the phase history);
4. ``run_state.json``: next phase, step counters, both roles' latest checkpoints, opponent
   pools, per-phase records, progress rows, the trainer's RNG state.

``run_state.json`` is written last, so whatever it references exists: a run killed at any
moment resumes from the last completed phase.

Nothing here is unpickled: the optimizer state is loaded with ``weights_only=True`` and the
tracker is plain JSON. Run directories of older versions stored the tracker as a pickle
(``tracker_phase<k>.pkl``); they cannot be resumed and :func:`load_tracker` says so.
Deployable policies never need the tracker file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch as th

from safe_pe_training.artifacts import atomic_write_bytes, atomic_write_json, read_json
from safe_pe_training.safety_tracker import SafetyMetricsTracker

RUN_STATE_FORMAT = "safe_pe_run_state/1"

TRACKER_FILE_FORMAT = "safe_pe_tracker_file/1"


class ResumeError(ValueError):
    """A run directory cannot be resumed (missing or inconsistent state)."""


def save_tracker(tracker: SafetyMetricsTracker, path: Path) -> Path:
    """Write a :class:`SafetyMetricsTracker`'s ``state_dict()`` as JSON, atomically.

    :param tracker: the tracker
    :param path: output file (``.json``)
    """
    return atomic_write_json(path, {"format": TRACKER_FILE_FORMAT,
                                    "tracker": tracker.state_dict()})


def load_tracker(path: Path) -> SafetyMetricsTracker:
    """Read a tracker written by :func:`save_tracker`.

    :param path: the file
    :raises ResumeError: when the file is missing, unreadable, not a tracker state, or a
        pickled tracker of an older safe_pe version
    """
    path = Path(path)
    try:
        head = path.read_bytes()[:1]
    except FileNotFoundError as exc:
        raise ResumeError(f"tracker state {path} is missing") from exc
    if path.suffix == ".pkl" or head == b"\x80":
        raise ResumeError(
            f"{path} is a pickled safety tracker written by an older safe_pe version; this "
            "version stores it as JSON and does not unpickle: start a new run (or resume this "
            "one with the version that wrote it)")
    try:
        data = read_json(path)
    except ValueError as exc:
        raise ResumeError(f"tracker state {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != TRACKER_FILE_FORMAT:
        raise ResumeError(f"{path} is not a {TRACKER_FILE_FORMAT} file")
    try:
        return SafetyMetricsTracker.from_state_dict(data.get("tracker"))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # corrupt content
        raise ResumeError(f"tracker state {path} is inconsistent: {exc!r}") from exc


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
