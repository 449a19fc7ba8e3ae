"""Game state of two physical robots from their odometry: parameters and assembly (no rclpy).

The game-state node (:mod:`safe_pe_sim.ros.game_state_node`) is a thin shell over this module:
it converts each ``nav_msgs/Odometry`` into an arena-frame pose with the robot's fixed
``PoseOffset`` (``safe_pe_cbf.ros_common.conversions``), hands it to
:class:`GameStateAssembler`, and turns each :class:`AssembledState` into a
``safe_pe_msgs/GameState``. The arena comes from the same ``arena.*``/``obstacles``
parameters as the safety filter's (one arena file serves both) or from ``/safe_pe/arena``.
Body-level violations use the simulator's own
:func:`safe_pe_sim.safety_check.check_step_scalar` (a zero-length step: the sampled poses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from safe_pe_cbf.barriers import as_rows
from safe_pe_cbf.ros_common.arena_params import ARENA_SPECS, arena_from_values
from safe_pe_cbf.ros_common.conversions import PoseOffset
from safe_pe_cbf.ros_common.param_specs import ParamSpec, spec_table

from safe_pe_sim.config import ConfigError, EnvConfig, check_layout, load_profile
from safe_pe_sim.roles import ROLES
from safe_pe_sim.safety_check import check_step_scalar, describe

ARENA_SOURCES = ("parameters", "topic")
OFFSET_PARAMS = ("pursuer_odom_offset", "evader_odom_offset")

GAME_STATE_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("robots", ROLES, "Robot names [pursuer, evader]: odometry is "
              "read from /<robot>/odom.", read_only=True, array_kind="string"),
    ParamSpec("profile", "turtlebot3_burger", "Game profile ('default', 'turtlebot3_burger' "
              "or an EnvConfig YAML path): dt, body radii, command limits, max_steps.",
              read_only=True),
    ParamSpec("rate", 0.0, "Game states published per second (0: 1/dt of the profile).",
              0.0, 1000.0),
    ParamSpec("capture_radius", 0.0, "Distance [m] at or below which the evader counts as "
              "captured (0: the profile's capture_radius).", 0.0, 100.0),
    ParamSpec("odom_timeout", 0.3, "Odometry older than this [s] (since receipt), or missing: "
              "publish no game state (policies stop publishing, filters stop the robots).",
              0.005, 10.0),
    ParamSpec("frame_id", "arena", "Arena frame written into the game state.", read_only=True),
    ParamSpec("arena_source", "parameters", "Walls and obstacles from the arena.* and "
              "obstacles parameters (the filter's arena file; then also published on "
              "/safe_pe/arena, transient local) or from the /safe_pe/arena topic.",
              choices=ARENA_SOURCES, read_only=True),
    *ARENA_SPECS,
    ParamSpec("pursuer_odom_offset", (0.0, 0.0, 0.0), "[x, y, yaw] of the pursuer's odometry "
              "origin in the arena frame (where it stood when its odometry started).",
              array_kind="double"),
    ParamSpec("evader_odom_offset", (0.0, 0.0, 0.0), "[x, y, yaw] of the evader's odometry "
              "origin in the arena frame (where it stood when its odometry started).",
              array_kind="double"),
    ParamSpec("diagnostics_period", 1.0, "Period [s] of /diagnostics messages.", 0.1, 60.0),
)


def game_state_specs() -> dict[str, ParamSpec]:
    """The game-state node's parameter specs by name."""
    return spec_table(GAME_STATE_SPECS)


@dataclass(frozen=True)
class GameStateSettings:
    """Validated settings of the game-state node.

    :param env: game profile (dt, robots, max_steps).
    :param robots: robot names (pursuer first).
    :param rate: publications per second.
    :param capture_radius: capture distance [m].
    :param odom_timeout: odometry staleness limit [s].
    :param frame_id: arena frame.
    :param arena_source: ``"parameters"`` or ``"topic"``.
    :param bounds: ``(x_min, x_max, y_min, y_max)`` from the parameters.
    :param obstacles: ``(K, 3)`` obstacles from the parameters.
    :param offsets: odometry -> arena transform per robot (pursuer first).
    :param diagnostics_period: diagnostics period [s].
    """

    env: EnvConfig
    robots: tuple[str, str]
    rate: float
    capture_radius: float
    odom_timeout: float
    frame_id: str
    arena_source: str
    bounds: tuple[float, float, float, float]
    obstacles: np.ndarray
    offsets: tuple[PoseOffset, PoseOffset]
    diagnostics_period: float

    @property
    def period(self) -> float:
        """Publication period [s]."""
        return 1.0 / self.rate if self.rate > 0.0 else self.env.dt


