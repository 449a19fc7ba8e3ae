"""Run an exported policy with onnxruntime: observation -> physical command, without torch.

An exported policy (``safe_pe_train export --onnx``, :mod:`safe_pe_training.onnx_export`) is
two files with the same stem:

* ``<stem>.onnx`` - one graph from the observation (``float32 (N, obs_dim)``) to the physical
  command ``(v, omega)`` (``float64 (N, 2)``): the actor network, the policy's mode, and the
  same mapping to physical units as :class:`safe_pe_training.checkpoints.DeployedPolicy`
  (for CBF-Beta policies the safe box carried in the observation's last 4 entries).
* ``<stem>.json`` - metadata (:class:`OnnxMetadata`): role, policy type, observation size,
  command limits, the SHA-256 of the ``.onnx`` file, and the run configuration the
  observation is built from, so a robot needs nothing else.

This module imports numpy and (when a policy is loaded) onnxruntime only: it is what a robot
without torch or stable-baselines3 runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from safe_pe_sim.roles import ROLES

from safe_pe_training.artifacts import paired_paths

ONNX_FORMAT = "safe_pe_onnx/1"
INPUT_NAME = "observation"
OUTPUT_NAME = "command"
POLICY_TYPES = ("beta", "gaussian")


class OnnxPolicyError(ValueError):
    """An exported policy is missing, corrupted, or does not fit its metadata or its use."""


@dataclass
class OnnxMetadata:
    """What a robot needs to use an exported policy, as plain JSON.

    :param role: "pursuer" or "evader"
    :param policy_type: "beta" (commands in the observed safe box) or "gaussian"
    :param obs_dim: observation length (for "beta" the last 4 entries are the safe box)
    :param limits: the robot's command limits ``{"v_min", "v_max", "omega_max"}``
    :param onnx_sha256: SHA-256 of the ``.onnx`` file
    :param source_checkpoint: the checkpoint it was exported from
    :param source_sha256: the SHA-256 of that checkpoint's weights
    :param phase: self-play phase that produced the weights
    :param total_steps: environment steps of the run when the weights were written
    :param run_type: "A", "B", "C", "D" or "custom"
    :param config: the resolved run configuration (``SafeSelfPlayConfig.to_dict()``)
    :param opset: ONNX opset of the graph
    :param format: format tag
    """

    role: str
    policy_type: str
    obs_dim: int
    limits: dict[str, float]
    onnx_sha256: str = ""
    source_checkpoint: str = ""
    source_sha256: str = ""
    phase: int = 0
    total_steps: int = 0
    run_type: str = "custom"
    config: dict[str, Any] = field(default_factory=dict)
    opset: int = 0
    format: str = ONNX_FORMAT

    def validate(self) -> None:
        """Raise :class:`OnnxPolicyError` naming the first bad field."""
        if self.format != ONNX_FORMAT:
            raise OnnxPolicyError(f"unsupported format {self.format!r} (expected {ONNX_FORMAT})")
        if self.role not in ROLES:
            raise OnnxPolicyError(f"role must be one of {ROLES}, got {self.role!r}")
        if self.policy_type not in POLICY_TYPES:
            raise OnnxPolicyError(f"policy_type must be one of {POLICY_TYPES}, "
                                  f"got {self.policy_type!r}")
        if int(self.obs_dim) < 1:
            raise OnnxPolicyError(f"bad observation size {self.obs_dim}")
        try:
            low = float(self.limits["v_min"])
            high = float(self.limits["v_max"])
            omega = float(self.limits["omega_max"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OnnxPolicyError(f"bad command limits {self.limits!r}: {exc}") from exc
        if not (np.isfinite([low, high, omega]).all() and high > low and omega > 0.0):
            raise OnnxPolicyError(f"bad command limits {self.limits!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> OnnxMetadata:
        """Build and validate; unknown keys are refused.

        :param data: parsed JSON
        """
        if not isinstance(data, dict):
            raise OnnxPolicyError(f"ONNX metadata must be a JSON object, got {type(data)}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise OnnxPolicyError(f"unknown ONNX metadata keys {unknown}")
        try:
            meta = cls(**data)
        except TypeError as exc:
            raise OnnxPolicyError(f"incomplete ONNX metadata: {exc}") from exc
        meta.validate()
        return meta


def onnx_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(model .onnx, metadata .json)`` for a path given with either suffix or none.

    :param path: ``<stem>``, ``<stem>.onnx`` or ``<stem>.json``
    """
    return paired_paths(path, ".onnx")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes.

    :param path: the file
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_onnx_metadata(path: str | os.PathLike[str]) -> OnnxMetadata:
    """Read and validate the JSON beside an exported policy.

    :param path: the policy (any suffix)
    """
    _, meta_path = onnx_paths(path)
    if not meta_path.is_file():
        raise OnnxPolicyError(f"ONNX metadata {meta_path} is missing: export the policy with "
                              "`safe_pe_train export --onnx CHECKPOINT --out FILE.onnx`")
    try:
        data = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise OnnxPolicyError(f"cannot read ONNX metadata {meta_path}: {exc}") from exc
    return OnnxMetadata.from_dict(data)


