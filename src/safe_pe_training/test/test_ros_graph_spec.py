"""The graph description shared by the launch files, safe_pe_stack and the graph tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from safe_pe_training.checkpoints import CheckpointError
from safe_pe_training.ros.graph_spec import (
    GraphFiles,
    deploy_graph,
    parse_robots,
    repo_root,
    sim_eval_graph,
    sim_training_graph,
    with_recorder,
)


@pytest.fixture()
def files(tmp_path):
    names = {}
    for key in ('sim', 'filter', 'training', 'metrics', 'policy'):
        path = tmp_path / f'{key}.yaml'
        path.write_text('/**:\n  ros__parameters: {}\n')
        names[key] = str(path)
    return GraphFiles(**names)


def test_repo_root_holds_config_and_launch():
    root = repo_root()
    assert (root / 'config' / 'metrics_node.yaml').is_file()
    assert (root / 'launch' / 'sim_training.launch.py').is_file()


def test_sim_training_graph_nodes_and_overrides(files, tmp_path):
    specs = sim_training_graph('pursuer, evader', run_type='A', budget=1234,
                               run_dir=str(tmp_path / 'run'), seed=7, files=files)
    keys = [s.key for s in specs]
    assert keys == ['sim', 'filter/pursuer', 'filter/evader', 'policy/pursuer',
                    'policy/evader', 'training', 'metrics']
    by_key = {s.key: s for s in specs}
    assert by_key['filter/evader'].namespace == 'evader'
    assert by_key['policy/pursuer'].overrides['role'] == 'pursuer'
    assert by_key['policy/pursuer'].overrides['follow_checkpoints'] is True
    assert by_key['training'].overrides['budget'] == 1234
    assert by_key['training'].overrides['run_dir'] == str((tmp_path / 'run').resolve())
    assert by_key['metrics'].overrides['robots'] == ['pursuer', 'evader']
    assert by_key['metrics'].overrides['report_dir'] == str((tmp_path / 'run').resolve())
    assert all(s.overrides['use_sim_time'] is False for s in specs if s.key != 'sim')
    assert by_key['sim'].overrides['publish_clock'] is False
    # training at a lower priority than every real-time node
    assert by_key['training'].nice == 10
    assert all(s.nice == 0 for s in specs if s.key != 'training')


def test_faster_than_real_time_on_sim_time(files, tmp_path):
    specs = {s.key: s for s in sim_training_graph(
        run_dir=str(tmp_path), files=files, use_sim_time=True, real_time_factor=3.0,
        training_nice=5)}
    assert specs['sim'].overrides['publish_clock'] is True
    assert specs['sim'].overrides['real_time_factor'] == 3.0
    assert all(s.overrides['use_sim_time'] is True for k, s in specs.items() if k != 'sim')
    assert specs['training'].nice == 5
    with pytest.raises(ValueError, match='needs use_sim_time'):
        sim_training_graph(run_dir=str(tmp_path), files=files, real_time_factor=2.0)
    with pytest.raises(ValueError, match='training_nice'):
        sim_training_graph(run_dir=str(tmp_path), files=files, training_nice=20)


def test_ros_args_round_trip_values_as_yaml(files, tmp_path):
    spec = [s for s in sim_training_graph('pursuer', run_dir=str(tmp_path), files=files)
            if s.key == 'metrics'][0]
    args = spec.ros_args()
    assert args[:3] == ['--ros-args', '-r', '__node:=safe_pe_metrics']
    assert '--params-file' in args and files.metrics in args
    values = dict(a.split(':=', 1) for a in args[args.index('-p') + 1::2] if ':=' in a)
    assert json.loads(values['robots']) == ['pursuer']
    cmd = spec.command(sys.executable)
    assert cmd[:3] == [sys.executable, '-m', 'safe_pe_training.ros.metrics_node']


def test_bad_arguments_fail_with_a_clear_message(files, tmp_path):
    with pytest.raises(ValueError, match='robots must be among'):
        parse_robots('pursuer,chaser')
    with pytest.raises(ValueError, match='repeat'):
        parse_robots(['pursuer', 'pursuer'])
    with pytest.raises(ValueError, match='run_type'):
        sim_training_graph(run_type='E', files=files)
    with pytest.raises(ValueError, match='custom needs training_config'):
        sim_training_graph(run_type='custom', files=files)
    with pytest.raises(FileNotFoundError, match='parameter file'):
        sim_training_graph(files=GraphFiles(sim=str(tmp_path / 'missing.yaml')))
    with pytest.raises(FileNotFoundError, match='checkpoint'):
        sim_eval_graph(pursuer_checkpoint=str(tmp_path / 'nope.pt'), files=files)
    with pytest.raises(ValueError, match='episodes'):
        sim_eval_graph(episodes=0, files=files)
    with pytest.raises(ValueError, match='valid ROS name'):
        deploy_graph(robot='1robot', role='pursuer', filter_params=files.filter,
                     arena_file=files.sim)


def test_sim_eval_and_deploy_graphs(files, tmp_path):
    specs = {s.key: s for s in sim_eval_graph(episodes=3, run_dir=str(tmp_path), files=files)}
    assert specs['metrics'].overrides['stop_after_episodes'] == 3
    assert specs['policy/evader'].overrides['follow_checkpoints'] is False
    assert 'training' not in specs
    deploy = deploy_graph(robot='tb3_0', role='evader', filter_params=files.filter,
                          arena_file=files.sim, use_policy=True, policy_params=files.policy)
    assert [s.key for s in deploy] == ['filter/tb3_0', 'policy/tb3_0']
    assert deploy[0].param_files == [files.filter and deploy[0].param_files[0],
                                     deploy[0].param_files[1]]
    assert deploy[1].overrides['role'] == 'evader' and deploy[1].namespace == 'tb3_0'
    assert deploy[1].overrides['backend'] == 'torch'
    exported = tmp_path / 'evader.onnx'
    exported.write_bytes(b'')
    onnx = deploy_graph(robot='tb3_0', role='evader', filter_params=files.filter,
                        arena_file=files.sim, use_policy=True, policy_params=files.policy,
                        checkpoint=str(exported))
    assert onnx[1].overrides['backend'] == 'onnx'   # an ONNX export runs on onnxruntime


def test_sim_eval_takes_the_name_pretrained_for_the_shipped_pair(files, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv('SAFE_PE_MODELS', str(tmp_path))
    with pytest.raises(CheckpointError, match='no shipped pursuer model'):
        sim_eval_graph(pursuer_checkpoint='pretrained', files=files)
    for role in ('pursuer', 'evader'):
        (tmp_path / f'{role}.pt').write_bytes(b'')
    specs = {s.key: s for s in sim_eval_graph(pursuer_checkpoint='pretrained',
                                              evader_checkpoint='pretrained', files=files)}
    for role in ('pursuer', 'evader'):
        assert specs[f'policy/{role}'].overrides['checkpoint'] == str(
            (tmp_path / f'{role}.pt').resolve())


def test_recorder_is_added_only_when_asked(files, tmp_path):
    specs = sim_eval_graph(episodes=1, run_dir=str(tmp_path), files=files)
    assert with_recorder(specs, False) == specs
    recorded = with_recorder(specs, True, folder=str(tmp_path))
    assert recorded[:-1] == specs and recorded[-1].key == 'recorder'
    assert Path(recorded[-1].overrides['path']).parent == tmp_path.resolve()
    assert Path(recorded[-1].overrides['path']).name.startswith('bag_')
    named = with_recorder(specs, False, record_path=str(tmp_path / 'b'))  # a path turns it on
    assert named[-1].overrides['path'] == str((tmp_path / 'b').resolve())
    assert named[-1].command('python')[:3] == ['python', '-m',
                                               'safe_pe_training.ros.recorder_node']


def test_filters_are_told_the_simulated_actuators(files, tmp_path):
    from safe_pe_sim.config import load_profile

    # ideal profile: the filters keep their defaults (no actuator parameters)
    specs = {s.key: s for s in sim_training_graph(run_dir=str(tmp_path), files=files)}
    assert not any(k.startswith(('actuator.', 'opponent_actuator.'))
                   for k in specs['filter/pursuer'].overrides)
    # a ramped profile, and a sim-node override of one robot's latency (-1: the profile's)
    Path(files.sim).write_text('/**:\n  ros__parameters:\n    profile: diff_drive_nav2\n'
                               '    actuator.evader.latency_steps: 2\n'
                               '    actuator.pursuer.linear_decel: -1.0\n')
    nav2 = load_profile('diff_drive_nav2')
    specs = {s.key: s for s in sim_training_graph(run_dir=str(tmp_path), files=files)}
    pursuer, evader = specs['filter/pursuer'].overrides, specs['filter/evader'].overrides
    assert pursuer['actuator.linear_decel'] == nav2.pursuer.actuator.linear_decel > 0
    assert pursuer['actuator.latency_steps'] == nav2.pursuer.actuator.latency_steps
    assert pursuer['opponent_actuator.latency_steps'] == 2
    assert evader['actuator.latency_steps'] == 2
    assert evader['opponent_actuator.angular_accel'] == nav2.pursuer.actuator.angular_accel
