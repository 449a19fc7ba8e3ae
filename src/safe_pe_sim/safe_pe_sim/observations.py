"""Fixed-size, ego-centric, normalised observations (no running normaliser needed).

Every entry lies in ``[-1, 1]`` (values are clipped) and is ``float32``. For agent ``a`` with
opponent ``o`` (ego frame: x forward along ``a``'s heading, y to its left), ``W, H`` the arena
size and ``D`` its diagonal:

====  ================  =================================================================
idx   name              value
====  ================  =================================================================
0     own_x             ``2 (x - x_min) / W - 1``
1     own_y             ``2 (y - y_min) / H - 1``
2     own_cos           ``cos(theta)``
3     own_sin           ``sin(theta)``
4     own_v             ``v / max(|v_min|, |v_max|)`` (own limits; last applied command)
5     own_omega         ``omega / omega_max`` (own limits)
6     opp_dx            opponent position in the ego frame, x, ``/ D``
7     opp_dy            opponent position in the ego frame, y, ``/ D``
8     opp_distance      centre distance ``/ D``
9     opp_cos           ``cos(theta_o - theta)``
10    opp_sin           ``sin(theta_o - theta)``
11    opp_vx            opponent velocity in the ego frame, x, ``/ V`` (V = fastest robot)
12    opp_vy            opponent velocity in the ego frame, y, ``/ V``
13    opp_omega         ``omega_o / omega_max_o``
14    wall_x_min        body clearance to the wall ``x_min``: ``(x - x_min - r) / W``
15    wall_x_max        ``(x_max - x - r) / W``
16    wall_y_min        ``(y - y_min - r) / H``
17    wall_y_max        ``(y_max - y - r) / H``
18    time_left         ``1 - step / max_steps``
19+5k obstacle k        k-th nearest obstacle by body clearance (k < N_OBSTACLE_OBS):
                        ``dx / D, dy / D`` (ego frame), ``radius / D``,
                        ``clearance / D`` (``|p - c| - radius - r``), ``present`` (1 or 0)
====  ================  =================================================================

Missing obstacles (fewer than ``N_OBSTACLE_OBS`` in the layout) are all-zero rows with
``present = 0``. Ties in clearance keep the obstacle row order.
"""

from __future__ import annotations

import math

import numpy as np

from .config import EnvConfig

__all__ = ["N_OBSTACLE_OBS", "OBSTACLE_FEATURES", "BASE_DIM", "OBS_DIM", "OBS_NAMES",
           "ObservationBuilder"]

N_OBSTACLE_OBS = 4
"""Number of nearest obstacles in every observation."""
OBSTACLE_FEATURES = 5
"""Features per observed obstacle."""
BASE_DIM = 19
"""Entries before the obstacle block."""
OBS_DIM = BASE_DIM + N_OBSTACLE_OBS * OBSTACLE_FEATURES
"""Observation length (39)."""
OBS_NAMES = (
    ["own_x", "own_y", "own_cos", "own_sin", "own_v", "own_omega", "opp_dx", "opp_dy",
     "opp_distance", "opp_cos", "opp_sin", "opp_vx", "opp_vy", "opp_omega", "wall_x_min",
     "wall_x_max", "wall_y_min", "wall_y_max", "time_left"]
    + [f"obs{k}_{f}" for k in range(N_OBSTACLE_OBS)
       for f in ("dx", "dy", "radius", "clearance", "present")])
"""Name of every observation entry, in order."""


