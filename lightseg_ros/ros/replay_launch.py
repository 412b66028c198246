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
What ``launch/replay.launch.py`` starts besides the node: a ``ros2 bag play`` of a recording.

Pure functions (no launch import), so the decisions are tested without a ROS 2 install.
"""

from __future__ import annotations

from pathlib import Path

from .topics import camera_info_topic

__all__ = ['REPLAY_ARGUMENTS', 'bag_play_command']

# (name, default, description) of the arguments replay.launch.py adds to segment.launch.py's
REPLAY_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    ('bag', '', 'rosbag2 folder to play (sqlite3 or MCAP); required'),
    ('rate', '1.0', 'playback speed factor of the recorded rate'),
    ('loop', 'false', 'play the bag again and again'),
    ('start_delay', '3.0', 'seconds to wait before playing, so the node has loaded its model'),
)


def bag_play_command(
    args: dict[str, str], image_topic: str, use_sim_time: bool = False
) -> list[str]:
    """
    Return the ``ros2 bag play`` command line for ``args`` (the launch arguments as strings).

    It plays the camera topic, its camera_info (which the node passes on with each mask, for
    rviz2's Camera display and 3D projection) and ``/tf``, ``/tf_static`` (a topic the bag lacks
    is skipped by the player); ``use_sim_time``: with ``--clock``, the bag's time on ``/clock``.
    """
    bag = args.get('bag', '')
    if not image_topic:
        raise ValueError("replay.launch.py needs image_topic:=TOPIC, the bag's camera topic")
    if not bag:
        raise ValueError('replay.launch.py needs bag:=PATH (a rosbag2 folder)')
    if not (Path(bag) / 'metadata.yaml').is_file() and not Path(bag).is_file():
        raise ValueError(f'bag:={bag} is not a rosbag2 folder (no metadata.yaml)')
    try:
        rate = float(args.get('rate', '1.0'))
    except ValueError:
        raise ValueError(f'rate:={args["rate"]} is not a number') from None
    if rate <= 0:
        raise ValueError(f'rate:={rate} must be positive')
    topics = [image_topic, camera_info_topic(image_topic), '/tf', '/tf_static']
    cmd = ['ros2', 'bag', 'play', bag, '--rate', f'{rate:g}', '--topics', *topics]
    if use_sim_time:
        cmd.append('--clock')
    if args.get('loop', 'false').lower() in ('1', 'true', 'yes', 'on'):
        cmd.append('--loop')
    return cmd
