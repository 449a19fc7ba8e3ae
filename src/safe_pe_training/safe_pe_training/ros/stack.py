"""``safe_pe_stack``: the live graph of ``sim_training.launch.py`` without ROS 2 ``launch``.

The runner supervises two child processes, like ``ros2 launch`` does (prefixed log lines,
Ctrl-C/SIGTERM forwarded with escalation, the exit code of the first failing child;
:mod:`safe_pe_training.ros.supervisor`):

- ``[graph]``: the simulator, a safety filter and a policy node per robot, the metrics node
  (and the recorder with ``--record``), composed in one process with a
  ``MultiThreadedExecutor`` from the same node specs and parameter files as the launch file
  (:mod:`safe_pe_training.ros.graph_spec`);
- ``[training]``: the training node, at a lower scheduling priority (``training_nice``), so
  training never holds the live graph's interpreter lock nor takes its cores.

It trains for ``--budget`` steps while the live graph plays the latest checkpoints through
the filters, prints progress, and ends (training finished + ``linger``, ``--duration``
seconds of play reached, Ctrl-C/SIGTERM, or a child failed). The live graph stops in this
order: policy nodes stop (zero nominal command), filters publish one zero ``cmd_vel`` to
their robot and stop, the metrics node writes the safety-target report, the simulator stops;
training stops at its next safe point. The report (``safety_report.md``/``.json``), the training plots and
an episode GIF of the trained pair are in the run directory.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import rclpy
from rclpy.executors import Executor, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from safe_pe_cbf.ros_common.executors import make_executor
from safe_pe_cbf.ros_common.shutdown import ShutdownGuard, drain_executor

from safe_pe_training.ros.graph_spec import NodeSpec, recorder_spec, sim_training_graph
from safe_pe_training.ros.report import REPORT_JSON, REPORT_MARKDOWN, link_figures
from safe_pe_training.ros.stack_config import StackConfig, StackConfigError, config_from_args
from safe_pe_training.ros.supervisor import ChildSpec, Supervisor, SupervisorError, supervise

GRAPH, TRAINING = 'graph', 'training'   # the child processes (log prefixes)


def graph_for(config: StackConfig) -> list[NodeSpec]:
    """The node specs of the stack (the training node left out when ``budget`` is 0).

    :param config: validated stack configuration.
    """
    specs = sim_training_graph(
        robots=config.robots, run_type=config.run_type, budget=config.budget,
        run_dir=config.run_dir, training_config=config.training_config, seed=config.seed,
        use_sim_time=config.use_sim_time, files=config.params,
        steps_per_phase=config.steps_per_phase, num_envs=config.num_envs,
        real_time_factor=config.real_time_factor, training_nice=config.training_nice)
    if config.record:
        specs.append(recorder_spec(config.record, use_sim_time=config.use_sim_time))
    if config.budget == 0:
        specs = [s for s in specs if s.key != 'training']
        for spec in specs:
            if spec.key == 'metrics':
                spec.overrides['use_training'] = False
    return specs


def instantiate(spec: NodeSpec, context: Any = None) -> Node:
    """Create one node of a spec in this process (same arguments as its own process).

    :param spec: the node.
    :param context: rclpy context (default: the global one).
    """
    module = importlib.import_module(spec.node.module)
    cls = getattr(module, spec.node.class_name, None)
    if cls is None:
        raise ImportError(f'{spec.node.module} has no node class {spec.node.class_name!r}')
    kwargs: dict[str, Any] = {'cli_args': spec.ros_args()}
    if context is not None:
        kwargs['context'] = context
    return cls(**kwargs)


class Stack:
    """The live graph in this process (the ``[graph]`` child): create, spin, stop in order.

    :param config: validated stack configuration.
    :param quiet: no progress output.
    """

    def __init__(self, config: StackConfig, quiet: bool = False) -> None:
        self.config = config
        self.quiet = quiet
        self.specs = [s for s in graph_for(config) if s.key != TRAINING]
        self.nodes: dict[str, Node] = {}
        self.stop_event = threading.Event()
        self.reason = ''
        self.executor: Executor | None = None
        self._spin_thread: threading.Thread | None = None
        self._switch_interval: float | None = None  # the interpreter's, restored at shutdown
        self.run_dir = Path(next(s.overrides['report_dir'] for s in self.specs
                                 if s.key == 'metrics'))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Create every node (simulator first) and start spinning in a background thread."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(self.config.gil_switch_interval)
        order = ['recorder', 'sim', 'metrics']
        order += [s.key for s in self.specs if s.key.startswith('filter/')]
        order += [s.key for s in self.specs if s.key.startswith('policy/')]
        by_key = {s.key: s for s in self.specs}
        for key in order:
            if key in by_key:
                self.nodes[key] = instantiate(by_key[key])
        if self.config.executor == 'events':
            # C++ callback queue: no wait set rebuilt in Python per callback (that cost the
            # multi-threaded executor most of this process's CPU at twice real time)
            self.executor = make_executor('events', rclpy.get_default_context())
        else:
            self.executor = MultiThreadedExecutor(num_threads=4)
        for node in self.nodes.values():
            self.executor.add_node(node)
        gc.collect()
        gc.freeze()   # what exists now is never scanned again: shorter collector pauses
        self._spin_thread = threading.Thread(target=self._spin, name='stack-executor',
                                             daemon=True)
        self._spin_thread.start()

    def _spin(self) -> None:
        assert self.executor is not None
        while rclpy.ok() and not self.stop_event.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception as exc:  # noqa: BLE001 - report and stop the graph safely
                self.reason = f'executor error: {type(exc).__name__}: {exc}'
                self.stop_event.set()

    def request_stop(self, reason: str) -> None:
        """Ask the main loop to stop (thread- and signal-safe).

        :param reason: why, for the log.
        """
        if not self.reason:
            self.reason = reason
        self.stop_event.set()

    def playing(self) -> bool:
        """Whether the loop has closed once: the simulator stepped and the metrics node has a
        status of every robot's filter (so every node has run its first callback: on a cold
        cache that is where the kernels compile, seconds each)."""
        sim, metrics = self.nodes.get('sim'), self.nodes.get('metrics')
        if sim is not None and sim.total_steps == 0:
            return False
        if metrics is None:
            return True
        report = metrics.report()
        return all(report.source(robot).steps > 0 for robot in self.config.robots)

    def run(self) -> None:
        """Block until a stop request (a signal from the runner, or an executor error) or,
        with a ``duration``, until the graph has played that long, counted from
        :meth:`playing`: compiling on a cold cache does not eat into it."""
        start = time.monotonic()
        playing_since: float | None = None
        last_print = 0.0
        while not self.stop_event.wait(0.2):
            now = time.monotonic()
            if playing_since is None and self.playing():
                playing_since = now
            if (self.config.duration and playing_since is not None
                    and now - playing_since >= self.config.duration):
                self.request_stop(f'duration of {self.config.duration:g} s reached')
                break
            if not self.quiet and now - last_print >= 2.0:
                last_print = now
                self._say(self.progress_line(now - start))

    def progress_line(self, elapsed: float) -> str:
        """One line of progress: training (from its progress topic) and live safety metrics."""
        parts = [f'[{elapsed:6.1f} s]']
        sim = self.nodes.get('sim')
        if sim is not None and self.config.use_sim_time:
            parts.append(f'sim time {sim.total_steps * sim.settings.env.dt:.1f} s')
        metrics = self.nodes.get('metrics')
        progress = getattr(metrics, 'latest_progress', None)
        if progress is not None:
            parts.append(f'phase {progress.phase + 1}/{progress.num_phases} '
                         f'({progress.training_role}) {progress.total_steps}/'
                         f'{progress.total_budget} steps, {progress.fps:.0f} fps, capture '
                         f'{progress.capture_rate:.0%}, train violations {progress.violations}')
        elif self.config.budget:
            parts.append('training: starting (torch/SB3, the envs)')
        if metrics is not None:
            report = metrics.report()
            for source in self.config.robots:
                m = report.source(source)
                parts.append(f'{source}: {m.steps} steps, {m.violations} viol, '
                             f'interv {m.intervention_rate:.0%}')
            parts.append(f'episodes {report.episodes.episodes}')
        for key in self.config.robots:
            policy = self.nodes.get(f'policy/{key}')
            if policy is not None:
                parts.append(f'{key} <- {policy.driver_description}')
        return ' | '.join(parts)

    def shutdown(self) -> None:
        """Stop in the safe order; zero commands go to every robot before the graph ends."""
        for key, node in self.nodes.items():
            if key.startswith('policy/'):
                node.stop()                  # timer off + one zero nominal command
        time.sleep(0.3)                      # nominal commands in flight reach the filters
        stopped = set()
        for key, node in self.nodes.items():
            if key.startswith('filter/'):
                if self.executor is not None:
                    self.executor.remove_node(node)   # no late nominal after the zero
                    time.sleep(0.1)                   # a callback already running ends
                try:  # its goodbye: one zero cmd_vel, acknowledged by the sim (still running)
                    node.destroy_node()
                except Exception as exc:  # noqa: BLE001 - keep stopping the others
                    self._say(f'{key}: error while stopping: {exc}')
                stopped.add(key)
        self.stop_event.set()
        if self._spin_thread is not None:
            self._spin_thread.join(timeout=10.0)
        if self.executor is not None:
            drain_executor(self.executor)    # no node is destroyed under a running callback
        for key in reversed([k for k in self.nodes if k not in stopped]):
            try:
                if self.executor is not None and self.nodes[key] in self.executor.get_nodes():
                    self.executor.remove_node(self.nodes[key])
                self.nodes[key].destroy_node()  # metrics writes its final report here
            except Exception as exc:  # noqa: BLE001
                self._say(f'{key}: error while stopping: {exc}')
        if self.executor is not None:
            self.executor.shutdown(timeout_sec=2.0)
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)


def warm_up_policies(robots: Sequence[str]) -> str:
    """Load the shipped policy of each role once and act with it, before the graph starts.

    The first checkpoint a policy node hot-loads otherwise imports torch and
    stable-baselines3 and compiles the batched safety filter inside the running graph:
    seconds without commands (the filters' nominal timeouts). Done here, a reload later
    only reads the weights.

    :param robots: the roles of the live graph.
    :return: what was warmed up, or why not (the graph runs either way).
    """
    try:  # the policy stack (numba kernels; SB3 + torch on load): the graph child only
        from safe_pe_training.ros.policy_core import CheckpointDriver

        for role in robots:
            driver = CheckpointDriver('pretrained', role)
            x_min, x_max, y_min, y_max = driver.env_config.arena.bounds()
            cx, cy = (x_min + x_max) / 2.0, (y_min + y_max) / 2.0
            driver.command({
                'poses': np.array([[cx - 2.0, cy, 0.0], [cx + 2.0, cy, 0.0]]),
                'velocities': np.zeros((2, 2)), 'obstacles': np.array([[cx, cy + 3.0, 0.5]]),
                'arena': (x_min, x_max, y_min, y_max), 'limits': np.ones((2, 3)),
                'episode_id': 0, 'step': 0, 'dt': driver.env_config.dt})
    except Exception as exc:  # noqa: BLE001 - only a warm-up: the live graph runs anyway
        return f'policy warm-up skipped ({type(exc).__name__}: {exc})'
    return f'policy stack warmed up (torch, the batched filter) for {", ".join(robots)}'


def run_graph(config: StackConfig, quiet: bool, ros_args: Sequence[str]) -> int:
    """The ``[graph]`` child: the live graph until SIGINT/SIGTERM (from the runner).

    :param config: validated stack configuration.
    :param quiet: no progress lines.
    :param ros_args: ROS arguments for rclpy (``--ros-args ...``).
    :return: exit code: 0 stopped cleanly, 1 executor error, 2 invalid node parameters.
    """
    stack = Stack(config, quiet=quiet)
    code = 0
    with ShutdownGuard(on_request=stack.request_stop):
        rclpy.init(args=['safe_pe_stack', *ros_args],
                   signal_handler_options=SignalHandlerOptions.NO)
        try:
            if config.budget:   # the policies will hot-load checkpoints
                stack._say(warm_up_policies(config.robots))
            stack.start()
            stack.run()
        except (StackConfigError, FileNotFoundError, ValueError, ImportError) as exc:
            print(f'safe_pe_stack: {exc}', file=sys.stderr, flush=True)
            code = 2
        finally:
            stack._say(f'stopping ({stack.reason or "error"})')
            stack.shutdown()
            rclpy.try_shutdown()
    if stack.reason.startswith('executor error'):
        print(f'safe_pe_stack: {stack.reason}', file=sys.stderr, flush=True)
        code = code or 1
    recorder = stack.nodes.get('recorder')
    if recorder is not None and recorder.record_error:
        print(f'safe_pe_stack: recording failed ({recorder.record_error}); the live graph ran '
              'without it', file=sys.stderr, flush=True)
    elif recorder is not None:
        print(f'bag: {recorder.path} (ros2 bag info {recorder.path})', flush=True)
    return code


def children(config: StackConfig, argv: Sequence[str],
             ros_args: Sequence[str]) -> list[ChildSpec]:
    """The runner's child processes: the live graph, and training unless ``budget`` is 0.

    :param config: validated stack configuration.
    :param argv: the runner's own options (the graph child parses the same ones).
    :param ros_args: ROS arguments (``--ros-args ...``) given to both children.
    """
    python = sys.executable
    # The graph leads a session of its own: with Linux autogroups its CPU share is then its
    # own, not shared with training (which also runs at a lower niceness).
    out = [ChildSpec(GRAPH, [python, '-m', 'safe_pe_training.ros.stack', *argv,
                             '--part', GRAPH, *ros_args], own_session=True)]
    training = next((s for s in graph_for(config) if s.key == TRAINING), None)
    if training is not None:
        extra = list(ros_args[1:]) if ros_args else []   # after our own --ros-args
        out.append(ChildSpec(TRAINING, training.command(python) + extra, nice=training.nice))
    return out


class _Runner:
    """The runner's stop condition and messages (the graph ended, training finished +
    linger)."""

    def __init__(self, config: StackConfig, run_dir: Path, quiet: bool) -> None:
        self.config = config
        self.run_dir = run_dir
        self.quiet = quiet
        self.trained_at: float | None = None

    def check(self, sup: Supervisor) -> str:
        now = time.monotonic()
        if sup.returncode(GRAPH) == 0:   # also the end of --duration, which the graph counts
            return 'the live graph ended'
        if sup.returncode(TRAINING) == 0:
            if self.trained_at is None:
                self.trained_at = now
                self.say(f'training finished; the live graph keeps playing for '
                         f'{self.config.linger:g} s')
            if now - self.trained_at >= self.config.linger:
                return 'training finished'
        return ''

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f'[safe_pe_stack] {text}', flush=True)


def _final_league(runner: _Runner, episodes: int) -> None:
    """Play what the run trained and the shipped pair against the league's references."""
    # heavy (torch, matplotlib): imported only once training has finished
    from safe_pe_training.league_report import final_league, format_final_league

    runner.say(f'league: {episodes} episodes per pairing on the fixed evaluation seeds')
    try:
        result = final_league(runner.run_dir, episodes)
    except Exception as exc:  # noqa: BLE001 - the run's report and checkpoints are safe
        print(f'safe_pe_stack: the final league failed ({type(exc).__name__}: {exc}); '
              f'rerun it with safe_pe_train league --run-dir {runner.run_dir}',
              file=sys.stderr)
        return
    print(format_final_league(result), flush=True)


