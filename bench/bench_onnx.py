#!/usr/bin/env python3
"""Per-command inference time of a policy on torch vs onnxruntime, side by side.

The policy node computes one command per tick from one observation. This times, in one run
and interleaved, for each of a CBF-Beta (run A) and a Gaussian (run B) policy:

    policy  stage                      torch [us]  onnx [us]  torch/onnx
    beta    network + mapping (1 obs)   ...         ...        ...
    beta    driver.command (obs built)  ...         ...        ...

"network + mapping" is ``DeployedPolicy(obs)`` vs ``OnnxPolicy(obs)``; "driver.command" is
the policy node's whole per-tick work from a game state (observation, safe box for Beta,
policy), ``CheckpointDriver`` vs ``OnnxDriver``. Median of ``--repeats`` calls, one thread
for both (``torch.set_num_threads(1)``, onnxruntime intra-op 1), so the numbers are what one
core of a robot's computer does. Give ``--checkpoint`` to time a trained checkpoint (its run
directory must hold config.yaml); by default the runs' preset networks with random weights.

Usage::

    source scripts/env.sh
    python bench/bench_onnx.py [--repeats 2000] [--checkpoint runs/X/checkpoints/p.pt]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch as th

from safe_pe_training.checkpoints import build_policy, load_policy, save_checkpoint
from safe_pe_training.config import get_run_configs
from safe_pe_training.onnx_export import export_onnx
from safe_pe_training.onnx_policy import OnnxPolicy
from safe_pe_training.ros.policy_core import CheckpointDriver, OnnxDriver
from safe_pe_training.self_play import SelfPlayTrainer


def _median_us(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def _preset_checkpoint(run: str, folder: Path) -> Path:
    """The preset network of ``run`` with random weights, saved as a run would save it."""
    config = get_run_configs()[run]
    trainer = SelfPlayTrainer(config, folder / run, progress_bar=False)
    meta = trainer.checkpoint_metadata('pursuer', 0)
    path = save_checkpoint(build_policy(meta), folder / run / 'checkpoints' / 'pursuer', meta)
    (folder / run / 'config.yaml').write_text(config.to_yaml())
    return path


def _state(rng: np.random.Generator) -> dict[str, Any]:
    return {'poses': [[rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-3, 3)],
                      [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-3, 3)]],
            'velocities': [[0.1, 0.2], [0.1, -0.3]], 'obstacles': np.zeros((0, 3)),
            'step': 10}


def bench(checkpoint: Path, folder: Path, repeats: int) -> list[tuple[str, str, float, float]]:
    """Rows ``(policy type, stage, torch us, onnx us)`` for one checkpoint.

    :param checkpoint: a checkpoint whose run directory has config.yaml
    :param folder: where the ONNX export goes
    :param repeats: calls per measurement
    """
    onnx_path = export_onnx(checkpoint, folder / (checkpoint.stem + '.onnx'))
    role = load_policy(checkpoint).role
    torch_policy, onnx_policy = load_policy(checkpoint), OnnxPolicy(onnx_path)
    torch_driver, onnx_driver = CheckpointDriver(checkpoint, role), OnnxDriver(onnx_path, role)
    state = _state(np.random.default_rng(0))
    obs = torch_driver.observation(state)
    for fn in (lambda: torch_policy(obs), lambda: onnx_policy(obs),
               lambda: torch_driver.command(state), lambda: onnx_driver.command(state)):
        _median_us(fn, 50)  # warm-up: lazy init, JIT, allocator
    kind = torch_policy.meta.policy_type
    rows = []
    for stage, t_fn, o_fn in (
            ('network + mapping (1 obs)', lambda: torch_policy(obs), lambda: onnx_policy(obs)),
            ('driver.command (obs built)', lambda: torch_driver.command(state),
             lambda: onnx_driver.command(state))):
        t_us, o_us = [], []
        for _ in range(5):  # interleaved rounds: background load hits both alike
            t_us.append(_median_us(t_fn, repeats // 5))
            o_us.append(_median_us(o_fn, repeats // 5))
        rows.append((kind, stage, statistics.median(t_us), statistics.median(o_us)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=2000, help='calls per measurement')
    parser.add_argument('--checkpoint', help='a trained checkpoint (.pt) instead of the '
                        'preset networks of runs A and B')
    args = parser.parse_args()
    th.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoints = ([Path(args.checkpoint)] if args.checkpoint else
                       [_preset_checkpoint(run, folder) for run in ('A', 'B')])
        rows = [row for ckpt in checkpoints for row in bench(ckpt, folder, args.repeats)]
    print(f"{'policy':<9} {'stage':<28} {'torch [us]':>11} {'onnx [us]':>10} "
          f"{'torch/onnx':>11}")
    for kind, stage, t_us, o_us in rows:
        print(f'{kind:<9} {stage:<28} {t_us:>11.1f} {o_us:>10.1f} {t_us / o_us:>11.2f}')


if __name__ == '__main__':
    main()
