"""safe_pe_filter_node: the CBF safety filter between a policy and one robot's wheels.

One node per robot, in the robot's namespace::

    python -m safe_pe_cbf.ros.filter_node --ros-args -r __ns:=/pursuer \\
        --params-file config/filter_node.yaml

It runs on rclpy's ``EventsExecutor`` (C++ dispatch: lower latency, about half the idle CPU
of the standard executor here); ``--executor single`` before ``--ros-args`` (or
``SAFE_PE_EXECUTOR=single``) falls back to the ``SingleThreadedExecutor``
(:mod:`safe_pe_cbf.ros_common.executors`).

Topics (relative to the namespace): ``cmd_vel_nominal`` in, ``cmd_vel`` out (Twist or
TwistStamped by parameter; both are taken and sent as serialized bytes,
read and written by :mod:`safe_pe_cbf.ros.twist_cdr`, because rclpy's Python message objects
cost a Python node more than the filter itself), ``odom`` or ``/safe_pe/game_state`` in
(``state_source``), ``/safe_pe/arena`` in (transient local) when ``arena_source`` is
``topic``, ``safety_status`` / ``safety_markers`` / ``/diagnostics`` out.

Stamps of the safe command (when TwistStamped) and of its SafetyStatus: a stamped nominal
command's header is copied through. For an unstamped nominal command they carry the header
stamp of the robot state (odometry or game state) the command was computed from, so a
consumer can tell which state a command answers (a lock-step simulator, a recorder, a latency
probe); the node's clock (and the ``frame_id`` parameter) when no state was used (STOP,
DISABLED, watchdog zeros) or the state message had a zero stamp.

Every nominal command produces exactly one safe command (event driven). Stale or missing state,
a missing arena or a core error produce a zero command with tier STOP and a reason. A timer at
the command rate (1/``cbf.dt``, steady clock) is the nominal-command watchdog: when no nominal
command arrived for ``nominal_timeout`` seconds and the last safe command was not zero, it
publishes zero commands (tier STOP, with a SafetyStatus) for ``zero_hold`` seconds, then
nothing until a nominal command arrives, like Nav2's collision_monitor (so a base without its
own ``cmd_vel`` timeout stops, and a mux can hand over). On shutdown one zero command is
published.
"""

from __future__ import annotations

import math
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from safe_pe_msgs.msg import Arena as ArenaMsg, GameState, SafetyStatus
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from safe_pe_cbf.resolver import Tier
from safe_pe_cbf.ros_common.conversions import (
    NonFiniteInput,
    arena_from_message,
    command_from_twist,
    command_message,
    finite_command,
    pose_from_agent_state,
    pose_from_odometry,
    split_game_state,
    velocity_from_odometry,
)
from safe_pe_cbf.ros_common.executors import spin_until_shutdown
from safe_pe_cbf.ros.filter_params import FilterNodeSettings, all_specs, settings_from_values
from safe_pe_cbf.ros.filter_pipeline import FilterDecision, FilterPipeline
from safe_pe_cbf.ros.markers import constraint_markers
from safe_pe_cbf.ros_common.params import check_change, declare_specs, spec_values
from safe_pe_cbf.ros_common.qos import LATCHED, reliable_qos
from safe_pe_cbf.ros.twist_cdr import (
    MalformedCommand,
    decode_twist,
    decode_twist_stamped,
    encode_twist,
    encode_twist_stamped,
)

ARENA_TOPIC = "/safe_pe/arena"
GAME_STATE_TOPIC = "/safe_pe/game_state"
ARENA_QOS = LATCHED
COMMAND_QOS = reliable_qos(5)
# the executor of main() unless --executor / SAFE_PE_EXECUTOR say otherwise
DEFAULT_EXECUTOR = "events"


