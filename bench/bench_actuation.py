#!/usr/bin/env python3
"""Closed-loop bench of the filter under acceleration limits and command latency (issue 16).

Grid: v_max in {0.22, 1, 2} m/s x accel (= decel) in {1, 2.5} m/s^2 x latency in {0, 1, 2}
periods (angular 3.2 rad/s^2, dt 0.05 s, radius 0.15 m, margin 0). Both robots are filtered
("shared" mode, each with the other's limits and held velocity); nominal commands are
adversarial: full speed at the nearest obstacle, a wall or the other robot, spinning, or random
extremes, re-drawn every 7 steps. The plant is written here, apart from safe_pe_cbf.actuator:
each command waits ``latency`` periods in a queue, the held velocity ramps toward it (a time
budget of dt per period: braking at decel first, then speeding up at accel), the robots move
on exact arcs, and the bodies are checked at 10 sub-steps per step against the walls, circle
and box obstacles and each other. Each env runs one episode of ``--episode`` steps from rest.

Printed per cell and in total: body contacts (must be 0), steps, backup (full brake) rate, and
on the same episodes (same scenes, starts and nominal policy seeds) the mean |v| and the
intervention rate of (a) the ideal-actuation filter driving an ideal plant (the issue's
reference: what the robot did before, as if it could stop at once), (b) the ideal filter
driving this ramped plant (what the same robot drives when the filter ignores its limits; it
hits things: its contacts are printed). Last, the per-call time of the single-robot resolver
with and without the model, measured side by side on the same states (p50, p99, ratio).

Both in a crowded 5 m arena (the contact stress: braking distances up to 2 m against the free
space) and in the 20 m arena of the shipped default and diff_drive_nav2 profiles.

    python bench/bench_actuation.py [--steps 1000000] [--episode 200] [--sizes 5 20] [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.geometry import Arena
from safe_pe_cbf.resolver import SafeActionResolver

DT = 0.05
RADIUS = 0.15
ANG_ACCEL = 3.2
OMEGA_MAX = 2.84
SIZE = 5.0
ARENA = Arena(0.0, SIZE, 0.0, SIZE)
#: what each default arena stands for
ARENA_NOTES = {5.0: "crowded: the contact stress, braking distances up to 2 m",
               20.0: "the shipped default and diff_drive_nav2 profiles' arena"}
SUBSTEPS = 10
TOL = 1e-9  # [m] rounding slack of the body check


def set_arena(size: float) -> None:
    """Use a square arena of side ``size`` [m] (scenes scale their positions with it)."""
    global SIZE, ARENA
    SIZE = size
    ARENA = Arena(0.0, size, 0.0, size)


# ---------------------------------------------------------------- the plant (independent)
def ramp(prev: np.ndarray, cmd: np.ndarray, accel: float, decel: float) -> np.ndarray:
    """Held velocity after one period: brake toward the command (or toward 0 on a sign change)
    at ``decel`` for as long as needed or the period lasts, then grow toward it at ``accel``
    for the time left (a limit of 0: at once)."""
    acc = accel if accel > 0.0 else math.inf
    dec = decel if decel > 0.0 else math.inf
    out = np.empty_like(prev)
    for i, (p, c) in enumerate(zip(prev.ravel(), cmd.ravel())):
        t = DT
        if p != 0.0 and (p * c <= 0.0 or abs(c) < abs(p)):  # |v| must fall first
            stop = c if p * c > 0.0 else 0.0
            need = abs(p - stop) / dec
            if need >= t:
                out.flat[i] = p - math.copysign(dec * t, p)
                continue
            p, t = stop, t - need
        if c == p:
            out.flat[i] = c
        else:  # |v| grows toward c (same sign as c from here)
            out.flat[i] = p + math.copysign(min(abs(c - p), acc * t), c - p)
    return out


class Plant:
    """Two robots per env with command queues and ramps."""

    def __init__(self, n: int, latency: int, accel: float, ideal: bool) -> None:
        self.latency = 0 if ideal else latency
        self.accel = 0.0 if ideal else accel
        self.held = np.zeros((n, 2, 2))
        self.queue = np.zeros((n, 2, self.latency, 2))

    def step(self, cmds: np.ndarray) -> np.ndarray:
        if self.latency:
            effect = self.queue[:, :, 0].copy()
            self.queue = np.concatenate([self.queue[:, :, 1:], cmds[:, :, None]], axis=2)
        else:
            effect = cmds
        v = ramp(self.held[..., 0], effect[..., 0], self.accel, self.accel)
        w = ramp(self.held[..., 1], effect[..., 1], 0.0 if not self.accel else ANG_ACCEL,
                 0.0 if not self.accel else ANG_ACCEL)
        self.held = np.stack([v, w], axis=-1)
        return self.held


def arcs(poses: np.ndarray, vel: np.ndarray, t: float) -> np.ndarray:
    """Exact unicycle arcs (chord v t sinc(w t / 2) along the mean heading)."""
    half = 0.5 * vel[..., 1] * t
    safe = np.where(half == 0.0, 1.0, half)
    chord = vel[..., 0] * t * np.where(half == 0.0, 1.0, np.sin(safe) / safe)
    mid = poses[..., 2] + half
    return np.stack([poses[..., 0] + chord * np.cos(mid), poses[..., 1] + chord * np.sin(mid),
                     poses[..., 2] + 2.0 * half], axis=-1)


def clearance(poses: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Smallest body clearance per env [m] (walls, circles, boxes by clamping, the pair)."""
    xy = poses[..., :2]
    walls = np.minimum(np.minimum(xy[..., 0], SIZE - xy[..., 0]),
                       np.minimum(xy[..., 1], SIZE - xy[..., 1])).min(axis=1) - RADIUS
    rel = xy[:, :, None, :] - obstacles[:, None, :, :2]
    circle = np.hypot(rel[..., 0], rel[..., 1]) - obstacles[:, None, :, 2]
    ang = obstacles[:, None, :, 4]
    qx = np.cos(ang) * rel[..., 0] + np.sin(ang) * rel[..., 1]
    qy = np.cos(ang) * rel[..., 1] - np.sin(ang) * rel[..., 0]
    hl, hw = obstacles[:, None, :, 2], obstacles[:, None, :, 3]
    out = np.hypot(qx - np.clip(qx, -hl, hl), qy - np.clip(qy, -hw, hw))
    inside = -np.minimum(hl - np.abs(qx), hw - np.abs(qy))
    box = np.where(out > 0.0, out, inside)
    surf = np.where(obstacles[:, None, :, 5] == 1.0, box, circle).min(axis=(1, 2)) - RADIUS
    pair = np.hypot(*(xy[:, 0] - xy[:, 1]).T) - 2 * RADIUS
    return np.minimum(np.minimum(walls, surf), pair)


