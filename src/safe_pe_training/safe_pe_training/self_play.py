"""Alternating safe self-play with SB3 PPO: short phases, opponent pools, collapse checks.

Programmatic use (the ROS training node and the CLI both do this)::

    trainer = SelfPlayTrainer(config, run_dir="runs/A_demo", hooks=TrainingHooks(
        on_progress=print, on_checkpoint=announce, on_safety_batch=publish_statuses))
    result = trainer.train()            # blocks; trainer.stop() from another thread ends it
    trainer = SelfPlayTrainer.resume("runs/A_demo")   # continue a killed run

Phase ``k`` trains one role (``self_play.first_role`` first, then alternating) for
``self_play.steps_per_phase`` learner env-steps (rounded up to whole PPO rollouts) against an
opponent drawn from the other role's pool (newest snapshot with ``latest_opponent_prob``,
otherwise uniform over the pool, which is seeded with scripted baselines). After each phase:
the safety tracker's ``end_phase()``, an evaluation of the trained role against scripted
baselines (capture rates per phase, collapse flag), a checkpoint (weights + JSON), the resume
state and the metrics files. Plots are written at the end.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure as configure_logger
from stable_baselines3.common.policies import ActorCriticPolicy
from safe_pe_sim.observations import OBS_NAMES
from safe_pe_sim.roles import ROLES
from torch import nn

from safe_pe_training.action_mapping import BOX_OBS_DIM, CommandLimits
from safe_pe_training.artifacts import CONFIG_FILE, RUN_STATE_FILE, RunDir, atomic_write_csv, \
    atomic_write_json, default_run_dir
from safe_pe_training.beta_policy import CBFBetaPolicy
from safe_pe_training.checkpoints import CheckpointMetadata, DeployedPolicy, load_policy, \
    load_state_dict_file, read_metadata, save_checkpoint
from safe_pe_training.config import SafeSelfPlayConfig
from safe_pe_training.evaluation import evaluate_checkpoints, play_match
from safe_pe_training.factories import make_env_config
from safe_pe_training.hooks import CheckpointEvent, ProgressInfo, TrainingHooks, TrainingResult
from safe_pe_training.league import REFERENCES, check_training_seed, league_rows, \
    play_references
from safe_pe_training.opponent_pool import OpponentPool, PoolEntry
from safe_pe_training.opponents import MixtureOpponent, Opponent, PolicyOpponent, \
    baseline_opponent
from safe_pe_training.safe_vec_env import SafeLearnerVecEnv, SafetyBatch, make_core, \
    make_filters
from safe_pe_training.safety_callback import SafetyMetricsCallback
from safe_pe_training.safety_tracker import SafetyMetricsTracker
from safe_pe_training.training_state import ResumeError, load_train_state, load_tracker, \
    read_run_state, save_train_state, save_tracker, write_run_state

__all__ = ["CheckpointEvent", "EVAL_BASELINES", "POOL_BASELINES", "ProgressInfo",
           "SelfPlayTrainer", "TrainingHooks", "TrainingResult", "config_hash",
           "evaluate_checkpoints", "make_ppo", "ppo_policy_kwargs"]

POOL_BASELINES = {"pursuer": REFERENCES["evader"], "evader": REFERENCES["pursuer"]}
"""Scripted players each role's opponent pool starts with (they stay in the pool): the
league's references, so a learner always meets the players it is measured against."""
EVAL_BASELINES = REFERENCES
"""Scripted opponents each role is evaluated against after the phases that train it (the
league's references, :data:`safe_pe_training.league.REFERENCES`)."""


