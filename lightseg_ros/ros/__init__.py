"""
ROS 2 glue: the segmentation node, the image source, launch helpers.

Importing this package does not import rclpy; the pure helpers (topic names, the latest-frame
mailbox, statistics, parameter validation, launch helpers) are tested without a ROS graph.
"""