class SafetyFilterNode(Node):
    """The safety filter of one robot (thin shell around :class:`FilterPipeline`).

    :param node_name: ROS node name.
    :param kwargs: passed to ``rclpy.node.Node`` (namespace, parameter_overrides, context...).
    """

    def __init__(self, node_name: str = "safety_filter", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._specs = all_specs()
        declare_specs(self, self._specs)
        self.settings: FilterNodeSettings = settings_from_values(
            spec_values(self, self._specs), self.get_namespace()
        )
        s = self.settings
        self.pipeline = FilterPipeline(
            s.cbf, s.state_timeout, needs_opponent=s.opponent_source != "none", enabled=s.enabled,
            predict_state=s.predict_state, nominal_timeout=s.nominal_timeout,
            zero_hold=s.zero_hold,
        )
        if s.arena_source == "parameters":
            self.pipeline.set_arena(s.arena_bounds, s.obstacles)
        self._last_markers = -math.inf

        # Inputs: arena and state subscriptions are created before the nominal command so
        # that a single-threaded executor handling several in one wait serves them first.
        if s.arena_source == "topic":
            self.create_subscription(ArenaMsg, ARENA_TOPIC, self._on_arena, ARENA_QOS)
        if s.state_source == "odom":
            self.create_subscription(Odometry, "odom", self._on_odom, qos_profile_sensor_data)
        if "game_state" in (s.state_source, s.opponent_source, s.arena_source):
            self.create_subscription(
                GameState, GAME_STATE_TOPIC, self._on_game_state, qos_profile_sensor_data
            )
        if s.opponent_source == "odom":
            self.create_subscription(
                Odometry, s.opponent_odom_topic, self._on_opponent_odom, qos_profile_sensor_data
            )
        # The command path takes and sends serialized bytes and reads/writes the two fields it
        # uses itself (twist_cdr): rclpy's Python message objects cost more than the filter.
        self._nominal_type = TwistStamped if s.nominal_stamped else Twist
        self.create_subscription(self._nominal_type, "cmd_vel_nominal", self._on_nominal_bytes,
                                 COMMAND_QOS, raw=True)

        self.cmd_pub = self.create_publisher(
            TwistStamped if s.output_stamped else Twist, "cmd_vel", COMMAND_QOS
        )
        self.status_pub = self.create_publisher(SafetyStatus, "safety_status", 10)
        self._status_msg = SafetyStatus(source=self.get_fully_qualified_name(),
                                        agent_id=s.robot_id)
        self._status_msg.header.frame_id = s.frame_id
        self._status_msg.violation = False  # ground truth is not known to the filter
        self.marker_pub = self.create_publisher(MarkerArray, "safety_markers", 1)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        # Wall (steady) time like the state watchdog: a stopped /clock must not stop it.
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._watchdog_timer = None
        self._start_watchdog()

        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.get_logger().info(
            f"safety filter for {s.robot_id!r}: state from {s.state_source}, arena from "
            f"{s.arena_source}, opponent from {s.opponent_source}, dt={s.cbf.dt} s, "
            f"state_timeout={s.state_timeout} s, nominal_timeout={s.nominal_timeout} s, "
            f"{'enabled' if s.enabled else 'DISABLED (pass-through)'}"
        )

    # -- parameters ------------------------------------------------------------------------
    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Reject a change (with the reason) unless all values together are valid."""
        return check_change(self, self._specs, params,
                            lambda values: settings_from_values(values, self.get_namespace()))

    def _apply_parameters(self, params: list[Parameter]) -> None:
        """Apply an accepted change: rebuild the resolver (runtime reconfiguration).

        The change passed :meth:`_validate_parameters`; should building the settings still
        fail, the running filter keeps its settings (an exception here would end the node).
        """
        try:
            s = settings_from_values(spec_values(self, self._specs), self.get_namespace())
        except Exception as err:  # noqa: BLE001 - keep filtering with the old settings
            self.get_logger().error(f"parameter change not applied, old settings kept: {err}")
            return
        self.settings = s
        self.pipeline.reconfigure(s.cbf, s.state_timeout, s.enabled, s.predict_state,
                                  s.nominal_timeout, s.zero_hold)
        self._start_watchdog()
        if s.arena_source == "parameters":
            self.pipeline.set_arena(s.arena_bounds, s.obstacles)
        if any(p.name == "diagnostics_period" for p in params):
            self._diag_timer.cancel()
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        names = ", ".join(p.name for p in params)
        self.get_logger().info(f"parameters updated ({names}); safety filter rebuilt")

    def _start_watchdog(self) -> None:
        """(Re)create the nominal-command watchdog timer at the command rate (none if off)."""
        if self._watchdog_timer is not None:
            self._watchdog_timer.cancel()
            self.destroy_timer(self._watchdog_timer)
            self._watchdog_timer = None
        if self.settings.nominal_timeout > 0.0:
            self._watchdog_timer = self.create_timer(
                self.settings.cbf.dt, self._on_watchdog, clock=self._steady
            )

    # -- inputs ------------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        try:
            pose = pose_from_odometry(msg, self.settings.odom_offset)
        except NonFiniteInput as err:
            self._drop("state", err)
            return
        self.pipeline.set_state(pose, stamp=_stamp_or_none(msg.header),
                                velocity=_twist_or_none(msg))

    def _on_opponent_odom(self, msg: Odometry) -> None:
        try:
            pose = pose_from_odometry(msg)
        except NonFiniteInput as err:
            self._drop("opponent", err)
            return
        self.pipeline.set_opponent(pose, velocity=_twist_or_none(msg))

    def _on_game_state(self, msg: GameState) -> None:
        if self.settings.arena_source == "game_state":
            self._on_arena(msg.arena)
        try:
            own, other = split_game_state(msg, self.settings.robot_id)
        except KeyError as err:
            self._drop("state", err)
            return
        if self.settings.state_source == "game_state":
            try:
                self.pipeline.set_state(pose_from_agent_state(own),
                                        stamp=_stamp_or_none(msg.header),
                                        velocity=(own.v, own.omega))
            except NonFiniteInput as err:
                self._drop("state", err)
        if self.settings.opponent_source == "game_state":
            try:
                self.pipeline.set_opponent(pose_from_agent_state(other),
                                           velocity=(other.v, other.omega))
            except NonFiniteInput as err:
                self._drop("opponent", err)

    def _on_arena(self, msg: ArenaMsg) -> None:
        try:
            bounds, obstacles = arena_from_message(msg)
        except ValueError as err:  # NonFiniteInput is a ValueError
            self._drop("arena", err)
            return
        if self.pipeline.arena_matches(bounds, obstacles):
            return
        self.pipeline.set_arena(bounds, obstacles)
        if self.pipeline.resolver is None:
            self.get_logger().error(self.pipeline.arena_error)
        else:
            self.get_logger().info(f"arena {bounds} with {len(obstacles)} obstacles")

    def _drop(self, source: str, err: Exception) -> None:
        self.pipeline.drop(source)
        self.get_logger().warning(
            f"dropped {source} message: {err}", throttle_duration_sec=1.0
        )

    # -- the command path ----------------------------------------------------------------------
    def _on_nominal_bytes(self, data: bytes) -> None:
        """A serialized nominal command (the subscription is raw)."""
        stamped = self.settings.nominal_stamped
        try:
            decoded = decode_twist_stamped(data) if stamped else decode_twist(data)
        except MalformedCommand as err:  # truncated, padded, trailing bytes: never read
            self._drop("nominal", err)
            return
        if decoded is None:  # another wire representation: rclpy's own deserialization
            try:
                msg = deserialize_message(data, self._nominal_type)
            except Exception as err:  # noqa: BLE001 - whatever cannot be read is dropped
                self._drop("nominal", ValueError(f"undecodable command ({err})"))
                return
            self._on_nominal(msg)
            return
        if stamped:
            sec, nanosec, frame_id, v_nom, omega_nom = decoded
            stamp: tuple[int, int] | None = (sec, nanosec)
        else:
            (v_nom, omega_nom), stamp, frame_id = decoded, None, ""
        try:
            finite_command(v_nom, omega_nom)
        except NonFiniteInput as err:
            self._drop("nominal", err)
            return
        self._command(v_nom, omega_nom, stamp, frame_id)

    def _on_nominal(self, msg: Twist | TwistStamped) -> None:
        """A nominal command as a message object (the fallback of :meth:`_on_nominal_bytes`)."""
        try:
            v_nom, omega_nom = command_from_twist(msg)
        except NonFiniteInput as err:
            self._drop("nominal", err)
            return
        if isinstance(msg, TwistStamped):
            stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            self._command(v_nom, omega_nom, stamp, msg.header.frame_id)
        else:
            self._command(v_nom, omega_nom, None, "")

    def _command(self, v_nom: float, omega_nom: float, stamp: tuple[int, int] | None,
                 frame_id: str) -> None:
        max_age = self.settings.max_command_age
        if stamp is not None and max_age > 0.0:
            # Python ints: any int32/uint32 stamp, no overflow
            now_ns = self.get_clock().now().nanoseconds
            age = (now_ns - (stamp[0] * 1_000_000_000 + stamp[1])) / 1e9
            if not -max_age <= age <= max_age:
                decision = self.pipeline.refuse_stale(age, max_age, v_nom, omega_nom)
                self._publish(decision, stamp, frame_id, v_nom, omega_nom)
                self.get_logger().warning(f"STOP: {decision.reason}",
                                          throttle_duration_sec=1.0)
                return
        decision = self.pipeline.process(v_nom, omega_nom)
        self._publish(decision, stamp, frame_id, v_nom, omega_nom)
        if decision.tier == Tier.STOP:  # at most once a second, not at the command rate
            self.get_logger().warning(f"STOP: {decision.reason}", throttle_duration_sec=1.0)

    def _on_watchdog(self) -> None:
        """Timer: zero commands while the nominal command has timed out (see module doc)."""
        timeouts = self.pipeline.counters.nominal_timeouts
        decision = self.pipeline.tick()
        if decision is None:
            return
        self._publish(decision, None, "", 0.0, 0.0)
        if self.pipeline.counters.nominal_timeouts != timeouts:  # once per timeout
            self.get_logger().warning(
                f"STOP: {decision.reason}; publishing zero commands for "
                f"{self.settings.zero_hold} s, then nothing until a nominal command arrives"
            )

    def _publish(self, decision: FilterDecision, stamp: tuple[int, int] | None, frame_id: str,
                 v_nom: float, omega_nom: float) -> None:
        """Publish the safe command (and status, markers) of one decision.

        :param decision: what to publish.
        :param stamp: ``(sec, nanosec)`` of the nominal command's header, copied to the safe
            command and the status; None (unstamped nominal, watchdog): the decision's
            ``state_stamp``, or now if it has none, with the ``frame_id`` parameter.
        :param frame_id: the nominal command's header frame_id (used with ``stamp``).
        :param v_nom: nominal linear velocity reported in the status [m/s].
        :param omega_nom: nominal angular velocity reported in the status [rad/s].
        """
        s = self.settings
        if stamp is None:
            if decision.state_stamp is not None:
                stamp = decision.state_stamp
            else:
                now = self.get_clock().now().seconds_nanoseconds()
                stamp = (int(now[0]), int(now[1]))
            frame_id = s.frame_id
        v, omega = decision.command
        if s.output_stamped:
            out = encode_twist_stamped(stamp[0], stamp[1], frame_id.encode("utf-8"), v, omega)
        else:
            out = encode_twist(v, omega)
        self.cmd_pub.publish(out)
        if s.publish_status:
            self.status_pub.publish(self._status(decision, stamp, v_nom, omega_nom))
        self._maybe_publish_markers(decision)

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=self.settings.frame_id)

    def _status(
        self, d: FilterDecision, stamp: tuple[int, int], v_nom: float, omega_nom: float
    ) -> SafetyStatus:
        msg = self._status_msg
        msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
        msg.tier = int(d.tier)
        msg.min_h = float(d.min_h)
        msg.min_h_constraint = d.min_h_constraint
        msg.intervened = d.intervened
        msg.intervention = float(d.intervention)
        msg.qp_feasible = d.qp_feasible
        msg.solve_time = float(d.solve_time)
        msg.nominal.linear.x, msg.nominal.angular.z = v_nom, omega_nom
        msg.safe.linear.x, msg.safe.angular.z = d.command
        msg.reason = d.reason
        return msg

    def _maybe_publish_markers(self, decision: FilterDecision) -> None:
        rate = self.settings.markers_rate
        if rate <= 0.0 or self.marker_pub.get_subscription_count() == 0:
            return
        now = time.monotonic()
        if now - self._last_markers < 1.0 / rate:
            return
        self._last_markers = now
        p = self.pipeline
        if p.arena is None or p.pose is None or p.resolver is None:
            return
        opponent = p.opponent if p.needs_opponent else None
        try:
            markers = constraint_markers(
                self._header(), p.pose, decision.command, p.cbf,
                p.resolver.constraints(p.pose, opponent), p.arena, p.obstacles, opponent,
                decision.active_constraints, self.get_name(),
            )
        except ValueError as err:
            self.get_logger().warning(f"markers not drawn: {err}", throttle_duration_sec=5.0)
            return
        self.marker_pub.publish(markers)

    # -- diagnostics --------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        p, c = self.pipeline, self.pipeline.counters
        reason = p.stop_reason(time.monotonic())
        status = DiagnosticStatus()
        status.name = f"{self.get_fully_qualified_name()}: safety filter"
        status.hardware_id = self.settings.robot_id
        if not p.enabled:
            status.level, status.message = DiagnosticStatus.WARN, "disabled: no filtering"
        elif reason:
            status.level, status.message = DiagnosticStatus.ERROR, f"STOP: {reason}"
        elif c.core_errors:
            status.level, status.message = DiagnosticStatus.WARN, "core errors occurred"
        else:
            status.level, status.message = DiagnosticStatus.OK, "filtering"
        last = p.last_decision
        pairs = {
            "enabled": str(p.enabled),
            "commands": str(c.commands),
            "state_age_s": f"{p.state_age():.3f}",
            "nominal_age_s": f"{p.nominal_age():.3f}",
            "nominal_timeouts": str(c.nominal_timeouts),
            "timeout_zeros": str(c.timeout_zeros),
            "core_errors": str(c.core_errors),
            "last_tier": Tier(last.tier).name if last else "none",
            "last_reason": last.reason if last else "",
        }
        if p.cbf.actuated:  # docs/actuation.md: where the held velocity came from
            pairs["velocity_source"] = p.velocity_source
        pairs.update({f"tier_{t.name.lower()}": str(c.tier_counts[int(t)]) for t in Tier})
        pairs.update({f"dropped_{k}": str(v) for k, v in c.dropped.items()})
        status.values = [KeyValue(key=k, value=v) for k, v in pairs.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self.diag_pub.publish(array)

    # -- shutdown --------------------------------------------------------------------------
    def destroy_node(self) -> None:
        """Say goodbye -- one zero command, so that the robot stops rather than coasting on
        the last one -- then destroy the node (a failed goodbye is logged, never raised)."""
        try:
            self.publish_zero()
        except Exception as exc:  # noqa: BLE001 - the context may be gone: still destroy
            try:
                self.get_logger().error(f"could not publish the zero command: {exc}")
            except Exception:  # noqa: BLE001
                pass
        super().destroy_node()

    def publish_zero(self, wait_s: float = 0.5) -> None:
        """Publish one zero command and wait (bounded) until subscribers acknowledged it.

        :param wait_s: longest wait for the acknowledgement [s].
        """
        header = self._header() if self.settings.output_stamped else None
        self.cmd_pub.publish(command_message(0.0, 0.0, self.settings.output_stamped, header))
        self.cmd_pub.wait_for_all_acked(Duration(seconds=wait_s))


def _twist_or_none(msg: Odometry) -> tuple[float, float] | None:
    """``(v, omega)`` of an odometry twist; None when it is not finite (then the filter uses
    its actuator model, docs/actuation.md).

    :param msg: the odometry message.
    """
    try:
        return velocity_from_odometry(msg)
    except NonFiniteInput:
        return None


def _stamp_or_none(header: Header) -> tuple[int, int] | None:
    """``(sec, nanosec)`` of a state message's header; None for the zero (unset) stamp.

    :param header: the message's header.
    """
    stamp = (int(header.stamp.sec), int(header.stamp.nanosec))
    return None if stamp == (0, 0) else stamp


def main(args: list[str] | None = None) -> None:
    """Run the filter node until SIGINT/SIGTERM; then publish one zero command.

    ``--executor events|single`` (before ``--ros-args``) or ``SAFE_PE_EXECUTOR`` picks the
    rclpy executor (:mod:`safe_pe_cbf.ros_common.executors`); default :data:`DEFAULT_EXECUTOR`.
    The runner of every node (:func:`spin_until_shutdown`): a signal only sets a flag, the
    running callback finishes, then :meth:`SafetyFilterNode.destroy_node` sends the zero
    command and the process exits with code 0 (2 for invalid parameters at start-up).

    :param args: command-line arguments (``[--executor KIND] --ros-args ...``); default
        ``sys.argv``.
    """
    spin_until_shutdown(SafetyFilterNode, "safety_filter", args, DEFAULT_EXECUTOR)


if __name__ == "__main__":
    main()
