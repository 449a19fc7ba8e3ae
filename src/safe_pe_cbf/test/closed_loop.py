"""Closed-loop helpers of the property tests (not a test module): exact unicycle arcs, body-level
clearances and adversarial nominal commands. Written here on purpose: safe_pe_cbf must not
import safe_pe_sim (whose safety_check does the same for the simulator)."""

import numpy as np


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


def body_clearance(poses, arena, obstacles, radii):
    """Smallest body-level clearance of each env (negative = collision). poses (N, 2, 3)."""
    r = radii[None, :]
    xy = poses[..., :2]
    walls = np.minimum.reduce([xy[..., 0] - arena.x_min - r, arena.x_max - xy[..., 0] - r,
                               xy[..., 1] - arena.y_min - r, arena.y_max - xy[..., 1] - r])
    d_obs = surface_distance(xy, obstacles) - r[..., None]
    pair = np.linalg.norm(xy[:, 0] - xy[:, 1], axis=-1) - radii.sum()
    return np.minimum(np.minimum(walls.min(axis=1), d_obs.min(axis=(1, 2))), pair)


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

    :param N: envs; ``R``: robots per env; ``latency``: periods (same for all)
    :param accel, decel, ang_accel: ``(R,)`` limits per robot (0: at once)
    """

    def __init__(self, N, R, latency, accel, decel, ang_accel, dt):
        self.dt = dt
        self.latency = latency
        self.lim = (np.asarray(accel, float), np.asarray(decel, float),
                    np.asarray(ang_accel, float))
        self.held = np.zeros((N, R, 2))
        self.queue = np.zeros((N, R, latency, 2))

    def pending(self, r):
        """``(N, latency, 2)`` commands of robot ``r`` sent but not yet in effect."""
        return self.queue[:, r].copy()

    def step(self, cmds):
        """Queue ``cmds (N, R, 2)`` and return the velocities held for this period."""
        if self.latency:
            effect = self.queue[:, :, 0].copy()
            self.queue = np.concatenate([self.queue[:, :, 1:], cmds[:, :, None]], axis=2)
        else:
            effect = cmds
        acc, dec, wacc = (a[None, :] for a in self.lim)
        v = ramp_held(self.held[..., 0], effect[..., 0], self.dt, acc, dec)
        w = ramp_held(self.held[..., 1], effect[..., 1], self.dt, wacc, wacc)
        self.held = np.stack([v, w], axis=-1)
        return self.held
