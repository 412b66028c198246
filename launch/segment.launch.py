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
Start lightseg_ros segment_node (and optionally rviz2) with config/segment.yaml.

Examples::

    ros2 launch lightseg_ros segment.launch.py image_topic:=/camera/image_raw rviz:=true
    ros2 launch lightseg_ros segment.launch.py device:=cuda model:=mlff_mobilenetv2
    # managed: a lifecycle manager drives it
    ros2 launch lightseg_ros segment.launch.py lifecycle:=true
    # managed, activated by the launch
    ros2 launch lightseg_ros segment.launch.py lifecycle:=true autostart:=true

Decisions live in lightseg_ros.ros.launch_helpers (tested); this file only wires them to launch.
When the node or rviz2 exits, the whole launch shuts down (Ctrl-C or SIGTERM stop both).
"""

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import matches_action, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition
from lightseg_ros.ros.launch_helpers import LAUNCH_ARGUMENTS, PACKAGE, segment_node_setup


def _change_state(node, transition_id):
    return EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id)
    )


def _nodes(context):
    args = {name: LaunchConfiguration(name).perform(context) for name, _, _ in LAUNCH_ARGUMENTS}
    # refuses before anything starts
    setup = segment_node_setup(args, get_package_share_directory(PACKAGE))
    options = {
        'package': PACKAGE,
        'executable': setup.executable,
        'namespace': setup.namespace,
        'parameters': setup.parameters,
        'additional_env': setup.environment,
        'output': 'screen',
        'emulate_tty': True,
    }
    node = LifecycleNode(name=setup.node_name, **options) if setup.lifecycle else Node(**options)
    processes = {setup.executable: node}
    if setup.rviz:
        processes['rviz2'] = Node(
            package='rviz2',
            executable='rviz2',
            arguments=['-d', setup.write_rviz_config()],
            parameters=[{'use_sim_time': setup.use_sim_time}],
            additional_env=setup.environment,
        )
    end_with = [
        RegisterEventHandler(
            OnProcessExit(
                target_action=process, on_exit=[EmitEvent(event=Shutdown(reason=f'{name} exited'))]
            )
        )
        for name, process in processes.items()
    ]
    autostart = []
    # configure now; activate once configuring has ended in inactive (not after a deactivate)
    if setup.autostart:
        autostart = [
            RegisterEventHandler(
                OnStateTransition(
                    target_lifecycle_node=node,
                    start_state='configuring',
                    goal_state='inactive',
                    entities=[_change_state(node, Transition.TRANSITION_ACTIVATE)],
                )
            ),
            _change_state(node, Transition.TRANSITION_CONFIGURE),
        ]
    return list(processes.values()) + end_with + autostart


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in LAUNCH_ARGUMENTS
        ]
        + [OpaqueFunction(function=_nodes)]
    )
