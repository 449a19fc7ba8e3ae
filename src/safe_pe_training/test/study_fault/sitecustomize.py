"""Fault injection for test_study.py (imported only by processes whose PYTHONPATH holds this
folder): when ``SAFE_PE_TEST_KILL_RUN_DIR`` names a run directory, the training process of
that run SIGKILLs itself right after it wrote ``run_state.json`` for the first time (and
creates ``SAFE_PE_TEST_KILL_MARKER`` so that the retry runs normally; with
``SAFE_PE_TEST_KILL_ALWAYS=1`` every attempt dies). This makes "a task killed mid-run"
deterministic: no timing, no polling.
"""

import os

_RUN_DIR = os.environ.get("SAFE_PE_TEST_KILL_RUN_DIR")
_MARKER = os.environ.get("SAFE_PE_TEST_KILL_MARKER")
_ALWAYS = os.environ.get("SAFE_PE_TEST_KILL_ALWAYS") == "1"

if _RUN_DIR and _MARKER:
    import signal
    from pathlib import Path

    import safe_pe_training.training_state as _state

    _write = _state.write_run_state

    def _write_then_die(path, state):
        written = _write(path, state)
        if Path(path).resolve().parent == Path(_RUN_DIR).resolve() and \
                (_ALWAYS or not os.path.exists(_MARKER)):
            Path(_MARKER).write_text("killed\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return written

    _state.write_run_state = _write_then_die
