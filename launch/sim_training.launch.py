"""Simulated self-play training with the live graph playing the latest checkpoints safely.

Nodes: simulator, one CBF safety filter per robot, one policy node per robot (scripted
baseline until the first checkpoint of its role is announced, then hot-reloaded), the
training node (self-play in a background thread, started under ``nice -n training_nice``)
and the metrics node (report in run_dir).

    ros2 launch launch/sim_training.launch.py run_type:=A budget:=40000 run_dir:=runs/a

The one-process equivalent without ``launch`` is ``safe_pe_stack`` (same files, same
argument names).
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration

from safe_pe_training.ros.graph_spec import GraphFiles, sim_training_graph, with_recorder
from safe_pe_training.ros.launch_support import launch_nodes, truthy

ARGUMENTS = (
    ('robots', 'pursuer,evader', 'Robots (roles) to run live, comma-separated.'),
    ('run_type', 'A', 'Training run: A (safe CBF-Beta + w5), B (unsafe), C (CBF-QP filter '
     'only), D (safe without w5), or custom (needs training_config).'),
    ('budget', '40000', 'Training environment steps (0: the value in training_params).'),
    ('steps_per_phase', '10000', 'Learner env-steps per self-play phase (0: the training '
     'config\'s); the defaults match config/stack.yaml: 4 phases, both roles learn.'),
    ('num_envs', '8', 'Parallel games of the learner (0: the training config\'s); 8 games '
     'x 10 k-step phases = 1,250 steps per game and phase: episodes finish in each phase.'),
    ('run_dir', 'runs/sim_training', 'Run directory: checkpoints, metrics, plots, report.'),
    ('training_config', '', 'SafeSelfPlayConfig YAML ("" = the run_type preset).'),
    ('seed', '0', 'Seed of training and simulator.'),
    ('use_sim_time', 'false', 'Nodes follow /clock from the simulator.'),
    ('real_time_factor', '1.0', 'Simulated seconds per wall-clock second (!= 1 needs '
     'use_sim_time:=true; safe_pe_stack runs at 2).'),
    ('training_nice', '10', 'The training node runs under `nice -n` this (0..19): the '
     'simulator, filters and policies keep their rate while it trains.'),
    ('shutdown_when_trained', 'false', 'End the launch when the training node exits.'),
    ('record', 'false', 'Record the graph\'s topics to an MCAP bag (rosbag2 layout: ros2 bag '
     'info/play, Foxglove).'),
    ('record_path', '', 'Bag directory for record ("" = bag_<date>_<time> in run_dir).'),
    ('log_level', 'info', 'ROS log level of every node.'),
    ('sim_params', 'sim_node.yaml', 'Simulator parameter file (relative to config/).'),
    ('filter_params', 'filter_node.yaml', 'Safety-filter parameter file.'),
    ('training_params', 'training_node.yaml', 'Training-node parameter file.'),
    ('metrics_params', 'metrics_node.yaml', 'Metrics-node parameter file.'),
    ('policy_params', 'policy_node.yaml', 'Policy-node parameter file.'),
)


def _nodes(context, *args, **kwargs):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    files = GraphFiles(sim=value['sim_params'], filter=value['filter_params'],
                       training=value['training_params'], metrics=value['metrics_params'],
                       policy=value['policy_params'])
    specs = sim_training_graph(
        robots=value['robots'], run_type=value['run_type'], budget=int(value['budget']),
        run_dir=value['run_dir'], training_config=value['training_config'],
        seed=int(value['seed']), use_sim_time=truthy(value['use_sim_time']), files=files,
        steps_per_phase=int(value['steps_per_phase']), num_envs=int(value['num_envs']),
        real_time_factor=float(value['real_time_factor']),
        training_nice=int(value['training_nice']))
    specs = with_recorder(specs, truthy(value['record']), value['record_path'],
                          value['run_dir'], truthy(value['use_sim_time']))
    nodes = launch_nodes(specs, value['log_level'])
    actions = list(nodes.values())
    if truthy(value['shutdown_when_trained']):
        actions.append(RegisterEventHandler(OnProcessExit(
            target_action=nodes['training'],
            on_exit=[LogInfo(msg='training finished: shutting down'),
                     EmitEvent(event=Shutdown(reason='training finished'))])))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments; the nodes are built from them at launch time."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=_nodes)])
