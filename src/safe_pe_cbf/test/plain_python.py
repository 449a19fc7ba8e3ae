"""Run a script in a fresh interpreter with numba off (a robot without numba) and load what it
saved: the plain-Python kernels' results, to compare with the compiled ones (not a test
module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from safe_pe_cbf.config import CBFConfig


def run_plain_python(script: str, config: CBFConfig, tmp_path: Path) -> dict:
    """Run ``script`` with ``NUMBA_DISABLE_JIT=1`` and return the arrays it saved.

    :param script: Python source; ``sys.argv[1]`` is this test folder (for imports),
        ``argv[2]`` the config as JSON, ``argv[3]`` the ``.npz`` file to save into
    :param config: the filter config handed to the script
    :param tmp_path: where the ``.npz`` goes
    """
    dump = tmp_path / "plain.npz"
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent),
                    json.dumps(config.to_dict()), str(dump)], env=env, check=True, timeout=600)
    with np.load(dump) as data:
        return dict(data)
