"""The simulator's per-robot and per-game maths, written once and compiled by numba.

Each kernel here works on one robot or one game with scalar arguments (plus the game's
obstacle rows), the pattern of the filter's kernels (issue 13 item 1). Both paths call them:
the single game (:class:`~safe_pe_sim.game.PursuitEvasionGame`) once per robot or game, the
vector core (:class:`~safe_pe_sim.vec_core.VectorizedPursuitEvasion`) and the batched
functions of :mod:`~safe_pe_sim.dynamics`, :mod:`~safe_pe_sim.safety_check`,
:mod:`~safe_pe_sim.rewards`, :mod:`~safe_pe_sim.actions` and :mod:`~safe_pe_sim.baselines`
through the compiled loops at the end of this module, so the two agree bit for bit. Without
numba (or with ``NUMBA_DISABLE_JIT=1``) everything runs as plain Python
(:mod:`safe_pe_cbf.jit`): correct, and the single game stays usable, but the loops are then
slow.

Kernels and loops live in one module because they call each other: numba stamps a cached
function with its own file only, so a callee in another module could leave a stale compiled
caller (keep every compiled caller of these kernels here). :func:`~safe_pe_cbf.jit.depends_on_core`
adds the filter package's modules to the stamp (the box barrier is compiled in).

Contents: angle wrapping and the exact unicycle arc (:func:`unicycle`, :func:`arc_fill`), the
action map and the actuators' input (:func:`physical`, :func:`command`), the body-level safety
check of one game (:func:`check_game`), the solid-world contact of one game
(:func:`contact_game`), the rewards and the end-of-step rules of one game
(:func:`reward_pair`, :func:`outcome`) and the scripted steering laws (:func:`steer`,
:func:`pursue`, :func:`flee_from`, :func:`aware_flee_one`); then one compiled loop over rows
or games per kernel (``*_rows``, ``*_games``: the batched forms).
"""

from __future__ import annotations

import math

import numpy as np

from safe_pe_cbf.barriers import BOX, KIND
from safe_pe_cbf.barriers.box import signed_distance
from safe_pe_cbf.jit import depends_on_core, floats, njit

__all__ = ["OBSTACLE", "ARENA", "COLLISION", "wrap", "unicycle", "arc_fill", "physical",
           "command", "surface", "check_game", "game_args", "contact_game", "reward_pair",
           "outcome", "steer", "pursue", "flee_from", "aware_flee_one", "unicycle_rows",
           "arc_rows", "physical_rows", "command_games", "check_games", "contact_games",
           "reward_rows", "outcome_games", "steer_rows", "pursue_rows", "flee_rows",
           "aware_flee_rows"]

depends_on_core(__file__)  # the kernels compile the box barrier in: recompile when it changes

OBSTACLE = 1
"""Bit of a violation's kinds: the body overlapped an obstacle."""
ARENA = 2
"""Bit of a violation's kinds: the body crossed a wall."""
COLLISION = 4
"""Bit of a violation's kinds: the two bodies overlapped."""

_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / _TWO_PI


# ---------------------------------------------------------------------- dynamics
@njit(cache=True)
def wrap(angle):
    """``angle`` wrapped to ``[-pi, pi)`` (the arithmetic of
    :func:`safe_pe_cbf.geometry.wrap_angle`; NaN for a non-finite angle).

    :param angle: angle [rad]
    """
    return angle - _TWO_PI * np.floor((angle + math.pi) * _INV_TWO_PI)


@njit(cache=True)
def unicycle(x, y, theta, v, omega, dt):
    """``(x, y, theta)`` after holding ``(v, omega)`` for ``dt`` on the exact arc (the sinc
    form of :mod:`safe_pe_sim.dynamics`), theta wrapped to ``[-pi, pi)``.

    :param x: position x [m]
    :param y: position y [m]
    :param theta: heading [rad]
    :param v: linear velocity [m/s]
    :param omega: angular velocity [rad/s]
    :param dt: hold time [s]
    """
    half = 0.5 * omega * dt
    mid = theta + half
    chord = v * dt * (math.sin(half) / half if half != 0.0 else 1.0)
    return x + chord * math.cos(mid), y + chord * math.sin(mid), wrap(theta + omega * dt)


