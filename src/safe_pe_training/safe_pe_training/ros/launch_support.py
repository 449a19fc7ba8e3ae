"""Turn :mod:`graph_spec` node specs into ``launch_ros`` actions (used by ``launch/``).

Imports ``launch``/``launch_ros`` only inside the functions, so this module (and the graph
description it adapts) stays importable where ROS 2 launch is not installed.
"""

from __future__ import annotations

from typing import Any, Sequence

from safe_pe_training.ros.graph_spec import NodeSpec


def launch_node(spec: NodeSpec, log_level: str = 'info', **kwargs: Any) -> Any:
    """A ``launch_ros.actions.Node`` that runs one node spec (package executable).

    :param spec: the node: package, executable, name, namespace, files and overrides; a
        ``nice`` above 0 runs it under ``nice -n`` (a lower scheduling priority).
    :param log_level: ROS log level of the node.
    :param kwargs: more ``launch_ros.actions.Node`` arguments (``respawn``...).
    """
    from launch_ros.actions import Node  # ROS launch: only inside launch files

    params: list[Any] = [str(p) for p in spec.param_files]
    if spec.overrides:
        params.append(dict(spec.overrides))
    if spec.nice and 'prefix' not in kwargs:
        kwargs['prefix'] = f'nice -n {int(spec.nice)}'   # lower scheduling priority
    return Node(
        package=spec.node.package, executable=spec.node.executable, name=spec.name,
        namespace=spec.namespace or None, parameters=params, output='screen',
        emulate_tty=True, ros_arguments=['--log-level', log_level], **kwargs)


def launch_nodes(specs: Sequence[NodeSpec], log_level: str = 'info') -> dict[str, Any]:
    """One launch Node action per spec, keyed like the specs.

    :param specs: the graph.
    :param log_level: ROS log level of every node.
    """
    return {spec.key: launch_node(spec, log_level) for spec in specs}


def truthy(text: str) -> bool:
    """A launch argument read as a boolean ("true"/"1"/"yes"/"on", case-insensitive).

    :param text: the argument's value.
    :raises ValueError: if it is neither a true nor a false word.
    """
    value = text.strip().lower()
    if value in ('true', '1', 'yes', 'on'):
        return True
    if value in ('false', '0', 'no', 'off', ''):
        return False
    raise ValueError(f'expected true or false, got {text!r}')
