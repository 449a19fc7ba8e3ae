"""QoS profiles of the safe_pe topics, defined once for publishers and subscribers alike.

A latched topic's publisher and subscribers must agree (reliable + transient local), so every
node takes its profiles from here (the training checkpoint topic's own profile is in
``safe_pe_training.ros.qos``, next to its only publisher and subscriber).
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

__all__ = ["latched_qos", "reliable_qos", "LATCHED"]


def latched_qos(depth: int = 1) -> QoSProfile:
    """Reliable, transient-local: late joiners get the last ``depth`` messages.

    :param depth: history kept for late joiners.
    """
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def reliable_qos(depth: int) -> QoSProfile:
    """Reliable, volatile.

    :param depth: queue depth.
    """
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


#: arena, obstacle markers, start-up state: the last message is what counts
LATCHED = latched_qos(1)
