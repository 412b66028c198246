"""Frame sources for the image source node and the demo (no rclpy): synthetic scenes, folders, videos, rosbags."""
from .frames import BagFrame, FrameSourceError, iter_frames, source_kind
from .synthetic import road_scene

__all__ = ["BagFrame", "FrameSourceError", "iter_frames", "road_scene", "source_kind"]