@njit(cache=True)
def arc_fill(x, y, theta, v, omega, dt, substeps, xs, ys):
    """Positions at ``t_k = k dt / S`` (``k = 1..S``) on the exact arc, into ``xs[k - 1]``,
    ``ys[k - 1]`` (the angle-addition recurrence of :func:`safe_pe_sim.dynamics.arc_samples`).

    :param x: start x [m]
    :param y: start y [m]
    :param theta: start heading [rad]
    :param v: linear velocity [m/s]
    :param omega: angular velocity [rad/s]
    :param dt: control period [s]
    :param substeps: number of samples S
    :param xs: output buffer of at least S floats
    :param ys: output buffer of at least S floats
    """
    ct = math.cos(theta)
    st = math.sin(theta)
    delta = omega * (0.5 * dt / substeps)
    cd = math.cos(delta)
    sd = math.sin(delta)
    sinc1 = sd / delta if delta != 0.0 else 1.0
    dsd = delta * sd
    step_len = v * (dt / substeps)
    c_k = 1.0
    q_k = 0.0
    for k in range(substeps):
        c_k, q_k = c_k * cd - q_k * dsd, q_k * cd + c_k * sinc1
        s_k = q_k * delta
        chord = step_len * q_k
        xs[k] = x + chord * (ct * c_k - st * s_k)
        ys[k] = y + chord * (st * c_k + ct * s_k)


# ---------------------------------------------------------------------- actions
@njit(cache=True)
def physical(a_v, a_omega, v_min, v_max, omega_max):
    """Physical ``(v, omega)`` of a normalised action (clipped to ``[-1, 1]`` first; NaN
    passes through, as with ``np.clip``).

    :param a_v: normalised linear action
    :param a_omega: normalised angular action
    :param v_min: the robot's lowest linear velocity [m/s]
    :param v_max: its highest [m/s]
    :param omega_max: its turn-rate limit [rad/s]
    """
    a_v = -1.0 if a_v < -1.0 else (1.0 if a_v > 1.0 else a_v)
    a_omega = -1.0 if a_omega < -1.0 else (1.0 if a_omega > 1.0 else a_omega)
    return v_min + (a_v + 1.0) * 0.5 * (v_max - v_min), a_omega * omega_max


@njit(cache=True)
def command(v, omega, v_min, v_max, omega_max, noisy, n_v, n_omega, std_v, std_omega):
    """The command a robot's actuators receive: ``(v, omega)`` clipped to its limits, then with
    actuator noise ``n * std`` (standard-normal draws ``n``) added and clipped again.

    :param v: commanded linear velocity [m/s]
    :param omega: commanded angular velocity [rad/s]
    :param v_min: the robot's lowest linear velocity [m/s]
    :param v_max: its highest [m/s]
    :param omega_max: its turn-rate limit [rad/s]
    :param noisy: whether actuator noise is on
    :param n_v: standard-normal draw for v (unused without noise)
    :param n_omega: standard-normal draw for omega
    :param std_v: noise standard deviation of v [m/s]
    :param std_omega: of omega [rad/s]
    """
    v = min(max(v, v_min), v_max)
    omega = min(max(omega, -omega_max), omega_max)
    if noisy:
        v = min(max(v + n_v * std_v, v_min), v_max)
        omega = min(max(omega + n_omega * std_omega, -omega_max), omega_max)
    return v, omega


# ---------------------------------------------------------------------- safety check
@njit(cache=True)
def surface(obstacles, j, x, y):
    """Signed distance of ``(x, y)`` to the surface of obstacle row ``j`` (circle ``(x, y,
    r)``, or a box row with its kind, :mod:`safe_pe_cbf.barriers`).

    :param obstacles: ``(K, 3)`` or ``(K, 6)`` rows
    :param j: the row
    :param x: point x [m]
    :param y: point y [m]
    """
    if obstacles.shape[1] > KIND and obstacles[j, KIND] == BOX:
        return signed_distance(obstacles[j], x, y)[0]
    dx = x - obstacles[j, 0]
    dy = y - obstacles[j, 1]
    return math.sqrt(dx * dx + dy * dy) - obstacles[j, 2]


@njit(cache=True)
def _walls_worst(xs, ys, n, r, x_min, x_max, y_min, y_max):
    """``(clearance, index)`` of the most-crossed wall over ``n`` samples."""
    lo_x = hi_x = xs[0]
    lo_y = hi_y = ys[0]
    for k in range(1, n):
        if xs[k] < lo_x:
            lo_x = xs[k]
        elif xs[k] > hi_x:
            hi_x = xs[k]
        if ys[k] < lo_y:
            lo_y = ys[k]
        elif ys[k] > hi_y:
            hi_y = ys[k]
    best = lo_x - x_min - r
    w = 0
    c = x_max - hi_x - r
    if c < best:
        best, w = c, 1
    c = lo_y - y_min - r
    if c < best:
        best, w = c, 2
    c = y_max - hi_y - r
    if c < best:
        best, w = c, 3
    return best, w


