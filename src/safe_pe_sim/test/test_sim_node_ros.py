"""The simulator node in-process with rclpy: stepping, stale commands, reset, lock-step."""

from __future__ import annotations

import math
import os

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from geometry_msgs.msg import Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from safe_pe_msgs.msg import Arena, CircleObstacle, EpisodeResult, GameState  # noqa: E402
from safe_pe_msgs.srv import ResetEpisode  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from safe_pe_sim.config import load_profile  # noqa: E402
from safe_pe_sim.ros.sim_node import SimulatorNode  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402

P, E = f"pursuer_{os.getpid()}", f"evader_{os.getpid()}"  # unique topics per test run
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them


class FakeClock:
    """The node's monotonic clock, moved only by the test: command ages and the lock-step
    timeout then do not depend on how fast a loaded machine spins."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=11)



def _twist(v: float, omega: float) -> Twist:
    msg = Twist()
    msg.linear.x, msg.angular.z = v, omega
    return msg


@pytest.fixture()
def profile(tmp_path):
    cfg = load_profile("turtlebot3_burger")
    cfg.max_steps = 40
    path = tmp_path / "profile.yaml"
    cfg.to_yaml(path)
    return str(path)


def test_sim_node_free_running_reset_and_lock_step(context, profile):
    wall = FakeClock()
    node = SimulatorNode(context=context, clock=wall, parameter_overrides=[
        Parameter("profile", value=profile), Parameter("rate", value=200.0),
        Parameter("cmd_timeout", value=0.2), Parameter("seed", value=7),
        Parameter("publish_clock", value=True), Parameter("robots", value=[P, E]),
    ])
    peer = rclpy.create_node("peer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    states: list[GameState] = []
    odoms: list[Odometry] = []
    results: list[EpisodeResult] = []
    arenas: list[Arena] = []
    markers: list[MarkerArray] = []
    peer.create_subscription(GameState, "/safe_pe/game_state",
                             lambda m: states.append(m) if m.pursuer.agent_id == P else None, 100)
    peer.create_subscription(Odometry, f"/{E}/odom", odoms.append, 100)
    peer.create_subscription(EpisodeResult, "/safe_pe/episode_result", results.append, 10)
    peer.create_subscription(Arena, "/safe_pe/arena", arenas.append, LATCHED)
    peer.create_subscription(MarkerArray, "/safe_pe/obstacle_markers", markers.append, LATCHED)
    clocks: list[Clock] = []
    peer.create_subscription(Clock, "/clock", clocks.append, 100)
    cmd_p = peer.create_publisher(Twist, f"/{P}/cmd_vel", 10)
    client = peer.create_client(ResetEpisode, "/safe_pe/reset_episode")
    try:
        assert spin_until(executor, lambda: states and odoms and arenas and markers
                           and len(clocks) > 2, WAIT)
        assert clocks[-1].clock.nanosec != clocks[0].clock.nanosec  # simulated time advances
        assert odoms[-1].header.frame_id == "arena"
        assert odoms[-1].child_frame_id == f"{E}/base_link"
        assert states[-1].pursuer.v == 0.0 and states[-1].evader.v == 0.0  # no commands
        assert states[-1].header.stamp.sec * 1e9 + states[-1].header.stamp.nanosec == \
            pytest.approx(states[-1].step * node.settings.env.dt * 1e9, abs=2)  # sim time

        # A fresh command is applied (clipped to the robot's limits) for max_hold_steps (1)
        # step; then the robot stops. The node's clock stands still: the command cannot go
        # stale by age, however slowly the machine runs.
        v_max = node.settings.env.pursuer.v_max
        assert spin_until(executor, lambda: cmd_p.get_subscription_count() > 0, WAIT)
        cmd_p.publish(_twist(5.0, 0.5))
        assert spin_until(executor, lambda: states[-1].pursuer.v > 0.0, WAIT)
        assert states[-1].pursuer.v == pytest.approx(v_max)
        assert states[-1].pursuer.omega == pytest.approx(0.5)
        assert spin_until(executor, lambda: states[-1].pursuer.v == 0.0, WAIT)

        # NaN commands are dropped and counted.
        cmd_p.publish(_twist(math.nan, 0.0))
        assert spin_until(executor, lambda: node.gate.dropped()[P] == 1, WAIT)

        # Episodes end (step limit 40) with a result and restart automatically.
        assert spin_until(executor, lambda: results, WAIT)
        assert results[0].outcome in (EpisodeResult.OUTCOME_TIMEOUT,
                                      EpisodeResult.OUTCOME_CAPTURE)
        assert results[0].episode_id == 0 and results[0].seed == 7
        assert spin_until(executor, lambda: states[-1].episode_id >= 1, WAIT)

        # Bad parameters are rejected. Lock-step with a long timeout: the sim steps only when
        # both commands arrived, so what follows does not race the free-running clock.
        assert not node.set_parameters([Parameter("rate", value=-1.0)])[0].successful
        assert not node.set_parameters([Parameter("mode", value="turbo")])[0].successful
        assert node.set_parameters([Parameter("mode", value="lock_step"),
                                    Parameter("lock_step_timeout", value=30.0)])[0].successful

        # Reset with an explicit layout and start poses.
        assert client.wait_for_service(timeout_sec=WAIT)
        req = ResetEpisode.Request(seed=11, use_layout=True, use_initial_states=True)
        req.layout = Arena(x_min=-2.2, x_max=2.2, y_min=-2.2, y_max=2.2,
                           obstacles=[CircleObstacle(x=0.0, y=0.0, radius=0.4)])
        req.pursuer.x, req.pursuer.y, req.pursuer.theta = -1.5, 0.0, 0.0
        req.evader.x, req.evader.y, req.evader.theta = 1.5, 0.0, math.pi
        future = client.call_async(req)
        assert spin_until(executor, future.done, WAIT)
        resp = future.result()
        assert resp.success, resp.message
        assert (resp.state.pursuer.x, resp.state.evader.x) == (-1.5, 1.5)
        assert resp.state.step == 0 and len(resp.state.arena.obstacles) == 1
        assert node.game.step_count == 0
        assert spin_until(executor, lambda: len(arenas[-1].obstacles) == 1
                           and arenas[-1].obstacles[0].radius == 0.4, WAIT)

        # Lock-step steps once per pair of commands.
        cmd_e = peer.create_publisher(Twist, f"/{E}/cmd_vel", 10)
        assert spin_until(executor, lambda: cmd_e.get_subscription_count() > 0, WAIT)
        spin_until(executor, lambda: False, 0.2)
        assert node.game.step_count == 0  # nothing steps without commands
        for k in range(5):
            cmd_p.publish(_twist(0.05, 0.0))
            assert spin_until(executor, lambda: node.gate.slots[P].fresh_for_step, WAIT)
            assert node.game.step_count == k  # waits for the evader
            cmd_e.publish(_twist(0.05, 0.0))
            assert spin_until(executor, lambda: node.game.step_count == k + 1, WAIT)

        # A reset in the middle of an episode ends it as aborted.
        n_aborted = sum(r.outcome == EpisodeResult.OUTCOME_ABORTED for r in results)
        future = client.call_async(req)
        assert spin_until(executor, future.done, WAIT)
        assert future.result().success, future.result().message
        assert spin_until(executor, lambda: sum(
            r.outcome == EpisodeResult.OUTCOME_ABORTED for r in results) == n_aborted + 1, WAIT)
        aborted = [r for r in results if r.outcome == EpisodeResult.OUTCOME_ABORTED][-1]
        assert aborted.steps == 5 and aborted.seed == 11

        # A start pose inside the obstacle is refused with the reason.
        req.pursuer.x = 0.1
        future = client.call_async(req)
        assert spin_until(executor, future.done, WAIT)
        assert not future.result().success
        assert "obstacle[0]" in future.result().message

        # Lock-step timeout: without the evader's command the step happens anyway, evader
        # stopped. The test moves the node's clock past the timeout only once the pursuer's
        # command is in.
        assert node.set_parameters([Parameter("lock_step_timeout", value=0.2)])[0].successful
        before = node.game.step_count
        spin_until(executor, lambda: False, 0.2)
        assert node.game.step_count == before  # the node's clock stands still
        wall.t += 0.25
        assert spin_until(executor, lambda: node.game.step_count == before + 1, WAIT)
        cmd_p.publish(_twist(0.05, 0.0))
        assert spin_until(executor, lambda: node.gate.slots[P].fresh_for_step, WAIT)
        assert node.game.step_count == before + 1
        wall.t += 0.25
        assert spin_until(executor, lambda: node.game.step_count == before + 2, WAIT)
        assert node.game.velocities[0][0] == pytest.approx(0.05)
        assert node.game.velocities[1] == (0.0, 0.0)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_bad_profile_fails_fast(context):
    with pytest.raises(ValueError, match="profile"):
        SimulatorNode(context=context,
                      parameter_overrides=[Parameter("profile", value="/nope.yaml")])


def test_without_auto_reset_the_sim_waits_for_a_reset(context, profile):
    node = SimulatorNode(context=context, parameter_overrides=[
        Parameter("profile", value=profile), Parameter("rate", value=400.0),
        Parameter("auto_reset", value=False), Parameter("robots", value=[P, E]),
    ])
    peer = rclpy.create_node("peer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    results: list[EpisodeResult] = []
    states: list[GameState] = []
    peer.create_subscription(EpisodeResult, "/safe_pe/episode_result", results.append, 10)
    peer.create_subscription(GameState, "/safe_pe/game_state",
                             lambda m: states.append(m) if m.pursuer.agent_id == P else None, 100)
    client = peer.create_client(ResetEpisode, "/safe_pe/reset_episode")
    try:
        assert spin_until(executor, lambda: results, WAIT)
        assert node.episode_over and node.game.step_count == 40
        count = len(states)
        assert spin_until(executor, lambda: len(states) > count + 2, WAIT)  # still published
        assert all(s.step == 40 and s.episode_id == 0 for s in states[count:])
        assert client.wait_for_service(timeout_sec=WAIT)
        future = client.call_async(ResetEpisode.Request(seed=-1))
        assert spin_until(executor, future.done, WAIT)
        assert future.result().success and future.result().episode_id == 1
        assert future.result().state.step == 0
        assert spin_until(executor, lambda: states[-1].episode_id == 1 and states[-1].step > 0,
                           WAIT)
        assert len(results) == 1  # the finished episode was not reported again as aborted
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_a_refused_reset_changes_nothing(context, profile):
    """Resets that fail (no room for the spawns, absurd walls, too many obstacles) answer
    success=false with the reason and leave walls, obstacles, poses, the random stream, the
    episode id and the published world as they were; no episode is reported aborted."""
    wall = FakeClock()  # lock-step on a clock that stands still: the world never moves alone
    node = SimulatorNode(context=context, clock=wall, parameter_overrides=[
        Parameter("profile", value=profile), Parameter("seed", value=5),
        Parameter("mode", value="lock_step"), Parameter("robots", value=[P, E]),
    ])
    peer = rclpy.create_node("peer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    results: list[EpisodeResult] = []
    arenas: list[Arena] = []
    peer.create_subscription(EpisodeResult, "/safe_pe/episode_result", results.append, 10)
    peer.create_subscription(Arena, "/safe_pe/arena", arenas.append, LATCHED)
    cmd = {name: peer.create_publisher(Twist, f"/{name}/cmd_vel", 10) for name in (P, E)}
    client = peer.create_client(ResetEpisode, "/safe_pe/reset_episode")

    def call(req: ResetEpisode.Request) -> ResetEpisode.Response:
        future = client.call_async(req)
        assert spin_until(executor, future.done, WAIT)
        return future.result()

    def world() -> tuple:
        g = node.game
        return (id(g), g.bounds, g.obstacles_array.tolist(), list(g.poses), g.step_count,
                g.seed_value, g.episode_id, g._rng.bit_generator.state, node.episode_id,
                node.episode_seed, node.episode_over)

    try:
        assert client.wait_for_service(timeout_sec=WAIT)
        assert spin_until(executor, lambda: arenas and all(
            p.get_subscription_count() for p in cmd.values()), WAIT)
        for _ in range(2):  # an episode under way: a successful reset would abort it
            steps = node.game.step_count
            for p in cmd.values():
                p.publish(_twist(0.05, 0.0))
            assert spin_until(executor, lambda: node.game.step_count == steps + 1, WAIT)
        before = world()

        grid = [-2.0 + 0.5 * i for i in range(9)]
        crowded = Arena(x_min=-2.2, x_max=2.2, y_min=-2.2, y_max=2.2, obstacles=[
            CircleObstacle(x=x, y=y, radius=0.2) for x in grid for y in grid])
        absurd = Arena(x_min=-1e300, x_max=1e300, y_min=-1e300, y_max=1e300)
        many = Arena(x_min=-2.2, x_max=2.2, y_min=-2.2, y_max=2.2,
                     obstacles=[CircleObstacle(x=0.0, y=0.0, radius=0.01)] * 2000)
        for layout, seed, reason in ((crowded, 3, "could not sample spawn poses"),
                                     (crowded, -1, "could not sample spawn poses"),
                                     (absurd, 3, "beyond +-10000.0 m"),
                                     (many, 3, "2000 obstacles, at most 256")):
            resp = call(ResetEpisode.Request(seed=seed, use_layout=True, layout=layout))
            assert not resp.success and reason in resp.message, resp.message
            assert resp.message.startswith("reset refused: ")
            assert resp.episode_id == before[8]
            assert world() == before
        spin_until(executor, lambda: False, 0.2)
        assert not results
        last = arenas[-1]  # the world as published (again, every markers_period) is the old one
        assert (last.x_min, last.x_max, last.y_min, last.y_max) == before[1]
        assert [[o.x, o.y, o.radius] for o in last.obstacles] == before[2]

        # The same node still resets and steps.
        resp = call(ResetEpisode.Request(seed=3))
        assert resp.success and resp.episode_id == before[8] + 1
        assert spin_until(executor, lambda: len(results) == 1, WAIT)
        assert results[0].outcome == EpisodeResult.OUTCOME_ABORTED and results[0].steps == 2
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_actuator_parameters_and_the_odometry_twist(context, profile):
    """Ramps and latency from parameters; odometry reports the held velocity; bad values are
    refused with the reason and the node keeps running on its previous values."""
    node = SimulatorNode(context=context, clock=FakeClock(), parameter_overrides=[
        Parameter("profile", value=profile), Parameter("mode", value="lock_step"),
        Parameter("lock_step_timeout", value=30.0), Parameter("publish_clock", value=True),
        Parameter("robots", value=[P, E]),
        Parameter("actuator.pursuer.linear_accel", value=0.5),
        Parameter("actuator.pursuer.latency_steps", value=1)])
    peer = rclpy.create_node("peer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    odoms: list[Odometry] = []
    peer.create_subscription(Odometry, f"/{P}/odom", odoms.append, 100)
    cmd_p = peer.create_publisher(Twist, f"/{P}/cmd_vel", 10)
    cmd_e = peer.create_publisher(Twist, f"/{E}/cmd_vel", 10)
    dt = node.settings.env.dt

    def step(v: float) -> tuple[float, float]:
        """One lock-step with pursuer command (v, 0.3); the pursuer's odometry twist after it."""
        k = node.total_steps + 1
        cmd_p.publish(_twist(v, 0.3))
        cmd_e.publish(_twist(0.0, 0.0))
        assert spin_until(executor, lambda: any(
            abs(o.header.stamp.sec + 1e-9 * o.header.stamp.nanosec - k * dt) < 1e-6
            for o in odoms), WAIT)
        odom = odoms[-1]
        return odom.twist.twist.linear.x, odom.twist.twist.angular.z

    try:
        assert spin_until(executor, lambda: cmd_p.get_subscription_count() > 0
                          and cmd_e.get_subscription_count() > 0, WAIT)
        assert node.game.actuators.latency.tolist() == [1, 0]
        # one step late, then 0.5 m/s^2 * 0.1 s per step; omega is not ramped
        twists = [step(0.15) for _ in range(4)]
        assert twists == [pytest.approx(t, abs=1e-9) for t in
                          ((0.0, 0.0), (0.05, 0.3), (0.1, 0.3), (0.15, 0.3))]
        assert twists[-1] == pytest.approx(node.game.velocities[0], abs=1e-12)

        for name, value, reason in (("actuator.pursuer.linear_decel", -0.5, "must be -1"),
                                    ("actuator.evader.latency_steps", 12, "out of range")):
            result = node.set_parameters([Parameter(name, value=value)])[0]
            assert not result.successful and reason in result.reason
        assert node.game.actuators.latency.tolist() == [1, 0]     # previous values kept
        assert step(0.0) == pytest.approx((0.15, 0.3), abs=1e-9)  # latency: still moving

        assert node.set_parameters([Parameter("actuator.pursuer.latency_steps", value=0),
                                    Parameter("actuator.pursuer.linear_decel", value=1.0)]
                                   )[0].successful
        assert node.game.config.pursuer.actuator.linear_decel == 1.0
        assert step(0.0) == pytest.approx((0.05, 0.3), abs=1e-9)  # at once, braking 0.1/step
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
