"""The arena parameters (walls, circles, boxes) of every node that reads an arena from them.

The safety filter (``safe_pe_cbf.ros.filter_params``) and the game-state node
(``safe_pe_sim.ros.game_state_core``) declare the same :data:`ARENA_SPECS`, so one arena
file serves both, and turn the values into walls and obstacle rows with
:func:`arena_from_values` (no rclpy).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from safe_pe_cbf.ros_common.conversions import boxes_from_flat, obstacles_from_flat, with_boxes
from safe_pe_cbf.ros_common.param_specs import ParamSpec

ARENA_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("arena.x_min", -2.2, "Left wall [m].", -1e4, 1e4),
    ParamSpec("arena.x_max", 2.2, "Right wall [m].", -1e4, 1e4),
    ParamSpec("arena.y_min", -2.2, "Bottom wall [m].", -1e4, 1e4),
    ParamSpec("arena.y_max", 2.2, "Top wall [m].", -1e4, 1e4),
    ParamSpec("obstacles", (), "Circular obstacles as a flat list [x0, y0, r0, x1, y1, r1, ...] "
              "[m] (omit for none).", array_kind="double"),
    ParamSpec("boxes", (), "Box obstacles (oriented rectangles; half_width 0 = a thin wall) "
              "as a flat list [x0, y0, half_length0, half_width0, angle0, x1, ...] [m, rad] "
              "(omit for none); obstacle rows after the circles.", array_kind="double"),
)


def arena_from_values(values: Mapping[str, Any], problems: list[str]
                      ) -> tuple[tuple[float, float, float, float], np.ndarray]:
    """The arena walls and obstacles from the ``arena.*``, ``obstacles`` and ``boxes`` values.

    :param values: parameter values by name (type/range already checked); ``boxes`` may be
        absent (no boxes).
    :param problems: list that each problem found is appended to.
    :return: ``((x_min, x_max, y_min, y_max), obstacle rows)``: ``(K, 3)`` circles, or
        ``(K, 6)`` rows with their kind when ``boxes`` has any; no obstacles when a flat list
        is malformed (and a problem appended).
    """
    bounds = tuple(float(values[f"arena.{k}"]) for k in ("x_min", "x_max", "y_min", "y_max"))
    if not (bounds[0] < bounds[1] and bounds[2] < bounds[3]):
        problems.append(f"arena: need x_min < x_max and y_min < y_max, got {bounds}")
    try:
        obstacles = with_boxes(obstacles_from_flat(values["obstacles"]),
                               boxes_from_flat(values.get("boxes", ())))
    except ValueError as err:
        problems.append(str(err))
        obstacles = np.zeros((0, 3))
    return bounds, obstacles  # type: ignore[return-value]