@njit(cache=True)
def _obstacles_worst(obstacles, mask, xs, ys, n, r, x, y, travel, prefilter):
    """``(clearance, row)`` of the most-penetrated obstacle over ``n`` samples (inf, -1 when
    none is checked); with ``prefilter`` only rows whose start clearance at ``(x, y)`` is
    within ``travel`` are checked."""
    best = math.inf
    best_j = -1
    wide = obstacles.shape[1] > KIND
    for j in range(obstacles.shape[0]):
        if not mask[j]:
            continue
        if prefilter and surface(obstacles, j, x, y) - r > travel:
            continue
        if wide and obstacles[j, KIND] == BOX:
            sd = math.inf
            for k in range(n):
                e = signed_distance(obstacles[j], xs[k], ys[k])[0]
                if e < sd:
                    sd = e
            c = sd - r
        else:
            ox = obstacles[j, 0]
            oy = obstacles[j, 1]
            d2 = math.inf
            for k in range(n):
                e = (xs[k] - ox) * (xs[k] - ox) + (ys[k] - oy) * (ys[k] - oy)
                if e < d2:
                    d2 = e
            c = math.sqrt(d2) - obstacles[j, 2] - r
        if c < best:
            best = c
            best_j = j
    return best, best_j


@njit(cache=True)
def _static_near(obstacles, mask, x, y, r, travel, x_min, x_max, y_min, y_max):
    """``(wall within travel, an obstacle within travel)`` at the start of a step."""
    wall = min(x - x_min, x_max - x, y - y_min, y_max - y) - r <= travel
    for j in range(obstacles.shape[0]):
        if mask[j] and surface(obstacles, j, x, y) - r <= travel:
            return wall, True
    return wall, False


@njit(cache=True)
def check_game(x0, y0, th0, v0, w0, x1, y1, th1, v1, w1, dt, substeps, r0, r1, obstacles,
               mask, x_min, x_max, y_min, y_max, prefilter):
    """Body-level check of one game's step on the continuous trajectory
    (:mod:`safe_pe_sim.safety_check` explains the maths and the pre-filter).

    The pre-filter works per constraint (exact): a wall, an obstacle or the pair whose start
    clearance exceeds the travel ``|v| dt`` (for the pair the sum of both) cannot be
    violated in this step and is not sampled.

    :param x0: pursuer start x [m] (then y0, th0 and its held velocity v0, w0)
    :param x1: evader start x [m] (then y1, th1, v1, w1)
    :param dt: control period [s]
    :param substeps: instants checked per step (>= 1)
    :param r0: pursuer radius [m]
    :param r1: evader radius [m]
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with a kind
    :param mask: ``(K,)`` real rows
    :param x_min: arena bounds [m] (then x_max, y_min, y_max)
    :param prefilter: skip what provably cannot be violated (False: sample everything)
    :return: ``(kinds0, kinds1, depth0, depth1, depth_obstacle0, depth_obstacle1,
        depth_arena0, depth_arena1, depth_collision, obstacle_index0, obstacle_index1,
        wall_index0, wall_index1, substepped)`` (agent 0 = pursuer; an index is -1 and a
        depth 0 where nothing is violated)
    """
    t0 = abs(v0) * dt
    t1 = abs(v1) * dt
    need_pair = True
    wall0 = obs0 = wall1 = obs1 = True
    if prefilter:
        need_pair = (math.sqrt((x0 - x1) * (x0 - x1) + (y0 - y1) * (y0 - y1)) - (r0 + r1)
                     <= t0 + t1)
        wall0, obs0 = _static_near(obstacles, mask, x0, y0, r0, t0, x_min, x_max, y_min,
                                   y_max)
        wall1, obs1 = _static_near(obstacles, mask, x1, y1, r1, t1, x_min, x_max, y_min,
                                   y_max)
    if not (need_pair or wall0 or obs0 or wall1 or obs1):
        return 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1, -1, -1, -1, False
    xs0 = floats(substeps)
    ys0 = floats(substeps)
    xs1 = floats(substeps)
    ys1 = floats(substeps)
    if need_pair or wall0 or obs0:
        arc_fill(x0, y0, th0, v0, w0, dt, substeps, xs0, ys0)
    if need_pair or wall1 or obs1:
        arc_fill(x1, y1, th1, v1, w1, dt, substeps, xs1, ys1)
    wa0, wi0 = _walls_worst(xs0, ys0, substeps, r0, x_min, x_max, y_min, y_max) if wall0 \
        else (math.inf, -1)
    wa1, wi1 = _walls_worst(xs1, ys1, substeps, r1, x_min, x_max, y_min, y_max) if wall1 \
        else (math.inf, -1)
    ob0, oj0 = _obstacles_worst(obstacles, mask, xs0, ys0, substeps, r0, x0, y0, t0,
                                prefilter) if obs0 else (math.inf, -1)
    ob1, oj1 = _obstacles_worst(obstacles, mask, xs1, ys1, substeps, r1, x1, y1, t1,
                                prefilter) if obs1 else (math.inf, -1)
    pair = math.inf
    if need_pair:
        pair2 = math.inf
        for k in range(substeps):
            d2 = ((xs0[k] - xs1[k]) * (xs0[k] - xs1[k])
                  + (ys0[k] - ys1[k]) * (ys0[k] - ys1[k]))
            if d2 < pair2:
                pair2 = d2
        pair = math.sqrt(pair2) - (r0 + r1)
    d_pa = max(-pair, 0.0)
    hit_pa = COLLISION if pair < 0 else 0
    k0 = (OBSTACLE if ob0 < 0 else 0) | (ARENA if wa0 < 0 else 0) | hit_pa
    k1 = (OBSTACLE if ob1 < 0 else 0) | (ARENA if wa1 < 0 else 0) | hit_pa
    do0 = max(-ob0, 0.0)
    do1 = max(-ob1, 0.0)
    dw0 = max(-wa0, 0.0)
    dw1 = max(-wa1, 0.0)
    return (k0, k1, max(max(do0, dw0), d_pa), max(max(do1, dw1), d_pa), do0, do1, dw0, dw1,
            d_pa, oj0 if ob0 < 0 else -1, oj1 if ob1 < 0 else -1, wi0 if wa0 < 0 else -1,
            wi1 if wa1 < 0 else -1, True)


