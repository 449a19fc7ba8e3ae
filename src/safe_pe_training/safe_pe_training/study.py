"""The comparison study: every (run, seed) trained as its own process, measured, compared.

A study is a folder ``OUT`` holding ``study.json`` (what was asked: runs, seeds, budget,
episodes, every run's config), ``configs/<run>.yaml``, one run directory per task
``<run>_s<seed>/`` (trained by ``python -m safe_pe_training.cli train``), ``logs/``, the
cross-play games ``crossplay/seed<k>.json`` and the results page ``results.md`` with
``figures/``.

Execution (:func:`run_study`): each (run, seed) is a task that trains (a subprocess, one
thread per math library), then measures the final policies against the league's references
(:mod:`safe_pe_training.study_measures`, another subprocess). Tasks run ``workers`` at a time
on this machine, or as Ray tasks (``use_ray``; ``ray_address`` for an existing cluster whose
nodes share ``OUT`` and have safe_pe installed). A task that is already done (its summary and
measures exist for the same config) is skipped, so re-running a study resumes it; a task
that fails is retried once (from its last checkpoint) and otherwise reported with its log
tail while the others go on. When every run of a seed is done, a cross-play task plays every
final pursuer against every final evader of that seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from safe_pe_sim.roles import ROLES

from safe_pe_training.artifacts import atomic_write_json, read_json
from safe_pe_training.config import ConfigError, SafeSelfPlayConfig, get_run_configs
from safe_pe_training.study_stats import crossplay_world

__all__ = ["PRESET_RUNS", "STUDY_FORMAT", "StudyError", "StudySpec", "StudyTask",
           "TaskOutcome", "StudyResult", "build_run_configs", "plan_tasks", "crossplay_task",
           "prepare_study", "run_task", "run_study", "task_done", "check_ray_address",
           "config_digest", "measures_key", "crossplay_world", "final_checkpoints",
           "weights_fingerprint", "crossplay_key"]

STUDY_FORMAT = "safe_pe_study/1"
MEASURES_FORMAT = "safe_pe_study_measures/1"
CROSSPLAY_FORMAT = "safe_pe_study_crossplay/1"
PRESET_RUNS = ("A", "B", "C", "D", "B_obstacles")
"""Runs a study knows by name; any other run is a ``SafeSelfPlayConfig`` YAML file."""
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "NUMBA_NUM_THREADS")
MAX_ATTEMPTS = 2
LOG_TAIL_LINES = 30


class StudyError(ConfigError):
    """The study cannot start or continue as asked (the message says what to do)."""


@dataclass
class StudySpec:
    """What a study compares and at which budget.

    :param runs: run names: ``A``-``D``, ``B_obstacles`` or paths of config YAML files
    :param seeds: training seeds, distinct
    :param budget: learner env-steps per task
    :param steps_per_phase: self-play phase length (None: the configs')
    :param num_envs: parallel games per task (None: the configs')
    :param league_episodes: episodes per reference in each task's final league
    :param crossplay_episodes: episodes per cross-play pairing
    :param base_config: YAML file the presets are built from (None: the defaults)
    """

    runs: list[str]
    seeds: list[int]
    budget: int = 400_000
    steps_per_phase: int | None = None
    num_envs: int | None = None
    league_episodes: int = 100
    crossplay_episodes: int = 50
    base_config: str | None = None


@dataclass(frozen=True)
class StudyTask:
    """One unit of work (picklable: it travels to process/Ray workers).

    :param name: ``<run>_s<seed>`` (train) or ``crossplay_s<seed>``
    :param kind: ``"train"`` or ``"crossplay"``
    :param out: the study folder (absolute)
    :param run: run name (train tasks)
    :param seed: the seed
    :param league_episodes: episodes per reference (train tasks)
    :param crossplay_episodes: episodes per pairing (cross-play tasks)
    """

    name: str
    kind: str
    out: str
    run: str | None
    seed: int
    league_episodes: int = 0
    crossplay_episodes: int = 0


@dataclass
class TaskOutcome:
    """What one attempt of a task did.

    :param name: task name
    :param ok: finished with its results written
    :param attempt: 1 or 2
    :param skipped: nothing to do (found done in the folder)
    :param returncode: exit status of the failing subprocess (None: none failed)
    :param seconds: wall time of this attempt [s]
    :param log: the task's log file
    :param log_tail: last lines of the log when it failed
    """

    name: str
    ok: bool
    attempt: int
    skipped: bool = False
    returncode: int | None = None
    seconds: float = 0.0
    log: str = ""
    log_tail: str = ""


@dataclass
class StudyResult:
    """Outcome of :func:`run_study`.

    :param out: the study folder
    :param outcomes: last outcome per task name
    :param failed: names of tasks that failed twice
    :param report: the results page (None: not written)
    """

    out: Path
    outcomes: dict[str, TaskOutcome] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    report: Path | None = None


# ---------------------------------------------------------------------- spec -> configs
def _run_name(run: str) -> str:
    if run in PRESET_RUNS:
        return run
    stem = Path(run).stem
    return stem[4:] if stem.startswith("run_") and len(stem) > 4 else stem


def build_run_configs(spec: StudySpec) -> dict[str, SafeSelfPlayConfig]:
    """Every run's validated config (seed 0), with the study's budget and overrides.

    :param spec: the study
    :raises StudyError: unknown run, duplicate run/seed, bad budget or config
    """
    if not spec.runs:
        raise StudyError("a study needs at least one run (--runs A B ...)")
    if not spec.seeds:
        raise StudyError("a study needs at least one seed (--seeds 0 1 2)")
    dupes = sorted({s for s in spec.seeds if spec.seeds.count(s) > 1})
    if dupes:
        raise StudyError(f"seed(s) {dupes} listed twice in --seeds: give each seed once")
    if any(s < 0 for s in spec.seeds):
        raise StudyError(f"seeds must be >= 0, got {spec.seeds}")
    for name, value in (("budget", spec.budget), ("league_episodes", spec.league_episodes),
                        ("crossplay_episodes", spec.crossplay_episodes)):
        if value < 1:
            raise StudyError(f"{name} must be >= 1, got {value}")
    base = SafeSelfPlayConfig.from_yaml(spec.base_config) if spec.base_config else None
    presets = get_run_configs(base)
    obstacles = presets["B"].copy()
    obstacles.run_type = "custom"
    obstacles.obstacles.enabled = True
    presets["B_obstacles"] = obstacles
    configs: dict[str, SafeSelfPlayConfig] = {}
    for run in spec.runs:
        name = _run_name(run)
        if run in presets:
            config = presets[run].copy()
        elif run.endswith((".yaml", ".yml")) and os.path.isfile(run):
            config = SafeSelfPlayConfig.from_yaml(run)
        else:
            raise StudyError(f"unknown run {run!r}: use one of {list(PRESET_RUNS)} or the path "
                             "of a SafeSelfPlayConfig YAML file")
        if name in configs:
            raise StudyError(f"run {name!r} is listed twice in --runs")
        config.seed = 0
        config.total_timesteps = spec.budget
        if spec.steps_per_phase is not None:
            config.self_play.steps_per_phase = spec.steps_per_phase
        if spec.num_envs is not None:
            config.num_envs = spec.num_envs
        try:
            for seed in spec.seeds:  # every task's seed must be a valid training seed
                config.seed = seed
                config.validate(deep=False)
            config.seed = 0
            configs[name] = config.validate()
        except ConfigError as exc:
            raise StudyError(f"run {name}: {exc}") from exc
    return configs


def _spec_record(spec: StudySpec, configs: dict[str, SafeSelfPlayConfig]) -> dict[str, Any]:
    return {"format": STUDY_FORMAT, "runs": list(configs), "seeds": list(spec.seeds),
            "budget": spec.budget, "league_episodes": spec.league_episodes,
            "crossplay_episodes": spec.crossplay_episodes,
            "configs": {name: c.to_dict() for name, c in configs.items()}}


def plan_tasks(out: Path, record: dict[str, Any]) -> list[StudyTask]:
    """The train tasks of a study record, seed-major (every run of seed 0 first).

    :param out: the study folder
    :param record: ``study.json`` content
    """
    return [StudyTask(f"{run}_s{seed}", "train", str(out), run, seed,
                      league_episodes=record["league_episodes"])
            for seed in record["seeds"] for run in record["runs"]]


def crossplay_task(out: Path, record: dict[str, Any], seed: int) -> StudyTask:
    """The cross-play task of one seed.

    :param out: the study folder
    :param record: ``study.json`` content
    :param seed: the seed
    """
    return StudyTask(f"crossplay_s{seed}", "crossplay", str(out), None, seed,
                     crossplay_episodes=record["crossplay_episodes"])


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when a Ray cluster address does not answer (``ray.init`` would hang).

    :param address: ``host:port`` or ``ray://host:port`` (``auto`` is not checked)
    :param timeout_s: TCP connect timeout [s]
    :raises StudyError: malformed or unreachable address
    """
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise StudyError(f"Ray address {address!r} is not host:port (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise StudyError(f"Ray cluster at {address} is unreachable ({exc}): start it with "
                         "`ray start --head` on the head node, or fix --ray-address") from exc


def prepare_study(spec: StudySpec, out: str | Path) -> tuple[Path, dict[str, Any]]:
    """Validate the study and create (or re-open) its folder; write nothing on error.

    :param spec: the study
    :param out: the study folder (new, empty, or holding this same study)
    :return: ``(absolute folder, study record)``
    :raises StudyError: invalid study, or a folder holding something else
    """
    configs = build_run_configs(spec)
    record = _spec_record(spec, configs)
    out = Path(out).resolve()
    spec_path = out / "study.json"
    if spec_path.exists():
        try:
            old = read_json(spec_path)
        except ValueError as exc:
            raise StudyError(f"{spec_path} is unreadable ({exc}); use another --out") from exc
        if old != json.loads(json.dumps(record)):
            diff = sorted(k for k in record if old.get(k) != record[k]) if isinstance(
                old, dict) else ["format"]
            raise StudyError(f"{out} holds another study (different {', '.join(diff)}): "
                             "re-run with that study's arguments to resume it, or choose a new "
                             "--out")
    elif out.exists() and not out.is_dir():
        raise StudyError(f"{out} is a file: --out must be a folder")
    elif out.exists() and any(out.iterdir()):
        raise StudyError(f"{out} is not empty and holds no study.json: choose a new or empty "
                         "--out (nothing was written)")
    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    for name, config in configs.items():
        path = out / "configs" / f"{name}.yaml"
        if not path.exists():
            config.to_yaml(path)
    if not spec_path.exists():
        atomic_write_json(spec_path, record)
    return out, record


# ---------------------------------------------------------------------- one task
def _task_config(task: StudyTask) -> SafeSelfPlayConfig:
    config = SafeSelfPlayConfig.from_yaml(Path(task.out) / "configs" / f"{task.run}.yaml")
    config.seed = task.seed
    return config


def _trained(run_dir: Path, config: SafeSelfPlayConfig) -> bool:
    summary = run_dir / "metrics" / "summary.json"
    if not summary.exists() or not (run_dir / "config.yaml").exists():
        return False
    try:
        done = read_json(summary)
        same = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml").to_dict() == \
            config.to_dict()
    except (ValueError, ConfigError):
        return False
    return same and not done.get("stopped_early") and \
        int(done.get("total_steps", 0)) >= config.total_timesteps


def config_digest(config: SafeSelfPlayConfig) -> str:
    """SHA-256 of a config's canonical JSON (budget included).

    :param config: the config
    """
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()


def measures_key(config: SafeSelfPlayConfig, episodes: int, run_dir: Path) -> dict[str, Any]:
    """What ``study_measures.json`` must hold to count: the same config, episode count and
    final weights.

    :param config: the task's config
    :param episodes: league episodes per reference
    :param run_dir: the trained run directory
    """
    return {"format": MEASURES_FORMAT, "config_digest": config_digest(config),
            "league_episodes": episodes, "weights": weights_fingerprint(run_dir)}


def final_checkpoints(run_dir: Path) -> dict[str, str | None]:
    """A trained run's latest checkpoint per role (from ``run_state.json``).

    :param run_dir: the run directory
    """
    state = read_json(run_dir / "run_state.json")
    return {role: state["latest"].get(role) for role in ROLES}


def weights_fingerprint(run_dir: Path) -> dict[str, str | None] | None:
    """SHA-256 of each role's final weights (from the checkpoints' metadata; None: untrained).

    :param run_dir: a run directory
    """
    if not (run_dir / "run_state.json").exists():
        return None
    out: dict[str, str | None] = {}
    for role, path in final_checkpoints(run_dir).items():
        meta = Path(path).with_suffix(".json") if path else None
        out[role] = read_json(meta).get("weights_sha256") if meta and meta.exists() else None
    return out


def crossplay_key(out: Path, seed: int, episodes: int) -> dict[str, Any]:
    """What ``crossplay/seed<k>.json`` must hold to count: the same world, episodes and
    final checkpoints.

    :param out: the study folder
    :param seed: the seed
    :param episodes: episodes per pairing
    """
    record = read_json(out / "study.json")
    players = {}
    for run in record["runs"]:
        run_dir = out / f"{run}_s{seed}"
        players[run] = final_checkpoints(run_dir) if (run_dir / "run_state.json").exists() \
            else None
    return {"format": CROSSPLAY_FORMAT, "world": crossplay_world(record), "episodes": episodes,
            "players": players, "weights": {run: weights_fingerprint(out / f"{run}_s{seed}")
                                            for run in record["runs"]}}


def _measured(path: Path, want: dict[str, Any]) -> bool:
    if not path.exists():
        return False
    try:
        data = read_json(path)
    except ValueError:
        return False
    return isinstance(data, dict) and all(data.get(k) == v for k, v in want.items())


def task_done(task: StudyTask) -> bool:
    """Whether a task's results are in the folder already (for the same config).

    :param task: the task
    """
    out = Path(task.out)
    if task.kind == "crossplay":
        return _measured(out / "crossplay" / f"seed{task.seed}.json",
                         crossplay_key(out, task.seed, task.crossplay_episodes))
    run_dir = out / task.name
    config = _task_config(task)
    return _trained(run_dir, config) and _measured(
        run_dir / "study_measures.json", measures_key(config, task.league_episodes, run_dir))


def _commands(task: StudyTask) -> list[list[str]]:
    py, out = sys.executable, Path(task.out)
    if task.kind == "crossplay":
        return [[py, "-m", "safe_pe_training.study_measures", "crossplay", "--out", str(out),
                 "--seed", str(task.seed), "--episodes", str(task.crossplay_episodes)]]
    run_dir = out / task.name
    config = _task_config(task)
    measure = [py, "-m", "safe_pe_training.study_measures", "measure", "--run-dir",
               str(run_dir), "--episodes", str(task.league_episodes)]
    if _trained(run_dir, config):
        return [measure]
    if (run_dir / "run_state.json").exists() and (run_dir / "config.yaml").exists() and \
            SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml").to_dict() == config.to_dict():
        train = [py, "-m", "safe_pe_training.cli", "train", "--resume", "--run-dir",
                 str(run_dir), "--no-progress"]
    else:
        train = [py, "-m", "safe_pe_training.cli", "train", "--config",
                 str(out / "configs" / f"{task.run}.yaml"), "--seed", str(task.seed),
                 "--run-dir", str(run_dir), "--no-progress"]
    return [train, measure]


def _tail(path: Path, start: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(start)
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


def run_task(task: StudyTask, attempt: int = 1) -> TaskOutcome:
    """Do what is left of a task, each step a subprocess (a failed step is an outcome with
    its log tail, not an exception).

    Train tasks: train (fresh, or resumed from the last checkpoint of an earlier attempt),
    then measure. Cross-play tasks: play the pairings. Output goes to
    ``OUT/logs/<task>.log``; the train wall time is added to ``<run_dir>/study_task.json``.

    :param task: the task
    :param attempt: attempt number (1 or 2), for the log
    """
    t0 = time.monotonic()
    log = Path(task.out) / "logs" / f"{task.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if task_done(task):
        return TaskOutcome(task.name, True, attempt, skipped=True, log=str(log))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env.update({k: "1" for k in THREAD_ENV})
    start = log.stat().st_size if log.exists() else 0
    for cmd in _commands(task):
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"== attempt {attempt}: {' '.join(cmd)}\n")
            fh.flush()
            c0 = time.monotonic()
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL, check=False)
            seconds = time.monotonic() - c0
            fh.write(f"== exit status {proc.returncode} after {seconds:.1f} s\n")
        if cmd[3] == "train":
            _add_train_seconds(Path(task.out) / task.name, seconds, proc.returncode == 0)
        if proc.returncode != 0:
            return TaskOutcome(task.name, False, attempt, returncode=proc.returncode,
                               seconds=time.monotonic() - t0, log=str(log),
                               log_tail=_tail(log, start))
    return TaskOutcome(task.name, True, attempt, seconds=time.monotonic() - t0, log=str(log))


def _add_train_seconds(run_dir: Path, seconds: float, ok: bool) -> None:
    path = run_dir / "study_task.json"
    data = read_json(path) if path.exists() else {"train_seconds": 0.0, "train_attempts": 0}
    data["train_seconds"] = float(data["train_seconds"]) + seconds
    data["train_attempts"] = int(data["train_attempts"]) + 1
    data["failed_attempts"] = int(data.get("failed_attempts", 0)) + (0 if ok else 1)
    atomic_write_json(path, data)


# ---------------------------------------------------------------------- executors
class _LocalPool:
    """``workers`` tasks at a time, each driving its own subprocesses."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="study")

    def submit(self, task: StudyTask, attempt: int) -> Future:
        return self._pool.submit(run_task, task, attempt)

    def wait_one(self, handles: list[Any]) -> list[tuple[Any, TaskOutcome | BaseException]]:
        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return [(h, h.exception() or h.result()) for h in done]

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class _RayPool:
    """The same :func:`run_task` as Ray tasks (one CPU each, no Ray-level retries)."""

    def __init__(self, address: str | None) -> None:
        try:
            import ray  # optional: only for --ray
        except ImportError as exc:
            raise StudyError("--ray needs the ray package: pip install ray (it is pinned in "
                             "requirements.txt; scripts/setup.sh installs it)") from exc
        self._ray = ray
        self._own = not ray.is_initialized()
        if self._own:
            if address is not None:
                check_ray_address(address)
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_task)

    def submit(self, task: StudyTask, attempt: int) -> Any:
        return self._remote.remote(task, attempt)

    def wait_one(self, handles: list[Any]) -> list[tuple[Any, TaskOutcome | BaseException]]:
        done, _ = self._ray.wait(handles, num_returns=1)
        out: list[tuple[Any, TaskOutcome | BaseException]] = []
        for ref in done:
            try:
                out.append((ref, self._ray.get(ref)))
            except Exception as exc:  # a crashed Ray worker: counted as a failed attempt
                out.append((ref, exc))
        return out

    def close(self) -> None:
        if self._own:
            self._ray.shutdown()


# ---------------------------------------------------------------------- the study
def run_study(spec: StudySpec, out: str | Path, workers: int | None = None,
              use_ray: bool = False, ray_address: str | None = None,
              stream: TextIO | None = sys.stderr, report: bool = True,
              command: str | None = None,
              on_event: Callable[[str, TaskOutcome], None] | None = None) -> StudyResult:
    """Run (or resume) a study: train + measure every (run, seed), cross-play, report.

    :param spec: the study
    :param out: the study folder
    :param workers: tasks at once (default: this machine's cores; with Ray the cluster's CPUs)
    :param use_ray: run the tasks as Ray tasks (a local instance unless ``ray_address``,
        or the one this process already initialised)
    :param ray_address: address of an existing Ray cluster (implies ``use_ray``)
    :param stream: where the progress lines go (None: nowhere)
    :param report: write ``results.md`` and the figures at the end
    :param command: the command line shown on the results page
    :param on_event: called with ``("done"|"failed"|"retry", outcome)`` per finished attempt
    :raises StudyError: invalid study, a folder holding another study, Ray unavailable
    """
    if workers is not None and workers < 1:
        raise StudyError(f"--workers must be >= 1, got {workers}")
    use_ray = use_ray or ray_address is not None
    build_run_configs(spec)  # validate before anything else
    if use_ray and ray_address is not None:
        check_ray_address(ray_address)
    if use_ray:
        try:
            import ray  # noqa: F401 - optional: fail early when --ray cannot work
        except ImportError as exc:
            raise StudyError("--ray needs the ray package: pip install ray") from exc
    out, record = prepare_study(spec, out)
    pool: Any = _RayPool(ray_address) if use_ray else _LocalPool(workers or os.cpu_count() or 1)
    result = StudyResult(out)
    pending = plan_tasks(out, record)
    total = len(pending) + len(record["seeds"])
    runs_left = {seed: set(record["runs"]) for seed in record["seeds"]}
    in_flight: dict[Any, tuple[StudyTask, int]] = {}
    # submit no more than can run, so that "running" is exact (Ray: --workers caps it)
    limit = min(workers, pool.workers) if use_ray and workers else pool.workers

    def say(text: str) -> None:
        if stream is not None:
            print(f"[study] {text}", file=stream, flush=True)

    def status() -> None:
        done = sum(o.ok for o in result.outcomes.values())
        say(f"done {done}/{total}  running {len(in_flight)}  failed {len(result.failed)}")

    try:
        while pending or in_flight:
            while pending and len(in_flight) < limit:
                task = pending.pop(0)
                attempt = 2 if task.name in result.outcomes else 1
                in_flight[pool.submit(task, attempt)] = (task, attempt)
            status()
            for handle, got in pool.wait_one(list(in_flight)):
                task, attempt = in_flight.pop(handle)
                outcome = got if isinstance(got, TaskOutcome) else TaskOutcome(
                    task.name, False, attempt, log_tail=f"{type(got).__name__}: {got}")
                result.outcomes[task.name] = outcome
                if outcome.ok:
                    say(f"{task.name}: {'already done' if outcome.skipped else 'done'} "
                        f"({outcome.seconds:.0f} s)")
                    event = "done"
                    if task.kind == "train":
                        runs_left[task.seed].discard(task.run)
                        if not runs_left[task.seed]:
                            pending.append(crossplay_task(out, record, task.seed))
                elif attempt < MAX_ATTEMPTS:
                    say(f"{task.name}: attempt {attempt} FAILED (exit {outcome.returncode}); "
                        f"retrying. Log {outcome.log}, last lines:\n{outcome.log_tail}")
                    event = "retry"
                    pending.insert(0, task)
                else:
                    say(f"{task.name}: FAILED twice (exit {outcome.returncode}); the others go "
                        f"on. Log {outcome.log}, last lines:\n{outcome.log_tail}")
                    event = "failed"
                    result.failed.append(task.name)
                if on_event is not None:
                    on_event(event, outcome)
        status()
    finally:
        pool.close()
    atomic_write_json(out / "study_outcomes.json",
                      {name: asdict(o) for name, o in result.outcomes.items()})
    if report:
        from safe_pe_training.study_report import write_report  # matplotlib: reports only

        result.report = write_report(out, command)
        say(f"results: {result.report}")
    return result