def _valid_name(name: str) -> bool:
    return bool(name) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def settings_from_values(values: Mapping[str, Any],
                         env: EnvConfig | None = None) -> GameStateSettings:
    """Check all values together and build the settings; ``ValueError`` lists every problem.

    :param values: every parameter value by name.
    :param env: already-loaded profile to reuse (``profile`` is read-only).
    """
    problems = []
    for name, spec in game_state_specs().items():
        problem = spec.check(values[name]) if name in values else f"{name}: missing"
        if problem:
            problems.append(problem)
    if problems:
        raise ValueError("invalid game-state parameters: " + "; ".join(problems))
    robots = tuple(values["robots"])
    if len(robots) != 2 or len(set(robots)) != 2 or not all(map(_valid_name, robots)):
        problems.append(f"robots: need two distinct ROS names [pursuer, evader], got "
                        f"{list(robots)}")
    bounds, obstacles = arena_from_values(values, problems)
    try:
        check_layout(bounds, obstacles, "arena.*/obstacles")
    except ConfigError as err:
        problems.append(str(err))
    offsets = []
    for name in OFFSET_PARAMS:
        offset = list(values[name] or [0.0, 0.0, 0.0])
        if len(offset) != 3:
            problems.append(f"{name}: need [x, y, yaw], got {offset}")
            offset = [0.0, 0.0, 0.0]
        offsets.append(PoseOffset(*(float(v) for v in offset)))
    if env is None:
        try:
            env = load_profile(values["profile"])
        except (ConfigError, OSError, ValueError) as err:
            problems.append(f"profile: {err}")
    if env is not None:
        contact = env.pursuer.radius + env.evader.radius
        capture = float(values["capture_radius"]) or env.capture_radius
        if capture <= contact:
            problems.append(f"capture_radius: {capture} m must exceed the bodies' contact "
                            f"distance {contact} m")
    if problems:
        raise ValueError("invalid game-state parameters: " + "; ".join(problems))
    assert env is not None
    return GameStateSettings(
        env=env, robots=(robots[0], robots[1]), rate=float(values["rate"]),
        capture_radius=float(values["capture_radius"]) or float(env.capture_radius),
        odom_timeout=float(values["odom_timeout"]), frame_id=values["frame_id"],
        arena_source=values["arena_source"], bounds=bounds,  # type: ignore[arg-type]
        obstacles=obstacles, offsets=(offsets[0], offsets[1]),
        diagnostics_period=float(values["diagnostics_period"]))


@dataclass
class OdomSample:
    """The newest odometry of one robot, already in the arena frame.

    :param pose: ``(x, y, theta)`` in the arena frame.
    :param velocity: measured ``(v, omega)``.
    :param stamp_ns: header stamp [ns] (0: unstamped).
    :param received: receipt time [s] on the node's monotonic clock.
    """

    pose: np.ndarray
    velocity: tuple[float, float]
    stamp_ns: int
    received: float


@dataclass(frozen=True)
class AssembledState:
    """One game state ready to publish (agent 0 = pursuer).

    :param poses: ``(2, 3)`` arena-frame poses.
    :param velocities: ``(2, 2)`` measured ``(v, omega)``.
    :param stamp_ns: newest odometry stamp [ns] (0 when neither robot stamps its odometry).
    :param episode_id: episode counter (a new episode after a stall or a timeout).
    :param step: states published in this episode before this one.
    :param distance: centre-to-centre distance [m].
    :param captured: ``distance <= capture_radius``.
    :param timed_out: the profile's ``max_steps`` was reached (the next state starts a new
        episode, so a policy's time-left observation stays in its trained range).
    :param violation: some body overlaps an obstacle, crosses a wall, or the bodies overlap.
    :param violation_detail: which robot and constraint (empty without a violation).
    """

    poses: np.ndarray
    velocities: np.ndarray
    stamp_ns: int
    episode_id: int
    step: int
    distance: float
    captured: bool
    timed_out: bool
    violation: bool
    violation_detail: str


def body_violations(poses: np.ndarray, radii: tuple[float, float], obstacles: np.ndarray,
                    bounds: tuple[float, float, float, float],
                    names: tuple[str, str]) -> tuple[bool, str]:
    """Whether the bodies at ``poses`` violate anything, and the simulator-style detail text.

    Uses the simulator's ground-truth check on a zero-length step (the poses themselves).

    :param poses: ``(2, 3)`` poses (pursuer first).
    :param radii: body radii (pursuer, evader).
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with their kind.
    :param bounds: ``(x_min, x_max, y_min, y_max)``.
    :param names: robot names for the detail text.
    """
    prev = [(float(p[0]), float(p[1]), float(p[2])) for p in np.asarray(poses).reshape(2, 3)]
    rows = [tuple(float(v) for v in o) for o in as_rows(obstacles)]
    rep = check_step_scalar(prev, [(0.0, 0.0), (0.0, 0.0)], 1.0, 1, radii, rows, bounds)
    parts = [names[a] + ": " + describe(rep.kinds[a], rep.depth[a], rep.obstacle_index[a],
                                        rep.wall_index[a])
             for a in range(2) if rep.violated[a]]
    return bool(rep.violated[0] or rep.violated[1]), "; ".join(parts)


