"""Solid world: what happens when a body would penetrate a wall, an obstacle or the other robot.

``EnvConfig.contact`` selects the rule:

* ``"solid"`` (default): walls, obstacles and the other robot are solid, as for a real robot.
  The step's exact arcs are sampled at the sub-step instants ``t_k = k dt / S`` that the
  safety check uses (:func:`safe_pe_sim.dynamics.arc_samples_scalar`). Walking through the
  samples in time order, a robot whose body would reach a sample that is blocked stops at its
  last free sample (position *and* heading of the arc at that instant) and its velocity
  becomes zero: the arc is truncated at first contact. A sample is *blocked* for a robot when
  a clearance of its body there (to a wall, an obstacle, or to the other body at its own
  position of that instant) is negative and smaller than at the robot's previous sample, so
  a body that starts a step in contact (explicit start poses) may still move out of it, but
  never deeper. Robot-robot contact stops every robot still moving. A robot that stopped keeps
  its place for the rest of the step, and the other one is checked against that place.
* ``"pass_through"``: bodies are pure kinematics and may pass through anything (the world
  before this rule existed).

Either way the violation of the step is recorded by
:func:`safe_pe_sim.safety_check.check_step` on the *commanded* arcs, with its depth before the
contact response, so safety metrics keep their meaning: a violation counts what the command
would have done, the contact only keeps the bodies out of each other.

One pure-Python function (:func:`solid_contact`) serves both the single game and the vector
core (which calls it only for the games whose step violated something), so the two stay
identical.
"""

from __future__ import annotations

import math
from typing import Sequence

from safe_pe_cbf.barriers import point_distance

from .dynamics import arc_samples_scalar, wrap_angle

__all__ = ["CONTACT_MODES", "solid_contact"]

CONTACT_MODES = ("solid", "pass_through")
"""Values of ``EnvConfig.contact``."""

Pose = tuple[float, float, float]


def _static_clearance(x: float, y: float, r: float,
                      obstacles: Sequence[Sequence[float]],
                      bounds: tuple[float, float, float, float]) -> float:
    x_min, x_max, y_min, y_max = bounds
    c = min(x - x_min, x_max - x, y - y_min, y_max - y) - r
    for o in obstacles:
        d = point_distance(o, x, y) - r
        if d < c:
            c = d
    return c


def solid_contact(prev: Sequence[Pose], applied: Sequence[tuple[float, float]],
                  ends: Sequence[Pose], dt: float, substeps: int,
                  radii: Sequence[float], obstacles: Sequence[Sequence[float]],
                  bounds: tuple[float, float, float, float]
                  ) -> tuple[list[Pose], list[bool]]:
    """Poses of both robots after one step in a solid world (see the module doc).

    :param prev: ``[(x, y, theta)] * 2`` poses at the start of the step (pursuer, evader).
    :param applied: ``[(v, omega)] * 2`` commands applied over the step.
    :param ends: ``[(x, y, theta)] * 2`` poses at the end of the unobstructed arcs (returned
        unchanged for a robot that never touches anything).
    :param dt: control period [s].
    :param substeps: sub-step samples S per step (``EnvConfig.substeps``).
    :param radii: ``(r_pursuer, r_evader)`` body radii [m].
    :param obstacles: real obstacles ``[(x, y, radius), ...]`` [m], or 6-entry rows with a
        kind (boxes, :mod:`safe_pe_cbf.barriers`).
    :param bounds: arena ``(x_min, x_max, y_min, y_max)`` [m].
    :return: ``(poses, stopped)``: end poses, and which robots were stopped by a contact
        (their velocity is zero after the step).
    """
    samples = [arc_samples_scalar(*prev[a], *applied[a], dt, substeps) for a in range(2)]
    pos = [(prev[a][0], prev[a][1]) for a in range(2)]
    stop = [-1, -1]               # index k of the last free sample of a stopped robot
    static = [_static_clearance(pos[a][0], pos[a][1], radii[a], obstacles, bounds)
              for a in range(2)]
    contact = radii[0] + radii[1]
    pair = math.dist(pos[0], pos[1]) - contact
    for k in range(1, substeps + 1):
        new = list(pos)
        for a in range(2):
            if stop[a] >= 0:
                continue
            x, y = samples[a][k - 1]
            c = _static_clearance(x, y, radii[a], obstacles, bounds)
            if c < 0.0 and c < static[a]:
                stop[a] = k - 1
            else:
                new[a] = (x, y)
                static[a] = c
        p = math.dist(new[0], new[1]) - contact
        if p < 0.0 and p < pair:
            for a in range(2):
                if stop[a] < 0:
                    stop[a] = k - 1
                    new[a] = pos[a]
            p = math.dist(new[0], new[1]) - contact
        pos = new
        pair = p
        if stop[0] >= 0 and stop[1] >= 0:
            break
    out: list[Pose] = []
    for a in range(2):
        k = stop[a]
        if k < 0:
            out.append(tuple(ends[a]))  # type: ignore[arg-type]
        elif k == 0:
            out.append(tuple(prev[a]))  # type: ignore[arg-type]
        else:
            x, y = samples[a][k - 1]
            out.append((x, y, wrap_angle(prev[a][2] + applied[a][1] * (k * dt / substeps))))
    return out, [stop[0] >= 0, stop[1] >= 0]
