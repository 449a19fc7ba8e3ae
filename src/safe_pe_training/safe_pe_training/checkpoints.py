"""Deployable policy checkpoints: torch weights + JSON metadata, no pickle.

A checkpoint is two files with the same stem:

* ``<stem>.pt`` - the policy's ``state_dict`` (tensors only) saved with ``torch.save``;
  loaded with ``torch.load(..., weights_only=True)``, which refuses arbitrary objects.
* ``<stem>.json`` - metadata (see :class:`CheckpointMetadata`), including the SHA-256 of the
  weights file. The JSON is written after the weights, so a checkpoint whose JSON exists is
  complete; a truncated or altered weights file fails the hash check with a clear error.

:func:`load_policy` rebuilds the network from the metadata alone and returns a
:class:`DeployedPolicy`: ``policy(obs) -> physical command (v, omega)``.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn
from safe_pe_sim.roles import ROLES

from safe_pe_training.action_mapping import (
    BOX_OBS_DIM,
    CommandLimits,
    beta_to_physical,
    denormalise_box,
    unit_to_physical,
)
from safe_pe_training.artifacts import atomic_write_bytes, atomic_write_json, paired_paths, \
    read_json
from safe_pe_training.beta_policy import CBFBetaPolicy

CHECKPOINT_FORMAT = "safe_pe_policy/1"
POLICY_TYPES = ("beta", "gaussian")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


MAX_OBS_DIM = 4096
"""Longest observation a checkpoint may declare."""
MAX_LAYERS = 16
"""Most hidden layers per network (``net_arch["pi"]`` / ``["vf"]``)."""
MAX_LAYER_WIDTH = 4096
"""Widest hidden layer."""
MAX_PARAMETERS = 20_000_000
"""Most parameters (both networks and heads, 80 MB of float32) a checkpoint may declare:
metadata is checked against it before any tensor is allocated."""
ACTION_DIM = 2
"""Actions are ``(v, omega)``."""


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupted or inconsistent with its metadata."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def activation_name(activation: type[nn.Module] | str) -> str:
    """Name of an activation class as stored in metadata.

    :param activation: torch activation class or its name
    """
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; use one of {list(ACTIVATIONS)}")
        return activation
    for name, cls in ACTIVATIONS.items():
        if activation is cls:
            return name
    raise ValueError(f"unsupported activation {activation}; use one of {list(ACTIVATIONS)}")


@dataclass
class CheckpointMetadata:
    """Everything needed to rebuild and use a policy, as plain JSON.

    :param role: "pursuer" or "evader"
    :param policy_type: "beta" (CBF-Beta, actions in the safe box) or "gaussian" ([-1, 1])
    :param obs_dim: observation length (for "beta" the last 4 entries are the safe box)
    :param action_dim: action length (2: v, omega)
    :param limits: the robot's command limits (``CommandLimits.to_dict()``)
    :param net_arch: SB3 ``net_arch`` dict ``{"pi": [...], "vf": [...]}``
    :param activation: activation name ("tanh", "relu", ...)
    :param obs_layout: description of the observation entries (names/offsets)
    :param phase: self-play phase that produced the weights
    :param total_steps: environment steps when written
    :param run_type: "A", "B", "C", "D" or "custom"
    :param config_hash: SHA-256 of the resolved run config
    :param beta_epsilon: clip distance of Beta actions from 0 and 1
    :param weights_sha256: hash of the weights file (filled in by :func:`save_checkpoint`)
    :param created_unix: wall-clock time of writing
    :param format: checkpoint format tag
    :param extra: free-form extra metadata
    """

    role: str
    policy_type: str
    obs_dim: int
    action_dim: int
    limits: dict[str, float]
    net_arch: dict[str, list[int]]
    activation: str = "tanh"
    obs_layout: dict[str, Any] = field(default_factory=dict)
    phase: int = 0
    total_steps: int = 0
    run_type: str = "custom"
    config_hash: str = ""
    beta_epsilon: float = 1e-5
    weights_sha256: str = ""
    created_unix: float = 0.0
    format: str = CHECKPOINT_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise :class:`CheckpointError` (saying which field) unless every field has the
        right type and a sane value: nothing is built from metadata that fails here, so a
        hostile or damaged file cannot crash the loader or allocate gigabytes.
        """
        for name in ("format", "role", "policy_type", "activation", "run_type",
                     "config_hash", "weights_sha256"):
            if not isinstance(getattr(self, name), str):
                raise CheckpointError(f"checkpoint metadata {name} must be a string, got "
                                      f"{getattr(self, name)!r}")
        if self.format != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"unsupported checkpoint format {self.format!r} (expected {CHECKPOINT_FORMAT})"
            )
        if self.role not in ROLES:
            raise CheckpointError(f"checkpoint role must be one of {ROLES}, got {self.role!r}")
        if self.policy_type not in POLICY_TYPES:
            raise CheckpointError(
                f"policy_type must be one of {POLICY_TYPES}, got {self.policy_type!r}"
            )
        min_obs = BOX_OBS_DIM + 1 if self.policy_type == "beta" else 1
        if not (_is_int(self.obs_dim) and min_obs <= self.obs_dim <= MAX_OBS_DIM):
            raise CheckpointError(f"checkpoint obs_dim must be an integer in [{min_obs}, "
                                  f"{MAX_OBS_DIM}], got {self.obs_dim!r}")
        if not (_is_int(self.action_dim) and self.action_dim == ACTION_DIM):
            raise CheckpointError(f"checkpoint action_dim must be {ACTION_DIM} (v, omega), got "
                                  f"{self.action_dim!r}")
        if self.activation not in ACTIVATIONS:
            raise CheckpointError(f"unknown activation {self.activation!r}; one of "
                                  f"{list(ACTIVATIONS)}")
        if not (isinstance(self.limits, dict)
                and set(self.limits) == {"v_min", "v_max", "omega_max"}
                and all(_is_number(v) and math.isfinite(v) for v in self.limits.values())):
            raise CheckpointError(f"checkpoint limits must be {{v_min, v_max, omega_max}} "
                                  f"finite numbers, got {self.limits!r}")
        try:
            CommandLimits.from_dict(self.limits)
        except (ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(f"bad command limits in metadata: {exc!r}") from exc
        self._validate_net_arch()
        for name in ("phase", "total_steps"):
            value = getattr(self, name)
            if not (_is_int(value) and value >= 0):
                raise CheckpointError(f"checkpoint {name} must be an integer >= 0, got "
                                      f"{value!r}")
        eps = self.beta_epsilon
        if not (_is_number(eps) and math.isfinite(eps) and 0.0 < eps < 0.5):
            raise CheckpointError(f"checkpoint beta_epsilon must be a finite number in "
                                  f"(0, 0.5), got {eps!r}")
        if not (_is_number(self.created_unix) and math.isfinite(self.created_unix)
                and self.created_unix >= 0.0):
            raise CheckpointError(f"checkpoint created_unix must be a finite time >= 0, got "
                                  f"{self.created_unix!r}")
        if self.weights_sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.weights_sha256):
            raise CheckpointError(f"checkpoint weights_sha256 must be 64 hex digits, got "
                                  f"{self.weights_sha256!r}")
        for name in ("obs_layout", "extra"):
            if not isinstance(getattr(self, name), dict):
                raise CheckpointError(f"checkpoint {name} must be an object, got "
                                      f"{getattr(self, name)!r}")

    def _validate_net_arch(self) -> None:
        arch = self.net_arch
        if not (isinstance(arch, dict) and set(arch) == {"pi", "vf"}):
            raise CheckpointError(f'checkpoint net_arch must be {{"pi": [...], "vf": [...]}}, '
                                  f"got {arch!r}")
        for key, layers in arch.items():
            if not (isinstance(layers, list) and len(layers) <= MAX_LAYERS and all(
                    _is_int(w) and 1 <= w <= MAX_LAYER_WIDTH for w in layers)):
                raise CheckpointError(
                    f"checkpoint net_arch[{key!r}] must be a list of at most {MAX_LAYERS} "
                    f"layer widths in [1, {MAX_LAYER_WIDTH}], got {layers!r}")
        count = sum(math.prod(shape) for shape in expected_shapes(self).values())
        if count > MAX_PARAMETERS:
            raise CheckpointError(f"checkpoint net_arch {arch} with obs_dim {self.obs_dim} "
                                  f"means {count} parameters, more than {MAX_PARAMETERS}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMetadata:
        """Build and validate from a dict; unknown keys are rejected.

        :param data: parsed JSON
        """
        if not isinstance(data, dict):
            raise CheckpointError(f"checkpoint metadata must be a JSON object, got {type(data)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"unknown checkpoint metadata keys {unknown}")
        try:
            meta = cls(**data)
        except TypeError as exc:
            raise CheckpointError(f"incomplete checkpoint metadata: {exc}") from exc
        meta.validate()
        return meta

    @property
    def command_limits(self) -> CommandLimits:
        """The robot's limits as :class:`CommandLimits`."""
        return CommandLimits.from_dict(self.limits)


def expected_shapes(meta: CheckpointMetadata) -> dict[str, tuple[int, ...]]:
    """Name and shape of every tensor in the ``state_dict`` of the policy ``meta`` describes
    (SB3 MLP extractor with separate pi/vf networks, action and value heads; ``log_std`` for
    Gaussian policies, two Beta parameters per action for Beta ones).

    :param meta: checkpoint metadata (obs_dim, action_dim, policy_type, net_arch)
    """
    shapes: dict[str, tuple[int, ...]] = {}
    last = {}
    for key, net in (("pi", "policy_net"), ("vf", "value_net")):
        width = int(meta.obs_dim)
        for i, layer in enumerate(meta.net_arch[key]):
            shapes[f"mlp_extractor.{net}.{2 * i}.weight"] = (int(layer), width)
            shapes[f"mlp_extractor.{net}.{2 * i}.bias"] = (int(layer),)
            width = int(layer)
        last[key] = width
    outputs = int(meta.action_dim) * (2 if meta.policy_type == "beta" else 1)
    shapes["action_net.weight"] = (outputs, last["pi"])
    shapes["action_net.bias"] = (outputs,)
    shapes["value_net.weight"] = (1, last["vf"])
    shapes["value_net.bias"] = (1,)
    if meta.policy_type == "gaussian":
        shapes["log_std"] = (int(meta.action_dim),)
    return shapes


def check_weights_fit(state: dict[str, th.Tensor], meta: CheckpointMetadata,
                      where: str | os.PathLike[str]) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has exactly the tensors (names and
    shapes) of :func:`expected_shapes` (checked before any network is built).

    :param state: loaded state_dict
    :param meta: its metadata
    :param where: the weights file, for the message
    """
    expected = expected_shapes(meta)
    actual = {k: tuple(v.shape) for k, v in state.items()}
    if actual == expected:
        return
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    wrong = sorted(f"{k}: {actual[k]} instead of {expected[k]}"
                   for k in set(actual) & set(expected) if actual[k] != expected[k])
    raise CheckpointError(
        f"weights in {where} do not fit the network described by its metadata (obs_dim "
        f"{meta.obs_dim}, net_arch {meta.net_arch}, {meta.policy_type}): missing {missing[:4]}, "
        f"unexpected {unexpected[:4]}, wrong shapes {wrong[:4]}")


def policy_spaces(meta: CheckpointMetadata) -> tuple[spaces.Box, spaces.Box]:
    """Observation and action spaces implied by metadata.

    :param meta: checkpoint metadata
    """
    obs_space = spaces.Box(-np.inf, np.inf, (int(meta.obs_dim),), np.float32)
    if meta.policy_type == "beta":
        act_space = spaces.Box(0.0, 1.0, (int(meta.action_dim),), np.float32)
    else:
        act_space = spaces.Box(-1.0, 1.0, (int(meta.action_dim),), np.float32)
    return obs_space, act_space


def build_policy(meta: CheckpointMetadata) -> ActorCriticPolicy:
    """Construct an untrained policy network matching ``meta`` (CPU, eval mode).

    :param meta: checkpoint metadata
    """
    obs_space, act_space = policy_spaces(meta)
    kwargs: dict[str, Any] = {
        "net_arch": {k: list(v) for k, v in meta.net_arch.items()},
        "activation_fn": ACTIVATIONS[meta.activation],
    }
    if meta.policy_type == "beta":
        policy: ActorCriticPolicy = CBFBetaPolicy(
            obs_space, act_space, lambda _: 0.0, beta_epsilon=meta.beta_epsilon, **kwargs
        )
    else:
        policy = ActorCriticPolicy(obs_space, act_space, lambda _: 0.0, **kwargs)
    policy.set_training_mode(False)
    return policy


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_dict_bytes(module: nn.Module) -> bytes:
    """Serialise a module's ``state_dict`` (detached CPU tensors only) with ``torch.save``.

    :param module: torch module
    """
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    buffer = io.BytesIO()
    th.save(state, buffer)
    return buffer.getvalue()


def save_checkpoint(
    policy: ActorCriticPolicy, stem: str | os.PathLike[str], meta: CheckpointMetadata
) -> Path:
    """Write ``<stem>.pt`` then ``<stem>.json`` atomically.

    :param policy: SB3 policy whose weights are saved
    :param stem: path without suffix
    :param meta: metadata; ``weights_sha256`` and ``created_unix`` are filled in here
    :return: path of the weights file
    """
    meta.validate()
    stem = Path(stem)
    data = state_dict_bytes(policy)
    meta.weights_sha256 = _sha256(data)
    meta.created_unix = time.time()
    weights_path = atomic_write_bytes(stem.with_suffix(".pt"), data)
    atomic_write_json(stem.with_suffix(".json"), meta.to_dict())
    return weights_path


def checkpoint_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(weights .pt, metadata .json)`` for a path given with either suffix or none.

    :param path: ``<stem>``, ``<stem>.pt`` or ``<stem>.json``
    """
    return paired_paths(path, ".pt")


def read_metadata(path: str | os.PathLike[str]) -> CheckpointMetadata:
    """Read and validate a checkpoint's JSON metadata.

    :param path: checkpoint path (any suffix)
    """
    _, meta_path = checkpoint_paths(path)
    if not meta_path.exists():
        raise CheckpointError(
            f"checkpoint metadata {meta_path} is missing: the checkpoint is incomplete "
            "(the run was killed while writing it?) - use an earlier checkpoint"
        )
    try:
        data = read_json(meta_path)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    return CheckpointMetadata.from_dict(data)


def load_state_dict_file(weights_path: Path, expected_sha256: str) -> dict[str, th.Tensor]:
    """Load a weights file with ``weights_only=True`` after checking its hash.

    :param weights_path: the ``.pt`` file
    :param expected_sha256: hash from the metadata (empty string skips the check)
    """
    if not weights_path.exists():
        raise CheckpointError(f"checkpoint weights {weights_path} are missing")
    data = weights_path.read_bytes()
    if expected_sha256 and _sha256(data) != expected_sha256:
        raise CheckpointError(
            f"checkpoint weights {weights_path} do not match the SHA-256 in their metadata "
            "(truncated or corrupted file); use another checkpoint"
        )
    try:
        state = th.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for broken archives
        raise CheckpointError(f"cannot read checkpoint weights {weights_path}: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, th.Tensor) for v in state.values()):
        raise CheckpointError(f"{weights_path} is not a state_dict of tensors")
    return state


def load_policy_network(path: str | os.PathLike[str]
                        ) -> tuple[ActorCriticPolicy, CheckpointMetadata]:
    """Rebuild the SB3 policy of a checkpoint and load its weights (strict).

    :param path: checkpoint path (any suffix)
    """
    weights_path, _ = checkpoint_paths(path)
    meta = read_metadata(path)
    state = load_state_dict_file(weights_path, meta.weights_sha256)
    check_weights_fit(state, meta, weights_path)
    policy = build_policy(meta)
    try:
        policy.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights in {weights_path} do not fit the network described by its metadata: {exc}"
        ) from exc
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(th.isfinite(tensor).all()):
            raise CheckpointError(f"checkpoint {weights_path} has non-finite values in {name}")
    policy.set_training_mode(False)
    return policy, meta


class DeployedPolicy:
    """A loaded policy: observations in, physical commands ``(v, omega)`` out.

    For "beta" policies the safe box is read from the observation's last 4 entries (see
    :mod:`safe_pe_training.action_mapping`), so every command is inside the box the
    observation carries. For "gaussian" policies the action is mapped affinely to the limits.

    :param policy: SB3 policy network
    :param meta: its metadata
    :param deterministic: use the mode instead of sampling
    """

    def __init__(
        self, policy: ActorCriticPolicy, meta: CheckpointMetadata, deterministic: bool = True
    ) -> None:
        self.policy = policy
        self.meta = meta
        self.limits = meta.command_limits
        self.deterministic = deterministic

    @property
    def role(self) -> str:
        """Role the policy was trained for."""
        return self.meta.role

    @property
    def obs_dim(self) -> int:
        """Expected observation length."""
        return int(self.meta.obs_dim)

    def unit_actions(self, obs: np.ndarray, deterministic: bool | None = None) -> np.ndarray:
        """Raw policy actions ``(N, 2)`` (unit box for beta, [-1, 1] for gaussian).

        :param obs: ``(N, obs_dim)`` observations
        :param deterministic: override of the instance default
        """
        det = self.deterministic if deterministic is None else deterministic
        with th.no_grad():
            tensor = th.as_tensor(np.asarray(obs, dtype=np.float32))
            dist = self.policy.get_distribution(tensor)
            actions = dist.get_actions(deterministic=det)
        return actions.cpu().numpy().astype(np.float64)

    def __call__(self, obs: np.ndarray, deterministic: bool | None = None) -> np.ndarray:
        """Physical commands for one ``(obs_dim,)`` or a batch ``(N, obs_dim)``.

        :param obs: observation(s); must be finite
        :param deterministic: override of the instance default
        :return: ``(2,)`` or ``(N, 2)`` commands in physical units
        """
        arr = np.asarray(obs)
        if arr.dtype not in (np.float32, np.float64):  # float32 stays: the net's own dtype
            arr = np.asarray(obs, dtype=np.float64)
        single = arr.ndim == 1
        batch = arr[None, :] if single else arr
        if batch.ndim != 2 or batch.shape[1] != self.obs_dim:
            raise ValueError(
                f"observation must have shape ({self.obs_dim},) or (N, {self.obs_dim}), "
                f"got {arr.shape}"
            )
        if not np.all(np.isfinite(batch)):
            raise ValueError("observation contains NaN or inf; refusing to compute a command")
        actions = self.unit_actions(batch, deterministic)
        if self.meta.policy_type == "beta":
            lo, hi = denormalise_box(batch[:, -BOX_OBS_DIM:], self.limits)
            cmds = beta_to_physical(actions, lo, hi)
        else:
            cmds = unit_to_physical(actions, self.limits)
        return cmds[0] if single else cmds


def load_policy(path: str | os.PathLike[str], deterministic: bool = True) -> DeployedPolicy:
    """Load a deployable policy from weights + JSON (no pickle, no SB3 zip).

    :param path: checkpoint path: ``<stem>``, ``<stem>.pt`` or ``<stem>.json``
    :param deterministic: act with the mode (True) or sample (False)
    :raises CheckpointError: missing, truncated, corrupted or inconsistent files
    """
    policy, meta = load_policy_network(path)
    return DeployedPolicy(policy, meta, deterministic=deterministic)
