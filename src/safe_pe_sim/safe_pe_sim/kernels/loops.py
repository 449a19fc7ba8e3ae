"""The batched forms: one compiled loop over rows (robots) or games per kernel.

Each loop applies one kernel of this package to every row (robot) or game ``i`` of its
array arguments, which carry the kernel's arguments as columns, and writes the results into
``out`` (or the arrays named after the results). The batched functions of dynamics, actions,
safety_check, rewards, baselines and the vector core call them. Their cache stamp covers the
whole package (see the package docstring), so a changed kernel recompiles them.
"""

from __future__ import annotations

import os

from safe_pe_cbf.jit import depends_on_core, njit

from .contact import contact_game
from .motion import arc_fill, command, physical, unicycle
from .rules import outcome, reward_pair
from .safety import check_game
from .steering import aware_flee_one, flee_from, pursue, steer

__all__ = ["unicycle_rows", "arc_rows", "physical_rows", "command_games", "check_games",
           "contact_games", "reward_rows", "outcome_games", "steer_rows", "pursue_rows",
           "flee_rows", "aware_flee_rows"]

depends_on_core(__file__, also=os.path.dirname(__file__))  # see the package docstring


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
