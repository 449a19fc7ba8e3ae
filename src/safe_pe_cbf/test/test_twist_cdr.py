"""The filter's Twist / TwistStamped wire codec against rclpy's own (de)serialization."""

from __future__ import annotations

import math
import struct

import pytest
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.serialization import deserialize_message, serialize_message

from safe_pe_cbf.ros.twist_cdr import (
    MalformedCommand,
    decode_twist,
    decode_twist_stamped,
    encode_twist,
    encode_twist_stamped,
)

FRAME_IDS = ["", "a", "ab", "abc", "abcd", "odom", "base_link", "x" * 37, "räder/ümlaut"]


def _stamped(sec: int, nanosec: int, frame_id: str, v: float, w: float) -> TwistStamped:
    msg = TwistStamped()
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = v, 7.0, -7.0
    msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = 3.0, -3.0, w
    return msg


@pytest.mark.parametrize("frame_id", FRAME_IDS)
def test_decode_twist_stamped_reads_what_rclpy_writes(frame_id: str) -> None:
    for sec, nanosec, v, w in [(0, 0, 0.0, 0.0), (-5, 999_999_999, 0.25, -1.5),
                               (2_147_483_647, 1, -1e6, 1e-300), (17, 3, math.inf, math.nan)]:
        data = serialize_message(_stamped(sec, nanosec, frame_id, v, w))
        got = decode_twist_stamped(data)
        assert got is not None
        assert got[:3] == (sec, nanosec, frame_id)
        assert got[3] == v or (math.isnan(got[3]) and math.isnan(v))
        assert got[4] == w or (math.isnan(got[4]) and math.isnan(w))


@pytest.mark.parametrize("frame_id", FRAME_IDS)
def test_encode_twist_stamped_is_what_rclpy_writes_and_reads(frame_id: str) -> None:
    data = encode_twist_stamped(12, 345, frame_id.encode("utf-8"), 0.5, -0.75)
    expected = _stamped(12, 345, frame_id, 0.5, -0.75)
    expected.twist.linear.y = expected.twist.linear.z = 0.0
    expected.twist.angular.x = expected.twist.angular.y = 0.0
    reference = serialize_message(expected)  # its padding bytes are arbitrary, ours zero
    assert len(data) == len(reference)
    assert data[:17 + len(frame_id.encode("utf-8"))] == reference[:17 + len(frame_id.encode())]
    assert data[-48:] == reference[-48:]
    assert deserialize_message(data, TwistStamped) == expected
    assert decode_twist_stamped(data) == (12, 345, frame_id, 0.5, -0.75)


def test_twist_round_trips_both_ways() -> None:
    msg = Twist()
    msg.linear.x, msg.linear.y, msg.angular.z = -0.3, 9.0, 2.5
    assert decode_twist(serialize_message(msg)) == (-0.3, 2.5)
    data = encode_twist(-0.3, 2.5)
    msg.linear.y = 0.0
    assert data == serialize_message(msg)
    assert deserialize_message(data, Twist) == msg


def test_big_endian_buffers_are_read() -> None:
    twist = b"\x00\x00\x00\x00" + struct.pack(">6d", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert decode_twist(twist) == (1.0, 6.0)
    stamped = (b"\x00\x00\x00\x00" + struct.pack(">iII", 4, 5, 3) + b"ab\x00" + b"\x00"
               + struct.pack(">6d", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    assert decode_twist_stamped(stamped) == (4, 5, "ab", 1.0, 6.0)


def test_other_representations_give_none_for_the_fallback() -> None:
    good = serialize_message(_stamped(1, 2, "odom", 0.1, 0.2))
    assert decode_twist_stamped(good) is not None
    assert decode_twist_stamped(b"\x00\x07" + good[2:]) is None      # another representation
    assert decode_twist_stamped(b"") is None
    twist = serialize_message(Twist())
    assert decode_twist(b"\x00\x0b" + twist[2:]) is None
    assert decode_twist(b"") is None


def _malformed(decode, data: bytes) -> None:
    with pytest.raises(MalformedCommand):
        decode(data)


def test_malformed_buffers_raise_to_be_dropped() -> None:
    good = serialize_message(_stamped(1, 2, "odom", 0.1, 0.2))
    _malformed(decode_twist_stamped, good[:-1])                       # truncated
    _malformed(decode_twist_stamped, good + b"\x00" * 8)              # trailing bytes
    _malformed(decode_twist_stamped, good[:4])
    long_string = bytearray(good)
    long_string[12:16] = struct.pack("<I", 1000)                       # length past the end
    _malformed(decode_twist_stamped, bytes(long_string))
    no_nul = bytearray(good)
    no_nul[16 + 4] = ord("!")                                          # NUL overwritten
    _malformed(decode_twist_stamped, bytes(no_nul))
    bad_utf8 = bytearray(good)
    bad_utf8[16] = 0xFF
    _malformed(decode_twist_stamped, bytes(bad_utf8))
    empty_string = bytearray(good)
    empty_string[12:16] = struct.pack("<I", 0)                         # not even the NUL
    _malformed(decode_twist_stamped, bytes(empty_string))
    twist = serialize_message(Twist())
    for n in range(4, len(twist)):
        _malformed(decode_twist, twist[:n])                            # every truncation
    _malformed(decode_twist, twist + b"\x00\x00\x00\x00")              # padded, undeclared
    # truncated by 2 bytes, then padded back to the full length by the transport (declared
    # in the option bytes): the length alone looks right, the payload is short
    padded = twist[:3] + b"\x02" + twist[4:-2] + b"\x00\x00"
    _malformed(decode_twist, padded)
    # a full payload with declared padding after it is fine
    assert decode_twist(twist[:3] + b"\x03" + twist[4:] + b"\x00\x00\x00") == (0.0, 0.0)
