"""The executor choice of the filter node's main(): parsing, and the events executor in use;
the exit codes of ``spin_until_shutdown``, the runner of every other node's main().

The two-process test runs ``python -m safe_pe_cbf.ros.filter_node`` with the default
(events) executor and checks what a robot relies on besides filtering (covered per executor in
test_filter_node_two_process): it sleeps while idle instead of busy-looping a core, its
parameter services answer (a bad value is refused with the reason, a good one applied), its
nominal-command watchdog timer publishes zero commands when the policy goes silent, and
SIGTERM makes it publish a zero command and exit 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")
psutil = pytest.importorskip("psutil", reason="psutil is in requirements.txt: scripts/setup.sh")

from geometry_msgs.msg import Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from safe_pe_msgs.msg import SafetyStatus  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from safe_pe_cbf.ros_common.conversions import odometry_message  # noqa: E402
from safe_pe_cbf.ros_common.executors import (  # noqa: E402
    EXECUTOR_ENV,
    executor_kind,
    make_executor,
)
from safe_pe_cbf.ros.filter_node import DEFAULT_EXECUTOR, main  # noqa: E402
from safe_pe_cbf.ros_common.executors import spin_until_shutdown  # noqa: E402
from safe_pe_cbf.ros_common.params import ParameterError  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402
from safe_pe_cbf.ros_common.testing import test_domain_id as domain_id  # noqa: E402

NS = f"exec_{os.getpid()}"
WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them
PARAMS = """/**:
  ros__parameters:
    state_source: odom
    arena_source: parameters
    arena.x_min: 0.0
    arena.x_max: 4.0
    arena.y_min: 0.0
    arena.y_max: 4.0
    state_timeout: 10.0
    cbf.dt: 0.05
    nominal_timeout: 0.2
    zero_hold: 0.3
"""


@pytest.fixture()
def ros_env(tmp_path, monkeypatch):
    for ctx in isolated_context(tmp_path, monkeypatch, salt=17):
        yield ctx, tmp_path


def test_executor_kind_from_flag_environment_or_default(monkeypatch):
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert executor_kind(None, "events") == "events"
    assert executor_kind(["prog", "--ros-args", "-r", "__ns:=/a"], "single") == "single"
    assert executor_kind(["prog", "--executor", "single", "--ros-args"], "events") == "single"
    assert executor_kind(["prog", "--executor=events"], "single") == "events"
    # after --ros-args everything is rclpy's
    assert executor_kind(["prog", "--ros-args", "--executor", "single"], "events") == "events"
    monkeypatch.setenv(EXECUTOR_ENV, "single")
    assert executor_kind(["prog"], "events") == "single"
    assert executor_kind(["prog", "--executor", "events"], "single") == "events"  # flag wins
    monkeypatch.setenv(EXECUTOR_ENV, "multi")
    with pytest.raises(ValueError, match=f"{EXECUTOR_ENV}.*events"):
        executor_kind(["prog"], "events")
    with pytest.raises(ValueError, match="needs a value"):
        executor_kind(["prog", "--executor"], "events")
    with pytest.raises(ValueError, match="unknown executor 'fast'"):
        executor_kind(["prog", "--executor", "fast"], "events")


def test_make_executor_kinds(ros_env):
    ctx, _ = ros_env
    assert isinstance(make_executor("single", ctx), SingleThreadedExecutor)
    events = make_executor("events", ctx)
    assert type(events).__name__ == "EventsExecutor"
    events.shutdown()
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("multi", ctx)


def test_main_refuses_an_unknown_executor_before_starting(monkeypatch):
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["safe_pe_filter_node", "--executor", "fastest", "--ros-args"])
    assert exc.value.code == 2


def test_events_main_sleeps_when_idle_answers_parameters_and_stops_the_robot(ros_env,
                                                                              monkeypatch):
    ctx, tmp_path = ros_env
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert DEFAULT_EXECUTOR == "events"
    params = tmp_path / "filter.yaml"
    params.write_text(PARAMS)
    log_path = tmp_path / "filter_node.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "safe_pe_cbf.ros.filter_node", "--ros-args",
         "-r", f"__ns:=/{NS}", "--params-file", str(params)],
        stdout=log, stderr=subprocess.STDOUT)
    node = rclpy.create_node("policy", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    cmds: list[tuple[float, Twist]] = []
    statuses: list[SafetyStatus] = []
    node.create_subscription(Twist, f"/{NS}/cmd_vel",
                             lambda m: cmds.append((time.monotonic(), m)), 50)
    node.create_subscription(SafetyStatus, f"/{NS}/safety_status", statuses.append, 50)
    odom_pub = node.create_publisher(Odometry, f"/{NS}/odom", 10)
    nominal_pub = node.create_publisher(Twist, f"/{NS}/cmd_vel_nominal", 10)
    params_client = AsyncParameterClient(node, f"/{NS}/safety_filter")
    nominal = Twist()
    nominal.linear.x = 0.2

    def call(future):
        assert spin_until(executor, future.done, WAIT), "no answer from the parameter service"
        return future.result()

    try:
        assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                           and odom_pub.get_subscription_count() > 0, WAIT), log_path.read_text()

        # Idle (no commands; its timers and the diagnostics still run): no busy loop. A busy
        # loop costs ~100 % of a core; an idle node a few %.
        filter_proc = psutil.Process(proc.pid)
        filter_proc.cpu_percent()
        time.sleep(1.5)
        idle = filter_proc.cpu_percent()
        assert idle < 40.0, f"idle filter node uses {idle:.0f} % of a core"

        # Parameter services answer through the events executor.
        assert params_client.wait_for_services(timeout_sec=WAIT)
        results = call(params_client.set_parameters([Parameter("cbf.v_min", value=5.0)]))
        assert not results.results[0].successful and "v_min" in results.results[0].reason
        results = call(params_client.set_parameters([Parameter("cbf.v_max", value=0.5)]))
        assert results.results[0].successful, results.results[0].reason
        values = call(params_client.get_parameters(["cbf.v_max"])).values
        assert values[0].double_value == 0.5

        # The policy drives, then goes silent: the watchdog timer sends zeros, then silence.
        # Each command waits for its answer; until the filter has the odometry (best effort,
        # and no order across topics) it answers STOP, so odometry goes out with every one.
        end = time.monotonic() + WAIT
        while sum(m.linear.x > 0.0 for _, m in cmds) < 5:
            assert time.monotonic() < end, "the filter never passed the policy's commands"
            odom_pub.publish(odometry_message([1.0, 1.0, 0.0], (0.0, 0.0), Header(), "base"))
            answered = len(statuses)
            t_silent = time.monotonic()  # before the last command: it reached the filter later
            nominal_pub.publish(nominal)
            assert spin_until(executor, lambda: len(statuses) > answered, WAIT)
        # every answer's command is in (one per status, in order; no order across topics)
        answered = len(statuses)
        assert spin_until(executor, lambda: len(cmds) >= answered, WAIT)
        # (on a slow machine the watchdog may already fire between two nominal commands:
        # what counts is what comes after the last one)
        assert max(m.linear.x for _, m in cmds) == pytest.approx(0.2)
        driving = max(i for i, (_, m) in enumerate(cmds) if m.linear.x > 0.0) + 1
        assert spin_until(executor, lambda: len(cmds) > driving and any(
            s.tier == SafetyStatus.TIER_STOP and "timed out" in s.reason
            for s in statuses), WAIT)
        zeros = cmds[driving:]
        assert zeros and all(m.linear.x == 0.0 and m.angular.z == 0.0 for _, m in zeros)
        # not before nominal_timeout (0.2 s) after the filter got the last command, which was
        # after t_silent (both clocks are CLOCK_MONOTONIC)
        assert zeros[0][0] - t_silent >= 0.2 - 1e-3

        # SIGTERM: one zero command on the way out, exit 0.
        count = len(cmds)
        proc.send_signal(signal.SIGTERM)
        assert spin_until(executor, lambda: len(cmds) > count, WAIT)
        assert cmds[-1][1].linear.x == 0.0 and cmds[-1][1].angular.z == 0.0
        assert proc.wait(timeout=WAIT) == 0, log_path.read_text()
        assert "executor: events" in log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        executor.shutdown()
        node.destroy_node()


def test_spin_until_shutdown_refuses_an_unknown_executor(monkeypatch):
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)

    def never_built() -> None:
        raise AssertionError("the node must not be built with a bad --executor")

    with pytest.raises(SystemExit) as exc:
        spin_until_shutdown(never_built, "test", ["prog", "--executor", "turbo", "--ros-args"])
    assert exc.value.code == 2


class _DoneNode(Node):
    """Finished as soon as it is built (its ``done`` event is set), with ``error`` as given;
    records in ``teardowns`` that it was destroyed."""

    def __init__(self, error: str, teardowns: list[str]) -> None:
        super().__init__("runner_probe")
        self.error = error
        self.done = threading.Event()
        self.done.set()
        self._teardowns = teardowns

    def destroy_node(self) -> None:
        self._teardowns.append(self.error or "clean")
        super().destroy_node()


@pytest.fixture()
def runner_env(tmp_path, monkeypatch):
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id(53)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_LOG_DIR", str(tmp_path / "ros_log"))


@pytest.mark.parametrize("threads", [None, 2])
def test_spin_until_shutdown_ends_on_done_with_the_nodes_exit_code(runner_env, threads):
    teardowns: list[str] = []
    spin_until_shutdown(lambda: _DoneNode("", teardowns), "test", ["prog"], threads=threads,
                        done=lambda node: node.done)  # code 0: returns
    with pytest.raises(SystemExit) as exc:
        spin_until_shutdown(lambda: _DoneNode("training failed", teardowns), "test", ["prog"],
                            threads=threads, done=lambda node: node.done)
    assert exc.value.code == 1
    assert teardowns == ["clean", "training failed"]  # destroyed cleanly both times
    assert not rclpy.ok()  # and rclpy shut down


def test_spin_until_shutdown_exit_codes_of_start_up_and_runtime_errors(runner_env, capfd):
    def bad_parameter() -> Node:
        raise ParameterError("invalid parameter rate: -1 is below 0")

    def broken() -> Node:
        raise RuntimeError("no such device")

    def failing_timer() -> Node:
        node = Node("runner_probe")

        def fail() -> None:
            raise RuntimeError("callback broke")

        node.create_timer(0.001, fail)
        return node

    for make_node, code, said in ((bad_parameter, 2, "invalid parameter rate"),
                                  (broken, 1, "no such device"),
                                  (failing_timer, 1, "callback broke")):
        with pytest.raises(SystemExit) as exc:
            spin_until_shutdown(make_node, "test", ["prog"])
        assert exc.value.code == code
        assert said in capfd.readouterr().err
        assert not rclpy.ok()
