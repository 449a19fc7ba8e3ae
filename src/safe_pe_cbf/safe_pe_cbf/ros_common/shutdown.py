"""Clean shutdown of a node process on SIGINT and SIGTERM.

Python's SIGINT handler (and rclpy's, which chains to it) raises ``KeyboardInterrupt`` in the
main thread wherever it happens to be. When that is inside a subscription or timer callback,
rclpy logs ``[FATAL] Exception in 'subscriptions' callback`` with a traceback, and the
callback's work (a command half published, a lock held) is left undone. SIGTERM's default
action kills the process before the node can stop its robot.

:class:`ShutdownGuard` replaces both handlers with one that only records the request. The
spin loop (:func:`safe_pe_cbf.ros_common.executors.spin_until_shutdown_requested`, or any loop of
``executor.spin_once(timeout_sec=...)``) checks :attr:`ShutdownGuard.requested` between
callbacks, so a running callback always finishes; the node then says goodbye (zero command,
final report) while its rclpy context is still valid, and the process exits with code 0.
Keep the goodbye inside the ``with`` block: a second Ctrl-C during it is then only recorded.
With a ``MultiThreadedExecutor``, :func:`drain_executor` lets the callbacks on its threads
finish before the executor and the node are torn down.
Use it with ``rclpy.init(signal_handler_options=SignalHandlerOptions.NO)`` so rclpy does not
shut the context down behind the node's back.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Callable, Iterable

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShutdownGuard:
    """Turns SIGINT/SIGTERM into a flag the spin loop polls (never an exception).

    Use as a context manager around the node's life (install in the main thread)::

        with ShutdownGuard() as guard:
            while context.ok() and not guard.requested:
                executor.spin_once(timeout_sec=0.1)

    :param signals: the signals that request a shutdown.
    :param on_request: called (in the main thread, from the signal handler) with the reason
        on every request; it must only set flags, never block or raise.
    """

    def __init__(self, signals: Iterable[signal.Signals] = SHUTDOWN_SIGNALS,
                 on_request: Callable[[str], None] | None = None) -> None:
        self.signals = tuple(signals)
        self.reason = ''
        self._on_request = on_request
        self._event = threading.Event()
        self._previous: dict[signal.Signals, object] = {}

    @property
    def requested(self) -> bool:
        """Whether a shutdown was requested (by a signal or :meth:`request`)."""
        return self._event.is_set()

    def request(self, reason: str) -> None:
        """Request a shutdown (thread- and signal-safe); the first reason is kept.

        :param reason: why, for the log (e.g. ``"SIGINT received"``).
        """
        if not self.reason:
            self.reason = reason
        self._event.set()
        if self._on_request is not None:
            self._on_request(reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a shutdown is requested or ``timeout`` seconds passed.

        :param timeout: longest wait [s]; None: no limit.
        :return: whether a shutdown was requested.
        """
        return self._event.wait(timeout)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.request(f'{signal.Signals(signum).name} received')

    def install(self) -> 'ShutdownGuard':
        """Install the handlers (main thread only); :meth:`restore` puts the old ones back."""
        for sig in self.signals:
            if sig not in self._previous:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers that were installed before :meth:`install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def __enter__(self) -> 'ShutdownGuard':
        return self.install()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.restore()


def drain_executor(executor: object) -> None:
    """Let the callbacks a ``MultiThreadedExecutor`` already handed to its threads finish.

    Call it after the spin loop ended and before ``executor.shutdown()`` and
    ``node.destroy_node()``. rclpy's ``Executor.shutdown`` destroys its guard condition before
    it joins the worker threads, so a callback still running there ends with
    ``InvalidHandle`` ("The following exception was never retrieved: cannot use Destroyable
    because destruction was requested" at exit); destroying a node under a running callback
    does the same. Other executors run callbacks in the spinning thread: nothing to do.

    :param executor: the rclpy executor the spin loop used.
    """
    pool = getattr(executor, '_executor', None)   # MultiThreadedExecutor's thread pool
    if pool is not None and hasattr(pool, 'shutdown'):
        pool.shutdown(wait=True)
