"""``safe_pe_stack``: the live graph of ``sim_training.launch.py`` in one process.

Composes the simulator, a safety filter per robot, a policy node per robot, the training
node and the metrics node with a ``MultiThreadedExecutor``, from the same node specs and
parameter files as the launch file (:mod:`safe_pe_training.ros.graph_spec`). Works without
ROS 2 ``launch``.

It trains for ``--budget`` steps while the live graph plays the latest checkpoints through
the filters, prints progress, and ends (training finished + ``linger``, ``--duration``
reached, or Ctrl-C/SIGTERM) in this order: policy nodes stop (zero nominal command),
filters publish one zero ``cmd_vel`` to their robot and stop, training stops at its next
safe point, the metrics node writes the safety-target report, the simulator stops. The report
(``safety_report.md``/``.json``) and the training plots are in the run directory.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from safe_pe_cbf.ros_common.shutdown import drain_executor

from safe_pe_training.ros.graph_spec import NodeSpec, recorder_spec, sim_training_graph
from safe_pe_training.ros.report import REPORT_JSON, REPORT_MARKDOWN
from safe_pe_training.ros.stack_config import StackConfig, StackConfigError, config_from_args


def graph_for(config: StackConfig) -> list[NodeSpec]:
    """The node specs of the stack (the training node left out when ``budget`` is 0).

    :param config: validated stack configuration.
    """
    specs = sim_training_graph(
        robots=config.robots, run_type=config.run_type, budget=config.budget,
        run_dir=config.run_dir, training_config=config.training_config, seed=config.seed,
        use_sim_time=config.use_sim_time, files=config.params,
        steps_per_phase=config.steps_per_phase, num_envs=config.num_envs)
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
    """The composed graph: create, spin, stop in a safe order.

    :param config: validated stack configuration.
    :param quiet: no progress output.
    """

    def __init__(self, config: StackConfig, quiet: bool = False) -> None:
        self.config = config
        self.quiet = quiet
        self.specs = graph_for(config)
        self.nodes: dict[str, Node] = {}
        self.stop_event = threading.Event()
        self.reason = ''
        self.executor: MultiThreadedExecutor | None = None
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
        if any(s.key == 'training' for s in self.specs):
            # torch + SB3 take seconds to import; do it before the live graph competes for
            # the interpreter, so training starts sooner.
            self._say('loading the training stack (torch, stable-baselines3)')
            importlib.import_module('safe_pe_training.self_play')
        order = ['recorder', 'sim', 'metrics']
        order += [s.key for s in self.specs if s.key.startswith('filter/')]
        order += [s.key for s in self.specs if s.key.startswith('policy/')] + ['training']
        by_key = {s.key: s for s in self.specs}
        for key in order:
            if key in by_key:
                self.nodes[key] = instantiate(by_key[key])
        self.executor = MultiThreadedExecutor(num_threads=4)
        for node in self.nodes.values():
            self.executor.add_node(node)
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

    def training_done(self) -> bool:
        """Whether the training node has finished (True without a training node)."""
        node = self.nodes.get('training')
        return node is None or node.done.is_set()

    def run(self) -> None:
        """Block until training finished (+ linger), the duration passed, or a stop request."""
        start = time.monotonic()
        finished_at: float | None = None
        last_print = 0.0
        while not self.stop_event.wait(0.2):
            now = time.monotonic()
            if self.config.duration and now - start >= self.config.duration:
                self.request_stop(f'duration of {self.config.duration:g} s reached')
                break
            if 'training' in self.nodes and self.training_done():
                if finished_at is None:
                    finished_at = now
                    self._say('training finished; the live graph keeps playing for '
                              f'{self.config.linger:g} s')
                if now - finished_at >= self.config.linger:
                    self.request_stop('training finished')
                    break
            if not self.quiet and now - last_print >= 2.0:
                last_print = now
                self._say(self.progress_line(now - start))

    def progress_line(self, elapsed: float) -> str:
        """One line of progress: training and live safety metrics."""
        parts = [f'[{elapsed:6.1f} s]']
        training = self.nodes.get('training')
        progress = getattr(training, 'latest_progress', None)
        if progress is not None:
            parts.append(f'phase {progress.phase + 1}/{progress.num_phases} '
                         f'({progress.training_role}) {progress.total_steps}/'
                         f'{progress.total_budget} steps, {progress.fps:.0f} fps, capture '
                         f'{progress.capture_rate:.0%}, train violations {progress.violations}')
        elif training is not None:
            parts.append('training: loading torch/SB3, building the envs')
        metrics = self.nodes.get('metrics')
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
        for key, node in self.nodes.items():
            if key.startswith('filter/') and hasattr(node, 'publish_zero'):
                if self.executor is not None:
                    self.executor.remove_node(node)   # no late nominal after the zero
                    time.sleep(0.1)                   # a callback already running ends
                try:
                    node.publish_zero()      # one zero cmd_vel, acknowledged by the sim
                except Exception as exc:  # noqa: BLE001 - keep stopping the others
                    self._say(f'{key}: could not publish the zero command: {exc}')
        training = self.nodes.get('training')
        if training is not None:
            training.stop_training(timeout=60.0)
        self.stop_event.set()
        if self._spin_thread is not None:
            self._spin_thread.join(timeout=10.0)
        if self.executor is not None:
            drain_executor(self.executor)    # no node is destroyed under a running callback
        for key in reversed(list(self.nodes)):
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
            print(f'[safe_pe_stack] {text}', flush=True)


def _final_league(stack: Stack, episodes: int) -> None:
    """Play what the run trained and the shipped pair against the league's references."""
    # heavy (torch, matplotlib): imported only once training has finished
    from safe_pe_training.league_report import final_league, format_final_league

    stack._say(f'league: {episodes} episodes per pairing on the fixed evaluation seeds')
    try:
        result = final_league(stack.run_dir, episodes)
    except Exception as exc:  # noqa: BLE001 - the run's report and checkpoints are safe
        print(f'safe_pe_stack: the final league failed ({type(exc).__name__}: {exc}); '
              f'rerun it with safe_pe_train league --run-dir {stack.run_dir}', file=sys.stderr)
        return
    print(format_final_league(result), flush=True)


