"""Data passed between :class:`~safe_pe_training.self_play.SelfPlayTrainer` and its users.

:class:`TrainingHooks` are the trainer's callbacks (the ROS training node publishes from them);
:class:`ProgressInfo` and :class:`CheckpointEvent` carry the fields of
``safe_pe_msgs/TrainingProgress`` and ``safe_pe_msgs/CheckpointInfo``; :class:`TrainingResult`
is what ``train()`` returns. No SB3, torch or rclpy import here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from safe_pe_training.safe_vec_env import SafetyBatch

__all__ = ["CheckpointEvent", "ProgressInfo", "TrainingHooks", "TrainingResult"]


@dataclass
class ProgressInfo:
    """Training progress (fields of ``safe_pe_msgs/TrainingProgress``).

    :param run_dir: absolute run directory
    :param run_type: "A".."D" or "custom"
    :param phase: current phase (0-based)
    :param num_phases: planned phases
    :param training_role: role learning now
    :param total_steps: learner env-steps so far (all phases)
    :param total_budget: planned env-steps
    :param fps: env-steps per second since the previous report
    :param capture_rate: capture rate of the episodes finished in this phase so far
    :param mean_episode_length: mean length of those episodes
    :param intervention_rate: filter intervention rate over the tracker's recent window
    :param backup_rate: backup rate over the recent window
    :param violations: body-level learner violations so far
    :param last_checkpoint: newest checkpoint weights path ("" before the first)
    :param done: the run finished (or was stopped)
    """

    run_dir: str
    run_type: str
    phase: int
    num_phases: int
    training_role: str
    total_steps: int
    total_budget: int
    fps: float
    capture_rate: float
    mean_episode_length: float
    intervention_rate: float
    backup_rate: float
    violations: int
    last_checkpoint: str
    done: bool = False


@dataclass
class CheckpointEvent:
    """A new checkpoint (fields of ``safe_pe_msgs/CheckpointInfo``).

    :param role: role of the policy
    :param path: weights file (``.pt``; metadata beside it as ``.json``)
    :param phase: phase that produced it
    :param total_steps: env-steps when written
    :param run_type: run type
    """

    role: str
    path: str
    phase: int
    total_steps: int
    run_type: str


@dataclass
class TrainingHooks:
    """Optional callbacks of :class:`SelfPlayTrainer` (called from the training thread).

    :param on_progress: ``fn(ProgressInfo)``: at the start, every ``progress_interval_s``
        (one clock for the whole run, not reset by phases), after every phase and at the end
    :param on_safety_batch: ``fn(SafetyBatch, phase)``, every env step (N statuses)
    :param on_checkpoint: ``fn(CheckpointEvent)``, after each checkpoint is complete on disk
    :param on_phase_end: ``fn(dict)`` with the phase record (as in ``metrics/phases.json``)
    :param should_stop: ``fn() -> bool`` polled every env step; True ends training early
    :param progress_interval_s: period of ``on_progress`` [s]
    :param progress_clock: ``fn() -> float`` [s], the clock that period is measured on
        (default ``time.monotonic``; tests pass a fake one so reports do not depend on speed)
    """

    on_progress: Callable[[ProgressInfo], None] | None = None
    on_safety_batch: Callable[[SafetyBatch, int], None] | None = None
    on_checkpoint: Callable[[CheckpointEvent], None] | None = None
    on_phase_end: Callable[[dict[str, Any]], None] | None = None
    should_stop: Callable[[], bool] | None = None
    progress_interval_s: float = 1.0
    progress_clock: Callable[[], float] = time.monotonic


@dataclass
class TrainingResult:
    """What :meth:`SelfPlayTrainer.train` returns.

    :param run_dir: the run directory
    :param phases_completed: phases finished (including earlier runs when resumed)
    :param total_steps: learner env-steps
    :param stopped_early: ended by ``stop()``/``should_stop`` before the budget
    :param steps_per_second: env-steps per second of this process's training time
    :param safety: lifetime tracker summary
    :param safety_targets: safety-target check
    :param last_checkpoints: newest weights path per role
    :param phases: per-phase records
    """

    run_dir: str
    phases_completed: int
    total_steps: int
    stopped_early: bool
    steps_per_second: float
    safety: dict[str, Any]
    safety_targets: dict[str, Any]
    last_checkpoints: dict[str, str | None]
    phases: list[dict[str, Any]] = field(default_factory=list)
