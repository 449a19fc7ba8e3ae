"""Fill any ROS 2 message with distinctive non-default values, generically.

Used by the DDS round-trip test so that every field of every safe_pe interface crosses the
wire with a value that would expose a type-support or (de)serialisation bug.
"""

from __future__ import annotations

import importlib
from typing import Any

_SCALARS = {
    'bool': lambda i: i % 2 == 1,
    'boolean': lambda i: i % 2 == 1,
    'byte': lambda i: bytes([i % 256]),
    'char': lambda i: i % 128,
    'octet': lambda i: bytes([i % 256]),
    'float': lambda i: float(i) + 0.5,
    'double': lambda i: float(i) + 0.25,
    'float32': lambda i: float(i) + 0.5,
    'float64': lambda i: float(i) + 0.25,
    'int8': lambda i: -(i % 100),
    'uint8': lambda i: i % 200,
    'int16': lambda i: -i,
    'uint16': lambda i: i,
    'int32': lambda i: -i * 1000,
    'uint32': lambda i: i * 1000,
    'int64': lambda i: -i * 10**9,
    'uint64': lambda i: i * 10**9,
    'string': lambda i: f'value-{i}',
}


def _message_class(type_name: str) -> type:
    """Return the Python class of a nested type such as ``safe_pe_msgs/AgentState``."""
    package, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def _value(type_name: str, seed: int) -> Any:
    if type_name in _SCALARS:
        return _SCALARS[type_name](seed)
    if type_name.startswith('string<'):
        return f'v{seed}'
    if type_name.startswith('sequence<') or type_name.endswith(']'):
        inner = (type_name[len('sequence<'):-1] if type_name.startswith('sequence<')
                 else type_name[:type_name.index('[')])
        inner = inner.split(',')[0]
        if type_name.endswith(']') and type_name[type_name.index('[') + 1:-1].isdigit():
            count = int(type_name[type_name.index('[') + 1:-1])
        else:
            count = 2
        return [_value(inner, seed + k + 1) for k in range(count)]
    return fill(_message_class(type_name)(), seed)


def fill(msg: Any, seed: int = 1) -> Any:
    """Set every field of ``msg`` to a distinctive value derived from ``seed``; return ``msg``.

    :param msg: a ROS 2 message instance (modified in place).
    :param seed: integer that makes the values distinct between messages.
    """
    for k, (field, type_name) in enumerate(msg.get_fields_and_field_types().items()):
        value = _value(type_name, seed * 7 + k + 1)
        if field == 'sec':
            value = abs(int(value)) % 2**31
        if field == 'nanosec':
            value = abs(int(value)) % 10**9
        setattr(msg, field, value)
    return msg
