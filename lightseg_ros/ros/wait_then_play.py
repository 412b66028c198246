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
Start a command once a topic has a subscriber: how ``replay.launch.py`` starts ``ros2 bag play``.

The node subscribes to its camera only after it has loaded its model (an ONNX export and a warm-up
on the first start: 15 s and more on a small CPU), and a bag played before that loses its first
frames, unsegmented. A fixed delay is either too short on a slow board or wasted on a fast one, and
``ros2 bag play`` has no option to wait for subscribers (ROS 1's rosbag had one), so the player is
started through this waiter::

    python3 -m lightseg_ros.ros.wait_then_play --topic /camera/image_raw --timeout 300 \
        -- ros2 bag play BAG --delay 1.0 ...

(the player's own ``--delay`` gives its publishers time to be discovered). After ``--timeout``
seconds without a subscriber the command starts anyway, with one warning. The command replaces
this process (``exec``), so its exit code and signals are its own.

``--reliable TOPIC`` (repeatable) writes a rosbag2 QoS override file that plays those topics
reliable, and adds ``--qos-profile-overrides-path FILE`` to the command. ``ros2 bag play`` offers
what the recording offered: a camera recorded best effort is played best effort, the node follows
it, and under stock DDS settings a best-effort subscription loses most camera-sized frames (each is
many UDP fragments, and best effort never repairs one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

__all__ = ['wait_for_subscriber', 'reliable_overrides', 'main']


def reliable_overrides(topics: list[str]) -> str:
    """Write a rosbag2 QoS override file that plays ``topics`` reliable; return its path."""
    fd, path = tempfile.mkstemp(prefix='lightseg-replay-qos-', suffix='.yaml')
    with os.fdopen(fd, 'w') as f:
        for topic in topics:  # JSON strings are YAML scalars: any topic name stays as written
            f.write(f'{json.dumps(topic)}:\n  reliability: reliable\n  history: keep_last\n')
            f.write('  depth: 10\n')
    return path


def wait_for_subscriber(node, topic: str, timeout_s: float, poll_s: float = 0.1) -> bool:
    """
    Return True once ``topic`` has a subscriber in ``node``'s graph.

    False where none has appeared after ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if node.count_subscribers(topic) > 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)  # the graph is updated by rmw's own threads: no spin is needed


def main(argv: list[str] | None = None) -> int:
    """Wait for a subscriber of ``--topic``, then exec the command after ``--``."""
    argv = sys.argv[1:] if argv is None else argv
    if '--' not in argv or argv.index('--') == len(argv) - 1:
        print('wait_then_play: error: give the command to run after --', file=sys.stderr)
        return 2
    split = argv.index('--')
    parser = argparse.ArgumentParser(prog='wait_then_play')
    parser.add_argument('--topic', required=True)
    parser.add_argument('--timeout', type=float, default=300.0)
    parser.add_argument('--reliable', action='append', default=[], metavar='TOPIC')
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if args.reliable:
        command += ['--qos-profile-overrides-path', reliable_overrides(args.reliable)]

    import rclpy
    from rclpy.signals import SignalHandlerOptions

    # SIGINT (a launch's shutdown) stays Python's KeyboardInterrupt, which ends the wait
    rclpy.init(
        args=['--ros-args', '--disable-rosout-logs'],
        signal_handler_options=SignalHandlerOptions.NO,
    )
    node = rclpy.create_node(f'wait_then_play_{os.getpid()}')
    try:
        found = wait_for_subscriber(node, args.topic, args.timeout)
    except KeyboardInterrupt:
        return 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    if found:
        print(f'wait_then_play: {args.topic} has a subscriber; starting {command[0]}', flush=True)
    else:
        print(
            f'wait_then_play: warning: nothing subscribed to {args.topic} in {args.timeout:g} s; '
            f'starting {command[0]} anyway',
            file=sys.stderr,
            flush=True,
        )
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f'wait_then_play: error: cannot run {command[0]}: {exc.strerror}', file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced the process


if __name__ == '__main__':
    sys.exit(main())
