"""Recorder node: the live graph's topics into an MCAP bag (rosbag2 layout), no rosbag2 needed.

    python -m safe_pe_training.ros.recorder_node --ros-args -p path:=runs/x/bag

Every ``discovery_period`` it looks for new topics (all of them, or those in ``topics``, less
``exclude``) that have a publisher, subscribes to each with the publishers' reliability and
durability (so latched topics such as ``/safe_pe/arena`` are recorded too) and writes what
arrives, still serialized, with :class:`safe_pe_training.bag.BagWriter`. The bag is closed
(index, ``metadata.yaml``) when the node is destroyed: Ctrl-C, SIGTERM or the end of
``safe_pe_stack``.

Never in the way of the graph: a bad path (exists, not writable) logs an error and the node
records nothing; a write error (full disk) logs an error once, closes what was written, and
stops recording. The graph keeps running in both cases.
"""

from __future__ import annotations

import importlib
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from safe_pe_cbf.ros_common.executors import spin_until_shutdown
from safe_pe_cbf.ros_common.params import declare

from safe_pe_training.bag import BagError, BagWriter

NODE_NAME = 'safe_pe_recorder'
INFINITE = '{sec: 2147483647, nsec: 4294967295}'


def message_class(type_name: str) -> Any:
    """The Python class of ``pkg/msg/Type``.

    :param type_name: e.g. ``"geometry_msgs/msg/Twist"``.
    :raises ImportError: if the interface package is not installed here.
    """
    package, kind, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)


def _qos_yaml(infos: list[Any]) -> str:
    """The publishers' QoS profiles as rosbag2 writes ``offered_qos_profiles``."""
    entries = []
    for info in infos:
        qos = info.qos_profile
        entries.append(
            f'- history: {int(qos.history.value)}\n  depth: {int(qos.depth)}\n'
            f'  reliability: {int(qos.reliability.value)}\n'
            f'  durability: {int(qos.durability.value)}\n  deadline: {INFINITE}\n'
            f'  lifespan: {INFINITE}\n  liveliness: {int(qos.liveliness.value)}\n'
            f'  liveliness_lease_duration: {INFINITE}\n'
            '  avoid_ros_namespace_conventions: false')
    return '\n'.join(entries)


class RecorderNode(Node):
    """Records topics of the running graph to an MCAP bag."""

    def __init__(self, **kwargs: Any) -> None:
        """Create the node and open the bag.

        :param kwargs: passed to ``rclpy.node.Node`` (``cli_args``, ``parameter_overrides``,
            ``context``...).
        """
        super().__init__(NODE_NAME, **kwargs)
        self.path: str = declare(self, 'path', '',
                                 'Bag directory to create (must not exist or be empty).')
        topics: str = declare(self, 'topics', '',
                              'Comma-separated topics to record ("" = every topic).')
        self.exclude: list[str] = declare(self, 'exclude', ['/rosout', '/parameter_events'],
                                          'Topics never recorded.')
        period = declare(self, 'discovery_period', 0.5,
                         'Seconds between looks for new topics.', min_value=0.05,
                         max_value=60.0)
        self.wanted = {t.strip() for t in topics.split(',') if t.strip()}
        self.record_error = ''
        self.bag: BagWriter | None = None
        self._recorded: dict[str, Any] = {}
        self._skipped: set[str] = set()
        try:
            if not self.path:
                raise BagError('no bag path: set the parameter path')
            self.bag = BagWriter(self.path)
        except BagError as exc:
            self.record_error = str(exc)
            self.get_logger().error(f'not recording: {exc}')
            return
        self._timer = self.create_timer(period, self.discover)
        self.get_logger().info(f'recording to {self.bag.path} '
                               f'({", ".join(sorted(self.wanted)) or "every topic"})')

    def discover(self) -> None:
        """Subscribe to the topics that appeared since the last look."""
        if self.bag is None:
            return
        for topic, types in self.get_topic_names_and_types():
            if (topic in self._recorded or topic in self._skipped
                    or topic in self.exclude or (self.wanted and topic not in self.wanted)):
                continue
            infos = self.get_publishers_info_by_topic(topic)
            if not infos:
                continue               # only subscribers so far: its QoS is not known yet
            if len(types) != 1:
                self._skip(topic, f'it has several types {types}')
                continue
            try:
                cls = message_class(types[0])
                self.bag.add_topic(topic, types[0], _qos_yaml(infos))
            except (ImportError, AttributeError, BagError) as exc:
                self._skip(topic, str(exc))
                continue
            reliable = all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                           for i in infos)
            latched = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                          for i in infos)
            qos = QoSProfile(
                depth=100,
                reliability=ReliabilityPolicy.RELIABLE if reliable
                else ReliabilityPolicy.BEST_EFFORT,
                durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                else DurabilityPolicy.VOLATILE)
            self._recorded[topic] = self.create_subscription(
                cls, topic, lambda data, topic=topic: self._on_message(topic, data), qos,
                raw=True)

    def _skip(self, topic: str, why: str) -> None:
        self._skipped.add(topic)
        self.get_logger().warning(f'not recording {topic}: {why}')

    def _on_message(self, topic: str, data: bytes) -> None:
        if self.bag is None:
            return
        try:
            self.bag.write(topic, data)
        except BagError as exc:
            self.record_error = str(exc)
            self.get_logger().error(f'recording stopped: {exc}')
            self._stop()

    def _stop(self) -> None:
        """Stop recording and close the bag (what was written stays readable if possible)."""
        bag, self.bag = self.bag, None
        for sub in self._recorded.values():
            self.destroy_subscription(sub)
        self._recorded.clear()
        if bag is None:
            return
        try:
            bag.close()
        except (OSError, ValueError) as exc:
            self.get_logger().error(f'could not close the bag {bag.path}: {exc}')
            return
        self.get_logger().info(f'bag {bag.path}: {bag.message_count} messages on '
                               f'{len(bag.topics)} topics')

    def destroy_node(self) -> None:
        """Close the bag, then destroy the node."""
        self._stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the recorder until Ctrl-C/SIGTERM.

    :param args: command-line arguments for ``rclpy.init`` (default: ``sys.argv``).
    """
    spin_until_shutdown(RecorderNode, NODE_NAME, args, threads=2)


if __name__ == '__main__':
    main()
