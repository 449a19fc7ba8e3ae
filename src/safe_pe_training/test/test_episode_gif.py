"""Episode GIFs of a trained pair and their links from the safety report."""

from __future__ import annotations

import json

import pytest
import torch as th
from PIL import Image

from safe_pe_training.config import SafeSelfPlayConfig
from safe_pe_training.episode_gif import GifError, write_episode_gif, write_pair_gifs
from safe_pe_training.pretrained import MODELS_ENV
from safe_pe_training.ros.report import (REPORT_MARKDOWN, SafetyReport, link_figures,
                                         write_report)
from safe_pe_training.self_play import SelfPlayTrainer
from safe_pe_training.training_state import read_run_state
from training_fixtures import tiny_config

th.set_num_threads(1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("run") / "A"
    SelfPlayTrainer(tiny_config("A", eval_episodes=0), root, progress_bar=False).train()
    return root


def _frames(path) -> int:
    with Image.open(path) as image:
        assert image.format == "GIF"
        frames = 0
        for frame in range(image.n_frames):   # every frame decodes
            image.seek(frame)
            image.convert("RGB").load()
            frames += 1
        assert image.size == (240, 240)
        return frames


def test_trained_and_shipped_pairs_are_written_as_multi_frame_gifs(run_dir):
    written = {g.path.name: g for g in write_pair_gifs(run_dir)}
    assert set(written) == {"episode_trained.gif", "episode_pretrained.gif"}
    for gif in written.values():
        assert gif.path.parent == run_dir / "plots"
        assert 2 <= gif.frames == _frames(gif.path) <= 151
        assert 1 <= gif.steps and ("captured" in gif.summary or "escaped" in gif.summary)
    trained = written["episode_trained.gif"]
    assert trained.steps <= 60                       # the tiny run's max_steps


def test_the_report_links_the_gifs_and_plots(run_dir):
    write_pair_gifs(run_dir, with_pretrained=False)
    write_report(SafetyReport(sources=[], node="test"), run_dir)
    for _ in range(2):                                # idempotent: one section, replaced
        figures = link_figures(run_dir)
    gifs = [f for f in figures if f.endswith(".gif")]
    assert "plots/episode_trained.gif" in gifs and figures[:len(gifs)] == gifs   # GIFs first
    assert all(f.endswith(".png") for f in figures[len(gifs):]) and len(figures) > len(gifs)
    text = (run_dir / REPORT_MARKDOWN).read_text()
    assert text.startswith("# Safety report") and text.count("## Figures") == 1
    assert "![episode_trained](plots/episode_trained.gif)" in text
    assert json.loads((run_dir / "safety_report.json").read_text())["figures"] == figures


def test_wrong_or_missing_pairs_are_refused_with_the_reason(run_dir, tmp_path, monkeypatch):
    config = SafeSelfPlayConfig.from_yaml(run_dir / "config.yaml")
    latest = read_run_state(run_dir / "run_state.json")["latest"]
    pursuer, evader = latest["pursuer"], latest["evader"]
    with pytest.raises(GifError, match="not a pursuer one"):
        write_episode_gif(config, evader, pursuer, tmp_path / "x.gif")
    with pytest.raises(GifError, match="cannot load the evader"):
        write_episode_gif(config, pursuer, tmp_path / "missing.pt", tmp_path / "x.gif")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(GifError, match="no checkpoint of evader, pursuer yet.*shipped pair"):
        write_pair_gifs(tmp_path / "empty_run")
