"""ONNX export: the exported policy commands what the torch checkpoint commands, without torch.

The observations are recorded from the training env itself (the learner's vec env stepping
with random actions), the checkpoints are the trainer's own metadata with perturbed weights
(so the actions span the command range instead of the near-constant output of a fresh net).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch as th

pytest.importorskip('onnxruntime', reason='onnxruntime is not installed: pip install -r '
                    'requirements.txt')
pytest.importorskip('onnx', reason='onnx is not installed: pip install -r requirements.txt')

from safe_pe_training.checkpoints import (  # noqa: E402
    CheckpointMetadata,
    build_policy,
    load_policy,
    save_checkpoint,
)
from safe_pe_training.cli import main  # noqa: E402
from safe_pe_training.factories import make_env_config  # noqa: E402
from safe_pe_training.onnx_policy import OnnxPolicy, OnnxPolicyError  # noqa: E402
from safe_pe_training.opponents import RandomOpponent  # noqa: E402
from safe_pe_training.ros.policy_core import (  # noqa: E402
    CheckpointDriver,
    OnnxDriver,
    PolicyRefused,
)
from safe_pe_training.safe_vec_env import make_learner_env  # noqa: E402
from safe_pe_training.self_play import SelfPlayTrainer  # noqa: E402
from training_fixtures import tiny_config  # noqa: E402

th.set_num_threads(1)
N_OBS = 1000
NUM_ENVS = 8


def _checkpoint(tmp_path, run: str, role: str, seed: int = 0):
    """A checkpoint of ``run``/``role`` with perturbed weights, config.yaml in its run dir."""
    config = tiny_config(run, seed=seed)
    run_dir = tmp_path / f'run_{run}_{role}'
    trainer = SelfPlayTrainer(config, run_dir, progress_bar=False)
    meta = trainer.checkpoint_metadata(role, 0)
    policy = build_policy(meta)
    th.manual_seed(seed)
    with th.no_grad():
        for p in policy.parameters():
            p.add_(th.randn_like(p) * 0.5)
    path = save_checkpoint(policy, run_dir / 'checkpoints' / f'{role}_phase0000', meta)
    (run_dir / 'config.yaml').write_text(config.to_yaml())
    return path, config


def _recorded(config, role: str, steps: int, seed: int = 3):
    """``steps * NUM_ENVS`` learner observations and the game states they were built from."""
    env_config = make_env_config(config)
    env = make_learner_env(config, role, RandomOpponent(seed), env_config, NUM_ENVS, seed)
    rng = np.random.default_rng(seed)
    low = 0.0 if config.use_beta_policy else -1.0
    obs = env.reset()
    observations, states = [], []
    for _ in range(steps):
        observations.append(np.array(obs, dtype=np.float32))
        core = env.core
        states.append({'poses': core.poses[0].copy(), 'velocities': core.velocities[0].copy(),
                       'obstacles': core.obstacles[0][core.obstacle_mask[0]].copy(),
                       'step': int(core.steps[0])})
        obs, *_ = env.step(rng.uniform(low, 1.0, size=(NUM_ENVS, 2)))
    return np.concatenate(observations), states


@pytest.mark.parametrize('run,role', [('A', 'pursuer'), ('B', 'evader')])
def test_onnx_commands_equal_torch_on_recorded_observations(tmp_path, run, role, capsys):
    checkpoint, config = _checkpoint(tmp_path, run, role)
    out = tmp_path / 'robot' / f'{role}.onnx'
    assert main(['export', '--onnx', str(checkpoint), '--out', str(out)]) == 0
    assert 'exported' in capsys.readouterr().out
    meta = json.loads(out.with_suffix('.json').read_text())
    assert meta['role'] == role and meta['config']['run_type'] == config.run_type

    obs, states = _recorded(config, role, N_OBS // NUM_ENVS)
    assert obs.shape[0] == N_OBS
    torch_cmds = load_policy(checkpoint)(obs)
    onnx_cmds = OnnxPolicy(out)(obs)
    assert onnx_cmds.shape == (N_OBS, 2) and onnx_cmds.dtype == np.float64
    assert np.abs(onnx_cmds - torch_cmds).max() <= 1e-5
    # the commands are not trivially constant: the comparison covers the command range
    assert np.ptp(torch_cmds[:, 0]) > 0.05 and np.ptp(torch_cmds[:, 1]) > 0.1

    # The policy node's drivers: same observation (ONNX: built from the exported config),
    # same command, on game states of the same run.
    torch_driver, onnx_driver = CheckpointDriver(checkpoint, role), OnnxDriver(out, role)
    for state in states[::10]:
        assert onnx_driver.observation(state) == pytest.approx(
            torch_driver.observation(state), abs=1e-6)
        assert onnx_driver.command(state) == pytest.approx(torch_driver.command(state),
                                                           abs=1e-5)


def test_wrong_role_size_or_file_is_refused_with_a_reason(tmp_path):
    checkpoint, config = _checkpoint(tmp_path, 'A', 'pursuer')
    out = tmp_path / 'pursuer.onnx'
    assert main(['export', '--onnx', str(checkpoint), '--out', str(out)]) == 0
    with pytest.raises(PolicyRefused, match='is a pursuer policy, this node drives the evader'):
        OnnxDriver(out, 'evader')
    with pytest.raises(PolicyRefused, match='is a pursuer policy, this node drives the evader'):
        CheckpointDriver(checkpoint, 'evader')
    with pytest.raises(PolicyRefused, match='not an ONNX policy'):
        OnnxDriver(checkpoint, 'pursuer')
    with pytest.raises(PolicyRefused, match='set backend:=onnx'):
        CheckpointDriver(out, 'pursuer')

    # A policy of another observation size (another simulator version or config).
    meta = CheckpointMetadata(role='pursuer', policy_type='beta', obs_dim=12, action_dim=2,
                              limits={'v_min': 0.0, 'v_max': 0.5, 'omega_max': 2.0},
                              net_arch={'pi': [8], 'vf': [8]}, run_type='A')
    small = save_checkpoint(build_policy(meta), tmp_path / 'run_A_pursuer' / 'checkpoints'
                            / 'small', meta)
    small_onnx = tmp_path / 'small.onnx'
    assert main(['export', '--onnx', str(small), '--out', str(small_onnx)]) == 0
    with pytest.raises(PolicyRefused, match='expects observations of 12 entries'):
        OnnxDriver(small_onnx, 'pursuer')
    with pytest.raises(PolicyRefused, match='expects observations of 12 entries'):
        CheckpointDriver(small, 'pursuer')

    # A replaced model file no longer matches its metadata.
    small_onnx.write_bytes(out.read_bytes())
    with pytest.raises(OnnxPolicyError, match='SHA-256'):
        OnnxPolicy(small_onnx)
    out.with_suffix('.json').unlink()
    with pytest.raises(OnnxPolicyError, match='metadata .* is missing'):
        OnnxPolicy(out)


def test_export_errors_exit_nonzero_with_a_reason(tmp_path, capsys):
    assert main(['export', '--onnx', str(tmp_path / 'none.pt'), '--out',
                 str(tmp_path / 'x.onnx')]) == 1
    assert 'missing' in capsys.readouterr().err
    assert not (tmp_path / 'x.onnx').exists()


def test_onnx_driver_and_policy_node_import_no_torch(tmp_path):
    """What a robot runs (filter, game-state and policy nodes, the ONNX driver) works in a
    process where the training-only packages cannot be imported, and never loads torch."""
    checkpoint, _ = _checkpoint(tmp_path, 'A', 'evader')
    out = tmp_path / 'evader.onnx'
    assert main(['export', '--onnx', str(checkpoint), '--out', str(out)]) == 0
    script = textwrap.dedent(f'''
        import importlib.abc
        import sys

        TRAINING_ONLY = ('torch', 'stable_baselines3', 'gymnasium', 'pettingzoo', 'onnx',
                         'tensorboard', 'matplotlib')

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in TRAINING_ONLY:
                    raise ImportError(f'{{name}} is not installed on the robot')
                return None

        sys.meta_path.insert(0, Block())
        import numpy as np
        try:  # the node modules too, where ROS is installed here
            import safe_pe_cbf.ros.filter_node
            import safe_pe_sim.ros.game_state_node
            import safe_pe_training.ros.policy_node
        except ImportError as exc:
            if 'rclpy' not in str(exc) and 'msgs' not in str(exc):
                raise
        from safe_pe_training.ros.policy_core import OnnxDriver
        driver = OnnxDriver({str(out)!r}, 'evader')
        state = {{'poses': [[-1.0, 0.0, 0.0], [1.0, 0.5, 0.0]],
                  'velocities': [[0.0, 0.0], [0.0, 0.0]], 'obstacles': np.zeros((0, 3)),
                  'step': 3}}
        v, omega = driver.command(state)
        heavy = sorted(m for m in TRAINING_ONLY if m in sys.modules)
        print('command', v, omega, 'heavy', heavy)
        ''')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'heavy []' in result.stdout, result.stdout


def test_policy_node_onnx_backend_keeps_its_policy_on_a_wrong_file(tmp_path, monkeypatch):
    rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed')
    pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built')
    from rclpy.parameter import Parameter

    from safe_pe_cbf.ros_common.testing import isolated_context
    from safe_pe_cbf.ros_common.params import ParameterError
    from safe_pe_training.ros.policy_node import PolicyNode

    pursuer, _ = _checkpoint(tmp_path, 'A', 'pursuer')
    evader, _ = _checkpoint(tmp_path, 'A', 'evader')
    good, wrong = tmp_path / 'pursuer.onnx', tmp_path / 'evader.onnx'
    assert main(['export', '--onnx', str(pursuer), '--out', str(good)]) == 0
    assert main(['export', '--onnx', str(evader), '--out', str(wrong)]) == 0
    for context in isolated_context(tmp_path, monkeypatch, salt=31):
        with pytest.raises(ParameterError, match='deterministic:=true'):
            PolicyNode(context=context, namespace='pursuer', parameter_overrides=[
                Parameter('backend', value='onnx'), Parameter('deterministic', value=False)])
        node = PolicyNode(context=context, namespace='pursuer', parameter_overrides=[
            Parameter('backend', value='onnx'), Parameter('checkpoint', value=str(good)),
            Parameter('follow_checkpoints', value=False)])
        try:
            assert 'onnx' in node.driver_description and 'pursuer.onnx' in \
                node.driver_description
            assert not node.load(str(wrong))       # an evader policy: refused
            assert not node.load(str(pursuer))     # a torch checkpoint: refused
            assert 'pursuer.onnx' in node.driver_description
        finally:
            node.destroy_node()
        assert rclpy.ok(context=context)
