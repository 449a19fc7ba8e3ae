"""Read a recorded run for :mod:`safe_pe_training.actuator_id`: a CSV file or an MCAP bag.

**CSV**: a header row naming the columns ``t, v_cmd, w_cmd, v_meas, w_meas`` (any order;
other columns are ignored; lines starting with ``#`` are comments), then one row per
odometry sample: the time [s], the command in force at that time (linear [m/s], angular
[rad/s]) and the measured velocities (the odometry twist).

**Bag**: a rosbag2 directory with MCAP storage (``ros2 bag record -s mcap``, or this project's
recorder node / ``safe_pe_stack --record``), or one ``.mcap`` file. Commands are
``geometry_msgs/Twist`` or ``TwistStamped`` on ``/<robot>/cmd_vel``, odometry
``nav_msgs/Odometry`` on ``/<robot>/odom`` (or the topics given). Messages are decoded with
the schema the bag carries (mcap-ros2-support; no rclpy). Times are the *log* times (when the
recorder received each message: command and odometry on one clock, and the latency then
includes the odometry's transport, as the filter sees it) or, with ``stamps="header"``, the
header stamps (both topics must carry one). The commands are resampled onto the odometry
times as a zero-order hold: the newest command sent *before* each odometry sample (a command
stamped with the very time of an odometry message was computed from it, as the safety filter
and a lock-step simulator stamp their answers, and cannot show in it); odometry before the
first command is dropped.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from mcap.exceptions import McapError
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from safe_pe_training.actuator_id import RecordingError

__all__ = ["Recording", "CSV_COLUMNS", "read_csv", "write_csv", "read_bag", "zero_order_hold",
           "COMMAND_TYPES", "ODOMETRY_TYPE"]

#: the CSV columns, in the order :func:`write_csv` writes them
CSV_COLUMNS = ("t", "v_cmd", "w_cmd", "v_meas", "w_meas")
COMMAND_TYPES = ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")
ODOMETRY_TYPE = "nav_msgs/msg/Odometry"


@dataclass
class Recording:
    """Commanded and measured velocities at the odometry times.

    :param t: odometry times [s] from the first one
    :param v_cmd: linear command in force at each time [m/s]
    :param w_cmd: angular command in force at each time [rad/s]
    :param v_meas: measured linear velocity [m/s]
    :param w_meas: measured angular velocity [rad/s]
    :param source: where it was read from (for messages)
    """

    t: np.ndarray
    v_cmd: np.ndarray
    w_cmd: np.ndarray
    v_meas: np.ndarray
    w_meas: np.ndarray
    source: str = ""

    def arrays(self) -> dict[str, np.ndarray]:
        """The five columns by name (keyword arguments of :func:`~.actuator_id.identify`)."""
        return {name: getattr(self, name) for name in CSV_COLUMNS}


def read_csv(path: str | os.PathLike[str]) -> Recording:
    """Read a recording from a CSV file (see the module docstring for the columns).

    :param path: the file
    :raises RecordingError: missing file, no header, a missing column, a non-number
    """
    path = Path(path)
    try:
        with open(path, newline="") as stream:
            rows = [row for row in csv.reader(stream)
                    if row and not row[0].lstrip().startswith("#")]
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not rows:
        raise RecordingError(f"{path} is empty: it needs a header row {','.join(CSV_COLUMNS)} "
                             "and one row per odometry sample")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        raise RecordingError(f"{path}: no column {', '.join(missing)} in the header "
                             f"{header}; the columns are {', '.join(CSV_COLUMNS)}")
    cols = [header.index(name) for name in CSV_COLUMNS]
    data = np.empty((len(rows) - 1, len(CSV_COLUMNS)))
    for i, row in enumerate(rows[1:]):
        try:
            data[i] = [float(row[c]) for c in cols]
        except (IndexError, ValueError) as exc:
            raise RecordingError(f"{path}, data row {i + 1}: {row} is not {len(header)} "
                                 f"numbers ({exc})") from exc
    return Recording(*(data[:, k].copy() for k in range(len(CSV_COLUMNS))), source=str(path))


def write_csv(path: str | os.PathLike[str], recording: Recording) -> None:
    """Write a recording as CSV (the columns of :data:`CSV_COLUMNS`; :func:`read_csv` reads it).

    :param path: the file to write
    :param recording: the data
    """
    columns = np.column_stack([recording.arrays()[name] for name in CSV_COLUMNS])
    np.savetxt(path, columns, delimiter=",", header=",".join(CSV_COLUMNS), comments="",
               fmt="%.9g")


def zero_order_hold(t_cmd: np.ndarray, cmd: np.ndarray, t: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The command in force at each time ``t``: the newest one strictly before it (a command
    stamped ``t`` answers the state at ``t``: it acts after it).

    :param t_cmd: command times, non-decreasing
    :param cmd: the commands, one row per time
    :param t: the query times
    :return: ``(valid, held)``: whether a command was in force, and the held rows
    """
    idx = np.searchsorted(t_cmd, t, side="left") - 1
    return idx >= 0, cmd[np.maximum(idx, 0)]


