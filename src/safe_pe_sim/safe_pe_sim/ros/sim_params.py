"""Parameters of the simulator node: specs with descriptors, typed settings (no rclpy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from safe_pe_cbf.actuator import ACTUATOR_RANGES, MAX_LATENCY_STEPS, ActuatorLimits
from safe_pe_cbf.errors import ConfigError as CBFConfigError
from safe_pe_cbf.ros_common.param_specs import ParamSpec, spec_table

from safe_pe_sim.config import ConfigError, EnvConfig, load_profile
from safe_pe_sim.roles import ROLES

MODES = ("free_running", "lock_step")
CMD_TYPES = ("twist", "twist_stamped")
PROFILE_VALUE = -1
"""Value of an ``actuator.<role>.*`` parameter that keeps the profile's value."""

_ACTUATOR_TEXT = {
    "linear_accel": "largest rate at which |v| grows [m/s^2]",
    "linear_decel": "largest rate at which |v| falls, the braking limit [m/s^2]",
    "angular_accel": "largest rate of change of omega [rad/s^2]",
}


def _actuator_specs() -> tuple[ParamSpec, ...]:
    """``actuator.<role>.<field>`` of both robots (-1: the profile's value; 0: ideal)."""
    out = []
    for role in ROLES:
        for name, text in _ACTUATOR_TEXT.items():
            out.append(ParamSpec(
                f"actuator.{role}.{name}", float(PROFILE_VALUE),
                f"The {role}'s {text} in the actuator model (0: no limit; -1: the profile's "
                f"value). The odometry twist reports the ramped velocity.",
                float(PROFILE_VALUE), ACTUATOR_RANGES[name][1], int_ok=True))
        out.append(ParamSpec(
            f"actuator.{role}.latency_steps", PROFILE_VALUE,
            f"Control periods between a command of the {role} and the period in which its base "
            f"starts to follow it (0: at once; -1: the profile's value). A change drops or "
            f"repeats commands in flight.", PROFILE_VALUE, MAX_LATENCY_STEPS))
    return tuple(out)


SIM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("profile", "default", "Game profile: 'default', 'turtlebot3_burger', "
              "'turtlebot3_burger_ramped', 'diff_drive_nav2', or a path to an EnvConfig YAML "
              "file.", read_only=True),
    ParamSpec("seed", 0, "Seed of the first episode's layout and spawns (-1: fresh random "
              "seed). Later auto-reset episodes continue the same random stream.", -1,
              2**62, read_only=True),
    ParamSpec("rate", 0.0, "Steps per wall-clock second in free_running mode (0: "
              "real_time_factor / dt).", 0.0, 10000.0),
    ParamSpec("real_time_factor", 1.0, "free_running with rate 0: simulated seconds per "
              "wall-clock second (2: twice as fast as real time). Above 1, publish /clock and "
              "run the other nodes with use_sim_time so their timers follow.", 0.01, 100.0),
    ParamSpec("mode", "free_running", "free_running: step at 'rate' with the latest fresh "
              "commands; lock_step: step as soon as every robot sent a command for the current "
              "step (or lock_step_timeout passed).", choices=MODES),
    ParamSpec("lock_step_timeout", 0.5, "lock_step: step anyway after this long [s]; robots "
              "without a command for the step stop.", 0.001, 60.0),
    ParamSpec("cmd_timeout", 0.5, "free_running: a command older than this [s] is stale and "
              "the robot stops.", 0.001, 60.0),
    ParamSpec("max_hold_steps", 1, "free_running: steps one command may be applied before the "
              "robot stops (0: only cmd_timeout). 1 matches the safety filter, which certifies "
              "a command for one control period.", 0, 100000),
    ParamSpec("lock_step_match_stamp", False, "lock_step with twist_stamped: a command counts "
              "for a step only if its header stamp equals that step's game-state stamp (the "
              "policy stamps its nominal with the state it used and the filter copies it, "
              "or, for an unstamped nominal, the filter stamps its answer with the state "
              "it used)."),
    ParamSpec("cmd_type", "twist", "Message type of every robot's cmd_vel.", choices=CMD_TYPES,
              read_only=True),
    ParamSpec("robots", ROLES, "Robot names = namespaces [pursuer, evader].",
              read_only=True, array_kind="string"),
    ParamSpec("frame_id", "arena", "Arena frame of odometry, game state and markers.",
              read_only=True),
    ParamSpec("publish_clock", False, "Publish /clock (simulated time) and stamp messages "
              "with it (other nodes then run with use_sim_time).", read_only=True),
    ParamSpec("auto_reset", True, "Start a new episode when one ends (otherwise wait for "
              "/safe_pe/reset_episode)."),
    ParamSpec("markers_period", 1.0, "Period [s] of /safe_pe/obstacle_markers (also sent at "
              "every reset).", 0.05, 60.0),
) + _actuator_specs()


