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
``image_source``: publishes camera-like frames at a fixed rate.

So the node runs on a fresh machine.

Sources (parameter ``source``): ``synthetic`` (default: a procedural street scene the package
draws), a folder of images, a video file, or a rosbag2 (folder, .mcap or .db3; the bag's raw CDR
bytes are published unchanged, original stamps included, unless ``restamp`` is true). Frames from
the other sources are stamped with the current time and ``frame_id``. A topic ending in
``/compressed`` gets ``CompressedImage`` (jpeg). Beside each frame of those sources goes a
``camera_info`` (``/cam/image_raw`` -> ``/cam/camera_info``) with the frame's stamp, frame_id and
size, as a camera driver sends: an ideal pinhole of focal length equal to the width (about 53
degrees across), principal point at the centre, no distortion. It describes no real lens (the
synthetic scene has none); ``camera_info:=false`` leaves it out. A bag's frames go without one.

Run: ``ros2 run lightseg_ros image_source --ros-args -p source:=/data/clip.mp4 -p rate_hz:=15``
(``rate_hz:=0``: the video's own frame rate, or a bag's recorded rate).
"""

from __future__ import annotations

import sys
from typing import Any

import cv2
import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from .entry import interrupted, stopped
from .params import declare
from .topics import camera_info_topic, is_compressed_topic
from ..inference.image_codec import encode_image, SUPPORTED_ENCODINGS
from ..sources import BagFrame, FrameSourceError, iter_frames, playback_rate

__all__ = ['ImageSource', 'main', 'to_image_msg', 'to_compressed_msg', 'pinhole_info']


def pinhole_info(width: int, height: int, stamp: Any, frame_id: str) -> CameraInfo:
    """
    Return a camera_info for an ideal pinhole: focal length = width, centred, no distortion.

    About 53 degrees across; what a camera driver without a calibration would send, so that
    tools which need a camera_info (rviz2's Camera display, image_proc) run.
    """
    info = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    info.header.stamp, info.header.frame_id = stamp, frame_id
    f, cx, cy = float(width), (width - 1) / 2.0, (height - 1) / 2.0
    info.d = [0.0] * 5
    info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def to_image_msg(rgb: np.ndarray, encoding: str, stamp: Any, frame_id: str) -> Image:
    """Return an Image message holding ``rgb`` in ``encoding`` (data filled with ``tobytes()``)."""
    msg = Image()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    fields = encode_image(rgb, encoding)
    msg.height, msg.width, msg.encoding = fields['height'], fields['width'], fields['encoding']
    msg.is_bigendian, msg.step, msg.data = fields['is_bigendian'], fields['step'], fields['data']
    return msg


def to_compressed_msg(
    rgb: np.ndarray, stamp: Any, frame_id: str, quality: int = 90
) -> CompressedImage:
    msg = CompressedImage(format='jpeg')
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    ok, buf = cv2.imencode(
        '.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    msg.data = buf.tobytes()
    return msg


class ImageSource(Node):
    """
    Publishes one frame per timer tick.

    Stops (``done``) after ``count`` frames or a finite source's end.
    """

    def __init__(self, node_name: str = 'image_source', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)

        def param(name: str, default: Any, description: str, **ranges: Any) -> Any:
            return declare(
                self,
                name,
                default,
                ParameterDescriptor(description=description, read_only=True, **ranges),
            )

        size_range = {'integer_range': [IntegerRange(from_value=16, to_value=8192, step=1)]}
        source = param(
            'source', 'synthetic', 'synthetic, a folder of images, a video file or a rosbag2'
        )
        self.topic = param(
            'topic',
            '/camera/image_raw',
            'output topic; a name ending in /compressed publishes jpeg CompressedImage',
        )
        rate = param(
            'rate_hz',
            10.0,
            "frames per second; 0 = the source's own: a video's frame rate, a bag's recorded rate",
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1000.0)],
        )
        width = param('width', 640, 'synthetic frame width', **size_range)
        height = param('height', 480, 'synthetic frame height', **size_range)
        self.encoding = param(
            'encoding', 'rgb8', f'raw image encoding: {", ".join(SUPPORTED_ENCODINGS)}'
        )
        self.frame_id = param('frame_id', 'camera', 'header frame_id')
        loop = param('loop', True, 'restart finite sources at their end')
        self.count = param(
            'count',
            0,
            'stop after this many frames; 0 = never',
            integer_range=[IntegerRange(from_value=0, to_value=2**31 - 1, step=1)],
        )
        self._with_info = param(
            'camera_info',
            True,
            'publish a camera_info beside each frame (an ideal pinhole: focal length = width); '
            "a bag's frames go without one",
        )
        bag_topic = param(
            'bag_topic', '', 'image topic to replay from a bag; empty = the first image topic'
        )
        reliable = param(
            'reliable',
            True,
            'reliable QoS (matches best-effort and reliable subscribers), else best effort',
        )
        self._wait = param(
            'wait_for_subscriber',
            True,
            'hold the first frame until something subscribes to the topic, so that a finite run '
            '(count, loop:=false) arrives whole; false: publish from the start, as a camera '
            'driver does',
        )
        self._restamp = param(
            'restamp',
            False,
            "a bag's frames: stamp each with the time it is published (its frame_id and pixels "
            'kept), so that stamp-based latency means publish -> result; false: the recorded '
            'stamps, as ros2 bag play does',
        )
        if self.encoding not in SUPPORTED_ENCODINGS:
            raise ValueError(
                f'encoding {self.encoding!r} not supported; accepted: '
                f'{", ".join(SUPPORTED_ENCODINGS)}'
            )
        self.compressed = is_compressed_topic(self.topic)
        rate, rate_words = playback_rate(source, rate, bag_topic)
        self._frames = iter_frames(
            source,
            width=width,
            height=height,
            loop=loop,
            fps=rate,
            bag_topic=bag_topic,
            on_skip=self.get_logger().warning,  # an unreadable image in a folder: one line
        )
        self._first = next(self._frames)  # fails early on an unreadable source
        if not isinstance(self._first, BagFrame) and not self.compressed:
            # an encoding the frame's size cannot take (yuv422 at an odd width) stops the start
            # in one line, not the first tick in a traceback
            encode_image(self._first, self.encoding)
        self._qos = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        )
        # created now, not at the first frame: discovery starts at once (a publisher created at
        # the first tick sent its first 0.8 s of frames before any subscriber had matched it)
        first = self._first
        if isinstance(first, BagFrame):
            msg_type = CompressedImage if first.msgtype.endswith('CompressedImage') else Image
        else:
            msg_type = CompressedImage if self.compressed else Image
        self._publisher = self.create_publisher(msg_type, self.topic, self._qos)
        self._info_publisher = (
            self.create_publisher(CameraInfo, camera_info_topic(self.topic), self._qos)
            if self._with_info and not isinstance(first, BagFrame)
            else None
        )
        self._told_waiting = False
        self.published = 0
        self.done = self.failed = False
        self._last_size = (0, 0)
        self.get_logger().info(f'publishing {source} on {self.topic} at {rate_words}')
        self.create_timer(1.0 / rate, self._tick)

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until reliable subscribers have acknowledged every frame (true when they have)."""
        return self._publisher.wait_for_all_acked(Duration(seconds=timeout_s))

    def next_message(self) -> Any:
        """
        Return the next frame as a message, None at the end.

        Bag frames come as raw CDR bytes.
        """
        frame = self._first if self._first is not None else next(self._frames, None)
        self._first = None
        if frame is None or (isinstance(frame, BagFrame) and not self._restamp):
            return frame
        if not isinstance(frame, BagFrame):
            self._last_size = frame.shape[:2]
        stamp = self.get_clock().now().to_msg()
        if isinstance(frame, BagFrame):
            msg_type = CompressedImage if frame.msgtype.endswith('CompressedImage') else Image
            try:
                msg = deserialize_message(frame.data, msg_type)
            except Exception as exc:  # noqa: BLE001 - the CDR reader's errors vary by release
                raise FrameSourceError(
                    f'frame {self.published + 1} of {frame.topic} is not a valid '
                    f'{frame.msgtype}: {exc}'
                ) from None
            msg.header.stamp = stamp
            return msg
        if self.compressed:
            return to_compressed_msg(frame, stamp, self.frame_id)
        try:
            return to_image_msg(frame, self.encoding, stamp, self.frame_id)
        except ValueError as exc:  # a later frame of a folder or video at an odd width for yuv
            raise FrameSourceError(f'frame {self.published + 1}: {exc}') from None

    def _tick(self) -> None:
        if self.done:
            return
        if self._wait and not self.published and not self._publisher.get_subscription_count():
            if not self._told_waiting:
                self._told_waiting = True
                self.get_logger().info(f'waiting for a subscriber on {self.topic}')
            return
        try:
            item = self.next_message()
        except FrameSourceError as exc:  # e.g. a bag damaged past its first frames
            self.get_logger().error(f'source failed after {self.published} frames: {exc}')
            self.done = self.failed = True
            return
        if item is None:
            self.done = True
            self.get_logger().info(f'source ended after {self.published} frames')
            return
        self._publisher.publish(item.data if isinstance(item, BagFrame) else item)
        if self._info_publisher is not None:
            h, w = self._last_size
            self._info_publisher.publish(pinhole_info(w, h, item.header.stamp, self.frame_id))
        self.published += 1
        if self.count and self.published >= self.count:
            self.done = True


def main(args: list[str] | None = None) -> int:
    """
    Console script ``image_source``.

    Publish until Ctrl-C, ``count`` frames or the source's end.
    """
    rclpy.init(args=args)
    if interrupted():  # SIGINT between the console script's import and rclpy's handler
        rclpy.try_shutdown()
        return 0
    try:
        node = ImageSource()
    except (FrameSourceError, ValueError) as exc:
        rclpy.logging.get_logger('image_source').error(f'cannot start: {exc}')
        rclpy.try_shutdown()
        return 2
    except BaseException as exc:  # Ctrl-C while the first frame is read (a bag's CRC scan)
        told_to_stop = stopped(exc)  # before our own shutdown, which would make anything a stop
        rclpy.try_shutdown()
        if told_to_stop:
            return 0
        raise
    try:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
        if node.done:  # the last frames reach a reliable subscriber before the node goes
            node.flush()
    except BaseException as exc:
        if not stopped(exc):
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 1 if node.failed else 0  # a source that failed mid-run is no success for a launch


if __name__ == '__main__':
    sys.exit(main())
