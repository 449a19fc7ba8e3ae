"""Message <-> plain data conversions shared by the training, metrics and policy nodes."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist, TwistStamped
from safe_pe_cbf.barriers import BOX, WIDE
from safe_pe_cbf.ros_common.conversions import with_boxes
from safe_pe_msgs.msg import GameState, SafetyMetrics, SafetyStatus, SafetyTarget

from safe_pe_training.ros.report import SourceMetrics, TargetCheck

CMD_TYPES = ('twist', 'twist_stamped')


def make_twist(v: float, omega: float, cmd_type: str, stamp: Time | None = None,
               frame_id: str = '') -> Twist | TwistStamped:
    """A velocity command message of the configured type.

    :param v: linear velocity [m/s].
    :param omega: angular velocity [rad/s].
    :param cmd_type: ``"twist"`` (geometry_msgs/Twist) or ``"twist_stamped"``.
    :param stamp: header stamp for TwistStamped (ignored for Twist).
    :param frame_id: header frame for TwistStamped (the robot base frame).
    :raises ValueError: for a non-finite command or an unknown type.
    """
    if not (math.isfinite(v) and math.isfinite(omega)):
        raise ValueError(f'refusing to publish a non-finite command v={v}, omega={omega}')
    twist = Twist()
    twist.linear.x = float(v)
    twist.angular.z = float(omega)
    if cmd_type == 'twist':
        return twist
    if cmd_type == 'twist_stamped':
        msg = TwistStamped()
        if stamp is not None:
            msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        msg.twist = twist
        return msg
    raise ValueError(f'cmd_type must be one of {CMD_TYPES}, got {cmd_type!r}')


def twist_type(cmd_type: str) -> type:
    """The message class of a ``cmd_type`` parameter value."""
    if cmd_type not in CMD_TYPES:
        raise ValueError(f'cmd_type must be one of {CMD_TYPES}, got {cmd_type!r}')
    return Twist if cmd_type == 'twist' else TwistStamped


def statuses_to_arrays(statuses: Sequence[SafetyStatus]) -> dict[str, np.ndarray]:
    """Columns of a batch of SafetyStatus messages for ``SafetyMetricsTracker.record_batch``.

    Non-finite intervention sizes count as 0 (the ``intervened`` flag still counts);
    out-of-range tiers are dropped and counted in ``"dropped"``.

    :param statuses: the messages.
    :return: arrays ``methods, min_h, intervention, intervened, violation, qp_feasible``
        and the int ``dropped`` (as a 0-d array).
    """
    n = len(statuses)
    tier = np.fromiter((s.tier for s in statuses), dtype=np.int64, count=n)
    keep = tier <= 5
    min_h = np.fromiter((s.min_h for s in statuses), dtype=np.float64, count=n)
    intervention = np.fromiter((s.intervention for s in statuses), dtype=np.float64, count=n)
    intervention = np.where(np.isfinite(intervention), intervention, 0.0)
    flags = np.array([(s.intervened, s.violation, s.qp_feasible) for s in statuses],
                     dtype=bool).reshape(n, 3)
    return {
        'methods': tier[keep], 'min_h': min_h[keep], 'intervention': intervention[keep],
        'intervened': flags[keep, 0], 'violation': flags[keep, 1],
        'qp_feasible': flags[keep, 2], 'dropped': np.asarray(int(n - keep.sum())),
    }


def source_metrics_to_msg(metrics: SourceMetrics, stamp: Time | None = None) -> SafetyMetrics:
    """A SafetyMetrics message from one stream's metrics.

    :param metrics: the stream's metrics and targets.
    :param stamp: header stamp.
    """
    msg = SafetyMetrics()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.source = metrics.source
    msg.steps = int(metrics.steps)
    msg.violations = int(metrics.violations)
    msg.interventions = int(metrics.interventions)
    msg.backups = int(metrics.backups)
    msg.infeasible = int(metrics.infeasible)
    msg.violation_rate = float(metrics.violation_rate)
    msg.intervention_rate = float(metrics.intervention_rate)
    msg.feasibility_rate = float(metrics.feasibility_rate)
    msg.backup_rate = float(metrics.backup_rate)
    msg.mean_min_h = float(metrics.mean_min_h)
    msg.min_min_h = float(metrics.min_min_h)
    msg.tier_counts = [int(c) for c in metrics.tier_counts]
    msg.targets = [target_to_msg(t) for t in metrics.targets]
    msg.all_targets_met = bool(metrics.all_targets_met)
    return msg


def target_to_msg(target: TargetCheck) -> SafetyTarget:
    """A SafetyTarget message from a target check."""
    msg = SafetyTarget()
    msg.name = target.name
    msg.description = target.description
    msg.comparison = (SafetyTarget.CMP_LESS_EQUAL if target.comparison == '<='
                      else SafetyTarget.CMP_GREATER_EQUAL)
    msg.threshold = float(target.threshold)
    msg.value = float(target.value)
    msg.met = bool(target.met)
    return msg


def game_state_arrays(msg: GameState) -> dict[str, Any]:
    """Plain arrays of a GameState (agent 0 = pursuer, 1 = evader).

    :param msg: the game state.
    :return: ``poses (2,3)``, ``velocities (2,2)``, ``obstacles (K,3)`` (``(K,6)`` rows
        with their kind when the arena has boxes: circles, then boxes),
        ``limits (2,3)`` rows ``(v_min, v_max, omega_max)``,
        ``arena (x_min, x_max, y_min, y_max)``, ``episode_id``, ``step``, ``dt``.
    :raises ValueError: if a pose, velocity or obstacle is not finite.
    """
    agents = (msg.pursuer, msg.evader)
    poses = np.array([[a.x, a.y, a.theta] for a in agents], dtype=np.float64)
    velocities = np.array([[a.v, a.omega] for a in agents], dtype=np.float64)
    obstacles = with_boxes(
        np.array([[o.x, o.y, o.radius] for o in msg.arena.obstacles],
                 dtype=np.float64).reshape(-1, 3),
        np.array([[b.x, b.y, b.half_length, b.half_width, b.angle, float(BOX)]
                  for b in msg.arena.boxes], dtype=np.float64).reshape(-1, WIDE))
    limits = np.array([[a.v_min, a.v_max, a.omega_max] for a in agents], dtype=np.float64)
    arena = (msg.arena.x_min, msg.arena.x_max, msg.arena.y_min, msg.arena.y_max)
    for name, array in (('poses', poses), ('velocities', velocities), ('limits', limits),
                        ('obstacles', obstacles), ('arena', np.asarray(arena))):
        if not np.all(np.isfinite(array)):
            raise ValueError(f'game state has non-finite {name}: {array.tolist()}')
    return {'poses': poses, 'velocities': velocities, 'obstacles': obstacles, 'arena': arena,
            'limits': limits,
            'episode_id': int(msg.episode_id), 'step': int(msg.step), 'dt': float(msg.dt)}