@dataclass(frozen=True)
class SimNodeSettings:
    """Validated settings of the simulator node.

    :param env: the game configuration (from ``profile``).
    :param seed: first seed (``None``: fresh random seed).
    :param rate: steps per second in free_running mode (0: ``real_time_factor / dt``).
    :param real_time_factor: simulated seconds per wall-clock second when ``rate`` is 0.
    :param mode: ``"free_running"`` or ``"lock_step"``.
    :param lock_step_timeout: longest wait for commands in lock_step mode [s].
    :param cmd_timeout: command staleness limit in free_running mode [s].
    :param max_hold_steps: steps one command may be applied in free_running mode (0: any).
    :param match_stamp: lock_step: only commands stamped with the step's state stamp count.
    :param stamped: cmd_vel is TwistStamped.
    :param robots: robot names (pursuer first).
    :param frame_id: arena frame.
    :param publish_clock: publish /clock.
    :param auto_reset: reset automatically at episode end.
    :param markers_period: obstacle markers period [s].
    :param actuators: ``(pursuer, evader)`` actuator limits: the profile's, with the
        ``actuator.<role>.*`` parameters that are not -1 applied.
    """

    env: EnvConfig
    seed: int | None
    rate: float
    real_time_factor: float
    mode: str
    lock_step_timeout: float
    cmd_timeout: float
    max_hold_steps: int
    match_stamp: bool
    stamped: bool
    robots: tuple[str, str]
    frame_id: str
    publish_clock: bool
    auto_reset: bool
    markers_period: float
    actuators: tuple[ActuatorLimits, ActuatorLimits]

    @property
    def step_period(self) -> float:
        """Wall-clock period [s] between free-running steps."""
        return 1.0 / self.rate if self.rate > 0.0 else self.env.dt / self.real_time_factor


def sim_specs() -> dict[str, ParamSpec]:
    """The simulator's parameter specs by name."""
    return spec_table(SIM_SPECS)


def sim_settings_from_values(
    values: Mapping[str, Any], env: EnvConfig | None = None
) -> SimNodeSettings:
    """Check all values together and build the settings; ``ValueError`` lists every problem.

    :param values: every parameter value by name.
    :param env: already-loaded game config to reuse (``profile`` is read-only, so a runtime
        change never reloads it).
    """
    specs = sim_specs()
    problems = []
    for name, spec in specs.items():
        problem = spec.check(values[name]) if name in values else f"{name}: missing"
        if problem:
            problems.append(problem)
    if problems:
        raise ValueError("invalid simulator parameters: " + "; ".join(problems))
    robots = tuple(values["robots"])
    if len(robots) != 2 or len(set(robots)) != 2 or not all(robots):
        problems.append(f"robots: need two distinct names [pursuer, evader], got {list(robots)}")
    if env is None:
        try:
            env = load_profile(values["profile"])
        except (ConfigError, OSError, ValueError) as err:
            problems.append(f"profile: {err}")
    actuators = []
    if env is not None:
        for role, robot in zip(ROLES, env.robots()):
            merged = robot.actuator.to_dict()
            for name in merged:
                value = values[f"actuator.{role}.{name}"]
                if value == PROFILE_VALUE:
                    continue
                if value < 0:
                    problems.append(f"actuator.{role}.{name}: {value!r} must be -1 (the "
                                    f"profile's value) or a limit >= 0 (0: none)")
                    continue
                merged[name] = int(value) if name == "latency_steps" else float(value)
            try:
                actuators.append(ActuatorLimits(**merged).validate(f"actuator.{role}"))
            except CBFConfigError as err:
                problems.append(str(err))
    if problems:
        raise ValueError("invalid simulator parameters: " + "; ".join(problems))
    assert env is not None
    seed = int(values["seed"])
    return SimNodeSettings(
        env=env,
        seed=None if seed < 0 else seed,
        rate=float(values["rate"]),
        real_time_factor=float(values["real_time_factor"]),
        mode=values["mode"],
        lock_step_timeout=float(values["lock_step_timeout"]),
        cmd_timeout=float(values["cmd_timeout"]),
        max_hold_steps=int(values["max_hold_steps"]),
        match_stamp=values["lock_step_match_stamp"],
        stamped=values["cmd_type"] == "twist_stamped",
        robots=(robots[0], robots[1]),
        frame_id=values["frame_id"],
        publish_clock=values["publish_clock"],
        auto_reset=values["auto_reset"],
        markers_period=float(values["markers_period"]),
        actuators=(actuators[0], actuators[1]),
    )
