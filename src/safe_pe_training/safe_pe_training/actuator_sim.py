"""Identification runs of the simulator's actuator model: what ``identify`` must recover (no ROS).

The simulator's odometry reports the velocity each base held over the last step, ramped and
delayed by its actuator model (``RobotConfig.actuator``, :mod:`safe_pe_sim.actuation`). This
module drives the simulator itself through the manoeuvre docs/actuation_id.md asks of a real
base and returns, per robot, the commands sent and the held velocities as a
:class:`~safe_pe_training.actuator_log.Recording`: the input
:func:`~safe_pe_training.actuator_id.identify` reads from a real base's log.

- :func:`manoeuvre`: step commands of one robot: up to ``v_max`` and brake to 0, the same
  backwards when ``v_min < 0``, turns to ``+omega_max``, ``-omega_max`` and back to 0, each
  held for the slowest ramp plus the latency plus ``settle`` seconds; :func:`manoeuvres`
  both robots' at once;
- :func:`open_world`: a copy of a game config in which that run cannot be disturbed: no
  obstacles, and every wall and the other robot farther away than either robot can drive in
  the whole run (with solid contact a body that touches something stops and its velocity is
  zeroed: a brake the actuator never made), and no episode end before the run is over;
- :func:`record_game`: both robots' recordings from
  :class:`~safe_pe_sim.game.PursuitEvasionGame`; raises :class:`DisturbedRunError` if a step
  violated anything all the same.

A row of a recording is one control step ``k``: the time ``(k + 1) dt`` at which the step's
odometry is published, the command sent for the step (in force until then) and the velocity
held over the step, as the simulator node stamps them (the command computed from the state at
``k dt``, the odometry at ``(k + 1) dt``).
"""

from __future__ import annotations

import math

import numpy as np
from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_sim.actuation import ActuatorTable, actuate
from safe_pe_sim.config import (MAX_ARENA_EXTENT, MAX_SPAWN_TRIES, ArenaConfig, EnvConfig,
                                ObstacleConfig, RobotConfig, SpawnConfig,
                                load_profile)
from safe_pe_sim.game import PursuitEvasionGame

from safe_pe_training.actuator_log import Recording

__all__ = ["SimRunError", "DisturbedRunError", "manoeuvre", "manoeuvres", "open_world",
           "record_game", "MARGIN", "step_commands", "model_recording", "custom_game"]

#: free gap [m] that the open world keeps between a body and a wall, and beyond the capture
#: radius between the robots, after either robot drove as far as it can in the run
MARGIN = 1.0


class SimRunError(ValueError):
    """The simulator cannot make this identification run (the message says what to change)."""


class DisturbedRunError(SimRunError):
    """A body touched a wall, an obstacle or the other robot during the run (its velocity
    was then not the actuator's alone): record in :func:`open_world`."""


def manoeuvre(robot: RobotConfig, dt: float, repeats: int = 6, settle: float = 1.0
              ) -> np.ndarray:
    """The identification manoeuvre of one robot, one command per control step.

    :param robot: the robot (its ``v_min``, ``v_max``, ``omega_max`` and ``actuator``)
    :param dt: control period [s]
    :param repeats: times the whole sequence is driven (each limit wants >= 10 saturated
        steps; a slow robot reaches its speed in few)
    :param settle: seconds each command is held beyond its slowest ramp and the latency
    :return: ``(n, 2)`` commands ``(v, omega)``
    :raises SimRunError: a bad argument
    """
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise SimRunError(f"dt = {dt!r} must be the control period in seconds (> 0)")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise SimRunError(f"repeats = {repeats!r} must be an integer >= 1")
    if not (isinstance(settle, (int, float)) and math.isfinite(settle) and settle >= 0):
        raise SimRunError(f"settle = {settle!r} must be seconds >= 0")
    lim = robot.actuator
    spans = ((robot.v_max, lim.linear_accel), (robot.v_abs_max, lim.linear_decel),
             (2.0 * robot.omega_max, lim.angular_accel))
    ramp = max(span / rate if rate > 0 else 0.0 for span, rate in spans)
    hold = int(math.ceil((ramp + settle) / dt - 1e-9)) + lim.latency_steps + 1
    levels = [(robot.v_max, 0.0), (0.0, 0.0)]
    if robot.v_min < 0:
        levels += [(robot.v_min, 0.0), (0.0, 0.0)]
    levels += [(0.0, robot.omega_max), (0.0, -robot.omega_max), (0.0, 0.0)]
    return np.tile(np.repeat(np.array(levels, dtype=float), hold, axis=0), (repeats, 1))


