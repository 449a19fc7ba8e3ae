"""safe_pe_game_state_node: /safe_pe/game_state of two physical robots from their odometry.

::

    python -m safe_pe_sim.ros.game_state_node --ros-args \\
        --params-file config/game_state_node.yaml --params-file config/arena_example.yaml

Subscribes to ``/<robot>/odom`` (``nav_msgs/Odometry``) of both robots (``robots``), applies
each robot's fixed ``<role>_odom_offset``, and publishes ``/safe_pe/game_state`` at ``rate``
(default 1/dt of the profile), stamped with the newest odometry stamp. The arena comes from
the ``arena.*``/``obstacles`` parameters (the filter's arena file; then re-published on
``/safe_pe/arena``, transient local) or from ``/safe_pe/arena`` (``arena_source: topic``).
While either robot's odometry is missing or older than ``odom_timeout`` nothing is published
(the policies then publish nothing, the filters' watchdogs stop the robots) and
``/diagnostics`` says why. Maths in :mod:`safe_pe_sim.ros.game_state_core`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from safe_pe_cbf.ros_common.conversions import (
    NonFiniteInput,
    arena_from_message,
    arena_message,
    velocity_from_odometry,
    yaw_from_quaternion,
)
from safe_pe_cbf.ros_common.executors import spin_until_shutdown
from safe_pe_cbf.ros_common.params import check_change, declare_specs, spec_values
from safe_pe_cbf.ros_common.qos import LATCHED, reliable_qos
from safe_pe_msgs.msg import Arena as ArenaMsg, GameState
from std_msgs.msg import Header

from safe_pe_sim.config import check_layout
from safe_pe_sim.ros.game_state_core import (
    AssembledState,
    GameStateAssembler,
    GameStateSettings,
    game_state_specs,
    settings_from_values,
)
from safe_pe_sim.ros.sim_messages import agent_state_message

RELIABLE = reliable_qos(10)


class GameStateNode(Node):
    """Thin shell around :class:`GameStateAssembler`.

    :param node_name: ROS node name.
    :param clock: monotonic clock [s] of command/odometry ages and timeouts (tests pass a
        fake one so that what goes stale does not depend on the machine's speed).
    :param kwargs: passed to ``rclpy.node.Node`` (parameter_overrides, context, cli_args...).
    """

    def __init__(self, node_name: str = "safe_pe_game_state",
                 clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._monotonic = clock
        self._specs = game_state_specs()
        declare_specs(self, self._specs)
        self.settings: GameStateSettings = settings_from_values(spec_values(self, self._specs))
        s = self.settings
        self.core = GameStateAssembler(s)
        self.stop_reason = ""
        self.arena_rejected = 0
        self.core_errors = 0
        self.state_pub = self.create_publisher(GameState, "/safe_pe/game_state", RELIABLE)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.arena_pub = None
        if s.arena_source == "parameters":
            self.arena_pub = self.create_publisher(ArenaMsg, "/safe_pe/arena", LATCHED)
            self._publish_arena()
        else:
            self.create_subscription(ArenaMsg, "/safe_pe/arena", self._on_arena, LATCHED)
        for agent, name in enumerate(s.robots):
            self.create_subscription(Odometry, f"/{name}/odom",
                                     lambda msg, a=agent: self._on_odom(a, msg), RELIABLE)
        self._timer = self.create_timer(s.period, self._on_timer)
        self._diag_timer = self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.get_logger().info(
            f"game state of {list(s.robots)} from odometry at {1.0 / s.period:.1f} Hz, arena "
            f"from {s.arena_source}, odom_timeout {s.odom_timeout} s")

    # -- parameters ------------------------------------------------------------------------
    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        return check_change(self, self._specs, params,
                            lambda values: settings_from_values(values, env=self.settings.env))

    def _apply_parameters(self, params: list[Parameter]) -> None:
        old = self.settings
        self.settings = settings_from_values(spec_values(self, self._specs), env=old.env)
        self.core.settings = self.settings
        if old.period != self.settings.period:
            self._timer.cancel()
            self.destroy_timer(self._timer)
            self._timer = self.create_timer(self.settings.period, self._on_timer)
        if old.diagnostics_period != self.settings.diagnostics_period:
            self._diag_timer.cancel()
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(self.settings.diagnostics_period,
                                                 self._publish_diagnostics)
        if self.arena_pub is not None:
            self.core.set_arena(self.settings.bounds, self.settings.obstacles)
            self._publish_arena()
        self.get_logger().info(f"parameters updated: {', '.join(p.name for p in params)}")

    # -- inputs ----------------------------------------------------------------------------
    def _on_odom(self, agent: int, msg: Odometry) -> None:
        name = self.settings.robots[agent]
        p = msg.pose.pose.position
        try:
            theta = yaw_from_quaternion(msg.pose.pose.orientation)
            velocity = velocity_from_odometry(msg)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            self.core.receive(agent, (p.x, p.y, theta), velocity, stamp, self._monotonic())
        except ValueError as err:  # NonFiniteInput is a ValueError
            self.core.dropped[name] += 1
            self.get_logger().warning(f"dropped odometry of {name}: {err}",
                                      throttle_duration_sec=1.0)

    def _on_arena(self, msg: ArenaMsg) -> None:
        try:
            bounds, obstacles = arena_from_message(msg)
            check_layout(bounds, obstacles, "arena message")
        except (NonFiniteInput, ValueError) as err:  # ConfigError is a ValueError
            self.arena_rejected += 1
            self.get_logger().error(f"arena message rejected (keeping the previous one): {err}")
            return
        self.core.set_arena(bounds, obstacles)

    # -- outputs ---------------------------------------------------------------------------
    def _publish_arena(self) -> None:
        assert self.arena_pub is not None
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.settings.frame_id)
        self.arena_pub.publish(arena_message(self.settings.bounds, self.settings.obstacles,
                                             header))

    def _on_timer(self) -> None:
        now = self._monotonic()
        try:
            state = self.core.assemble(now)
            msg = None if state is None else self.game_state_message(state)
        except Exception as err:  # noqa: BLE001 - a bug must not kill the node: publish nothing
            self.core_errors += 1
            self.get_logger().error(f"game state not published: {err!r}",
                                    throttle_duration_sec=1.0)
            return
        reason = self.core.stale_reason(now) if state is None else ""
        if reason != self.stop_reason:
            if reason:
                self.get_logger().warning(f"not publishing the game state: {reason}")
            else:
                self.get_logger().info("publishing the game state")
            self.stop_reason = reason
        if msg is not None:
            self.state_pub.publish(msg)

    def game_state_message(self, state: AssembledState) -> GameState:
        """The GameState message of an assembled state.

        :param state: output of :meth:`GameStateAssembler.assemble`.
        """
        s = self.settings
        if state.stamp_ns > 0:
            sec, nanosec = divmod(state.stamp_ns, 1_000_000_000)
            stamp = Time(sec=sec, nanosec=nanosec)
        else:  # unstamped odometry: the node's clock
            stamp = self.get_clock().now().to_msg()
        header = Header(stamp=stamp, frame_id=s.frame_id)
        robots = s.env.robots()
        msg = GameState(header=header, episode_id=state.episode_id, step=state.step,
                        dt=float(s.env.dt))
        msg.pursuer = agent_state_message(s.robots[0], 0, state.poses[0], state.velocities[0],
                                          robots[0], header)
        msg.evader = agent_state_message(s.robots[1], 1, state.poses[1], state.velocities[1],
                                         robots[1], header)
        assert self.core.arena is not None
        msg.arena = arena_message(self.core.arena[0], self.core.arena[1], header)
        msg.distance = float(state.distance)
        msg.capture_radius = float(s.capture_radius)
        msg.captured = bool(state.captured)
        msg.timed_out = bool(state.timed_out)
        msg.violation = bool(state.violation)
        msg.violation_detail = state.violation_detail
        return msg

    def _publish_diagnostics(self) -> None:
        now = self._monotonic()
        reason = self.core.stale_reason(now)
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: game state",
                                  hardware_id=",".join(self.settings.robots))
        if reason:
            status.level, status.message = DiagnosticStatus.ERROR, f"not publishing: {reason}"
        elif self.core_errors:
            status.level, status.message = DiagnosticStatus.WARN, "core errors occurred"
        else:
            status.level, status.message = DiagnosticStatus.OK, "publishing"
        pairs = {"published": str(self.core.published), "episode_id": str(self.core.episode_id),
                 "arena_source": self.settings.arena_source,
                 "arena_rejected": str(self.arena_rejected),
                 "core_errors": str(self.core_errors)}
        for name, age in zip(self.settings.robots, self.core.ages(now)):
            pairs[f"odom_age_{name}_s"] = f"{age:.3f}"
            pairs[f"dropped_{name}"] = str(self.core.dropped[name])
        status.values = [KeyValue(key=k, value=v) for k, v in pairs.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)


def main(args: list[str] | None = None) -> None:
    """Run the game-state node until SIGINT (exit code 2 for invalid parameters).

    :param args: command-line arguments (``--ros-args ...``); default ``sys.argv``.
    """
    spin_until_shutdown(GameStateNode, "safe_pe_game_state", args)



if __name__ == "__main__":
    main()
