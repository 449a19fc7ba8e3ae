"""Typed ROS parameter specifications of every safe_pe node (no rclpy import).

A :class:`ParamSpec` carries everything a node needs to declare one parameter with a
``ParameterDescriptor`` (description, numeric range, allowed choices) and to check a value
before it is applied. Keeping this free of rclpy lets the validation be unit-tested
without a ROS context; the nodes only loop over the specs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)

_TYPE_BY_PYTHON = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}


@dataclass(frozen=True)
class ParamSpec:
    """One declared node parameter.

    :param name: parameter name (dots allowed, e.g. ``"cbf.v_max"``).
    :param default: default value; its Python type fixes the parameter type. Use a tuple of
        floats (possibly empty) for a double array, a tuple of str for a string array.
    :param description: one line shown by ``ros2 param describe``.
    :param min_value: inclusive lower bound for numeric parameters, or for every entry of a
        double array (``None``: unbounded).
    :param max_value: inclusive upper bound for numeric parameters, or for every entry of a
        double array (``None``: unbounded).
    :param choices: allowed values of a string parameter (empty: any string).
    :param read_only: the parameter cannot change after start-up.
    :param array_kind: ``"double"`` or ``"string"`` for array parameters, else ``None``.
    :param int_ok: a double parameter also takes integer values (YAML ``10``, ``-p rate:=10``):
        declared with dynamic typing, its range is then checked by :meth:`check` and shown in
        the descriptor's constraints text (rclpy does not combine the two).
    """

    name: str
    default: Any
    description: str
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)
    read_only: bool = False
    array_kind: str | None = None
    int_ok: bool = False

    @property
    def param_type(self) -> int:
        """The ``rcl_interfaces/ParameterType`` of this parameter."""
        if self.array_kind == "double":
            return ParameterType.PARAMETER_DOUBLE_ARRAY
        if self.array_kind == "string":
            return ParameterType.PARAMETER_STRING_ARRAY
        return _TYPE_BY_PYTHON[type(self.default)]

    def descriptor(self) -> ParameterDescriptor:
        """Build the ``ParameterDescriptor`` (description, range, read-only flag)."""
        text = self.description
        if self.choices:
            text += " One of: " + ", ".join(self.choices) + "."
        desc = ParameterDescriptor(
            name=self.name,
            type=self.param_type,
            description=text,
            read_only=self.read_only,
        )
        bounded = self.min_value is not None or self.max_value is not None
        if self.int_ok and self.param_type == ParameterType.PARAMETER_DOUBLE:
            desc.type = ParameterType.PARAMETER_NOT_SET
            desc.dynamic_typing = True
            if bounded:
                desc.additional_constraints = (
                    f"{'-inf' if self.min_value is None else self.min_value} <= value <= "
                    f"{'inf' if self.max_value is None else self.max_value}")
            return desc
        if self.param_type == ParameterType.PARAMETER_DOUBLE and (
            self.min_value is not None or self.max_value is not None
        ):
            lo = -math.inf if self.min_value is None else float(self.min_value)
            hi = math.inf if self.max_value is None else float(self.max_value)
            desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        elif self.param_type == ParameterType.PARAMETER_INTEGER and (
            self.min_value is not None or self.max_value is not None
        ):
            lo = -(2**63) if self.min_value is None else int(self.min_value)
            hi = 2**63 - 1 if self.max_value is None else int(self.max_value)
            desc.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=0)]
        if self.choices:
            desc.additional_constraints = "one of: " + ", ".join(self.choices)
        return desc

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable for this parameter, or ``None`` if it is."""
        if value is None:
            return None if self.array_kind else f"{self.name}: a value is required"
        kind = self.param_type
        if kind == ParameterType.PARAMETER_BOOL:
            if not isinstance(value, bool):
                return f"{self.name}: expected true/false, got {value!r}"
            return None
        if kind == ParameterType.PARAMETER_STRING:
            if not isinstance(value, str):
                return f"{self.name}: expected a string, got {value!r}"
            if self.choices and value not in self.choices:
                return f"{self.name}: {value!r} is not one of {', '.join(self.choices)}"
            return None
        if kind in (ParameterType.PARAMETER_DOUBLE, ParameterType.PARAMETER_INTEGER):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.name}: expected a number, got {value!r}"
            if not math.isfinite(float(value)):
                return f"{self.name}: must be finite, got {value!r}"
            if self.min_value is not None and value < self.min_value:
                return f"{self.name}: {value!r} is below the minimum {self.min_value}"
            if self.max_value is not None and value > self.max_value:
                return f"{self.name}: {value!r} is above the maximum {self.max_value}"
            return None
        if kind == ParameterType.PARAMETER_DOUBLE_ARRAY:
            for item in value:
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    return f"{self.name}: expected numbers, got {item!r}"
                if not math.isfinite(float(item)):
                    return f"{self.name}: every entry must be finite, got {item!r}"
                if self.min_value is not None and item < self.min_value:
                    return f"{self.name}: entry {item!r} is below the minimum {self.min_value}"
                if self.max_value is not None and item > self.max_value:
                    return f"{self.name}: entry {item!r} is above the maximum {self.max_value}"
            return None
        if kind == ParameterType.PARAMETER_STRING_ARRAY:
            if not all(isinstance(item, str) for item in value):
                return f"{self.name}: expected a list of strings, got {value!r}"
            return None
        return f"{self.name}: unsupported parameter type {kind}"


def spec_table(specs: Iterable[ParamSpec]) -> dict[str, ParamSpec]:
    """Index specs by name, refusing duplicates.

    :param specs: the parameter specifications of one node.
    """
    table: dict[str, ParamSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise ValueError(f"parameter {spec.name!r} is specified twice")
        table[spec.name] = spec
    return table


def check_values(specs: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> list[str]:
    """Check every value against its spec; return the list of problems (empty when fine).

    :param specs: the node's specs by name.
    :param values: candidate parameter values by name (unknown names are reported).
    """
    problems = []
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            problems.append(f"{name}: unknown parameter")
            continue
        problem = spec.check(value)
        if problem:
            problems.append(problem)
    return problems


def defaults(specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """The default value of every spec, arrays as lists.

    :param specs: the parameter specifications of one node.
    """
    return {s.name: list(s.default) if s.array_kind else s.default for s in specs}
