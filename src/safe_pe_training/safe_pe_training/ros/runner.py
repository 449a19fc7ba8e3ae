"""Run one node in its own process with a clean shutdown on SIGINT/SIGTERM.

rclpy's own signal handler shuts the context down before the node can say goodbye, so a
policy node could not publish its final zero command, and it raises ``KeyboardInterrupt``
inside whatever runs (a callback: a traceback). Here SIGINT and SIGTERM only set a flag
(:class:`safe_pe_cbf.ros_common.shutdown.ShutdownGuard`) that the spin loop checks between
callbacks; the node is destroyed while the context is still valid (``destroy_node``
publishes/writes what it must), then rclpy is shut down.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from safe_pe_cbf.ros_common.shutdown import ShutdownGuard, drain_executor

from safe_pe_cbf.ros_common.params import ParameterError


def run_node(factory: Callable[[], Node], name: str, args: list[str] | None = None,
             done: Callable[[Node], threading.Event | None] | None = None,
             threads: int = 2) -> int:
    """Create a node, spin it until Ctrl-C/SIGTERM (or its done event), destroy it cleanly.

    :param factory: builds the node (called after ``rclpy.init``).
    :param name: node name for error messages.
    :param args: command-line arguments (default: ``sys.argv``).
    :param done: returns an event that ends spinning when set, or None.
    :param threads: executor threads (2: a slow callback does not block the timers).
    :return: process exit code: 0; 1 if the node set ``error``; 2 for invalid parameters.
    """
    with ShutdownGuard() as guard:
        rclpy.init(args=args if args is not None else sys.argv,
                   signal_handler_options=SignalHandlerOptions.NO)
        node = None
        executor = MultiThreadedExecutor(num_threads=threads)
        code = 0
        try:
            node = factory()
            executor.add_node(node)
            event = done(node) if done is not None else None
            while (rclpy.ok() and not guard.requested
                   and not (event is not None and event.is_set())):
                executor.spin_once(timeout_sec=0.1)
            if getattr(node, 'error', ''):
                code = 1   # the node reported a failure (e.g. training crashed)
        except ExternalShutdownException:
            pass
        except ParameterError as exc:
            print(f'[{name}] invalid parameter: {exc}', file=sys.stderr, flush=True)
            code = 2
        except Exception:  # noqa: BLE001 - say what broke, then still shut down cleanly
            print(f'[{name}] failed:\n{traceback.format_exc()}', file=sys.stderr, flush=True)
            code = 1
        finally:
            try:
                # Callbacks still running on the pool threads finish first: neither the
                # executor nor the node is torn down under them.
                drain_executor(executor)
                executor.shutdown(timeout_sec=1.0)
                if node is not None:
                    node.destroy_node()
            finally:
                rclpy.try_shutdown()
        return code
