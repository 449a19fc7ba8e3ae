"""Parameters of the safety-filter node: specs, typed settings, validation (no rclpy).

Node-level parameters are listed in :data:`NODE_SPECS`. The CBF parameters are the fields of
``safe_pe_cbf.config.CBFConfig``, declared as ``cbf.<field>`` with the defaults of that
dataclass, so the node and the core can never disagree on names. Every change is checked
here (:func:`settings_from_values`) before it is applied; a rejected change leaves the
running filter untouched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from safe_pe_cbf.actuator import ACTUATOR_RANGES, MAX_LATENCY_STEPS, ActuatorLimits
from safe_pe_cbf.config import FIELD_RANGES, MAX_WEIGHT_RATIO, WEIGHT_RANGE, CBFConfig
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver
from safe_pe_cbf.ros_common.arena_params import ARENA_SPECS, arena_from_values
from safe_pe_cbf.ros_common.conversions import PoseOffset
from safe_pe_cbf.ros_common.param_specs import ParamSpec, spec_table

CBF_PREFIX = "cbf."

STATE_SOURCES = ("odom", "game_state")
OPPONENT_SOURCES = ("none", "game_state", "odom")
ARENA_SOURCES = ("parameters", "topic", "game_state")
CMD_TYPES = ("twist", "twist_stamped")

NODE_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("robot_id", "", "This robot's id in the game state (empty: the node namespace's "
              "last component, or 'pursuer' without a namespace).", read_only=True),
    ParamSpec("frame_id", "arena", "Arena frame: frame of statuses and markers.",
              read_only=True),
    ParamSpec("nominal_cmd_type", "twist", "Message type of cmd_vel_nominal (must match the "
              "policy's cmd_type).", choices=CMD_TYPES, read_only=True),
    ParamSpec("cmd_type", "twist", "Message type of the safe cmd_vel: twist (Jazzy bases) or "
              "twist_stamped (Kilted default); header copied from the nominal when stamped, else "
              "the stamp of the odometry/game state the command was computed from.",
              choices=CMD_TYPES, read_only=True),
    ParamSpec("state_source", "odom", "Where this robot's pose comes from.",
              choices=STATE_SOURCES, read_only=True),
    ParamSpec("odom_offset", (0.0, 0.0, 0.0), "[x, y, yaw] of the odometry frame's origin in "
              "the arena frame (odom pose -> arena pose).", array_kind="double"),
    ParamSpec("opponent_source", "none", "Where the other robot's pose comes from ('none': no "
              "robot-robot constraint).", choices=OPPONENT_SOURCES, read_only=True),
    ParamSpec("opponent_odom_topic", "", "Odometry topic of the other robot when "
              "opponent_source is 'odom' (e.g. /evader/odom).", read_only=True),
    ParamSpec("arena_source", "parameters", "Walls and obstacles from the arena.* and obstacles "
              "parameters, the /safe_pe/arena topic (transient local), or the arena inside "
              "each /safe_pe/game_state (always consistent with the state in simulation).",
              choices=ARENA_SOURCES, read_only=True),
    *ARENA_SPECS,
    ParamSpec("state_timeout", 0.5, "State older than this [s] (wall time since receipt) -> "
              "STOP: zero velocity with a reason.", 0.005, 10.0),
    ParamSpec("nominal_timeout", 0.1, "No nominal command for this long [s] while the last "
              "safe command was not zero -> zero commands (tier STOP) for zero_hold seconds, "
              "then silence until a nominal command arrives. Checked at the command rate "
              "(1/cbf.dt); about 2 x cbf.dt; 0 disables (the base's own timeout applies).",
              0.0, 10.0),
    ParamSpec("zero_hold", 0.5, "After a nominal timeout, keep publishing zero commands at the "
              "command rate for this long [s], then stop publishing (a mux can hand over).",
              0.0, 10.0),
    ParamSpec("max_command_age", 0.0, "TwistStamped nominal commands whose header stamp is "
              "more than this [s] older (or newer) than the node's clock are answered with a "
              "zero command (tier STOP) and counted (dropped_nominal_stale). 0 (default) turns "
              "the check off: robot and policy clocks are often not synchronised. Needs "
              "nominal_cmd_type twist_stamped.", 0.0, 3600.0),
    ParamSpec("predict_state", False, "Advance the last received pose to the command time "
              "along the safe commands sent since (exact arcs): covers the odometry's age on "
              "hardware. Keep false with a lock-step simulator."),
    ParamSpec("enabled", True, "false: nominal commands pass through unfiltered (tier "
              "DISABLED). Safety off: for experiments only."),
    ParamSpec("publish_status", True, "Publish safety_status for every command."),
    ParamSpec("markers_rate", 10.0, "Highest rate [Hz] of safety_markers (only published "
              "while someone subscribes; 0 disables).", 0.0, 100.0),
    ParamSpec("diagnostics_period", 1.0, "Period [s] of /diagnostics messages.", 0.1, 60.0),
)

# Descriptions of the CBFConfig fields; their ranges are the core's (config.FIELD_RANGES), so
# the node's descriptors and the core's validation never disagree.
CBF_FIELD_DOCS: dict[str, str] = {
    "vcp_offset": "Distance d of the virtual control point ahead of the axle [m].",
    "dt": "Control period the safe command is held for [s] (must match the robot loop).",
    "robot_radius": "Radius of the disk enclosing this robot's body [m].",
    "v_min": "Lowest linear velocity [m/s] (negative: may reverse).",
    "v_max": "Highest linear velocity [m/s].",
    "omega_max": "Largest |angular velocity| [rad/s].",
    "opponent_radius": "Radius of the other robot's body [m].",
    "opponent_vcp_offset": "VCP offset the other robot's filter uses [m].",
    "opponent_v_max": "Speed bound of the other robot [m/s] (worst case it moves at).",
    "opponent_omega_max": "Angular speed bound of the other robot [rad/s] (worst case).",
    "collision_mode": "shared (the other robot is filtered too) or worst_case.",
    "collision_share": "Share of the robot-robot avoidance this robot takes on (0..1].",
    "gamma": "Discrete-time CBF decay rate per step (0..1].",
    "margin": "Extra clearance added to every constraint [m].",
    "weights": f"QP weights [w_v, w_omega] of the distance to the nominal command, each in "
               f"[{WEIGHT_RANGE[0]:g}, {WEIGHT_RANGE[1]:g}], ratio <= {MAX_WEIGHT_RATIO:g}.",
    "relaxation_order": "Constraint groups in the order they are kept when relaxing.",
    "solver": "QP backend: exact or osqp.",
    "osqp_warm_start": "With solver osqp: set up once, update per call.",
    "feasibility_tol": "Solver tolerance in scaled units (keep 1e-9); every command is "
                       "checked against the unscaled constraints as well.",
}


#: the actuator sections of CBFConfig, declared as ``<section>.<field>`` (docs/actuation.md)
ACTUATOR_SECTIONS = ("actuator", "opponent_actuator")
ACTUATOR_FIELD_DOCS: dict[str, str] = {
    "linear_accel": "Largest rate at which |v| grows [m/s^2] (0: at once).",
    "linear_decel": "Braking limit: largest rate at which |v| falls [m/s^2] (0: at once).",
    "angular_accel": "Largest rate of change of omega [rad/s^2] (0: at once).",
    "latency_steps": "Control periods between the state a command is computed from and the "
                     "period the base starts to follow it (latency rounded up to periods).",
}


def actuator_specs(base: CBFConfig | None = None) -> tuple[ParamSpec, ...]:
    """``actuator.*`` (this robot) and ``opponent_actuator.*`` specs, defaults from ``base``.

    :param base: config whose actuator sections become the parameter defaults.
    """
    cfg = base if base is not None else CBFConfig()
    specs = []
    for section in ACTUATOR_SECTIONS:
        limits = getattr(cfg, section)
        whose = "This robot" if section == "actuator" else "The other robot (shared mode)"
        for name, (lo, hi) in ACTUATOR_RANGES.items():
            specs.append(ParamSpec(f"{section}.{name}", float(getattr(limits, name)),
                                   f"{whose}: {ACTUATOR_FIELD_DOCS[name]}", lo, hi,
                                   int_ok=True))
        specs.append(ParamSpec(f"{section}.latency_steps", int(limits.latency_steps),
                               f"{whose}: {ACTUATOR_FIELD_DOCS['latency_steps']}", 0,
                               MAX_LATENCY_STEPS))
    return tuple(specs)


def actuators_from_values(values: Mapping[str, Any], problems: list[str]
                          ) -> dict[str, ActuatorLimits]:
    """The ``actuator`` and ``opponent_actuator`` sections from parameter values (problems
    appended, ideal limits in their place).

    :param values: parameter values by name.
    :param problems: list that each problem found is appended to.
    """
    out = {}
    for section in ACTUATOR_SECTIONS:
        data = {name: values[f"{section}.{name}"] for name in
                (*ACTUATOR_RANGES, "latency_steps") if f"{section}.{name}" in values}
        try:
            out[section] = ActuatorLimits.from_dict(data, where=section)
        except Exception as err:  # noqa: BLE001 - a rejected value, with its reason
            problems.append(str(err))
            out[section] = ActuatorLimits()
    return out


def cbf_specs(base: CBFConfig | None = None) -> tuple[ParamSpec, ...]:
    """One ``cbf.<field>`` spec per CBFConfig field, defaults from ``base`` (or the defaults).

    :param base: config whose values become the parameter defaults.
    """
    cfg = base if base is not None else CBFConfig()
    specs = []
    for f in dataclasses.fields(cfg):
        if not f.init or f.name in ACTUATOR_SECTIONS:
            continue  # the actuator sections: actuator_specs
        value = getattr(cfg, f.name)
        text = CBF_FIELD_DOCS.get(f.name, f"CBFConfig.{f.name}.")
        lo, hi, _ = FIELD_RANGES.get(f.name, (None, None, False))
        name = CBF_PREFIX + f.name
        if isinstance(value, (list, tuple)):
            if all(isinstance(v, str) for v in value):
                specs.append(ParamSpec(name, tuple(value), text, array_kind="string"))
            elif f.name == "weights":
                specs.append(ParamSpec(name, tuple(float(v) for v in value), text,
                                       WEIGHT_RANGE[0], WEIGHT_RANGE[1], array_kind="double"))
            else:
                specs.append(ParamSpec(name, tuple(float(v) for v in value), text,
                                       array_kind="double"))
        elif isinstance(value, bool):
            specs.append(ParamSpec(name, value, text))
        elif isinstance(value, int):
            specs.append(ParamSpec(name, value, text, lo, hi))
        elif isinstance(value, float):
            specs.append(ParamSpec(name, value, text, lo, hi))
        elif isinstance(value, str):
            specs.append(ParamSpec(name, value, text))
        elif value is None:
            continue  # optional field without a default: not configurable from ROS
        else:
            raise TypeError(f"CBFConfig.{f.name} has unsupported type {type(value).__name__}")
    return tuple(specs)


def all_specs(base: CBFConfig | None = None) -> dict[str, ParamSpec]:
    """Node and CBF specs by name.

    :param base: config whose values become the ``cbf.*`` defaults.
    """
    return spec_table(NODE_SPECS + cbf_specs(base) + actuator_specs(base))


@dataclass(frozen=True)
class FilterNodeSettings:
    """Validated settings of one safety-filter node.

    :param robot_id: this robot's id in the game state.
    :param frame_id: arena frame name.
    :param nominal_stamped: nominal commands are TwistStamped.
    :param output_stamped: safe commands are published as TwistStamped.
    :param state_source: ``"odom"`` or ``"game_state"``.
    :param odom_offset: odometry frame -> arena frame transform.
    :param opponent_source: ``"none"``, ``"game_state"`` or ``"odom"``.
    :param opponent_odom_topic: odometry topic of the opponent (``opponent_source="odom"``).
    :param arena_source: ``"parameters"``, ``"topic"`` or ``"game_state"``.
    :param arena_bounds: ``(x_min, x_max, y_min, y_max)`` from parameters.
    :param obstacles: ``(K, 3)`` obstacles from parameters.
    :param state_timeout: staleness limit [s].
    :param nominal_timeout: nominal-command timeout [s] (0: off).
    :param zero_hold: zero commands are published this long after a nominal timeout [s].
    :param max_command_age: stamped nominal commands older/newer than this are refused [s]
        (0: off).
    :param predict_state: advance the pose by the commands sent since it was received.
    :param enabled: filtering on.
    :param publish_status: publish SafetyStatus per command.
    :param markers_rate: markers rate limit [Hz] (0: never).
    :param diagnostics_period: diagnostics period [s].
    :param cbf: the validated core config.
    """

    robot_id: str
    frame_id: str
    nominal_stamped: bool
    output_stamped: bool
    state_source: str
    odom_offset: PoseOffset
    opponent_source: str
    opponent_odom_topic: str
    arena_source: str
    arena_bounds: tuple[float, float, float, float]
    obstacles: np.ndarray
    state_timeout: float
    nominal_timeout: float
    zero_hold: float
    max_command_age: float
    predict_state: bool
    enabled: bool
    publish_status: bool
    markers_rate: float
    diagnostics_period: float
    cbf: CBFConfig


def default_robot_id(namespace: str) -> str:
    """The robot id implied by a node namespace (``/pursuer`` -> ``pursuer``).

    :param namespace: the node's namespace, e.g. ``"/"`` or ``"/robots/pursuer"``.
    """
    name = namespace.rstrip("/").rsplit("/", 1)[-1]
    return name or "pursuer"


def settings_from_values(values: Mapping[str, Any], namespace: str = "/") -> FilterNodeSettings:
    """Check all parameter values together and build the settings.

    Raises ``ValueError`` listing every problem (type/range of each value, then the cross-field
    rules of the node and of ``CBFConfig.validate``).

    :param values: every parameter value by name (node + ``cbf.*``).
    :param namespace: node namespace (for the default robot id).
    """
    specs = all_specs()
    problems = []
    for name, spec in specs.items():
        if name not in values:
            problems.append(f"{name}: missing")
            continue
        problem = spec.check(values[name])
        if problem:
            problems.append(problem)
    if problems:
        raise ValueError("invalid filter parameters: " + "; ".join(problems))

    bounds, obstacles = arena_from_values(values, problems)
    offset = list(values["odom_offset"] or [0.0, 0.0, 0.0])
    if len(offset) != 3:
        problems.append(f"odom_offset: need [x, y, yaw], got {offset}")
        offset = [0.0, 0.0, 0.0]
    if float(values["max_command_age"]) > 0.0 and values["nominal_cmd_type"] != "twist_stamped":
        problems.append("max_command_age: needs nominal_cmd_type twist_stamped (a Twist has "
                        "no stamp); use 0 with twist")
    if values["opponent_source"] == "odom" and not values["opponent_odom_topic"]:
        problems.append("opponent_odom_topic: required when opponent_source is 'odom'")

    cbf_values = {
        name[len(CBF_PREFIX):]: (tuple(value) if isinstance(value, (list, tuple)) else value)
        for name, value in values.items()
        if name.startswith(CBF_PREFIX)
    }
    cbf_values.update(actuators_from_values(values, problems))
    cbf = None
    try:
        cbf = CBFConfig.from_dict(cbf_values)
        cbf.validate()
    except Exception as err:  # noqa: BLE001 - whatever fails is a rejected value, with reason
        problems.append(f"cbf: {err}")
    nominal_timeout = float(values["nominal_timeout"])
    if cbf is not None and 0.0 < nominal_timeout < cbf.dt:
        problems.append(
            f"nominal_timeout: {nominal_timeout} s is shorter than the command period cbf.dt "
            f"{cbf.dt} s (every command would time out); use about 2 x cbf.dt, or 0 to disable"
        )
    if cbf is not None and not problems and values["arena_source"] == "parameters":
        try:  # the same checks the resolver makes: fail here, not at the first command
            SafeActionResolver(cbf, Arena(*bounds), obstacles)
        except Exception as err:  # noqa: BLE001 - reject with the reason, never crash
            problems.append(f"arena: {err}")
    if problems:
        raise ValueError("invalid filter parameters: " + "; ".join(problems))
    assert cbf is not None
    return FilterNodeSettings(
        robot_id=values["robot_id"] or default_robot_id(namespace),
        frame_id=values["frame_id"],
        nominal_stamped=values["nominal_cmd_type"] == "twist_stamped",
        output_stamped=values["cmd_type"] == "twist_stamped",
        state_source=values["state_source"],
        odom_offset=PoseOffset(*(float(v) for v in offset)),
        opponent_source=values["opponent_source"],
        opponent_odom_topic=values["opponent_odom_topic"],
        arena_source=values["arena_source"],
        arena_bounds=bounds,  # type: ignore[arg-type]
        obstacles=obstacles,
        state_timeout=float(values["state_timeout"]),
        nominal_timeout=nominal_timeout,
        zero_hold=float(values["zero_hold"]),
        max_command_age=float(values["max_command_age"]),
        predict_state=values["predict_state"],
        enabled=values["enabled"],
        publish_status=values["publish_status"],
        markers_rate=float(values["markers_rate"]),
        diagnostics_period=float(values["diagnostics_period"]),
        cbf=cbf,
    )

