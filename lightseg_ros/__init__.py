"""lightseg_ros: lightweight semantic segmentation for ROS 2 robots and drones."""

__version__ = '0.1.0'
