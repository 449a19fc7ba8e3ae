"""`SafetyMetricsCallback`: the SB3 callback that feeds a `SafetyMetricsTracker`.

A plain `BaseCallback` subclass; importing this module imports stable-baselines3 (the
tracker itself, `safe_pe_training.safety_tracker`, does not).
"""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback

from safe_pe_training.safety_tracker import SafetyMetricsTracker, log_safety_metrics, \
    record_infos

__all__ = ["SafetyMetricsCallback"]


class SafetyMetricsCallback(BaseCallback):
    """Feeds `info["safety"]` of every env step into a tracker; logs rates per rollout.

    Logged through SB3's logger (TensorBoard etc.) at the end of each rollout, over the
    tracker's recent window: `safety/intervention_rate`, `safety/backup_rate`,
    `safety/violation_rate`, `safety/mean_cbf_margin`, `safety/feasibility_rate`,
    `safety/exact_rate`, plus lifetime `safety/total_violations` and `safety/total_steps`.

    :param tracker: tracker to record into (a new one if None); shared with the caller.
    :param info_key: key of the per-env safety dict in `infos`.
    :param verbose: SB3 verbosity.
    """

    def __init__(self, tracker: SafetyMetricsTracker | None = None,
                 info_key: str = "safety", verbose: int = 0) -> None:
        super().__init__(verbose)
        self.tracker = tracker if tracker is not None else SafetyMetricsTracker()
        self.info_key = info_key

    def _on_step(self) -> bool:
        infos = self.locals.get("infos") or ()
        record_infos(self.tracker, infos, self.info_key)
        return True

    def _on_rollout_end(self) -> None:
        log_safety_metrics(self.logger, self.tracker)
