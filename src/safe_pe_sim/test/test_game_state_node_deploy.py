"""The game-state node in the deploy graph: filter + policy + game state drive a robot.

Uses the deploy graph spec (``launch/deploy_filter.launch.py with_game_state:=true``) and the
multi-process harness of ``tests/graph`` (each node its own ``python -m`` process with the
repository's parameter files). The test plays both robot bases: it publishes both robots'
odometry at 20 Hz, integrates the pursuer with the safe ``cmd_vel`` it gets back, and lets
the evader stand still. Then the evader's odometry stops.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")
graph_spec = pytest.importorskip("safe_pe_training.ros.graph_spec",
                                 reason="safe_pe_training (deploy graph spec) is not installed")

HARNESS = Path(__file__).resolve().parents[3] / "tests" / "graph"
if not (HARNESS / "graph_harness.py").is_file():
    pytest.skip("tests/graph/graph_harness.py not found (not a repository checkout)",
                allow_module_level=True)
sys.path.insert(0, str(HARNESS))

from geometry_msgs.msg import Twist  # noqa: E402
from graph_harness import Graph, Probe, isolated_env  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from safe_pe_cbf.ros_common.conversions import quaternion_from_yaw  # noqa: E402
from safe_pe_msgs.msg import GameState  # noqa: E402

from safe_pe_sim.dynamics import unicycle_step_scalar  # noqa: E402

deploy_graph = graph_spec.deploy_graph
P, E = f"gsd_p{os.getpid()}", f"gsd_e{os.getpid()}"  # unique robot names per test run
RATE = 20.0
WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them


def test_deploy_graph_with_game_state_is_optional_and_checked():
    plain = deploy_graph(robot="tb3_0", role="evader")
    assert [s.key for s in plain] == ["filter/tb3_0"]
    specs = {s.key: s for s in deploy_graph(robot="tb3_0", role="evader", use_policy=True,
                                            with_game_state=True, other_robot="tb3_1")}
    assert list(specs) == ["filter/tb3_0", "policy/tb3_0", "game_state"]
    gs = specs["game_state"]
    assert gs.node.module == "safe_pe_sim.ros.game_state_node" and gs.namespace == ""
    assert gs.overrides["robots"] == ["tb3_1", "tb3_0"]  # pursuer first
    assert [p.name for p in gs.param_files] == ["game_state_node.yaml", "arena_example.yaml"]
    assert gs.param_files[1] == specs["filter/tb3_0"].param_files[1]  # one arena file
    default = {s.key: s for s in deploy_graph(robot="pursuer", with_game_state=True)}
    assert default["game_state"].overrides["robots"] == ["pursuer", "evader"]
    with pytest.raises(ValueError, match="other_robot must differ"):
        deploy_graph(robot="tb3_0", role="pursuer", with_game_state=True, other_robot="tb3_0")
    with pytest.raises(ValueError, match="other_robot must be a valid ROS name"):
        deploy_graph(robot="tb3_0", role="pursuer", with_game_state=True, other_robot="1x")


def _odom(pose, v: float, omega: float) -> Odometry:
    msg = Odometry()
    msg.header.frame_id, msg.child_frame_id = "odom", "base_footprint"
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(pose[0]), float(pose[1])
    msg.pose.pose.orientation = quaternion_from_yaw(float(pose[2]))
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, omega
    return msg


@pytest.fixture()
def env(tmp_path, monkeypatch):
    domain = 1 + (os.getpid() * 31 + 57) % 101
    environment = isolated_env(tmp_path, domain)
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR"):
        monkeypatch.setenv(key, environment[key])
    return environment


def test_policy_drives_a_robot_from_odometry_and_stops_without_it(tmp_path, env):
    import rclpy

    specs = {s.key: s for s in deploy_graph(robot=P, role="pursuer", use_policy=True,
                                            with_game_state=True, other_robot=E)}
    # The filter's arena file puts the pursuer's odometry origin at (-1.5, 0, 0): the
    # game-state node gets the same offset; the evader reports arena-frame poses.
    specs["game_state"].overrides["pursuer_odom_offset"] = [-1.5, 0.0, 0.0]
    specs[f"policy/{P}"].overrides["fallback"] = "pure_pursuit"  # no checkpoint: a baseline
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = Probe(context)
    graph = Graph(tmp_path, env)
    try:
        probe.watch("/safe_pe/game_state", GameState, 100)
        probe.watch(f"/{P}/cmd_vel", Twist, 100)
        probe.watch(f"/{P}/cmd_vel_nominal", Twist, 100)
        odom_p = probe.node.create_publisher(Odometry, f"/{P}/odom", 10)
        odom_e = probe.node.create_publisher(Odometry, f"/{E}/odom", 10)
        for spec in specs.values():
            graph.start(spec)
        probe.wait_for(lambda: odom_p.get_subscription_count() >= 2
                       and odom_e.get_subscription_count() >= 1, 2 * WAIT,
                       "filter and game-state node to subscribe to odometry", graph)
        pose = np.zeros(3)                       # odometry frame of the pursuer
        evader = np.array([1.2, -0.8, 0.0])      # arena frame
        cmd = {"v": 0.0, "w": 0.0}

        def on_cmd(msg: Twist) -> None:
            cmd["v"], cmd["w"] = msg.linear.x, msg.angular.z
        probe.node.create_subscription(Twist, f"/{P}/cmd_vel", on_cmd, 10)

        def play(steps: int, evader_alive: bool = True, drive: bool = True) -> None:
            """``steps`` odometry periods (the pace only: what is asserted counts steps or
            waits for conditions, never for a wall-clock duration)."""
            nonlocal pose
            for _ in range(steps):
                odom_p.publish(_odom(pose, cmd["v"], cmd["w"]))
                if evader_alive:
                    odom_e.publish(_odom(evader, 0.0, 0.0))
                time.sleep(1.0 / RATE)
                if drive:
                    pose = np.array(unicycle_step_scalar(*pose, cmd["v"], cmd["w"], 1.0 / RATE))

        def until(predicate, what: str, **kwargs) -> None:
            end = time.monotonic() + WAIT
            while not predicate():
                assert time.monotonic() < end, f"no {what} within {WAIT} s\n" + graph.logs()
                play(1, **kwargs)

        until(lambda: len(probe.get(f"/{P}/cmd_vel")) >= 10, "commands driving the robot")
        states = probe.get("/safe_pe/game_state")
        assert states, "no game state\n" + graph.logs()
        first = states[-1]
        # drive until the game state shows the pursuer 0.3 m closer (a loaded machine delays
        # commands, so the steps this takes vary; WAIT only bounds a policy that never chases)
        until(lambda: probe.get("/safe_pe/game_state")[-1].distance < first.distance - 0.3,
              "the policy closing in on the evader")
        # The robot stands still until the newest game state shows its final pose (the
        # offset applied): a state lags the odometry by the transport's latency.
        until(lambda: probe.get("/safe_pe/game_state")[-1].pursuer.x
              == pytest.approx(pose[0] - 1.5, abs=1e-9), "game state at the final pose",
              drive=False)
        states = probe.get("/safe_pe/game_state")
        last = states[-1]
        assert last.pursuer.agent_id == P and last.evader.agent_id == E
        assert last.evader.x == pytest.approx(1.2) and last.evader.y == pytest.approx(-0.8)
        assert last.distance < first.distance - 0.3  # the policy chased the evader
        assert not any(s.violation for s in states)
        assert max(abs(c.linear.x) for c in probe.get(f"/{P}/cmd_vel")) <= 0.22 + 1e-9

        # The evader's odometry stops: game states stop, then the policy's nominal commands
        # and with them the filter's safe commands (all three quiet for 1.5 s while the
        # pursuer's odometry keeps coming).
        def quiet() -> bool:
            since = time.monotonic() - 1.5
            return not any(probe.since(topic, since) for topic in (
                "/safe_pe/game_state", f"/{P}/cmd_vel_nominal", f"/{P}/cmd_vel"))

        until(quiet, "silence after the evader's odometry stopped", evader_alive=False)
        assert all(graph.alive(k) for k in specs), graph.logs()
    finally:
        graph.close()
        probe.close()
        rclpy.try_shutdown(context=context)
