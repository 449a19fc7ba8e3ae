"""Closed-loop helpers of the property tests (not a test module): exact unicycle arcs, body-level
clearances, adversarial nominal commands, safe starting states and the sub-stepped check of
one control step. Written here on purpose: safe_pe_cbf must not import safe_pe_sim (whose
safety_check does the same for the simulator)."""

import math

import numpy as np

from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig


def arc_step(poses, cmds, t):
    """Exact unicycle motion for time t under constant (v, omega) (arrays (..., 3), (..., 2))."""
    x, y, th = poses[..., 0], poses[..., 1], poses[..., 2]
    v, w = cmds[..., 0], cmds[..., 1]
    th1 = th + w * t
    small = np.abs(w * t) < 1e-9
    ws = np.where(small, 1.0, w)
    dx = np.where(small, v * t * np.cos(th + 0.5 * w * t), v / ws * (np.sin(th1) - np.sin(th)))
    dy = np.where(small, v * t * np.sin(th + 0.5 * w * t), -v / ws * (np.cos(th1) - np.cos(th)))
    return np.stack([x + dx, y + dy, th1], axis=-1)


def surface_distance(xy, obstacles):
    """Signed distance (N, 2, K) of points xy (N, 2, 2) to obstacles (N, K, 3) circles or
    (N, K, 6) rows with a kind (1: box ``(x, y, half_length, half_width, angle)``).

    Boxes by clamping to the rectangle in its frame (not the filter's formula): outside the
    distance to the clamped point, inside minus the distance to the nearest side."""
    rel = xy[:, :, None, :] - obstacles[:, None, :, :2]
    circle = np.linalg.norm(rel, axis=-1) - obstacles[:, None, :, 2]
    if obstacles.shape[-1] == 3:
        return circle
    ang = obstacles[:, None, :, 4]
    qx = np.cos(ang) * rel[..., 0] + np.sin(ang) * rel[..., 1]
    qy = np.cos(ang) * rel[..., 1] - np.sin(ang) * rel[..., 0]
    hl, hw = obstacles[:, None, :, 2], obstacles[:, None, :, 3]
    cx, cy = np.clip(qx, -hl, hl), np.clip(qy, -hw, hw)
    outside = np.hypot(qx - cx, qy - cy)
    inside = -np.minimum(hl - np.abs(qx), hw - np.abs(qy))
    box = np.where(outside > 0.0, outside, inside)
    return np.where(obstacles[:, None, :, 5] == 1.0, box, circle)


def static_clearance(xy, arena, obstacles, radii):
    """Body-level clearance (N, M) of M robots per env to the walls and obstacles (negative =
    collision): points xy (N, M, 2), obstacles as for :func:`surface_distance`, radii (M,)."""
    r = radii[None, :]
    walls = np.minimum.reduce([xy[..., 0] - arena.x_min - r, arena.x_max - xy[..., 0] - r,
                               xy[..., 1] - arena.y_min - r, arena.y_max - xy[..., 1] - r])
    d_obs = surface_distance(xy, obstacles) - r[..., None]
    return np.minimum(walls, d_obs.min(axis=2))


def body_clearance(poses, arena, obstacles, radii):
    """Smallest body-level clearance of each env (negative = collision). poses (N, 2, 3)."""
    xy = poses[..., :2]
    pair = np.linalg.norm(xy[:, 0] - xy[:, 1], axis=-1) - radii.sum()
    return np.minimum(static_clearance(xy, arena, obstacles, radii).min(axis=1), pair)


def advance(poses, cmds, dt):
    """Poses after ``dt`` on exact arcs, headings wrapped to [-pi, pi)."""
    out = arc_step(poses, cmds, dt)
    out[..., 2] = (out[..., 2] + math.pi) % (2 * math.pi) - math.pi
    return out


def pair_filters(arena, gamma, dt, v_min, radius, vcp_offset, evader_speed):
    """Batched filters of the two robots in the shared-mode property tests: the pursuer at 1
    m/s, the evader at ``evader_speed``, equal bodies and VCP offsets, no margin, half the
    robot-robot avoidance each."""
    common = dict(gamma=gamma, dt=dt, v_min=v_min, robot_radius=radius,
                  opponent_radius=radius, vcp_offset=vcp_offset, opponent_vcp_offset=vcp_offset,
                  margin=0.0, collision_mode="shared", collision_share=0.5)
    return (BatchedSafetyFilter(CBFConfig(v_max=1.0, **common), arena),
            BatchedSafetyFilter(CBFConfig(v_max=evader_speed, **common), arena))


