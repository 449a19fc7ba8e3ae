"""Helpers of the launch_pytest tests (parameter files for short episodes)."""

from __future__ import annotations

from pathlib import Path

LAUNCH_DIR = Path(__file__).resolve().parents[2] / 'launch'


def short_episodes_profile(directory: Path, max_steps: int = 100) -> Path:
    """An EnvConfig YAML of the default profile with short episodes; returns its path."""
    from safe_pe_sim.config import load_profile

    env = load_profile('default')
    env.max_steps = max_steps
    path = directory / 'short_episodes.yaml'
    env.to_yaml(path)
    return path


def sim_params_with_profile(directory: Path, profile: Path) -> Path:
    """A copy of config/sim_node.yaml whose profile is ``profile``; returns its path."""
    import yaml

    from safe_pe_training.ros.graph_spec import config_path

    data = yaml.safe_load(config_path('sim_node.yaml').read_text())
    data['/**']['ros__parameters']['profile'] = str(profile)
    path = directory / 'sim_node_short.yaml'
    path.write_text(yaml.safe_dump(data))
    return path
