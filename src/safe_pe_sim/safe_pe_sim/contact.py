"""Solid world: what happens when a body would penetrate a wall, an obstacle or the other robot.

``EnvConfig.contact`` selects the rule:

* ``"solid"`` (default): walls, obstacles and the other robot are solid, as for a real robot.
  The step's exact arcs are sampled at the sub-step instants ``t_k = k dt / S`` that the
  safety check uses (:func:`safe_pe_sim.kernels.arc_fill`). Walking through the
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

The rule is written once, per game (:func:`safe_pe_sim.kernels.contact_game`, compiled by
numba): the single game calls it through :func:`solid_contact`, the vector core through the
compiled loop :func:`~safe_pe_sim.kernels.contact_games` (only for the games whose step violated
something), so the two stay identical.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .kernels import contact_game, game_args

__all__ = ["CONTACT_MODES", "solid_contact"]

CONTACT_MODES = ("solid", "pass_through")
"""Values of ``EnvConfig.contact``."""

Pose = tuple[float, float, float]


def solid_contact(prev: Sequence[Pose], applied: Sequence[tuple[float, float]],
                  ends: Sequence[Pose], dt: float, substeps: int,
                  radii: Sequence[float], obstacles: Sequence[Sequence[float]] | np.ndarray,
                  bounds: tuple[float, float, float, float], mask: np.ndarray | None = None
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
        kind (boxes, :mod:`safe_pe_cbf.barriers`), or such a float array.
    :param bounds: arena ``(x_min, x_max, y_min, y_max)`` [m].
    :param mask: ``(k,)`` bool rows that are real (default: all).
    :return: ``(poses, stopped)``: end poses, and which robots were stopped by a contact
        (their velocity is zero after the step).
    """
    res = contact_game(*game_args(prev, applied, dt, substeps, radii, obstacles, mask, bounds))
    stopped = [res[0] >= 0, res[1] >= 0]
    out = [(res[2], res[3], res[4]) if stopped[0] else tuple(ends[0]),
           (res[5], res[6], res[7]) if stopped[1] else tuple(ends[1])]
    return out, stopped  # type: ignore[return-value]
