"""The CBF safety filter (and optionally a policy) for one physical robot.

Odometry in (/<robot>/odom), nominal command in (/<robot>/cmd_vel_nominal), safe command out
(/<robot>/cmd_vel), with the turtlebot3_burger profile and the arena/obstacles from a YAML
parameter file:

    ros2 launch launch/deploy_filter.launch.py robot:=tb3_0 role:=pursuer \\
        arena_file:=/path/to/my_arena.yaml

Without use_policy the nominal command comes from whatever you run (teleop, a planner).
with_game_state:=true (on exactly one robot's launch) also runs the game-state node that
assembles /safe_pe/game_state from both robots' odometry, so policies can drive real robots.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from safe_pe_training.ros.graph_spec import deploy_graph, with_recorder
from safe_pe_training.ros.launch_support import launch_nodes, truthy

ARGUMENTS = (
    ('robot', 'pursuer', 'Robot name: the namespace of its odom/cmd_vel topics.'),
    ('role', '', 'Game role of the robot, pursuer or evader ("" = the robot name).'),
    ('filter_params', 'turtlebot3_burger_filter.yaml',
     'Filter parameter file with the robot profile (relative to config/ or absolute).'),
    ('arena_file', 'arena_example.yaml', 'Parameter file with the arena walls and obstacles.'),
    ('use_policy', 'false', 'Also run a policy node that publishes cmd_vel_nominal.'),
    ('checkpoint', '', 'Policy for use_policy: .pt weights (torch) or .onnx from safe_pe_train '
     'export --onnx (onnxruntime, no torch); "" = scripted baseline.'),
    ('policy_params', 'deploy/turtlebot3_burger_policy.yaml',
     'Policy-node parameter file (TurtleBot3: 10 Hz, no scripted baseline).'),
    ('with_game_state', 'false', 'Also run the game-state node (/safe_pe/game_state from both '
     "robots' odometry; on ONE robot's launch only)."),
    ('game_state_params', 'game_state_node.yaml',
     'Game-state parameter file (profile, per-robot odom offsets, odom_timeout).'),
    ('other_robot', '', 'Name of the other robot for the game-state node ("" = the other '
     'role).'),
    ('use_sim_time', 'false', 'Nodes follow /clock (only with a simulator or bag).'),
    ('record', 'false', 'Record the graph\'s topics to an MCAP bag (rosbag2 layout: ros2 bag '
     'info/play, Foxglove).'),
    ('record_path', '', 'Bag directory for record ("" = bag_<date>_<time> in the working '
     'directory).'),
    ('log_level', 'info', 'ROS log level of every node.'),
)


def _nodes(context, *args, **kwargs):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    specs = deploy_graph(
        robot=value['robot'], role=value['role'], filter_params=value['filter_params'],
        arena_file=value['arena_file'], use_policy=truthy(value['use_policy']),
        checkpoint=value['checkpoint'], policy_params=value['policy_params'],
        use_sim_time=truthy(value['use_sim_time']),
        with_game_state=truthy(value['with_game_state']),
        game_state_params=value['game_state_params'], other_robot=value['other_robot'])
    specs = with_recorder(specs, truthy(value['record']), value['record_path'], '.',
                          truthy(value['use_sim_time']))
    return list(launch_nodes(specs, value['log_level']).values())


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments; the nodes are built from them at launch time."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=_nodes)])
