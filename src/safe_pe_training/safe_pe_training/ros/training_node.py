"""Training node: safe self-play in a background thread, progress and checkpoints on topics.

Runs ``safe_pe_training.self_play.SelfPlayTrainer`` in a thread (the executor stays
responsive), publishes ``/safe_pe/training/progress`` (TrainingProgress), a uniform sample of
the per-step safety statuses on ``/safe_pe/training/safety_status`` (SafetyStatusArray, at
most ``status_max_batch`` per ``status_period``), and announces every checkpoint written to
the run directory on ``/safe_pe/training/checkpoint`` (CheckpointInfo, transient local, so
policy nodes that start later still get the latest ones).

Run alone, the process exits when training has finished; Ctrl-C stops training at the next
env step (the run can be continued with ``resume: true``).
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from geometry_msgs.msg import Twist
from rclpy.node import Node
from safe_pe_msgs.msg import CheckpointInfo, SafetyStatus, SafetyStatusArray, TrainingProgress
from safe_pe_cbf.ros_common.executors import spin_until_shutdown
from safe_pe_cbf.ros_common.params import ParameterError, declare

from safe_pe_training.config import SafeSelfPlayConfig, load_run_config
from safe_pe_training.ros.graph_spec import RUN_TYPES
from safe_pe_training.ros.qos import CHECKPOINT_QOS, CHECKPOINT_TOPIC
from safe_pe_training.ros.status_sampler import ROLES, StatusSampler

NODE_NAME = 'safe_pe_training'


def _finite(value: float, default: float = 0.0) -> float:
    return float(value) if value is not None and math.isfinite(value) else default


def progress_to_msg(info: Any) -> TrainingProgress:
    """A TrainingProgress message from the trainer's ``ProgressInfo`` (NaN rates -> 0).

    :param info: ``safe_pe_training.self_play.ProgressInfo``.
    """
    return TrainingProgress(
        run_dir=str(info.run_dir), run_type=str(info.run_type), phase=int(info.phase),
        num_phases=int(info.num_phases), training_role=str(info.training_role),
        total_steps=int(info.total_steps), total_budget=int(info.total_budget),
        fps=_finite(info.fps), capture_rate=_finite(info.capture_rate),
        mean_episode_length=_finite(info.mean_episode_length),
        intervention_rate=_finite(info.intervention_rate),
        backup_rate=_finite(info.backup_rate), violations=int(info.violations),
        last_checkpoint=str(info.last_checkpoint or ''), done=bool(info.done))


def sample_to_statuses(sample: dict, source_prefix: str = 'training') -> list[SafetyStatus]:
    """SafetyStatus messages from a drained :class:`StatusSampler` sample.

    :param sample: arrays by field name.
    :param source_prefix: ``source`` is ``<prefix>/env<k>``.
    """
    out = []
    for i in range(len(sample['tier'])):
        nominal, safe = Twist(), Twist()
        nominal.linear.x, nominal.angular.z = (float(c) for c in sample['nominal'][i])
        safe.linear.x, safe.angular.z = (float(c) for c in sample['safe'][i])
        intervention = float(sample['intervention'][i])
        out.append(SafetyStatus(
            source=f'{source_prefix}/env{int(sample["env"][i])}',
            agent_id=ROLES[int(sample['role'][i])], tier=int(sample['tier'][i]),
            min_h=float(sample['min_h'][i]), intervened=bool(sample['intervened'][i]),
            intervention=intervention if math.isfinite(intervention) else 0.0,
            violation=bool(sample['violation'][i]),
            qp_feasible=bool(sample['qp_feasible'][i]), nominal=nominal, safe=safe))
    return out


class TrainingNode(Node):
    """Self-play training with ROS progress, safety statuses and checkpoint announcements."""

    def __init__(self, **kwargs: Any) -> None:
        """Create the node; training starts right after construction, in a thread.

        :param kwargs: passed to ``rclpy.node.Node`` (``cli_args``, ``parameter_overrides``,
            ``context``...).
        """
        super().__init__(NODE_NAME, **kwargs)
        self.run_type: str = declare(self, 'run_type', 'A',
                                     'Training run preset (custom: use config_file).',
                                     choices=RUN_TYPES)
        self.config_file: str = declare(self, 'config_file', '',
                                        'SafeSelfPlayConfig YAML ("" = the run_type preset).')
        self.budget = declare(self, 'budget', 0,
                              'Total environment steps (0: the config\'s total_timesteps).',
                              min_value=0, max_value=10**12)
        self.run_dir: str = declare(self, 'run_dir', 'runs/training',
                                    'Run directory (config, checkpoints, metrics, plots).')
        self.steps_per_phase = declare(
            self, 'steps_per_phase', 0,
            'Learner env-steps per self-play phase (0: the config\'s).',
            min_value=0, max_value=10**12)
        self.num_envs = declare(
            self, 'num_envs', 0,
            'Parallel games of the learner (0: the config\'s); with steps_per_phase it sets '
            'how many steps each game plays per phase.', min_value=0, max_value=4096)
        self.seed = declare(self, 'seed', -1, 'Training seed (-1: the config\'s seed).',
                            min_value=-1, max_value=2**31 - 1)
        self.resume = declare(self, 'resume', False,
                              'Continue the run in run_dir from its last checkpoint.')
        progress_period = declare(self, 'progress_period', 1.0,
                                  'Seconds between TrainingProgress messages.',
                                  min_value=0.05, max_value=600.0)
        status_period = declare(self, 'status_period', 0.5,
                                'Seconds between SafetyStatusArray messages.',
                                min_value=0.05, max_value=600.0)
        max_batch = declare(self, 'status_max_batch', 256,
                            'Most safety statuses per SafetyStatusArray (uniform sample).',
                            min_value=1, max_value=100_000)
        self.progress_bar = declare(self, 'progress_bar', False,
                                    'Show the trainer\'s tqdm progress bar on stderr.')
        self.wait_for_metrics = declare(
            self, 'wait_for_metrics', 0.0,
            'Seconds to wait, before training starts, for metrics_node to subscribe to the '
            'safety statuses, so its report covers training from the first step '
            '(0: start at once).', min_value=0.0, max_value=3600.0)
        self.metrics_node: str = declare(
            self, 'metrics_node', 'safe_pe_metrics',
            'Name of the metrics node that wait_for_metrics waits for.')
        if not self.run_dir:
            raise ParameterError('run_dir must be a directory path')
        if self.run_type == 'custom' and not self.config_file and not self.resume:
            raise ParameterError('run_type custom needs config_file (a SafeSelfPlayConfig YAML)')
        self._progress_period = progress_period
        self._sampler = StatusSampler(max_batch, seed=max(self.seed, 0))
        self._lock = threading.Lock()
        self.latest_progress: TrainingProgress | None = None
        self.checkpoints: list[CheckpointInfo] = []
        self.result: Any = None
        self.error: str = ''
        self.done = threading.Event()
        self._stop = threading.Event()
        self._trainer: Any = None

        self._progress_pub = self.create_publisher(TrainingProgress,
                                                   '/safe_pe/training/progress', 10)
        self._status_pub = self.create_publisher(SafetyStatusArray,
                                                 '/safe_pe/training/safety_status', 10)
        self._checkpoint_pub = self.create_publisher(CheckpointInfo,
                                                     CHECKPOINT_TOPIC,
                                                     CHECKPOINT_QOS)
        self.create_timer(status_period, self._publish_statuses)
        self._thread = threading.Thread(target=self._train, name='self-play', daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ training thread
    def _build_trainer(self) -> Any:
        # torch + SB3: loaded by the training thread, not at node import
        from safe_pe_training.self_play import SelfPlayTrainer, TrainingHooks

        hooks = TrainingHooks(on_progress=self._on_progress,
                              on_safety_batch=self._on_safety_batch,
                              on_checkpoint=self._on_checkpoint,
                              should_stop=self._stop.is_set,
                              progress_interval_s=self._progress_period)
        run_dir = Path(self.run_dir).expanduser().resolve()
        if self.resume:
            return SelfPlayTrainer.resume(run_dir, hooks=hooks,
                                          total_timesteps=self.budget or None,
                                          progress_bar=self.progress_bar)
        config = (SafeSelfPlayConfig.from_yaml(self.config_file) if self.config_file
                  else load_run_config(self.run_type))
        if self.budget:
            config.total_timesteps = int(self.budget)
        if self.seed >= 0:
            config.seed = int(self.seed)
        if self.steps_per_phase:
            config.self_play.steps_per_phase = int(self.steps_per_phase)
        if self.num_envs:
            config.num_envs = int(self.num_envs)
        config.validate()
        return SelfPlayTrainer(config, run_dir, hooks=hooks, progress_bar=self.progress_bar)

    def _metrics_subscribed(self) -> bool:
        if self._status_pub.get_subscription_count() == 0:     # no reader matched yet
            return False
        return any(info.node_name == self.metrics_node for info in
                   self.get_subscriptions_info_by_topic(self._status_pub.topic_name))

    def _await_metrics(self) -> None:
        """Wait (up to ``wait_for_metrics`` s, or a stop) for the metrics node to subscribe.

        Other subscribers (a recorder, ``ros2 topic echo``) do not count: statuses published
        before the metrics node subscribes never reach its report.
        """
        if self.wait_for_metrics <= 0.0:
            return
        topic = self._status_pub.topic_name
        self.get_logger().info(f'waiting up to {self.wait_for_metrics:g} s for '
                               f'{self.metrics_node} to subscribe to {topic}')
        deadline = time.monotonic() + self.wait_for_metrics
        while not self._metrics_subscribed():
            if self._stop.wait(0.1):
                return
            if time.monotonic() > deadline:
                self.get_logger().warning(
                    f'no subscriber of {topic} after {self.wait_for_metrics:g} s: training '
                    f'starts; its statuses reach a metrics node only once it subscribes')
                return

    def _train(self) -> None:
        try:
            self._await_metrics()
            if self._stop.is_set():
                return
            self._trainer = self._build_trainer()
            if self._stop.is_set():
                return
            self.get_logger().info(f'training run {self._trainer.config.run_type} in '
                                   f'{self._trainer.run.root} for '
                                   f'{self._trainer.config.total_timesteps} steps')
            self.result = self._trainer.train()
            self.get_logger().info(
                f'training finished: {self.result.total_steps} steps, '
                f'{self.result.phases_completed} phases, stopped early: '
                f'{self.result.stopped_early}')
        except Exception as exc:  # noqa: BLE001 - report, never kill the process silently
            self.error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'training failed: {self.error}\n{traceback.format_exc()}')
        finally:
            self._publish_statuses()
            self.done.set()

    def _on_progress(self, info: Any) -> None:
        msg = progress_to_msg(info)
        msg.header.stamp = self.get_clock().now().to_msg()
        with self._lock:
            self.latest_progress = msg
        self._progress_pub.publish(msg)

    def _on_safety_batch(self, batch: Any, phase: int) -> None:
        self._sampler.add(batch)

    def _on_checkpoint(self, event: Any) -> None:
        msg = CheckpointInfo(role=str(event.role), path=str(event.path),
                             phase=int(event.phase), total_steps=int(event.total_steps),
                             run_type=str(event.run_type))
        msg.header.stamp = self.get_clock().now().to_msg()
        with self._lock:
            self.checkpoints.append(msg)
        self._checkpoint_pub.publish(msg)
        self.get_logger().info(f'checkpoint {event.role} phase {event.phase}: {event.path}')

    # ------------------------------------------------------------------ executor side
    def _publish_statuses(self) -> None:
        sample = self._sampler.drain()
        if len(sample['tier']) == 0:
            return
        msg = SafetyStatusArray(statuses=sample_to_statuses(sample))
        msg.header.stamp = self.get_clock().now().to_msg()
        try:
            self._status_pub.publish(msg)
        except Exception:  # noqa: BLE001 - context already shut down at exit
            pass

    def stop_training(self, timeout: float = 60.0) -> bool:
        """Ask training to stop at the next env step and wait for the thread.

        :param timeout: seconds to wait.
        :return: whether the training thread has ended.
        """
        self._stop.set()
        if self._trainer is not None:
            self._trainer.stop()
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def destroy_node(self) -> None:
        """Stop training (at a safe point), then destroy the node."""
        if not self.stop_training():
            self.get_logger().error('training thread did not stop within 60 s')
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the training node; the process exits when training has finished or on Ctrl-C.

    :param args: command-line arguments for ``rclpy.init`` (default: ``sys.argv``).
    """
    spin_until_shutdown(TrainingNode, NODE_NAME, args, done=lambda node: node.done, threads=2)


if __name__ == '__main__':
    main()
