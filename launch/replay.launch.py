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
segment_node on a recorded bag: segment.launch.py plus ``ros2 bag play`` of the camera.

The player plays the image topic, its camera_info and /tf, /tf_static; ``use_sim_time:=true``
adds ``--clock`` and gives the node and rviz2 the bag's time. It starts once the node has
subscribed to the camera, i.e. has loaded its model (``wait_timeout``, 300 s: then it plays
anyway), and ``start_delay`` (1 s) later.

Example::

    ros2 launch lightseg_ros replay.launch.py bag:=/data/drive1 image_topic:=/camera/image_raw

(``rviz:=true`` to watch it, ``loop:=true`` to play it again and again, ``use_sim_time:=true``
for the bag's clock).

The launch ends when the bag has played (unless loop:=true): the node then logs its summary (frames
in and out, dropped, latency). For figures (mIoU, latency, drops) use ``lightseg bag-eval BAG
--image-topic /camera/image_raw --label-topic /camera/labels --mode node``, which needs no ROS 2
install.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from lightseg_ros.ros.dds import dds_environment
from lightseg_ros.ros.launch_helpers import LAUNCH_ARGUMENTS, PACKAGE
from lightseg_ros.ros.replay_launch import REPLAY_ARGUMENTS, replay_command


def _player(context):
    names = [name for name, _, _ in LAUNCH_ARGUMENTS + REPLAY_ARGUMENTS]
    args = {name: LaunchConfiguration(name).perform(context) for name in names}
    # the topic the node subscribes to (namespace, transport), as segment.launch.py starts it
    cmd = replay_command(args, get_package_share_directory(PACKAGE))
    env = dds_environment(args.get('dds_transport') or 'default')
    player = ExecuteProcess(cmd=cmd, output='screen', additional_env=env)
    done = RegisterEventHandler(
        OnProcessExit(
            target_action=player, on_exit=[EmitEvent(event=Shutdown(reason='the bag has played'))]
        )
    )
    return [done, player]  # it waits for the node to subscribe (lightseg_ros.ros.wait_then_play)


def generate_launch_description():
    segment = os.path.join(get_package_share_directory(PACKAGE), 'launch', 'segment.launch.py')
    return LaunchDescription(
        [
            DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in REPLAY_ARGUMENTS
        ]
        + [
            IncludeLaunchDescription(PythonLaunchDescriptionSource(segment)),
            OpaqueFunction(function=_player),
        ]
    )
