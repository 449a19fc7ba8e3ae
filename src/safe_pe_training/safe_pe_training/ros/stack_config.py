"""Configuration of ``safe_pe_stack`` (``config/stack.yaml`` + command-line overrides).

ROS-free: a typed dataclass, loaded from YAML, validated with errors that say what to fix.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from safe_pe_cbf.config import load_yaml
from safe_pe_cbf.dataclass_io import check_types, from_mapping
from safe_pe_training.ros.graph_spec import RUN_TYPES, GraphFiles, config_dir, parse_robots


EXECUTORS = ('events', 'multi')
_PATHS = ('run_dir', 'training_config', 'record')   # null in the YAML: ""


class StackConfigError(ValueError):
    """The stack configuration file or an option is invalid."""


@dataclass
class StackConfig:
    """What ``safe_pe_stack`` runs.

    :param robots: robots (roles) of the live graph.
    :param run_type: training run A/B/C/D or custom.
    :param budget: training environment steps (0: no training, live graph only).
    :param steps_per_phase: learner env-steps per self-play phase (0: the training node's
        parameter file / training config).
    :param num_envs: parallel games of the learner (0: the training node's parameter file /
        training config); ``steps_per_phase / num_envs`` steps per game and phase should
        exceed the game's ``max_steps`` so that episodes finish within a phase.
    :param run_dir: run directory (checkpoints, metrics, plots, safety report).
    :param training_config: SafeSelfPlayConfig YAML (``""``: the run type's preset).
    :param duration: seconds the live graph plays, counted from the first closed loop (the
        simulator stepped, every robot's filter reported; 0: until training has finished +
        ``linger``).
    :param linger: seconds the live graph keeps playing after training finished.
    :param seed: seed of training and simulator.
    :param use_sim_time: nodes follow the simulator's ``/clock``.
    :param real_time_factor: simulated seconds per wall-clock second of the live graph
        (``!= 1`` needs ``use_sim_time``).
    :param training_nice: niceness increment of the training process (0..19; higher = lower
        scheduling priority than the live graph).
    :param stop_grace: [s] a child still running this long after the stop signal gets
        SIGTERM, and SIGKILL 5 s later.
    :param episode_gif: write an episode GIF of the trained pair and of the shipped pair.
    :param executor: rclpy executor of the live-graph process: ``events`` (rclpy's C++
        ``EventsExecutor``, one thread) or ``multi`` (``MultiThreadedExecutor``, 4 threads).
    :param gil_switch_interval: [s] ``sys.setswitchinterval`` in the live-graph process (its
        nodes share one interpreter on four executor threads; Python's default is 0.005).
    :param league_episodes: episodes per pairing of the end-of-run league (what was trained
        and the shipped pair vs the scripted references; 0: none).
    :param record: bag directory to record the live graph's topics to (MCAP, rosbag2
        layout; ``""``: no recording).
    :param params: node parameter files (relative to ``config/`` or absolute).
    """

    robots: list[str] = field(default_factory=lambda: ['pursuer', 'evader'])
    run_type: str = 'A'
    budget: int = 20000
    steps_per_phase: int = 0
    num_envs: int = 0
    run_dir: str = 'runs/stack'
    training_config: str = ''
    duration: float = 0.0
    linger: float = 5.0
    seed: int = 0
    use_sim_time: bool = False
    real_time_factor: float = 1.0
    training_nice: int = 10
    stop_grace: float = 20.0
    episode_gif: bool = True
    executor: str = 'events'
    gil_switch_interval: float = 0.001
    league_episodes: int = 20
    record: str = ''
    params: GraphFiles = field(default_factory=GraphFiles)

    def validate(self) -> StackConfig:
        """Check every field's type (as ``from_dict`` does) and range; returns self.

        :raises StackConfigError: naming the field and the fix.
        """
        try:
            self.robots = parse_robots(self.robots)
        except ValueError as exc:
            raise StackConfigError(f'robots: {exc}') from exc
        if self.record is None:
            self.record = ''
        check_types(self, StackConfigError)  # also a config built or overridden in Python
        if self.run_type not in RUN_TYPES:
            raise StackConfigError(f'run_type must be one of {RUN_TYPES}, got {self.run_type!r}')
        if self.run_type == 'custom' and not self.training_config:
            raise StackConfigError('run_type custom needs training_config (a YAML file)')
        for name in ('budget', 'seed', 'steps_per_phase', 'num_envs', 'league_episodes',
                     'training_nice'):
            if getattr(self, name) < 0:
                raise StackConfigError(f'{name} must be an integer >= 0, got '
                                       f'{getattr(self, name)!r}')
        if self.training_nice > 19:
            raise StackConfigError(f'training_nice must be in 0..19 (10: training yields the '
                                   f'cores to the live graph), got {self.training_nice}')
        for name in ('duration', 'linger', 'stop_grace'):
            if getattr(self, name) < 0:
                raise StackConfigError(f'{name} must be a number of seconds >= 0, got '
                                       f'{getattr(self, name)!r}')
            setattr(self, name, float(getattr(self, name)))
        if self.executor not in EXECUTORS:
            raise StackConfigError(f'executor must be one of {EXECUTORS}, got '
                                   f'{self.executor!r}')
        if not 1e-6 <= self.gil_switch_interval <= 1.0:
            raise StackConfigError(f'gil_switch_interval must be seconds in [1e-6, 1] '
                                   f'(Python default 0.005), got {self.gil_switch_interval!r}')
        self.gil_switch_interval = float(self.gil_switch_interval)
        if self.budget == 0 and self.duration == 0:
            raise StackConfigError('with budget 0 (no training) give a duration (seconds) '
                                   'for the live graph to run')
        value = self.real_time_factor
        if not 0.01 <= value <= 100.0:
            raise StackConfigError(f'real_time_factor must be a number in [0.01, 100] '
                                   f'(simulated seconds per wall-clock second), got {value!r}')
        self.real_time_factor = float(value)
        if self.real_time_factor != 1.0 and not self.use_sim_time:
            raise StackConfigError(f'real_time_factor {value:g} needs use_sim_time: true (the '
                                   f'policy nodes follow the simulator\'s /clock)')
        if not self.run_dir:
            raise StackConfigError('run_dir must be a directory path')
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackConfig:
        """Build (not yet validated) from a parsed YAML mapping with the configs' one engine
        (:func:`safe_pe_cbf.dataclass_io.from_mapping`): unknown keys and wrong types are
        errors naming the key. An empty YAML value (null) of a path means ``""``, of
        ``params`` the default files.

        :param data: the mapping.
        :raises StackConfigError: naming the key and what it must be.
        """
        if isinstance(data, Mapping):
            data = {key: ('' if value is None and key in _PATHS else value)
                    for key, value in data.items() if not (key == 'params' and value is None)}
        return from_mapping(cls, data, StackConfigError, label='stack config')

    @classmethod
    def from_yaml(cls, path: str | Path) -> StackConfig:
        """Load (not yet validated) from a YAML file.

        :param path: the file.
        :raises StackConfigError: if the file is missing or not valid YAML.
        """
        try:
            text = Path(path).read_text(encoding='utf-8')
        except OSError as exc:
            raise StackConfigError(f'cannot read the stack config {path}: {exc}') from exc
        try:
            data = load_yaml(text) or {}
        except yaml.YAMLError as exc:
            raise StackConfigError(f'{path} is not valid YAML: {exc}') from exc
        return cls.from_dict(data)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``safe_pe_stack`` (each overrides the stack YAML)."""
    parser = argparse.ArgumentParser(
        prog='safe_pe_stack',
        description='Safe self-play training with the live ROS graph in one process: '
                    'simulator, a CBF safety filter per robot, policy nodes playing the '
                    'latest checkpoints through the filters, training and metrics nodes. '
                    'Ends with the safety-target report. Ctrl-C stops cleanly.')
    parser.add_argument('--config', default=str(config_dir() / 'stack.yaml'),
                        help='stack YAML (default: config/stack.yaml)')
    parser.add_argument('--budget', type=int, help='training environment steps '
                        '(0: no training, live graph only; needs --duration)')
    parser.add_argument('--steps-per-phase', type=int,
                        help='learner env-steps per self-play phase')
    parser.add_argument('--num-envs', type=int, help='parallel games of the learner')
    parser.add_argument('--run-type', choices=RUN_TYPES, help='training run A/B/C/D/custom')
    parser.add_argument('--run-dir', help='run directory (checkpoints, plots, report)')
    parser.add_argument('--duration', type=float,
                        help='seconds the live graph plays, from the first closed loop '
                        '(0: until training finished)')
    parser.add_argument('--training-config', help='SafeSelfPlayConfig YAML for run type '
                        'custom (or to override the preset)')
    parser.add_argument('--robots', help='robots of the live graph, e.g. pursuer,evader')
    parser.add_argument('--seed', type=int, help='seed of training and simulator')
    parser.add_argument('--linger', type=float,
                        help='seconds the live graph keeps playing after training')
    parser.add_argument('--record', metavar='PATH',
                        help='record the live graph\'s topics to this bag directory (MCAP, '
                        'rosbag2 layout: ros2 bag info/play, Foxglove)')
    parser.add_argument('--real-time-factor', type=float,
                        help='simulated seconds per wall-clock second of the live graph '
                        '(!= 1 needs use_sim_time: true in the stack YAML)')
    parser.add_argument('--quiet', action='store_true', help='no progress lines')
    parser.add_argument('--part', choices=('runner', 'graph'), default='runner',
                        help=argparse.SUPPRESS)   # the runner starts the graph child with it
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> tuple[StackConfig, argparse.Namespace]:
    """Parse options, load the stack YAML, apply the overrides, validate.

    :param argv: options (default: ``sys.argv[1:]``).
    :raises StackConfigError: for an invalid file or option.
    """
    args = build_parser().parse_args(argv)
    config = StackConfig.from_yaml(args.config)
    overrides = {'budget': args.budget, 'run_type': args.run_type, 'run_dir': args.run_dir,
                 'duration': args.duration, 'training_config': args.training_config,
                 'seed': args.seed, 'linger': args.linger,
                 'steps_per_phase': args.steps_per_phase, 'num_envs': args.num_envs,
                 'record': args.record, 'real_time_factor': args.real_time_factor}
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    if args.robots is not None:
        config.robots = args.robots
    return config.validate(), args
