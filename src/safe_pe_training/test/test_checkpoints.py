"""Checkpoints: weights + JSON round trip, no pickle, corruption detection, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy

from safe_pe_training.action_mapping import CommandLimits, normalise_box
from safe_pe_training import checkpoints
from safe_pe_training.artifacts import atomic_write_bytes, atomic_write_csv, read_json
from safe_pe_training.checkpoints import (
    CheckpointError,
    CheckpointMetadata,
    build_policy,
    load_policy,
    read_metadata,
    save_checkpoint,
)

LIMITS = CommandLimits(v_min=0.0, v_max=1.0, omega_max=2.84)


def _meta(policy_type: str, obs_dim: int = 10) -> CheckpointMetadata:
    return CheckpointMetadata(
        role="pursuer",
        policy_type=policy_type,
        obs_dim=obs_dim,
        action_dim=2,
        limits=LIMITS.to_dict(),
        net_arch={"pi": [16, 16], "vf": [16]},
        activation="tanh",
        phase=3,
        total_steps=1234,
        run_type="A",
        config_hash="abc",
    )


def _perturbed_policy(meta: CheckpointMetadata) -> ActorCriticPolicy:
    policy = build_policy(meta)
    with th.no_grad():
        for p in policy.parameters():
            p.add_(th.randn_like(p) * 0.3)
    return policy


def _obs(n: int, obs_dim: int, rng: np.random.Generator) -> np.ndarray:
    obs = rng.uniform(-1, 1, size=(n, obs_dim)).astype(np.float32)
    a = rng.uniform(LIMITS.low, LIMITS.high, size=(n, 2))
    b = rng.uniform(LIMITS.low, LIMITS.high, size=(n, 2))
    obs[:, -4:] = normalise_box(np.minimum(a, b), np.maximum(a, b), LIMITS)
    return obs


@pytest.mark.parametrize("policy_type", ["beta", "gaussian"])
def test_round_trip_identical_actions(tmp_path, policy_type):
    meta = _meta(policy_type)
    policy = _perturbed_policy(meta)
    save_checkpoint(policy, tmp_path / "ckpt", meta)
    loaded = load_policy(tmp_path / "ckpt.pt")
    obs = _obs(64, 10, np.random.default_rng(0))
    with th.no_grad():
        ref = policy.get_distribution(th.as_tensor(obs)).mode().numpy()
    assert np.allclose(loaded.unit_actions(obs), ref, atol=0)
    cmds = loaded(obs)
    assert cmds.shape == (64, 2)
    assert np.all(cmds >= LIMITS.low - 1e-12) and np.all(cmds <= LIMITS.high + 1e-12)
    assert loaded(obs[0]).shape == (2,)
    assert loaded.meta.phase == 3 and loaded.meta.total_steps == 1234


def test_beta_commands_inside_observed_box(tmp_path):
    meta = _meta("beta")
    save_checkpoint(_perturbed_policy(meta), tmp_path / "b", meta)
    policy = load_policy(tmp_path / "b", deterministic=False)
    obs = _obs(2000, 10, np.random.default_rng(1))
    from safe_pe_training.action_mapping import denormalise_box

    lo, hi = denormalise_box(obs[:, -4:], LIMITS)
    cmds = policy(obs)
    assert np.all(cmds >= lo - 1e-12) and np.all(cmds <= hi + 1e-12)


def test_weights_load_with_weights_only_and_contain_tensors_only(tmp_path):
    meta = _meta("beta")
    save_checkpoint(build_policy(meta), tmp_path / "w", meta)
    state = th.load(tmp_path / "w.pt", weights_only=True)
    assert all(isinstance(v, th.Tensor) for v in state.values())
    data = json.loads((tmp_path / "w.json").read_text())
    assert data["policy_type"] == "beta" and len(data["weights_sha256"]) == 64


def test_truncated_weights_give_clear_error(tmp_path):
    meta = _meta("gaussian")
    save_checkpoint(build_policy(meta), tmp_path / "t", meta)
    raw = (tmp_path / "t.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_policy(tmp_path / "t")


def test_corrupted_weights_without_hash_give_clear_error(tmp_path):
    meta = _meta("gaussian")
    save_checkpoint(build_policy(meta), tmp_path / "c", meta)
    data = read_json(tmp_path / "c.json")
    data["weights_sha256"] = ""
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_policy(tmp_path / "c")


def test_pickled_object_is_refused(tmp_path):
    meta = _meta("gaussian")
    save_checkpoint(build_policy(meta), tmp_path / "p", meta)
    th.save({"x": th.zeros(1), "evil": object()}, tmp_path / "p.pt")
    data = read_json(tmp_path / "p.json")
    data["weights_sha256"] = ""
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError):
        load_policy(tmp_path / "p")


def test_missing_or_broken_metadata(tmp_path):
    meta = _meta("beta")
    save_checkpoint(build_policy(meta), tmp_path / "m", meta)
    (tmp_path / "m.json").write_text('{"role": "pursuer", "policy_')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_metadata(tmp_path / "m")
    (tmp_path / "m.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        load_policy(tmp_path / "m.pt")


def test_metadata_validation():
    bad = _meta("beta").to_dict()
    bad["role"] = "referee"
    with pytest.raises(CheckpointError, match="role"):
        CheckpointMetadata.from_dict(bad)
    bad = _meta("beta").to_dict()
    bad["surprise"] = 1
    with pytest.raises(CheckpointError, match="unknown"):
        CheckpointMetadata.from_dict(bad)


@pytest.fixture()
def no_network(monkeypatch):
    """Fail the test if the loader builds a network (metadata must be refused before)."""
    def refuse(meta):
        raise AssertionError(f"a network was built from refused metadata {meta}")
    monkeypatch.setattr(checkpoints, "build_policy", refuse)


def test_architecture_mismatch(tmp_path, no_network):
    meta = _meta("beta")
    save_checkpoint(build_policy(meta), tmp_path / "a", meta)
    data = read_json(tmp_path / "a.json")
    data["net_arch"] = {"pi": [8], "vf": [8]}
    (tmp_path / "a.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="do not fit") as info:
        load_policy(tmp_path / "a")
    assert "mlp_extractor.policy_net.0.weight: (16, 10) instead of (8, 10)" in str(info.value)


@pytest.mark.parametrize("field,value,needle", [
    ("net_arch", "abc", 'net_arch must be {"pi": [...], "vf": [...]}'),
    ("net_arch", [-5], 'net_arch must be {"pi": [...], "vf": [...]}'),
    ("net_arch", {"pi": [-5], "vf": [16]}, "net_arch['pi'] must be a list"),
    ("net_arch", {"pi": [16, 16], "vf": "16"}, "net_arch['vf'] must be a list"),
    ("net_arch", {"pi": [16.5], "vf": [16]}, "layer widths in [1, 4096]"),
    ("net_arch", {"pi": [True], "vf": [16]}, "layer widths"),
    ("net_arch", {"pi": [100000, 100000], "vf": [16]}, "layer widths in [1, 4096]"),
    ("net_arch", {"pi": [4096] * 4, "vf": [4096] * 4}, "parameters, more than 20000000"),
    ("net_arch", {"pi": [16] * 17, "vf": [16]}, "at most 16 layer widths"),
    ("net_arch", {"pi": [16], "vf": [16], "qf": [1]}, "net_arch must be"),
    ("beta_epsilon", float("nan"), "beta_epsilon must be a finite number in (0, 0.5)"),
    ("beta_epsilon", float("inf"), "beta_epsilon"),
    ("beta_epsilon", 0.7, "beta_epsilon"),
    ("beta_epsilon", "1e-5", "beta_epsilon"),
    ("obs_dim", "10", "obs_dim must be an integer"),
    ("obs_dim", 10.0, "obs_dim must be an integer"),
    ("obs_dim", 10 ** 9, "obs_dim must be an integer in [5, 4096]"),
    ("obs_dim", True, "obs_dim"),
    ("action_dim", 3, "action_dim must be 2"),
    ("limits", {"v_min": "0", "v_max": 1.0, "omega_max": 2.84}, "limits must be"),
    ("limits", {"v_min": 0.0, "v_max": float("nan"), "omega_max": 2.84}, "limits must be"),
    ("limits", [0.0, 1.0, 2.84], "limits must be"),
    ("limits", {"v_min": 0.0, "v_max": -1.0, "omega_max": 2.84}, "bad command limits"),
    ("role", ["pursuer"], "role must be a string"),
    ("activation", "sigmoid", "unknown activation"),
    ("phase", -1, "phase must be an integer >= 0"),
    ("total_steps", 1.5, "total_steps"),
    ("created_unix", float("inf"), "created_unix"),
    ("weights_sha256", "not-a-hash", "64 hex digits"),
    ("obs_layout", [], "obs_layout must be an object"),
    ("extra", "x", "extra must be an object"),
    ("format", 1, "format must be a string"),
])
def test_hostile_metadata_is_refused_before_anything_is_built(tmp_path, no_network, field,
                                                              value, needle):
    meta = _meta("beta")
    save_checkpoint(build_policy(meta), tmp_path / "h", meta)
    data = read_json(tmp_path / "h.json")
    data[field] = value
    (tmp_path / "h.json").write_text(json.dumps(data))  # NaN/inf as JSON's NaN/Infinity
    with pytest.raises(CheckpointError) as info:
        load_policy(tmp_path / "h")
    assert needle in str(info.value)
    with pytest.raises(CheckpointError):
        CheckpointMetadata.from_dict(data)


def test_nan_observation_refused(tmp_path):
    meta = _meta("gaussian")
    save_checkpoint(build_policy(meta), tmp_path / "n", meta)
    policy = load_policy(tmp_path / "n")
    obs = np.zeros(10)
    obs[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        policy(obs)
    with pytest.raises(ValueError, match="shape"):
        policy(np.zeros(7))


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old")

    def boom(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_csv_writer(tmp_path):
    atomic_write_csv(tmp_path / "m.csv", [{"a": 1, "b": np.float64(2.5)}, {"a": 2, "c": "x"}])
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0] == "a,b,c" and lines[1] == "1,2.5," and lines[2] == "2,,x"
