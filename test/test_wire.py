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


"""The node's reading and writing of serialized image messages (lightseg_ros/ros/wire.py)."""

from types import SimpleNamespace

from lightseg_ros.inference.image_codec import (
    decode_compressed_image,
    decode_image,
    encode_image,
    ImageDecodeError,
)
from lightseg_ros.ros.wire import image_message, read_message
from lightseg_ros.sources.bags import COMPRESSED_TYPE, IMAGE_TYPE
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)


def rclpy_image(encoding: str = 'bgr8') -> Image:
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = 7, 99, 'cam_optical'
    for key, value in encode_image(
        RGB, encoding, step=64 * 3 + 4 if encoding == 'bgr8' else None
    ).items():
        setattr(msg, key, value)
    return msg


def test_a_message_from_rclpy_reads_as_the_same_image_without_copying_its_pixels():
    raw = serialize_message(rclpy_image())
    msg = read_message(raw, IMAGE_TYPE)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (
        7,
        99,
        'cam_optical',
    )
    assert np.shares_memory(msg.data, np.frombuffer(raw, np.uint8))  # a view of what DDS gave
    assert np.array_equal(decode_image(msg), decode_image(rclpy_image()))


@pytest.mark.parametrize(
    'array,encoding',
    [
        (RGB[..., 0], 'mono8'),
        (RGB, 'rgb8'),
        (RNG.random((48, 64), dtype=np.float32), '32FC1'),
        (RGB[:, ::2, :], 'rgb8'),  # not contiguous
    ],
)
def test_an_output_written_here_reads_in_rclpy_as_the_array_and_the_input_header(array, encoding):
    header = SimpleNamespace(stamp=SimpleNamespace(sec=12, nanosec=34), frame_id='cam')
    out = deserialize_message(image_message(header, array, encoding), Image)
    assert (out.header.stamp.sec, out.header.stamp.nanosec, out.header.frame_id) == (12, 34, 'cam')
    assert (out.height, out.width, out.encoding) == (array.shape[0], array.shape[1], encoding)
    assert out.step * out.height == array.nbytes
    got = np.frombuffer(out.data, array.dtype).reshape(array.shape)
    assert np.array_equal(got, array)


def test_a_compressed_message_reads_and_decodes():
    import cv2

    msg = CompressedImage()
    msg.format = 'png'
    msg.data = cv2.imencode('.png', RGB)[1].tobytes()
    read = read_message(serialize_message(msg), COMPRESSED_TYPE)
    assert read.format == 'png'
    assert np.array_equal(decode_compressed_image(read), RGB[..., ::-1])


def test_cut_and_mutated_messages_are_an_image_or_one_decode_error_never_another_error():
    raw = serialize_message(rclpy_image())
    rng = np.random.default_rng(15)
    outcomes = {'image': 0, 'dropped': 0}
    for i in range(400):
        data = bytearray(raw)
        if i % 2:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for _ in range(int(rng.integers(1, 4))):  # flips in the header and the fields
                data[int(rng.integers(0, 80))] ^= 1 << int(rng.integers(0, 8))
        try:
            image = decode_image(read_message(bytes(data), IMAGE_TYPE), max_pixels=10**6)
            assert image.dtype == np.uint8 and image.ndim == 3
            outcomes['image'] += 1
        except ImageDecodeError as exc:
            assert '\n' not in str(exc)
            outcomes['dropped'] += 1
    assert outcomes['dropped'] > 200 and outcomes['image'] > 0, outcomes
