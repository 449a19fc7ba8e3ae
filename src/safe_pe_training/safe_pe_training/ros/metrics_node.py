"""Metrics node: safety metrics of training and of every live filter, with targets.

Subscribes to ``/safe_pe/training/safety_status`` (SafetyStatusArray) and to each robot's
``/<robot>/safety_status`` (SafetyStatus), keeps one ``SafetyMetricsTracker`` per source plus
``"all"`` (the union), publishes ``/safe_pe/safety_metrics`` (one SafetyMetrics per source)
and ``/diagnostics`` (OK when every target is met, WARN when a rate target is missed, ERROR on
any violation, STALE without data), counts ``/safe_pe/episode_result`` outcomes, and writes
``safety_report.json`` + ``safety_report.md`` to ``report_dir`` periodically and on shutdown.

Episodes count once the live graph is up: results that arrive before every robot's filter has
sent a status, and the first one after (that episode was partly played without them), are
reported as warm-up episodes only. With ``stop_after_episodes > 0`` the node writes its report
and exits after that many counted episodes (``sim_eval.launch.py`` ends the launch then).
"""

from __future__ import annotations

import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from safe_pe_msgs.msg import (
    EpisodeResult,
    SafetyMetrics,
    SafetyStatus,
    SafetyStatusArray,
    TrainingProgress,
)
from safe_pe_cbf.ros_common.executors import spin_until_shutdown
from safe_pe_cbf.ros_common.params import ParameterError, declare
from safe_pe_sim.roles import ROLES

from safe_pe_training.ros.conversions import source_metrics_to_msg, statuses_to_arrays
from safe_pe_training.ros.report import (
    EpisodeStats,
    SafetyReport,
    SourceMetrics,
    TargetCheck,
    write_report,
)
from safe_pe_training.safety_targets import TARGET_PARAMS, SafetyTargets
from safe_pe_training.safety_tracker import SafetyMetricsTracker

NODE_NAME = 'safe_pe_metrics'
ALL = 'all'
TRAINING = 'training'


def tracker_metrics(source: str, tracker: SafetyMetricsTracker) -> SourceMetrics:
    """The lifetime metrics and target check of one tracker as report data.

    :param source: the stream name.
    :param tracker: its tracker.
    """
    summary = tracker.get_summary()
    check = tracker.check_safety_targets()
    targets = [TargetCheck(name=r.name, description=r.description,
                           comparison='<=' if r.comparison == 0 else '>=',
                           threshold=r.threshold, value=r.value, met=r.met)
               for r in check.results if r.enforced]
    return SourceMetrics(
        source=source, steps=summary.steps, violations=summary.violations,
        interventions=summary.interventions, backups=summary.backups,
        infeasible=summary.infeasible, mean_min_h=summary.mean_min_h,
        min_min_h=summary.min_min_h, tier_counts=list(summary.tier_counts), targets=targets)


def diagnostic_level(metrics: SourceMetrics) -> tuple[bytes, str]:
    """Diagnostic level and message of one stream's target check.

    :param metrics: the stream's metrics.
    :return: ``(level, message)``: STALE without data, ERROR on a missed violation target,
        WARN on any other missed target, else OK.
    """
    if metrics.steps == 0:
        return DiagnosticStatus.STALE, 'no safety statuses received yet'
    missed = [t for t in metrics.targets if not t.met]
    if not missed:
        return DiagnosticStatus.OK, f'all safety targets met over {metrics.steps} steps'
    text = 'missed: ' + '; '.join(f'{t.name} = {t.value:.4g} (want {t.comparison} '
                                  f'{t.threshold:.4g})' for t in missed)
    if any(t.name == 'violations' for t in missed):
        return DiagnosticStatus.ERROR, text
    return DiagnosticStatus.WARN, text