def game_args(prev, cmds, dt, substeps, radii, obstacles, mask, bounds) -> tuple:
    """The leading arguments of :func:`check_game` and :func:`contact_game` for one game given
    as plain Python values, converted to the types the kernels are compiled for.

    :param prev: start poses ``[(x, y, theta)] * 2`` (pursuer, evader)
    :param cmds: velocities held over the step ``[(v, omega)] * 2``
    :param dt: control period [s]
    :param substeps: sub-step samples S
    :param radii: ``(r_pursuer, r_evader)`` [m]
    :param obstacles: ``(K, 3)`` or ``(K, 6)`` float rows
    :param mask: ``(K,)`` bool real rows
    :param bounds: ``(x_min, x_max, y_min, y_max)`` [m]
    """
    (x0, y0, th0), (x1, y1, th1) = prev
    (v0, w0), (v1, w1) = cmds
    x_min, x_max, y_min, y_max = bounds
    return (float(x0), float(y0), float(th0), float(v0), float(w0), float(x1), float(y1),
            float(th1), float(v1), float(w1), float(dt), int(substeps), float(radii[0]),
            float(radii[1]), obstacles, mask, float(x_min), float(x_max), float(y_min),
            float(y_max))


# ---------------------------------------------------------------------- solid contact
@njit(cache=True)
def _static_clearance(obstacles, mask, x, y, r, x_min, x_max, y_min, y_max):
    """Smallest wall or obstacle clearance of a body of radius ``r`` at ``(x, y)``."""
    c = min(x - x_min, x_max - x, y - y_min, y_max - y) - r
    for j in range(obstacles.shape[0]):
        if mask[j]:
            d = surface(obstacles, j, x, y) - r
            if d < c:
                c = d
    return c


@njit(cache=True)
def _contact_sample(obstacles, mask, xs, ys, k, r, stop, s, x, y, x_min, x_max, y_min, y_max):
    """``(stop, x, y, clearance)`` of one robot after sample ``k``: a robot still moving
    stops (at ``k - 1``, staying at ``(x, y)``) where the sample would take it deeper into
    a wall or an obstacle than its clearance ``s`` so far, else it moves there."""
    if stop >= 0:
        return stop, x, y, s
    c = _static_clearance(obstacles, mask, xs[k - 1], ys[k - 1], r, x_min, x_max, y_min, y_max)
    if c < 0.0 and c < s:
        return k - 1, x, y, s
    return stop, xs[k - 1], ys[k - 1], c


