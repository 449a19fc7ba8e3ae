"""Metrics node in-process: statuses in, SafetyMetrics/diagnostics/report out."""

from __future__ import annotations

import json
import math

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built: scripts/setup.sh')

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from safe_pe_msgs.msg import (  # noqa: E402
    EpisodeResult,
    SafetyMetrics,
    SafetyStatus,
    SafetyStatusArray,
)
from safe_pe_cbf.ros_common.params import ParameterError  # noqa: E402
from safe_pe_cbf.ros_common.testing import isolated_context, spin_until  # noqa: E402

from safe_pe_training.ros.metrics_node import MetricsNode  # noqa: E402

WAIT = 60.0  # upper limit of every wait [s]: conditions, not durations, end them


@pytest.fixture()
def context(tmp_path, monkeypatch):
    yield from isolated_context(tmp_path, monkeypatch, salt=5)


def _status(tier: int, min_h: float, violation: bool = False, feasible: bool = True,
            intervened: bool = False) -> SafetyStatus:
    msg = SafetyStatus(tier=tier, min_h=min_h, violation=violation, qp_feasible=feasible,
                       intervened=intervened, intervention=0.3 if intervened else 0.0)
    msg.agent_id = 'pursuer'
    return msg



def test_metrics_node_aggregates_sources_and_reports(context, tmp_path):
    report_dir = tmp_path / 'report'
    node = MetricsNode(context=context, parameter_overrides=[
        Parameter('robots', value=['pursuer', 'evader']),
        Parameter('report_dir', value=str(report_dir)),
        Parameter('publish_period', value=0.2),
    ])
    peer = rclpy.create_node('peer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    metrics: dict[str, SafetyMetrics] = {}
    diags: dict[str, DiagnosticStatus] = {}
    peer.create_subscription(SafetyMetrics, '/safe_pe/safety_metrics',
                             lambda m: metrics.__setitem__(m.source, m), 10)
    peer.create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda m: diags.update({s.hardware_id: s for s in m.status}), 10)
    pub_p = peer.create_publisher(SafetyStatus, '/pursuer/safety_status', 100)
    pub_t = peer.create_publisher(SafetyStatusArray, '/safe_pe/training/safety_status', 10)
    pub_e = peer.create_publisher(EpisodeResult, '/safe_pe/episode_result', 10)
    try:
        assert spin_until(executor, lambda: pub_p.get_subscription_count() > 0
                           and pub_t.get_subscription_count() > 0, WAIT)
        for i in range(20):
            pub_p.publish(_status(SafetyStatus.TIER_QP if i % 4 == 0 else 0, 0.5 + i,
                                  intervened=i % 4 == 0))
        batch = SafetyStatusArray(statuses=[_status(0, 1.0)] * 9
                                  + [_status(SafetyStatus.TIER_BACKUP, -0.01, violation=True,
                                             feasible=False)])
        pub_t.publish(batch)
        # Before the evader's filter is live, and the first episode after: warm-up only.
        pub_e.publish(EpisodeResult(outcome=EpisodeResult.OUTCOME_TIMEOUT, steps=20,
                                    violation_steps=2))
        assert spin_until(executor, lambda: node.report().episodes.warmup == 1, WAIT)
        pub_ev = peer.create_publisher(SafetyStatus, '/evader/safety_status', 100)
        assert spin_until(executor, lambda: pub_ev.get_subscription_count() > 0, WAIT)
        pub_ev.publish(_status(0, 2.0))
        assert spin_until(executor, lambda: metrics.get('all') is not None
                           and metrics['all'].steps == 31, WAIT), metrics
        pub_e.publish(EpisodeResult(outcome=EpisodeResult.OUTCOME_TIMEOUT, steps=20))
        pub_e.publish(EpisodeResult(outcome=EpisodeResult.OUTCOME_CAPTURE, steps=20))
        assert spin_until(executor, lambda: node.report().episodes.warmup == 2
                           and node.report().episodes.episodes == 1, WAIT)
        pursuer, training, union = metrics['pursuer'], metrics['training'], metrics['all']
        assert pursuer.steps == 20 and pursuer.violations == 0
        assert pursuer.interventions == 5 and math.isclose(pursuer.intervention_rate, 0.25)
        assert pursuer.all_targets_met
        assert {t.name for t in pursuer.targets} == {'violations', 'qp_feasibility',
                                                     'backup_rate'}
        assert training.steps == 10 and training.violations == 1 and training.backups == 1
        assert not training.all_targets_met
        assert union.steps == 31 and union.violations == 1
        assert list(union.tier_counts) == [25, 5, 0, 1, 0, 0]
        assert metrics['evader'].steps == 1 and metrics['evader'].all_targets_met
        assert diags['pursuer'].level == DiagnosticStatus.OK
        assert diags['training'].level == DiagnosticStatus.ERROR
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
    report = json.loads((report_dir / 'safety_report.json').read_text())
    assert report['sources']['pursuer']['all_targets_met'] is True
    assert report['sources']['all']['violations'] == 1
    assert report['all_targets_met'] is False
    assert report['episodes']['captures'] == 1 and report['episodes']['episodes'] == 1
    assert report['episodes']['warmup'] == 2
    assert report['episodes']['violation_steps'] == 2      # warm-up violations still count
    text = (report_dir / 'safety_report.md').read_text()
    assert 'TARGETS MISSED' in text and '| training |' in text


def test_metrics_node_without_data_is_stale(context):
    node = MetricsNode(context=context)
    try:
        report = node.report()
        assert [m.source for m in report.sources] == ['pursuer', 'evader', 'training', 'all']
        assert not report.all_targets_met
        from safe_pe_training.ros.metrics_node import diagnostic_level
        assert all(diagnostic_level(m)[0] == DiagnosticStatus.STALE for m in report.sources)
    finally:
        node.destroy_node()


def test_metrics_node_rejects_bad_parameters(context):
    with pytest.raises(ParameterError, match='reserved'):
        MetricsNode(context=context, parameter_overrides=[Parameter('robots', value=['all'])])
    with pytest.raises(ParameterError, match='min_feasibility_rate'):
        MetricsNode(context=context, parameter_overrides=[
            Parameter('targets.min_feasibility_rate', value=1.5)])


def test_metrics_node_declares_every_target(context):
    """The node's targets.* parameters are the fields of the one SafetyTargets dataclass."""
    from dataclasses import fields

    from safe_pe_training.safety_targets import SafetyTargets

    node = MetricsNode(context=context, parameter_overrides=[
        Parameter('window_size', value=50),
        Parameter('targets.enforce_intervention_trend', value=True),
        Parameter('targets.max_backup_rate', value=0.2),
        Parameter('report_period', value=5)])  # an integer for a float parameter is fine
    try:
        names = {f.name for f in fields(SafetyTargets)} - {'window_size'}
        assert all(node.has_parameter(f'targets.{name}') for name in names)
        targets = node._trackers['all'].targets
        assert targets == SafetyTargets(enforce_intervention_trend=True, max_backup_rate=0.2,
                                        window_size=50)
        assert node._trackers['all'].window_size == 50
    finally:
        node.destroy_node()