def config_hash(config: SafeSelfPlayConfig) -> str:
    """SHA-256 of the config's canonical JSON (budget excluded, so a resume may extend it).

    :param config: training config
    """
    data = config.to_dict()
    data.pop("total_timesteps", None)
    if data["safety_targets"].get("require_steps") is True:
        # a field older runs did not have: left out at its default so they still resume
        del data["safety_targets"]["require_steps"]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class _PhaseCallback(BaseCallback):
    """Progress bar, progress hook, stop flag and progress rows for one learn() call."""

    def __init__(self, trainer: "SelfPlayTrainer", role: str, phase: int) -> None:
        super().__init__()
        self.trainer = trainer
        self.role = role
        self.phase = phase
        self.stopped = False
        self._rollout_t0 = time.monotonic()
        self._rollout_steps0 = 0

    def _on_step(self) -> bool:
        trainer = self.trainer
        n = self.training_env.num_envs
        trainer._steps_this_phase += n
        if trainer._pbar is not None:
            trainer._pbar.update(n)
        trainer._report_progress(self.role, self.phase)
        if trainer._stop_requested():
            self.stopped = True
            return False
        return True

    def _on_rollout_start(self) -> None:
        self._rollout_t0 = time.monotonic()
        self._rollout_steps0 = self.trainer._steps_this_phase

    def _on_rollout_end(self) -> None:
        trainer = self.trainer
        buffer = self.model.ep_info_buffer
        recent = trainer.tracker.get_recent_metrics()
        dt = max(time.monotonic() - self._rollout_t0, 1e-9)
        row = {
            "total_steps": trainer.total_steps + trainer._steps_this_phase,
            "phase": self.phase,
            "role": self.role,
            "ep_rew_mean": float(np.mean([e["r"] for e in buffer])) if buffer else None,
            "ep_len_mean": float(np.mean([e["l"] for e in buffer])) if buffer else None,
            "fps": (trainer._steps_this_phase - self._rollout_steps0) / dt,
            "intervention_rate": recent.intervention_rate if recent.steps else None,
            "backup_rate": recent.backup_rate if recent.steps else None,
            "violation_rate": recent.violation_rate if recent.steps else None,
            "wall_time_s": round(time.time() - trainer._wall_t0, 3),
        }
        trainer.progress_rows.append(row)
        self.logger.record("selfplay/phase", self.phase)
        self.logger.record("selfplay/rollout_fps", row["fps"])


