"""Random instance generators shared by the safe_pe_cbf tests (not a test module)."""

import numpy as np


def random_scenes(rng, N, K=3, size=6.0, near=1.0, mask_p=0.7):
    """Poses, opponents near them, obstacles (N, K, 3) with a mask, wide nominal commands."""
    P = np.c_[rng.uniform(0, size, (N, 2)), rng.uniform(-np.pi, np.pi, N)]
    Q = np.c_[P[:, :2] + rng.uniform(-near, near, (N, 2)), rng.uniform(-np.pi, np.pi, N)]
    O = np.concatenate([rng.uniform(0, size, (N, K, 2)), rng.uniform(0.05, 1.0, (N, K, 1))],
                       axis=2)
    mask = rng.random((N, K)) < mask_p
    U = np.c_[rng.uniform(-0.3, 1.3, N), rng.uniform(-4.0, 4.0, N)]
    return P, Q, O, mask, U
