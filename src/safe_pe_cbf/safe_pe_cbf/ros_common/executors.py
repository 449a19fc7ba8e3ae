"""Which rclpy executor runs a node process, and how it spins without busy-looping.

Two kinds are offered:

``events``
    rclpy's ``EventsExecutor`` (``rclpy.experimental``, C++): subscriptions, timers and
    services are dispatched from a callback queue instead of rebuilding a wait set in Python
    for every message, which removes most of the per-callback executor cost. Its ``spin()``
    must not be used (in the Kilted PyPI wheel it busy-loops a core and runs no callbacks);
    :func:`spin_until_shutdown_requested` drives it with ``spin_once(timeout_sec=...)``, which
    sleeps in C++ until an event or the timeout, so an idle node costs no CPU and a
    shutdown request (:mod:`safe_pe_cbf.ros_common.shutdown`) is seen within one poll period.
``single``
    the standard ``SingleThreadedExecutor`` (driven the same way): the fallback for a robot
    where the experimental executor is not wanted.

The choice comes from the command line (``--executor events|single`` before ``--ros-args``) or
the environment (``SAFE_PE_EXECUTOR``); a ROS parameter cannot choose it because the executor
exists before the node's parameters are read.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Callable, Sequence

import rclpy
import rclpy.logging
from rclpy.context import Context
from rclpy.exceptions import ParameterException
from rclpy.executors import (Executor, ExternalShutdownException, MultiThreadedExecutor,
                             SingleThreadedExecutor)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from safe_pe_cbf.ros_common.shutdown import ShutdownGuard, drain_executor

EXECUTOR_KINDS = ("events", "single")
EXECUTOR_ENV = "SAFE_PE_EXECUTOR"
EXECUTOR_FLAG = "--executor"
# Longest time one events spin_once blocks: bounds how late a SIGINT/SIGTERM is handled.
POLL_PERIOD_S = 0.1


def executor_kind(args: Sequence[str] | None, default: str) -> str:
    """The executor kind asked for: ``--executor KIND`` in ``args``, else the environment.

    Only arguments before ``--ros-args`` are looked at (ROS arguments are rclpy's). An unknown
    kind raises ``ValueError`` naming the valid ones.

    :param args: command-line arguments (e.g. ``sys.argv``); None: none given.
    :param default: the kind used when neither the arguments nor ``SAFE_PE_EXECUTOR`` say.
    :return: one of :data:`EXECUTOR_KINDS`.
    """
    kind, source = None, ""
    user_args = list(args or [])
    if "--ros-args" in user_args:
        user_args = user_args[: user_args.index("--ros-args")]
    for i, arg in enumerate(user_args):
        if arg == EXECUTOR_FLAG:
            if i + 1 >= len(user_args):
                raise ValueError(f"{EXECUTOR_FLAG} needs a value: one of {EXECUTOR_KINDS}")
            kind, source = user_args[i + 1], EXECUTOR_FLAG
        elif arg.startswith(EXECUTOR_FLAG + "="):
            kind, source = arg.split("=", 1)[1], EXECUTOR_FLAG
    if kind is None and os.environ.get(EXECUTOR_ENV):
        kind, source = os.environ[EXECUTOR_ENV], EXECUTOR_ENV
    if kind is None:
        kind, source = default, "default"
    if kind not in EXECUTOR_KINDS:
        raise ValueError(f"unknown executor {kind!r} ({source}): use one of {EXECUTOR_KINDS}")
    return kind


def executor_kind_or_exit(args: Sequence[str] | None, default: str, logger_name: str) -> str:
    """:func:`executor_kind` for a node's ``main``: an unknown kind is logged as fatal and
    exits with code 2, like invalid start-up parameters.

    :param args: the ``main`` arguments; None: ``sys.argv``.
    :param default: the kind used when neither the arguments nor ``SAFE_PE_EXECUTOR`` say.
    :param logger_name: logger of the fatal message.
    """
    try:
        return executor_kind(sys.argv if args is None else args, default)
    except ValueError as err:
        rclpy.logging.get_logger(logger_name).fatal(str(err))
        raise SystemExit(2) from err


def make_executor(kind: str, context: Context) -> Executor:
    """A new executor of ``kind`` on ``context``.

    :param kind: one of :data:`EXECUTOR_KINDS`.
    :param context: the initialised rclpy context the nodes belong to.
    """
    if kind == "events":
        try:
            # rclpy's experimental module: imported only when this executor is chosen
            from rclpy.experimental import EventsExecutor
        except ImportError as err:  # rclpy older than Jazzy
            raise RuntimeError(
                f"this rclpy has no EventsExecutor ({err}): run with --executor single or "
                f"{EXECUTOR_ENV}=single"
            ) from err
        return EventsExecutor(context=context)
    if kind == "single":
        return SingleThreadedExecutor(context=context)
    raise ValueError(f"unknown executor {kind!r}: use one of {EXECUTOR_KINDS}")


def spin_until_shutdown_requested(executor: Executor, kind: str, context: Context,
                                  poll_s: float = POLL_PERIOD_S,
                                  guard: ShutdownGuard | None = None) -> None:
    """Run callbacks until the context shuts down or ``guard`` has a shutdown request.

    Both kinds are driven with ``spin_once(timeout_sec=poll_s)``, so the request is seen
    between callbacks (never inside one) within one poll period.

    :param executor: from :func:`make_executor`, with the nodes added.
    :param kind: the kind ``executor`` was made as (checked).
    :param context: the executor's context; spinning ends when it is no longer ok.
    :param poll_s: longest single wait of one ``spin_once`` [s] (signal latency).
    :param guard: the process's installed :class:`ShutdownGuard`; None: spin until the
        context shuts down (or a signal handler raises).
    """
    if kind not in EXECUTOR_KINDS:
        raise ValueError(f"unknown executor {kind!r}: use one of {EXECUTOR_KINDS}")
    while context.ok() and not (guard is not None and guard.requested):
        executor.spin_once(timeout_sec=poll_s)


def spin_until_shutdown(make_node: Callable[[], Node], logger_name: str,
                        args: list[str] | None = None,
                        default_executor: str = "single", *,
                        threads: int | None = None,
                        done: Callable[[Node], threading.Event | None] | None = None) -> None:
    """Every node process's ``main``: ``rclpy.init``, build the node, spin, clean up, exit.

    A signal only sets a flag (:class:`ShutdownGuard`): the running callback finishes, the
    node is destroyed while its context is valid (``destroy_node`` says its goodbye), and the
    process ends with code 0. Spinning also ends when ``done``'s event is set. Exit codes:

    * 2: invalid parameters at start-up (a ``ValueError``/``ParameterException`` while the
      node is built) or an unknown ``--executor``, logged as fatal with the reason;
    * 1: the node set a non-empty ``error`` attribute (e.g. training crashed), or anything
      else raised (its traceback on stderr); the node is still shut down cleanly first.

    :param make_node: builds the node (after ``rclpy.init``).
    :param logger_name: logger of the start-up error, and the name in failure messages.
    :param args: command-line arguments (``[--executor KIND] --ros-args ...``); default
        ``sys.argv``.
    :param default_executor: executor kind unless ``--executor`` or ``SAFE_PE_EXECUTOR`` say
        otherwise (:mod:`safe_pe_cbf.ros_common.executors`); unused with ``threads``.
    :param threads: None: one thread, the kind above; a number: a ``MultiThreadedExecutor``
        with that many threads (a slow callback does not block the timers), whatever
        ``--executor`` says.
    :param done: returns an event (or None) from the built node that ends spinning when set.
    :raises SystemExit: with code 1 or 2 as above; returns normally for code 0.
    """
    kind = ("multi" if threads is not None
            else executor_kind_or_exit(args, default_executor, logger_name))
    code = 0
    with ShutdownGuard() as guard:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        context = rclpy.get_default_context()
        node = None
        executor = None
        try:
            node = make_node()
            executor = (MultiThreadedExecutor(num_threads=threads, context=context)
                        if threads is not None else make_executor(kind, context))
            executor.add_node(node)
            node.get_logger().info(f"executor: {kind}")
            event = done(node) if done is not None else None
            while (context.ok() and not guard.requested
                   and not (event is not None and event.is_set())):
                executor.spin_once(timeout_sec=POLL_PERIOD_S)
            if getattr(node, "error", ""):
                code = 1  # the node reported a failure
        except ExternalShutdownException:
            pass
        except Exception as err:  # noqa: BLE001 - say what broke, then still shut down cleanly
            if node is None and isinstance(err, (ValueError, ParameterException)):
                rclpy.logging.get_logger(logger_name).fatal(str(err))  # say what to fix
                code = 2
            else:
                print(f"[{logger_name}] failed:\n{traceback.format_exc()}", file=sys.stderr,
                      flush=True)
                code = 1
        finally:
            try:
                if executor is not None:
                    # Callbacks still running on a pool thread finish first: neither the
                    # executor nor the node is torn down under them.
                    drain_executor(executor)
                    executor.shutdown(timeout_sec=1.0)
                if node is not None:
                    node.destroy_node()
            finally:
                rclpy.try_shutdown()
    if code:
        raise SystemExit(code)
