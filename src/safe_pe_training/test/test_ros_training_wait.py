"""The training node waits for the metrics node before training (``wait_for_metrics``).

In a graph with a metrics node, statuses published before the metrics node subscribes are
lost to its report; a tiny budget can even finish before the graph is up. With
``wait_for_metrics`` the training node starts only once the named metrics node has
subscribed, and other subscribers (a recorder) do not release it.
"""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built: scripts/setup.sh')
pytest.importorskip('stable_baselines3', reason='stable-baselines3 is not installed')

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from safe_pe_msgs.msg import SafetyStatusArray  # noqa: E402
from training_fixtures import write_tiny_yaml  # noqa: E402

from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402
from safe_pe_training.ros.training_node import TrainingNode  # noqa: E402

STATUS_TOPIC = '/safe_pe/training/safety_status'
METRICS_NAME = 'metrics_under_test'


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=43)


def test_training_starts_only_once_the_metrics_node_subscribed(context, tmp_path):
    config = write_tiny_yaml(tmp_path / 'tiny_a.yaml', 'A', phases=1)
    executor = SingleThreadedExecutor(context=context)
    node = TrainingNode(context=context, parameter_overrides=[
        Parameter('run_type', value='custom'),
        Parameter('config_file', value=str(config)),
        Parameter('run_dir', value=str(tmp_path / 'run')),
        Parameter('status_period', value=0.1),
        Parameter('wait_for_metrics', value=3600.0),
        Parameter('metrics_node', value=METRICS_NAME)])
    bystander = rclpy.create_node('bystander', context=context)
    metrics = None
    try:
        bystander.create_subscription(SafetyStatusArray, STATUS_TOPIC, lambda _: None, 10)
        for n in (node, bystander):
            executor.add_node(n)
        assert spin_until(executor, lambda: node._status_pub.get_subscription_count() >= 1,
                          timeout=120.0), 'the bystander never matched the status publisher'
        # Only a bystander: the node keeps waiting (for up to an hour), nothing trained.
        assert not node._metrics_subscribed()
        assert node._thread.is_alive() and node._trainer is None and not node.done.is_set()

        received: list[SafetyStatusArray] = []
        metrics = rclpy.create_node(METRICS_NAME, context=context)
        metrics.create_subscription(SafetyStatusArray, STATUS_TOPIC, received.append, 100)
        executor.add_node(metrics)
        assert spin_until(executor, node.done.is_set, timeout=900.0), 'training never ended'
        spin_until(executor, lambda: False, timeout=0.5)      # the last array, if in flight
        assert node.error == '', node.error
        assert node.result.total_steps >= 256 and not node.result.stopped_early
        assert sum(len(m.statuses) for m in received) > 0, 'no statuses reached the metrics node'
    finally:
        node.stop_training()
        executor.shutdown()
        for n in (node, bystander, metrics):
            if n is not None:
                n.destroy_node()
