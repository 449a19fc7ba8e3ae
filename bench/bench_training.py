"""Training throughput of runs A/B/C/D side by side in one process; prints the A/B ratio.

Two measurements per run, interleaved (A, B, C, D, A, B, ...) so machine noise hits all alike:

* ``env``: the learner's ``SafeLearnerVecEnv`` alone (policy actions pre-drawn), with the
  frozen opponent a policy network of the run's type (as in self-play); also the share of time
  spent in the batched CBF filter (row builds, both safe boxes, both resolvers, the
  learner's w5 barrier);
* ``train``: PPO ``learn()`` (rollouts + updates, SafetyMetricsCallback attached) with the
  run's preset PPO settings: the steps/s a training run sees. One model per run is built and
  warmed up once; then each round runs one rollout + update of every run in turn, and the A/B
  ratio is the median of the per-round ratios. This machine's speed drifts by +-30 % over
  seconds, so independent medians of a few 4-second runs each were too noisy to compare.

A fifth row, ``B+obs``, is run B in run A's obstacle world: A / (B+obs) is the price of the
safety machinery alone (filter, CBF-Beta policy, w5), A / B adds the cost of simulating and
observing obstacles.

Run:  python bench/bench_training.py [--steps 8192] [--repeats 3] [--train-rounds 12]
          [--num-envs 16] [--runs A B C D B+obs]
Target: run A >= 0.9 x run B in training steps/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch as th


def _policy_opponent(config, env_config, role):
    from safe_pe_training.checkpoints import DeployedPolicy, build_policy
    from safe_pe_training.opponents import PolicyOpponent
    from safe_pe_training.self_play import SelfPlayTrainer

    trainer = SelfPlayTrainer.__new__(SelfPlayTrainer)  # only for checkpoint_metadata()
    trainer.config, trainer.env_config = config, env_config
    from safe_pe_training.action_mapping import CommandLimits

    trainer.limits = {r: CommandLimits.from_robot(robot)
                      for r, robot in zip(("pursuer", "evader"), env_config.robots())}
    trainer.total_steps, trainer.config_hash = 0, "bench"
    meta = trainer.checkpoint_metadata(role, 0)
    return PolicyOpponent(DeployedPolicy(build_policy(meta), meta, deterministic=False))


def make_env(run: str, num_envs: int, seed: int):
    from safe_pe_training.config import get_run_configs
    from safe_pe_training.factories import make_env_config
    from safe_pe_training.safe_vec_env import make_learner_env

    config = get_run_configs()[run.split("+")[0]]
    if run == "B+obs":  # the unsafe baseline in run A's obstacle world: splits A's extra
        config.obstacles.enabled = True  # cost into "obstacles" and "safety"
        config.run_type = "custom"
        config.validate()
    config.num_envs = num_envs
    env_config = make_env_config(config)
    opponent = _policy_opponent(config, env_config, "evader")
    env = make_learner_env(config, "pursuer", opponent, env_config, num_envs, seed)
    return config, env


def bench_env(run: str, num_envs: int, steps: int, seed: int) -> tuple[float, float]:
    """Env-steps/s with pre-drawn actions, and the fraction of time in the filter."""
    _, env = make_env(run, num_envs, seed)
    env.reset()
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    actions = rng.uniform(low, high, size=(max(steps // num_envs, 1), num_envs, 2))
    env.filter_seconds = 0.0
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)
    elapsed = time.perf_counter() - t0
    return actions.shape[0] * num_envs / elapsed, env.filter_seconds / elapsed


class TrainBench:
    """One PPO model of a run, kept across measurements (built and warmed up once).

    :param run: run name ("A", "B", "C", "D" or "B+obs")
    :param num_envs: parallel envs
    :param seed: seed of the env, opponent and model
    """

    def __init__(self, run: str, num_envs: int, seed: int) -> None:
        from safe_pe_training.safety_callback import SafetyMetricsCallback
        from safe_pe_training.safety_tracker import SafetyMetricsTracker
        from safe_pe_training.self_play import make_ppo

        config, env = make_env(run, num_envs, seed)
        self.model = make_ppo(config, env, seed)  # as the trainer builds it
        self.callback = SafetyMetricsCallback(SafetyMetricsTracker())
        self.rollout = config.ppo.n_steps * num_envs
        self.model.learn(self.rollout, callback=self.callback)  # warm-up (rollout + update)

    def measure(self, steps: int) -> float:
        """PPO ``learn()`` env-steps/s (rollouts + updates) over at least ``steps`` steps."""
        t0 = time.perf_counter()
        before = self.model.num_timesteps
        self.model.learn(steps, callback=self.callback, reset_num_timesteps=False)
        return (self.model.num_timesteps - before) / (time.perf_counter() - t0)


def main() -> None:
    """Run the benchmark and print the table and the A/B ratios."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8192, help="env-steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="env measurements per run")
    parser.add_argument("--train-rounds", type=int, default=12,
                        help="training rounds: one rollout + PPO update per run, in turn")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--runs", nargs="+", default=["A", "B", "C", "D", "B+obs"],
                        help='runs to compare; "B+obs" is run B with run A\'s obstacles')
    args = parser.parse_args()
    th.set_num_threads(1)
    env_fps = {r: [] for r in args.runs}
    filt = {r: [] for r in args.runs}
    train_fps = {r: [] for r in args.runs}
    for rep in range(args.repeats):
        for run in args.runs:
            fps, share = bench_env(run, args.num_envs, args.steps, seed=rep)
            env_fps[run].append(fps)
            filt[run].append(share)
    print("env measurements done; building and warming up the PPO models", flush=True)
    models = {run: TrainBench(run, args.num_envs, seed=0) for run in args.runs}
    for rep in range(args.train_rounds):
        for run in args.runs:  # one rollout + update per run, in turn
            train_fps[run].append(models[run].measure(models[run].rollout))
        print(f"training round {rep + 1}/{args.train_rounds} done", flush=True)

    print(f"\nN = {args.num_envs} envs (1 torch thread); env: {args.steps} env-steps per "
          f"measurement, median of {args.repeats}; training: one rollout + update "
          f"({models[args.runs[0]].rollout} steps) per run and round, median of "
          f"{args.train_rounds} rounds")
    print(f"{'run':<6} {'env steps/s':>12} {'filter share':>13} {'train steps/s':>14}")
    for run in args.runs:
        print(f"{run:<6} {statistics.median(env_fps[run]):>12.0f} "
              f"{statistics.median(filt[run]):>12.1%} {statistics.median(train_fps[run]):>14.0f}")
    if "A" in args.runs and "B" in args.runs:
        env_ratio = statistics.median(env_fps["A"]) / statistics.median(env_fps["B"])
        print(f"\nrun A / run B, env alone: {env_ratio:.2f}x")
        print(f"run A / run B, training (target >= 0.90x):\n  "
              f"{_paired(train_fps['A'], train_fps['B'])}")
    if "A" in args.runs and "B+obs" in args.runs:
        print(f"run A / run B with the same obstacles, training (filter + CBF-Beta + w5 "
              f"alone):\n  {_paired(train_fps['A'], train_fps['B+obs'])}")


def _paired(a: list[float], b: list[float]) -> str:
    """The ratio of two runs' training steps/s, three ways: the median of the per-round ratios
    ``a_i / b_i`` (rounds run back to back, so slow spells of the machine hit both) with their
    range, the ratio over all rounds (total steps / total time: what a long run sees) and the
    ratio of the medians."""
    ratios = [x / y for x, y in zip(a, b)]
    of_medians = statistics.median(a) / statistics.median(b)
    # equal steps per round: overall steps/s ratio = total time of b / total time of a
    overall = sum(1.0 / y for y in b) / sum(1.0 / x for x in a)
    return (f"{statistics.median(ratios):.2f}x median of per-round ratios (range "
            f"{min(ratios):.2f}-{max(ratios):.2f}); {overall:.2f}x over all rounds (total "
            f"steps / total time); {of_medians:.2f}x ratio of medians")


if __name__ == "__main__":
    main()
