"""Simulator + two safety-filter nodes from the game state, adversarial policies, lock-step.

The pursuer's policy charges the evader at full speed; the evader's policy drives at the
nearest obstacle at full speed. Both filters read their own state, the opponent and the arena
from ``/safe_pe/game_state``. The simulator's sub-stepped ground truth must report no
violation on any step.
"""

from __future__ import annotations

import math
import os
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from safe_pe_msgs.msg import Arena, CircleObstacle, GameState, SafetyStatus  # noqa: E402
from safe_pe_msgs.srv import ResetEpisode  # noqa: E402

from safe_pe_cbf.ros.filter_node import SafetyFilterNode  # noqa: E402
from safe_pe_sim.config import load_profile  # noqa: E402
from safe_pe_sim.ros.sim_node import SimulatorNode  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context  # noqa: E402

STEPS = 200
WAIT = 300.0  # upper limit of every wait [s]: conditions (counts), not durations, end them
P, E = f"pursuer_{os.getpid()}", f"evader_{os.getpid()}"  # unique topics per test run


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=15)


def _aim(x: float, y: float, th: float, tx: float, ty: float, v: float, w_max: float) -> Twist:
    err = math.atan2(ty - y, tx - x) - th
    err = (err + math.pi) % (2 * math.pi) - math.pi
    msg = Twist()
    msg.linear.x = v
    msg.angular.z = max(-w_max, min(w_max, 4.0 * err))
    return msg


def _filter(context, robot: str, role: str, cfg, share: float) -> SafetyFilterNode:
    me, other = (cfg.pursuer, cfg.evader) if role == "pursuer" else (cfg.evader, cfg.pursuer)
    return SafetyFilterNode(context=context, namespace=f"/{robot}", parameter_overrides=[
        Parameter("state_source", value="game_state"),
        Parameter("arena_source", value="game_state"),
        Parameter("opponent_source", value="game_state"),
        Parameter("state_timeout", value=5.0),
        # lock-step waits up to lock_step_timeout for both commands: no timeout zeros here
        Parameter("nominal_timeout", value=0.0),
        Parameter("cmd_type", value="twist_stamped"),  # Kilted style filter -> simulator
        Parameter("cbf.dt", value=cfg.dt),
        Parameter("cbf.robot_radius", value=me.radius),
        Parameter("cbf.v_min", value=me.v_min), Parameter("cbf.v_max", value=me.v_max),
        Parameter("cbf.omega_max", value=me.omega_max),
        Parameter("cbf.opponent_radius", value=other.radius),
        Parameter("cbf.opponent_v_max", value=other.v_max),
        Parameter("cbf.collision_share", value=share),
    ])


def test_filtered_robots_never_violate_in_the_simulator(context, tmp_path):
    cfg = load_profile("default")
    cfg.max_steps = 2000
    cfg.capture_radius = 0.31  # just above contact: the pursuer must be stopped at the body
    profile = tmp_path / "profile.yaml"
    cfg.to_yaml(profile)
    # The simulator's clock stands still: its lock-step timeout never fires, every step
    # waits for both filtered commands however slowly a loaded machine runs.
    sim = SimulatorNode(context=context, clock=lambda: 0.0, parameter_overrides=[
        Parameter("profile", value=str(profile)), Parameter("seed", value=3),
        Parameter("mode", value="lock_step"), Parameter("lock_step_timeout", value=5.0),
        Parameter("cmd_type", value="twist_stamped"), Parameter("robots", value=[P, E]),
    ])
    filters = [_filter(context, P, "pursuer", cfg, 0.5), _filter(context, E, "evader", cfg, 0.5)]
    for f in filters:  # their clocks stand still too: no state goes stale on a stalled machine
        f.pipeline.clock = lambda: 0.0
    peer = rclpy.create_node("policies", context=context)
    executor = SingleThreadedExecutor(context=context)
    for n in [sim, *filters, peer]:
        executor.add_node(n)
    pubs = {r: peer.create_publisher(Twist, f"/{name}/cmd_vel_nominal", 10)
            for r, name in (("pursuer", P), ("evader", E))}
    states: list[GameState] = []
    tiers: list[int] = []
    peer.create_subscription(SafetyStatus, f"/{P}/safety_status",
                             lambda m: tiers.append(m.tier), 100)
    peer.create_subscription(SafetyStatus, f"/{E}/safety_status",
                             lambda m: tiers.append(m.tier), 100)

    def act(msg: GameState) -> None:
        if msg.pursuer.agent_id != P:
            return  # another test run sharing the DDS domain
        if states and (states[-1].episode_id, states[-1].step) == (msg.episode_id, msg.step):
            return
        states.append(msg)
        p, e = msg.pursuer, msg.evader
        pubs["pursuer"].publish(_aim(p.x, p.y, p.theta, e.x, e.y, p.v_max, p.omega_max))
        obstacles = msg.arena.obstacles
        target = min(obstacles, key=lambda o: math.hypot(o.x - e.x, o.y - e.y))
        pubs["evader"].publish(_aim(e.x, e.y, e.theta, target.x, target.y, e.v_max,
                                    e.omega_max))

    peer.create_subscription(GameState, "/safe_pe/game_state", act, 100)
    client = peer.create_client(ResetEpisode, "/safe_pe/reset_episode")
    try:
        # The evader starts 1 m in front of an obstacle heading at it, the pursuer behind it.
        assert client.wait_for_service(timeout_sec=WAIT)
        end = time.monotonic() + WAIT
        while time.monotonic() < end and not all(
                p.get_subscription_count() for p in pubs.values()):
            executor.spin_once(timeout_sec=0.05)
        req = ResetEpisode.Request(seed=3, use_layout=True, use_initial_states=True)
        req.layout = Arena(x_min=-5.0, x_max=5.0, y_min=-5.0, y_max=5.0, obstacles=[
            CircleObstacle(x=0.0, y=0.0, radius=0.5), CircleObstacle(x=2.0, y=1.5, radius=0.3)])
        req.pursuer.x, req.pursuer.y = -3.0, 0.2
        req.evader.x, req.evader.y = -1.5, 0.0
        future = client.call_async(req)
        end = time.monotonic() + WAIT
        while not future.done() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        assert future.done() and future.result().success, future.result()
        states.clear()
        tiers.clear()
        end = time.monotonic() + WAIT
        while len(states) < STEPS and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        assert len(states) >= STEPS, f"only {len(states)} steps in {WAIT} s"
        assert states[0].episode_id == future.result().episode_id and states[0].step <= 1
        violations = [s.violation_detail for s in states if s.violation]
        assert not violations, violations[:5]
        assert SafetyStatus.TIER_STOP not in tiers[10:]
        assert any(t != SafetyStatus.TIER_NOMINAL for t in tiers), "filters never acted"
    finally:
        executor.shutdown()
        for n in [sim, *filters, peer]:
            n.destroy_node()
