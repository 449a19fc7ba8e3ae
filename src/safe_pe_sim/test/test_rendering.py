"""rgb_array frames, episode figure, PNG/GIF export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from safe_pe_sim.config import load_profile
from safe_pe_sim.env import PursuitEvasionEnv
from safe_pe_sim.parallel_env import PursuitEvasionParallelEnv
from safe_pe_sim.rendering import (FrameRenderer, plot_episode, save_episode_gif,
                                   save_episode_png)


def test_env_rgb_frames_change_with_state() -> None:
    env = PursuitEvasionEnv(role="pursuer", opponent="flee", render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    for _ in range(20):
        env.step(np.array([1.0, 0.5]))
    second = env.render()
    assert first.shape == (400, 400, 3) and first.dtype == np.uint8
    assert first.std() > 0 and not np.array_equal(first, second)
    assert PursuitEvasionEnv().render() is None
    par = PursuitEvasionParallelEnv(render_mode="rgb_array")
    par.reset(seed=1)
    assert par.render().shape == (400, 400, 3)


def test_episode_png_and_gif(tmp_path: Path) -> None:
    cfg = load_profile("turtlebot3_burger")
    env = PursuitEvasionEnv(cfg, role="evader", opponent="pure_pursuit")
    env.reset(seed=2)
    done = False
    while not done:
        _, _, term, trunc, _ = env.step(np.array([0.0, 0.0]))
        done = term or trunc
    traj = np.array(env.trajectory)
    assert traj.shape[1:] == (2, 3)
    fig = plot_episode(cfg, env.game.obstacles_array, traj)
    assert "captured" in fig.axes[0].get_title()
    save_episode_png(tmp_path / "ep.png", cfg, env.game.obstacles_array, traj)
    n = save_episode_gif(tmp_path / "ep.gif", cfg, env.game.obstacles_array, traj, stride=10,
                         size_px=120)
    assert Image.open(tmp_path / "ep.png").size[0] > 100
    gif = Image.open(tmp_path / "ep.gif")
    assert gif.n_frames == n > 1


def test_boxes_and_segments_are_drawn() -> None:
    cfg = load_profile("default")
    renderer = FrameRenderer(cfg)
    poses = [(1.0, 1.0, 0.0), (2.0, 2.0, 0.0)]
    empty = renderer.frame(poses, np.zeros((0, 3)))
    box = renderer.frame(poses, np.array([[6.0, 6.0, 1.5, 0.5, 0.7, 1.0]]))
    segment = renderer.frame(poses, np.array([[6.0, 6.0, 1.5, 0.0, 0.7, 1.0]]))
    changed = [int((f != empty).any(axis=-1).sum()) for f in (box, segment)]
    assert changed[0] > changed[1] > 20   # the box covers more pixels than the thin wall
