"""Declare ROS parameters with descriptors, ranges and validation in one call.

The nodes of this package are thin shells: every parameter is declared here with a
description, a type, a range where one applies and (for strings) the allowed choices, and is
validated before the node starts working. Parameters are read-only: restart the node to change
them (a node that silently re-reads half its configuration mid-episode is not safe).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from rcl_interfaces.msg import IntegerRange, ParameterDescriptor
from rclpy.node import Node


class ParameterError(ValueError):
    """A node parameter has a value the node cannot work with."""


def declare(
    node: Node,
    name: str,
    default: Any,
    description: str,
    *,
    min_value: float | int | None = None,
    max_value: float | int | None = None,
    choices: Sequence[str] | None = None,
    read_only: bool = True,
) -> Any:
    """Declare one parameter with a descriptor and return its validated value.

    :param node: the node that owns the parameter.
    :param name: parameter name (dots allowed for nesting).
    :param default: default value; its Python type fixes the parameter type (float defaults
        accept integer values given in YAML or on the command line).
    :param description: one line that says what the parameter does and its unit.
    :param min_value: inclusive lower bound for numeric parameters, or None.
    :param max_value: inclusive upper bound for numeric parameters, or None.
    :param choices: allowed values of a string parameter, or None.
    :param read_only: whether the parameter may change after start-up.
    :return: the value, validated.
    :raises ParameterError: if the value has the wrong type, is not finite, is out of range,
        or is not one of ``choices``.
    """
    extra = ''
    if choices is not None:
        extra = ' One of: ' + ', '.join(choices) + '.'
    descriptor = ParameterDescriptor(
        name=name, description=description + extra, read_only=read_only,
        dynamic_typing=isinstance(default, float))
    if isinstance(default, bool):
        pass
    elif isinstance(default, int) and (min_value is not None or max_value is not None):
        descriptor.integer_range = [IntegerRange(
            from_value=int(min_value if min_value is not None else -(2 ** 62)),
            to_value=int(max_value if max_value is not None else 2 ** 62), step=0)]
    elif isinstance(default, float) and (min_value is not None or max_value is not None):
        # Ranges are checked below instead: dynamic typing (ints in YAML) and descriptor
        # ranges do not mix in rclpy, and the error text here says what to fix.
        descriptor.additional_constraints = (
            f'{min_value if min_value is not None else "-inf"} <= value <= '
            f'{max_value if max_value is not None else "inf"}')
    value = node.declare_parameter(name, default, descriptor).value
    return validate(name, value, default, min_value=min_value, max_value=max_value,
                    choices=choices)


def validate(
    name: str,
    value: Any,
    default: Any,
    *,
    min_value: float | int | None = None,
    max_value: float | int | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """Check one parameter value against the type of its default, a range and choices.

    :param name: parameter name, used in the error message.
    :param value: the value to check.
    :param default: the default value; its type is the expected type.
    :param min_value: inclusive lower bound, or None.
    :param max_value: inclusive upper bound, or None.
    :param choices: allowed string values, or None.
    :return: the value converted to the default's type (int -> float where needed).
    :raises ParameterError: with a message naming the parameter and what to fix.
    """
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ParameterError(f'parameter {name!r} must be true or false, got {value!r}')
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f'parameter {name!r} must be a number, got {value!r}')
        value = float(value)
        if not math.isfinite(value):
            raise ParameterError(f'parameter {name!r} must be finite, got {value}')
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f'parameter {name!r} must be an integer, got {value!r}')
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ParameterError(f'parameter {name!r} must be a string, got {value!r}')
        if choices is not None and value not in choices:
            raise ParameterError(
                f'parameter {name!r} is {value!r}; set it to one of {list(choices)}')
        return value
    elif isinstance(default, (list, tuple)):
        value = list(value)
    if min_value is not None and value < min_value:
        raise ParameterError(f'parameter {name!r} = {value} is below its minimum {min_value}')
    if max_value is not None and value > max_value:
        raise ParameterError(f'parameter {name!r} = {value} is above its maximum {max_value}')
    return value
