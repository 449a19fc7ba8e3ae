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
19    role              ``+1`` for the pursuer, ``-1`` for the evader
20    opp_los_cos       unit vector to the opponent in the ego frame, x (0 at distance 0)
21    opp_los_sin       unit vector to the opponent in the ego frame, y
22    opp_near          ``2 min(distance / L, 1) - 1`` with the near scale ``L``
23    opp_los_rate      opponent velocity across the line of sight
                        (``opp_los_cos * opp_vy - opp_los_sin * opp_vx``, ``/ V``)
24+5k obstacle k        k-th nearest obstacle by body clearance (k < N_OBSTACLE_OBS):
                        ``dx / L, dy / L`` (ego frame), ``radius / L``,
                        ``clearance / L`` (``|p - c| - radius - r``), ``present`` (1 or 0);
                        a box (or wall segment) is seen as its nearest surface point:
                        ``dx, dy`` to that point, radius 0, clearance ``sd - r``
====  ================  =================================================================

``L = NEAR_SCALE_CAPTURE_RADII * capture_radius`` (5 m in the default world, 3 m in
TurtleBot3's) is the *near scale*: what happens within it is what a robot must steer by, so
the opponent's direction and range and the nearest obstacles are given at that resolution
(entries clip at +-1 beyond it), beside the arena-scale ``opp_dx/dy/distance``. A pursuer
learns an order of magnitude faster with the unit line-of-sight vector than from
``opp_dx / D`` alone (``docs/training.md``, learning ablation).

Missing obstacles (fewer than ``N_OBSTACLE_OBS`` in the layout) are all-zero rows with
``present = 0``. Ties in clearance keep the obstacle row order.

The batched builder has two backends with identical results (tested bitwise on random
inputs): a compiled per-game loop (``"numba"``, :mod:`safe_pe_sim.observation_kernels`, the
default when numba is installed; fastest at every N, and what matters at training's N = 16,
where each numpy call's overhead dominates) and whole-array numpy operations (``"numpy"``).
"""

from __future__ import annotations

import math

import numpy as np

from safe_pe_cbf.barriers import (BOX, KIND, WIDE, nearest_point, nearest_points,
                                  surface_distance)
from safe_pe_cbf.jit import BACKENDS, pick_backend as pick_kernel_backend

from . import observation_kernels as kern
from .config import EnvConfig
from .errors import SimInputError

__all__ = ["N_OBSTACLE_OBS", "OBSTACLE_FEATURES", "BASE_DIM", "OBS_DIM", "OBS_NAMES",
           "NEAR_SCALE_CAPTURE_RADII",
           "BACKENDS", "ObservationBackendError", "ObservationBuilder", "pick_backend"]

N_OBSTACLE_OBS = 4
"""Number of nearest obstacles in every observation."""
OBSTACLE_FEATURES = 5
"""Features per observed obstacle."""
BASE_DIM = 24
"""Entries before the obstacle block."""
OBS_DIM = BASE_DIM + N_OBSTACLE_OBS * OBSTACLE_FEATURES
"""Observation length (44; a multiple of 4, which the batched builder relies on)."""
NEAR_SCALE_CAPTURE_RADII = 10.0
"""The near scale ``L`` in capture radii."""
OBS_NAMES = (
    ["own_x", "own_y", "own_cos", "own_sin", "own_v", "own_omega", "opp_dx", "opp_dy",
     "opp_distance", "opp_cos", "opp_sin", "opp_vx", "opp_vy", "opp_omega", "wall_x_min",
     "wall_x_max", "wall_y_min", "wall_y_max", "time_left", "role", "opp_los_cos",
     "opp_los_sin", "opp_near", "opp_los_rate"]
    + [f"obs{k}_{f}" for k in range(N_OBSTACLE_OBS)
       for f in ("dx", "dy", "radius", "clearance", "present")])
"""Name of every observation entry, in order."""


class ObservationBackendError(ImportError):
    """The ``"numba"`` backend was asked for but numba is not installed."""


def pick_backend(backend: str) -> str:
    """Resolve ``backend`` to ``"numba"`` or ``"numpy"``.

    :param backend: one of :data:`BACKENDS`.
    :raises SimInputError: unknown name.
    :raises ObservationBackendError: ``"numba"`` without numba installed.
    """
    return pick_kernel_backend(backend, kern.AVAILABLE, SimInputError, ObservationBackendError,
                               "observation backend")


def _first(row: tuple[float, ...]) -> float:
    return row[0]


class ObservationBuilder:
    """Builds observations for a config, batched (numba or numpy) or for one game (Python).

    :param config: validated environment config.
    :param backend: batched backend, "auto" (numba if installed, else numpy), "numba" or
        "numpy"; the results are identical.
    """

    def __init__(self, config: EnvConfig, backend: str = "auto") -> None:
        #: the batched backend in use: "numba" or "numpy"
        self.backend = pick_backend(backend)
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
        self.near = NEAR_SCALE_CAPTURE_RADII * float(config.capture_radius)
        self._radii = [float(v) for v in self.radii]
        self._v_scale = [float(v) for v in self.v_scale]
        self._omega_scale = [float(v) for v in self.omega_scale]
        self._zeros = [0.0] * OBS_DIM
        self._consts = (x_min, x_max, y_min, y_max, self.width, self.height, self.diag,
                        2.0 / self.width, 2.0 / self.height, self.v_opp_scale)
        self._buffers: dict[tuple[int, int], np.ndarray] = {}
        consts = dict(x_min=x_min, x_max=x_max, y_min=y_min, y_max=y_max, width=self.width,
                      height=self.height, diag=self.diag, x_scale=2.0 / self.width,
                      y_scale=2.0 / self.height, v_opp_scale=self.v_opp_scale,
                      max_steps=self.max_steps, near=self.near)
        for a in range(2):
            consts[f"radius_{a}"] = self._radii[a]
            consts[f"v_scale_{a}"] = self._v_scale[a]
            consts[f"omega_scale_{a}"] = self._omega_scale[a]
        self._kernel_consts = np.array([float(consts[n]) for n in kern.CONST_NAMES])

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
        return self.batch_with_clearance(poses, velocities, obstacles, mask, steps)[0]

    def batch_with_clearance(self, poses: np.ndarray, velocities: np.ndarray,
                             obstacles: np.ndarray, mask: np.ndarray, steps: np.ndarray,
                             obstacle_rows: tuple[np.ndarray, np.ndarray] | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`batch` plus each body's raw static clearance ``(N, 2)`` [m].

        The clearance is the smallest signed gap to any wall or real obstacle (the safety
        check's pre-filter uses it as the start clearance of the next step).

        :param poses: ``(N, 2, 3)`` poses.
        :param velocities: ``(N, 2, 2)`` last applied commands.
        :param obstacles: ``(N, K, 3)`` obstacles.
        :param mask: ``(N, K)`` real obstacle rows.
        :param steps: ``(N,)`` control steps played in the episode.
        :param obstacle_rows: optional cache of :meth:`obstacle_rows` for these obstacles
            (used by the numpy backend only).
        :return: ``(N, 2, OBS_DIM)`` float32 and ``(N, 2)`` float64, new arrays every call.
        """
        if self.backend == "numba":
            args = self._kernel_args(poses, velocities, obstacles, mask, steps)
            if args is not None:
                return kern.observe_kernel(*args, self._kernel_consts)
        return self._batch_numpy(poses, velocities, obstacles, mask, steps, obstacle_rows)

    def _kernel_args(self, poses: np.ndarray, velocities: np.ndarray, obstacles: np.ndarray,
                     mask: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """Inputs checked for shape (the kernel does no bounds checks), as C-contiguous
        float64 coordinates, bool mask and int64 or float64 steps (integers converted). None
        for other dtypes (e.g. float32, whose values numpy computes in float32): the numpy
        backend then runs, so both backends always give identical results."""
        poses = _kernel_array(poses, _F64)
        velocities = _kernel_array(velocities, _F64)
        obstacles = _kernel_array(obstacles, _F64)
        mask = _kernel_array(mask, _BOOL)
        steps = _kernel_array(steps, _F64 if steps.dtype == _F64 else _I64)
        if poses is None or velocities is None or obstacles is None or mask is None \
                or steps is None:
            return None
        n = poses.shape[0]
        k = obstacles.shape[1] if obstacles.ndim == 3 else -1
        if poses.shape != (n, 2, 3) or velocities.shape != (n, 2, 2) \
                or obstacles.shape not in ((n, k, 3), (n, k, WIDE)) or mask.shape != (n, k) \
                or steps.shape != (n,):
            raise SimInputError(
                "observation inputs must be poses (N, 2, 3), velocities (N, 2, 2), obstacles "
                f"(N, K, 3) or (N, K, {WIDE}), mask (N, K), steps (N,); got {poses.shape}, "
                f"{velocities.shape}, {obstacles.shape}, {mask.shape}, {steps.shape}")
        return poses, velocities, obstacles, mask, steps

    def _batch_numpy(self, poses: np.ndarray, velocities: np.ndarray, obstacles: np.ndarray,
                     mask: np.ndarray, steps: np.ndarray,
                     obstacle_rows: tuple[np.ndarray, np.ndarray] | None
                     ) -> tuple[np.ndarray, np.ndarray]:
        n = poses.shape[0]
        m = 2 * n
        # Rows r = 2 i + a (game i, agent a); the opponent of row r is row r ^ 1. numpy is slow
        # on inner dimensions of size 2 (agents) or K (obstacles) and on element-wise
        # transposes, so features are computed as contiguous (m,) vectors and written into
        # groups of four floats, G[k // 4, :, k % 4]; one transpose of 16-byte units then gives
        # the (m, OBS_DIM) row-major result.
        flat = poses.reshape(m, 3)
        x = np.ascontiguousarray(flat[:, 0])
        y = np.ascontiguousarray(flat[:, 1])
        th = np.ascontiguousarray(flat[:, 2])
        vel = velocities.reshape(m, 2)
        v = np.ascontiguousarray(vel[:, 0])
        om = np.ascontiguousarray(vel[:, 1])
        swap = np.arange(m) ^ 1
        xo, yo, vo, omo = x[swap], y[swap], v[swap], om[swap]
        c = np.cos(th)
        s = np.sin(th)
        co = c[swap]
        so = s[swap]
        r = np.tile(self.radii, n)
        x_min, x_max, y_min, y_max = self.bounds
        w, h, diag, near = self.width, self.height, self.diag, self.near
        k = obstacles.shape[1]
        G = self._buffers.get((m, k))
        if G is None:
            G = np.zeros((OBS_DIM // 4, m, 4), dtype=np.float32)
            if m >= 1024:        # reuse big scratch buffers (every used slot is rewritten);
                if len(self._buffers) >= 4:     # bounded: subset calls vary in size
                    self._buffers.clear()
                self._buffers[(m, k)] = G

        def put(k: int, value: np.ndarray | float) -> None:
            G[k >> 2, :, k & 3] = value

        put(0, (x - x_min) * (2.0 / w) - 1.0)
        put(1, (y - y_min) * (2.0 / h) - 1.0)
        put(2, c)
        put(3, s)
        put(4, v / np.tile(self.v_scale, n))
        put(5, om / np.tile(self.omega_scale, n))
        dx = xo - x
        dy = yo - y
        put(6, (c * dx + s * dy) / diag)
        put(7, (c * dy - s * dx) / diag)
        dist = np.sqrt(dx * dx + dy * dy)
        put(8, dist / diag)
        rc = co * c + so * s                   # cos(theta_o - theta)
        rs = so * c - co * s                   # sin(theta_o - theta)
        put(9, rc)
        put(10, rs)
        vo = vo / self.v_opp_scale
        put(11, vo * rc)
        put(12, vo * rs)
        inv = np.divide(1.0, dist, out=np.zeros(m), where=dist > 0.0)
        lc = (c * dx + s * dy) * inv
        ls = (c * dy - s * dx) * inv
        put(20, lc)
        put(21, ls)
        put(22, np.minimum(dist / near, 1.0) * 2.0 - 1.0)
        put(23, vo * (lc * rs - ls * rc))
        put(13, omo / np.tile(self.omega_scale[::-1], n))
        w0 = x - x_min - r
        w1 = x_max - x - r
        w2 = y - y_min - r
        w3 = y_max - y - r
        put(14, w0 / w)
        put(15, w1 / w)
        put(16, w2 / h)
        put(17, w3 / h)
        put(18, np.repeat(1.0 - steps / self.max_steps, 2))
        put(19, np.tile(np.array([1.0, -1.0], dtype=np.float32), n))
        clearance = np.minimum(np.minimum(w0, w1), np.minimum(w2, w3))
        if k:
            obs_t, msk = obstacle_rows if obstacle_rows is not None else self.obstacle_rows(
                obstacles, mask)
            if obs_t.shape[0] > 3:  # rows with a kind: a box is its nearest point, radius 0
                rows = np.moveaxis(obs_t, 0, -1)
                cx, cy, orad = nearest_points(rows, x, y)
                odx = cx - x
                ody = cy - y
                clear = np.where(rows[..., KIND] == BOX, surface_distance(rows, x, y) - r,
                                 np.sqrt(odx * odx + ody * ody) - orad - r)
            else:
                odx = obs_t[0] - x
                ody = obs_t[1] - y
                orad = obs_t[2]
                clear = np.sqrt(odx * odx + ody * ody) - orad - r
            all_real = bool(msk.all())            # usual case: a fixed obstacle count
            key = clear if all_real else np.where(msk, clear, np.inf)
            np.minimum(clearance, key.min(axis=0), out=clearance)
            feats = [(c * odx + s * ody) / near, (c * ody - s * odx) / near, orad / near,
                     clear / near, np.ones(odx.shape)]                    # each (K, m)
            if not all_real:
                feats = [f * msk for f in feats]
            if k == 2:
                sw = key[1] < key[0]
                feats = [np.where(sw, f[::-1], f) for f in feats]
            elif k > 2:
                order = np.argsort(key.T, axis=1, kind="stable")[:, :N_OBSTACLE_OBS].T
                feats = [np.take_along_axis(f, order, axis=0) for f in feats]
            for j in range(min(k, N_OBSTACLE_OBS)):
                for q in range(OBSTACLE_FEATURES):
                    put(BASE_DIM + OBSTACLE_FEATURES * j + q, feats[q][j])
        np.clip(G, -1.0, 1.0, out=G)
        units = G.view(np.complex128).reshape(OBS_DIM // 4, m)
        out = np.ascontiguousarray(units.T).view(np.float32).reshape(n, 2, OBS_DIM)
        return out, clearance.reshape(n, 2)

    @staticmethod
    def obstacle_rows(obstacles: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Obstacles per observation row: ``(W, K, 2N)`` columns and ``(K, 2N)`` mask.

        :param obstacles: ``(N, K, W)`` obstacles (``W = 3`` circles, 6 rows with a kind).
        :param mask: ``(N, K)`` real obstacle rows.
        """
        return (np.repeat(obstacles.transpose(2, 1, 0), 2, axis=2),
                np.repeat(mask.T, 2, axis=1))

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
        v_a, om_a = velocities[agent]
        v_o, om_o = velocities[o]
        x_min, x_max, y_min, y_max, w, h, diag, sx, sy, v_opp = self._consts
        c = math.cos(th)
        s = math.sin(th)
        r = self._radii[agent]
        dx = xo - x
        dy = yo - y
        co = math.cos(tho)
        so = math.sin(tho)
        rc = co * c + so * s
        rs = so * c - co * s
        vo = v_o / v_opp
        dist = math.sqrt(dx * dx + dy * dy)
        inv = 1.0 / dist if dist > 0.0 else 0.0
        lc = (c * dx + s * dy) * inv
        ls = (c * dy - s * dx) * inv
        near = self.near
        vals = [
            (x - x_min) * sx - 1.0, (y - y_min) * sy - 1.0, c, s,
            v_a / self._v_scale[agent], om_a / self._omega_scale[agent],
            (c * dx + s * dy) / diag, (c * dy - s * dx) / diag,
            dist / diag, rc, rs, vo * rc, vo * rs,
            om_o / self._omega_scale[o],
            (x - x_min - r) / w, (x_max - x - r) / w, (y - y_min - r) / h, (y_max - y - r) / h,
            1.0 - step / self.max_steps, 1.0 if agent == 0 else -1.0,
            lc, ls, min(dist / near, 1.0) * 2.0 - 1.0, vo * (lc * rs - ls * rc),
        ]
        if obstacles:
            rows = []
            for ob in obstacles:
                ox, oy, orad, sd = nearest_point(ob, x, y)
                rows.append((sd - r, ox - x, oy - y, orad))
            if len(rows) == 2:
                if rows[1][0] < rows[0][0]:
                    rows.reverse()
            else:
                rows = sorted(rows, key=_first)[:N_OBSTACLE_OBS]
            for clear, odx, ody, orad in rows:
                vals += ((c * odx + s * ody) / near, (c * ody - s * odx) / near, orad / near,
                         clear / near, 1.0)
        vals += self._zeros[:OBS_DIM - len(vals)]
        if min(vals) < -1.0 or max(vals) > 1.0:     # rare: a body outside the arena
            vals = [-1.0 if v < -1.0 else (1.0 if v > 1.0 else v) for v in vals]
        return np.array(vals, dtype=np.float32)



_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


def _kernel_array(a: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """``a`` as a C-contiguous ``dtype`` array (``a`` itself when it is one); None where
    numpy would compute in another precision than the kernel (a float or complex dtype that
    is not ``dtype``) or with other values (a non-bool mask).

    :param a: input array.
    :param dtype: float64, int64 (integer step counters) or bool (masks).
    """
    if a.dtype is not dtype and a.dtype != dtype:
        if a.dtype.kind not in ("biu" if dtype is not _BOOL else "b"):
            return None
        return np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)
