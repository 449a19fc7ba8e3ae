"""Safe action box for the CBF-Beta policy: ``[v_lo, v_hi] x [w_lo, w_hi]`` inside the safe set.

The validated public call; the maths (anchor, growth, stages, backup) is
:mod:`safe_pe_cbf.kernels.box`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from safe_pe_cbf import jit
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import Consts, check_arena_fits
from safe_pe_cbf.errors import SafetyInputError
from safe_pe_cbf.geometry import Arena, check_pose, obstacles_array
from safe_pe_cbf.kernels.box import box_pose

__all__ = ["ActionBox", "safe_action_box"]


@dataclass(frozen=True)
class ActionBox:
    """Axis-aligned box of commands.

    :param lo: ``(2,)`` ``(v_lo, omega_lo)``
    :param hi: ``(2,)`` ``(v_hi, omega_hi)``
    :param empty: True when no safe box exists; then ``lo == hi`` = the backup command
    :param stage: 0 = half-planes with the configured gamma, ``s >= 1`` = relaxed stage ``s``
        (``config.relaxation_order[:s]`` softened), -1 = empty (backup command)
    """

    lo: np.ndarray
    hi: np.ndarray
    empty: bool
    stage: int = 0


def safe_action_box(pose: Sequence[float], arena: Arena, obstacles: object,
                    opponent_pose: Optional[Sequence[float]], config: CBFConfig) -> ActionBox:
    """Largest practical box of commands that all satisfy every CBF constraint.

    :param pose: own pose ``(x, y, theta)``
    :param arena: the arena
    :param obstacles: anything :func:`safe_pe_cbf.geometry.obstacles_array` accepts
    :param opponent_pose: the other robot's pose, or None
    :param config: filter configuration
    :raises SafetyInputError: on non-finite or malformed input
    """
    check_arena_fits(arena, config)
    if config.actuated:
        raise SafetyInputError("safe_action_box knows ideal actuation only: with actuator "
                               "limits use SafeActionResolver.action_box(pose, opponent_pose, "
                               "velocity, pending)")
    k = Consts(config)
    x, y, th = check_pose(pose)
    opp = (0.0, 0.0, 0.0) if opponent_pose is None else check_pose(opponent_pose,
                                                                    "opponent_pose")
    obs = obstacles_array(obstacles)
    if not jit.AVAILABLE:
        obs = obs.tolist()
    lo_v, hi_v, lo_w, hi_w, empty, stage = box_pose(
        k.packed(arena.as_tuple()), k.tab, k.cand, x, y, th, opponent_pose is not None,
        opp[0], opp[1], opp[2], obs, np.ones(len(obs), dtype=np.bool_))
    return ActionBox(np.array([lo_v, lo_w]), np.array([hi_v, hi_w]), bool(empty), int(stage))