# ---------------------------------------------------------------- scenes and commands
def scene(rng: np.random.Generator, n: int) -> np.ndarray:
    """Four obstacles per env: circles and boxes (one a thin wall segment)."""
    O = np.zeros((n, 4, 6))
    O[..., :2] = rng.uniform(0.8, SIZE - 0.8, (n, 4, 2))
    O[..., 2] = rng.uniform(0.1, 0.4, (n, 4))
    O[:, 2:, 3] = np.c_[rng.uniform(0.05, 0.3, n), np.zeros(n)]
    O[:, 2:, 4] = rng.uniform(-np.pi, np.pi, (n, 2))
    O[:, 2:, 5] = 1.0
    return O


def starts(rng: np.random.Generator, O: np.ndarray, filt: BatchedSafetyFilter) -> np.ndarray:
    """Safe starting poses (every geometric barrier >= 0), robots at rest."""
    n = O.shape[0]
    poses = np.zeros((n, 2, 3))
    todo = np.arange(n)
    while todo.size:
        cand = np.stack([rng.uniform(0, SIZE, (todo.size, 2)),
                         rng.uniform(0, SIZE, (todo.size, 2)),
                         rng.uniform(-np.pi, np.pi, (todo.size, 2))], axis=-1)
        ok = np.ones(todo.size, dtype=bool)
        for a in range(2):
            ok &= filt.min_barrier(cand[:, a], O[todo], None, cand[:, 1 - a]) >= 0.0
        poses[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return poses


def nominal(rng: np.random.Generator, poses: np.ndarray, O: np.ndarray, mode: np.ndarray,
            v_max: float) -> np.ndarray:
    """Adversarial commands: 0 nearest obstacle, 1 a wall, 2 the other robot, 3 spin, 4 random
    extremes."""
    n = poses.shape[0]
    out = np.empty((n, 2, 2))
    for a in range(2):
        p = poses[:, a]
        dist = np.hypot(*(O[:, :, :2] - p[:, None, :2]).transpose(2, 0, 1))
        near = O[np.arange(n), np.argmin(dist, axis=1), :2]
        wall = np.where(rng.random((n, 1)) < 0.5, np.c_[np.where(p[:, 2] > 0, SIZE, 0.0), p[:, 1]],
                        np.c_[p[:, 0], np.where(np.cos(p[:, 2]) > 0, SIZE, 0.0)])
        target = np.where((mode[:, a] == 0)[:, None], near,
                          np.where((mode[:, a] == 1)[:, None], wall, poses[:, 1 - a, :2]))
        err = (np.arctan2(target[:, 1] - p[:, 1], target[:, 0] - p[:, 0]) - p[:, 2] + np.pi) \
            % (2 * np.pi) - np.pi
        w = np.clip(6.0 * err, -OMEGA_MAX, OMEGA_MAX)
        w = np.where(mode[:, a] == 3, OMEGA_MAX * np.sign(rng.standard_normal(n)), w)
        v = np.full(n, v_max)
        extreme = mode[:, a] == 4
        v = np.where(extreme, rng.choice([0.0, v_max], n), v)
        w = np.where(extreme, rng.choice([-OMEGA_MAX, 0.0, OMEGA_MAX], n), w)
        out[:, a, 0], out[:, a, 1] = v, w
    return out


# ---------------------------------------------------------------- one cell
def run_cell(v_max: float, accel: float, latency: int, n: int, steps: int, seed: int,
             filter_model: bool, plant_model: bool) -> dict:
    """Closed loop of one grid cell, ``n`` envs for ``steps`` steps from rest; the filter and
    the plant with the actuator model or ideal (today's)."""
    ideal = not filter_model
    act = ActuatorLimits() if ideal else ActuatorLimits(accel, accel, ANG_ACCEL, latency)
    cfg = CBFConfig(v_max=v_max, opponent_v_max=v_max, omega_max=OMEGA_MAX, dt=DT, margin=0.0,
                    robot_radius=RADIUS, opponent_radius=RADIUS, actuator=act,
                    opponent_actuator=act)
    filt = BatchedSafetyFilter(cfg, ARENA)
    rng = np.random.default_rng(seed)
    O = scene(rng, n)
    poses = starts(rng, O, filt)
    plant = Plant(n, latency, accel, not plant_model)
    out = dict(contacts=0, worst=math.inf, steps=0, speed=0.0, intervened=0, backup=0,
               filter_s=0.0)
    mode = rng.integers(0, 5, (n, 2))
    for step in range(steps):
        if step % 7 == 0:
            mode = rng.integers(0, 5, (n, 2))
        u_nom = nominal(rng, poses, O, mode, v_max)
        cmds = np.empty_like(u_nom)
        t0 = time.perf_counter()
        for a in range(2):
            kw = {} if ideal else dict(velocities=plant.held[:, a], opponent_velocities=
                                       plant.held[:, 1 - a],
                                       pending=plant.queue[:, a] if latency else None)
            cmds[:, a], rec = filt.resolve(poses[:, a], u_nom[:, a], O, None, poses[:, 1 - a],
                                           **kw)
            out["intervened"] += int(rec.intervened.sum())
            out["backup"] += int((rec.tier == 3).sum())
        out["filter_s"] += time.perf_counter() - t0
        held = plant.step(cmds)
        for s in range(1, SUBSTEPS + 1):
            c = clearance(arcs(poses, held, DT * s / SUBSTEPS), O)
            out["contacts"] += int((c < -TOL).sum())
            out["worst"] = min(out["worst"], float(c.min()))
        poses = arcs(poses, held, DT)
        poses[..., 2] = (poses[..., 2] + math.pi) % (2 * math.pi) - math.pi
        out["speed"] += float(np.abs(held[..., 0]).sum())
        out["steps"] += n
    return out


# ---------------------------------------------------------------- per-call time
def call_times(n_states: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-call seconds of the single resolver, ideal vs model (v_max 1, 2.5 m/s^2, latency
    1), alternating blocks on the same random states."""
    rng = np.random.default_rng(seed)
    O = scene(rng, 1)[0]
    ideal = SafeActionResolver(CBFConfig(margin=0.0), ARENA, O)
    act = ActuatorLimits(2.5, 2.5, ANG_ACCEL, 1)
    model = SafeActionResolver(CBFConfig(margin=0.0, actuator=act, opponent_actuator=act),
                               ARENA, O)
    P = np.c_[rng.uniform(0.3, SIZE - 0.3, (n_states, 2)), rng.uniform(-np.pi, np.pi, n_states)]
    Q = np.c_[P[:, :2] + rng.uniform(-1.0, 1.0, (n_states, 2)), rng.uniform(-np.pi, np.pi,
                                                                            n_states)]
    U = np.c_[rng.uniform(0.0, 1.0, n_states), rng.uniform(-OMEGA_MAX, OMEGA_MAX, n_states)]
    V = np.c_[rng.uniform(0.0, 1.0, n_states), rng.uniform(-1.0, 1.0, n_states)]
    t_ideal, t_model = np.empty(n_states), np.empty(n_states)
    for start in range(0, n_states, 200):
        for which in (0, 1):
            for i in range(start, min(start + 200, n_states)):
                t0 = time.perf_counter()
                if which == 0:
                    ideal.resolve(P[i], U[i], Q[i])
                    t_ideal[i] = time.perf_counter() - t0
                else:
                    model.resolve(P[i], U[i], Q[i], velocity=V[i], pending=(U[i],),
                                  opponent_velocity=V[i])
                    t_model[i] = time.perf_counter() - t0
    return t_ideal, t_model


def run_arena(size: float, steps: int, episode: int, seed: int) -> None:
    """The 18 cells in a square arena of side ``size``: one table and its totals."""
    set_arena(size)
    cells = [(v, a, lat) for v in (0.22, 1.0, 2.0) for a in (1.0, 2.5) for lat in (0, 1, 2)]
    envs = max(1, math.ceil(steps / (len(cells) * episode)))
    print(f"\narena {SIZE:g} m ({ARENA_NOTES.get(SIZE, 'custom')}): {len(cells)} cells x "
          f"{envs} envs x {episode} steps = {len(cells) * envs * episode} env steps; "
          f"4 obstacles, dt {DT} s, 10 sub-steps")
    print("mean |v| [m/s] and intervention rate of: model = this filter on the ramped plant; "
          "ideal = ideal filter, ideal plant; i/ramp = ideal filter, ramped plant")
    print(f"{'v_max':>5} {'acc':>4} {'lat':>3} | {'contacts':>8} {'min clear':>9} | "
          f"{'model':>6} {'ideal':>6} {'ratio':>5} {'i/ramp':>6} {'ratio':>5} | "
          f"{'interv':>6} {'ideal':>6} | {'brake':>6} | {'i/ramp contacts':>15}")
    total = dict(contacts=0, steps=0, speed=0.0, ideal=0.0, ramp=0.0, worst=math.inf)
    worst_ratio = math.inf
    t_start = time.time()
    for k, (v_max, accel, lat) in enumerate(cells):
        cell_seed = seed * 1000 + k
        m = run_cell(v_max, accel, lat, envs, episode, cell_seed, True, True)
        i = run_cell(v_max, accel, lat, envs, episode, cell_seed, False, False)
        r = run_cell(v_max, accel, lat, envs, episode, cell_seed, False, True)
        robot_steps = 2 * m["steps"]
        ratio = m["speed"] / i["speed"]
        worst_ratio = min(worst_ratio, ratio)
        print(f"{v_max:5.2f} {accel:4.1f} {lat:3d} | {m['contacts']:8d} {m['worst']:9.4f} | "
              f"{m['speed'] / robot_steps:6.3f} {i['speed'] / robot_steps:6.3f} {ratio:5.2f} "
              f"{r['speed'] / robot_steps:6.3f} {m['speed'] / r['speed']:5.2f} | "
              f"{m['intervened'] / robot_steps:6.1%} {i['intervened'] / robot_steps:6.1%} | "
              f"{m['backup'] / robot_steps:6.1%} | {r['contacts']:15d}", flush=True)
        total["contacts"] += m["contacts"]
        total["steps"] += m["steps"]
        total["speed"] += m["speed"]
        total["ideal"] += i["speed"]
        total["ramp"] += r["speed"]
        total["worst"] = min(total["worst"], m["worst"])
    print(f"total {SIZE:g} m: {total['steps']} env steps ({2 * total['steps']} filtered robot "
          f"steps), {total['contacts']} body contacts (smallest clearance "
          f"{total['worst']:.4f} m); mean speed {total['speed'] / total['ideal']:.0%} of the "
          f"ideal filter on an ideal plant (worst cell {worst_ratio:.0%}), "
          f"{total['speed'] / total['ramp']:.0%} of the ideal filter on the ramped plant; "
          f"{time.time() - t_start:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1_000_000,
                    help="env steps per arena over the 18 cells (each env step: 2 robots)")
    ap.add_argument("--episode", type=int, default=200, help="steps per episode (from rest)")
    ap.add_argument("--sizes", type=float, nargs="+", default=[5.0, 20.0],
                    help="arena sides [m] (default 5: crowded, and 20: the default game "
                         "profile's and diff_drive_nav2's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a smoke run (~36 000 steps per arena)")
    args = ap.parse_args()
    for size in args.sizes:
        run_arena(size, 36_000 if args.quick else args.steps, args.episode, args.seed)
    t_ideal, t_model = call_times(400 if args.quick else 4000, args.seed)
    p = lambda t, q: 1e6 * float(np.percentile(t, q))  # noqa: E731
    print(f"\nresolver per call, same states, alternating blocks: ideal p50 "
          f"{p(t_ideal, 50):.1f} us p99 {p(t_ideal, 99):.1f} us; with the model (latency 1) p50 "
          f"{p(t_model, 50):.1f} us p99 {p(t_model, 99):.1f} us; ratio p50 "
          f"{p(t_model, 50) / p(t_ideal, 50):.2f}x")


if __name__ == "__main__":
    main()