def ppo_policy_kwargs(config: SafeSelfPlayConfig) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` of a run's PPO models (MLP sizes, tanh; for the CBF-Beta policy
    the entropy is differentiated only when ``ppo.ent_coef`` weighs it).

    :param config: the run's configuration
    """
    arch = list(config.ppo.net_arch)
    kwargs: dict[str, Any] = {"net_arch": {"pi": arch, "vf": arch}, "activation_fn": nn.Tanh}
    if config.use_beta_policy:
        kwargs["entropy_gradient"] = config.ppo.ent_coef != 0.0
    return kwargs


def make_ppo(config: SafeSelfPlayConfig, env: Any, seed: int) -> PPO:
    """A PPO model of the run on ``env``: its policy class (CBF-Beta or Gaussian), PPO preset
    and :func:`ppo_policy_kwargs`, on ``config.device``.

    :param config: the run's configuration
    :param env: the learner's vectorised env
    :param seed: seed of the model
    """
    p = config.ppo
    policy = CBFBetaPolicy if config.use_beta_policy else ActorCriticPolicy
    return PPO(policy, env, seed=seed, device=config.device, verbose=0,
               policy_kwargs=ppo_policy_kwargs(config), n_steps=p.n_steps,
               batch_size=p.batch_size, learning_rate=p.learning_rate, n_epochs=p.n_epochs,
               gamma=p.gamma, gae_lambda=p.gae_lambda, clip_range=p.clip_range,
               ent_coef=p.ent_coef, vf_coef=p.vf_coef, max_grad_norm=p.max_grad_norm)


class SelfPlayTrainer:
    """Safe alternating self-play of pursuer and evader (SB3 PPO, CPU, 1 torch thread).

    :param config: training config (validated here)
    :param run_dir: run directory (default ``runs/<run_type>_<timestamp>``); created
    :param hooks: optional callbacks (progress, safety statuses, checkpoints, stop)
    :param progress_bar: show a tqdm progress bar on stderr
    :param runs_base: parent folder of the default run directory
    """

    def __init__(self, config: SafeSelfPlayConfig, run_dir: str | Path | RunDir | None = None,
                 hooks: TrainingHooks | None = None, progress_bar: bool = True,
                 runs_base: str | Path = "runs") -> None:
        config.validate()
        self.config = config
        if isinstance(run_dir, RunDir):
            self.run = run_dir
        elif run_dir is None:
            self.run = default_run_dir(config.run_type, runs_base)
        else:
            self.run = RunDir(Path(run_dir))
        self.run = RunDir(self.run.root.resolve())
        self.hooks = hooks or TrainingHooks()
        self.progress_bar = progress_bar
        self.config_hash = config_hash(config)
        self.env_config = make_env_config(config)
        self.limits = {role: CommandLimits.from_robot(robot)
                       for role, robot in zip(ROLES, self.env_config.robots())}
        self.tracker = SafetyMetricsTracker(targets=config.safety_targets)
        self.pools = {role: OpponentPool(role, config.self_play.opponent_pool_size,
                                         config.self_play.latest_opponent_prob)
                      for role in ROLES}
        for role in ROLES:
            for name in POOL_BASELINES[role]:
                self.pools[role].add_baseline(name)
        self.rng = np.random.default_rng(config.seed)
        self.next_phase = 0
        self.total_steps = 0
        self.latest: dict[str, str | None] = {role: None for role in ROLES}
        self.phases: list[dict[str, Any]] = []
        self.progress_rows: list[dict[str, Any]] = []
        self.best_win: dict[str, float] = {role: float("nan") for role in ROLES}
        self.resumed_from: int | None = None
        self._stop_event = threading.Event()
        self._steps_this_phase = 0
        self._pbar: Any = None
        self._wall_t0 = time.time()
        # progress clock: one for the whole run (never reset per phase, so progress is
        # published every progress_interval_s whatever the phase length)
        self._report_time = self.hooks.progress_clock()
        self._report_steps = 0
        self._policy_cache: dict[str, DeployedPolicy] = {}
        self.envs: dict[str, SafeLearnerVecEnv] = {}
        self.models: dict[str, PPO] = {}
        per_env = config.self_play.steps_per_phase / config.num_envs
        if per_env < self.env_config.max_steps:
            warnings.warn(
                f"self_play.steps_per_phase / num_envs = {per_env:.0f} steps per game is shorter "
                f"than an episode (max_steps {self.env_config.max_steps}): episodes that reach "
                "the step limit never finish within a phase (each phase starts fresh episodes "
                "against its new opponent); raise steps_per_phase or lower num_envs",
                stacklevel=2)

    # ------------------------------------------------------------------ construction
    @classmethod
    def resume(cls, run_dir: str | Path, hooks: TrainingHooks | None = None,
               total_timesteps: int | None = None, progress_bar: bool = True
               ) -> "SelfPlayTrainer":
        """Continue a run from its last completed phase.

        :param run_dir: the run directory (with ``config.yaml`` and ``run_state.json``)
        :param hooks: optional callbacks
        :param total_timesteps: new budget (default: the run's own)
        :param progress_bar: show a progress bar
        :raises ResumeError: missing/inconsistent state
        """
        run = RunDir(Path(run_dir).resolve())
        if not run.config_path.exists():
            raise ResumeError(f"{run.root} has no {run.config_path.name}: not a run directory")
        config = SafeSelfPlayConfig.from_yaml(run.config_path)
        if total_timesteps is not None:
            config.total_timesteps = int(total_timesteps)
        trainer = cls(config, run, hooks, progress_bar)
        trainer._load_state()
        return trainer

    def _listener(self, role: str) -> Callable[[SafetyBatch], None] | None:
        hook = self.hooks.on_safety_batch
        if hook is None:
            return None
        return lambda batch: hook(batch, self._current_phase)

    def _build(self) -> None:
        """Create both roles' envs and PPO models (once)."""
        if self.models:
            return
        cfg = self.config
        th.set_num_threads(cfg.torch_threads)
        filters = make_filters(cfg, self.env_config)
        for k, role in enumerate(ROLES):
            core = make_core(cfg, self.env_config, cfg.num_envs, cfg.seed + 100_003 * k)
            env = SafeLearnerVecEnv(core, role, self._baseline(POOL_BASELINES[_other(role)][0],
                                                               _other(role)),
                                    filters, use_beta=cfg.use_beta_policy,
                                    safety_listener=self._listener(role))
            model = make_ppo(cfg, env, cfg.seed + k)
            model.set_logger(configure_logger(str(self.run.tensorboard / role),
                                              ["tensorboard"]))
            expected = self.checkpoint_metadata(role, 0).obs_dim
            if env.obs_dim != expected:
                raise RuntimeError(
                    f"observation layout mismatch: env gives {env.obs_dim} entries, checkpoint "
                    f"metadata describes {expected} (safe_pe_sim OBS_NAMES out of sync?)")
            self.envs[role] = env
            self.models[role] = model
        self._current_phase = self.next_phase

    # ------------------------------------------------------------------ opponents
    def _baseline(self, name: str, role: str) -> Opponent:
        return baseline_opponent(name, self.env_config, role, seed=self.config.seed)

    def _opponent(self, entry: PoolEntry, role: str) -> Opponent:
        if entry.kind == "baseline":
            return self._baseline(entry.ref, role)
        policy = self._policy_cache.get(entry.ref)
        if policy is None:
            policy = load_policy(entry.ref, deterministic=False)
            if len(self._policy_cache) >= 16:
                self._policy_cache.pop(next(iter(self._policy_cache)))
            self._policy_cache[entry.ref] = policy
        return PolicyOpponent(policy, label=f"{role}:{entry.label}")

    # ------------------------------------------------------------------ metadata
    def checkpoint_metadata(self, role: str, phase: int) -> CheckpointMetadata:
        """Metadata of the checkpoint ``role`` writes after ``phase``.

        :param role: role
        :param phase: phase index
        """

        names = list(OBS_NAMES)
        layout: dict[str, Any] = {"sim_obs_dim": len(names), "names": names}
        if self.config.use_beta_policy:
            layout["names"] = names + ["box_v_lo", "box_v_hi", "box_omega_lo", "box_omega_hi"]
            layout["safe_box"] = ("last 4 entries: safe action box [v_lo, v_hi, omega_lo, "
                                  "omega_hi] normalised like the Gaussian action: "
                                  "v' = 2 (v - v_min) / (v_max - v_min) - 1, w' = w / omega_max")
        obs_dim = len(names) + (BOX_OBS_DIM if self.config.use_beta_policy else 0)
        arch = list(self.config.ppo.net_arch)
        return CheckpointMetadata(
            role=role, policy_type="beta" if self.config.use_beta_policy else "gaussian",
            obs_dim=obs_dim, action_dim=2, limits=self.limits[role].to_dict(),
            net_arch={"pi": arch, "vf": arch}, activation="tanh", obs_layout=layout,
            phase=phase, total_steps=self.total_steps, run_type=self.config.run_type,
            config_hash=self.config_hash,
            extra={"env_profile": self.config.env.profile, "dt": float(self.env_config.dt)})

    def deployed(self, role: str, deterministic: bool = True) -> DeployedPolicy:
        """The current in-memory policy of ``role`` as a :class:`DeployedPolicy`.

        :param role: role
        :param deterministic: act with the mode
        """
        self._build()
        meta = self.checkpoint_metadata(role, self.next_phase)
        return DeployedPolicy(self.models[role].policy, meta, deterministic=deterministic)

    # ------------------------------------------------------------------ progress
    def progress_info(self, role: str, phase: int, fps: float, done: bool = False
                      ) -> ProgressInfo:
        """Current :class:`ProgressInfo`.

        :param role: training role
        :param phase: phase
        :param fps: env-steps per second to report
        :param done: run finished
        """
        stats = self.envs[role].stats if role in self.envs else None
        recent = self.tracker.get_recent_metrics()
        last = self.latest.get(role) or next((p for p in self.latest.values() if p), None)
        return ProgressInfo(
            run_dir=str(self.run.root), run_type=self.config.run_type, phase=phase,
            num_phases=self.config.num_phases, training_role=role,
            total_steps=self.total_steps + self._steps_this_phase,
            total_budget=self.config.total_timesteps, fps=float(fps),
            capture_rate=stats.capture_rate if stats else float("nan"),
            mean_episode_length=stats.mean_length if stats else float("nan"),
            intervention_rate=recent.intervention_rate if recent.steps else 0.0,
            backup_rate=recent.backup_rate if recent.steps else 0.0,
            violations=int(self.tracker.get_summary().violations),
            last_checkpoint=str(last) if last else "", done=done)

    def _report_progress(self, role: str, phase: int, force: bool = False) -> None:
        """Call ``hooks.on_progress`` when ``progress_interval_s`` has passed since the last
        report (the run's one clock), or now with ``force`` (start of training, end of every
        phase: these reports do not depend on timing).

        :param role: training role
        :param phase: phase
        :param force: report whatever the clock says
        """
        hook = self.hooks.on_progress
        if hook is None:
            return
        now = self.hooks.progress_clock()
        elapsed = now - self._report_time
        if not force and elapsed < self.hooks.progress_interval_s:
            return
        steps = self.total_steps + self._steps_this_phase
        fps = (steps - self._report_steps) / elapsed if elapsed > 0 else 0.0
        hook(self.progress_info(role, phase, fps))
        self._report_time = now
        self._report_steps = steps

    def _stop_requested(self) -> bool:
        if self.hooks.should_stop is not None and self.hooks.should_stop():
            self._stop_event.set()
        return self._stop_event.is_set()

    def stop(self) -> None:
        """Ask the training loop to stop at the next env step (thread-safe)."""
        self._stop_event.set()

    # ------------------------------------------------------------------ evaluation
    def evaluate_role(self, role: str, phase: int) -> dict[str, dict[str, Any]]:
        """Play the current ``role`` policy against the league's references
        (:func:`safe_pe_training.league.play_references`: fixed evaluation seeds that
        training never uses, the same games every phase).

        :param role: role to evaluate
        :param phase: phase index (recorded only)
        :return: ``{"<role> vs <reference>": LeagueEntry.to_dict()}``
        """
        n = self.config.self_play.eval_episodes
        if n <= 0:
            return {}
        learner = PolicyOpponent(self.deployed(role, deterministic=True), label=f"{role}:current")
        entries = play_references(learner, role, self.config, n, env_config=self.env_config,
                                  filters=make_filters(self.config, self.env_config))
        return {f"{role} vs {e.reference.removeprefix('baseline:')}": e.to_dict()
                for e in entries}

    def _win_rate(self, role: str, evals: dict[str, dict[str, Any]]) -> float:
        rates = [m["capture_rate"] for m in evals.values() if m["episodes"]]
        if not rates:
            return float("nan")
        capture = float(np.mean(rates))
        return capture if role == "pursuer" else 1.0 - capture

    # ------------------------------------------------------------------ main loop
    def train(self) -> TrainingResult:
        """Run (or continue) self-play until the budget is spent or :meth:`stop` is called."""
        if self.resumed_from is None and self.next_phase == 0 and not self.phases:
            self._archive_previous_run()
        self.run.create()
        self.config.to_yaml(self.run.config_path)
        self._build()
        cfg = self.config
        num_phases = cfg.num_phases
        stopped = False
        t_train = 0.0
        steps_at_start = self.total_steps
        if self.progress_bar:
            from tqdm import tqdm  # only for the optional progress bar

            self._pbar = tqdm(total=cfg.total_timesteps, initial=self.total_steps,
                              unit="step", desc=f"run {cfg.run_type}", dynamic_ncols=True)
        self._report_time = self.hooks.progress_clock()
        self._report_steps = self.total_steps
        if self.next_phase < num_phases:
            self._report_progress(self._role_of(self.next_phase), self.next_phase, force=True)
        try:
            for phase in range(self.next_phase, num_phases):
                remaining = cfg.total_timesteps - self.total_steps
                if remaining <= 0:
                    break
                if self._stop_requested():
                    stopped = True
                    break
                t0 = time.monotonic()
                record, stopped = self._run_phase(phase, min(cfg.self_play.steps_per_phase,
                                                             remaining))
                t_train += time.monotonic() - t0
                if stopped:
                    break
                self._report_progress(record["role"], phase, force=True)
                if self.hooks.on_phase_end is not None:
                    self.hooks.on_phase_end(record)
        finally:
            if self._pbar is not None:
                self._pbar.close()
                self._pbar = None
        steps_done = self.total_steps - steps_at_start
        fps = steps_done / t_train if t_train > 0 else float("nan")
        result = self._finish(stopped, fps)
        if self.hooks.on_progress is not None:
            role = self.phases[-1]["role"] if self.phases else cfg.self_play.first_role
            self.hooks.on_progress(self.progress_info(role, max(self.next_phase - 1, 0), fps,
                                                      done=True))
        return result

    def _archive_previous_run(self) -> Path | None:
        """Move an earlier run's files out of the way before a fresh start in its directory.

        Nothing is deleted: ``config.yaml``, ``run_state.json``, ``checkpoints/``, ``state/``,
        ``metrics/``, ``plots/`` and ``tensorboard/`` go to ``previous_<timestamp>/``.
        """
        root = self.run.root
        names = (CONFIG_FILE, RUN_STATE_FILE, "checkpoints", "state", "metrics", "plots",
                 "tensorboard")
        if not (root / RUN_STATE_FILE).exists() and not any(root.glob("checkpoints/*.json")):
            return None
        archive = root / f"previous_{time.strftime('%Y%m%d-%H%M%S')}"
        suffix = 1
        while archive.exists():
            archive = root / f"previous_{time.strftime('%Y%m%d-%H%M%S')}_{suffix}"
            suffix += 1
        archive.mkdir(parents=True)
        for name in names:
            if (root / name).exists():
                (root / name).rename(archive / name)
        warnings.warn(f"{root} held an earlier run; moved it to {archive} (use --resume to "
                      "continue a run instead)", stacklevel=3)
        return archive

    def _role_of(self, phase: int) -> str:
        first = self.config.self_play.first_role
        return first if phase % 2 == 0 else _other(first)

    def _run_phase(self, phase: int, steps: int) -> tuple[dict[str, Any], bool]:
        cfg = self.config
        role = self._role_of(phase)
        other = _other(role)
        self._current_phase = phase
        entries, shares = self.pools[other].mixture(self.rng, cfg.self_play.mixture_size,
                                                    cfg.self_play.reference_prob)
        env, model = self.envs[role], self.models[role]
        env_seed = check_training_seed(cfg.seed + 7919 * (phase + 1), "phase env seed")
        mixture = MixtureOpponent([self._opponent(e, other) for e in entries], shares,
                                  cfg.num_envs, np.random.default_rng(env_seed),
                                  labels=[e.ref for e in entries])
        env.set_opponent(mixture)
        env.seed(env_seed)
        model._last_obs = None  # new opponent: start fresh episodes (reset with the seed)
        if model.ep_info_buffer is not None:
            model.ep_info_buffer.clear()  # episode stats of this phase's opponent only
        th.manual_seed(cfg.seed * 1_000_003 + phase)
        env.pop_stats()
        self._steps_this_phase = 0
        callback = _PhaseCallback(self, role, phase)
        safety_cb = SafetyMetricsCallback(self.tracker)
        t0 = time.monotonic()
        steps_before = model.num_timesteps
        model.learn(steps, callback=CallbackList([safety_cb, callback]),
                    reset_num_timesteps=False, progress_bar=False)
        elapsed = time.monotonic() - t0
        done_steps = model.num_timesteps - steps_before
        if callback.stopped:
            self.total_steps += done_steps
            self._steps_this_phase = 0
            return {}, True
        self.total_steps += done_steps
        self._steps_this_phase = 0
        stats = env.pop_stats()
        for ref, (wins, games) in mixture.tally.items():
            self.pools[other].record(ref, wins, games)
        phase_safety = self.tracker.end_phase()
        evals = self.evaluate_role(role, phase)
        for key, entry in evals.items():
            model.logger.record(f"league/{key.replace(' ', '_')}", entry["capture_rate"])
        if evals:
            model.logger.dump(model.num_timesteps)
        win = self._win_rate(role, evals)
        best = self.best_win[role]
        threshold = cfg.self_play.collapse_threshold
        collapse = bool(np.isfinite(win) and np.isfinite(best) and best >= threshold
                        and win < threshold)
        if np.isfinite(win):
            self.best_win[role] = win if not np.isfinite(best) else max(best, win)
        train_capture = stats.capture_rate
        one_sided = bool(stats.episodes >= 4 and np.isfinite(train_capture)
                         and (train_capture <= threshold or train_capture >= 1 - threshold))
        ckpt = self._save_checkpoint(role, phase)
        summary = phase_safety.summary.to_dict()
        record = {
            "phase": phase, "role": role,
            "opponent": "+".join(e.label for e in entries),
            "opponents": {e.label: {"share": float(w), "learner_wins": mixture.tally[e.ref][0],
                                    "episodes": mixture.tally[e.ref][1]}
                          for e, w in zip(entries, shares)},
            "steps": int(done_steps), "total_steps": int(self.total_steps),
            "seconds": round(elapsed, 3), "fps": done_steps / max(elapsed, 1e-9),
            "episodes": stats.episodes, "train_capture_rate": _nan_to_none(train_capture),
            "train_mean_length": _nan_to_none(stats.mean_length),
            "train_mean_return": _nan_to_none(stats.mean_return),
            "eval": evals, "eval_win_rate": _nan_to_none(win), "collapse": collapse,
            "one_sided": one_sided, "safety": summary,
            "margin_histogram": list(phase_safety.margin_histogram),
            "checkpoint": ckpt, "resumed": self.resumed_from is not None,
        }
        if collapse:
            record["collapse_reason"] = (
                f"{role} win rate vs scripted baselines fell to {win:.3f} < {threshold} "
                f"(best so far {best:.3f})")
        self.phases.append(record)
        self.next_phase = phase + 1
        self._save_state(phase)
        self._write_metrics()
        if self.hooks.on_checkpoint is not None:
            self.hooks.on_checkpoint(CheckpointEvent(role, ckpt, phase, self.total_steps,
                                                     cfg.run_type))
        return record, False

    # ------------------------------------------------------------------ persistence
    def _save_checkpoint(self, role: str, phase: int) -> str:
        stem = self.run.checkpoint_stem(role, phase)
        model = self.models[role]
        weights = save_checkpoint(model.policy, stem, self.checkpoint_metadata(role, phase))
        save_train_state(model.policy.optimizer, stem.with_suffix(".train.pt"))
        self.pools[role].add_checkpoint(str(weights), phase)
        self.latest[role] = str(weights)
        return str(weights)

    def _save_state(self, phase: int) -> None:
        state_dir = self.run.root / "state"
        tracker_path = state_dir / f"tracker_phase{phase:04d}.json"
        save_tracker(self.tracker, tracker_path)
        write_run_state(self.run.state_path, {
            "config_hash": self.config_hash,
            "next_phase": self.next_phase,
            "total_steps": self.total_steps,
            "num_timesteps": {r: int(m.num_timesteps) for r, m in self.models.items()},
            "latest": self.latest,
            "pools": {r: p.to_dict() for r, p in self.pools.items()},
            "phases": self.phases,
            "progress": self.progress_rows,
            "best_win": {r: _nan_to_none(v) for r, v in self.best_win.items()},
            "rng": self.rng.bit_generator.state,
            "tracker": str(tracker_path.relative_to(self.run.root)),
        })
        for old in sorted(state_dir.glob("tracker_phase*.json"))[:-2]:
            old.unlink(missing_ok=True)

    def _load_state(self) -> None:
        state = read_run_state(self.run.state_path)
        if state.get("config_hash") != self.config_hash:
            raise ResumeError(
                f"{self.run.config_path} no longer matches the run state (config changed since "
                "the run started); resume needs the original config")
        self._build()
        for role in ROLES:
            path = state["latest"].get(role)
            if path is None:
                continue
            meta = read_metadata(path)
            policy = self.models[role].policy
            policy.load_state_dict(load_state_dict_file(Path(path).with_suffix(".pt"),
                                                        meta.weights_sha256))
            train_path = Path(path).with_suffix(".train.pt")
            policy.optimizer.load_state_dict(load_train_state(train_path)["optimizer"])
            self.models[role].num_timesteps = int(state["num_timesteps"][role])
        self.next_phase = int(state["next_phase"])
        self.total_steps = int(state["total_steps"])
        self.latest = dict(state["latest"])
        self.pools = {r: OpponentPool.from_dict(d) for r, d in state["pools"].items()}
        self.phases = list(state["phases"])
        self.progress_rows = list(state["progress"])
        self.best_win = {r: (float("nan") if v is None else float(v))
                         for r, v in state["best_win"].items()}
        self.rng.bit_generator.state = state["rng"]
        self.tracker = load_tracker(self.run.root / state["tracker"])
        self.resumed_from = self.next_phase
        self._current_phase = self.next_phase

    def _write_metrics(self) -> None:
        metrics = self.run.metrics
        atomic_write_json(metrics / "phases.json", self.phases)
        flat = []
        for rec in self.phases:
            row = {k: v for k, v in rec.items()
                   if k not in ("eval", "safety", "margin_histogram")}
            for key, match in rec["eval"].items():
                row[f"eval[{key}].capture_rate"] = match["capture_rate"]
            for key in ("intervention_rate", "backup_rate", "violation_rate",
                        "feasibility_rate", "exact_rate", "violations", "steps", "mean_min_h"):
                row[f"safety.{key}"] = rec["safety"].get(key)
            flat.append(row)
        atomic_write_csv(metrics / "phases.csv", flat)
        atomic_write_csv(metrics / "progress.csv", self.progress_rows)
        league = league_rows(self.phases)
        atomic_write_json(metrics / "league.json", league)
        atomic_write_csv(metrics / "league.csv", league)

    def _finish(self, stopped: bool, fps: float) -> TrainingResult:
        summary = self.tracker.get_summary().to_dict()
        targets = self.tracker.check_safety_targets().to_dict()
        result = TrainingResult(
            run_dir=str(self.run.root), phases_completed=self.next_phase,
            total_steps=self.total_steps, stopped_early=stopped, steps_per_second=fps,
            safety=summary, safety_targets=targets, last_checkpoints=dict(self.latest),
            phases=self.phases)
        atomic_write_json(self.run.metrics / "summary.json", {
            **asdict(result), "run_type": self.config.run_type,
            "config_hash": self.config_hash, "resumed_from": self.resumed_from,
            "num_phases_planned": self.config.num_phases})
        if self.phases:
            self._write_metrics()
            self.write_plots()
        return result

    def write_plots(self) -> list[Path]:
        """Write the PNG plots (curves, capture rates, safety rates, margins, an episode)."""
        from safe_pe_training.plots import write_run_plots  # matplotlib: only when plotting

        written = write_run_plots(self.run.plots, self.phases, self.progress_rows,
                                  list(self.tracker.margin_edges))
        episode = self._sample_episode_plot()
        if episode is not None:
            written.append(episode)
        return written

    def _sample_episode_plot(self) -> Path | None:
        """One filtered episode of the current pursuer vs the current evader, as a PNG."""
        # matplotlib: only when plotting
        from safe_pe_sim.rendering import plot_episode
        from safe_pe_training.plots import save_figure

        players = [PolicyOpponent(self.deployed(r), label=r) for r in ROLES]
        core = make_core(self.config, self.env_config, 1, seed=self.config.seed + 424_242)
        match = play_match(core, players[0], players[1], 1,
                           make_filters(self.config, self.env_config),
                           seed=self.config.seed + 424_242, record_game=0)
        if match.trajectory is None or len(match.trajectory) < 2:
            return None
        fig = plot_episode(self.env_config, match.obstacles, match.trajectory,
                           title=f"run {self.config.run_type}: final pursuer vs final evader "
                                 f"({len(match.trajectory) - 1} steps)")
        return save_figure(fig, self.run.plots / "sample_episode.png")


def _other(role: str) -> str:
    return "evader" if role == "pursuer" else "pursuer"


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
