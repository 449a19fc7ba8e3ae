"""What the safety-filter node does with one nominal command, without ROS (no rclpy).

:class:`FilterPipeline` holds the latest state, opponent and arena, a watchdog over their age,
and the core :class:`~safe_pe_cbf.resolver.SafeActionResolver`. ``process`` turns one nominal
command into a :class:`FilterDecision`. It never raises and never returns a non-finite
command: missing/stale inputs and core errors all become tier STOP (zero velocity) with a
reason, like Nav2's collision_monitor. The node only converts messages around it.

``tick`` is the nominal-command watchdog, called by a timer: when the newest nominal command
is older than ``nominal_timeout`` and the last command sent was not zero, it returns zero
commands (tier STOP) for ``zero_hold`` seconds, then nothing until a fresh nominal command
arrives (so a base without its own ``cmd_vel`` timeout stops, and a mux can still hand over).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from safe_pe_cbf.actuator import MAX_LATENCY_STEPS, ramp_one
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver, Tier

ResolverFactory = Callable[[CBFConfig, Arena, np.ndarray], SafeActionResolver]

#: a twist of (0, 0) while the pose moved more than this [m] since the previous state is
#: "no twist" (drivers that leave the twist empty); plus 5 % of v_max per second between them
STILL_TWIST_MOTION = 2e-3


def unicycle_arc(
    x: float, y: float, theta: float, v: float, omega: float, t: float
) -> tuple[float, float, float]:
    """Exact unicycle motion for ``t`` seconds under constant ``(v, omega)``.

    :param x: start x [m].
    :param y: start y [m].
    :param theta: start heading [rad].
    :param v: linear velocity [m/s].
    :param omega: angular velocity [rad/s].
    :param t: duration [s].
    """
    half = 0.5 * omega * t
    # chord length v t sinc(half) along the mean heading: exact for arcs, stable near 0
    chord = v * t * (math.sin(half) / half if abs(half) > 1e-9 else 1.0 - half * half / 6.0)
    mid = theta + half
    return x + chord * math.cos(mid), y + chord * math.sin(mid), theta + omega * t


def make_resolver(config: CBFConfig, arena: Arena, obstacles: np.ndarray) -> SafeActionResolver:
    """Build the core resolver (the default factory).

    :param config: validated CBF config.
    :param arena: walls.
    :param obstacles: ``(K, 3)`` rows ``(x, y, radius)``.
    """
    return SafeActionResolver(config, arena, obstacles)


@dataclass(frozen=True)
class FilterDecision:
    """The outcome for one nominal command.

    :param command: safe ``(v, omega)`` to publish (always finite).
    :param tier: a :class:`Tier` value (same numbers as ``SafetyStatus.TIER_*``).
    :param reason: why STOP/BACKUP/RELAXED/DISABLED, else empty.
    :param min_h: smallest barrier value (NaN when unknown, e.g. STOP without state).
    :param min_h_constraint: name of the constraint attaining ``min_h``.
    :param intervened: the safe command differs from the nominal.
    :param intervention: weighted size of the change.
    :param qp_feasible: the exact CBF-QP had a solution (False when not solved).
    :param solve_time: seconds spent in the resolver.
    :param active_constraints: names of the constraints active at the solution.
    :param state_stamp: header stamp ``(sec, nanosec)`` of the robot state the command was
        computed from (see :meth:`FilterPipeline.set_state`); None when no state was used
        (STOP, DISABLED, watchdog zeros) or that state had no stamp.
    """

    command: tuple[float, float]
    tier: int
    reason: str = ""
    min_h: float = math.nan
    min_h_constraint: str = ""
    intervened: bool = False
    intervention: float = 0.0
    qp_feasible: bool = False
    solve_time: float = 0.0
    active_constraints: tuple[str, ...] = ()
    state_stamp: tuple[int, int] | None = None


@dataclass
class FilterCounters:
    """Lifetime counters of one filter (reported on /diagnostics).

    :param commands: nominal commands processed.
    :param tier_counts: commands per tier, indexed by tier number.
    :param dropped: non-finite/invalid messages dropped, by input name
        (``nominal_stale``: stamped commands refused for their age, answered with STOP).
    :param core_errors: resolver calls that raised (answered with STOP).
    :param nominal_timeouts: times the nominal command timed out while the robot moved.
    :param timeout_zeros: zero commands sent by the nominal-command watchdog.
    """

    commands: int = 0
    tier_counts: list[int] = field(default_factory=lambda: [0] * (int(Tier.DISABLED) + 1))
    dropped: dict[str, int] = field(
        default_factory=lambda: {"nominal": 0, "nominal_stale": 0, "state": 0, "opponent": 0,
                                 "arena": 0}
    )
    core_errors: int = 0
    nominal_timeouts: int = 0
    timeout_zeros: int = 0


class FilterPipeline:
    """Watchdog + resolver for one robot.

    :param cbf: validated CBF config.
    :param state_timeout: inputs older than this [s] are stale (STOP).
    :param needs_opponent: an opponent pose is required (robot-robot constraint active).
    :param enabled: filtering on; off passes nominal commands through (tier DISABLED).
    :param predict_state: advance the last received pose to "now" with the exact unicycle
        arcs of the commands this filter sent since then (covers the odometry's age).
    :param factory: builds the resolver from (config, arena, obstacles).
    :param clock: monotonic time source in seconds (injectable for tests).
    :param nominal_timeout: a nominal command older than this [s] stops the robot
        (:meth:`tick`); 0 disables the nominal-command watchdog.
    :param zero_hold: how long [s] :meth:`tick` keeps sending zero commands after a nominal
        timeout before it goes silent.
    """

    def __init__(
        self,
        cbf: CBFConfig,
        state_timeout: float,
        needs_opponent: bool = False,
        enabled: bool = True,
        predict_state: bool = False,
        factory: ResolverFactory = make_resolver,
        clock: Callable[[], float] = time.monotonic,
        nominal_timeout: float = 0.0,
        zero_hold: float = 0.5,
    ) -> None:
        self.cbf = cbf
        self.state_timeout = float(state_timeout)
        self.needs_opponent = needs_opponent
        self.enabled = enabled
        self.predict_state = predict_state
        self.nominal_timeout = float(nominal_timeout)
        self.zero_hold = float(zero_hold)
        self.nominal_time = -math.inf  # receipt time of the newest (finite) nominal command
        self.last_command: tuple[float, float] | None = None  # last command sent (any source)
        self._zeros_since: float | None = None  # start of the current timeout's zero hold
        self._sent: list[tuple[float, float, float]] = []  # (time, v, omega) of safe commands
        self.factory = factory
        self.clock = clock
        self.counters = FilterCounters()
        self.resolver: SafeActionResolver | None = None
        self.arena: Arena | None = None
        self.obstacles = np.zeros((0, 3))
        self.arena_error = "no arena received yet"
        self.pose: np.ndarray | None = None
        self.pose_time = -math.inf
        self.pose_stamp: tuple[int, int] | None = None  # header stamp of the pose's message
        self.opponent: np.ndarray | None = None
        self.opponent_time = -math.inf
        self.opponent_velocity: tuple[float, float] | None = None
        self.last_decision: FilterDecision | None = None
        # actuator model (docs/actuation.md): measured velocity, the model's estimate, and
        # the commands sent (newest last; the last latency_steps are not yet in effect)
        self.velocity: tuple[float, float] | None = None  # measured, held in the last period
        self.velocity_time = -math.inf
        self.velocity_source = "none"  # what the last decision used: measured/model/worst case
        self._held_estimate: tuple[float, float] | None = None
        self._held_used: tuple[float, float] | None = None  # by the decision being recorded
        self._velocity_consumed = False  # the measured twist served a decision already
        self._commands: list[tuple[float, float]] = []

    # -- inputs --------------------------------------------------------------------------
    def set_arena(self, bounds: tuple[float, float, float, float], obstacles: np.ndarray) -> None:
        """Use new walls/obstacles (rebuilds the resolver; on error the filter STOPs).

        :param bounds: ``(x_min, x_max, y_min, y_max)``.
        :param obstacles: ``(K, 3)`` rows ``(x, y, radius)``.
        """
        try:
            self.arena = Arena(*bounds)
        except ValueError as err:
            self.arena, self.resolver = None, None
            self.arena_error = f"invalid arena: {err}"
            return
        self.obstacles = np.asarray(obstacles, dtype=float).reshape(-1, 3)
        self._rebuild()

    def arena_matches(
        self, bounds: tuple[float, float, float, float], obstacles: np.ndarray
    ) -> bool:
        """Whether these walls/obstacles are the ones already in use (no rebuild needed).

        :param bounds: ``(x_min, x_max, y_min, y_max)``.
        :param obstacles: ``(K, 3)`` rows.
        """
        return (
            self.resolver is not None
            and self.arena is not None
            and self.arena.as_tuple() == tuple(float(b) for b in bounds)
            and np.array_equal(self.obstacles, np.asarray(obstacles, dtype=float).reshape(-1, 3))
        )

    def reconfigure(
        self,
        cbf: CBFConfig,
        state_timeout: float,
        enabled: bool,
        predict_state: bool = False,
        nominal_timeout: float | None = None,
        zero_hold: float | None = None,
    ) -> None:
        """Apply new (already validated) settings; rebuilds the resolver.

        :param cbf: new CBF config.
        :param state_timeout: new staleness limit [s].
        :param enabled: filtering on/off.
        :param predict_state: advance the pose by the commands sent since it was received.
        :param nominal_timeout: new nominal-command timeout [s] (0: off; None: unchanged).
        :param zero_hold: new duration of the zero commands after a timeout [s] (None:
            unchanged).
        """
        self.cbf = cbf
        self.state_timeout = float(state_timeout)
        self.enabled = enabled
        self.predict_state = predict_state
        if nominal_timeout is not None:
            self.nominal_timeout = float(nominal_timeout)
        if zero_hold is not None:
            self.zero_hold = float(zero_hold)
        self._rebuild()

    def _rebuild(self) -> None:
        if self.arena is None:
            return
        try:
            self.resolver = self.factory(self.cbf, self.arena, self.obstacles)
            self.arena_error = ""
        except (ValueError, TypeError) as err:  # SafetyInputError/ConfigError are ValueErrors
            self.resolver = None
            self.arena_error = f"cannot build the safety filter for this arena: {err}"

    def set_state(self, pose: np.ndarray, now: float | None = None,
                  stamp: tuple[int, int] | None = None,
                  velocity: tuple[float, float] | None = None) -> None:
        """Record this robot's arena-frame pose ``(x, y, theta)`` (must be finite).

        :param pose: the pose.
        :param now: receipt time (default: the clock).
        :param stamp: header stamp ``(sec, nanosec)`` of the message the pose came from
            (None: unstamped); decisions computed from this pose carry it as
            ``state_stamp``.
        :param velocity: ``(v, omega)`` the robot held (odometry twist), or None (no
            twist); a (0, 0) twist while the pose moves counts as none, a non-finite one too
        """
        new_pose = np.asarray(pose, dtype=float).copy()
        now = self.clock() if now is None else now
        if velocity is not None:
            v, w = float(velocity[0]), float(velocity[1])
            moved = (math.hypot(new_pose[0] - self.pose[0], new_pose[1] - self.pose[1])
                     if self.pose is not None else 0.0)
            still = STILL_TWIST_MOTION + 0.05 * self.cbf.v_max * max(now - self.pose_time, 0.0)
            if not (math.isfinite(v) and math.isfinite(w)) or (v == 0.0 and w == 0.0
                                                               and moved > still):
                velocity = None
            else:
                self.velocity = (v, w)
                self.velocity_time = now
                self._velocity_consumed = False
        self.pose = new_pose
        self.pose_time = now
        self.pose_stamp = stamp
        # keep the command in effect at pose_time and everything after it
        while len(self._sent) > 1 and self._sent[1][0] <= self.pose_time:
            self._sent.pop(0)

    def predicted_pose(self, now: float) -> np.ndarray:
        """The last pose advanced to ``now`` along the commands sent since (exact arcs).

        :param now: current monotonic time.
        """
        assert self.pose is not None
        x, y, th = (float(c) for c in self.pose)
        t = self.pose_time
        for i, (t_cmd, v, omega) in enumerate(self._sent):
            t_end = self._sent[i + 1][0] if i + 1 < len(self._sent) else now
            t_start = max(t, t_cmd)
            if t_end > t_start:
                x, y, th = unicycle_arc(x, y, th, v, omega, t_end - t_start)
        return np.array([x, y, th])

    def set_opponent(self, pose: np.ndarray, now: float | None = None,
                     velocity: tuple[float, float] | None = None) -> None:
        """Record the other robot's arena-frame pose.

        :param pose: the pose.
        :param now: receipt time (default: the clock).
        :param velocity: its held ``(v, omega)`` if known (tightens the "shared" pair row
            under actuator limits), else None (its speed limits are assumed)
        """
        self.opponent = np.asarray(pose, dtype=float).copy()
        self.opponent_time = self.clock() if now is None else now
        ok = velocity is not None and all(math.isfinite(float(x)) for x in velocity)
        self.opponent_velocity = (float(velocity[0]), float(velocity[1])) if ok else None

    # -- actuator model ----------------------------------------------------------------------
    def held_velocity(self, now: float) -> tuple[tuple[float, float], str]:
        """The velocity held in the period ending now, and where it came from: the measured
        twist when it came with the newest pose and no command was sent since, else the
        model's estimate (the commands sent, ramped), else the worst case ``(v_max, 0)``
        (nothing sent yet).

        :param now: current monotonic time.
        """
        if (self.velocity is not None and self.velocity_time >= self.pose_time
                and not self._velocity_consumed):
            return self.velocity, "measured"
        if self._held_estimate is not None:
            return self._held_estimate, "model"
        return (self.cbf.v_max, 0.0), "worst case (nothing sent yet)"

    def pending(self) -> list[tuple[float, float]]:
        """The ``latency_steps`` commands sent last (oldest first): not yet in effect; the
        worst case ``(v_max, 0)`` stands in for commands never sent."""
        steps = self.cbf.actuator.latency_steps
        if steps == 0:
            return []
        known = self._commands[-steps:]
        return [(self.cbf.v_max, 0.0)] * (steps - len(known)) + known

    def _model_step(self, held: tuple[float, float], command: tuple[float, float]) -> None:
        """Advance the model by one period in which ``command`` was sent from ``held``."""
        steps = self.cbf.actuator.latency_steps
        queue = self.pending() + [command]
        effect = queue[0] if steps else command
        act = self.cbf.actuator
        c = self.cbf
        eff_v = min(max(effect[0], c.v_min), c.v_max)
        eff_w = min(max(effect[1], -c.omega_max), c.omega_max)
        self._held_estimate = tuple(float(x) for x in ramp_one(
            held[0], held[1], eff_v, eff_w, c.dt, act.linear_accel, act.linear_decel,
            act.angular_accel))
        self._commands.append(command)
        del self._commands[:-MAX_LATENCY_STEPS]

    def drop(self, source: str) -> None:
        """Count one dropped (non-finite or invalid) message.

        :param source: ``"nominal"``, ``"state"``, ``"opponent"`` or ``"arena"``.
        """
        self.counters.dropped[source] = self.counters.dropped.get(source, 0) + 1

    def state_age(self, now: float | None = None) -> float:
        """Seconds since the last state (inf if none).

        :param now: current monotonic time (default: the clock).
        """
        return (self.clock() if now is None else now) - self.pose_time

    def nominal_age(self, now: float | None = None) -> float:
        """Seconds since the newest finite nominal command (inf if none).

        :param now: current monotonic time (default: the clock).
        """
        return (self.clock() if now is None else now) - self.nominal_time

    # -- decision ------------------------------------------------------------------------
    def stop_reason(self, now: float) -> str:
        """Why the filter must STOP right now, or an empty string.

        :param now: current monotonic time.
        """
        if self.resolver is None:
            return self.arena_error or "safety filter not configured"
        if self.pose is None:
            return "no robot state received yet"
        age = now - self.pose_time
        if age > self.state_timeout:
            return f"robot state is stale: {age:.3f} s old > state_timeout {self.state_timeout} s"
        if self.needs_opponent:
            if self.opponent is None:
                return "no opponent state received yet"
            age = now - self.opponent_time
            if age > self.state_timeout:
                return (f"opponent state is stale: {age:.3f} s old > state_timeout "
                        f"{self.state_timeout} s")
        return ""

    def refuse_stale(self, age: float, max_age: float, v_nom: float, omega_nom: float,
                     now: float | None = None) -> FilterDecision:
        """Answer a nominal command whose stamp is too old (or in the future) with STOP.

        Counted as ``dropped["nominal_stale"]``; it does not count as a fresh nominal command
        for the watchdog. Never raises.

        :param age: node clock minus the command's stamp [s] (negative: from the future).
        :param max_age: the ``max_command_age`` it exceeded [s].
        :param v_nom: nominal linear velocity [m/s] (for the intervention size).
        :param omega_nom: nominal angular velocity [rad/s].
        :param now: current monotonic time (default: the clock).
        """
        now = self.clock() if now is None else now
        self.drop("nominal_stale")
        when = f"{age:.3f} s old" if age >= 0.0 else f"{-age:.3f} s in the future"
        decision = self._stop(f"nominal command stamp is {when} (max_command_age {max_age} s)",
                              v_nom, omega_nom)
        self._record_sent(now, decision)
        self.counters.commands += 1
        self.counters.tier_counts[decision.tier] += 1
        return decision

    def process(self, v_nom: float, omega_nom: float, now: float | None = None) -> FilterDecision:
        """Filter one (finite) nominal command. Never raises.

        :param v_nom: nominal linear velocity [m/s].
        :param omega_nom: nominal angular velocity [rad/s].
        :param now: current monotonic time (default: the clock).
        """
        now = self.clock() if now is None else now
        self.nominal_time = now
        self._zeros_since = None  # a fresh nominal command ends a nominal timeout
        decision = self._decide(float(v_nom), float(omega_nom), now)
        self._record_sent(now, decision)
        self.counters.commands += 1
        self.counters.tier_counts[decision.tier] += 1
        return decision

    def tick(self, now: float | None = None) -> FilterDecision | None:
        """Nominal-command watchdog: the zero command to send now, or None. Never raises.

        Call it periodically (the node: at the command rate, 1 / ``cbf.dt``). Once the newest
        nominal command is older than ``nominal_timeout`` and the last command sent was not
        zero, every call returns a zero command (tier STOP, with the reason) until
        ``zero_hold`` seconds have passed; after that it returns None until :meth:`process`
        sees a fresh nominal command. A filter that never sent anything, or whose last command
        was already zero, stays silent (so a command mux can hand over to another source).

        :param now: current monotonic time (default: the clock).
        """
        if self.nominal_timeout <= 0.0:
            return None
        now = self.clock() if now is None else now
        age = now - self.nominal_time
        if not age > self.nominal_timeout:
            return None
        if self._zeros_since is None:
            if self.last_command is None or self.last_command == (0.0, 0.0):
                return None  # not moving on our command: nothing to stop
            self._zeros_since = now
            self.counters.nominal_timeouts += 1
        if now - self._zeros_since > self.zero_hold:
            return None
        reason = (f"nominal command timed out after {age:.3f} s (nominal_timeout "
                  f"{self.nominal_timeout} s): stopping")
        decision = FilterDecision((0.0, 0.0), int(Tier.STOP), reason)
        self._record_sent(now, decision)
        self.counters.timeout_zeros += 1
        return decision

    def _record_sent(self, now: float, decision: FilterDecision) -> None:
        """Remember a command that the node sends (for the prediction and the watchdog)."""
        if self.cbf.actuated:
            held = self._held_used if self._held_used is not None else \
                self.held_velocity(now)[0]
            self._held_used = None
            self._velocity_consumed = True  # the twist describes the period before this one
            self._model_step(held, decision.command)
        if self.predict_state:
            self._sent.append((now, decision.command[0], decision.command[1]))
            if len(self._sent) > 1000:  # no state for a long time: keep the log bounded
                del self._sent[:-1000]
        self.last_command = decision.command
        self.last_decision = decision

    def _decide(self, v_nom: float, omega_nom: float, now: float) -> FilterDecision:
        if not self.enabled:  # no CBF, but still finite and within the actuator limits
            if not (math.isfinite(v_nom) and math.isfinite(omega_nom)):
                return self._stop(f"non-finite nominal command ({v_nom}, {omega_nom})",
                                  0.0, 0.0)
            c = self.cbf
            v = min(max(v_nom, c.v_min), c.v_max)
            omega = min(max(omega_nom, -c.omega_max), c.omega_max)
            clamped = (v, omega) != (v_nom, omega_nom)
            return FilterDecision(
                (v, omega), int(Tier.DISABLED),
                "filter disabled (parameter 'enabled' is false)"
                + ("; clamped to the actuator limits" if clamped else ""),
                intervened=clamped, intervention=math.hypot(
                    c.weights[0] * (v - v_nom), c.weights[1] * (omega - omega_nom)))
        reason = self.stop_reason(now)
        if reason:
            return self._stop(reason, v_nom, omega_nom)
        assert self.resolver is not None and self.pose is not None
        opponent = self.opponent if self.needs_opponent else None
        pose = self.predicted_pose(now) if self.predict_state else self.pose
        start = time.perf_counter()
        try:
            if self.cbf.actuated:
                velocity, self.velocity_source = self.held_velocity(now)
                self._held_used = velocity
                u, rec = self.resolver.resolve(
                    pose, (v_nom, omega_nom), opponent, velocity=velocity,
                    pending=self.pending(),
                    opponent_velocity=self.opponent_velocity if opponent is not None else None)
            else:
                u, rec = self.resolver.resolve(pose, (v_nom, omega_nom), opponent)
        except SafetyInputError as err:
            self.counters.core_errors += 1
            return self._stop(f"safety core rejected the input: {err}", v_nom, omega_nom)
        except Exception as err:  # noqa: BLE001 - never leave the robot moving on a bug
            self.counters.core_errors += 1
            reason = f"safety core failed ({type(err).__name__}): {err}"
            return self._stop(reason, v_nom, omega_nom)
        elapsed = time.perf_counter() - start
        v, omega = float(u[0]), float(u[1])
        if not (math.isfinite(v) and math.isfinite(omega)):
            self.counters.core_errors += 1
            reason = f"safety core returned a non-finite command ({v}, {omega})"
            return self._stop(reason, v_nom, omega_nom)
        solve_time = float(getattr(rec, "solve_time", elapsed))
        return FilterDecision(
            command=(v, omega),
            tier=int(rec.tier),
            reason=str(getattr(rec, "reason", "") or ""),
            min_h=float(rec.min_h),
            min_h_constraint=str(rec.min_h_constraint),
            intervened=bool(rec.intervened),
            intervention=float(rec.intervention),
            qp_feasible=bool(rec.qp_feasible),
            solve_time=solve_time,
            active_constraints=tuple(getattr(rec, "active_constraints", ())),
            state_stamp=self.pose_stamp,
        )

    def _stop(self, reason: str, v_nom: float, omega_nom: float) -> FilterDecision:
        w_v, w_omega = (float(w) for w in getattr(self.cbf, "weights", (1.0, 1.0)))
        size = math.hypot(w_v * v_nom, w_omega * omega_nom)
        return FilterDecision((0.0, 0.0), int(Tier.STOP), reason, intervened=size > 0.0,
                              intervention=size)
