#!/usr/bin/env python3
"""Command-rate jitter of the live graph with and without training (``safe_pe_stack``).

Runs ``safe_pe_stack`` twice for ``--seconds`` of measurement each, with the stack YAML's
settings (real-time factor, sim time, training priority): once live graph only
(``--budget 0``) and once training all the time (a budget it cannot finish). This process
records every nominal command of the policy nodes (``/<robot>/cmd_vel_nominal``, wall
arrival time) and ``/clock``; the stack's log gives the filters' nominal-command timeouts
(one ``nominal command timed out`` line per timeout). Measurement starts ``--warmup``
seconds after the first command, and in the training run not before training has reported
steps on ``/safe_pe/training/progress``.

Printed side by side: commands per simulated second vs the policy ``rate`` setting,
commands per wall-clock second vs ``rate x real_time_factor``, the p50/p99/max gap between
two commands of one robot [ms, wall clock], the achieved real-time factor, and the nominal
timeouts in the window. The machine's load matters: say what else ran.

Usage::

    source scripts/env.sh
    python bench/bench_stack_rate.py [--seconds 60] [--warmup 10] [--config config/stack.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROBOTS = ('pursuer', 'evader')
TIMEOUT_LINE = re.compile(r'\[WARN\] \[(\d+\.\d+)\] \[(\w+)\.safety_filter\]: STOP: nominal '
                          r'command timed out')


class Recorder:
    """A probe node: arrival times of nominal commands, /clock and training progress."""

    def __init__(self) -> None:
        import rclpy
        from geometry_msgs.msg import Twist
        from rclpy.executors import SingleThreadedExecutor
        from rosgraph_msgs.msg import Clock
        from safe_pe_msgs.msg import TrainingProgress

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('bench_stack_rate', context=self.context)
        self.lock = threading.Lock()
        self.commands: dict[str, list[float]] = {r: [] for r in ROBOTS}
        self.clock: list[tuple[float, float]] = []     # (wall, sim)
        self.trained_at: float | None = None
        for robot in ROBOTS:
            self.node.create_subscription(
                Twist, f'/{robot}/cmd_vel_nominal',
                lambda msg, r=robot: self._stamp(self.commands[r]), 100)
        self.node.create_subscription(Clock, '/clock', self._on_clock, 100)
        self.node.create_subscription(TrainingProgress, '/safe_pe/training/progress',
                                      self._on_progress, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _stamp(self, times: list[float]) -> None:
        with self.lock:
            times.append(time.monotonic())

    def _on_clock(self, msg) -> None:
        with self.lock:
            self.clock.append((time.monotonic(), msg.clock.sec + msg.clock.nanosec * 1e-9))

    def _on_progress(self, msg) -> None:
        if msg.total_steps > 0 and self.trained_at is None:
            self.trained_at = time.monotonic()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def measure(config: Path, budget: int, seconds: float, warmup: float, cap: float,
            env: dict[str, str]) -> dict[str, object]:
    """Run the stack once and measure the window; returns the numbers."""
    settings = yaml.safe_load(config.read_text())
    policy = yaml.safe_load((ROOT / 'config' / settings['params']['policy']).read_text())
    rate = float(policy['/**']['ros__parameters']['rate'])
    rtf = float(settings.get('real_time_factor', 1.0))
    recorder = Recorder()
    run_dir = tempfile.mkdtemp(prefix='bench_stack_rate_')
    log = Path(run_dir) / 'stack.log'
    cmd = [sys.executable, '-m', 'safe_pe_training.ros.stack', '--config', str(config),
           '--budget', str(budget), '--duration', str(cap), '--run-dir', run_dir, '--quiet']
    if budget:
        cmd += ['--linger', '0']
    with open(log, 'w') as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    window: tuple[float, float] | None = None
    epoch_offset = time.time() - time.monotonic()   # the stack's log stamps are epoch s
    deadline = time.monotonic() + cap
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with recorder.lock:
                first = min((t[0] for t in recorder.commands.values() if t), default=None)
            if window is None and first is not None and (not budget or recorder.trained_at):
                begin = max(first + warmup, recorder.trained_at or 0.0)
                window = (begin, begin + seconds)
            if window is not None and time.monotonic() >= window[1]:
                break
        complete = window is not None and time.monotonic() >= window[1]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
        recorder.close()
    text = log.read_text()
    if not complete or window is None:
        raise SystemExit(f'the stack ended before the window did; log {log}:\n'
                         f'{text[-3000:]}')
    timeouts = {r: 0 for r in ROBOTS}
    for match in TIMEOUT_LINE.finditer(text):
        if window[0] <= float(match.group(1)) - epoch_offset <= window[1]:
            timeouts[match.group(2)] += 1
    clock = np.array([(w, s) for w, s in recorder.clock if window[0] <= w <= window[1]])
    sim_span = float(clock[-1, 1] - clock[0, 1]) if len(clock) > 1 else float('nan')
    wall_span = float(clock[-1, 0] - clock[0, 0]) if len(clock) > 1 else float('nan')
    result: dict[str, object] = {'rate': rate, 'rtf_setting': rtf,
                                 'rtf': sim_span / wall_span if wall_span else float('nan'),
                                 'timeouts': timeouts, 'robots': {}}
    for robot in ROBOTS:
        t = np.array([x for x in recorder.commands[robot] if window[0] <= x <= window[1]])
        gaps = np.diff(t) * 1000.0
        sim_rate = len(t) / sim_span if sim_span == sim_span and sim_span > 0 else float('nan')
        result['robots'][robot] = {
            'commands': int(len(t)),
            'rate_sim': sim_rate,
            'rate_wall': len(t) / (window[1] - window[0]),
            'gap_p50_ms': float(np.percentile(gaps, 50)) if len(gaps) else float('nan'),
            'gap_p99_ms': float(np.percentile(gaps, 99)) if len(gaps) else float('nan'),
            'gap_max_ms': float(gaps.max()) if len(gaps) else float('nan'),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', type=Path, default=ROOT / 'config' / 'stack.yaml')
    parser.add_argument('--seconds', type=float, default=60.0, help='measured window [s]')
    parser.add_argument('--warmup', type=float, default=10.0,
                        help='seconds after the first command before measuring')
    parser.add_argument('--json', type=Path, help='also write the numbers here')
    parser.add_argument('--only', choices=('graph', 'training'),
                        help='run one column: live graph only, or with training')
    args = parser.parse_args()
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(120, 200)),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    cap = args.warmup + args.seconds + 180.0   # torch import and env setup on a busy box
    runs = {}
    columns = [('no training', 0), ('training', 10**9)]
    if args.only:
        columns = columns[:1] if args.only == 'graph' else columns[1:]
    for label, budget in columns:
        print(f'running the stack ({label}) ...', flush=True)
        runs[label] = measure(args.config, budget, args.seconds, args.warmup, cap, env)
    first = next(iter(runs.values()))
    print(f'\nlive graph for {args.seconds:g} s per column; policy rate {first["rate"]:g} Hz, '
          f'real-time factor {first["rtf_setting"]:g} (expected gap '
          f'{1000.0 / (first["rate"] * first["rtf_setting"]):.1f} ms wall)')
    rows = [('achieved real-time factor', lambda r, b: f'{r["rtf"]:.3f}')]
    for robot in ROBOTS:
        rows += [
            (f'{robot}: commands / sim s (vs rate)',
             lambda r, b: f'{r["robots"][b]["rate_sim"]:.2f} '
                          f'({r["robots"][b]["rate_sim"] / r["rate"]:.1%})'),
            (f'{robot}: commands / wall s (vs rate x rtf)',
             lambda r, b: f'{r["robots"][b]["rate_wall"]:.2f} ('
                          f'{r["robots"][b]["rate_wall"] / (r["rate"] * r["rtf_setting"]):.1%})'),
            (f'{robot}: gap p50 / p99 / max [ms]',
             lambda r, b: f'{r["robots"][b]["gap_p50_ms"]:.1f} / '
                          f'{r["robots"][b]["gap_p99_ms"]:.1f} / '
                          f'{r["robots"][b]["gap_max_ms"]:.0f}'),
            (f'{robot}: filter nominal timeouts', lambda r, b: str(r['timeouts'][b])),
        ]
    width = max(len(name) for name, _ in rows)
    print(f'{"":{width}}  ' + '  '.join(f'{label:>22}' for label in runs))
    for name, cell in rows:
        robot = name.split(':')[0] if ':' in name else ROBOTS[0]
        print(f'{name:{width}}  ' + '  '.join(f'{cell(r, robot):>22}' for r in runs.values()))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == '__main__':
    main()
