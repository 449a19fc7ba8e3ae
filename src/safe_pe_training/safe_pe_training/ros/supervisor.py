"""Supervise child processes the way ``ros2 launch`` does (no ROS import here).

``safe_pe_stack`` runs the live graph and the training node as two child processes: training
then never holds the live graph's interpreter lock, and it runs at a lower scheduling
priority (``nice``), so the simulator, filters and policy nodes keep their rate on a busy
machine. :class:`Supervisor`:

- starts each child in its own process group (a Ctrl-C in the terminal reaches only the
  runner, which forwards it once), in the runner's session or one of its own, with its
  niceness raised in the child before ``exec``, and with ``SIGTERM`` sent to it should the
  runner die (Linux ``PR_SET_PDEATHSIG``). With Linux autogroups
  (``/proc/sys/kernel/sched_autogroup_enabled``) the kernel first shares the CPU between
  sessions, then by niceness within one: a real-time child in a session of its own keeps its
  share whatever the runner's other children use;
- prints every line a child writes prefixed with ``[name] ``: its stdout to ``out``, its
  stderr (ROS log lines, errors) to ``err``;
- records the order in which children exit: :meth:`first_failure` is the first one that
  exited with a non-zero code (``128 + n`` for a child killed by signal ``n``);
- stops children with escalation: the given signal (``SIGINT`` or ``SIGTERM``), then
  ``SIGTERM`` after ``sigterm_grace`` seconds, then ``SIGKILL`` to the child's whole process
  group (its own worker processes too) after ``sigkill_grace`` more.

:func:`supervise` is the runner's loop: start, wait for Ctrl-C/SIGTERM (forwarded to every
child), a failing child (the others are stopped; its code is the exit code) or the caller's
own stop condition, then stop every child with escalation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Callable, Sequence

_PR_SET_PDEATHSIG = 1
try:  # loaded here, not in the forked child (only async-signal-safe work happens there)
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(ctypes.util.find_library('c') or None,
                                            use_errno=True)
except OSError:  # pragma: no cover - non-glibc systems: no parent-death signal
    _LIBC = None


class SupervisorError(RuntimeError):
    """A child could not be started or the supervisor was used out of order."""


@dataclass
class ChildSpec:
    """One child process.

    :param name: prefix of its log lines and key in the exit records (unique).
    :param argv: command line (``argv[0]`` is looked up on ``PATH``).
    :param nice: niceness increment applied in the child before ``exec`` (0..19; a higher
        value is a lower scheduling priority).
    :param env: environment (default: the runner's), ``PYTHONUNBUFFERED=1`` added so that
        log lines come out as they are written.
    :param own_session: start a session of its own (with Linux autogroups: a CPU share of
        its own that the runner's other children cannot use up) instead of only a process
        group of its own.
    """

    name: str
    argv: list[str]
    nice: int = 0
    env: dict[str, str] | None = field(default=None, repr=False)
    own_session: bool = False

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise SupervisorError(f'child name must be a non-empty word, got {self.name!r}')
        if not self.argv:
            raise SupervisorError(f'child {self.name!r} needs a command line')
        if isinstance(self.nice, bool) or not isinstance(self.nice, int) \
                or not 0 <= self.nice <= 19:
            raise SupervisorError(f'nice of child {self.name!r} must be an integer in 0..19 '
                                  f'(0 = the runner\'s priority), got {self.nice!r}')


def exit_code(returncode: int) -> int:
    """A process exit code as a shell reports it: ``128 + n`` when killed by signal ``n``.

    :param returncode: ``Popen.returncode`` (negative for a signal).
    """
    return 128 - returncode if returncode < 0 else returncode


def _child_setup(nice: int, own_session: bool) -> None:
    """Runs in the forked child before ``exec``: own process group (or session), lower
    priority, and die with the parent."""
    if own_session:
        os.setsid()
    else:
        os.setpgid(0, 0)
    if nice:
        os.nice(nice)
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class Supervisor:
    """Start, watch and stop a set of child processes.

    :param children: the children, started in this order.
    :param out: where the children's prefixed stdout lines go (default: ``sys.stdout``).
    :param err: where their prefixed stderr lines go (default: ``sys.stderr``).
    :param sigterm_grace: seconds a child may take to exit after the stop signal before it
        gets ``SIGTERM``.
    :param sigkill_grace: seconds after ``SIGTERM`` before its process group gets ``SIGKILL``.
    """

    def __init__(self, children: Sequence[ChildSpec], out: IO[str] | None = None,
                 err: IO[str] | None = None, sigterm_grace: float = 20.0,
                 sigkill_grace: float = 5.0) -> None:
        names = [c.name for c in children]
        if len(set(names)) != len(names):
            raise SupervisorError(f'child names repeat: {names}')
        if sigterm_grace < 0 or sigkill_grace < 0:
            raise SupervisorError('grace periods must be >= 0 seconds')
        self.children = list(children)
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else (self.out if out is not None else sys.stderr)
        self.sigterm_grace = float(sigterm_grace)
        self.sigkill_grace = float(sigkill_grace)
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.exits: list[tuple[str, int]] = []   # (name, exit code) in the order they ended
        self.escalated: list[tuple[str, str]] = []  # (name, signal name) sent on escalation
        self._stop_from: int | None = None   # len(exits) when stop() began
        self._changed = threading.Condition()
        self._print_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ start and watch
    def start(self) -> None:
        """Start every child (all forks happen before this supervisor starts a thread).

        :raises SupervisorError: if a command cannot be started (the others are stopped).
        """
        if self.procs:
            raise SupervisorError('the children were already started')
        for child in self.children:
            env = dict(os.environ if child.env is None else child.env)
            env['PYTHONUNBUFFERED'] = '1'
            try:
                self.procs[child.name] = subprocess.Popen(
                    child.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL, env=env, text=True, errors='replace',
                    bufsize=1, preexec_fn=lambda c=child: _child_setup(c.nice, c.own_session))
            except OSError as exc:
                self._kill_started()
                raise SupervisorError(f'cannot start {child.name} ({child.argv[0]}): {exc}; '
                                      f'check the command') from exc
        for name, proc in self.procs.items():
            jobs = [(self._pump, (name, proc.stdout, self.out), 'out'),
                    (self._pump, (name, proc.stderr, self.err), 'err'),
                    (self._wait, (name, proc), 'wait')]
            for target, args, what in jobs:
                thread = threading.Thread(target=target, args=args, name=f'{what}-{name}',
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def _kill_started(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGKILL)
            proc.wait()

    def _pump(self, name: str, stream: IO[str] | None, out: IO[str]) -> None:
        assert stream is not None
        for line in stream:
            self.say(line.rstrip('\n'), name, out)
        stream.close()

    def _wait(self, name: str, proc: subprocess.Popen[str]) -> None:
        code = exit_code(proc.wait())
        with self._changed:
            self.exits.append((name, code))
            self._changed.notify_all()

    def say(self, text: str, name: str, out: IO[str] | None = None) -> None:
        """Print one line with a ``[name]`` prefix (thread-safe).

        :param text: the line.
        :param name: the prefix.
        :param out: the stream (default: the supervisor's stdout stream).
        """
        stream = out if out is not None else self.out
        with self._print_lock:
            stream.write(f'[{name}] {text}\n')
            stream.flush()

    def returncode(self, name: str) -> int | None:
        """Exit code of a child (None while it runs).

        :param name: the child.
        """
        with self._changed:
            return next((code for n, code in self.exits if n == name), None)

    def running(self) -> list[str]:
        """Names of the children that have not exited yet."""
        with self._changed:
            ended = {n for n, _ in self.exits}
        return [name for name in self.procs if name not in ended]

    def first_failure(self) -> tuple[str, int] | None:
        """``(name, exit code)`` of the first child that exited with a non-zero code.

        A child that ends by the SIGINT or SIGTERM that :meth:`stop` sent it (code 130 or
        143, e.g. a Python program interrupted while it still imports) did what it was asked
        and is no failure; one that had to be killed (137) is.
        """
        asked = {exit_code(-signal.SIGINT), exit_code(-signal.SIGTERM)}
        with self._changed:
            for i, (name, code) in enumerate(self.exits):
                stopped = self._stop_from is not None and i >= self._stop_from
                if code != 0 and not (stopped and code in asked):
                    return name, code
            return None

    def wait_for_change(self, known_exits: int, timeout: float) -> int:
        """Block until more than ``known_exits`` children exited, or ``timeout`` passed.

        :param known_exits: how many exits the caller has seen.
        :param timeout: longest wait [s].
        :return: how many children have exited now.
        """
        with self._changed:
            self._changed.wait_for(lambda: len(self.exits) > known_exits, timeout)
            return len(self.exits)

    # ------------------------------------------------------------------ stop
    def send(self, sig: int, names: Sequence[str] | None = None) -> None:
        """Send a signal to running children (the child process only, not its workers).

        :param sig: the signal.
        :param names: which children (default: all running ones).
        """
        for name in names if names is not None else self.running():
            proc = self.procs[name]
            if proc.poll() is None:
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    def stop(self, sig: int = signal.SIGINT, names: Sequence[str] | None = None) -> None:
        """Stop children with escalation and wait until they have exited.

        :param sig: the first signal (SIGINT: like Ctrl-C; SIGTERM).
        :param names: which children (default: all running ones).
        """
        with self._changed:
            if self._stop_from is None:
                self._stop_from = len(self.exits)
        targets = [n for n in (names if names is not None else self.running())
                   if n in self.procs]
        self.send(sig, targets)
        steps = [(sig, self.sigterm_grace, signal.SIGTERM),
                 (signal.SIGTERM, self.sigkill_grace, signal.SIGKILL)]
        for sent, grace, next_sig in steps:
            if self._wait_procs(targets, grace):
                break
            for name in targets:
                proc = self.procs[name]
                if proc.poll() is None:
                    self.escalated.append((name, signal.Signals(next_sig).name))
                    self.say(f'still running {grace:g} s after {signal.Signals(sent).name}: '
                             f'sending {signal.Signals(next_sig).name}', name)
                    if next_sig == signal.SIGKILL:
                        _signal_group(proc, next_sig)
                    else:
                        self.send(next_sig, [name])
        self._wait_procs(targets, None)
        for thread in self._threads:
            if thread.name.startswith('wait-'):
                thread.join()

    def _wait_procs(self, names: Sequence[str], timeout: float | None) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: set(names) <= {n for n, _ in self.exits}, timeout)

    def close(self) -> None:
        """Kill what still runs (SIGKILL to each process group) and join the log threads."""
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait()
        for thread in self._threads:
            thread.join(timeout=5.0)   # a worker that inherited the pipe may hold it open


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    """Signal a child's whole process group (it leads its own)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def supervise(sup: Supervisor, check: Callable[[Supervisor], str] | None = None,
              on_stop: Callable[[str], None] | None = None,
              poll_s: float = 0.2) -> tuple[str, int]:
    """Run the children until a signal, a failure or ``check`` says stop; stop them all.

    Call from the main thread (it installs SIGINT and SIGTERM handlers for its duration).

    :param sup: the supervisor (not started yet).
    :param check: called every ``poll_s`` while every child runs fine; a non-empty string is
        the reason to stop (e.g. "training finished").
    :param on_stop: called with the reason before the children are stopped.
    :param poll_s: seconds between checks.
    :return: ``(reason, exit code)``: the code of the first child that failed, else 0.
    """
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, f: received.append(s))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sup.start()
        seen, sig, reason = 0, signal.SIGINT, ''
        while not reason:
            seen = sup.wait_for_change(seen, poll_s)
            failure = sup.first_failure()
            if received:
                sig = received[0]
                reason = f'{signal.Signals(sig).name} received'
            elif failure is not None:
                reason = f'{failure[0]} exited with code {failure[1]}'
            elif not sup.running():
                reason = 'every process exited'
            elif check is not None:
                reason = check(sup)
        if on_stop is not None:
            on_stop(reason)
        sup.stop(sig)   # the signal we got is forwarded; later ones are only recorded
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sup.close()
    failure = sup.first_failure()
    return reason, failure[1] if failure is not None else 0
