"""Multi-process ROS graph harness for tests that run without ROS 2 ``launch``.

Starts each node as its own process (``python -m <module> --ros-args ...``) from the same
node specs and parameter files as the launch files, in an isolated DDS domain
(unique ``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, logs and temp files
under the test's tmp dir), and stops them with SIGINT (SIGKILL of the process group as a
last resort). A :class:`Probe` node in the test process watches topics.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from safe_pe_training.ros.graph_spec import NodeSpec

_COUNTER = itertools.count()


def unique_domain_id() -> int:
    """A ROS domain id in [1, 101] that differs between tests of this process and between
    processes (pid-based); 0 (the default domain) is never used."""
    return 1 + (os.getpid() * 7 + next(_COUNTER) * 17) % 101


def isolated_env(tmp: Path, domain_id: int) -> dict[str, str]:
    """Environment for ROS processes of one test.

    :param tmp: the test's temporary directory.
    :param domain_id: its ROS domain id.
    """
    env = dict(os.environ)
    (tmp / 'ros_log').mkdir(parents=True, exist_ok=True)
    (tmp / 'tmp').mkdir(parents=True, exist_ok=True)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_LOG_DIR=str(tmp / 'ros_log'), TMPDIR=str(tmp / 'tmp'),
               PYTHONUNBUFFERED='1', RCUTILS_LOGGING_BUFFERED_STREAM='0',
               RCUTILS_COLORIZED_OUTPUT='0', MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    env.pop('ROS_LOCALHOST_ONLY', None)
    return env


class Graph:
    """Processes of one test's ROS graph.

    :param tmp: the test's temporary directory (logs go to ``tmp/logs/<key>.log``).
    :param env: environment of every process (see :func:`isolated_env`).
    """

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, Path] = {}
        (tmp / 'logs').mkdir(parents=True, exist_ok=True)

    def start(self, spec: NodeSpec) -> subprocess.Popen:
        """Start one node as its own process group.

        :param spec: the node.
        """
        log = self.tmp / 'logs' / f'{spec.key.replace("/", "_")}.log'
        handle = open(log, 'w')  # noqa: SIM115 - closed when the process ends
        proc = subprocess.Popen(spec.command(sys.executable), env=self.env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        self.procs[spec.key] = proc
        self._logs[spec.key] = log
        return proc

    def log(self, key: str) -> str:
        """Everything a process printed so far."""
        return self._logs[key].read_text(errors='replace')

    def logs(self) -> str:
        """All logs, for assertion messages (last 3000 characters of each)."""
        return '\n'.join(f'----- {k} (rc={p.poll()}) -----\n{self.log(k)[-3000:]}'
                         for k, p in self.procs.items())

    def alive(self, key: str) -> bool:
        """Whether the process is still running."""
        return self.procs[key].poll() is None

    def interrupt(self, key: str, timeout: float = 15.0) -> int | None:
        """SIGINT one process (as Ctrl-C) and wait for it; SIGKILL its group if it hangs.

        :param key: node key.
        :param timeout: seconds to wait for a clean exit.
        :return: its exit code (None if it had to be killed).
        """
        proc = self.procs[key]
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(key)
                return None
        return proc.returncode

    def kill(self, key: str) -> None:
        """SIGKILL the process group of one node (a crash, from the graph's view)."""
        proc = self.procs[key]
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def close(self) -> None:
        """Stop every process: SIGINT all, wait, then SIGKILL the groups still alive."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        end = time.monotonic() + 15.0
        for key, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(key)
        for proc in self.procs.values():   # children of a node that exited on its own
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Probe:
    """An rclpy node in the test process, spinning in a thread, that records messages.

    :param context: an initialised rclpy context (in the test's domain).
    """

    def __init__(self, context: Any) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.node = rclpy.create_node('graph_probe', context=context)
        self.lock = threading.Lock()
        self.messages: dict[str, list[tuple[float, Any]]] = {}
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - context shut down at the end of the test
                return

    def watch(self, topic: str, msg_type: type, qos: Any = 50) -> None:
        """Record every message on a topic (with its arrival time).

        :param topic: absolute topic name.
        :param msg_type: message class.
        :param qos: QoS profile or depth.
        """
        with self.lock:
            self.messages.setdefault(topic, [])

        def store(msg: Any) -> None:
            with self.lock:
                self.messages[topic].append((time.monotonic(), msg))
        self.node.create_subscription(msg_type, topic, store, qos)

    def get(self, topic: str) -> list[Any]:
        """Messages received so far on a watched topic."""
        with self.lock:
            return [m for _, m in self.messages[topic]]

    def since(self, topic: str, t0: float) -> list[Any]:
        """Messages received after monotonic time ``t0``."""
        with self.lock:
            return [m for t, m in self.messages[topic] if t >= t0]

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str,
                 graph: Graph | None = None) -> None:
        """Wait until ``predicate()`` is true; fail with the graph's logs otherwise.

        :param predicate: condition over the recorded messages.
        :param timeout: seconds.
        :param what: description for the failure message.
        :param graph: the graph whose logs explain a failure.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            if graph is not None:
                dead = [k for k, p in graph.procs.items() if p.poll() not in (None, 0)]
                if dead:
                    raise AssertionError(f'{dead} exited while waiting for {what}\n'
                                         f'{graph.logs()}')
            time.sleep(0.05)
        raise AssertionError(f'timed out after {timeout} s waiting for {what}\n'
                             + (graph.logs() if graph is not None else ''))

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._executor.shutdown()
        self.node.destroy_node()
