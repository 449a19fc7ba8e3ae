"""Actuator identification from an MCAP bag and through ``safe_pe_train identify``.

A run of the actuator model is written as the sim node and the recorder produce it: each
period the command (``geometry_msgs/Twist`` on ``/r/cmd_vel``, or ``TwistStamped``) arrives,
the base steps and its odometry (``nav_msgs/Odometry`` on ``/r/odom``, twist = the held
velocity) follows; written with the project's :class:`BagWriter` (rosbag2 layout) at given
log times, the messages serialized by rclpy. Reading it back must give the commands held at
the odometry times and the configured limits.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")

from geometry_msgs.msg import Twist, TwistStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
from safe_pe_cbf.actuator import ActuatorLimits  # noqa: E402

from safe_pe_training.actuator_id import RecordingError, identify  # noqa: E402
from safe_pe_training.actuator_log import read_bag, read_csv, write_csv  # noqa: E402
from safe_pe_training.bag import BagWriter  # noqa: E402
from safe_pe_training.cli import main  # noqa: E402
from safe_pe_training.actuator_sim import model_recording, step_commands  # noqa: E402
from test_actuator_id import NOISE  # noqa: E402

LIMITS = ActuatorLimits(2.5, 3.0, 3.2, 1)
DT = 0.05
T0 = 1_700_000_000 * 10**9          # log times [ns]: an epoch time, as a recorder writes


def _stamp(msg, ns: int) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 10**9)


def write_run(path, stamped: bool = False):
    """The model's run as a bag; returns the recording it was made from."""
    rng = np.random.default_rng(5)
    v_cmd, w_cmd = step_commands(1.0, 2.0, DT, 1.5, 2, rng)
    rec = model_recording(LIMITS, DT, v_cmd, w_cmd, NOISE, rng)
    bag = BagWriter(path)
    bag.add_topic("/r/cmd_vel", f"geometry_msgs/msg/{'TwistStamped' if stamped else 'Twist'}")
    bag.add_topic("/r/odom", "nav_msgs/msg/Odometry")
    bag.add_topic("/r/other", "nav_msgs/msg/Odometry")
    for k in range(rec.t.size):
        tick = T0 + round(rec.t[k] * 1e9)
        cmd = TwistStamped() if stamped else Twist()
        twist = cmd.twist if stamped else cmd
        twist.linear.x, twist.angular.z = float(rec.v_cmd[k]), float(rec.w_cmd[k])
        if stamped:
            _stamp(cmd, tick - 3_000_000)
        # the command arrives 3 ms before the step, the odometry 2 ms after it
        bag.write("/r/cmd_vel", serialize_message(cmd), log_time=tick - 3_000_000)
        odom = Odometry()
        _stamp(odom, tick)
        odom.twist.twist.linear.x = float(rec.v_meas[k])
        odom.twist.twist.angular.z = float(rec.w_meas[k])
        bag.write("/r/odom", serialize_message(odom), log_time=tick + 2_000_000)
    bag.close()
    return rec


@pytest.mark.parametrize("stamped, stamps", [(False, "log"), (True, "log"), (True, "header")])
def test_bag_round_trip_recovers_the_limits(tmp_path, stamped, stamps):
    rec = write_run(tmp_path / "run", stamped)
    back = read_bag(tmp_path / "run", robot="r", stamps=stamps)
    np.testing.assert_allclose(back.t, rec.t, atol=1e-6)
    for name in ("v_cmd", "w_cmd", "v_meas", "w_meas"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rec, name))
    est = identify(**back.arrays(), dt=DT)
    for name in ("linear_accel", "linear_decel", "angular_accel"):
        assert abs(getattr(est, name).value / getattr(LIMITS, name) - 1.0) <= 0.1
    assert est.latency_steps == LIMITS.latency_steps
    # the .mcap file alone reads the same
    alone = read_bag(tmp_path / "run" / "run_0.mcap", cmd_topic="/r/cmd_vel",
                     odom_topic="/r/odom", stamps=stamps)
    np.testing.assert_array_equal(alone.v_meas, back.v_meas)


def test_bag_errors_name_the_topics_and_the_fix(tmp_path):
    write_run(tmp_path / "run")
    with pytest.raises(RecordingError, match=r"no command messages on /x/cmd_vel.*/r/odom "
                                             r"\(nav_msgs/msg/Odometry\)"):
        read_bag(tmp_path / "run", robot="x")
    with pytest.raises(RecordingError, match="give --robot"):
        read_bag(tmp_path / "run")
    with pytest.raises(RecordingError, match="plain Twist"):
        read_bag(tmp_path / "run", robot="r", stamps="header")
    with pytest.raises(RecordingError, match="is nav_msgs/msg/Odometry, not geometry_msgs"):
        read_bag(tmp_path / "run", cmd_topic="/r/other", odom_topic="/r/odom")
    with pytest.raises(RecordingError, match="no bag at"):
        read_bag(tmp_path / "missing", robot="r")
    (tmp_path / "old.db3").write_text("sqlite")
    with pytest.raises(RecordingError, match="ros2 bag convert"):
        read_bag(tmp_path / "old.db3", robot="r")
    (tmp_path / "run" / "metadata.yaml").write_text("just text")
    with pytest.raises(RecordingError, match="not rosbag2 metadata"):
        read_bag(tmp_path / "run", robot="r")
    (tmp_path / "broken.mcap").write_bytes(b"not an mcap file")
    with pytest.raises(RecordingError, match="cannot read"):
        read_bag(tmp_path / "broken.mcap", robot="r")


def test_cli_identify_prints_the_yaml_to_paste(tmp_path, capsys):
    write_run(tmp_path / "run")
    exported = tmp_path / "run.csv"
    assert main(["identify", "--bag", str(tmp_path / "run"), "--robot", "r", "--dt",
                 str(DT), "--export-csv", str(exported)]) == 0
    out = capsys.readouterr().out
    block = yaml.safe_load(out[out.index("actuator:"):])["actuator"]
    pasted = ActuatorLimits.from_dict(block)
    assert pasted.latency_steps == 1 and abs(pasted.linear_decel / 3.0 - 1.0) <= 0.1
    # the exported CSV gives the same estimate through --csv
    assert main(["identify", "--csv", str(exported), "--dt", str(DT)]) == 0
    again = capsys.readouterr().out
    assert again[again.index("actuator:"):] == out[out.index("actuator:"):]


def test_cli_identify_errors_exit_1_with_the_reason(tmp_path, capsys):
    rec = constant_recording(tmp_path)
    write_csv(tmp_path / "flat.csv", rec)
    assert main(["identify", "--csv", str(tmp_path / "flat.csv")]) == 1
    err = capsys.readouterr().err
    assert "safe_pe_train identify: error:" in err and "brake from speed" in err
    assert main(["identify", "--csv", str(tmp_path / "nothing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err


def constant_recording(tmp_path):
    """A recording of constant commands (nothing to identify), through a CSV file."""
    n = 100
    path = tmp_path / "const.csv"
    path.write_text("t,v_cmd,w_cmd,v_meas,w_meas\n"
                    + "".join(f"{0.05 * k},0.5,0,0.5,0\n" for k in range(n)))
    return read_csv(path)