class ObservationBuilder:
    """Builds observations for a config, batched (numpy) or for one game (pure Python)."""

    def __init__(self, config: EnvConfig) -> None:
        """:param config: validated environment config."""
        self.bounds = config.arena.bounds()
        x_min, x_max, y_min, y_max = self.bounds
        self.width = x_max - x_min
        self.height = y_max - y_min
        self.diag = math.hypot(self.width, self.height)
        robots = config.robots()
        self.radii = np.array([r.radius for r in robots])
        self.v_scale = np.array([r.v_abs_max for r in robots])
        self.omega_scale = np.array([r.omega_max for r in robots])
        self.v_opp_scale = max(r.v_abs_max for r in robots)
        self.max_steps = config.max_steps

    # ------------------------------------------------------------------ batched
    def batch(self, poses: np.ndarray, velocities: np.ndarray, obstacles: np.ndarray,
              mask: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Observations of both agents of N games.

        :param poses: ``(N, 2, 3)`` poses.
        :param velocities: ``(N, 2, 2)`` last applied commands ``(v, omega)``.
        :param obstacles: ``(N, K, 3)`` obstacles.
        :param mask: ``(N, K)`` real obstacle rows.
        :param steps: ``(N,)`` control steps played in the episode.
        :return: ``(N, 2, OBS_DIM)`` float32, agent 0 = pursuer, 1 = evader.
        """
        n = poses.shape[0]
        out = np.zeros((n, 2, OBS_DIM), dtype=np.float64)
        x = poses[..., 0]
        y = poses[..., 1]
        th = poses[..., 2]
        c = np.cos(th)
        s = np.sin(th)
        x_min, x_max, y_min, y_max = self.bounds
        w, h, diag = self.width, self.height, self.diag
        out[..., 0] = 2.0 * (x - x_min) / w - 1.0
        out[..., 1] = 2.0 * (y - y_min) / h - 1.0
        out[..., 2] = c
        out[..., 3] = s
        out[..., 4] = velocities[..., 0] / self.v_scale
        out[..., 5] = velocities[..., 1] / self.omega_scale
        dx = x[:, ::-1] - x
        dy = y[:, ::-1] - y
        out[..., 6] = (c * dx + s * dy) / diag
        out[..., 7] = (c * dy - s * dx) / diag
        out[..., 8] = np.hypot(dx, dy) / diag
        dth = th[:, ::-1] - th
        rc = np.cos(dth)
        rs = np.sin(dth)
        out[..., 9] = rc
        out[..., 10] = rs
        v_o = velocities[:, ::-1, 0]
        out[..., 11] = v_o * rc / self.v_opp_scale
        out[..., 12] = v_o * rs / self.v_opp_scale
        out[..., 13] = velocities[:, ::-1, 1] / self.omega_scale[::-1]
        r = self.radii
        out[..., 14] = (x - x_min - r) / w
        out[..., 15] = (x_max - x - r) / w
        out[..., 16] = (y - y_min - r) / h
        out[..., 17] = (y_max - y - r) / h
        out[..., 18] = (1.0 - steps / self.max_steps)[:, None]
        k = obstacles.shape[1]
        if k:
            odx = obstacles[:, None, :, 0] - x[..., None]          # (N, 2, K)
            ody = obstacles[:, None, :, 1] - y[..., None]
            orad = np.broadcast_to(obstacles[:, None, :, 2], odx.shape)
            clear = np.hypot(odx, ody) - orad - r[:, None]
            key = np.where(mask[:, None, :], clear, np.inf)
            m = min(k, N_OBSTACLE_OBS)
            order = np.argsort(key, axis=-1, kind="stable")[..., :m]
            def take(a: np.ndarray) -> np.ndarray:
                return np.take_along_axis(a, order, axis=-1)
            sdx, sdy, srad, sclear = take(odx), take(ody), take(orad), take(clear)
            present = take(np.broadcast_to(mask[:, None, :], odx.shape))
            cc = c[..., None]
            ss = s[..., None]
            feats = np.stack(((cc * sdx + ss * sdy) / diag, (cc * sdy - ss * sdx) / diag,
                              srad / diag, sclear / diag, np.ones_like(sdx)), axis=-1)
            feats *= present[..., None]
            out[..., BASE_DIM:BASE_DIM + m * OBSTACLE_FEATURES] = feats.reshape(n, 2, -1)
        np.clip(out, -1.0, 1.0, out=out)
        return out.astype(np.float32)

    # ------------------------------------------------------------------ scalar
    def single(self, agent: int, poses: list[tuple[float, float, float]],
               velocities: list[tuple[float, float]],
               obstacles: list[tuple[float, float, float]], step: int) -> np.ndarray:
        """Observation of one agent of one game, in pure Python (same values as :meth:`batch`).

        :param agent: 0 = pursuer, 1 = evader.
        :param poses: ``[(x, y, theta)] * 2``.
        :param velocities: ``[(v, omega)] * 2``.
        :param obstacles: real obstacles ``[(x, y, radius), ...]`` in row order.
        :param step: control steps played in the episode.
        :return: ``(OBS_DIM,)`` float32.
        """
        o = 1 - agent
        x, y, th = poses[agent]
        xo, yo, tho = poses[o]
        c = math.cos(th)
        s = math.sin(th)
        x_min, x_max, y_min, y_max = self.bounds
        w, h, diag = self.width, self.height, self.diag
        r = float(self.radii[agent])
        dx = xo - x
        dy = yo - y
        dth = tho - th
        rc = math.cos(dth)
        rs = math.sin(dth)
        v_o, om_o = velocities[o]
        vals = [
            2.0 * (x - x_min) / w - 1.0, 2.0 * (y - y_min) / h - 1.0, c, s,
            velocities[agent][0] / float(self.v_scale[agent]),
            velocities[agent][1] / float(self.omega_scale[agent]),
            (c * dx + s * dy) / diag, (c * dy - s * dx) / diag, math.hypot(dx, dy) / diag,
            rc, rs, v_o * rc / self.v_opp_scale, v_o * rs / self.v_opp_scale,
            om_o / float(self.omega_scale[o]),
            (x - x_min - r) / w, (x_max - x - r) / w, (y - y_min - r) / h, (y_max - y - r) / h,
            1.0 - step / self.max_steps,
        ]
        if obstacles:
            rows = []
            for ox, oy, orad in obstacles:
                odx = ox - x
                ody = oy - y
                rows.append((math.hypot(odx, ody) - orad - r, odx, ody, orad))
            order = sorted(range(len(rows)), key=lambda i: rows[i][0])[:N_OBSTACLE_OBS]
            for i in order:
                clear, odx, ody, orad = rows[i]
                vals += ((c * odx + s * ody) / diag, (c * ody - s * odx) / diag, orad / diag,
                         clear / diag, 1.0)
        vals += [0.0] * (OBS_DIM - len(vals))
        arr = np.array(vals, dtype=np.float64)
        np.clip(arr, -1.0, 1.0, out=arr)
        return arr.astype(np.float32)
