"""safe_pe_stack configuration: the repository's stack.yaml, overrides, clear errors."""

from __future__ import annotations

import pytest

from safe_pe_training.ros.graph_spec import config_dir
from safe_pe_training.ros.stack_config import (
    StackConfig,
    StackConfigError,
    config_from_args,
)


def test_repository_stack_yaml_is_valid_and_trains_both_roles():
    config = StackConfig.from_yaml(config_dir() / 'stack.yaml').validate()
    assert config.run_type == 'A' and config.robots == ['pursuer', 'evader']
    assert config.budget >= 2 * config.steps_per_phase > 0   # at least one phase per role
    # the live graph on sim time faster than real time; training yields the cores
    assert config.use_sim_time and config.real_time_factor > 1.0
    assert 0 < config.training_nice <= 19


def test_command_line_overrides_the_file(tmp_path):
    config, _ = config_from_args(['--budget', '1000', '--run-type', 'B', '--run-dir',
                                  str(tmp_path), '--duration', '12.5', '--robots', 'evader'])
    assert (config.budget, config.run_type, config.run_dir, config.duration) == (
        1000, 'B', str(tmp_path), 12.5)
    assert config.robots == ['evader']


@pytest.mark.parametrize('text, match', [
    ('budget: -1', 'budget'),
    ('run_type: E', 'run_type'),
    ('run_type: custom', 'training_config'),
    ('robots: [pursuer, chaser]', 'robots'),
    ('duration: .nan', 'duration'),
    ('budget: 0', 'duration'),
    ('bogus: 1', r"stack config: unknown key\(s\) \['bogus'\]; valid keys are \['robots'"),
    ('params: {simulator: x.yaml}', r"params: unknown key\(s\) \['simulator'\]; valid keys "
                                    r"are \['sim'"),
    ('params: {sim: 3}', 'params.sim must be a string'),
    ('[budget, 10]', 'stack config must be a mapping'),
    ('budget: 1.5', 'budget must be an integer, got 1.5'),
    ('duration: "60"', 'duration must be a number.*without quotes'),
    ('robots: pursuer', 'robots must be a list'),
    ('budget: [1', 'not valid YAML'),
    ('{use_sim_time: false, real_time_factor: 2.0}', 'needs use_sim_time'),
    ('{use_sim_time: true, real_time_factor: 0}', 'real_time_factor'),
    ('training_nice: 25', 'training_nice'),
    ('stop_grace: -1', 'stop_grace'),
    ('episode_gif: 1', 'episode_gif'),
    ('executor: static', 'executor'),
])
def test_invalid_stack_configs_say_what_to_fix(tmp_path, text, match):
    path = tmp_path / 'stack.yaml'
    path.write_text(text + '\n')
    with pytest.raises(StackConfigError, match=match):
        StackConfig.from_yaml(path).validate()


def test_empty_paths_and_params_mean_none_and_the_default_files(tmp_path):
    path = tmp_path / 'stack.yaml'
    path.write_text('training_config:\nrecord:\nparams:\nduration: 12\n')
    config = StackConfig.from_yaml(path).validate()
    assert (config.training_config, config.record, config.duration) == ('', '', 12.0)
    assert config.params == StackConfig().params
    path.write_text('run_dir:\n')
    with pytest.raises(StackConfigError, match='run_dir must be a directory path'):
        StackConfig.from_yaml(path).validate()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StackConfigError, match='cannot read'):
        StackConfig.from_yaml(tmp_path / 'nope.yaml')


def test_gil_switch_interval_is_validated():
    from safe_pe_training.ros.stack_config import StackConfig, StackConfigError

    assert StackConfig().validate().gil_switch_interval == 0.001
    assert StackConfig(gil_switch_interval=0.005).validate().gil_switch_interval == 0.005
    for bad in (0.0, -1.0, 2.0, float('nan'), True, '0.001'):
        with pytest.raises(StackConfigError, match='gil_switch_interval'):
            StackConfig(gil_switch_interval=bad).validate()