def manoeuvres(config: EnvConfig, repeats: int = 6, settle: float = 1.0) -> np.ndarray:
    """Both robots' manoeuvres (:func:`manoeuvre`), driven at the same time; the shorter one
    ends standing still (zero commands).

    :param config: the game (its ``dt`` and robots)
    :param repeats: as in :func:`manoeuvre`
    :param settle: as in :func:`manoeuvre`
    :return: ``(n, 2, 2)`` commands per step, robot (pursuer, evader), ``(v, omega)``
    """
    runs = [manoeuvre(robot, config.dt, repeats, settle) for robot in config.robots()]
    out = np.zeros((max(len(r) for r in runs), 2, 2))
    for a, run in enumerate(runs):
        out[:len(run), a] = run
    return out


def open_world(config: EnvConfig, steps: int) -> EnvConfig:
    """A copy of ``config`` in which ``steps`` control steps of any commands cannot make a body
    touch anything and no episode ends: no obstacles, a square arena with spawns at least
    ``reach + MARGIN`` from every wall and ``2 reach + capture_radius + MARGIN`` apart, where
    ``reach = steps * dt * |v|max`` is the farthest either robot can drive; ``max_steps``
    beyond the run. Robots, actuators, ``dt`` and contact stay as configured.

    :param config: the game to copy
    :param steps: length of the run [control steps]
    :raises SimRunError: the run is too long for the largest arena (fewer repeats, or a
        shorter settle)
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise SimRunError(f"steps = {steps!r} must be an integer >= 1")
    world = config.copy()
    reach = steps * world.dt * max(r.v_abs_max for r in world.robots())
    separation = 2.0 * reach + world.capture_radius + MARGIN
    clearance = reach + MARGIN
    # spawn region: a square of side 2 * separation (about half the draws are far enough apart)
    half = max(r.radius for r in world.robots()) + clearance + separation
    if 2.0 * half > MAX_ARENA_EXTENT:
        raise SimRunError(f"{steps} steps at up to {reach / (steps * world.dt):g} m/s need an "
                          f"arena of {2 * half:.0f} m (at most {MAX_ARENA_EXTENT:g} m): "
                          "record fewer repeats or a shorter settle")
    world.arena = ArenaConfig(-half, half, -half, half)
    world.obstacles = ObstacleConfig(count_min=0, count_max=0)
    world.spawn = SpawnConfig(clearance_walls=clearance, min_separation=separation,
                              max_tries=MAX_SPAWN_TRIES)
    world.max_steps = int(steps) + 1
    world.terminate_on_violation = False
    return world.validate()


def record_game(world: EnvConfig, commands: np.ndarray, seed: int = 0, noise: float = 0.0,
                rng: np.random.Generator | None = None) -> list[Recording]:
    """Drive :class:`~safe_pe_sim.game.PursuitEvasionGame` with ``commands`` and record what
    its odometry reports: per robot, the commands and the velocities held (see the module
    docstring for the rows).

    :param world: the game, normally from :func:`open_world`
    :param commands: ``(n, 2, 2)`` commands per step, robot, ``(v, omega)``
        (:func:`manoeuvres`), within each robot's limits (the recording holds them as sent)
    :param seed: seed of the episode (spawn poses)
    :param noise: odometry noise sigma as a fraction of ``v_max`` and ``omega_max`` (the
        simulator's odometry is exact; a real base's is not); 0 = none
    :param rng: generator of that noise (default: seeded with ``seed``)
    :return: ``[pursuer, evader]`` recordings
    :raises DisturbedRunError: a step violated a constraint, or the evader was captured
    :raises SimRunError: commands of the wrong shape or outside a robot's limits
    """
    commands = np.asarray(commands, dtype=float)
    if commands.ndim != 3 or commands.shape[1:] != (2, 2):
        raise SimRunError(f"commands must be (steps, 2 robots, (v, omega)), got shape "
                          f"{commands.shape}")
    robots = world.robots()
    for a, robot in enumerate(robots):
        v, w = commands[:, a, 0], commands[:, a, 1]
        if v.min() < robot.v_min or v.max() > robot.v_max or np.abs(w).max() > robot.omega_max:
            raise SimRunError(f"{('pursuer', 'evader')[a]} commands exceed its limits "
                              f"v in [{robot.v_min}, {robot.v_max}], |omega| <= "
                              f"{robot.omega_max}: the simulator would clip them")
    game = PursuitEvasionGame(world)
    game.reset(seed=seed)
    held = np.empty_like(commands)
    for k, (cmd_p, cmd_e) in enumerate(commands):
        result = game.step(tuple(cmd_p), tuple(cmd_e))
        if any(result.safety.violated) or result.captured:
            what = "capture" if result.captured else result.safety.kinds
            raise DisturbedRunError(f"step {k}: {what} at poses {game.poses}: the run was "
                                    "disturbed; record it in open_world(config, steps)")
        held[k] = result.applied
    t = world.dt * np.arange(1, len(commands) + 1)
    rng = np.random.default_rng(seed) if rng is None else rng
    out = []
    for a, robot in enumerate(robots):
        sigma = (noise * robot.v_max, noise * robot.omega_max)
        meas = [held[:, a, i] + (rng.normal(0.0, sigma[i], len(t)) if noise > 0 else 0.0)
                for i in range(2)]
        out.append(Recording(t, commands[:, a, 0].copy(), commands[:, a, 1].copy(), *meas,
                             source=f"simulator ({('pursuer', 'evader')[a]})"))
    return out


def step_commands(v_max: float, w_max: float, dt: float, hold: float, repeats: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The documented manoeuvre as bare commands: speed steps, braking from ``v_max``, turns
    both ways, each held ``hold`` +- 20 % seconds.

    :param v_max: top linear command [m/s]
    :param w_max: top angular command [rad/s]
    :param dt: control period [s]
    :param hold: nominal seconds each command is held
    :param repeats: times the sequence repeats
    :param rng: draws the hold times
    :return: the linear and the angular command of every control period
    """
    levels = [(v_max, 0.0), (0.0, 0.0), (0.0, w_max), (0.0, -w_max), (0.0, 0.0),
              (0.5 * v_max, 0.5 * w_max), (v_max, -0.5 * w_max), (0.0, 0.0)]
    v: list[float] = []
    w: list[float] = []
    for _ in range(repeats):
        for lin, ang in levels:
            n = int(round(hold * rng.uniform(0.8, 1.2) / dt))
            v += [lin] * n
            w += [ang] * n
    return np.array(v), np.array(w)