def _mcap_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix != ".mcap":
            raise RecordingError(f"{path} is not an .mcap file (a .db3 bag: convert it with "
                                 "`ros2 bag convert` or record with `ros2 bag record -s mcap`)")
        return [path]
    if not path.is_dir():
        raise RecordingError(f"no bag at {path}: give the bag directory or its .mcap file")
    meta = path / "metadata.yaml"
    if meta.is_file():
        try:
            info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
        except (yaml.YAMLError, TypeError, KeyError) as exc:
            raise RecordingError(f"{meta} is not rosbag2 metadata ({exc}); give the .mcap "
                                 "file instead") from exc
        if info.get("storage_identifier", "mcap") != "mcap":
            raise RecordingError(f"{path} is a {info['storage_identifier']} bag; convert it to "
                                 "MCAP (`ros2 bag convert`) or record with -s mcap")
        files = [path / name for name in info.get("relative_file_paths", [])]
    else:
        files = sorted(path.glob("*.mcap"))
    if not files or not all(f.is_file() for f in files):
        raise RecordingError(f"{path} holds no readable .mcap file ({[str(f) for f in files]})")
    return files


def _stamp(decoded: object) -> float:
    stamp = decoded.header.stamp  # type: ignore[attr-defined]
    return stamp.sec + 1e-9 * stamp.nanosec


def read_bag(path: str | os.PathLike[str], robot: str = "", cmd_topic: str = "",
             odom_topic: str = "", stamps: str = "log") -> Recording:
    """Read one robot's commands and odometry from an MCAP bag (see the module docstring).

    :param path: the bag directory or an ``.mcap`` file
    :param robot: the robot's namespace; the topics default to ``/<robot>/cmd_vel`` and
        ``/<robot>/odom``
    :param cmd_topic: the command topic (overrides ``robot``)
    :param odom_topic: the odometry topic (overrides ``robot``)
    :param stamps: ``"log"`` (receipt times) or ``"header"`` (the messages' header stamps)
    :raises RecordingError: no bag, a topic missing or of another type, no overlap, a bad file
    """
    if stamps not in ("log", "header"):
        raise RecordingError(f"stamps = {stamps!r} must be 'log' or 'header'")
    name = robot.strip("/")
    cmd_topic = cmd_topic or (f"/{name}/cmd_vel" if name else "")
    odom_topic = odom_topic or (f"/{name}/odom" if name else "")
    path = Path(path)
    files = _mcap_files(path)
    series: dict[str, list[tuple[float, float, float]]] = {cmd_topic: [], odom_topic: []}
    found: dict[str, str] = {}
    try:
        for file in files:
            with open(file, "rb") as stream:
                reader = make_reader(stream, decoder_factories=[DecoderFactory()])
                summary = reader.get_summary()
                if summary is not None:
                    for channel in summary.channels.values():
                        found[channel.topic] = summary.schemas[channel.schema_id].name
                for topic, types in ((cmd_topic, COMMAND_TYPES),
                                     (odom_topic, (ODOMETRY_TYPE,))):
                    if topic in found and found[topic] not in types:
                        raise RecordingError(f"{topic} in {path} is {found[topic]}, not "
                                             f"{' or '.join(types)}")
                if not (cmd_topic and odom_topic):
                    continue                    # only list the topics for the error below
                for schema, channel, message, msg in reader.iter_decoded_messages(
                        topics=[cmd_topic, odom_topic]):
                    kind, topic = schema.name, channel.topic
                    if topic == cmd_topic and kind in COMMAND_TYPES:
                        twist = msg.twist if kind.endswith("Stamped") else msg
                    elif topic == odom_topic and kind == ODOMETRY_TYPE:
                        twist = msg.twist.twist
                    else:                       # a file without a summary
                        expected = " or ".join(COMMAND_TYPES) if topic == cmd_topic \
                            else ODOMETRY_TYPE
                        raise RecordingError(f"{topic} in {path} is {kind}, not {expected}")
                    if stamps == "log":
                        when = message.log_time * 1e-9
                    elif kind == "geometry_msgs/msg/Twist":
                        raise RecordingError(f"{topic} is a plain Twist (no header stamp): "
                                             "use log times (--stamps log)")
                    else:
                        when = _stamp(msg)
                    series[topic].append((when, twist.linear.x, twist.angular.z))
    except McapError as exc:
        raise RecordingError(f"cannot read {path}: {exc}") from exc
    for role, topic in (("command", cmd_topic), ("odometry", odom_topic)):
        if not topic or not series[topic]:
            listing = ", ".join(f"{k} ({v})" for k, v in sorted(found.items())) or "none"
            raise RecordingError(
                f"no {role} messages on {topic or '(no topic: give --robot or the topic)'} "
                f"in {path}; its topics: {listing}")
    cmd = np.array(sorted(series[cmd_topic]))
    odom = np.array(sorted(series[odom_topic]))
    if stamps == "header" and (cmd[0, 0] == 0.0 or odom[0, 0] == 0.0):
        raise RecordingError(f"{path}: a header stamp is zero (unstamped messages): use "
                             "log times (--stamps log)")
    odom = odom[np.concatenate(([True], np.diff(odom[:, 0]) > 0))]  # one sample per stamp
    valid, held = zero_order_hold(cmd[:, 0], cmd[:, 1:], odom[:, 0])
    if valid.sum() == 0:
        raise RecordingError(f"{path}: every odometry message is older than the first command;"
                             " start the recorder before the commands")
    odom, held = odom[valid], held[valid]
    return Recording(odom[:, 0] - odom[0, 0], held[:, 0], held[:, 1], odom[:, 1], odom[:, 2],
                     source=f"{path} ({cmd_topic}, {odom_topic}, {stamps} times)")