class OnnxPolicy:
    """An exported policy on onnxruntime: observations in, physical commands out.

    Acts with the policy's mode (deterministic), like a deployed checkpoint by default.

    :param path: the ``.onnx`` file (its ``.json`` beside it), any suffix
    :param threads: onnxruntime intra-op threads (1: a robot's control loop, no thread pool)
    :raises OnnxPolicyError: missing, corrupted or inconsistent files
    """

    def __init__(self, path: str | os.PathLike[str], threads: int = 1) -> None:
        import onnxruntime as ort  # only where ONNX policies run (robots, export checks)

        self.path, _ = onnx_paths(path)
        self.meta = read_onnx_metadata(path)
        if not self.path.is_file():
            raise OnnxPolicyError(f"ONNX model {self.path} is missing")
        if self.meta.onnx_sha256 and sha256_file(self.path) != self.meta.onnx_sha256:
            raise OnnxPolicyError(f"{self.path} does not match the SHA-256 in its metadata "
                                  "(truncated or replaced file): export it again")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for broken models
            raise OnnxPolicyError(f"onnxruntime cannot load {self.path}: {exc}") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or OUTPUT_NAME not in [
                o.name for o in outputs]:
            raise OnnxPolicyError(f"{self.path} is not a safe_pe policy graph (inputs "
                                  f"{[i.name for i in inputs]}, outputs "
                                  f"{[o.name for o in outputs]})")
        size = inputs[0].shape[-1]
        if size != self.obs_dim:
            raise OnnxPolicyError(f"{self.path} takes observations of {size} entries, its "
                                  f"metadata says {self.obs_dim}: export it again")

    @property
    def role(self) -> str:
        """Role the policy was trained for."""
        return self.meta.role

    @property
    def obs_dim(self) -> int:
        """Expected observation length."""
        return int(self.meta.obs_dim)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Physical commands for one ``(obs_dim,)`` or a batch ``(N, obs_dim)``.

        :param obs: observation(s); must be finite
        :return: ``(2,)`` or ``(N, 2)`` float64 commands in physical units
        """
        arr = np.asarray(obs, dtype=np.float32)
        single = arr.ndim == 1
        batch = arr[None, :] if single else arr
        if batch.ndim != 2 or batch.shape[1] != self.obs_dim:
            raise ValueError(f"observation must have shape ({self.obs_dim},) or "
                             f"(N, {self.obs_dim}), got {arr.shape}")
        if not np.all(np.isfinite(batch)):
            raise ValueError("observation contains NaN or inf; refusing to compute a command")
        cmds = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch)})[0]
        return cmds[0] if single else cmds