def model_recording(limits: ActuatorLimits, dt: float, v_cmd: np.ndarray, w_cmd: np.ndarray,
                    noise: tuple[float, float], rng: np.random.Generator) -> Recording:
    """What a base following :mod:`safe_pe_cbf.actuator`'s model reports for these commands:
    command k takes effect at k + latency, each period ramps; plus Gaussian odometry noise.

    :param limits: the base's limits
    :param dt: control period [s]
    :param v_cmd: linear command of every period [m/s]
    :param w_cmd: angular command of every period [rad/s]
    :param noise: odometry noise sigma (linear [m/s], angular [rad/s])
    :param rng: draws the noise
    """
    table = ActuatorTable([limits])  # the simulator's actuator step, for one robot
    held = np.zeros((1, 2))
    queue = np.zeros((1, table.depth, 2))
    cmd = np.zeros((1, 2))
    v_meas, w_meas = np.empty(v_cmd.size), np.empty(v_cmd.size)
    for k in range(v_cmd.size):
        cmd[0] = v_cmd[k], w_cmd[k]
        actuate(held, queue, cmd, float(dt), table.rates, table.latency)
        v_meas[k], w_meas[k] = held[0]
    return Recording(np.arange(v_cmd.size) * dt, v_cmd.astype(float), w_cmd.astype(float),
                     v_meas + rng.normal(0.0, noise[0], v_cmd.size),
                     w_meas + rng.normal(0.0, noise[1], v_cmd.size), source="model")


def custom_game() -> EnvConfig:
    """``default`` at dt 0.1 s with two periods of latency, bases that reverse, and other
    limits per robot (a game the identification is checked on besides the profiles)."""
    cfg = load_profile("default")
    cfg.dt = 0.1
    cfg.pursuer = RobotConfig(radius=0.2, v_min=-0.5, v_max=1.2, omega_max=2.0,
                              actuator=ActuatorLimits(1.5, 2.0, 2.5, 2))
    cfg.evader = RobotConfig(radius=0.15, v_min=-0.3, v_max=0.8, omega_max=3.0,
                             actuator=ActuatorLimits(0.8, 1.2, 4.0, 2))
    return cfg.validate()
