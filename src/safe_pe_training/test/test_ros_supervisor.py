"""The stack's process supervision: priorities, prefixed logs, failures, signals, escalation.

Children are small Python programs; every wait is on a condition (a file appears, a process
exits) with a generous cap, never on a wall-clock window.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from safe_pe_training.ros.supervisor import (
    ChildSpec,
    Supervisor,
    SupervisorError,
    exit_code,
    supervise,
)

CAP_S = 60.0   # generous cap of every condition wait (a busy CI box is slow, never stuck)

# Waits for SIGINT/SIGTERM (installed before it says it is ready), writes which one it got.
POLITE = textwrap.dedent('''
    import pathlib, signal, sys
    ready, mark = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    def stop(sig, frame):
        mark.write_text(signal.Signals(sig).name)
        raise SystemExit(0)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print('ready', flush=True)
    ready.touch()
    while True:
        signal.pause()
''')

# Ignores SIGINT and SIGTERM: only SIGKILL ends it.
STUBBORN = textwrap.dedent('''
    import pathlib, signal, sys
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pathlib.Path(sys.argv[1]).touch()
    while True:
        signal.pause()
''')

# Exits with a code once another child is ready (so that one is stopped, not killed early).
FAILING = textwrap.dedent('''
    import pathlib, sys, time
    other, code = pathlib.Path(sys.argv[1]), int(sys.argv[2])
    deadline = time.monotonic() + 60.0
    while not other.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    print('giving up', file=sys.stderr, flush=True)
    raise SystemExit(code)
''')


def py(script: str, *args: object) -> list[str]:
    return [sys.executable, '-c', script, *map(str, args)]


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + CAP_S
    while not predicate():
        assert time.monotonic() < deadline, f'gave up waiting for {what}'
        time.sleep(0.02)


def test_child_runs_at_lower_priority_with_prefixed_output():
    out = io.StringIO()
    show_nice = 'import os; print("nice", os.nice(0)); print("bye")'
    sup = Supervisor([ChildSpec('fast', py(show_nice)), ChildSpec('slow', py(show_nice), 10)],
                     out=out)
    reason, code = supervise(sup)
    assert (reason, code) == ('every process exited', 0)
    base = os.nice(0)
    lines = out.getvalue().splitlines()
    assert f'[fast] nice {base}' in lines and f'[slow] nice {min(base + 10, 19)}' in lines
    assert '[slow] bye' in lines and '[fast] bye' in lines


def test_children_lead_their_own_process_group_in_the_runners_session():
    # own group: a terminal Ctrl-C reaches only the runner; same session: one autogroup,
    # so the niceness ranks the children against each other (Linux autogroups)
    out = io.StringIO()
    show = 'import os; print(os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid())'
    supervise(Supervisor([ChildSpec('child', py(show), nice=3),
                          ChildSpec('alone', py(show), own_session=True)], out=out))
    lines = out.getvalue().splitlines()
    assert '[child] True False' in lines             # own group, the runner's session
    assert '[alone] True True' in lines              # leads a session (an autogroup) of its own


def test_a_failing_child_stops_the_others_and_gives_its_exit_code(tmp_path):
    ready, mark = tmp_path / 'ready', tmp_path / 'mark'
    out, err = io.StringIO(), io.StringIO()
    sup = Supervisor([ChildSpec('graph', py(POLITE, ready, mark)),
                      ChildSpec('training', py(FAILING, ready, 3), nice=10)], out=out,
                     err=err)
    reasons: list[str] = []
    reason, code = supervise(sup, on_stop=reasons.append)
    assert (reason, code) == ('training exited with code 3', 3)
    assert reasons == [reason]
    assert mark.read_text() == 'SIGINT'                 # stopped like Ctrl-C, not killed
    assert sup.exits == [('training', 3), ('graph', 0)]
    assert sup.escalated == []
    assert err.getvalue().splitlines() == ['[training] giving up']   # stderr stays stderr
    assert '[graph] ready' in out.getvalue().splitlines()


def test_the_callers_condition_stops_every_child(tmp_path):
    marks = [tmp_path / 'm0', tmp_path / 'm1']
    readies = [tmp_path / 'r0', tmp_path / 'r1']
    sup = Supervisor([ChildSpec(f'c{i}', py(POLITE, readies[i], marks[i])) for i in (0, 1)],
                     out=io.StringIO())
    reason, code = supervise(sup, check=lambda s: 'done' if all(r.exists() for r in readies)
                             else '')
    assert (reason, code) == ('done', 0)
    assert [m.read_text() for m in marks] == ['SIGINT', 'SIGINT']


def test_escalation_to_sigterm_then_sigkill(tmp_path):
    ready = tmp_path / 'ready'
    sup = Supervisor([ChildSpec('stubborn', py(STUBBORN, ready))], out=io.StringIO(),
                     sigterm_grace=0.2, sigkill_grace=0.2)
    reason, code = supervise(sup, check=lambda s: 'go' if ready.exists() else '')
    assert reason == 'go'
    assert code == 128 + signal.SIGKILL == exit_code(-signal.SIGKILL)
    assert sup.escalated == [('stubborn', 'SIGTERM'), ('stubborn', 'SIGKILL')]


# Default Python signal handling: SIGINT ends it with KeyboardInterrupt (exit code 130).
PLAIN = textwrap.dedent('''
    import pathlib, sys, time
    pathlib.Path(sys.argv[1]).touch()
    time.sleep(3600)
''')


def test_a_child_ended_by_the_stop_signal_is_no_failure(tmp_path):
    # e.g. training still importing torch when the run's duration ends
    ready = tmp_path / 'ready'
    sup = Supervisor([ChildSpec('plain', py(PLAIN, ready))], out=io.StringIO(),
                     err=io.StringIO())
    reason, code = supervise(sup, check=lambda s: 'go' if ready.exists() else '')
    assert (reason, code) == ('go', 0)
    assert sup.exits == [('plain', 128 + signal.SIGINT)] and sup.first_failure() is None


RUNNER = textwrap.dedent('''
    import sys
    from safe_pe_training.ros.supervisor import ChildSpec, Supervisor, supervise
    child = sys.argv[1]
    args = sys.argv[2:]
    sup = Supervisor([ChildSpec('a', [sys.executable, '-c', child, args[0], args[1]]),
                      ChildSpec('b', [sys.executable, '-c', child, args[2], args[3]], nice=5)])
    reason, code = supervise(sup)
    print('runner:', reason, code, flush=True)
    raise SystemExit(code)
''')


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_runner_stops_every_child_cleanly(tmp_path, sig):
    files = [tmp_path / name for name in ('ra', 'ma', 'rb', 'mb')]
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get('PYTHONPATH', '')])}
    runner = subprocess.Popen(py(RUNNER, POLITE, *files), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)
    try:
        wait_until(lambda: files[0].exists() and files[2].exists(), 'both children ready')
        runner.send_signal(sig)
        out, _ = runner.communicate(timeout=CAP_S)
    finally:
        if runner.poll() is None:
            runner.kill()
    name = signal.Signals(sig).name
    assert runner.returncode == 0, out
    assert f'runner: {name} received 0' in out
    assert files[1].read_text() == name and files[3].read_text() == name   # forwarded once
    assert '[a] ready' in out and '[b] ready' in out


def test_bad_child_specs_are_refused():
    with pytest.raises(SupervisorError, match='0..19'):
        ChildSpec('x', ['true'], nice=25)
    with pytest.raises(SupervisorError, match='command line'):
        ChildSpec('x', [])
    with pytest.raises(SupervisorError, match='repeat'):
        Supervisor([ChildSpec('x', ['true']), ChildSpec('x', ['true'])])
    sup = Supervisor([ChildSpec('missing', ['/nonexistent/safe_pe_command'])],
                     out=io.StringIO())
    with pytest.raises(SupervisorError, match='cannot start missing'):
        sup.start()