def safe_start(rng, obstacles, arena, filters, attempts=400, sizes=slice(2, 3), evict_at=None):
    """Poses (N, 2, 3) inside the arena where every barrier of every filter is >= 0 (the
    filter's precondition), by rejection sampling. ``filters[a]`` (one per filtered robot)
    sees robot ``a`` with robot ``1 - a`` as its opponent.

    An env still without a start every 20th attempt halves its obstacles' ``sizes`` columns,
    and at attempt ``evict_at`` (None: never) moves its obstacles out of the arena; both
    change ``obstacles`` (N, K, C) in place.

    :return: ``(obstacles, poses)``.
    :raises AssertionError: if some env has no start after ``attempts`` tries.
    """
    N = obstacles.shape[0]
    poses = np.zeros((N, 2, 3))
    todo = np.arange(N)
    for attempt in range(attempts):
        if attempt % 20 == 19:
            obstacles[todo, :, sizes] *= 0.5  # crowded layout: shrink its obstacles
        if attempt == evict_at:  # no room at all (a large margin): obstacles outside
            obstacles[todo, :, :2] = -2.0 * (arena.x_max - arena.x_min)
        cand = np.stack([rng.uniform(arena.x_min, arena.x_max, (todo.size, 2)),
                         rng.uniform(arena.y_min, arena.y_max, (todo.size, 2)),
                         rng.uniform(-np.pi, np.pi, (todo.size, 2))], axis=-1)
        ok = np.ones(todo.size, dtype=bool)
        for a, f in enumerate(filters):
            ok &= f.min_barrier(cand[:, a], obstacles[todo], None, cand[:, 1 - a]) >= 0.0
        poses[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if todo.size == 0:
            return obstacles, poses
    raise AssertionError("could not sample safe starting states")


def checked_step(poses, cmds, dt, arena, obstacles, radii, filters, step, substeps=10,
                 tol=1e-9, context=""):
    """One control step of both robots on exact arcs, checked at ``substeps`` points: 0
    body-level violations (walls, obstacles, the pair) and, stronger, every filter's barriers
    (VCP level) >= ``-tol`` between samples. ``filters`` as for :func:`safe_start`.

    :param step: the control step's number, and ``context`` text, for the failure message.
    :return: the poses after ``dt`` (:func:`advance`).
    :raises AssertionError: naming the step, sub-step and env of the first violation.
    """
    for s in range(1, substeps + 1):
        sub = arc_step(poses, cmds, dt * s / substeps)
        clear = body_clearance(sub, arena, obstacles, radii)
        if not np.all(clear >= -tol):
            raise AssertionError(f"body violation {clear.min():.3e} m at step {step}, sub-step "
                                 f"{s}, env {int(np.argmin(clear))}{context}")
        for a, f in enumerate(filters):
            h = f.min_barrier(sub[:, a], obstacles, None, sub[:, 1 - a])
            if not np.all(h >= -tol):
                raise AssertionError(f"barrier violation {h.min():.3e} m (robot {a}) at step "
                                     f"{step}, sub-step {s}, env {int(np.argmin(h))}{context}")
    return advance(poses, cmds, dt)


def adversarial_commands(rng, poses, obstacles, arena, mode, v_max, w_max):
    """Full-speed commands steered at a danger chosen per env and robot by ``mode``."""
    N = poses.shape[0]
    out = np.empty((N, 2, 2))
    for a in range(2):
        p = poses[:, a]
        other = poses[:, 1 - a]
        d = np.linalg.norm(obstacles[:, :, :2] - p[:, None, :2], axis=-1)
        near = obstacles[np.arange(N), np.argmin(d, axis=1), :2]
        walls = np.stack([np.stack([np.full(N, arena.x_min), p[:, 1]], 1),
                          np.stack([np.full(N, arena.x_max), p[:, 1]], 1),
                          np.stack([p[:, 0], np.full(N, arena.y_min)], 1),
                          np.stack([p[:, 0], np.full(N, arena.y_max)], 1)], axis=1)
        wall = walls[np.arange(N), rng.integers(0, 4, N)]
        target = np.where((mode[:, a] == 0)[:, None], near,
                          np.where((mode[:, a] == 1)[:, None], wall, other[:, :2]))
        bearing = np.arctan2(target[:, 1] - p[:, 1], target[:, 0] - p[:, 0])
        err = (bearing - p[:, 2] + np.pi) % (2 * np.pi) - np.pi
        w = np.clip(6.0 * err, -w_max, w_max)
        spin = mode[:, a] == 3
        w = np.where(spin, w_max * np.sign(rng.standard_normal(N)), w)
        out[:, a, 0] = v_max
        out[:, a, 1] = w
    return out


def ramp_held(prev, cmd, dt, accel, decel):
    """The velocity a base holds for the next period (numpy, any shape), written here apart
    from ``safe_pe_cbf.actuator`` on purpose: a time budget of ``dt`` per period, spent first
    on braking toward zero (or toward the command while it has the same sign and is smaller)
    at ``decel`` and then on speeding up at ``accel``; a limit of 0 means at once."""
    with np.errstate(invalid="ignore"):  # 0 * inf where a limit is "at once": not used
        return _ramp_held(prev, cmd, dt, accel, decel)


def _ramp_held(prev, cmd, dt, accel, decel):
    acc = np.where(accel > 0.0, accel, np.inf)
    dec = np.where(decel > 0.0, decel, np.inf)
    same = prev * cmd > 0.0
    slower = same & (np.abs(cmd) < np.abs(prev))
    stop_at = np.where(slower | (cmd == 0.0), cmd, 0.0)  # where braking ends
    brake = np.abs(prev - stop_at)                       # speed to take off first
    t_brake = np.where(prev == 0.0, 0.0, np.where(same & ~slower, 0.0, brake / dec))
    braked = np.where(t_brake >= dt, prev - np.sign(prev) * dec * dt, stop_at)
    braked = np.where(same & ~slower, prev, braked)
    left = np.maximum(dt - np.where(same & ~slower, 0.0, t_brake), 0.0)
    grow = np.abs(cmd) - np.abs(braked)                  # speed to add, same sign as cmd
    grown = braked + np.sign(cmd) * np.minimum(np.maximum(grow, 0.0), acc * left)
    return np.where(t_brake >= dt, braked, np.where(grow > 0.0, grown, braked))


class ActuatedPlant:
    """Robots with ramps and command latency: ``send`` queues each robot's command, ``hold``
    applies the one whose latency has passed through :func:`ramp_held`, and ``held`` is the
    velocity held in the last period (what odometry reports at the next sample).

    :param N: envs; ``R``: robots per env
    :param latency: periods, one for all robots or ``(R,)`` (``queues[r]``: ``(N, L_r, 2)``)
    :param accel, decel, ang_accel: ``(R,)`` limits per robot (0: at once)
    """

    def __init__(self, N, R, latency, accel, decel, ang_accel, dt):
        self.dt = dt
        self.latencies = [int(latency)] * R if np.ndim(latency) == 0 else [int(x) for x in latency]
        self.latency = max(self.latencies)
        self.lim = (np.asarray(accel, float), np.asarray(decel, float),
                    np.asarray(ang_accel, float))
        self.held = np.zeros((N, R, 2))
        self.queues = [np.zeros((N, L, 2)) for L in self.latencies]

    def pending(self, r):
        """``(N, L_r, 2)`` commands of robot ``r`` sent but not yet in effect."""
        return self.queues[r].copy()

    def keep(self, rows):
        """Only the envs ``rows`` from now on (index or mask)."""
        self.held = self.held[rows]
        self.queues = [q[rows] for q in self.queues]

    def step(self, cmds):
        """Queue ``cmds (N, R, 2)`` and return the velocities held for this period."""
        effect = cmds.copy()
        for r, q in enumerate(self.queues):
            if q.shape[1]:
                effect[:, r] = q[:, 0]
                self.queues[r] = np.concatenate([q[:, 1:], cmds[:, r, None]], axis=1)
        acc, dec, wacc = (a[None, :] for a in self.lim)
        v = ramp_held(self.held[..., 0], effect[..., 0], self.dt, acc, dec)
        w = ramp_held(self.held[..., 1], effect[..., 1], self.dt, wacc, wacc)
        self.held = np.stack([v, w], axis=-1)
        return self.held
