"""Property test of the actuator model (docs/actuation.md): zero body contacts when commands
ramp at the acceleration limits and take effect late.

Both robots are filtered ("shared" mode, each knowing the other's limits) from the same
sampled state; the plant (closed_loop.ActuatedPlant, its ramp written apart from
safe_pe_cbf.actuator) queues each command for ``latency`` periods, ramps the held velocity
toward it, and the unicycles move on exact arcs checked at 10 sub-steps per period against
walls, circle and box obstacles and each other (body disks, no margin). Nominal commands are
adversarial: full speed at the nearest obstacle, a wall, the other robot, or spinning.
Hypothesis draws the speed, limits, latency and scene (v_max in {0.22, 1, 2} m/s, accel in
{1, 2.5} m/s^2, latency in {0, 1, 2}). The long run (>= 1e6 steps) is bench/bench_actuation.py.
"""

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from closed_loop import (ActuatedPlant, adversarial_commands, arc_step, body_clearance,
                          static_clearance, surface_distance)
from safe_pe_cbf.actuator import ActuatorLimits
from safe_pe_cbf.batch import BatchedSafetyFilter
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena

SUBSTEPS = 10
BODY_TOL = 1e-9  # [m] floating-point slack on the body-level check
COUNT = {"env": 0, "braked": 0}


def scene(rng, N, size, n_obstacles):
    """Circle and box obstacles ``(N, K, 6)`` (a box in every other slot)."""
    O = np.zeros((N, n_obstacles, 6))
    O[..., :2] = rng.uniform(0.6, size - 0.6, (N, n_obstacles, 2))
    O[..., 2] = rng.uniform(0.1, 0.4, (N, n_obstacles))
    O[:, 1::2, 3] = rng.uniform(0.0, 0.3, O[:, 1::2, 3].shape)
    O[:, 1::2, 4] = rng.uniform(-np.pi, np.pi, O[:, 1::2, 4].shape)
    O[:, 1::2, 5] = 1.0
    return O


