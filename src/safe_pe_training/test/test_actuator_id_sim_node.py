"""Actuator identification against the simulator node: a recorded MCAP bag, header stamps.

The simulator node runs in-process in lock-step (its clock stands still, so its lock-step
timeout never fires: every step waits for both commands however slowly a loaded machine
runs), stamping with simulated time (``publish_clock``: the state after ``j`` steps is stamped
``j dt``). A driver in the test answers each state with the next command of the
identification manoeuvre for both robots, stamped with that state's stamp (as the safety
filter does; ``lock_step_match_stamp``), and the project's recorder node writes
``/<robot>/cmd_vel`` and ``/<robot>/odom`` to an MCAP bag. The driver answers a state only
once the recorder has written every message so far, so no message waits in a queue and the
bag holds every one of them: the run is the same on any machine. ``safe_pe_train identify
--stamps header`` must recover what the profile and the ``actuator.<role>.*`` parameters
configured: every limit within 10 %, the latency exactly.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from geometry_msgs.msg import TwistStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from safe_pe_cbf.actuator import ActuatorLimits  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402
from safe_pe_sim.ros.sim_node import SimulatorNode  # noqa: E402

from safe_pe_training.actuator_id import identify  # noqa: E402
from safe_pe_training.actuator_log import read_bag  # noqa: E402
from safe_pe_training.actuator_sim import manoeuvres, open_world, record_game  # noqa: E402
from safe_pe_training.cli import main  # noqa: E402
from safe_pe_training.ros.recorder_node import RecorderNode  # noqa: E402
from test_actuator_id_sim import LIMITS, assert_recovered, custom_game  # noqa: E402

P, E = f"pursuer_{os.getpid()}", f"evader_{os.getpid()}"  # unique topics per test run
WAIT = 120.0  # upper limit of every wait [s]: conditions (counts), not durations, end them


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=47)


def _stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_identify_from_a_bag_of_the_simulator_node(context, tmp_path, capsys):
    cfg = custom_game()
    commands = manoeuvres(cfg)
    world = open_world(cfg, len(commands) + 1)       # + the step before the recording
    evader = world.evader.actuator
    profile = world.copy()
    profile.evader.actuator = ActuatorLimits()        # the evader's come from parameters
    profile.to_yaml(tmp_path / "profile.yaml")
    sim = SimulatorNode(context=context, clock=lambda: 0.0, parameter_overrides=[
        Parameter("profile", value=str(tmp_path / "profile.yaml")), Parameter("seed", value=3),
        Parameter("mode", value="lock_step"), Parameter("lock_step_timeout", value=60.0),
        Parameter("cmd_type", value="twist_stamped"),
        Parameter("lock_step_match_stamp", value=True), Parameter("publish_clock", value=True),
        Parameter("auto_reset", value=False), Parameter("robots", value=[P, E]),
        *(Parameter(f"actuator.evader.{name}", value=value)
          for name, value in evader.to_dict().items())])
    assert [r.actuator for r in sim.game.config.robots()] == [cfg.pursuer.actuator, evader]
    driver = rclpy.create_node("driver", context=context)
    pubs = [driver.create_publisher(TwistStamped, f"/{name}/cmd_vel", 10) for name in (P, E)]
    odoms: list[dict[int, Odometry]] = [{}, {}]
    for a, name in enumerate((P, E)):
        driver.create_subscription(Odometry, f"/{name}/odom",
                                   lambda m, a=a: odoms[a].setdefault(_stamp_ns(m), m), 10_000)
    executor = SingleThreadedExecutor(context=context)
    for node in (sim, driver):
        executor.add_node(node)
    recorder = None
    dt_ns = round(cfg.dt * 1e9)

    def send(k: int, stamp_ns: int) -> None:
        """Both robots' command k, stamped with the state it answers."""
        for a, pub in enumerate(pubs):
            msg = TwistStamped()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
            msg.twist.linear.x, msg.twist.angular.z = (float(x) for x in commands[k, a])
            pub.publish(msg)

    def answered(j: int, count: int) -> bool:
        """State j's odometry reached the driver, and the recorder wrote ``count`` messages."""
        return (all(j * dt_ns in o for o in odoms)
                and (recorder is None or recorder.bag.message_count == count))

    try:
        assert spin_until(executor, lambda: all(p.get_subscription_count() for p in pubs)
                          and all(p.get_subscription_count() for p in sim.odom_pubs), WAIT)
        # One step standing still before recording: the first state is stamped 0, which
        # marks an unstamped message in a bag; the recording starts at state 1.
        commands = np.concatenate([np.zeros((1, 2, 2)), commands])
        send(0, 0)
        assert spin_until(executor, lambda: answered(1, 0), WAIT)
        recorder = RecorderNode(context=context, parameter_overrides=[
            Parameter("path", value=str(tmp_path / "bag")),
            Parameter("topics", value=",".join(f"/{r}/{t}" for r in (P, E)
                                               for t in ("cmd_vel", "odom"))),
            Parameter("discovery_period", value=0.05)])
        executor.add_node(recorder)
        assert spin_until(executor, lambda: len(recorder.bag.topics) == 4
                          and all(p.get_subscription_count() == 2 for p in pubs)
                          and all(p.get_subscription_count() == 2 for p in sim.odom_pubs),
                          WAIT), recorder.bag.topics
        for k in range(1, len(commands)):
            # state k is answered with command k; the recorder has the 2 odometry and the
            # 2 command messages of every earlier step
            assert spin_until(executor, lambda: answered(k, 4 * (k - 1)), WAIT), \
                (k, recorder.bag.message_count)
            send(k, k * dt_ns)
        n = len(commands) - 1
        assert spin_until(executor, lambda: answered(n + 1, 4 * n), WAIT)
        assert sim.total_steps == n + 1 and sim.violation_steps == 0
        assert sim.gate.late() == {P: 0, E: 0}
    finally:
        executor.shutdown()
        for node in (recorder, driver, sim):
            if node is not None:
                node.destroy_node()          # the recorder closes its bag

    # The bag gives back what the game records without ROS, row for row.
    expected = record_game(world, commands[1:], seed=3)
    for a, (name, robot) in enumerate(((P, cfg.pursuer), (E, cfg.evader))):
        rec = read_bag(tmp_path / "bag", robot=name, stamps="header")
        np.testing.assert_allclose(rec.t, expected[a].t - expected[a].t[0], atol=1e-6)
        for column in ("v_cmd", "w_cmd", "v_meas", "w_meas"):
            np.testing.assert_allclose(getattr(rec, column), getattr(expected[a], column),
                                       atol=1e-12, err_msg=column)
        assert_recovered(robot, cfg.dt, identify(**rec.arrays(), dt=cfg.dt))

    assert main(["identify", "--bag", str(tmp_path / "bag"), "--robot", E, "--stamps",
                 "header", "--dt", str(cfg.dt)]) == 0
    out = capsys.readouterr().out
    block = yaml.safe_load(out[out.index("actuator:"):])["actuator"]
    for name in LIMITS:
        assert abs(block[name] - getattr(evader, name)) <= 0.1 * getattr(evader, name), out
    assert block["latency_steps"] == evader.latency_steps == 2, out
