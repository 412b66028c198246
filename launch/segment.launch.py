"""Start lightseg_ros segment_node (and optionally rviz2) with config/segment.yaml.

    ros2 launch lightseg_ros segment.launch.py image_topic:=/camera/image_raw device:=cuda rviz:=true

Decisions live in lightseg_ros.ros.launch_helpers (tested); this file only wires them to launch.
When the node or rviz2 exits, the whole launch shuts down (Ctrl-C or SIGTERM stop both).
"""
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from lightseg_ros.ros.launch_helpers import LAUNCH_ARGUMENTS, PACKAGE, segment_node_setup


def _nodes(context):
    args = {name: LaunchConfiguration(name).perform(context) for name, _, _ in LAUNCH_ARGUMENTS}
    setup = segment_node_setup(args, get_package_share_directory(PACKAGE))  # refuses before anything starts
    processes = {"segment_node": Node(package=PACKAGE, executable="segment_node", namespace=setup.namespace,
                                      parameters=setup.parameters, additional_env=setup.environment,
                                      output="screen", emulate_tty=True)}
    if setup.rviz:
        processes["rviz2"] = Node(package="rviz2", executable="rviz2", arguments=["-d", setup.rviz_config],
                                  additional_env=setup.environment)
    end_with = [RegisterEventHandler(OnProcessExit(
        target_action=process, on_exit=[EmitEvent(event=Shutdown(reason=f"{name} exited"))]))
        for name, process in processes.items()]
    return list(processes.values()) + end_with


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in LAUNCH_ARGUMENTS]
        + [OpaqueFunction(function=_nodes)]
    )