class GameStateAssembler:
    """Keeps the newest odometry of both robots and the arena; builds game states.

    :param settings: validated node settings (robots, profile, timeouts, arena).
    """

    def __init__(self, settings: GameStateSettings) -> None:
        self.settings = settings
        self.samples: list[OdomSample | None] = [None, None]
        self.arena: tuple[tuple[float, float, float, float], np.ndarray] | None = None
        if settings.arena_source == "parameters":
            self.arena = (settings.bounds, settings.obstacles)
        self.episode_id = -1
        self.step = 0
        self.published = 0
        self._publishing = False
        self.dropped = {name: 0 for name in settings.robots}

    def receive(self, agent: int, odom_pose: tuple[float, float, float],
                velocity: tuple[float, float], stamp_ns: int, now: float) -> None:
        """Store one robot's odometry (pose in its odometry frame; the offset is applied here).

        :param agent: 0 pursuer, 1 evader.
        :param odom_pose: ``(x, y, theta)`` in the robot's odometry frame.
        :param velocity: measured ``(v, omega)``.
        :param stamp_ns: header stamp [ns].
        :param now: receipt time [s] (monotonic).
        :raises ValueError: on NaN/inf (the caller drops and counts the message).
        """
        values = (*odom_pose, *velocity)
        if not all(math.isfinite(float(v)) for v in values):
            raise ValueError(f"odometry of {self.settings.robots[agent]} is not finite: "
                             f"{values}")
        pose = self.settings.offsets[agent].apply(*(float(v) for v in odom_pose))
        self.samples[agent] = OdomSample(pose, (float(velocity[0]), float(velocity[1])),
                                         int(stamp_ns), float(now))

    def set_arena(self, bounds: tuple[float, float, float, float],
                  obstacles: np.ndarray) -> None:
        """Replace walls and obstacles (already validated, e.g. by ``arena_from_message``).

        :param bounds: ``(x_min, x_max, y_min, y_max)``.
        :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with their kind.
        """
        self.arena = (tuple(float(b) for b in bounds),  # type: ignore[assignment]
                      as_rows(obstacles))

    def stale_reason(self, now: float) -> str:
        """Why no state can be published now (``""``: it can).

        :param now: current monotonic time [s].
        """
        reasons = []
        if self.arena is None:
            reasons.append("no arena received on /safe_pe/arena yet")
        for name, sample in zip(self.settings.robots, self.samples):
            if sample is None:
                reasons.append(f"no odometry from {name} yet (/{name}/odom)")
            elif now - sample.received > self.settings.odom_timeout:
                reasons.append(f"odometry of {name} is stale: {now - sample.received:.3f} s "
                               f"old > odom_timeout {self.settings.odom_timeout} s")
        return "; ".join(reasons)

    def assemble(self, now: float) -> AssembledState | None:
        """The game state at ``now``, or ``None`` while an input is stale or missing.

        A state after a stall starts a new episode (``episode_id`` + 1, ``step`` 0), as does
        the state after a timed-out one.

        :param now: current monotonic time [s].
        """
        if self.stale_reason(now):
            self._publishing = False
            return None
        s = self.settings
        if not self._publishing or self.step > s.env.max_steps:
            self.episode_id += 1
            self.step = 0
            self._publishing = True
        p, e = self.samples
        assert p is not None and e is not None and self.arena is not None
        poses = np.stack([p.pose, e.pose])
        velocities = np.array([p.velocity, e.velocity], dtype=float)
        distance = math.hypot(p.pose[0] - e.pose[0], p.pose[1] - e.pose[1])
        radii = (s.env.pursuer.radius, s.env.evader.radius)
        violation, detail = body_violations(poses, radii, self.arena[1], self.arena[0],
                                            s.robots)
        state = AssembledState(
            poses=poses, velocities=velocities, stamp_ns=max(p.stamp_ns, e.stamp_ns),
            episode_id=self.episode_id, step=self.step, distance=distance,
            captured=distance <= s.capture_radius,
            timed_out=self.step >= s.env.max_steps,
            violation=violation, violation_detail=detail)
        self.step += 1
        self.published += 1
        return state

    def ages(self, now: float) -> list[float]:
        """Seconds since each robot's last odometry (``inf`` if none yet).

        :param now: current monotonic time [s].
        """
        return [math.inf if s is None else now - s.received for s in self.samples]