@njit(cache=True)
def contact_game(x0, y0, th0, v0, w0, x1, y1, th1, v1, w1, dt, substeps, r0, r1, obstacles,
                 mask, x_min, x_max, y_min, y_max):
    """Where both robots of one game stop in a solid world (:mod:`safe_pe_sim.contact`
    gives the rule): the last free sub-step sample of a robot that would go deeper into
    something, else the end of its arc.

    :param x0: pursuer start x [m] (then y0, th0 and its held velocity v0, w0)
    :param x1: evader start x [m] (then y1, th1, v1, w1)
    :param dt: control period [s]
    :param substeps: sub-step samples S per step
    :param r0: pursuer radius [m]
    :param r1: evader radius [m]
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with a kind
    :param mask: ``(K,)`` real rows
    :param x_min: arena bounds [m] (then x_max, y_min, y_max)
    :return: ``(stop0, stop1, x0, y0, th0, x1, y1, th1)``: per robot the index ``k`` of its
        last free sample when it stopped (0: the start), else -1, and its pose there
        (NaN where it did not stop: the caller keeps the end of the arc)
    """
    xs0 = floats(substeps)
    ys0 = floats(substeps)
    xs1 = floats(substeps)
    ys1 = floats(substeps)
    arc_fill(x0, y0, th0, v0, w0, dt, substeps, xs0, ys0)
    arc_fill(x1, y1, th1, v1, w1, dt, substeps, xs1, ys1)
    px0, py0, px1, py1 = x0, y0, x1, y1
    stop0 = stop1 = -1
    s0 = _static_clearance(obstacles, mask, x0, y0, r0, x_min, x_max, y_min, y_max)
    s1 = _static_clearance(obstacles, mask, x1, y1, r1, x_min, x_max, y_min, y_max)
    contact = r0 + r1
    pair = math.hypot(px0 - px1, py0 - py1) - contact
    for k in range(1, substeps + 1):
        stop0, nx0, ny0, s0 = _contact_sample(obstacles, mask, xs0, ys0, k, r0, stop0, s0,
                                              px0, py0, x_min, x_max, y_min, y_max)
        stop1, nx1, ny1, s1 = _contact_sample(obstacles, mask, xs1, ys1, k, r1, stop1, s1,
                                              px1, py1, x_min, x_max, y_min, y_max)
        p = math.hypot(nx0 - nx1, ny0 - ny1) - contact
        if p < 0.0 and p < pair:  # the bodies would go deeper into each other: all stop
            if stop0 < 0:
                stop0 = k - 1
                nx0, ny0 = px0, py0
            if stop1 < 0:
                stop1 = k - 1
                nx1, ny1 = px1, py1
            p = math.hypot(nx0 - nx1, ny0 - ny1) - contact
        px0, py0, px1, py1 = nx0, ny0, nx1, ny1
        pair = p
        if stop0 >= 0 and stop1 >= 0:
            break
    e0 = _stop_pose(stop0, x0, y0, th0, w0, xs0, ys0, dt, substeps)
    e1 = _stop_pose(stop1, x1, y1, th1, w1, xs1, ys1, dt, substeps)
    return stop0, stop1, e0[0], e0[1], e0[2], e1[0], e1[1], e1[2]


@njit(cache=True)
def _stop_pose(k, x, y, theta, omega, xs, ys, dt, substeps):
    """Pose at the last free sample ``k`` (NaN when the robot did not stop)."""
    if k < 0:
        return math.nan, math.nan, math.nan
    if k == 0:
        return x, y, theta
    return xs[k - 1], ys[k - 1], wrap(theta + omega * (k * dt / substeps))


# ---------------------------------------------------------------------- rewards
@njit(cache=True)
def reward_pair(w, d_prev, d_now, captured, timed_out, violated0, violated1):
    """``(pursuer, evader)`` rewards of one game's step (without the w5 safety term).

    :param w: weights ``(capture, escape, distance, time, zero_sum, evader_capture,
        evader_escape, evader_distance, evader_time, violation)``
        (:func:`safe_pe_sim.rewards.reward_weights`)
    :param d_prev: centre distance before the step [m]
    :param d_now: centre distance after the step [m]
    :param captured: capture at this step
    :param timed_out: step limit reached without capture
    :param violated0: the pursuer violated something during the step
    :param violated1: the evader did
    """
    closing = d_prev - d_now
    rp = w[0] * captured + w[1] * timed_out + w[2] * closing + w[3]
    if w[4] != 0.0:
        re = -rp
    else:
        re = w[5] * captured + w[6] * timed_out + w[7] * closing + w[8]
    if w[9] != 0.0:
        rp += w[9] * violated0
        re += w[9] * violated1
    return rp, re


@njit(cache=True)
def outcome(x0, y0, x1, y1, d_prev, steps, capture_radius, max_steps, terminate_on_violation,
            violated0, violated1, w):
    """The rules at the end of one game's step: ``(distance, captured, terminated,
    truncated, pursuer reward, evader reward)`` (the rewards without the w5 term).

    Capture is a centre distance ``<= capture_radius``; a step terminates on capture (or on a
    violation with ``terminate_on_violation``) and is truncated (the evader escaped) when it
    reaches ``max_steps`` without terminating.

    :param x0: pursuer x after the step [m] (then y0)
    :param x1: evader x after the step [m] (then y1)
    :param d_prev: centre distance before the step [m]
    :param steps: steps of the episode, this one included
    :param capture_radius: capture distance [m]
    :param max_steps: step limit of an episode
    :param terminate_on_violation: a violation ends the episode
    :param violated0: the pursuer violated something during the step
    :param violated1: the evader did
    :param w: reward weights (see :func:`reward_pair`)
    """
    d = math.sqrt((x0 - x1) * (x0 - x1) + (y0 - y1) * (y0 - y1))
    captured = d <= capture_radius
    terminated = captured or (terminate_on_violation and (violated0 or violated1))
    truncated = steps >= max_steps and not terminated
    rp, re = reward_pair(w, d_prev, d, captured, truncated, violated0, violated1)
    return d, captured, terminated, truncated, rp, re