def safe_start(rng, N, arena, O, filters):
    """Poses (N, 2, 3) with every geometric barrier >= 0 (robots start at rest)."""
    poses = np.zeros((N, 2, 3))
    todo = np.arange(N)
    for attempt in range(400):
        if attempt % 20 == 19:
            O[todo, :, 2:4] *= 0.5
        cand = np.stack([rng.uniform(arena.x_min, arena.x_max, (todo.size, 2)),
                         rng.uniform(arena.y_min, arena.y_max, (todo.size, 2)),
                         rng.uniform(-np.pi, np.pi, (todo.size, 2))], axis=-1)
        ok = np.ones(todo.size, dtype=bool)
        for a, f in enumerate(filters):
            ok &= f.min_barrier(cand[:, a], O[todo], None, cand[:, 1 - a]) >= 0.0
        poses[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if todo.size == 0:
            return poses
    raise AssertionError("could not sample safe starting states")


def run_closed_loop(seed, v_max, accel, latency, dt, gamma, size, n_obstacles, N=192, T=60):
    """Closed loop of both robots; asserts no body contact; returns the number braked.

    ``latency``: periods, the same for both robots or one each ``(L_0, L_1)``."""
    rng = np.random.default_rng(seed)
    arena = Arena(0.0, size, 0.0, size)
    lat = (latency, latency) if np.ndim(latency) == 0 else tuple(latency)
    acts = [ActuatorLimits(accel, accel, 3.2, L) for L in lat]
    radius = 0.15
    cfgs = [CBFConfig(v_max=v_max, opponent_v_max=v_max, gamma=gamma, dt=dt, margin=0.0,
                      robot_radius=radius, opponent_radius=radius, collision_mode="shared",
                      collision_share=0.5, actuator=acts[a], opponent_actuator=acts[1 - a])
            for a in range(2)]
    filters = [BatchedSafetyFilter(cfg, arena) for cfg in cfgs]
    O = scene(rng, N, size, n_obstacles)
    poses = safe_start(rng, N, arena, O, filters)
    plant = ActuatedPlant(N, 2, lat, [accel] * 2, [accel] * 2, [3.2] * 2, dt)
    radii = np.array([radius, radius])
    braked = 0
    mode = rng.integers(0, 4, (N, 2))
    for step in range(T):
        if step % 7 == 0:
            mode = rng.integers(0, 4, (N, 2))
        nominal = adversarial_commands(rng, poses, O, arena, mode, v_max, 2.84)
        cmds = np.empty((N, 2, 2))
        for a, f in enumerate(filters):
            cmds[:, a], rec = f.resolve(poses[:, a], nominal[:, a], O, None, poses[:, 1 - a],
                                        velocities=plant.held[:, a], pending=plant.pending(a),
                                        opponent_velocities=plant.held[:, 1 - a])
            braked += int(np.sum(rec.tier == 3))
        held = plant.step(cmds)
        for s in range(1, SUBSTEPS + 1):
            clear = body_clearance(arc_step(poses, held, dt * s / SUBSTEPS), arena, O, radii)
            assert np.all(clear >= -BODY_TOL), (
                f"body contact {clear.min():.3e} m at step {step}, sub-step {s}, env "
                f"{int(np.argmin(clear))}")
        poses = arc_step(poses, held, dt)
        poses[..., 2] = (poses[..., 2] + math.pi) % (2 * math.pi) - math.pi
    COUNT["env"] += N * T
    COUNT["braked"] += braked
    return braked


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: 192 envs
@example(seed=1, v_max=2.0, accel=1.0, latency=2, dt=0.05, gamma=1.0, size=4.0,
         n_obstacles=4)  # the hardest corner: fast, weak brakes, late, no decay margin
@example(seed=2, v_max=1.0, accel=2.5, latency=1, dt=0.05, gamma=0.5, size=3.0,
         n_obstacles=3)  # Nav2's smoother defaults, one period late
@given(seed=st.integers(0, 2**31 - 1), v_max=st.sampled_from([0.22, 1.0, 2.0]),
       accel=st.sampled_from([1.0, 2.5]), latency=st.sampled_from([0, 1, 2]),
       dt=st.sampled_from([0.05, 0.1]), gamma=st.sampled_from([0.3, 0.5, 1.0]),
       size=st.floats(2.5, 5.0), n_obstacles=st.integers(1, 4))
def test_zero_body_contacts_with_ramps_and_latency(seed, v_max, accel, latency, dt, gamma,
                                                   size, n_obstacles):
    run_closed_loop(seed, v_max, accel, latency, dt, gamma, size, n_obstacles)


@pytest.mark.parametrize("latencies", [(0, 1), (1, 2), (2, 0)])
@pytest.mark.parametrize("v_max,accel", [(1.0, 2.5), (2.0, 1.0)])
def test_zero_body_contacts_when_the_latencies_differ(latencies, v_max, accel):
    """The pair row at the sampled state (docs/actuation.md §4, latencies that differ)."""
    run_closed_loop(11 + sum(latencies), v_max, accel, latencies, 0.05, 1.0, 3.5, 2)


def vcp_clearance(poses, arena, O, radius, d):
    """Clearance (N,) of each robot's VCP to the walls and obstacles inflated by ``radius + d``:
    the barrier the filter keeps >= 0 (it implies body clearance, whatever the heading)."""
    xy = poses[..., :2] + d * np.stack([np.cos(poses[..., 2]), np.sin(poses[..., 2])], -1)
    return static_clearance(xy[:, None], arena, O, np.array([radius + d]))[:, 0]


def brake_tail_clearance(poses, plant, cmds, arena, O, radius, d):
    """Smallest VCP clearance (N,) from now on when ``cmds (N, 2)`` is sent (None: nothing
    new is decided) and the full brake after it, under ``plant`` (a copy is stepped)."""
    plant = copy.deepcopy(plant)
    dt = plant.dt
    low = np.full(poses.shape[0], np.inf)
    send = np.zeros((poses.shape[0], 1, 2)) if cmds is None else cmds[:, None]
    for _ in range(plant.latency + 200):
        held = plant.step(send)
        for s in range(1, SUBSTEPS + 1):
            sub = arc_step(poses, held[:, 0], dt * s / SUBSTEPS)
            low = np.minimum(low, vcp_clearance(sub, arena, O, radius, d))
        poses = arc_step(poses, held[:, 0], dt)
        send = np.zeros_like(send)
        if not np.any(held) and not any(np.any(q) for q in plant.queues):
            return low
    raise AssertionError("the full brake did not stop the robots")


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), v_max=st.sampled_from([0.22, 1.0, 2.0]),
       accel=st.sampled_from([1.0, 2.5]), latency=st.sampled_from([0, 1, 2]),
       dt=st.sampled_from([0.05, 0.1]), gamma=st.sampled_from([0.3, 1.0]))
