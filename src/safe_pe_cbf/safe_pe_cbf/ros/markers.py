"""RViz markers of the safety filter's active constraints (message types only, no rclpy).

Drawn in the arena frame: the robot body disk and its virtual control point, the safe command
as an arrow, and every *active* constraint -- binding at the safe command
(``G u >= g - tol``) or the one attaining the smallest barrier value -- as the keep-out
shape it encodes: an obstacle inflated by the robot radius, a wall line, the other robot's
disk. The first marker is DELETEALL so constraints that became inactive disappear.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from safe_pe_cbf.barriers import keepout, kind_of
from safe_pe_cbf.config import CBFConfig
from safe_pe_cbf.constraints import ConstraintSet
from safe_pe_cbf.geometry import Arena

BINDING_TOL = 1e-6
RED = ColorRGBA(r=1.0, g=0.1, b=0.1, a=0.6)
ORANGE = ColorRGBA(r=1.0, g=0.6, b=0.0, a=0.5)
BLUE = ColorRGBA(r=0.2, g=0.4, b=1.0, a=0.5)
GREEN = ColorRGBA(r=0.1, g=0.9, b=0.2, a=0.9)


def active_constraints(
    cs: ConstraintSet, command: Sequence[float], named: Sequence[str] = ()
) -> list[int]:
    """Rows binding at ``command`` (``G u >= g - tol``), rows in ``named``, and the row with
    the smallest ``h``.

    :param cs: the constraint set at the sampled state.
    :param command: the safe command ``(v, omega)``.
    :param named: constraint names the resolver reported active.
    """
    if cs.m == 0:
        return []
    slack = np.asarray(cs.g) - np.asarray(cs.G) @ np.asarray(command, dtype=float)
    active = set(np.flatnonzero(slack <= BINDING_TOL).tolist())
    active.update(i for i, name in enumerate(cs.names) if name in set(named))
    active.add(int(np.argmin(cs.h)))
    return sorted(active)


def _marker(header: Header, ns: str, mid: int, kind: int, color: ColorRGBA) -> Marker:
    m = Marker()
    m.header = header
    m.ns = ns
    m.id = mid
    m.type = kind
    m.action = Marker.ADD
    m.color = color
    m.pose.orientation.w = 1.0
    return m


def _disk(header: Header, ns: str, mid: int, x: float, y: float, r: float,
          color: ColorRGBA) -> Marker:
    m = _marker(header, ns, mid, Marker.CYLINDER, color)
    m.pose.position.x, m.pose.position.y, m.pose.position.z = float(x), float(y), 0.01
    m.scale.x = m.scale.y = 2.0 * max(float(r), 1e-3)
    m.scale.z = 0.02
    return m


def _wall(header: Header, ns: str, mid: int, arena: Arena, side: str) -> Marker:
    m = _marker(header, ns, mid, Marker.LINE_STRIP, RED)
    m.scale.x = 0.05
    x0, x1, y0, y1 = arena.x_min, arena.x_max, arena.y_min, arena.y_max
    ends = {
        "x_min": ((x0, y0), (x0, y1)), "x_max": ((x1, y0), (x1, y1)),
        "y_min": ((x0, y0), (x1, y0)), "y_max": ((x0, y1), (x1, y1)),
    }[side]
    m.points = [Point(x=float(a), y=float(b), z=0.02) for a, b in ends]
    return m


def _keepout(header: Header, ns: str, mid: int, shape: tuple, color: ColorRGBA) -> Marker:
    """Marker of a barrier type's keep-out shape (:func:`safe_pe_cbf.barriers.keepout`):
    ``("disk", x, y, r)`` or ``("polygon", ((x, y), ...))`` (a closed line strip)."""
    if shape[0] == "disk":
        return _disk(header, ns, mid, shape[1], shape[2], shape[3], color)
    m = _marker(header, ns, mid, Marker.LINE_STRIP, color)
    m.scale.x = 0.05
    pts = list(shape[1]) + [shape[1][0]]
    m.points = [Point(x=float(a), y=float(b), z=0.02) for a, b in pts]
    return m


def constraint_markers(
    header: Header,
    pose: np.ndarray,
    command: Sequence[float],
    config: CBFConfig,
    cs: ConstraintSet,
    arena: Arena,
    obstacles: np.ndarray,
    opponent: np.ndarray | None,
    named_active: Sequence[str] = (),
    ns: str = "safety_filter",
) -> MarkerArray:
    """MarkerArray of the robot, its command and its active constraints.

    :param header: stamp and arena frame for every marker.
    :param pose: robot pose ``(x, y, theta)``.
    :param command: safe command ``(v, omega)`` just published.
    :param config: the filter's CBF config (radii, VCP offset).
    :param cs: constraint set at ``pose`` (``SafeActionResolver.constraints``).
    :param arena: walls.
    :param obstacles: ``(K, 3)`` circles or ``(K, 6)`` rows with their kind.
    :param opponent: other robot's pose, or ``None``.
    :param named_active: constraint names the resolver reported active.
    :param ns: marker namespace (the node name keeps several robots apart).
    """
    out = MarkerArray()
    clear = Marker()
    clear.header = header
    clear.action = Marker.DELETEALL
    out.markers.append(clear)
    x, y, th = (float(v) for v in pose)
    out.markers.append(_disk(header, ns + "/body", 0, x, y, config.robot_radius, BLUE))
    d = config.vcp_offset
    vcp = _disk(header, ns + "/vcp", 0, x + d * math.cos(th), y + d * math.sin(th), 0.02, GREEN)
    out.markers.append(vcp)
    arrow = _marker(header, ns + "/command", 0, Marker.ARROW, GREEN)
    length = float(command[0]) * config.dt * 5.0
    arrow.points = [Point(x=x, y=y, z=0.05),
                    Point(x=x + length * math.cos(th), y=y + length * math.sin(th), z=0.05)]
    arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.02, 0.05, 0.05
    out.markers.append(arrow)
    names = list(cs.names)
    for mid, i in enumerate(active_constraints(cs, command, named_active)):
        name = names[i]
        side = next((s for s in ("x_min", "x_max", "y_min", "y_max") if s in name), None)
        index = re.search(r"(\d+)", name)
        ns_i = f"{ns}/active"
        if "obstacle" in name and index and int(index.group(1)) < len(obstacles):
            ob = obstacles[int(index.group(1))]
            shape = keepout(kind_of(ob), ob, config.robot_radius)
            out.markers.append(_keepout(header, ns_i, mid, shape, RED))
        elif side is not None:
            out.markers.append(_wall(header, ns_i, mid, arena, side))
        elif opponent is not None and cs.groups[i] == "collision":
            out.markers.append(_disk(header, ns_i, mid, opponent[0], opponent[1],
                                     config.robot_radius + config.opponent_radius, ORANGE))
        text = _marker(header, ns + "/labels", mid, Marker.TEXT_VIEW_FACING, GREEN)
        text.pose.position.x, text.pose.position.y, text.pose.position.z = x, y, 0.3 + 0.15 * mid
        text.scale.z = 0.12
        text.text = f"{name}: h={float(cs.h[i]):.3f}"
        out.markers.append(text)
    return out
