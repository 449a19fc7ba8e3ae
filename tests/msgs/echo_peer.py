"""Second process of the DDS round-trip test: echoes every safe_pe message and serves reset.

For each message type T it subscribes to ``/roundtrip/T/ping`` and republishes the received
message unchanged on ``/roundtrip/T/pong``. It also serves ``/roundtrip/reset_episode``
(``safe_pe_msgs/ResetEpisode``), answering with the request's seed as episode id and echoing
the requested layout into the returned state. Exits after ``--seconds`` or on SIGINT.
"""

from __future__ import annotations

import argparse
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from safe_pe_msgs import msg as safe_msgs
from safe_pe_msgs.srv import ResetEpisode

MESSAGE_TYPES = [
    'AgentState', 'CircleObstacle', 'Arena', 'GameState', 'SafetyStatus', 'SafetyStatusArray',
    'SafetyTarget', 'SafetyMetrics', 'EpisodeResult', 'TrainingProgress', 'CheckpointInfo',
]


class EchoPeer(Node):
    """Republish every received safe_pe message and serve the reset service."""

    def __init__(self) -> None:
        super().__init__('roundtrip_echo_peer')
        self._echo_publishers = {}
        for name in MESSAGE_TYPES:
            cls = getattr(safe_msgs, name)
            self._echo_publishers[name] = self.create_publisher(cls, f'/roundtrip/{name}/pong', 10)
            self.create_subscription(
                cls, f'/roundtrip/{name}/ping',
                lambda m, n=name: self._echo_publishers[n].publish(m), 10)
        self.create_service(ResetEpisode, '/roundtrip/reset_episode', self._reset)

    def _reset(self, request: ResetEpisode.Request,
               response: ResetEpisode.Response) -> ResetEpisode.Response:
        response.success = True
        response.message = f'seed={request.seed}'
        response.episode_id = max(request.seed, 0)
        response.state.arena = request.layout
        response.state.pursuer = request.pursuer
        response.state.evader = request.evader
        return response


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--seconds', type=float, default=60.0)
    args = parser.parse_args(argv)
    rclpy.init()
    node = EchoPeer()
    print('echo peer ready', flush=True)
    deadline = node.get_clock().now().nanoseconds + int(args.seconds * 1e9)
    try:
        while rclpy.ok() and node.get_clock().now().nanoseconds < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
