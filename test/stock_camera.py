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
A camera driver as users run one: its own process, no DDS variable, REP-2003 QoS (or sensor data).

    python stock_camera.py TOPIC --qos system_default|sensor_data --count N --rate HZ

Waits until something subscribes (so a test can count every frame), then publishes ``count``
640x480 rgb8 frames stamped 1..N seconds (frame_id ``stock_camera``), and with them a camera_info
on the sibling ``camera_info`` topic, then lingers a second for late acknowledgements.
"""

import argparse
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data, qos_profile_system_default
from sensor_msgs.msg import CameraInfo, Image

PROFILES = {'system_default': qos_profile_system_default, 'sensor_data': qos_profile_sensor_data}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('topic')
    parser.add_argument('--qos', choices=PROFILES, default='system_default')
    parser.add_argument('--count', type=int, default=30)
    parser.add_argument('--rate', type=float, default=10.0)
    parser.add_argument(
        '--wait', type=float, default=60.0, help='seconds to wait for a subscriber'
    )
    args = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node('stock_camera')
    image_pub = node.create_publisher(Image, args.topic, PROFILES[args.qos])
    info_topic = args.topic.rsplit('/', 1)[0] + '/camera_info'
    info_pub = node.create_publisher(CameraInfo, info_topic, PROFILES[args.qos])
    # spun as a driver's node is: that is where rclpy (and rclcpp) report QoS events, such as a
    # subscription requesting more than the camera offers, as warnings in the driver's log

    def spin_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            rclpy.spin_once(node, timeout_sec=min(left, 0.05))

    deadline = time.monotonic() + args.wait
    while image_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        spin_for(0.05)
    spin_for(1.0)  # the other subscribers (the test's) match too
    rng = np.random.default_rng(0)
    pixels = np.kron(
        rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), np.ones((10, 10, 1), np.uint8)
    )
    for i in range(1, args.count + 1):
        msg = Image(height=480, width=640, encoding='rgb8', step=640 * 3)
        msg.header.stamp.sec, msg.header.frame_id = i, 'stock_camera'
        msg.data = pixels.tobytes()
        info = CameraInfo(height=480, width=640, distortion_model='plumb_bob')
        info.header = msg.header
        info.k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
        info_pub.publish(info)
        image_pub.publish(msg)
        spin_for(1.0 / args.rate)
    spin_for(1.0)
    node.destroy_node()
    rclpy.shutdown()
    print(f'published {args.count}', flush=True)


if __name__ == '__main__':
    main()
