"""Export a checkpoint's deployed policy as ONNX (``safe_pe_train export --onnx``).

The graph computes what :class:`safe_pe_training.checkpoints.DeployedPolicy` computes with
``deterministic=True``, from the observation to the physical command:

1. the actor: SB3's flatten features, ``mlp_extractor.policy_net`` (Linear + activation
   layers, read from the loaded torch modules) and ``action_net``, in float32 like torch;
2. the mode: the Gaussian mean, or for CBF-Beta ``y = (alpha - 1) / (alpha + beta - 2)`` with
   ``(alpha | beta) = softplus(z) + 1``, clipped to ``[eps, 1 - eps]`` (float32);
3. the mapping in float64 (:mod:`safe_pe_training.action_mapping`): Gaussian
   ``low + (clip(a, -1, 1) + 1) / 2 * span``; Beta ``lo + (hi - lo) * clip(y, 0, 1)`` with the
   safe box ``[lo, hi]`` decoded from the observation's last 4 entries (``hi >= lo``).

The graph is built node by node with ``onnx.helper`` from the weights (no tracing), and the
metadata JSON (:class:`safe_pe_training.onnx_policy.OnnxMetadata`) carries the run config, so
the robot builds the observation exactly as training did. torch is needed here, not there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from safe_pe_training.action_mapping import BOX_OBS_DIM
from safe_pe_training.artifacts import atomic_write_bytes, atomic_write_json
from safe_pe_training.onnx_policy import (
    INPUT_NAME,
    ONNX_FORMAT,
    OUTPUT_NAME,
    OnnxMetadata,
    OnnxPolicyError,
    onnx_paths,
    sha256_file,
)
from safe_pe_training.ros.policy_core import run_config_for

OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10 (robots often run an older one)


class _Graph:
    """Accumulates ONNX nodes and constant initialisers with unique names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper  # onnx: export only, not on robots

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, value: Any, dtype: Any, base: str = "c") -> str:
        name = self.name(base)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype),
                                                              name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str = "", **attrs: Any) -> str:
        out = self.name(base or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _linear(g: _Graph, x: str, layer: Any) -> str:
    weight = layer.weight.detach().cpu().numpy().astype(np.float32)
    bias = (layer.bias.detach().cpu().numpy().astype(np.float32) if layer.bias is not None
            else np.zeros(weight.shape[0], np.float32))
    return g.op("Gemm", [x, g.const(weight, np.float32, "w"), g.const(bias, np.float32, "b")],
                transB=1)


def _layer(g: _Graph, x: str, module: Any) -> str:
    from torch import nn  # torch: export only, not on robots

    if isinstance(module, nn.Linear):
        return _linear(g, x, module)
    if isinstance(module, nn.Tanh):
        return g.op("Tanh", [x])
    if isinstance(module, nn.ReLU):
        return g.op("Relu", [x])
    if isinstance(module, nn.ELU):
        return g.op("Elu", [x], alpha=float(module.alpha))
    if isinstance(module, nn.LeakyReLU):
        return g.op("LeakyRelu", [x], alpha=float(module.negative_slope))
    raise OnnxPolicyError(f"cannot export layer {module!r}: only Linear, Tanh, ReLU, ELU and "
                          "LeakyReLU policy networks are supported")


def _to_physical(g: _Graph, unit: str, low: np.ndarray, span: np.ndarray) -> str:
    """``low + 0.5 * (clip(unit, -1, 1) + 1) * span`` in float64 (``unit_to_physical``)."""
    clipped = g.op("Clip", [unit, g.const(-1.0, np.float64), g.const(1.0, np.float64)])
    shifted = g.op("Add", [clipped, g.const(1.0, np.float64)])
    scaled = g.op("Mul", [shifted, g.const(0.5 * span, np.float64)])
    return g.op("Add", [scaled, g.const(low, np.float64)])


def policy_graph(policy: Any, meta: Any) -> Any:
    """The ONNX model of a loaded checkpoint's deterministic command.

    :param policy: the SB3 policy (``checkpoints.load_policy_network``)
    :param meta: its :class:`safe_pe_training.checkpoints.CheckpointMetadata`
    :return: an ``onnx.ModelProto`` (checked)
    """
    # onnx, SB3 (torch): export only, not on robots
    import onnx
    from stable_baselines3.common.torch_layers import FlattenExtractor

    extractor = policy.features_extractor if policy.share_features_extractor \
        else policy.pi_features_extractor
    if not isinstance(extractor, FlattenExtractor):
        raise OnnxPolicyError(f"cannot export features extractor {type(extractor).__name__}: "
                              "only flat observations (FlattenExtractor) are supported")
    g = _Graph()
    x = INPUT_NAME
    for module in policy.mlp_extractor.policy_net:
        x = _layer(g, x, module)
    z = _linear(g, x, policy.action_net)
    low = np.array([meta.command_limits.v_min, -meta.command_limits.omega_max])
    span = np.array([meta.command_limits.v_max, meta.command_limits.omega_max]) - low
    if meta.policy_type == "gaussian":
        mean = g.op("Cast", [z], to=onnx.TensorProto.DOUBLE)
        command = _to_physical(g, mean, low, span)
    else:
        d = int(meta.action_dim)
        conc = g.op("Add", [g.op("Softplus", [z]), g.const(1.0, np.float32)])
        alpha, beta = g.name("alpha"), g.name("beta")
        g.nodes.append(g.helper.make_node(
            "Split", [conc, g.const([d, d], np.int64)], [alpha, beta], axis=1))
        one, two = g.const(1.0, np.float32), g.const(2.0, np.float32)
        mode = g.op("Div", [g.op("Sub", [alpha, one]),
                            g.op("Sub", [g.op("Add", [alpha, beta]), two])])
        eps = np.float32(policy.action_dist.epsilon)
        y = g.op("Clip", [mode, g.const(eps, np.float32), g.const(np.float32(1.0) - eps,
                                                                    np.float32)])
        y64 = g.op("Clip", [g.op("Cast", [y], to=onnx.TensorProto.DOUBLE),
                            g.const(0.0, np.float64), g.const(1.0, np.float64)])
        obs64 = g.op("Cast", [INPUT_NAME], to=onnx.TensorProto.DOUBLE)
        box = g.op("Slice", [obs64, g.const([-BOX_OBS_DIM], np.int64),
                             g.const([np.iinfo(np.int64).max], np.int64),
                             g.const([1], np.int64)])
        lo = _to_physical(g, g.op("Gather", [box, g.const([0, 2], np.int64)], axis=1),
                          low, span)
        hi = g.op("Max", [_to_physical(g, g.op("Gather", [box, g.const([1, 3], np.int64)],
                                                axis=1), low, span), lo])
        command = g.op("Add", [lo, g.op("Mul", [g.op("Sub", [hi, lo]), y64])])
    g.nodes.append(g.helper.make_node("Identity", [command], [OUTPUT_NAME]))
    graph = g.helper.make_graph(
        g.nodes, f"safe_pe_{meta.role}_{meta.policy_type}",
        [g.helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT,
                                         ["batch", int(meta.obs_dim)])],
        [g.helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.DOUBLE,
                                         ["batch", int(meta.action_dim)])],
        g.initializers)
    model = g.helper.make_model(graph, opset_imports=[g.helper.make_opsetid("", OPSET)],
                                producer_name="safe_pe_train export")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str],
                training_config: str = "") -> Path:
    """Write ``<out>.onnx`` and its metadata ``<out>.json`` for a checkpoint.

    :param checkpoint: the checkpoint (``.pt``/``.json``/stem)
    :param out: the ONNX file to write (``.onnx`` is added if missing)
    :param training_config: SafeSelfPlayConfig YAML if the checkpoint's run directory has
        none (see :func:`safe_pe_training.ros.policy_core.run_config_for`)
    :return: the path of the ``.onnx`` file
    :raises CheckpointError: an unusable checkpoint; OnnxPolicyError: an unexportable one
    """
    from safe_pe_training.checkpoints import checkpoint_paths, load_policy_network  # torch

    weights, _ = checkpoint_paths(checkpoint)
    policy, meta = load_policy_network(weights)
    if int(meta.action_dim) != 2:
        raise OnnxPolicyError(f"{weights} has {meta.action_dim} actions; a command is (v, omega)")
    config = run_config_for(weights, training_config)
    model = policy_graph(policy, meta)
    onnx_path, meta_path = onnx_paths(out)
    atomic_write_bytes(onnx_path, model.SerializeToString())
    info = OnnxMetadata(
        role=meta.role, policy_type=meta.policy_type, obs_dim=int(meta.obs_dim),
        limits=dict(meta.limits), onnx_sha256=sha256_file(onnx_path),
        source_checkpoint=str(weights.resolve()), source_sha256=meta.weights_sha256,
        phase=int(meta.phase), total_steps=int(meta.total_steps), run_type=meta.run_type,
        config=config.to_dict(), opset=OPSET, format=ONNX_FORMAT)
    info.validate()
    atomic_write_json(meta_path, info.to_dict())
    return onnx_path
