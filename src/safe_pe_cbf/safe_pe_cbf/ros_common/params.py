"""The one parameter-declaration helper of every safe_pe node (rclpy side).

Every parameter is a :class:`ParamSpec` (description, type, range, choices; rclpy-free checks
in ``param_specs``). Nodes with a parameter table (filter, simulator, game-state node) declare
it with :func:`declare_specs`, read it with :func:`spec_values` and check changes with
:func:`check_change`; nodes with a few one-off read-only parameters (policy, metrics,
training, recorder) call :func:`declare`, the same spec declared and checked in one call.
Either way a bad value raises :class:`ParameterError` (a ``ValueError``) naming the parameter.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from safe_pe_cbf.ros_common.param_specs import ParamSpec

__all__ = ["ParameterError", "check_change", "declare", "declare_param", "declare_specs",
           "spec_values"]


class ParameterError(ValueError):
    """A node parameter has a value the node cannot work with."""


def _plain(value: Any) -> Any:
    """A parameter value as plain Python: arrays (list, tuple, array.array) become lists."""
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return value
    return list(value)


def _declare(node: Node, spec: ParamSpec) -> None:
    default: Any = spec.default
    if spec.array_kind == "double" and not spec.default:
        default = Parameter.Type.DOUBLE_ARRAY
    elif spec.array_kind:
        default = list(spec.default)
    node.declare_parameter(spec.name, default, spec.descriptor())


def declare_specs(node: Node, specs: Mapping[str, ParamSpec]) -> None:
    """Declare every spec on ``node`` with its descriptor.

    An empty double-array default is declared with its type (``DOUBLE_ARRAY``), so YAML or
    command-line values of that type are accepted and reading it gives None, not an error.

    :param node: the node that owns the parameters.
    :param specs: the node's parameter table, by name.
    """
    for spec in specs.values():
        _declare(node, spec)


def _value(node: Node, name: str) -> Any:
    try:
        return _plain(node.get_parameter(name).value)
    except ParameterUninitializedException:  # an array declared without a default
        return None


def declare_param(node: Node, spec: ParamSpec) -> Any:
    """Declare one spec on ``node`` and return its checked value.

    :param node: the node that owns the parameter.
    :param spec: the parameter.
    :return: the value (a float for a double parameter given as an integer).
    :raises ParameterError: when the value fails :meth:`ParamSpec.check`.
    """
    _declare(node, spec)
    value = _value(node, spec.name)
    problem = spec.check(value)
    if problem:
        raise ParameterError(f"invalid parameter {problem}")
    if isinstance(spec.default, float) and not spec.array_kind:
        return float(value)
    return value


def declare(node: Node, name: str, default: Any, description: str, *,
            min_value: float | int | None = None, max_value: float | int | None = None,
            choices: Sequence[str] | None = None, read_only: bool = True) -> Any:
    """Declare one read-only parameter and return its checked value: :func:`declare_param`
    of the :class:`ParamSpec` these arguments describe.

    :param node: the node that owns the parameter.
    :param name: parameter name (dots allowed for nesting).
    :param default: default value; its Python type fixes the parameter type (a float also
        takes integer values; a list of str or of numbers is a string or double array).
    :param description: one line that says what the parameter does and its unit.
    :param min_value: inclusive lower bound for numeric parameters, or None.
    :param max_value: inclusive upper bound for numeric parameters, or None.
    :param choices: allowed values of a string parameter, or None.
    :param read_only: whether the parameter may not change after start-up.
    :raises ParameterError: if the value has the wrong type, is not finite, is out of range,
        or is not one of ``choices``.
    """
    array_kind = None
    if isinstance(default, (list, tuple)):
        array_kind = "string" if all(isinstance(v, str) for v in default) and default \
            else "double"
        default = tuple(default)
    return declare_param(node, ParamSpec(
        name, default, description, min_value=min_value, max_value=max_value,
        choices=tuple(choices or ()), read_only=read_only, array_kind=array_kind,
        int_ok=isinstance(default, float)))


def spec_values(node: Node, specs: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """The current values of ``specs`` as plain Python values (None: typed but unset).

    :param node: the node that declared them (:func:`declare_specs`).
    :param specs: the node's parameter table, by name.
    """
    return {name: _value(node, name) for name in specs}


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
