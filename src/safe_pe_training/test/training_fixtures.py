"""Tiny training configs shared by the self-play, resume and CLI tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

from safe_pe_training.config import SafeSelfPlayConfig, get_run_configs


def tiny_config(run: str, seed: int = 0, phases: int = 2,
                eval_episodes: int = 2) -> SafeSelfPlayConfig:
    """Run preset ``run`` shrunk to 4 envs x 64 steps per phase, 2 phases, tiny nets.

    :param run: "A", "B", "C" or "D"
    :param seed: seed
    :param phases: number of phases
    :param eval_episodes: evaluation episodes per phase (0: none)
    """
    config = get_run_configs()[run].copy()
    config.seed = seed
    config.num_envs = 4
    config.ppo.n_steps = 64
    config.ppo.batch_size = 128
    config.ppo.n_epochs = 2
    config.ppo.net_arch = [32, 32]
    config.self_play.steps_per_phase = 256
    config.self_play.eval_episodes = eval_episodes
    config.total_timesteps = 256 * phases
    config.env.overrides = {"max_steps": 60}
    return config.validate()


def write_tiny_yaml(path: Path, run: str, **kwargs: int) -> Path:
    """Write :func:`tiny_config` as YAML; return the path.

    :param path: output file
    :param run: run type
    :param kwargs: forwarded to :func:`tiny_config`
    """
    tiny_config(run, **kwargs).to_yaml(path)
    return path