class MetricsNode(Node):
    """Aggregates safety statuses into metrics, targets, diagnostics and a report."""

    def __init__(self, **kwargs: Any) -> None:
        """Create the node.

        :param kwargs: passed to ``rclpy.node.Node`` (``cli_args``, ``parameter_overrides``,
            ``namespace``, ``context``...).
        """
        super().__init__(NODE_NAME, **kwargs)
        self.robots: list[str] = declare(
            self, 'robots', list(ROLES),
            'Robot names (namespaces) whose /<robot>/safety_status is aggregated.')
        if len(set(self.robots)) != len(self.robots) or not all(self.robots):
            raise ParameterError(f'robots must be distinct non-empty names, got {self.robots}')
        if ALL in self.robots or TRAINING in self.robots:
            raise ParameterError(f'robot names {ALL!r} and {TRAINING!r} are reserved')
        self.use_training = declare(
            self, 'use_training', True,
            'Also aggregate /safe_pe/training/safety_status (batched training statuses).')
        publish_period = declare(self, 'publish_period', 1.0,
                                 'Seconds between SafetyMetrics/diagnostics messages.',
                                 min_value=0.05, max_value=3600.0)
        self.report_dir: str = declare(
            self, 'report_dir', '',
            'Directory for safety_report.json/.md (empty: no report files).')
        report_period = declare(self, 'report_period', 30.0,
                                'Seconds between report writes (0: only on shutdown).',
                                min_value=0.0, max_value=86400.0)
        window = declare(self, 'window_size', 1000,
                         'Steps in the rolling window of recent metrics.',
                         min_value=1, max_value=10_000_000)
        self.stop_after_episodes = declare(
            self, 'stop_after_episodes', 0,
            'Write the report and exit after this many episode results (0: run forever).',
            min_value=0, max_value=1_000_000)
        defaults = SafetyTargets()
        targets = SafetyTargets(window_size=window, **{
            name: declare(self, f'targets.{name}', getattr(defaults, name), description,
                          min_value=low, max_value=high)
            for name, (description, low, high) in TARGET_PARAMS.items()})
        self._lock = threading.Lock()
        names = list(self.robots) + ([TRAINING] if self.use_training else []) + [ALL]
        self._trackers = {name: SafetyMetricsTracker(targets=targets)
                          for name in names}
        self._episodes = EpisodeStats()
        self._live: set[str] = set()       # robots whose filter has sent a status
        self._counting = False             # episodes count (the graph was up at their start)
        self._skip_next_episode = False
        self._training_phase: int | None = None
        self.latest_progress: TrainingProgress | None = None   # the last one received
        self._dropped = 0
        self.done = threading.Event()

        status_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        for robot in self.robots:
            self.create_subscription(
                SafetyStatus, f'/{robot}/safety_status',
                lambda msg, robot=robot: self._on_status(robot, msg), status_qos)
        if self.use_training:
            self.create_subscription(SafetyStatusArray, '/safe_pe/training/safety_status',
                                     self._on_training_statuses, status_qos)
            self.create_subscription(TrainingProgress, '/safe_pe/training/progress',
                                     self._on_progress, 10)
        self.create_subscription(EpisodeResult, '/safe_pe/episode_result', self._on_episode,
                                 QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        self._metrics_pub = self.create_publisher(SafetyMetrics, '/safe_pe/safety_metrics', 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(publish_period, self.publish_metrics)
        if report_period > 0 and self.report_dir:
            self.create_timer(report_period, self._write_report_safely)
        self.get_logger().info(
            f'aggregating safety statuses of {names[:-1]}; report dir '
            f'{self.report_dir or "(none)"}')

    # ----------------------------------------------------------------------------- inputs
    def _record(self, source: str, columns: dict) -> None:
        dropped = int(columns.pop('dropped'))
        with self._lock:
            self._dropped += dropped
            if columns['methods'].size == 0:
                return
            for name in (source, ALL):
                self._trackers[name].record_batch(**columns)

    def _on_status(self, robot: str, msg: SafetyStatus) -> None:
        if robot not in self._live:
            with self._lock:
                self._live.add(robot)
                if not self._counting and self._live >= set(self.robots):
                    self._counting = True
                    self._skip_next_episode = True   # the running episode started without us
        self._record(robot, statuses_to_arrays([msg]))

    def _on_training_statuses(self, msg: SafetyStatusArray) -> None:
        if msg.statuses:
            self._record(TRAINING, statuses_to_arrays(msg.statuses))

    def _on_progress(self, msg: TrainingProgress) -> None:
        with self._lock:
            self.latest_progress = msg
            if self._training_phase is not None and msg.phase != self._training_phase:
                self._trackers[TRAINING].end_phase()
            self._training_phase = int(msg.phase)

    def _on_episode(self, msg: EpisodeResult) -> None:
        if msg.violation_steps:
            self.get_logger().error(
                f'episode {msg.episode_id}: the simulator saw {msg.violation_steps} violation '
                f'steps')
        with self._lock:
            e = self._episodes
            e.violation_steps += int(msg.violation_steps)   # always, warm-up or not
            if not self._counting or self._skip_next_episode:
                self._skip_next_episode = False
                e.warmup += 1
                return
            e.episodes += 1
            e.steps += int(msg.steps)
            if msg.outcome == EpisodeResult.OUTCOME_CAPTURE:
                e.captures += 1
            elif msg.outcome == EpisodeResult.OUTCOME_TIMEOUT:
                e.timeouts += 1
            else:
                e.aborted += 1
            finished = e.captures + e.timeouts
        if self.stop_after_episodes and finished >= self.stop_after_episodes \
                and not self.done.is_set():
            self.get_logger().info(f'{finished} episodes finished: writing the report')
            self._write_report_safely()
            self.done.set()

    # ---------------------------------------------------------------------------- outputs
    def report(self) -> SafetyReport:
        """The current report (per-source metrics with targets, episode outcomes)."""
        with self._lock:
            sources = [tracker_metrics(name, t) for name, t in self._trackers.items()]
            episodes = EpisodeStats(**vars(self._episodes))
        return SafetyReport(sources=sources, episodes=episodes, node=self.get_name())

    def publish_metrics(self) -> None:
        """Publish one SafetyMetrics per source and a DiagnosticArray."""
        report = self.report()
        stamp = self.get_clock().now().to_msg()
        diag = DiagnosticArray()
        diag.header.stamp = stamp
        for metrics in report.sources:
            self._metrics_pub.publish(source_metrics_to_msg(metrics, stamp))
            level, message = diagnostic_level(metrics)
            status = DiagnosticStatus(level=level, name=f'{self.get_name()}: {metrics.source}',
                                      hardware_id=metrics.source, message=message)
            status.values = [
                KeyValue(key='steps', value=str(metrics.steps)),
                KeyValue(key='violations', value=str(metrics.violations)),
                KeyValue(key='intervention_rate', value=f'{metrics.intervention_rate:.4f}'),
                KeyValue(key='feasibility_rate', value=f'{metrics.feasibility_rate:.4f}'),
                KeyValue(key='backup_rate', value=f'{metrics.backup_rate:.4f}'),
            ]
            diag.status.append(status)
        self._diag_pub.publish(diag)

    def write_report(self) -> tuple[str, str] | None:
        """Write the report files now; returns their paths (None without ``report_dir``)."""
        if not self.report_dir:
            return None
        json_path, md_path = write_report(self.report(), self.report_dir)
        return str(json_path), str(md_path)

    def _write_report_safely(self) -> None:
        try:
            self.write_report()
        except OSError as exc:
            self.get_logger().error(f'cannot write the safety report to {self.report_dir!r}: '
                                    f'{exc}; fix the directory (permissions, disk space)')

    def destroy_node(self) -> None:
        """Write the final report, then destroy the node."""
        self._write_report_safely()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the metrics node until Ctrl-C (or ``stop_after_episodes``).

    :param args: command-line arguments for ``rclpy.init`` (default: ``sys.argv``).
    """
    spin_until_shutdown(MetricsNode, NODE_NAME, args, done=lambda node: node.done, threads=2)


if __name__ == '__main__':
    main()
