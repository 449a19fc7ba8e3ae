"""Write ROS 2 messages to an MCAP file in the rosbag2 layout, without rosbag2.

A bag is a directory ``<name>/`` holding ``<name>_0.mcap`` and ``metadata.yaml``, as
``ros2 bag record -s mcap`` writes it, so ``ros2 bag info``/``ros2 bag play`` on a ROS install
and Foxglove open it. The MCAP file has the ``ros2`` profile; each message type is one schema
with encoding ``ros2msg`` (the ``.msg`` text of the type and, after ``=====`` separators, of
every type it uses, read from the installed interface packages), each topic one channel with
message encoding ``cdr``; messages are the serialized CDR bytes as received (no decoding).

No rclpy here: :mod:`safe_pe_training.ros.recorder_node` subscribes and feeds
:class:`BagWriter`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from mcap.writer import CompressionType, Writer

METADATA_FILE = 'metadata.yaml'
BAG_VERSION = 8  # rosbag2 metadata version (read by Humble and later)
PRIMITIVES = {
    'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32',
    'uint32', 'int64', 'uint64', 'string', 'wstring',
}
SEPARATOR = '=' * 80


class BagError(OSError):
    """A bag cannot be created or written (bad path, no permission, full disk)."""


def _msg_file(type_name: str) -> Path:
    """The installed ``.msg`` file of ``pkg/msg/Type`` (ament index share directory)."""
    package, _, name = type_name.split('/')
    try:
        share = Path(get_package_share_directory(package))
    except PackageNotFoundError as exc:
        raise BagError(f'message package {package!r} is not installed: cannot record '
                       f'{type_name}') from exc
    path = share / 'msg' / f'{name}.msg'
    if not path.is_file():
        raise BagError(f'no message definition {path} for {type_name}')
    return path


def _dependencies(text: str, package: str) -> list[str]:
    """``pkg/msg/Type`` of every non-primitive field type in a ``.msg`` text, in order."""
    found: list[str] = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        field_type = re.split(r'\s+', line)[0]
        if '=' in line:  # a constant (always of a primitive type)
            continue
        base = re.sub(r'\[.*\]$', '', field_type)
        base = re.sub(r'<=\d+$', '', base)
        if base in PRIMITIVES:
            continue
        if base == 'Header':
            full = 'std_msgs/msg/Header'
        elif '/' in base:
            pkg, name = base.split('/')[0], base.split('/')[-1]
            full = f'{pkg}/msg/{name}'
        else:
            full = f'{package}/msg/{base}'
        if full not in found:
            found.append(full)
    return found


def message_definition(type_name: str) -> str:
    """The ``ros2msg`` schema text of a message type, as rosbag2 writes it into MCAP.

    :param type_name: e.g. ``"geometry_msgs/msg/Twist"``.
    :raises BagError: if the type's package or ``.msg`` file is not installed.
    """
    if type_name.count('/') != 2:
        raise BagError(f'message type must look like pkg/msg/Type, got {type_name!r}')
    main = _msg_file(type_name).read_text()
    parts = [main.rstrip('\n')]
    seen = {type_name}
    queue = _dependencies(main, type_name.split('/')[0])
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        text = _msg_file(dep).read_text()
        package, _, name = dep.split('/')
        parts.append(f'{SEPARATOR}\nMSG: {package}/{name}\n{text.rstrip(chr(10))}')
        queue.extend(_dependencies(text, package))
    return '\n'.join(parts) + '\n'


class BagWriter:
    """An open bag: register topics, write serialized messages, close (writes metadata).

    Thread-safe. Log times are the wall clock at :meth:`write` (or the time given), strictly
    increasing.

    :param path: the bag directory to create (must not exist or be empty).
    :param ros_distro: written into ``metadata.yaml``.
    :raises BagError: the directory cannot be created or the file cannot be opened.
    """

    def __init__(self, path: str | os.PathLike[str], ros_distro: str = '') -> None:
        self.path = Path(path).expanduser()
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise BagError(f'cannot record to {self.path}: it exists and is not an empty '
                           'directory; choose a new path')
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.file_name = f'{self.path.name}_0.mcap'
            self._stream: BinaryIO = open(self.path / self.file_name, 'wb')
        except OSError as exc:
            raise BagError(f'cannot record to {self.path}: {exc.strerror or exc}') from exc
        self.ros_distro = ros_distro or os.environ.get('ROS_DISTRO', 'kilted')
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile='ros2', library='safe_pe bag')
        self._lock = threading.Lock()
        self._schemas: dict[str, int] = {}
        self._topics: dict[str, dict[str, Any]] = {}
        self._first = 0
        self._last = 0
        self.closed = False

    @property
    def topics(self) -> dict[str, str]:
        """Registered topics and their types."""
        return {name: t['type'] for name, t in self._topics.items()}

    @property
    def message_count(self) -> int:
        """Messages written so far."""
        return sum(t['count'] for t in self._topics.values())

    def add_topic(self, topic: str, type_name: str, qos_yaml: str = '') -> None:
        """Register a topic (once; again with the same type is a no-op).

        :param topic: absolute topic name.
        :param type_name: ``pkg/msg/Type``.
        :param qos_yaml: the publishers' QoS profiles as rosbag2 writes them ('' = unknown).
        :raises BagError: unknown type, or the topic was registered with another type.
        """
        with self._lock:
            known = self._topics.get(topic)
            if known is not None:
                if known['type'] != type_name:
                    raise BagError(f'{topic} was recorded as {known["type"]}, now {type_name}')
                return
            if type_name not in self._schemas:
                self._schemas[type_name] = self._writer.register_schema(
                    name=type_name, encoding='ros2msg',
                    data=message_definition(type_name).encode())
            channel = self._writer.register_channel(
                topic=topic, message_encoding='cdr', schema_id=self._schemas[type_name],
                metadata={'offered_qos_profiles': qos_yaml})
            self._topics[topic] = {'type': type_name, 'channel': channel, 'count': 0,
                                   'qos': qos_yaml}

    def write(self, topic: str, data: bytes, log_time: int | None = None) -> None:
        """Append one serialized message of a registered topic.

        :param topic: the topic (see :meth:`add_topic`).
        :param data: the message's CDR bytes.
        :param log_time: receipt time [ns] (default: the wall clock now); raised to 1 ns after
            the last message's if it is not later (log times increase in file order).
        :raises BagError: the disk is full or the file is gone.
        """
        with self._lock:
            if self.closed:
                return
            entry = self._topics[topic]
            stamp = max(time.time_ns() if log_time is None else int(log_time), self._last + 1)
            try:
                self._writer.add_message(entry['channel'], log_time=stamp, data=bytes(data),
                                         publish_time=stamp, sequence=entry['count'])
            except OSError as exc:
                raise BagError(f'cannot write to {self.path / self.file_name}: '
                               f'{exc.strerror or exc}') from exc
            entry['count'] += 1
            self._first = self._first or stamp
            self._last = stamp

    def close(self) -> None:
        """Finish the MCAP file (summary, index) and write ``metadata.yaml``; idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._writer.finish()
            finally:
                self._stream.close()
            count = sum(t['count'] for t in self._topics.values())
            duration = {'nanoseconds': self._last - self._first if count else 0}
            start = {'nanoseconds_since_epoch': self._first}
            info = {
                'version': BAG_VERSION,
                'storage_identifier': 'mcap',
                'duration': duration,
                'starting_time': start,
                'message_count': count,
                'topics_with_message_count': [
                    {'topic_metadata': {'name': name, 'type': t['type'],
                                        'serialization_format': 'cdr',
                                        'offered_qos_profiles': t['qos'],
                                        'type_description_hash': ''},
                     'message_count': t['count']}
                    for name, t in sorted(self._topics.items())],
                'compression_format': '',
                'compression_mode': '',
                'relative_file_paths': [self.file_name],
                'files': [{'path': self.file_name, 'starting_time': dict(start),
                           'duration': dict(duration), 'message_count': count}],
                'custom_data': {},
                'ros_distro': self.ros_distro,
            }
            text = yaml.safe_dump({'rosbag2_bagfile_information': info}, sort_keys=False)
            (self.path / METADATA_FILE).write_text(text)
