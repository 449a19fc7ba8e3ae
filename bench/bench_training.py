"""Training throughput of runs A/B/C/D side by side in one process; prints the A/B ratio.

Two measurements per run, interleaved (A, B, C, D, A, B, ...) so machine noise hits all alike:

* ``env``: the learner's ``SafeLearnerVecEnv`` alone (policy actions pre-drawn), with the
  frozen opponent a policy network of the run's type (as in self-play); also the share of time
  spent in the batched CBF filter (row builds, both safe boxes, both resolvers, the
  learner's w5 barrier);
* ``train``: PPO ``learn()`` (rollouts + updates, SafetyMetricsCallback attached) with the
  run's preset PPO settings: the steps/s a training run sees.

A fifth row, ``B+obs``, is run B in run A's obstacle world: A / (B+obs) is the price of the
safety machinery alone (filter, CBF-Beta policy, w5), A / B adds the cost of simulating and
observing obstacles.

Run:  python bench/bench_training.py [--steps 8192] [--repeats 3] [--num-envs 16]
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


def bench_train(run: str, num_envs: int, steps: int, seed: int) -> float:
    """PPO learn() env-steps/s (rollouts + updates) with the run's PPO preset."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy

    from safe_pe_training.beta_policy import CBFBetaPolicy
    from safe_pe_training.self_play import ppo_policy_kwargs
    from safe_pe_training.safety_metrics import SafetyMetricsTracker, \
        _get_safety_metrics_callback_class

    config, env = make_env(run, num_envs, seed)
    p = config.ppo
    policy = CBFBetaPolicy if config.use_beta_policy else ActorCriticPolicy
    model = PPO(policy, env, n_steps=p.n_steps, batch_size=p.batch_size,
                learning_rate=p.learning_rate, n_epochs=p.n_epochs, gamma=p.gamma,
                gae_lambda=p.gae_lambda, clip_range=p.clip_range, ent_coef=p.ent_coef,
                vf_coef=p.vf_coef, max_grad_norm=p.max_grad_norm, seed=seed, device="cpu",
                policy_kwargs=ppo_policy_kwargs(config))  # as SelfPlayTrainer builds them
    callback = _get_safety_metrics_callback_class()(SafetyMetricsTracker())
    model.learn(p.n_steps * num_envs, callback=callback)  # warm-up (first rollout + update)
    t0 = time.perf_counter()
    before = model.num_timesteps
    model.learn(steps, callback=callback, reset_num_timesteps=False)
    return (model.num_timesteps - before) / (time.perf_counter() - t0)


def main() -> None:
    """Run the benchmark and print the table and the A/B ratios."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8192, help="env-steps per measurement")
    parser.add_argument("--repeats", type=int, default=3)
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
        for run in args.runs:
            train_fps[run].append(bench_train(run, args.num_envs, args.steps, seed=rep))
        print(f"repeat {rep + 1}/{args.repeats} done", flush=True)

    print(f"\nN = {args.num_envs} envs, {args.steps} env-steps per measurement, "
          f"median of {args.repeats} (1 torch thread)")
    print(f"{'run':<4} {'env steps/s':>12} {'filter share':>13} {'train steps/s':>14}")
    for run in args.runs:
        print(f"{run:<4} {statistics.median(env_fps[run]):>12.0f} "
              f"{statistics.median(filt[run]):>12.1%} {statistics.median(train_fps[run]):>14.0f}")
    if "A" in args.runs and "B" in args.runs:
        env_ratio = statistics.median(env_fps["A"]) / statistics.median(env_fps["B"])
        train_ratio = statistics.median(train_fps["A"]) / statistics.median(train_fps["B"])
        print(f"\nrun A / run B: env {env_ratio:.2f}x, training {train_ratio:.2f}x "
              f"(target >= 0.90x in training)")
    if "A" in args.runs and "B+obs" in args.runs:
        ratio = statistics.median(train_fps["A"]) / statistics.median(train_fps["B+obs"])
        print(f"run A / run B with the same obstacles: training {ratio:.2f}x (the cost of "
              f"filter + CBF-Beta + w5 alone)")


if __name__ == "__main__":
    main()