def _episode_gifs(runner: _Runner) -> None:
    """An episode GIF of the run's trained pair (if it wrote checkpoints) and of the
    shipped pair, in ``<run_dir>/plots``."""
    # heavy (torch, matplotlib): imported only once the children have ended
    from safe_pe_training.episode_gif import GifError, write_pair_gifs

    try:
        written = write_pair_gifs(runner.run_dir)
    except GifError as exc:
        print(f'safe_pe_stack: no episode GIF: {exc}', file=sys.stderr, flush=True)
        return
    for gif in written:
        runner.say(f'episode GIF: {gif.path} ({gif.frames} frames, {gif.summary})')


def main(args: Sequence[str] | None = None) -> None:
    """Run the stack; exit code 0 when it ran to completion or was stopped with Ctrl-C, the
    code of the first failing child otherwise (training: 1 failed, 2 invalid parameters),
    2 for an invalid configuration.

    :param args: command-line options (default: ``sys.argv[1:]``); ROS arguments after
        ``--ros-args`` are passed to rclpy in both child processes.
    """
    argv = list(sys.argv[1:] if args is None else args)
    ros_args: list[str] = []
    if '--ros-args' in argv:
        ros_args = argv[argv.index('--ros-args'):]
        argv = argv[:argv.index('--ros-args')]
    try:
        config, options = config_from_args(argv)
        specs = graph_for(config)
    except (StackConfigError, FileNotFoundError, ValueError) as exc:
        print(f'safe_pe_stack: {exc}', file=sys.stderr)
        raise SystemExit(2) from exc
    if options.part == GRAPH:
        raise SystemExit(run_graph(config, options.quiet, ros_args))
    run_dir = Path(next(s.overrides['report_dir'] for s in specs if s.key == 'metrics'))
    runner = _Runner(config, run_dir, options.quiet)
    runner.say(f'run {config.run_type}, budget {config.budget} steps, run dir {run_dir}, '
               f'real-time factor {config.real_time_factor:g}, training at nice '
               f'+{config.training_nice}')
    sup = Supervisor(children(config, argv, ros_args), sigterm_grace=config.stop_grace)
    try:
        reason, code = supervise(sup, runner.check,
                                 on_stop=lambda r: runner.say(f'stopping ({r})'))
    except SupervisorError as exc:
        print(f'safe_pe_stack: {exc}', file=sys.stderr)
        raise SystemExit(1) from exc
    failure = sup.first_failure()
    if failure is not None:
        print(f'safe_pe_stack: the {failure[0]} process failed (exit code {failure[1]}); '
              f'see its [{failure[0]}] lines above', file=sys.stderr, flush=True)
    report_md = run_dir / REPORT_MARKDOWN
    trained = code == 0 and reason == 'training finished'
    if trained and config.league_episodes:
        _final_league(runner, config.league_episodes)
    if code == 0 and config.episode_gif and config.budget:
        _episode_gifs(runner)
    if report_md.is_file():
        link_figures(run_dir)   # the plots and GIFs, linked from the report
        print(report_md.read_text(), flush=True)
        runner.say(f'report: {report_md} and {run_dir / REPORT_JSON}')
    plots = sorted((run_dir / 'plots').glob('*.png'))
    if plots:
        runner.say(f'plots: {", ".join(p.name for p in plots)} in {run_dir / "plots"}')
    raise SystemExit(code)


if __name__ == '__main__':
    main()
