"""Start lightseg_ros segment_node (and optionally rviz2) with config/segment.yaml.

    ros2 launch lightseg_ros segment.launch.py image_topic:=/camera/image_raw device:=cuda rviz:=true

Decisions live in lightseg_ros.ros.launch_helpers (tested); this file only wires them to launch.
"""
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from lightseg_ros.ros.launch_helpers import LAUNCH_ARGUMENTS, LAUNCH_ENVIRONMENT, PACKAGE, segment_node_setup


def _nodes(context):
    args = {name: LaunchConfiguration(name).perform(context) for name, _, _ in LAUNCH_ARGUMENTS}
    setup = segment_node_setup(args, get_package_share_directory(PACKAGE))
    actions = [Node(package=PACKAGE, executable="segment_node", namespace=setup.namespace,
                    parameters=setup.parameters, output="screen", emulate_tty=True)]
    if setup.rviz:
        actions.append(Node(package="rviz2", executable="rviz2", arguments=["-d", setup.rviz_config]))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [SetEnvironmentVariable(name, value) for name, value in LAUNCH_ENVIRONMENT.items()]
        + [DeclareLaunchArgument(name, default_value=default, description=description)
           for name, default, description in LAUNCH_ARGUMENTS]
        + [OpaqueFunction(function=_nodes)]
    )