def test_every_command_leaves_a_clear_brake_after_it(seed, v_max, accel, latency, dt, gamma):
    """One call, no history: from any state whose full brake (the commands already sent, then
    the brake) keeps the VCP clear, the filter's command, held for a period and followed by
    the full brake, keeps it clear too (docs/actuation.md §3: the certificate each row gives,
    here checked against an independent integration of the ramps, not the rows' algebra)."""
    rng = np.random.default_rng(seed)
    N, size, radius, d = 4096, 4.0, 0.15, 0.05
    arena = Arena(0.0, size, 0.0, size)
    act = ActuatorLimits(accel, accel, 3.2, latency)
    cfg = CBFConfig(v_max=v_max, v_min=-0.25 * v_max, gamma=gamma, dt=dt, margin=0.0,
                    robot_radius=radius, vcp_offset=d, actuator=act)
    filt = BatchedSafetyFilter(cfg, arena)
    O = scene(rng, N, size, 3)
    poses = np.stack([rng.uniform(0.0, size, N), rng.uniform(0.0, size, N),
                      rng.uniform(-np.pi, np.pi, N)], axis=-1)
    plant = ActuatedPlant(N, 1, latency, [accel], [accel], [3.2], dt)
    lim = np.array([v_max, cfg.omega_max])
    plant.held[:, 0] = rng.uniform(-1.0, 1.0, (N, 2)) * lim * [rng.choice([0.25, 1.0]), 1.0]
    plant.held[:, 0, 0] = np.clip(plant.held[:, 0, 0], cfg.v_min, v_max)
    plant.queues[0][:] = rng.uniform(-1.0, 1.0, (N, latency, 2)) * lim
    plant.queues[0][..., 0] = np.clip(plant.queues[0][..., 0], cfg.v_min, v_max)
    keep = (vcp_clearance(poses, arena, O, radius, d) >= 0.0) & (
        brake_tail_clearance(poses, plant, None, arena, O, radius, d) >= 0.0)
    assert keep.sum() >= 200, keep.sum()
    poses, O = poses[keep], O[keep]
    plant.keep(keep)
    nominal = np.c_[rng.choice([cfg.v_min, v_max], len(poses)),
                    rng.uniform(-cfg.omega_max, cfg.omega_max, len(poses))]
    cmds, rec = filt.resolve(poses, nominal, O, velocities=plant.held[:, 0],
                             pending=plant.pending(0))
    low = brake_tail_clearance(poses, plant, cmds, arena, O, radius, d)
    assert np.all(low >= -BODY_TOL), (low.min(), int(np.argmin(low)), rec.tier[np.argmin(low)])
    assert np.any(rec.tier != 3) and np.any(rec.tier != 0)  # the QP and the brake both ran


def test_enough_steps_were_checked():
    """Runs after the property test (same module)."""
    if COUNT["env"] == 0:
        pytest.skip("counts the steps of the property test: run the whole module")
    assert COUNT["env"] >= 100_000, COUNT
    print(f"\nactuation property test: {COUNT['env']} env steps, 0 body contacts, "
          f"{COUNT['braked']} robot steps braked (backup)")


def test_ideal_filter_hits_a_wall_under_ramps():
    """The test can fail: the ideal-actuation filter on the same plant makes contact."""
    with pytest.raises(AssertionError, match="body contact"):
        run_ideal_on_ramps()


def run_ideal_on_ramps():
    rng = np.random.default_rng(5)
    N, T, dt, v_max, accel = 192, 80, 0.05, 2.0, 1.0
    arena = Arena(0.0, 4.0, 0.0, 4.0)
    cfg = CBFConfig(v_max=v_max, opponent_v_max=v_max, dt=dt, margin=0.0)
    filters = [BatchedSafetyFilter(cfg, arena), BatchedSafetyFilter(cfg, arena)]
    O = scene(rng, N, 4.0, 3)
    poses = safe_start(rng, N, arena, O, filters)
    plant = ActuatedPlant(N, 2, 1, [accel] * 2, [accel] * 2, [3.2] * 2, dt)
    mode = np.ones((N, 2), dtype=int)  # at the walls
    for step in range(T):
        nominal = adversarial_commands(rng, poses, O, arena, mode, v_max, 2.84)
        cmds = np.stack([f.resolve(poses[:, a], nominal[:, a], O, None, poses[:, 1 - a])[0]
                         for a, f in enumerate(filters)], axis=1)
        held = plant.step(cmds)
        for s in range(1, SUBSTEPS + 1):
            clear = body_clearance(arc_step(poses, held, dt * s / SUBSTEPS), arena, O,
                                   np.array([0.15, 0.15]))
            assert np.all(clear >= -BODY_TOL), "body contact"
        poses = arc_step(poses, held, dt)


