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
Frame sources for the image source node and the demo (no rclpy).

Synthetic scenes, folders, videos, rosbags.
"""

from .frames import (
    BagFrame,
    FrameSourceError,
    image_files,
    iter_frames,
    playback_rate,
    read_image,
    short_video_line,
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
    'playback_rate',
    'read_image',
    'road_scene',
    'short_video_line',
    'source_kind',
    'video_frames',
    'video_info',
]
