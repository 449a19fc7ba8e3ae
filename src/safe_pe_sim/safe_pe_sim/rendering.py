"""Rendering with matplotlib's Agg backend: ``rgb_array`` frames, episode figures, PNG/GIF.

No display is needed. GIFs are written with Pillow through ``matplotlib.animation``.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle, Patch, Rectangle  # noqa: E402
from safe_pe_cbf.barriers import BOX, WIDE  # noqa: E402

from .config import EnvConfig  # noqa: E402
from .roles import ROLES  # noqa: E402

__all__ = ["FrameRenderer", "plot_episode", "save_episode_png", "save_episode_gif",
           "AGENT_COLORS"]

AGENT_COLORS = ("tab:red", "tab:blue")
"""Pursuer, evader."""


def _draw_arena(ax: plt.Axes, config: EnvConfig, obstacles: np.ndarray) -> list[Circle]:
    x_min, x_max, y_min, y_max = config.arena.bounds()
    ax.add_patch(Rectangle((x_min, y_min), x_max - x_min, y_max - y_min, fill=False, lw=2,
                           color="black"))
    pad = 0.03 * max(x_max - x_min, y_max - y_min)
    ax.set_xlim(x_min - pad, x_max + pad)
    ax.set_ylim(y_min - pad, y_max + pad)
    ax.set_aspect("equal")
    patches = []
    for o in _rows(obstacles):
        patches.append(ax.add_patch(_patch(o)))
    return patches


def _rows(obstacles: object) -> np.ndarray:
    """Obstacle rows: ``(k, 3)`` circles or ``(k, 6)`` rows with a kind."""
    arr = np.asarray(obstacles, dtype=np.float64)
    return arr.reshape(-1, arr.shape[-1] if arr.ndim == 2 and arr.shape[-1] == WIDE else 3)


def _patch(o: np.ndarray) -> Patch:
    """A circle, or a box / wall segment (a segment drawn 2 cm thick so that it shows)."""
    if len(o) > 3 and o[5] == BOX:
        x, y, hl, hw, ang = (float(v) for v in o[:5])
        hw = max(hw, 0.01)
        c, s = math.cos(ang), math.sin(ang)
        corner = (x - c * hl + s * hw, y - s * hl - c * hw)
        return Rectangle(corner, 2 * hl, 2 * hw, angle=math.degrees(ang), color="dimgray",
                         alpha=0.8)
    return Circle((o[0], o[1]), o[2], color="dimgray", alpha=0.8)


class FrameRenderer:
    """Reusable Agg figure producing ``(H, W, 3)`` uint8 frames of one game."""

    def __init__(self, config: EnvConfig, size_px: int = 400) -> None:
        """
        :param config: game config (arena, radii, capture radius).
        :param size_px: frame width and height in pixels.
        """
        self.config = config
        dpi = 100
        self.fig = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.02, 0.02, 0.96, 0.96))
        self.ax.set_axis_off()
        self._obstacles: np.ndarray | None = None
        self._obstacle_patches: list[Circle] = []
        self._bodies = []
        self._lines = []
        self._headings = []
        x_min, x_max, y_min, y_max = config.arena.bounds()
        _draw_arena(self.ax, config, np.zeros((0, 3)))
        for a, robot in enumerate(config.robots()):
            self._bodies.append(self.ax.add_patch(
                Circle((0, 0), robot.radius, color=AGENT_COLORS[a], zorder=3)))
            self._lines.append(self.ax.plot([], [], color=AGENT_COLORS[a], lw=1)[0])
            self._headings.append(self.ax.plot([], [], color="black", lw=1, zorder=4)[0])
        self._capture = self.ax.add_patch(Circle((0, 0), config.capture_radius, fill=False,
                                                 ls="--", color=AGENT_COLORS[0], zorder=2))
        self._title = self.ax.text(x_min, y_max, "", va="bottom", fontsize=8)

    def frame(self, poses: Sequence[Sequence[float]], obstacles: np.ndarray,
              trajectory: Sequence[Sequence[Sequence[float]]] = (),
              captured: bool = False, text: str = "") -> np.ndarray:
        """Draw one state and return the RGB image.

        :param poses: ``(2, 3)`` current poses.
        :param obstacles: ``(k, 3)`` obstacles.
        :param trajectory: past poses ``(T, 2, 3)`` drawn as lines.
        :param captured: mark a capture.
        :param text: caption.
        """
        obstacles = _rows(obstacles)
        if self._obstacles is None or self._obstacles.shape != obstacles.shape \
                or not np.array_equal(obstacles, self._obstacles):
            for p in self._obstacle_patches:
                p.remove()
            self._obstacle_patches = [self.ax.add_patch(_patch(o)) for o in obstacles]
            self._obstacles = obstacles.copy()
        poses_arr = np.asarray(poses, dtype=np.float64).reshape(2, 3)
        traj = np.asarray(trajectory, dtype=np.float64).reshape(-1, 2, 3)
        for a in range(2):
            x, y, th = poses_arr[a]
            r = self.config.robots()[a].radius
            self._bodies[a].center = (x, y)
            self._headings[a].set_data([x, x + 2 * r * np.cos(th)], [y, y + 2 * r * np.sin(th)])
            self._lines[a].set_data(traj[:, a, 0], traj[:, a, 1])
        self._capture.center = tuple(poses_arr[0, :2])
        self._capture.set_linestyle("-" if captured else "--")
        self._title.set_text(text)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        """Drop the figure."""
        self.fig.clear()


def plot_episode(config: EnvConfig, obstacles: np.ndarray, trajectory: np.ndarray,
                 captured: bool | None = None, title: str = "",
                 ax: plt.Axes | None = None) -> Figure:
    """Figure of a whole episode: arena, obstacles, both trajectories, start/end, capture.

    :param config: game config.
    :param obstacles: ``(k, 3)`` obstacles.
    :param trajectory: ``(T, 2, 3)`` poses over the episode (T >= 1).
    :param captured: mark the capture point (default: final distance <= capture radius).
    :param title: axes title.
    :param ax: axes to draw into (default: a new figure).
    """
    traj = np.asarray(trajectory, dtype=np.float64).reshape(-1, 2, 3)
    if traj.shape[0] == 0:
        raise ValueError("trajectory needs at least one pose pair")
    if ax is None:
        fig = Figure(figsize=(6, 6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    _draw_arena(ax, config, obstacles)
    for a, (name, robot) in enumerate(zip(ROLES, config.robots())):
        ax.plot(traj[:, a, 0], traj[:, a, 1], color=AGENT_COLORS[a], lw=1.2, label=name)
        ax.plot(*traj[0, a, :2], marker="o", color=AGENT_COLORS[a], ms=5)
        ax.add_patch(Circle(tuple(traj[-1, a, :2]), robot.radius, color=AGENT_COLORS[a]))
    if captured is None:
        captured = bool(np.hypot(*(traj[-1, 0, :2] - traj[-1, 1, :2])) <= config.capture_radius)
    if captured:
        ax.plot(*traj[-1, 1, :2], marker="x", color="black", ms=12, mew=2, label="capture")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or f"{traj.shape[0] - 1} steps, {'captured' if captured else 'escaped'}")
    return fig


def save_episode_png(path: str | os.PathLike[str], config: EnvConfig, obstacles: np.ndarray,
                     trajectory: np.ndarray, **kwargs: object) -> None:
    """Save :func:`plot_episode` as a PNG.

    :param path: output file.
    :param config: game config.
    :param obstacles: ``(k, 3)`` obstacles.
    :param trajectory: ``(T, 2, 3)`` poses.
    :param kwargs: forwarded to :func:`plot_episode`.
    """
    fig = plot_episode(config, obstacles, trajectory, **kwargs)  # type: ignore[arg-type]
    fig.savefig(os.fspath(path), dpi=100)


def save_episode_gif(path: str | os.PathLike[str], config: EnvConfig, obstacles: np.ndarray,
                     trajectory: np.ndarray, fps: int = 20, stride: int = 1,
                     size_px: int = 300) -> int:
    """Save an animated GIF of an episode (Pillow writer); return the number of frames.

    :param path: output ``.gif`` file.
    :param config: game config.
    :param obstacles: ``(k, 3)`` obstacles.
    :param trajectory: ``(T, 2, 3)`` poses.
    :param fps: frames per second of the GIF.
    :param stride: use every ``stride``-th pose.
    :param size_px: frame size in pixels.
    """
    from PIL import Image  # Pillow: only for GIFs

    traj = np.asarray(trajectory, dtype=np.float64).reshape(-1, 2, 3)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    renderer = FrameRenderer(config, size_px)
    idx = list(range(0, traj.shape[0], stride))
    if idx[-1] != traj.shape[0] - 1:
        idx.append(traj.shape[0] - 1)
    frames = []
    for t in idx:
        captured = bool(np.hypot(*(traj[t, 0, :2] - traj[t, 1, :2])) <= config.capture_radius)
        frames.append(Image.fromarray(renderer.frame(traj[t], obstacles, traj[:t + 1], captured,
                                                     f"step {t}")))
    renderer.close()
    frames[0].save(os.fspath(path), save_all=True, append_images=frames[1:],
                   duration=max(1, int(1000 / fps)), loop=0)
    return len(frames)