def test_missing_velocity_or_queue_is_an_error():
    arena = Arena(0.0, 4.0, 0.0, 4.0)
    cfg = CBFConfig(actuator=ActuatorLimits(2.5, 2.5, 3.2, 1))
    f = BatchedSafetyFilter(cfg, arena)
    P = np.array([[2.0, 2.0, 0.0]])
    with pytest.raises(SafetyInputError, match="velocities"):
        f.resolve(P, [[1.0, 0.0]], np.zeros((0, 3)))
    with pytest.raises(SafetyInputError, match="pending"):
        f.resolve(P, [[1.0, 0.0]], np.zeros((0, 3)), velocities=[[0.0, 0.0]])
    with pytest.raises(SafetyInputError, match="finite"):
        f.resolve(P, [[1.0, 0.0]], np.zeros((0, 3)), velocities=[[math.nan, 0.0]],
                  pending=[[[0.0, 0.0]]])


@pytest.mark.parametrize("latency", [0, 2])
def test_worst_case_mode_keeps_walls_and_obstacles_against_an_unfiltered_opponent(latency):
    """worst_case: the other robot is unfiltered (random commands within its bound, at once);
    walls and obstacles hold always (the brake never needs the pair row), and the pair holds
    here because the filtered robot is faster (docs/actuation.md §4)."""
    rng = np.random.default_rng(21 + latency)
    N, T, dt, size = 128, 80, 0.05, 4.0
    arena = Arena(0.0, size, 0.0, size)
    act = ActuatorLimits(2.5, 2.5, 3.2, latency)
    cfg = CBFConfig(v_max=1.0, opponent_v_max=0.2, opponent_omega_max=1.0, dt=dt, margin=0.0,
                    collision_mode="worst_case", actuator=act)
    filt = BatchedSafetyFilter(cfg, arena)
    O = scene(rng, N, size, 3)
    poses = safe_start(rng, N, arena, O, [filt, filt])
    plant = ActuatedPlant(N, 2, latency, [2.5, 0.0], [2.5, 0.0], [3.2, 0.0], dt)
    mode = np.zeros((N, 2), dtype=int)
    pair_contacts = 0
    for step in range(T):
        if step % 7 == 0:
            mode = rng.integers(0, 4, (N, 2))
        nominal = adversarial_commands(rng, poses, O, arena, mode, 1.0, 2.84)
        cmds = np.empty((N, 2, 2))
        cmds[:, 0], _ = filt.resolve(poses[:, 0], nominal[:, 0], O, None, poses[:, 1],
                                     velocities=plant.held[:, 0], pending=plant.pending(0))
        cmds[:, 1] = np.c_[rng.uniform(0.0, 0.2, N), rng.uniform(-1.0, 1.0, N)]
        held = plant.step(cmds)
        for s in range(1, SUBSTEPS + 1):
            sub = arc_step(poses, held, dt * s / SUBSTEPS)
            x, y = sub[:, 0, 0], sub[:, 0, 1]  # the filtered robot against walls, obstacles
            walls = np.minimum(np.minimum(x, size - x), np.minimum(y, size - y)) - 0.15
            obst = surface_distance(sub[..., :2], O)[:, 0].min(axis=1) - 0.15
            clear = np.minimum(walls, obst)
            assert np.all(clear >= -BODY_TOL), f"wall/obstacle contact {clear.min():.3e} m"
            pair = np.hypot(*(sub[:, 0, :2] - sub[:, 1, :2]).T) - 0.3
            pair_contacts += int(np.sum(pair < -BODY_TOL))
        poses = arc_step(poses, held, dt)
    assert pair_contacts == 0
