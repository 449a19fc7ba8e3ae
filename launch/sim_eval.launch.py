"""Evaluate given checkpoints in the simulator through the safety filters for N episodes.

Nodes: simulator, a safety filter and a policy node per robot (fixed checkpoints, no
hot-reload; "" = scripted baseline), and the metrics node, which writes the safety-target
report to run_dir after N finished episodes and exits, which ends the launch.

    ros2 launch launch/sim_eval.launch.py pursuer_checkpoint:=runs/a/checkpoints/...pt \\
        evader_checkpoint:=... episodes:=10 run_dir:=runs/a/eval
    ros2 launch launch/sim_eval.launch.py pursuer_checkpoint:=pretrained \\
        evader_checkpoint:=pretrained       # the trained pair shipped in models/
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

from safe_pe_training.ros.graph_spec import GraphFiles, sim_eval_graph, with_recorder
from safe_pe_training.ros.launch_support import launch_nodes, truthy

ARGUMENTS = (
    ('pursuer_checkpoint', '', 'Pursuer policy weights (.pt), "pretrained" = the shipped '
     'model (models/); "" = scripted pure pursuit.'),
    ('evader_checkpoint', '', 'Evader policy weights (.pt), "pretrained" = the shipped '
     'model (models/); "" = scripted flee baseline.'),
    ('episodes', '5', 'Finished episodes to evaluate before the report is written.'),
    ('run_dir', 'runs/sim_eval', 'Directory of safety_report.json / safety_report.md.'),
    ('seed', '0', 'Simulator seed.'),
    ('use_sim_time', 'false', 'Nodes follow /clock from the simulator.'),
    ('record', 'false', 'Record the graph\'s topics to an MCAP bag (rosbag2 layout: ros2 bag '
     'info/play, Foxglove).'),
    ('record_path', '', 'Bag directory for record ("" = bag_<date>_<time> in run_dir).'),
    ('log_level', 'info', 'ROS log level of every node.'),
    ('sim_params', 'sim_node.yaml', 'Simulator parameter file (relative to config/).'),
    ('filter_params', 'filter_node.yaml', 'Safety-filter parameter file.'),
    ('metrics_params', 'metrics_node.yaml', 'Metrics-node parameter file.'),
    ('policy_params', 'policy_node.yaml', 'Policy-node parameter file.'),
)


def _nodes(context, *args, **kwargs):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    files = GraphFiles(sim=value['sim_params'], filter=value['filter_params'],
                       metrics=value['metrics_params'], policy=value['policy_params'])
    specs = sim_eval_graph(
        pursuer_checkpoint=value['pursuer_checkpoint'],
        evader_checkpoint=value['evader_checkpoint'], episodes=int(value['episodes']),
        run_dir=value['run_dir'], seed=int(value['seed']),
        use_sim_time=truthy(value['use_sim_time']), files=files)
    specs = with_recorder(specs, truthy(value['record']), value['record_path'],
                          value['run_dir'], truthy(value['use_sim_time']))
    nodes = launch_nodes(specs, value['log_level'])
    return list(nodes.values()) + [RegisterEventHandler(OnProcessExit(
        target_action=nodes['metrics'],
        on_exit=[LogInfo(msg='evaluation finished: report written, shutting down'),
                 EmitEvent(event=Shutdown(reason='evaluation finished'))]))]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments; the nodes are built from them at launch time."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=_nodes)])
