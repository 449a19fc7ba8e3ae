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

Any other representation (e.g. XCDR2 from a differently configured middleware) makes the
decoders return None: the caller then falls back to rclpy's own deserialization. A buffer in
this representation must have exactly the length its layout implies (the payload's padding
count, the last two bits of the option bytes, taken off): a truncated buffer, padded by the
transport or not, one with trailing bytes, or a malformed string raises
:class:`MalformedCommand` and must be dropped, never read (issue 11). Encoders write
little-endian XCDR1.
"""

from __future__ import annotations

import struct
from typing import Optional

__all__ = ["decode_twist", "decode_twist_stamped", "encode_twist", "encode_twist_stamped",
           "StampedCommand", "MalformedCommand"]

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


class MalformedCommand(ValueError):
    """A buffer in the XCDR1 representation that is not a well-formed message of the type
    (wrong length, bad string): drop it."""


def _payload_length(data: bytes) -> int:
    """Bytes after the 4-byte header, minus the padding the option bytes declare."""
    return len(data) - 4 - (data[3] & 3)


def decode_twist(data: bytes) -> Optional[tuple[float, float]]:
    """``(linear.x, angular.z)`` of a serialized Twist, or None for another representation.

    :param data: the serialized message (encapsulation header included)
    :raises MalformedCommand: XCDR1 whose length is not exactly a Twist's
    """
    order = _ORDER.get(data[:2])
    if order is None or len(data) < 4:
        return None
    if _payload_length(data) != _TWIST_BYTES:
        raise MalformedCommand(f"a Twist is {4 + _TWIST_BYTES} bytes, got {len(data)} "
                               f"(declared padding {data[3] & 3})")
    vals = (_LE_TWIST if order == "<" else _BE_TWIST).unpack_from(data, 4)
    return vals[0], vals[5]


def decode_twist_stamped(data: bytes) -> Optional[StampedCommand]:
    """``(sec, nanosec, frame_id, linear.x, angular.z)`` of a serialized TwistStamped, or
    None for another representation.

    :param data: the serialized message (encapsulation header included)
    :raises MalformedCommand: XCDR1 whose length is not exactly the one its string implies,
        or a frame id without its NUL or not UTF-8
    """
    order = _ORDER.get(data[:2])
    if order is None or len(data) < 4:
        return None
    payload = _payload_length(data)
    if payload < 12 + 1 + 3 + _TWIST_BYTES:
        raise MalformedCommand(f"a TwistStamped is at least {4 + 16 + _TWIST_BYTES} bytes, "
                               f"got {len(data)}")
    le = order == "<"
    sec, nanosec, n = (_LE_HEAD if le else _BE_HEAD).unpack_from(data, 4)
    end = 16 + n  # the string's bytes are data[16:end], NUL included
    twist_at = 4 + ((12 + n + 7) & ~7)
    if n < 1 or twist_at + _TWIST_BYTES != 4 + payload:
        raise MalformedCommand(f"TwistStamped with a {n}-byte frame_id must be "
                               f"{twist_at + _TWIST_BYTES} bytes, got {4 + payload}")
    if data[end - 1] != 0:
        raise MalformedCommand("TwistStamped frame_id is not NUL-terminated")
    try:
        frame_id = data[16:end - 1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedCommand(f"TwistStamped frame_id is not UTF-8: {exc}") from None
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
