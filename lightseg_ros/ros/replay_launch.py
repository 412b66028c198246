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

from collections.abc import Callable
from pathlib import Path
import sys

from .launch_helpers import package_installed, segment_node_setup
from .topics import camera_info_topic

__all__ = ['REPLAY_ARGUMENTS', 'bag_play_command', 'replay_command']

# (name, default, description) of the arguments replay.launch.py adds to segment.launch.py's
REPLAY_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    ('bag', '', 'rosbag2 folder to play (sqlite3 or MCAP); required'),
    ('rate', '1.0', 'playback speed factor of the recorded rate'),
    ('loop', 'false', 'play the bag again and again'),
    (
        'start_delay',
        '1.0',
        'seconds the player waits once the node has subscribed (discovery of its publishers)',
    ),
    ('wait_timeout', '300.0', 'seconds to wait for the node to subscribe; then play anyway'),
)


def bag_play_command(
    args: dict[str, str], image_topic: str, use_sim_time: bool = False
) -> list[str]:
    """
    Return the command line that plays the bag for ``args`` (the launch arguments as strings).

    ``ros2 bag play``, started by :mod:`~lightseg_ros.ros.wait_then_play` once the node has
    subscribed to ``image_topic``, i.e. has loaded its model.

    It plays the camera topic, its camera_info (which the node passes on with each mask, for
    rviz2's Camera display and 3D projection) and ``/tf``, ``/tf_static`` (a topic the bag lacks
    is skipped by the player); ``use_sim_time``: with ``--clock``, the bag's time on ``/clock``.
    The camera topic plays reliable whatever the recording offered (``--reliable``: a camera
    recorded best effort lost most of its frames to the node under stock DDS settings).
    """
    bag = args.get('bag', '')
    if not image_topic:
        raise ValueError("replay.launch.py needs image_topic:=TOPIC, the bag's camera topic")
    if not bag:
        raise ValueError('replay.launch.py needs bag:=PATH (a rosbag2 folder)')
    if not (Path(bag) / 'metadata.yaml').is_file() and not Path(bag).is_file():
        raise ValueError(f'bag:={bag} is not a rosbag2 folder (no metadata.yaml)')
    rate = _number(args, 'rate', '1.0')
    if rate <= 0:
        raise ValueError(f'rate:={rate:g} must be positive')
    delay, timeout = _number(args, 'start_delay', '1.0'), _number(args, 'wait_timeout', '300.0')
    if delay < 0 or timeout < 0:
        raise ValueError('start_delay and wait_timeout must be 0 or more seconds')
    topics = [image_topic, camera_info_topic(image_topic), '/tf', '/tf_static']
    play = ['ros2', 'bag', 'play', bag, '--rate', f'{rate:g}']
    if delay > 0:  # ros2 bag play refuses --delay 0 (it takes positive values only)
        play += ['--delay', f'{delay:g}']
    play += ['--topics', *topics]
    if use_sim_time:
        play.append('--clock')
    if args.get('loop', 'false').lower() in ('1', 'true', 'yes', 'on'):
        play.append('--loop')
    # the player starts once the node subscribes to the camera, i.e. has loaded its model
    waiter = [sys.executable, '-m', 'lightseg_ros.ros.wait_then_play', '--topic', image_topic]
    waiter += ['--reliable', image_topic]
    return [*waiter, '--timeout', f'{timeout:g}', '--', *play]


def replay_command(
    args: dict[str, str],
    share_dir: str | Path,
    installed: Callable[[str], bool] = package_installed,
) -> list[str]:
    """
    Return :func:`bag_play_command` for the launch's arguments (segment.launch.py's and replay's).

    The player plays, and waits for, the topic the node subscribes to: ``image_topic`` (or the
    params file's first camera) resolved in ``namespace`` and moved to ``<topic>/compressed`` by
    ``transport: compressed``, as the node resolves it. The typed name would miss a relative name,
    a namespace or a compressed transport: the player then waited its whole ``wait_timeout`` and
    played a topic the node does not read.
    """
    setup = segment_node_setup(args, share_dir, installed)
    if not setup.cameras:
        given = args.get('image_topic')
        raise ValueError(
            f'replay.launch.py: the node would refuse image_topic:={given} or the transport of '
            'the params file (it says why)'
            if given
            else "replay.launch.py needs image_topic:=TOPIC, the bag's camera topic (the params "
            "file's image_topics are refused; the node says why)"
        )
    use_sim_time = args.get('use_sim_time', 'false').strip().lower() in ('true', '1', 'yes', 'on')
    return bag_play_command(args, setup.cameras[0], use_sim_time)


def _number(args: dict[str, str], name: str, default: str) -> float:
    try:
        value = float(args.get(name, default))
    except ValueError:
        raise ValueError(f'{name}:={args[name]} is not a number') from None
    if value != value or value in (float('inf'), float('-inf')):
        raise ValueError(f'{name}:={args[name]} is not a finite number')
    return value
