"""Two processes: the filter node runs alone; this test plays the robot.

The robot (this process) publishes its Odometry and adversarial nominal commands -- full speed
straight at an obstacle, at a wall, into a corner while turning, and steering at the obstacle
-- integrates every safe command it receives with the exact unicycle arcs for one control
period, and checks the body disk against every obstacle and wall at 20 instants per period.
It must never touch anything. The loop is lock-step, whatever the machine's load: odometry k
is stamped (2 s, k ns), the nominal command is unstamped, so the filter's answer carries the
stamp of the odometry it was computed from; the robot moves only with the answer stamped k
(odometry and command are sent again until it comes: the first answers are STOPs until the
filter has a state, and there is no order across topics). Then it stops publishing Odometry: the filter must answer with
zero commands and a STOP status with a reason. Finally SIGINT: the filter publishes a zero
command and exits cleanly. It runs once per executor kind the node's main() can choose
(``--executor events``, the default, and ``--executor single``, the fallback).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: run scripts/setup.sh")
pytest.importorskip("safe_pe_msgs.msg", reason="safe_pe_msgs is not built: scripts/setup.sh")

from geometry_msgs.msg import Twist, TwistStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from safe_pe_msgs.msg import SafetyStatus  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from safe_pe_cbf.ros_common.conversions import odometry_message  # noqa: E402
from safe_pe_cbf.ros_common.executors import EXECUTOR_KINDS  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402

DT = 0.05
V_MAX = 1.0
OMEGA_MAX = 2.84
RADIUS = 0.15
ARENA = (0.0, 4.0, 0.0, 4.0)
OBSTACLES = [(2.2, 2.0, 0.3), (1.0, 3.2, 0.2)]
SUBSTEPS = 20
NS = f"robot_{os.getpid()}"  # unique topics: other test runs may share the DDS domain
# generous: a loaded CI machine must not make the scenarios stale (state_timeout) nor time out
# the nominal commands of this stepped robot (nominal_timeout; tested in test_filter_node_ros)
STATE_TIMEOUT = 1.0
WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them

PARAMS = f"""/**:
  ros__parameters:
    nominal_cmd_type: twist
    cmd_type: twist_stamped
    state_source: odom
    arena_source: parameters
    arena.x_min: {ARENA[0]}
    arena.x_max: {ARENA[1]}
    arena.y_min: {ARENA[2]}
    arena.y_max: {ARENA[3]}
    obstacles: [{", ".join(f"{v}" for ob in OBSTACLES for v in ob)}]
    state_timeout: {STATE_TIMEOUT}
    nominal_timeout: {STATE_TIMEOUT}
    cbf.dt: {DT}
    cbf.v_min: 0.0
    cbf.v_max: {V_MAX}
    cbf.omega_max: {OMEGA_MAX}
    cbf.robot_radius: {RADIUS}
"""


def arc(x: float, y: float, th: float, v: float, w: float, t: float) -> tuple[float, ...]:
    """Exact unicycle motion for time t under constant (v, w) (test oracle)."""
    if abs(w) < 1e-9:
        return x + v * t * math.cos(th), y + v * t * math.sin(th), th + w * t
    th1 = th + w * t
    return (x + v / w * (math.sin(th1) - math.sin(th)),
            y - v / w * (math.cos(th1) - math.cos(th)), th1)


def clearance(x: float, y: float) -> float:
    """Smallest signed gap between the body disk and any obstacle or wall."""
    gaps = [x - ARENA[0] - RADIUS, ARENA[1] - x - RADIUS, y - ARENA[2] - RADIUS,
            ARENA[3] - y - RADIUS]
    gaps += [math.hypot(x - ox, y - oy) - r - RADIUS for ox, oy, r in OBSTACLES]
    return min(gaps)


def straight(v: float, w: float):
    return lambda pose: (v, w)


def aim_at(tx: float, ty: float):
    def policy(pose):
        err = math.atan2(ty - pose[1], tx - pose[0]) - pose[2]
        err = (err + math.pi) % (2 * math.pi) - math.pi
        return V_MAX, max(-OMEGA_MAX, min(OMEGA_MAX, 4.0 * err))
    return policy


SCENARIOS = [
    ("straight at obstacle", (0.8, 2.0, 0.0), straight(V_MAX, 0.0), 60),
    ("straight at wall", (3.0, 1.0, 0.0), straight(V_MAX, 0.0), 40),
    ("spiral into corner", (0.6, 0.6, -3 * math.pi / 4), straight(V_MAX, OMEGA_MAX), 50),
    ("grazing obstacle", (0.8, 2.3, 0.0), straight(V_MAX, -0.3), 60),
    ("steering at obstacle", (3.5, 3.5, math.pi), aim_at(2.2, 2.0), 80),
    ("steering at small obstacle", (3.0, 3.4, math.pi), aim_at(1.0, 3.2), 80),
]


@pytest.fixture()
def ros_env(tmp_path, monkeypatch):
    for ctx in isolated_context(tmp_path, monkeypatch, salt=9):
        yield ctx, tmp_path



@pytest.mark.parametrize("executor_kind", EXECUTOR_KINDS)
def test_robot_never_collides_and_stale_state_stops_it(ros_env, executor_kind):
    ctx, tmp_path = ros_env
    params = tmp_path / "filter.yaml"
    params.write_text(PARAMS)
    log = open(tmp_path / "filter_node.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "safe_pe_cbf.ros.filter_node", "--executor", executor_kind,
         "--ros-args",
         "-r", f"__ns:=/{NS}", "--params-file", str(params)],
        stdout=log, stderr=subprocess.STDOUT)
    node = rclpy.create_node("robot_sim", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    cmds: dict[int, TwistStamped] = {}
    statuses: list[SafetyStatus] = []
    node.create_subscription(
        TwistStamped, f"/{NS}/cmd_vel",
        lambda m: cmds.__setitem__(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m), 50)
    node.create_subscription(SafetyStatus, f"/{NS}/safety_status", statuses.append, 50)
    odom_pub = node.create_publisher(Odometry, f"/{NS}/odom", 10)
    nominal_pub = node.create_publisher(Twist, f"/{NS}/cmd_vel_nominal", 10)
    try:
        assert spin_until(executor, lambda: nominal_pub.get_subscription_count() > 0
                           and odom_pub.get_subscription_count() > 0, WAIT), \
            "filter node did not come up: " + (tmp_path / "filter_node.log").read_text()
        def answer(pose: tuple[float, float, float], v_nom: float, w_nom: float,
                   seq: int) -> tuple[TwistStamped, SafetyStatus, float]:
            """Odometry ``seq`` and a nominal command, again until the answer computed from
            that odometry (stamped (2, seq)) is in; return it, its status and the time just
            before the odometry was last sent."""
            header = Header(frame_id="odom")
            header.stamp.sec, header.stamp.nanosec = 2, seq
            nominal = Twist()
            nominal.linear.x, nominal.angular.z = v_nom, w_nom
            key = 2 * 10**9 + seq
            end = time.monotonic() + WAIT
            while True:
                assert time.monotonic() < end, (
                    f"no answer from odometry {seq}: "
                    f"{[(s.tier, s.reason) for s in statuses[-3:]]}\n"
                    + (tmp_path / "filter_node.log").read_text())
                seen = len(statuses)
                t_sent = time.monotonic()
                odom_pub.publish(odometry_message(pose, (0.0, 0.0), header, "base"))
                nominal_pub.publish(nominal)
                assert spin_until(executor, lambda: len(statuses) > seen, WAIT), "no answer"
                mine = [st for st in statuses[seen:] if st.header.stamp.sec == 2
                        and st.header.stamp.nanosec == seq]
                if mine:  # its command may arrive after its status (no order across topics)
                    assert spin_until(executor, lambda: key in cmds, WAIT)
                    return cmds[key], mine[0], t_sent

        worst = math.inf
        interventions = 0
        steps = 0
        seq = 0
        used: list[SafetyStatus] = []
        for name, start, policy, n_steps in SCENARIOS:
            x, y, th = start
            for _ in range(n_steps):
                v_nom, w_nom = policy((x, y, th))
                seq += 1
                cmd, status, t_last_odom = answer((x, y, th), v_nom, w_nom, seq)
                used.append(status)
                safe = cmd.twist
                v, w = safe.linear.x, safe.angular.z
                assert (v, w) == (status.safe.linear.x, status.safe.angular.z)
                assert -1e-9 <= v <= V_MAX + 1e-9 and abs(w) <= OMEGA_MAX + 1e-9, (name, v, w)
                interventions += (abs(v - v_nom) > 1e-9 or abs(w - w_nom) > 1e-9)
                for k in range(1, SUBSTEPS + 1):
                    px, py, _ = arc(x, y, th, v, w, DT * k / SUBSTEPS)
                    gap = clearance(px, py)
                    worst = min(worst, gap)
                    assert gap >= 0.0, f"{name}: body collided (gap {gap:.4f} m) at step {steps}"
                x, y, th = arc(x, y, th, v, w, DT)
                steps += 1
        assert steps == sum(s[3] for s in SCENARIOS)
        assert interventions > 50, "the adversarial commands should need the filter"
        assert not any(s.tier == SafetyStatus.TIER_STOP for s in used)  # STOP: no state used

        # Odometry stops: after state_timeout the filter commands zero with a reason, not
        # before (it received the last odometry after we sent it, and we receive its answer
        # after it was made), and from then on only zeros.
        statuses.clear()
        answers = []  # (time answered, command, status)

        def stale_stop() -> bool:
            return any(s.tier == SafetyStatus.TIER_STOP for s in statuses)

        deadline = time.monotonic() + WAIT
        while not (stale_stop() and len(answers) >= 5 and answers[-5][2] is not None
                   and answers[-5][2].tier == SafetyStatus.TIER_STOP):
            assert time.monotonic() < deadline, "the filter never stopped on stale state"
            nominal = Twist()
            nominal.linear.x = V_MAX
            seen = len(statuses)
            nominal_pub.publish(nominal)

            def new_answer() -> SafetyStatus | None:  # not a watchdog zero (nominal 0)
                return next((st for st in statuses[seen:] if st.nominal.linear.x == V_MAX),
                            None)
            assert spin_until(executor, lambda: new_answer() is not None, WAIT)
            status = new_answer()
            key = status.header.stamp.sec * 10**9 + status.header.stamp.nanosec
            assert spin_until(executor, lambda: key in cmds, WAIT)
            answers.append((time.monotonic(), cmds[key].twist, status))
            time.sleep(0.05)  # pace only
        first_stop = next(i for i, a in enumerate(answers) if a[2].tier == SafetyStatus.TIER_STOP)
        assert answers[first_stop][0] - t_last_odom > STATE_TIMEOUT
        assert "stale" in answers[first_stop][2].reason
        for _, twist, status in answers[first_stop:]:
            assert status.tier == SafetyStatus.TIER_STOP and "stale" in status.reason
            assert twist.linear.x == 0.0 and twist.angular.z == 0.0

        # SIGINT: one zero command on the way out, clean exit.
        count = len(cmds)
        proc.send_signal(signal.SIGINT)
        assert spin_until(executor, lambda: len(cmds) > count, WAIT)
        last = max(cmds.values(), key=lambda m: (m.header.stamp.sec, m.header.stamp.nanosec))
        assert last.twist.linear.x == 0.0
        assert proc.wait(timeout=WAIT) == 0
        assert f"executor: {executor_kind}" in (tmp_path / "filter_node.log").read_text()
        print(f"two-process ({executor_kind}): {steps} steps, {interventions} interventions, "
              f"smallest body gap {worst:.4f} m")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        executor.shutdown()
        node.destroy_node()