# ---------------------------------------------------------------------- scripted steering
@njit(cache=True)
def steer(theta, heading, v_max, v_turn, omega_max, gain):
    """``(v, omega)`` turning a robot towards ``heading``: ``omega = clip(gain * err)``,
    ``v = v_max`` when ``|err| <= pi / 2`` else ``v_turn`` (turn in place first).

    :param theta: the robot's heading [rad]
    :param heading: desired heading [rad]
    :param v_max: full speed [m/s]
    :param v_turn: speed while turning around, ``max(v_min, 0)`` [m/s]
    :param omega_max: turn-rate limit [rad/s]
    :param gain: proportional turn gain [1/s]
    """
    err = wrap(heading - theta)
    omega = min(max(gain * err, -omega_max), omega_max)
    return (v_max if abs(err) <= math.pi / 2 else v_turn), omega


@njit(cache=True)
def pursue(x, y, theta, tx, ty, t_theta, t_v, lead, v_max, v_turn, omega_max, gain):
    """Pure pursuit of a target (led by its velocity over ``lead`` seconds when > 0).

    :param x: pursuer x [m] (then y, theta)
    :param tx: target x [m] (then ty, its heading t_theta and speed t_v)
    :param lead: prediction horizon [s]
    :param v_max: see :func:`steer` (also v_turn, omega_max, gain)
    """
    if lead > 0.0:
        tx = tx + lead * t_v * math.cos(t_theta)
        ty = ty + lead * t_v * math.sin(t_theta)
    return steer(theta, math.atan2(ty - y, tx - x), v_max, v_turn, omega_max, gain)


@njit(cache=True)
def flee_from(x, y, theta, px, py, v_max, v_turn, omega_max, gain):
    """Steer straight away from the point ``(px, py)``.

    :param x: evader x [m] (then y, theta)
    :param px: pursuer x [m] (then py)
    :param v_max: see :func:`steer` (also v_turn, omega_max, gain)
    """
    return steer(theta, math.atan2(y - py, x - px), v_max, v_turn, omega_max, gain)


@njit(cache=True)
def _push(c, influence, floor):
    return (1.0 / max(c, floor) - 1.0 / influence) * influence if c < influence else 0.0


@njit(cache=True)
def aware_flee_one(x, y, theta, px, py, obstacles, mask, x_min, x_max, y_min, y_max, r,
                   influence, v_max, v_turn, omega_max, gain):
    """Flee the pursuer while repelled by walls and obstacles (the potential field of
    :func:`safe_pe_sim.baselines.aware_flee`; a box pushes from its nearest surface point).

    :param x: evader x [m] (then y, theta)
    :param px: pursuer x [m] (then py)
    :param obstacles: ``(K, 3)`` or ``(K, 6)`` rows
    :param mask: ``(K,)`` real rows
    :param x_min: arena bounds [m] (then x_max, y_min, y_max)
    :param r: evader radius [m]
    :param influence: clearance [m] below which walls and obstacles repel
    :param v_max: see :func:`steer` (also v_turn, omega_max, gain)
    """
    floor = 0.05 * influence
    ax = x - px
    ay = y - py
    norm = max(math.sqrt(ax * ax + ay * ay), 1e-9)
    dx = ax / norm + _push(x - x_min - r, influence, floor) \
        - _push(x_max - x - r, influence, floor)
    dy = ay / norm + _push(y - y_min - r, influence, floor) \
        - _push(y_max - y - r, influence, floor)
    wide = obstacles.shape[1] > KIND
    for j in range(obstacles.shape[0]):
        if not mask[j]:
            continue
        if wide and obstacles[j, KIND] == BOX:  # its nearest surface point, radius 0
            sd, nx, ny = signed_distance(obstacles[j], x, y)
            ox = x - sd * nx
            oy = y - sd * ny
            orad = 0.0
        else:
            ox = obstacles[j, 0]
            oy = obstacles[j, 1]
            orad = obstacles[j, 2]
        qx = x - ox
        qy = y - oy
        dist = max(math.sqrt(qx * qx + qy * qy), 1e-9)
        p = _push(dist - orad - r, influence, floor)
        dx += p * qx / dist
        dy += p * qy / dist
    return steer(theta, math.atan2(dy, dx), v_max, v_turn, omega_max, gain)


