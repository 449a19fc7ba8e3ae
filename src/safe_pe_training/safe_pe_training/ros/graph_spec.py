"""The live graphs as plain data: which nodes, with which parameter files and overrides.

One description serves three consumers, so they cannot drift apart:

- the launch files (``launch/*.launch.py``) turn each :class:`NodeSpec` into a
  ``launch_ros.actions.Node``;
- ``safe_pe_stack`` instantiates the same node classes in one process, with the same files;
- the multi-process graph tests start each node with ``python -m <module> --ros-args ...``.

No rclpy and no ``launch`` import here.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml
from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_sim.config import load_profile
from safe_pe_sim.roles import ROLES

RUN_TYPES = ('A', 'B', 'C', 'D', 'custom')


def repo_root() -> Path:
    """The repository root (the folder with ``config/`` and ``launch/``).

    ``$SAFE_PE_ROOT`` if set; else the checkout this module lives in (symlink installs
    resolve to ``<root>/src/safe_pe_training/...``); else the working directory if it has
    ``config/stack.yaml`` (copied installs).
    """
    env = os.environ.get('SAFE_PE_ROOT')
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    if len(here.parents) > 4 and (here.parents[4] / 'config').is_dir():
        return here.parents[4]
    cwd = Path.cwd()
    if (cwd / 'config' / 'stack.yaml').is_file():
        return cwd
    return here.parents[min(4, len(here.parents) - 1)]


def config_dir() -> Path:
    """The directory of the node parameter files (``<root>/config``)."""
    return repo_root() / 'config'


def config_path(name: str | os.PathLike[str]) -> Path:
    """Resolve a parameter file: absolute paths as given, others relative to ``config/``.

    :param name: file name or path.
    :raises FileNotFoundError: if the file does not exist (with the paths tried).
    """
    path = Path(name).expanduser()
    if not path.is_absolute():
        candidate = config_dir() / path
        path = candidate if candidate.exists() or not path.exists() else path.resolve()
    if not path.is_file():
        raise FileNotFoundError(f'parameter file {str(name)!r} not found (looked for {path}); '
                                f'pass an existing YAML file')
    return path


@dataclass(frozen=True)
class NodeClass:
    """Where a node lives: package, console script, module and class.

    :param package: ROS package (ament index name).
    :param executable: console script installed by the package.
    :param module: Python module with ``main(args=None)`` (runnable with ``python -m``).
    :param class_name: the ``rclpy.node.Node`` subclass in ``module``; its constructor must
        accept ``**kwargs`` for ``rclpy.node.Node`` (``cli_args``, ``context``).
    """

    package: str
    executable: str
    module: str
    class_name: str


SIM = NodeClass('safe_pe_sim', 'safe_pe_sim_node', 'safe_pe_sim.ros.sim_node', 'SimulatorNode')
FILTER = NodeClass('safe_pe_cbf', 'safe_pe_filter_node', 'safe_pe_cbf.ros.filter_node',
                   'SafetyFilterNode')
#: seconds the training node of a graph with a metrics node waits for it to subscribe
METRICS_WAIT_S = 300.0

TRAINING = NodeClass('safe_pe_training', 'safe_pe_training_node',
                     'safe_pe_training.ros.training_node', 'TrainingNode')
METRICS = NodeClass('safe_pe_training', 'safe_pe_metrics_node',
                    'safe_pe_training.ros.metrics_node', 'MetricsNode')
POLICY = NodeClass('safe_pe_training', 'safe_pe_policy_node',
                   'safe_pe_training.ros.policy_node', 'PolicyNode')
GAME_STATE = NodeClass('safe_pe_sim', 'safe_pe_game_state_node',
                       'safe_pe_sim.ros.game_state_node', 'GameStateNode')
RECORDER = NodeClass('safe_pe_training', 'safe_pe_recorder_node',
                     'safe_pe_training.ros.recorder_node', 'RecorderNode')


@dataclass
class NodeSpec:
    """One node of a graph.

    :param key: unique key in the graph, e.g. ``"filter/pursuer"``.
    :param node: where the node's code lives.
    :param name: node name.
    :param namespace: node namespace (``""`` for the root namespace).
    :param param_files: YAML parameter files, applied in order.
    :param overrides: parameters set on top of the files.
    :param nice: niceness increment of the node's process (0..19; higher = lower scheduling
        priority): the launch files start it under ``nice -n``, ``safe_pe_stack`` lowers the
        priority of its child process.
    """

    key: str
    node: NodeClass
    name: str
    namespace: str = ''
    param_files: list[Path] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    nice: int = 0

    def ros_args(self) -> list[str]:
        """``--ros-args`` arguments that give a process (or a Node's ``cli_args``) this spec."""
        args = ['--ros-args', '-r', f'__node:={self.name}']
        if self.namespace:
            args += ['-r', f'__ns:=/{self.namespace.strip("/")}']
        for path in self.param_files:
            args += ['--params-file', str(path)]
        for key, value in self.overrides.items():
            args += ['-p', f'{key}:={json.dumps(value)}']
        return args

    def command(self, python: str) -> list[str]:
        """Command line that runs this node as its own process with ``python -m``.

        :param python: the interpreter (e.g. ``sys.executable``).
        """
        return [python, '-m', self.node.module, *self.ros_args()]


@dataclass
class GraphFiles:
    """Parameter files of the nodes (names relative to ``config/`` or absolute paths).

    :param sim: simulator parameters.
    :param filter: safety-filter parameters (one node per robot).
    :param training: training-node parameters.
    :param metrics: metrics-node parameters.
    :param policy: policy-node parameters (one node per robot).
    """

    sim: str = 'sim_node.yaml'
    filter: str = 'filter_node.yaml'
    training: str = 'training_node.yaml'
    metrics: str = 'metrics_node.yaml'
    policy: str = 'policy_node.yaml'


def parse_robots(robots: str | Sequence[str]) -> list[str]:
    """Robot names from a list or a comma/space-separated string.

    :param robots: e.g. ``"pursuer,evader"``.
    :raises ValueError: if a name is not a role, or a name repeats, or none is given.
    """
    names = robots.replace(',', ' ').split() if isinstance(robots, str) else list(robots)
    if not names:
        raise ValueError('give at least one robot (pursuer and/or evader)')
    bad = [n for n in names if n not in ROLES]
    if bad:
        raise ValueError(f'robots must be among {ROLES} (the roles of the game), got {bad}')
    if len(set(names)) != len(names):
        raise ValueError(f'robot names repeat: {names}')
    return names


def _common(use_sim_time: bool) -> dict[str, Any]:
    return {'use_sim_time': bool(use_sim_time)}


def _sim_parameters(files: GraphFiles, sim_overrides: dict[str, Any]) -> dict[str, Any]:
    """The simulator node's parameters: its file's ``/**`` section, then the overrides."""
    with open(config_path(files.sim), encoding='utf-8') as fh:
        document = yaml.safe_load(fh) or {}
    section = document.get('/**', {}) if isinstance(document, dict) else {}
    params = dict(section.get('ros__parameters', {}) if isinstance(section, dict) else {})
    params.update(sim_overrides)
    return params


def sim_actuators(files: GraphFiles, sim_overrides: dict[str, Any] | None = None
                  ) -> dict[str, ActuatorLimits]:
    """The actuator limits each robot has in the simulator of a graph: its profile's
    ``RobotConfig.actuator``, with the node's ``actuator.<role>.<field>`` parameters (-1: the
    profile's value) applied, as the simulator node applies them.

    :param files: parameter files (the simulator's gives ``profile`` and the overrides).
    :param sim_overrides: simulator parameters set by the graph (win over the file).
    """
    params = _sim_parameters(files, sim_overrides or {})
    profile = load_profile(str(params.get('profile', 'default')))
    out = {}
    for role, robot in zip(ROLES, (profile.pursuer, profile.evader)):
        values = robot.actuator.to_dict()
        for name in values:
            given = params.get(f'actuator.{role}.{name}', -1)
            if given is not None and given >= 0:
                values[name] = given
        out[role] = ActuatorLimits.from_dict(values, where=f'{role}.actuator')
    return out


def filter_actuator_overrides(role: str, actuators: dict[str, ActuatorLimits]
                              ) -> dict[str, Any]:
    """The filter node parameters that tell the filter of ``role`` the actuators of the
    simulated robots: ``actuator.*`` its own, ``opponent_actuator.*`` the other robot's
    (docs/actuation.md); nothing when both are ideal (the filter's defaults).

    :param role: the filtered robot.
    :param actuators: per role, from :func:`sim_actuators`.
    """
    other = next(r for r in ROLES if r != role)
    if actuators[role].ideal and actuators[other].ideal:
        return {}
    return {f'{section}.{name}': value
            for section, whose in (('actuator', role), ('opponent_actuator', other))
            for name, value in actuators[whose].to_dict().items()}


def live_nodes(robots: Sequence[str], files: GraphFiles, use_sim_time: bool,
               policy_overrides: dict[str, dict[str, Any]] | None = None,
               sim_overrides: dict[str, Any] | None = None) -> list[NodeSpec]:
    """Simulator + one filter and one policy node per robot.

    :param robots: robot names (roles).
    :param files: parameter files.
    :param use_sim_time: whether the nodes follow ``/clock``.
    :param policy_overrides: extra policy parameters per robot.
    :param sim_overrides: extra simulator parameters.
    """
    common = _common(use_sim_time)
    # The simulator is the clock source: it publishes /clock instead of following it.
    specs = [NodeSpec('sim', SIM, 'safe_pe_sim', '', [config_path(files.sim)],
                      {'publish_clock': bool(use_sim_time), **(sim_overrides or {})})]
    # The filters are told the simulated robots' ramps and latency (one source: the profile).
    actuators = sim_actuators(files, sim_overrides)
    for robot in robots:
        specs.append(NodeSpec(f'filter/{robot}', FILTER, 'safety_filter', robot,
                              [config_path(files.filter)],
                              {**common, **filter_actuator_overrides(robot, actuators)}))
    for robot in robots:
        extra = (policy_overrides or {}).get(robot, {})
        specs.append(NodeSpec(f'policy/{robot}', POLICY, 'safe_pe_policy', robot,
                              [config_path(files.policy)],
                              {**common, 'role': robot, **extra}))
    return specs


def sim_training_graph(robots: str | Sequence[str] = 'pursuer,evader', run_type: str = 'A',
                       budget: int = 0, run_dir: str = 'runs/sim_training',
                       training_config: str = '', seed: int = 0,
                       use_sim_time: bool = False, files: GraphFiles | None = None,
                       steps_per_phase: int = 0, num_envs: int = 0,
                       real_time_factor: float = 1.0,
                       training_nice: int = 10) -> list[NodeSpec]:
    """The training graph: sim, filters, policies following checkpoints, training, metrics.

    :param robots: robot names, e.g. ``"pursuer,evader"``.
    :param run_type: ``A``/``B``/``C``/``D`` preset or ``custom`` (with ``training_config``).
    :param budget: training environment steps (0: the training node's file/config value).
    :param run_dir: run directory (checkpoints, report, plots).
    :param training_config: SafeSelfPlayConfig YAML (``""``: the run type's preset).
    :param seed: seed of training and simulator.
    :param use_sim_time: whether the nodes follow ``/clock``.
    :param files: parameter files (defaults: ``config/*.yaml``).
    :param steps_per_phase: learner env-steps per self-play phase (0: the training node's
        file/config value).
    :param num_envs: parallel games of the learner (0: the training node's file/config value).
    :param real_time_factor: simulated seconds per wall-clock second of the simulator
        (> 1 needs ``use_sim_time``: the other nodes then follow its ``/clock``).
    :param training_nice: niceness increment of the training process (0..19): the
        simulator, filters and policies keep their rate while training uses the cores.
    """
    names = parse_robots(robots)
    if run_type not in RUN_TYPES:
        raise ValueError(f'run_type must be one of {RUN_TYPES}, got {run_type!r}')
    if run_type == 'custom' and not training_config:
        raise ValueError('run_type custom needs training_config (a SafeSelfPlayConfig YAML)')
    if int(budget) < 0:
        raise ValueError(f'budget must be >= 0 steps, got {budget}')
    if not 0 <= int(training_nice) <= 19:
        raise ValueError(f'training_nice must be in 0..19, got {training_nice}')
    rtf = float(real_time_factor)
    if not 0.01 <= rtf <= 100.0:
        raise ValueError(f'real_time_factor must be in [0.01, 100], got {real_time_factor}')
    if rtf != 1.0 and not use_sim_time:
        raise ValueError(f'real_time_factor {rtf:g} needs use_sim_time true (the policy '
                         f'nodes must follow the simulator\'s /clock)')
    files = files or GraphFiles()
    run_dir = str(Path(run_dir).expanduser().resolve())
    policy = {r: {'follow_checkpoints': True, 'checkpoint': ''} for r in names}
    specs = live_nodes(names, files, use_sim_time, policy,
                       {'seed': int(seed), 'real_time_factor': rtf})
    # the metrics node is in this graph: its report covers training from the first step
    training = {**_common(use_sim_time), 'run_type': run_type, 'run_dir': run_dir,
                'seed': int(seed), 'wait_for_metrics': METRICS_WAIT_S}
    if int(budget) > 0:
        training['budget'] = int(budget)
    if int(steps_per_phase) < 0:
        raise ValueError(f'steps_per_phase must be >= 0, got {steps_per_phase}')
    if int(steps_per_phase) > 0:
        training['steps_per_phase'] = int(steps_per_phase)
    if int(num_envs) < 0:
        raise ValueError(f'num_envs must be >= 0, got {num_envs}')
    if int(num_envs) > 0:
        training['num_envs'] = int(num_envs)
    if training_config:
        training['config_file'] = str(Path(training_config).expanduser().resolve())
    specs.append(NodeSpec('training', TRAINING, 'safe_pe_training', '',
                          [config_path(files.training)], training, nice=int(training_nice)))
    specs.append(NodeSpec('metrics', METRICS, 'safe_pe_metrics', '',
                          [config_path(files.metrics)],
                          {**_common(use_sim_time), 'robots': names, 'report_dir': run_dir,
                           'use_training': True}))
    return specs


def sim_eval_graph(pursuer_checkpoint: str = '', evader_checkpoint: str = '',
                   episodes: int = 5, run_dir: str = 'runs/sim_eval', seed: int = 0,
                   use_sim_time: bool = False,
                   files: GraphFiles | None = None) -> list[NodeSpec]:
    """The evaluation graph: sim, filters, policies with fixed checkpoints, metrics.

    The metrics node writes the report and exits after ``episodes`` finished episodes.

    :param pursuer_checkpoint: pursuer weights (``""``: the scripted baseline,
        ``"pretrained"``: the shipped model).
    :param evader_checkpoint: evader weights (``""``: the scripted baseline,
        ``"pretrained"``: the shipped model).
    :param episodes: finished episodes to evaluate (>= 1).
    :param run_dir: where the report goes.
    :param seed: simulator seed.
    :param use_sim_time: whether the nodes follow ``/clock``.
    :param files: parameter files (defaults: ``config/*.yaml``).
    """
    if int(episodes) < 1:
        raise ValueError(f'episodes must be >= 1, got {episodes}')
    files = files or GraphFiles()
    checkpoints = {'pursuer': pursuer_checkpoint, 'evader': evader_checkpoint}
    policy = {}
    for role, path in checkpoints.items():
        if path and not Path(path).expanduser().is_file():
            # pretrained imports the league (numba): only when a name, not a file, is given
            from safe_pe_training.pretrained import PRETRAINED, resolve_checkpoint
            if path != PRETRAINED:
                raise FileNotFoundError(
                    f'{role} checkpoint {path!r} does not exist; give a .pt weights file '
                    f'written by training, "{PRETRAINED}" for the shipped one, or "" for a '
                    f'baseline')
            path = str(resolve_checkpoint(path, role))
        policy[role] = {'follow_checkpoints': False,
                        'checkpoint': str(Path(path).expanduser().resolve()) if path else ''}
    run_dir = str(Path(run_dir).expanduser().resolve())
    specs = live_nodes(list(ROLES), files, use_sim_time, policy, {'seed': int(seed)})
    specs.append(NodeSpec('metrics', METRICS, 'safe_pe_metrics', '',
                          [config_path(files.metrics)],
                          {**_common(use_sim_time), 'robots': list(ROLES),
                           'report_dir': run_dir, 'use_training': False,
                           'stop_after_episodes': int(episodes)}))
    return specs


def deploy_graph(robot: str = 'pursuer', role: str = '',
                 filter_params: str = 'turtlebot3_burger_filter.yaml',
                 arena_file: str = 'arena_example.yaml', use_policy: bool = False,
                 checkpoint: str = '',
                 policy_params: str = 'deploy/turtlebot3_burger_policy.yaml',
                 use_sim_time: bool = False, with_game_state: bool = False,
                 game_state_params: str = 'game_state_node.yaml',
                 other_robot: str = '') -> list[NodeSpec]:
    """One physical robot: its safety filter (TurtleBot3 profile), optionally a policy and
    optionally the game-state node that assembles ``/safe_pe/game_state`` from both robots'
    odometry (start it with exactly one robot's launch).

    :param robot: robot name = namespace of its topics (``/<robot>/odom``, ``cmd_vel``...).
    :param role: ``pursuer`` or ``evader`` (``""``: the robot name, which must be a role).
    :param filter_params: filter parameter file (robot profile).
    :param arena_file: parameter file with the arena walls and obstacles.
    :param use_policy: also run a policy node that publishes the nominal command.
    :param checkpoint: policy weights (``""``: the scripted baseline); a ``.onnx`` export
        runs on onnxruntime (policy ``backend`` onnx, no torch on the robot).
    :param policy_params: policy parameter file.
    :param use_sim_time: whether the nodes follow ``/clock``.
    :param with_game_state: also run the game-state node (``robots`` = this robot in its role's
        slot and ``other_robot`` in the other; arena from ``arena_file``).
    :param game_state_params: game-state parameter file (profile, odometry offsets, timeout).
    :param other_robot: name of the other robot (``""``: the other role's name).
    """
    robot = _ros_name(robot, 'robot')
    role = role or robot
    parse_robots([role])
    common = _common(use_sim_time)
    specs = [NodeSpec(f'filter/{robot}', FILTER, 'safety_filter', robot,
                      [config_path(filter_params), config_path(arena_file)], dict(common))]
    if use_policy:
        if checkpoint and not Path(checkpoint).expanduser().is_file():
            raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
        specs.append(NodeSpec(f'policy/{robot}', POLICY, 'safe_pe_policy', robot,
                              [config_path(policy_params)],
                              {**common, 'role': role, 'follow_checkpoints': False,
                               'checkpoint': str(Path(checkpoint).expanduser().resolve())
                               if checkpoint else '',
                               'backend': 'onnx' if checkpoint.endswith('.onnx') else 'torch'}))
    if with_game_state:
        other_role = ROLES[1 - ROLES.index(role)]
        other = _ros_name(other_robot or other_role, 'other_robot')
        if other == robot:
            raise ValueError(f'other_robot must differ from robot ({robot!r})')
        names = [robot, other] if role == 'pursuer' else [other, robot]
        specs.append(NodeSpec('game_state', GAME_STATE, 'safe_pe_game_state', '',
                              [config_path(game_state_params), config_path(arena_file)],
                              {**common, 'robots': names}))
    return specs


def recorder_spec(path: str = '', folder: str = '.', use_sim_time: bool = False) -> NodeSpec:
    """The recorder node that writes the graph's topics to an MCAP bag (rosbag2 layout).

    :param path: bag directory (``""``: ``<folder>/bag_<date>_<time>``).
    :param folder: where the default bag goes (e.g. the run directory).
    :param use_sim_time: whether the node follows ``/clock``.
    """
    if not path:
        path = str(Path(folder) / time.strftime('bag_%Y%m%d_%H%M%S'))
    return NodeSpec('recorder', RECORDER, 'safe_pe_recorder', '', [],
                    {**_common(use_sim_time),
                     'path': str(Path(path).expanduser().resolve())})


def with_recorder(specs: list[NodeSpec], record: bool, record_path: str = '',
                  folder: str = '.', use_sim_time: bool = False) -> list[NodeSpec]:
    """``specs`` plus the recorder node when recording is asked for (launch ``record:=true``).

    :param specs: the graph.
    :param record: record the graph's topics.
    :param record_path: bag directory (``""``: a new ``bag_<date>_<time>`` in ``folder``);
        giving one also turns recording on.
    :param folder: where the default bag goes.
    :param use_sim_time: whether the recorder follows ``/clock``.
    """
    if not (record or record_path):
        return specs
    return [*specs, recorder_spec(record_path, folder, use_sim_time)]


def _ros_name(name: str, what: str) -> str:
    """``name`` without slashes, checked to be a valid ROS name (letters, digits, _)."""
    name = name.strip('/')
    if not name or not name.replace('_', 'a').isalnum() or name[0].isdigit():
        raise ValueError(f'{what} must be a valid ROS name (letters, digits, _), got {name!r}')
    return name