def main(args: Sequence[str] | None = None) -> None:
    """Run the stack; exit code 0 when it ran to completion or was stopped with Ctrl-C,
    1 when training failed, 2 for an invalid configuration.

    :param args: command-line options (default: ``sys.argv[1:]``); ROS arguments after
        ``--ros-args`` are passed to rclpy.
    """
    argv = list(sys.argv[1:] if args is None else args)
    ros_args: list[str] = []
    if '--ros-args' in argv:
        ros_args = argv[argv.index('--ros-args'):]
        argv = argv[:argv.index('--ros-args')]
    try:
        config, options = config_from_args(argv)
    except (StackConfigError, FileNotFoundError) as exc:
        print(f'safe_pe_stack: {exc}', file=sys.stderr)
        raise SystemExit(2) from exc
    rclpy.init(args=['safe_pe_stack', *ros_args], signal_handler_options=SignalHandlerOptions.NO)
    stack = Stack(config, quiet=options.quiet)
    previous = {sig: signal.signal(sig, lambda s, f: stack.request_stop(
        f'{signal.Signals(s).name} received')) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        stack._say(f'run {config.run_type}, budget {config.budget} steps, run dir '
                   f'{stack.run_dir}')
        stack.start()
        stack.run()
    except (StackConfigError, FileNotFoundError, ValueError, ImportError) as exc:
        print(f'safe_pe_stack: {exc}', file=sys.stderr)
        code = 2
    finally:
        stack._say(f'stopping ({stack.reason or "error"})')
        stack.shutdown()
        training = stack.nodes.get('training')
        if training is not None and training.error:
            print(f'safe_pe_stack: training failed: {training.error}', file=sys.stderr)
            code = code or 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        rclpy.try_shutdown()
    recorder = stack.nodes.get('recorder')
    if recorder is not None and recorder.record_error:
        print(f'safe_pe_stack: recording failed ({recorder.record_error}); the live graph ran '
              'without it', file=sys.stderr)
    elif recorder is not None:
        print(f'[safe_pe_stack] bag: {recorder.path} (ros2 bag info {recorder.path})',
              flush=True)
    report_md = stack.run_dir / REPORT_MARKDOWN
    if report_md.is_file():
        print(report_md.read_text(), flush=True)
        print(f'[safe_pe_stack] report: {report_md} and {stack.run_dir / REPORT_JSON}',
              flush=True)
    if code == 0 and stack.reason == 'training finished' and config.league_episodes:
        _final_league(stack, config.league_episodes)
    plots = sorted((stack.run_dir / 'plots').glob('*.png'))
    if plots:
        print(f'[safe_pe_stack] plots: {", ".join(p.name for p in plots)} in '
              f'{stack.run_dir / "plots"}', flush=True)
    raise SystemExit(code)


if __name__ == '__main__':
    main()
