"""The one dict -> dataclass engine of safe_pe's configs (typed, unknown keys rejected).

`CBFConfig`, the simulator's `EnvConfig` (and its sections) and the training's
`SafeSelfPlayConfig` are all built from YAML mappings here: every field is type-checked and
converted from its annotation (bool, int, float, str, ``Optional``, tuples, lists, dicts and
nested dataclasses), so a typo or a quoted number fails with a message naming the field. Range
checks stay with each dataclass (its ``validate()`` / ``__post_init__``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Mapping, Union

__all__ = ["check_types", "convert", "from_mapping", "plain"]


def plain(value: Any) -> Any:
    """Nested dicts/lists of a value (tuples become lists), YAML/JSON friendly.

    :param value: a value built of dicts, lists, tuples and scalars.
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def from_mapping(cls: type, data: Any, error: type[Exception], where: str = "",
                 label: str = "config") -> Any:
    """Build dataclass `cls` from a mapping, type-checking and converting every field.

    Missing keys keep their defaults; nested dataclass fields are built from nested mappings.

    :param cls: the dataclass.
    :param data: the mapping (e.g. parsed YAML).
    :param error: exception type raised for bad input (a ``ValueError`` subclass).
    :param where: dotted path of `data` in the document ("" at the top), for messages.
    :param label: what the top-level document is, for messages (e.g. "env config").
    :raises error: for a non-mapping, unknown keys or a value of the wrong type.
    """
    if not isinstance(data, Mapping):
        raise error(f"{where or label} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(str(k) for k in set(data) - set(names))
    if unknown:
        raise error(f"{where or label}: unknown key(s) {unknown}; valid keys are {names}")
    kwargs = {key: convert(value, hints[key], _name(where, key), error)
              for key, value in data.items()}
    return cls(**kwargs)


def check_types(obj: Any, error: type[Exception], where: str = "") -> None:
    """Re-check the field types of a dataclass built in Python (not by `from_mapping`).

    :param obj: the dataclass instance (nested dataclasses are checked too).
    :param error: exception type raised for a wrong type.
    :param where: dotted path of `obj`, for messages.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        name = _name(where, f.name)
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            if not isinstance(value, hints[f.name]):
                raise error(f"{name} must be a {hints[f.name].__name__}, "
                            f"got {type(value).__name__}")
            check_types(value, error, name)
        else:
            convert(value, hints[f.name], name, error)


def convert(value: Any, hint: Any, where: str, error: type[Exception]) -> Any:
    """`value` checked against the annotation `hint` and converted (ints to floats, lists to
    tuples, mappings to nested dataclasses).

    :param value: the value.
    :param hint: the field's type annotation.
    :param where: dotted path of the value, for messages.
    :param error: exception type raised for a wrong type.
    """
    def check(condition: bool, message: str) -> None:
        if not condition:
            raise error(message)

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # built already (a caller's own nested from_dict)
            return value
        return from_mapping(hint, value, error, where)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return convert(value, inner, where, error)
    if hint is Any:
        return value
    if hint is bool:
        check(isinstance(value, bool), f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        check(isinstance(value, int) and not isinstance(value, bool),
              f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        # a string is never a number here: the YAML loader reads 3e-4 as a float, so a string
        # is a quoted value ("0.5"), which is a mistake to report, not to convert
        check(not isinstance(value, str),
              f"{where} must be a number, got {value!r}, a string: write it without quotes")
        check(isinstance(value, (int, float)) and not isinstance(value, bool),
              f"{where} must be a number, got {value!r}")
        check(math.isfinite(value), f"{where} must be finite, got {value}")
        return float(value)
    if hint is str:
        check(isinstance(value, str), f"{where} must be a string, got {value!r}")
        return value
    if origin in (tuple, list):
        check(isinstance(value, (list, tuple)), f"{where} must be a list, got {value!r}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            check(len(value) == len(args),
                  f"{where} must have {len(args)} entries, got {list(value)}")
            items = [convert(v, a, f"{where}[{i}]", error) for i, (v, a) in
                     enumerate(zip(value, args))]
        else:
            items = [convert(v, args[0], f"{where}[{i}]", error) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        check(isinstance(value, Mapping) and all(isinstance(k, str) for k in value),
              f"{where} must be a mapping with string keys, got {value!r}")
        return plain(dict(value))
    raise TypeError(f"no converter for {where} of type {hint}")  # pragma: no cover
