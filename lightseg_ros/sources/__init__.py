"""
Frame sources for the image source node and the demo (no rclpy).

Synthetic scenes, folders, videos, rosbags.
"""

from .frames import (
    BagFrame,
    FrameSourceError,
    image_files,
    iter_frames,
    read_image,
    source_kind,
    video_frames,
    video_info,
    VideoInfo,
)
from .synthetic import road_scene

__all__ = [
    'BagFrame',
    'FrameSourceError',
    'VideoInfo',
    'image_files',
    'iter_frames',
    'read_image',
    'road_scene',
    'source_kind',
    'video_frames',
    'video_info',
]
