"""Helpers for tests of safe_pe nodes: an isolated rclpy context, spinning until a condition,
and stopping a node process in the middle of traffic.

Tests of every safe_pe package use these (the other packages depend on safe_pe_cbf), so DDS
isolation is done one way everywhere: a test-specific ``ROS_DOMAIN_ID``, discovery kept on
this host (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``; ``ROS_LOCALHOST_ONLY`` is ignored since
Kilted) and ROS logs in the test's temporary directory instead of ``$HOME``.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import rclpy
from rclpy.context import Context


def test_domain_id(salt: int) -> int:
    """A ``ROS_DOMAIN_ID`` in 1..100 derived from this process and ``salt``.

    :param salt: a number per test module, so modules of concurrent test processes differ.
    """
    return 1 + (os.getpid() * (2 * salt + 1) + salt) % 100


def isolated_context(tmp_path: Path, monkeypatch: Any, salt: int) -> Iterator[Context]:
    """Generator for a pytest fixture: an initialised, isolated rclpy context.

    Use as ``yield from isolated_context(tmp_path, monkeypatch, salt=17)`` in a fixture; the
    context is shut down when the fixture ends.

    :param tmp_path: the test's temporary directory (ROS logs go below it).
    :param monkeypatch: pytest's monkeypatch (the environment is restored afterwards).
    :param salt: see :func:`test_domain_id`.
    """
    monkeypatch.setenv("ROS_DOMAIN_ID", str(test_domain_id(salt)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_LOG_DIR", str(tmp_path / "ros_log"))
    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


def spin_until(executor: Any, predicate: Callable[[], bool], timeout: float = 10.0,
               every: Callable[[], None] | None = None, period: float = 0.01) -> bool:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout`` seconds have passed.

    :param executor: an rclpy executor with the nodes under test.
    :param predicate: condition checked after each spin.
    :param timeout: seconds to wait at most.
    :param every: optional action run before each spin (e.g. publish the next message).
    :param period: longest wait of one ``spin_once`` [s].
    :return: whether the condition became true.
    """
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if every is not None:
            every()
        executor.spin_once(timeout_sec=period)
        if predicate():
            return True
    return False


# Lines a clean shutdown never prints (rclpy logs a callback's exception as FATAL).
SHUTDOWN_NOISE = ("Traceback", "FATAL", "never retrieved")


def stop_under_traffic(executor: Any, command: Sequence[str], log_path: Path,
                       ready: Callable[[], bool], traffic: Callable[[], None],
                       sig: int, timeout: float = 60.0) -> tuple[int, str]:
    """Start a node process, wait for its first output, signal it while traffic flows.

    The traffic keeps flowing (``traffic()`` before every ``spin_once``) from the start until
    the process has exited, so the signal arrives while the node is busy with callbacks. No
    sleep decides anything: the node's first output (``ready``) and its exit are awaited;
    ``timeout`` only guards against a hang.

    :param executor: spins the test's own node (publishers of the traffic, subscribers of
        the output).
    :param command: the node process (e.g. ``[sys.executable, "-m", "pkg.node", ...]``).
    :param log_path: where the process's stdout and stderr go.
    :param ready: true once the node published its first output.
    :param traffic: publishes one round of input messages.
    :param sig: the signal to send (``signal.SIGINT`` or ``signal.SIGTERM``).
    :param timeout: longest wait for the first output and, separately, for the exit [s].
    :return: the exit code and the process's output.
    :raises AssertionError: if the node never published or did not exit (it is killed).
    """
    with open(log_path, "w") as log:
        proc = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT)
    try:
        if not spin_until(executor, ready, timeout, every=traffic):
            raise AssertionError(f"no output from {command}: {log_path.read_text()}")
        proc.send_signal(sig)
        end = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < end:
            traffic()
            executor.spin_once(timeout_sec=0.01)
        if proc.poll() is None:
            raise AssertionError(f"{command} did not exit {timeout:g} s after signal {sig}: "
                                 f"{log_path.read_text()}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, log_path.read_text()