# ---------------------------------------------------------------------- loops (batched forms)
# Each loop applies one kernel above to every row (robot) or game ``i`` of its array arguments,
# which carry the kernel's arguments as columns, and writes the results into ``out`` (or the
# arrays named after the results). The batched functions of dynamics, actions, safety_check,
# rewards, baselines and the vector core call them. They live here, next to their kernels,
# so numba's per-file cache stamp covers both.


@njit(cache=True)
def unicycle_rows(poses, cmds, dt, out):
    """:func:`unicycle` of ``(M, 3)`` poses and ``(M, 2)`` commands held ``dt[i % len(dt)]``
    into ``out (M, 3)``."""
    nd = dt.shape[0]
    for i in range(poses.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = unicycle(poses[i, 0], poses[i, 1], poses[i, 2],
                                                   cmds[i, 0], cmds[i, 1], dt[i % nd])


@njit(cache=True)
def arc_rows(poses, cmds, dt, xs, ys):
    """:func:`arc_fill` of ``(M, 3)`` poses and ``(M, 2)`` commands into columns of ``xs, ys
    (S, M)``."""
    for i in range(poses.shape[0]):
        arc_fill(poses[i, 0], poses[i, 1], poses[i, 2], cmds[i, 0], cmds[i, 1], dt,
                 xs.shape[0], xs[:, i], ys[:, i])


@njit(cache=True)
def physical_rows(a, out, v_min, v_max, omega_max):
    """:func:`physical` of ``(M, 2)`` actions into ``out (M, 2)``."""
    for i in range(a.shape[0]):
        out[i, 0], out[i, 1] = physical(a[i, 0], a[i, 1], v_min, v_max, omega_max)


@njit(cache=True)
def command_games(cmds, noise, noisy, lo, hi, std, out):
    """:func:`command` of ``(N, 2, 2)`` commands with ``(N, 2, 2)`` noise draws into ``out``;
    robot ``a``'s limits are ``lo[a] = (v_min, -omega_max)``, ``hi[a] = (v_max, omega_max)``
    and ``std`` is ``(std_v, std_omega)``."""
    for i in range(cmds.shape[0]):
        for a in range(2):
            out[i, a, 0], out[i, a, 1] = command(cmds[i, a, 0], cmds[i, a, 1], lo[a, 0],
                                                 hi[a, 0], hi[a, 1], noisy, noise[i, a, 0],
                                                 noise[i, a, 1], std[0], std[1])


@njit(cache=True)
def check_games(prev, cmds, dt, substeps, r0, r1, obstacles, mask, x_min, x_max, y_min,
                y_max, prefilter, use_start, start_static, start_pair, violated, kinds, depth,
                depth_obstacle, depth_arena, depth_collision, obstacle_index, wall_index,
                substepped):
    """:func:`check_game` of ``(N, 2, 3)`` poses and ``(N, 2, 2)`` velocities into the
    ``(N, 2)`` arrays of a :class:`~safe_pe_sim.safety_check.SafetyReport`; with
    ``use_start`` a game whose ``start_static (N, 2)`` and ``start_pair (N,)`` clearances
    exceed the travel is skipped at once."""
    for i in range(prev.shape[0]):
        if use_start:
            t0 = abs(cmds[i, 0, 0]) * dt
            t1 = abs(cmds[i, 1, 0]) * dt
            if start_static[i, 0] > t0 and start_static[i, 1] > t1 and start_pair[i] > t0 + t1:
                continue
        res = check_game(prev[i, 0, 0], prev[i, 0, 1], prev[i, 0, 2], cmds[i, 0, 0],
                         cmds[i, 0, 1], prev[i, 1, 0], prev[i, 1, 1], prev[i, 1, 2],
                         cmds[i, 1, 0], cmds[i, 1, 1], dt, substeps, r0, r1, obstacles[i],
                         mask[i], x_min, x_max, y_min, y_max, prefilter)
        if not res[13]:
            continue
        substepped[i] = True
        kinds[i, 0], kinds[i, 1] = res[0], res[1]
        violated[i, 0], violated[i, 1] = res[0] > 0, res[1] > 0
        depth[i, 0], depth[i, 1] = res[2], res[3]
        depth_obstacle[i, 0], depth_obstacle[i, 1] = res[4], res[5]
        depth_arena[i, 0], depth_arena[i, 1] = res[6], res[7]
        depth_collision[i, 0] = depth_collision[i, 1] = res[8]
        obstacle_index[i, 0], obstacle_index[i, 1] = res[9], res[10]
        wall_index[i, 0], wall_index[i, 1] = res[11], res[12]


@njit(cache=True)
def contact_games(prev, applied, poses, velocities, games, dt, substeps, radii, obstacles,
                  mask, bounds):
    """:func:`contact_game` of the listed ``games`` of a vector core, in place: a stopped
    robot's row of ``poses (N, 2, 3)`` (the ends of the free arcs) becomes its stop pose and
    its row of ``velocities (N, 2, 2)`` zero; ``bounds`` is ``(x_min, x_max, y_min,
    y_max)``."""
    for i in games:
        res = contact_game(prev[i, 0, 0], prev[i, 0, 1], prev[i, 0, 2], applied[i, 0, 0],
                           applied[i, 0, 1], prev[i, 1, 0], prev[i, 1, 1], prev[i, 1, 2],
                           applied[i, 1, 0], applied[i, 1, 1], dt, substeps, radii[0],
                           radii[1], obstacles[i], mask[i], bounds[0], bounds[1], bounds[2],
                           bounds[3])
        if res[0] >= 0:
            poses[i, 0, 0], poses[i, 0, 1], poses[i, 0, 2] = res[2], res[3], res[4]
            velocities[i, 0, 0] = velocities[i, 0, 1] = 0.0
        if res[1] >= 0:
            poses[i, 1, 0], poses[i, 1, 1], poses[i, 1, 2] = res[5], res[6], res[7]
            velocities[i, 1, 0] = velocities[i, 1, 1] = 0.0


@njit(cache=True)
def reward_rows(w, d_prev, d_now, captured, timed_out, violated, out):
    """:func:`reward_pair` of N games (``(N,)`` arrays, ``violated (N, 2)``) into ``out (N,
    2)``."""
    for i in range(d_prev.shape[0]):
        out[i, 0], out[i, 1] = reward_pair(w, d_prev[i], d_now[i], captured[i], timed_out[i],
                                           violated[i, 0], violated[i, 1])


@njit(cache=True)
def outcome_games(poses, d_prev, steps, capture_radius, max_steps, terminate_on_violation,
                  violated, w, distance, captured, terminated, truncated, rewards):
    """:func:`outcome` of N games (``(N, 2, 3)`` poses after the step, ``(N,)`` d_prev and
    steps, ``(N, 2)`` violated) into ``distance``, ``captured``, ``terminated``,
    ``truncated`` ``(N,)`` and ``rewards (N, 2)``."""
    for i in range(poses.shape[0]):
        (distance[i], captured[i], terminated[i], truncated[i], rewards[i, 0],
         rewards[i, 1]) = outcome(poses[i, 0, 0], poses[i, 0, 1], poses[i, 1, 0],
                                  poses[i, 1, 1], d_prev[i], steps[i], capture_radius,
                                  max_steps, terminate_on_violation, violated[i, 0],
                                  violated[i, 1], w)


@njit(cache=True)
def steer_rows(poses, heading, law, out):
    """:func:`steer` of ``(M, 3)`` poses towards ``heading (M,)``; ``law`` is ``(v_max,
    v_turn, omega_max, gain)``."""
    for i in range(poses.shape[0]):
        out[i, 0], out[i, 1] = steer(poses[i, 2], heading[i], law[0], law[1], law[2], law[3])


@njit(cache=True)
def pursue_rows(poses, velocities, lead, law, out):
    """:func:`pursue` of N games' pursuers (``(N, 2, 3)`` poses, ``(N, 2, 2)`` velocities)."""
    for i in range(poses.shape[0]):
        out[i, 0], out[i, 1] = pursue(poses[i, 0, 0], poses[i, 0, 1], poses[i, 0, 2],
                                      poses[i, 1, 0], poses[i, 1, 1], poses[i, 1, 2],
                                      velocities[i, 1, 0], lead, law[0], law[1], law[2],
                                      law[3])


@njit(cache=True)
def flee_rows(poses, law, out):
    """:func:`flee_from` of N games' evaders (``(N, 2, 3)`` poses)."""
    for i in range(poses.shape[0]):
        out[i, 0], out[i, 1] = flee_from(poses[i, 1, 0], poses[i, 1, 1], poses[i, 1, 2],
                                         poses[i, 0, 0], poses[i, 0, 1], law[0], law[1],
                                         law[2], law[3])


@njit(cache=True)
def aware_flee_rows(poses, obstacles, mask, arena, r, influence, law, out):
    """:func:`aware_flee_one` of N games' evaders (``(N, K, 3|6)`` obstacles, ``(N, K)``
    mask, ``arena`` the bounds)."""
    for i in range(poses.shape[0]):
        out[i, 0], out[i, 1] = aware_flee_one(
            poses[i, 1, 0], poses[i, 1, 1], poses[i, 1, 2], poses[i, 0, 0], poses[i, 0, 1],
            obstacles[i], mask[i], arena[0], arena[1], arena[2], arena[3], r, influence,
            law[0], law[1], law[2], law[3])
