"""Fixtures of the multi-process graph tests: an isolated domain, a graph, a probe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_harness import Graph, Probe, isolated_env, unique_domain_id  # noqa: E402


@pytest.fixture()
def ros_domain(tmp_path, monkeypatch):
    """Environment of one test's ROS graph; also applied to this process (for the probe)."""
    pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
    pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built')
    env = isolated_env(tmp_path, unique_domain_id())
    for key in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOG_DIR'):
        monkeypatch.setenv(key, env[key])
    return env


@pytest.fixture()
def graph(tmp_path, ros_domain):
    """Processes started by the test; all stopped at the end (SIGINT, then SIGKILL)."""
    g = Graph(tmp_path, ros_domain)
    yield g
    g.close()


@pytest.fixture()
def probe(ros_domain):
    """An in-process node recording topics of the test's domain."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    p = Probe(context)
    yield p
    p.close()
    rclpy.try_shutdown(context=context)
