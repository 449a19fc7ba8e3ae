"""QoS of the training checkpoint topic, shared by its publisher and its subscribers.

``/safe_pe/training/checkpoint`` (``CheckpointInfo``) is published by the training node and
read by the policy nodes; both take the profile from here.
"""

from __future__ import annotations

from safe_pe_cbf.ros_common.qos import latched_qos

__all__ = ["CHECKPOINT_QOS", "CHECKPOINT_TOPIC"]

#: the topic announcing each new checkpoint
CHECKPOINT_TOPIC = '/safe_pe/training/checkpoint'
#: a policy node started late still sees the recent checkpoints
CHECKPOINT_QOS = latched_qos(10)
