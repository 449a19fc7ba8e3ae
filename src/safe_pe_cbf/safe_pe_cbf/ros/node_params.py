"""Declare, read and validate a node's :class:`ParamSpec` parameters (rclpy side).

Every node of safe_pe describes its parameters as :class:`ParamSpec` tables (descriptor,
range, default) and builds a validated settings object from their values. These helpers are
the rclpy glue those nodes share: declare the specs, read the current values as plain Python
values, check a requested change against the settings builder before it is applied, and run
a node until SIGINT/SIGTERM (on the executor chosen by ``--executor`` / ``SAFE_PE_EXECUTOR``)
with a clear exit code for bad start-up parameters.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException, ParameterUninitializedException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from safe_pe_cbf.ros.executors import (
    executor_kind_or_exit,
    make_executor,
    spin_until_shutdown_requested,
)
from safe_pe_cbf.ros.param_specs import ParamSpec
from safe_pe_cbf.ros.shutdown import ShutdownGuard


def _plain(value: Any) -> Any:
    """A parameter value as plain Python: arrays (list, tuple, array.array) become lists."""
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return value
    return list(value)


def declare_specs(node: Node, specs: Mapping[str, ParamSpec]) -> None:
    """Declare every spec on ``node`` with its descriptor.

    An empty double-array default is declared with its type (``DOUBLE_ARRAY``), so YAML or
    command-line values of that type are accepted and reading it gives None, not an error.

    :param node: the node that owns the parameters.
    :param specs: the node's parameter table, by name.
    """
    for spec in specs.values():
        default: Any = spec.default
        if spec.array_kind == "double" and not spec.default:
            default = Parameter.Type.DOUBLE_ARRAY
        elif spec.array_kind:
            default = list(spec.default)
        node.declare_parameter(spec.name, default, spec.descriptor())


def spec_values(node: Node, specs: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """The current values of ``specs`` as plain Python values (None: typed but unset).

    :param node: the node that declared them (:func:`declare_specs`).
    :param specs: the node's parameter table, by name.
    """
    values = {}
    for name in specs:
        try:
            values[name] = _plain(node.get_parameter(name).value)
        except ParameterUninitializedException:  # an array declared without a default
            values[name] = None
    return values


def check_change(node: Node, specs: Mapping[str, ParamSpec], params: Sequence[Parameter],
                 build: Callable[[dict[str, Any]], Any]) -> SetParametersResult:
    """Accept a parameter change only if all values together still build valid settings.

    :param node: the node whose parameters change.
    :param specs: the node's parameter table, by name.
    :param params: the requested changes (from ``add_on_set_parameters_callback``).
    :param build: the settings builder; raises ``ValueError`` with the reason when invalid.
    :return: the result to hand back to rclpy (with the reason when rejected). Any exception
        of the builder rejects the change (an exception escaping this callback would take the
        node down), with its type and message as the reason.
    """
    try:
        values = spec_values(node, specs)
        values.update({p.name: _plain(p.value) for p in params if p.name in values})
        build(values)
    except ValueError as err:
        return SetParametersResult(successful=False, reason=str(err))
    except Exception as err:  # noqa: BLE001 - reject whatever fails, never crash the node
        return SetParametersResult(successful=False,
                                   reason=f"rejected ({type(err).__name__}): {err}")
    return SetParametersResult(successful=True)


def spin_until_shutdown(make_node: Callable[[], Node], logger_name: str,
                        args: list[str] | None = None,
                        default_executor: str = "single") -> None:
    """``rclpy.init``, build the node, spin until SIGINT/SIGTERM, then clean up.

    A signal only sets a flag (:class:`ShutdownGuard`): the running callback finishes, the
    node is destroyed while its context is valid, and the process exits with code 0.

    Invalid parameters at start-up (or an unknown ``--executor``) are logged as fatal with the
    reason and exit with code 2.

    :param make_node: builds the node (after ``rclpy.init``).
    :param logger_name: logger used for the start-up error.
    :param args: command-line arguments (``[--executor KIND] --ros-args ...``); default
        ``sys.argv``.
    :param default_executor: executor kind unless ``--executor`` or ``SAFE_PE_EXECUTOR`` say
        otherwise (:mod:`safe_pe_cbf.ros.executors`).
    """
    kind = executor_kind_or_exit(args, default_executor, logger_name)
    with ShutdownGuard() as guard:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        context = rclpy.get_default_context()
        node = None
        executor = None
        try:
            node = make_node()
            executor = make_executor(kind, context)
            executor.add_node(node)
            spin_until_shutdown_requested(executor, kind, context, guard=guard)
        except ExternalShutdownException:
            pass
        except (ValueError, ParameterException) as err:
            if node is None:  # invalid parameters at start-up: say what to fix
                rclpy.logging.get_logger(logger_name).fatal(str(err))
                raise SystemExit(2) from err
            raise
        finally:
            if executor is not None:
                executor.shutdown(timeout_sec=1.0)
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
