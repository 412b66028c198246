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
``lightseg dds-check``: how camera-sized images cross between two processes on this host.

For each DDS transport choice (:mod:`lightseg_ros.ros.dds`) and each pairing of publisher and
subscriber reliability, a publisher process sends ``--frames`` rgb8 images at ``--rate`` and this
process counts what arrives and how long each took (publish -> received, both clocks the same
host's). It answers "will my camera's frames reach the node?" before any model is involved.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import threading
import time

import numpy as np

from . import cli_args
from ..ros.dds import DDS_TRANSPORTS, use_dds_transport
from ..stats import percentile, shown

__all__ = ['register', 'PAIRINGS']

#: (publisher, subscriber) reliability
PAIRINGS = (('reliable', 'reliable'), ('reliable', 'best_effort'), ('best_effort', 'best_effort'))


def _publish(args: argparse.Namespace) -> int:
    """
    Run the publisher process: wait for the subscriber, then send the frames.

    Each frame carries its send time as stamp.
    """
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node(f'lightseg_dds_check_pub_{os.getpid()}')
    reliability = (
        ReliabilityPolicy.RELIABLE
        if args.publisher == 'reliable'
        else ReliabilityPolicy.BEST_EFFORT
    )
    pub = node.create_publisher(Image, args.topic, QoSProfile(depth=10, reliability=reliability))
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    data = (
        np.random.default_rng(0)
        .integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
        .tobytes()
    )
    for i in range(args.frames):
        msg = Image(height=args.height, width=args.width, encoding='rgb8', step=args.width * 3)
        msg.data = data
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        msg.header.frame_id = str(i)
        pub.publish(msg)
        time.sleep(1.0 / args.rate)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()
    return 0


def _measure(args: argparse.Namespace, transport: str, publisher: str, subscriber: str) -> dict:
    """
    Measure one pairing under one transport, run in a child process.

    Fast DDS reads its profile once per process.
    """
    topic = f'/lightseg_dds_check_{os.getpid()}_{transport}_{publisher}_{subscriber}'
    command = [
        *_dds_check_command(args, publisher, topic),
        '--subscriber',
        subscriber,
        '--dds-transport',
        transport,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=args.frames / args.rate + 90
    )
    if out.returncode != 0:
        raise RuntimeError(
            f'dds-check {transport} {publisher}->{subscriber} failed:\n{out.stdout}{out.stderr}'
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dds_check_command(args: argparse.Namespace, publisher: str, topic: str) -> list[str]:
    """Return the ``lightseg dds-check`` command of a child process with ``args``' frames."""
    return [
        sys.executable,
        '-m',
        'lightseg_ros.cli',
        'dds-check',
        '--publisher',
        publisher,
        '--topic',
        topic,
        '--frames',
        str(args.frames),
        '--rate',
        str(args.rate),
        '--width',
        str(args.width),
        '--height',
        str(args.height),
    ]


def _subscribe(args: argparse.Namespace) -> int:
    """
    Run the subscriber side of one pairing.

    It starts the publisher process with the same transport.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    use_dds_transport(args.dds_transport[0], os.environ)
    rclpy.init()
    node = rclpy.create_node(f'lightseg_dds_check_sub_{os.getpid()}')
    latencies: list[float] = []
    reliability = (
        ReliabilityPolicy.RELIABLE
        if args.subscriber == 'reliable'
        else ReliabilityPolicy.BEST_EFFORT
    )

    def on_image(msg: Image) -> None:
        latencies.append(
            (time.time_ns() - (msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec))
            / 1e6
        )

    node.create_subscription(
        Image, args.topic, on_image, QoSProfile(depth=10, reliability=reliability)
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    publisher = subprocess.run(
        _dds_check_command(args, args.publisher, args.topic),
        env=dict(os.environ),
        capture_output=True,
        text=True,
    )
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    ms = np.asarray(latencies)
    print(
        json.dumps(
            {
                'received': len(latencies),
                'sent': args.frames,
                'publisher_rc': publisher.returncode,
                'p50_ms': percentile(ms, 50, 2),
                'p99_ms': percentile(ms, 99, 2),  # None under 100 frames: the max is the tail
                'max_ms': round(float(ms.max()), 2) if ms.size else None,
            }
        )
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.subscriber:
        return _subscribe(args)
    if args.publisher:
        return _publish(args)
    rows = []
    for transport in args.dds_transport or list(DDS_TRANSPORTS):
        for publisher, subscriber in PAIRINGS:
            r = _measure(args, transport, publisher, subscriber)
            rows.append(
                {'dds_transport': transport, 'publisher': publisher, 'subscriber': subscriber, **r}
            )
            lat = (
                f'p50 {shown(r["p50_ms"], "")} ms, p99 {shown(r["p99_ms"], "")} ms, max '
                f'{shown(r.get("max_ms"), "")} ms'
                if r['received']
                else '-'
            )
            if r['publisher_rc']:  # frames that were never sent are no transport's loss
                lat += f'  (the publisher process failed: exit status {r["publisher_rc"]})'
            print(
                f'{transport:10s} {publisher:11s} -> {subscriber:11s}: '
                f'{r["received"]:3d}/{r["sent"]} arrived  {lat}',
                flush=True,
            )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {'image': [args.height, args.width], 'rate_hz': args.rate, 'rows': rows}, indent=2
            )
            + '\n'
        )
        print(f'written {args.json}')
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        'dds-check',
        help='do camera-sized images cross between processes here? (per DDS transport)',
    )
    p.add_argument('--frames', type=cli_args.frame_count, default=50)
    p.add_argument('--rate', type=cli_args.frame_rate, default=10.0)
    p.add_argument('--width', type=cli_args.source_side, default=640)
    p.add_argument('--height', type=cli_args.source_side, default=480)
    p.add_argument(
        '--dds-transport',
        nargs='+',
        choices=DDS_TRANSPORTS,
        default=None,
        help='transports to compare (default: all); each applies to both processes',
    )
    p.add_argument(
        '--json',
        default='',
        type=cli_args.optional_output_file,
        help='also write the table as JSON here',
    )
    # the two sides of one measurement (internal)
    p.add_argument('--publisher', choices=('reliable', 'best_effort'), help=argparse.SUPPRESS)
    p.add_argument('--subscriber', choices=('reliable', 'best_effort'), help=argparse.SUPPRESS)
    p.add_argument('--topic', default='', help=argparse.SUPPRESS)
    p.set_defaults(func=run)
