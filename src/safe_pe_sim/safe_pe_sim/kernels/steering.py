"""The scripted steering laws of one robot: :func:`steer` towards a heading, pure pursuit
(:func:`pursue`), straight flight (:func:`flee_from`) and the obstacle-aware flight of a
potential field (:func:`aware_flee_one`).
"""

from __future__ import annotations

import math
import os

from safe_pe_cbf.barriers import BOX, KIND
from safe_pe_cbf.barriers.box import signed_distance
from safe_pe_cbf.jit import depends_on_core, njit

from .motion import wrap

__all__ = ["steer", "pursue", "flee_from", "aware_flee_one"]

depends_on_core(__file__, also=os.path.dirname(__file__))  # see the package docstring


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
