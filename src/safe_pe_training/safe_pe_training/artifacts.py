"""Run directories and crash-safe file writing.

One directory per training run::

    runs/<run_type>_<YYYYmmdd-HHMMSS>/      (or runs/<name>/ when a name is given)
        config.yaml                  resolved SafeSelfPlayConfig
        run_state.json               resume pointer (written last, atomically, every phase)
        checkpoints/<role>_phase<k>.pt / .json   deployable policy: weights + metadata
        checkpoints/<role>_phase<k>.train.pt     optimizer state for --resume
        tensorboard/                 SB3 logger output (one sub-folder per role)
        metrics/phases.csv, phases.json, progress.csv, summary.json
        plots/*.png

Every file is written to a temporary sibling, flushed, fsynced and renamed over the target
(``os.replace``), so a killed run never leaves a half-written file under a final name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RUN_STATE_FILE = "run_state.json"
CONFIG_FILE = "config.yaml"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (tmp file in the same folder + ``os.replace``).

    :param path: final file path; its folder is created if needed
    :param data: file contents
    :return: the final path
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomic UTF-8 text write; see :func:`atomic_write_bytes`.

    :param path: final file path
    :param text: file contents
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def to_json_text(data: Any) -> str:
    """Strict JSON text (NaN/inf become null, numpy scalars become numbers).

    :param data: JSON-like data
    """
    normalised = json.loads(json.dumps(data, default=_json_default))
    return json.dumps(_finite_or_none(normalised), indent=2, sort_keys=True, allow_nan=False)


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Atomic JSON write (strict JSON, sorted keys).

    :param path: final file path
    :param data: JSON-like data
    """
    return atomic_write_text(path, to_json_text(data) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file with an error that names the file when it is missing or broken.

    :param path: file to read
    """
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{p} does not exist") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p} is not valid JSON (truncated or corrupted?): {exc}") from exc


def atomic_write_csv(
    path: str | os.PathLike[str], rows: list[dict[str, Any]], fieldnames: list[str] | None = None
) -> Path:
    """Write a list of dicts as CSV, atomically; missing keys are left empty.

    :param path: final file path
    :param rows: one dict per row
    :param fieldnames: column order; default = union of keys in first-seen order
    """
    if fieldnames is None:
        fieldnames = []
        for row in rows:
            for key in row:
                if key not in fieldnames:
                    fieldnames.append(key)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _json_default(v) if isinstance(v, np.generic) else v
                         for k, v in row.items()})
    return atomic_write_text(path, buffer.getvalue())


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory.

    :param root: the run directory
    """

    root: Path

    @property
    def config_path(self) -> Path:
        """Resolved configuration (YAML)."""
        return self.root / CONFIG_FILE

    @property
    def state_path(self) -> Path:
        """Resume pointer (JSON)."""
        return self.root / RUN_STATE_FILE

    @property
    def checkpoints(self) -> Path:
        """Folder of policy checkpoints."""
        return self.root / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        """Folder of TensorBoard event files."""
        return self.root / "tensorboard"

    @property
    def metrics(self) -> Path:
        """Folder of CSV/JSON metrics."""
        return self.root / "metrics"

    @property
    def plots(self) -> Path:
        """Folder of PNG plots."""
        return self.root / "plots"

    def create(self) -> RunDir:
        """Create the folder tree (idempotent)."""
        for folder in (self.root, self.checkpoints, self.tensorboard, self.metrics, self.plots):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def checkpoint_stem(self, role: str, phase: int) -> Path:
        """Path without suffix of the checkpoint of ``role`` after ``phase``.

        :param role: "pursuer" or "evader"
        :param phase: 0-based phase index
        """
        return self.checkpoints / f"{role}_phase{phase:04d}"


def default_run_dir(run_type: str, base: str | os.PathLike[str] = "runs",
                    name: str | None = None) -> RunDir:
    """``<base>/<run_type>_<timestamp>`` (or ``<base>/<name>``), made unique with a suffix.

    :param run_type: "A", "B", "C", "D" or "custom"
    :param base: parent folder of all runs
    :param name: explicit folder name instead of the timestamp one
    """
    base_path = Path(base)
    stem = name if name else f"{run_type}_{time.strftime('%Y%m%d-%H%M%S')}"
    candidate = base_path / stem
    counter = 1
    while candidate.exists() and name is None:
        candidate = base_path / f"{stem}_{counter}"
        counter += 1
    return RunDir(candidate)


def paired_paths(path: str | os.PathLike[str], suffix: str) -> tuple[Path, Path]:
    """``(<stem><suffix>, <stem>.json)`` for a path given with either suffix or none: a
    model file and its JSON metadata beside it.

    :param path: ``<stem>``, ``<stem><suffix>`` or ``<stem>.json``
    :param suffix: the model file's suffix, e.g. ``".pt"``
    """
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (suffix, ".json") else p
    return stem.with_suffix(suffix), stem.with_suffix(".json")
