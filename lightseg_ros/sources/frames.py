"""Where frames come from: the built-in synthetic scene, a folder of images, a video file or a rosbag2.

``iter_frames(source)`` yields either RGB arrays (synthetic, folder, video) or :class:`BagFrame`
(a rosbag2 message's raw CDR bytes and its type, replayed unchanged: rclpy publishers accept
serialized bytes, so stamps and encodings are exactly those recorded).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .synthetic import road_scene

__all__ = ["BagFrame", "FrameSourceError", "source_kind", "iter_frames", "IMAGE_SUFFIXES", "IMAGE_MSGTYPES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
IMAGE_MSGTYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
SYNTHETIC = "synthetic"


class FrameSourceError(ValueError):
    """The source does not exist, holds no frames, or cannot be read; the message says which."""


@dataclass
class BagFrame:
    data: bytes  # CDR-serialized message, as recorded
    msgtype: str  # "sensor_msgs/msg/Image" or "sensor_msgs/msg/CompressedImage"
    topic: str  # the topic it was recorded on


def source_kind(source: str) -> str:
    """``synthetic``, ``folder``, ``bag`` (rosbag2 folder, .mcap or .db3) or ``video``."""
    if source in ("", SYNTHETIC):
        return SYNTHETIC
    path = Path(source)
    if not path.exists():
        raise FrameSourceError(f"source {source!r} does not exist; give 'synthetic', a folder of images, "
                               "a video file or a rosbag2")
    if path.is_dir():
        return "bag" if (path / "metadata.yaml").is_file() else "folder"
    if path.suffix in (".mcap", ".db3"):
        return "bag"
    return "video"


def iter_frames(source: str = SYNTHETIC, *, width: int = 640, height: int = 480, loop: bool = True,
                bag_topic: str = "", fps: float = 10.0) -> Iterator[np.ndarray | BagFrame]:
    """Frames of ``source`` (see module docstring); ``loop`` restarts finite sources at their end.

    ``width``/``height`` size the synthetic scene; files keep their own size. ``fps`` sets the
    synthetic scene's clock.
    """
    kind = source_kind(source)
    if kind == SYNTHETIC:
        return (road_scene(width, height, t=i / fps)[0] for i in itertools.count())
    reader = {"folder": _folder_frames, "video": _video_frames, "bag": _bag_frames}[kind]
    first = reader(source, bag_topic) if kind == "bag" else reader(source)
    return _looped(first, lambda: reader(source, bag_topic) if kind == "bag" else reader(source), loop)


def _looped(first: Iterator, again, loop: bool) -> Iterator:
    yield from first
    while loop:
        yield from again()


def _folder_frames(folder: str) -> Iterator[np.ndarray]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FrameSourceError(f"folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FrameSourceError(f"cannot read image {path}")
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _video_frames(path: str) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise FrameSourceError(f"cannot open video {path} (OpenCV reads mp4, avi, mkv, ...)")
    try:
        count = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            count += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if count == 0:
            raise FrameSourceError(f"video {path} has no frames")
    finally:
        capture.release()


def _bag_frames(path: str, bag_topic: str = "") -> Iterator[BagFrame]:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    with AnyReader([Path(path)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        images = [c for c in reader.connections if c.msgtype in IMAGE_MSGTYPES]
        chosen = [c for c in images if c.topic == bag_topic] if bag_topic else images[:1]
        if not chosen:
            available = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections})
            raise FrameSourceError(f"bag {path} has no image topic {bag_topic!r}; it holds: {', '.join(available)}")
        chosen = [c for c in images if c.topic == chosen[0].topic]
        for connection, _, raw in reader.messages(connections=chosen):
            yield BagFrame(bytes(raw), connection.msgtype, connection.topic)
