"""Fixtures of the launch_pytest tests: an isolated ROS domain and an in-process probe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / 'graph'))

from graph_harness import Probe, isolated_env, unique_domain_id  # noqa: E402

@pytest.fixture()
def launch_env(tmp_path, monkeypatch):
    """Isolate this test's graph: own domain id, localhost discovery, logs/temp in tmp_path.

    Applied to os.environ, which the launch service passes to the processes it starts.
    """
    env = isolated_env(tmp_path, unique_domain_id())
    for key in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOG_DIR', 'TMPDIR',
                'PYTHONUNBUFFERED', 'RCUTILS_LOGGING_BUFFERED_STREAM', 'MPLBACKEND',
                'OMP_NUM_THREADS'):
        monkeypatch.setenv(key, env[key])
    return tmp_path


@pytest.fixture()
def launch_probe(launch_env):
    """An in-process node recording topics of the test's domain."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    probe = Probe(context)
    yield probe
    probe.close()
    rclpy.try_shutdown(context=context)
