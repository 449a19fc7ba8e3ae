"""A picture of a game: an animated GIF of one filtered episode of a trained pair.

The main job (``safe_pe_stack``) writes ``plots/episode_trained.gif`` (the run's latest
pursuer vs its latest evader) and ``plots/episode_pretrained.gif`` (the shipped pair in
``models/``), and links them from the safety report. The episode is played like the league
plays it (both robots through their CBF safety filters, deterministic actions) on a fixed
evaluation seed; frames are drawn by :func:`safe_pe_sim.rendering.save_episode_gif`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from safe_pe_sim.rendering import save_episode_gif
from safe_pe_sim.roles import ROLES

from safe_pe_training.checkpoints import CheckpointError, load_policy
from safe_pe_training.config import ConfigError, SafeSelfPlayConfig
from safe_pe_training.evaluation import play_match
from safe_pe_training.factories import make_env_config
from safe_pe_training.opponents import PolicyOpponent
from safe_pe_training.pretrained import PRETRAINED, models_dir, resolve_checkpoint
from safe_pe_training.safe_vec_env import make_core, make_filters
from safe_pe_training.training_state import ResumeError, read_run_state

__all__ = ["GifError", "EpisodeGif", "write_episode_gif", "write_pair_gifs"]

GIF_SEED = 424_242
"""Evaluation seed of the pictured episode (the same game for every run)."""


class GifError(RuntimeError):
    """No episode GIF could be written (no checkpoints, a wrong checkpoint...)."""


@dataclass(frozen=True)
class EpisodeGif:
    """A written GIF.

    :param path: the file.
    :param frames: number of frames.
    :param steps: episode length [steps].
    :param captured: whether the pursuer caught the evader.
    """

    path: Path
    frames: int
    steps: int
    captured: bool

    @property
    def summary(self) -> str:
        """``"captured after N steps"`` or ``"evader escaped (N steps)"``."""
        if self.captured:
            return f"captured after {self.steps} steps"
        return f"evader escaped ({self.steps} steps)"


def write_episode_gif(config: SafeSelfPlayConfig, pursuer: str | os.PathLike[str],
                      evader: str | os.PathLike[str], path: str | os.PathLike[str],
                      seed: int = GIF_SEED, max_frames: int = 150,
                      size_px: int = 240) -> EpisodeGif:
    """Play one filtered episode of two checkpoints and save it as an animated GIF.

    :param config: the run's config (game, filters, observation layout).
    :param pursuer: pursuer checkpoint (``.pt``).
    :param evader: evader checkpoint (``.pt``).
    :param path: output ``.gif``.
    :param seed: seed of the game (layout and spawns).
    :param max_frames: most frames (poses are subsampled to fit; >= 2).
    :param size_px: frame width and height in pixels.
    :raises GifError: a checkpoint is missing, of the wrong role, or does not fit the config.
    """
    if max_frames < 2:
        raise GifError(f"max_frames must be >= 2, got {max_frames}")
    env_config = make_env_config(config)
    players = []
    for role, ref in zip(ROLES, (pursuer, evader)):
        try:
            policy = load_policy(str(ref), deterministic=True)
        except (CheckpointError, FileNotFoundError, ValueError) as exc:
            raise GifError(f"cannot load the {role} checkpoint {ref}: {exc}") from exc
        if policy.role != role:
            raise GifError(f"{ref} is a {policy.role} checkpoint, not a {role} one")
        players.append(PolicyOpponent(policy, label=role))
    core = make_core(config, env_config, 1, seed)
    try:
        match = play_match(core, players[0], players[1], 1, make_filters(config, env_config),
                           seed=seed, record_game=0)
    except ValueError as exc:   # e.g. an observation size that does not fit the policy
        raise GifError(f"the pair cannot play this game: {exc}") from exc
    trajectory = match.trajectory
    if trajectory is None or len(trajectory) < 2:
        raise GifError("the episode recorded fewer than 2 poses")
    steps = len(trajectory) - 1
    stride = max(1, -(-len(trajectory) // max_frames))   # ceil: at most max_frames (+ last)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fps = max(1, round(2.0 / (env_config.dt * stride)))   # twice real time
    frames = save_episode_gif(out, env_config, match.obstacles, trajectory, fps=fps,
                              stride=stride, size_px=size_px)
    return EpisodeGif(out, frames, steps, bool(match.capture_rate == 1.0))


def _latest_pair(run_dir: Path) -> dict[str, str]:
    try:
        latest = read_run_state(run_dir / "run_state.json")["latest"]
    except (ResumeError, ValueError, KeyError, FileNotFoundError):
        return {}
    return {role: str(p) for role, p in latest.items() if p and role in ROLES}


def write_pair_gifs(run_dir: str | os.PathLike[str],
                    with_pretrained: bool = True) -> list[EpisodeGif]:
    """GIFs of the run's latest pursuer vs evader and of the shipped pair, in ``plots/``.

    :param run_dir: the run directory (``config.yaml``, ``run_state.json``).
    :param with_pretrained: also the shipped pair (``models/``).
    :return: what was written (``episode_trained.gif``, ``episode_pretrained.gif``).
    :raises GifError: if neither could be written (the reasons of both).
    """
    run_dir = Path(run_dir)
    plots = run_dir / "plots"
    written: list[EpisodeGif] = []
    problems: list[str] = []
    pair = _latest_pair(run_dir)
    if set(pair) == set(ROLES):
        try:
            config = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml")
            written.append(write_episode_gif(config, pair["pursuer"], pair["evader"],
                                             plots / "episode_trained.gif"))
        except (GifError, ConfigError, FileNotFoundError) as exc:
            problems.append(f"trained pair: {exc}")
    else:
        problems.append(f"trained pair: the run has no checkpoint of "
                        f"{', '.join(sorted(set(ROLES) - set(pair)))} yet")
    if with_pretrained:
        try:
            config = SafeSelfPlayConfig.from_yaml(models_dir() / "config.yaml")
            shipped = [resolve_checkpoint(PRETRAINED, role) for role in ROLES]
            written.append(write_episode_gif(config, shipped[0], shipped[1],
                                             plots / "episode_pretrained.gif"))
        except (GifError, CheckpointError, ConfigError, FileNotFoundError) as exc:
            problems.append(f"shipped pair: {exc}")
    if not written:
        raise GifError("; ".join(problems))
    return written
