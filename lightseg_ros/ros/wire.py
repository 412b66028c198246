# Copyright 2026 lightseg_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Image messages as the bytes DDS carries (CDR), read and written with rosbags (no rclpy).

The node subscribes and publishes serialized messages. Read here, a frame's pixels stay in the
bytes rclpy received (a numpy view, 0.02 ms for a 4000x3000 rgb8 frame, against 113 ms for
rclpy's ``deserialize_message``), and the worker thread reads only the frames it processes; an
output image is one copy of its pixels into the message. Measured in the node (BENCHMARKS.md,
"Serialized messages in the node"): 35 MB less memory for a 4000x3000 frame, the latency unchanged,
since moving the bytes through DDS is what costs.
"""

from functools import lru_cache
import struct
from typing import Any

import numpy as np

from ..inference.image_codec import image_fields, ImageDecodeError
from ..sources.bags import IMAGE_TYPE, typestore

__all__ = ['read_message', 'image_message', 'header_fields']


@lru_cache(maxsize=1)
def _store():
    return typestore()


def read_message(raw: bytes, msgtype: str) -> Any:
    """
    Read a serialized ``msgtype`` message; arrays are views of ``raw``, not copies.

    Raises ImageDecodeError (kind ``malformed_message``) when the bytes do not hold one.
    """
    try:
        return _store().deserialize_cdr(memoryview(raw), msgtype)
    except Exception as exc:  # noqa: BLE001 - rosbags raises several types for bad bytes
        raise ImageDecodeError(
            'malformed_message',
            f'{len(raw)} bytes that are not a {msgtype} message: {str(exc)[:200]}',
        ) from exc


def image_message(header: Any, array: np.ndarray, encoding: str) -> bytes:
    """
    Serialize a ``sensor_msgs/Image`` holding ``array`` under ``header``.

    ``header`` is any object with ``stamp.sec``, ``stamp.nanosec`` and ``frame_id`` (a message read
    by :func:`read_message` or an rclpy Header).
    """
    store = _store()
    array = np.ascontiguousarray(array)
    fields = image_fields(array, encoding, data=False)
    empty = np.empty(0, np.uint8)
    head = store.serialize_cdr(
        store.types[IMAGE_TYPE](header=_header(header), data=empty, **fields), IMAGE_TYPE
    )
    # data is the message's last field, a uint8 sequence (no alignment): the message with its
    # pixels is the empty one with the sequence's length set and the pixels appended. One copy of
    # the pixels, where serializing them and making bytes of the result (rclpy publishes only
    # bytes) would take two.
    order = '<I' if head[1] == 1 else '>I'  # CDR's encapsulation header: 0x0001 is little-endian
    return b''.join((head[:-4], struct.pack(order, array.nbytes), memoryview(array).cast('B')))


def header_fields(header: Any) -> tuple[int, int, str]:
    """Return ``(sec, nanosec, frame_id)`` of either kind of header."""
    return int(header.stamp.sec), int(header.stamp.nanosec), str(header.frame_id)


def _header(header: Any) -> Any:
    types = _store().types
    sec, nanosec, frame_id = header_fields(header)
    return types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec), frame_id=frame_id
    )
