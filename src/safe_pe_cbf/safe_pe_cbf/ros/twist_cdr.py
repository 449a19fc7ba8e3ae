"""The wire format (CDR) of ``geometry_msgs/Twist`` and ``TwistStamped``, for the command path.

The filter node takes its nominal command and publishes its safe command as serialized bytes
(rclpy ``raw=True`` subscriptions and ``publish(bytes)``). Building rclpy's Python message
objects is the single largest cost of a Python node's hop here: a TwistStamped is six nested
objects, and taking one through the standard conversion costs ~0.18 ms on the development
machine (one-way hop with a bare ``rcl`` wait set: 0.79 ms converted, 0.60 ms raw). This
module reads and writes the few fields the filter uses with :mod:`struct` instead; no rclpy.

Layouts (the standard XCDR1 "plain CDR" every ROS 2 DDS middleware uses for these types): a
4-byte encapsulation header (representation id ``00 00`` big-endian or ``00 01``
little-endian, then 2 option bytes), then the fields with 8-byte alignment of the doubles
counted from the end of the header:

* Twist: ``linear.x y z, angular.x y z`` (6 float64, 48 bytes);
* TwistStamped: ``stamp.sec`` (int32), ``stamp.nanosec`` (uint32), ``frame_id`` (uint32 length
  including the terminating NUL, the bytes, the NUL), padding to a multiple of 8, the Twist.

Any other representation (e.g. XCDR2 from a differently configured middleware), a truncated
buffer or a malformed string makes the decoders return None: the caller then falls back to
rclpy's own deserialization, so nothing is ever misread. Encoders write little-endian XCDR1.
"""

from __future__ import annotations

import struct
from typing import Optional

__all__ = ["decode_twist", "decode_twist_stamped", "encode_twist", "encode_twist_stamped",
           "StampedCommand"]

_HEADER_LE = b"\x00\x01\x00\x00"
_ORDER = {b"\x00\x00": ">", b"\x00\x01": "<"}  # CDR_BE, CDR_LE (XCDR1)
_TWIST_BYTES = 48
_BE_TWIST = struct.Struct(">6d")
_LE_TWIST = struct.Struct("<6d")
_BE_HEAD = struct.Struct(">iII")
_LE_HEAD = struct.Struct("<iII")
_ZEROS = b"\x00" * 8

StampedCommand = tuple[int, int, str, float, float]
"""``(stamp.sec, stamp.nanosec, frame_id, linear.x, angular.z)``."""


def decode_twist(data: bytes) -> Optional[tuple[float, float]]:
    """``(linear.x, angular.z)`` of a serialized Twist, or None if not decodable here.

    :param data: the serialized message (encapsulation header included)
    """
    order = _ORDER.get(data[:2])
    if order is None or len(data) < 4 + _TWIST_BYTES:
        return None
    vals = (_LE_TWIST if order == "<" else _BE_TWIST).unpack_from(data, 4)
    return vals[0], vals[5]


def decode_twist_stamped(data: bytes) -> Optional[StampedCommand]:
    """``(sec, nanosec, frame_id, linear.x, angular.z)`` of a serialized TwistStamped, or
    None if not decodable here.

    :param data: the serialized message (encapsulation header included)
    """
    order = _ORDER.get(data[:2])
    if order is None or len(data) < 4 + 12 + 1 + _TWIST_BYTES:
        return None
    le = order == "<"
    sec, nanosec, n = (_LE_HEAD if le else _BE_HEAD).unpack_from(data, 4)
    end = 16 + n  # the string's bytes are data[16:end], NUL included
    twist_at = 4 + ((12 + n + 7) & ~7)
    if n < 1 or twist_at + _TWIST_BYTES > len(data) or data[end - 1] != 0:
        return None
    try:
        frame_id = data[16:end - 1].decode("utf-8")
    except UnicodeDecodeError:
        return None
    vals = (_LE_TWIST if le else _BE_TWIST).unpack_from(data, twist_at)
    return sec, nanosec, frame_id, vals[0], vals[5]


def encode_twist(v: float, omega: float) -> bytes:
    """A serialized Twist with ``linear.x = v``, ``angular.z = omega``, the rest zero.

    :param v: linear velocity [m/s]
    :param omega: angular velocity [rad/s]
    """
    return _HEADER_LE + _LE_TWIST.pack(v, 0.0, 0.0, 0.0, 0.0, omega)


def encode_twist_stamped(sec: int, nanosec: int, frame_id: bytes, v: float,
                         omega: float) -> bytes:
    """A serialized TwistStamped (``linear.x = v``, ``angular.z = omega``, the rest zero).

    :param sec: header stamp seconds (int32)
    :param nanosec: header stamp nanoseconds (uint32)
    :param frame_id: header frame id, UTF-8 encoded, without NUL
    :param v: linear velocity [m/s]
    :param omega: angular velocity [rad/s]
    """
    n = len(frame_id) + 1
    pad = -(12 + n) & 7
    return b"".join((_HEADER_LE, _LE_HEAD.pack(sec, nanosec, n), frame_id, _ZEROS[:1 + pad],
                     _LE_TWIST.pack(v, 0.0, 0.0, 0.0, 0.0, omega)))
