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
``lightseg demo``: the main job on a fresh machine, over real DDS.

Runs the segmentation node as its own process and, in this one, the image source (built-in
synthetic street scene by default; ``--source`` takes a folder of photos, a video or a rosbag2) and
a recorder, talking over DDS on topics under a per-run namespace; the recorder writes every overlay
it receives as PNG and a latency summary (publish -> overlay received) as JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
from pathlib import Path
import secrets
import sys
import time

import numpy as np

from . import cli_args
from ..models.shipped import DEFAULT_MODEL, RANDOM
from ..stats import percentile

__all__ = ['run_demo', 'register']


# the node's diagnostics counters that tell when every published frame is accounted for
# (a failed frame is also counted bad)
_NODE_COUNTS = (
    'frames_in',
    'frames_out',
    'dropped_frames',
    'bad_frames',
    'skipped_no_subscribers',
)


def run_demo(
    out_dir: Path,
    *,
    frames: int,
    rate: float,
    width: int,
    height: int,
    model: str,
    weights: str,
    device: str,
    source: str,
    cpu_threads: int = 0,
    timeout: float | None = None,
    startup_timeout: float = 60.0,
) -> dict:
    """
    Run source + node + recorder until ``frames`` frames are published and answered.

    Returns the summary.

    ``segment_node`` runs as its own process, as on a robot; the image source and the recorder are
    nodes of this process. Nothing here sets a DDS variable: both sides use the environment's.
    """
    import cv2
    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from ..inference import decode_image
    from ..ros.image_source import ImageSource
    from ..ros.node_session import NodeSession, start_with_retries
    from ..sources.frames import source_kind, SYNTHETIC

    if timeout is None:  # the frames' own time at the rate, and as long again to answer them
        timeout = 90.0 + 2 * frames / rate
    out_dir.mkdir(parents=True, exist_ok=True)
    # a previous run's outputs, its summary among them: never left beside this run's
    for old in [*out_dir.glob('overlay_*.png'), out_dir / 'latency.json']:
        old.unlink(missing_ok=True)
    # the process id alone repeats across containers (each starts its own count), and two demos
    # on one network and domain would then segment and count each other's frames
    tag = f'{os.getpid()}_{secrets.token_hex(3)}'
    ns = f'/lightseg_demo_{tag}'
    camera_topic = f'{ns}/camera/image_raw'
    overlay_topic, mask_topic = (
        f'{ns}/camera/segmentation/overlay',
        f'{ns}/camera/segmentation/mask',
    )
    node_name = f'lightseg_demo_segment_node_{tag}'
    parameters = {
        'image_topics': [camera_topic],
        'model': model,
        'weights': weights,
        'device': device,
        'outputs': ['mask', 'overlay'],
        'cpu_threads': cpu_threads,
        'diagnostics_period': 0.5,
    }
    if source_kind(source) == SYNTHETIC:  # its frames' size is known: warm up for it
        parameters['warmup_image_size'] = [height, width]
    latencies: list[float] = []
    received: list[int] = []
    sizes: collections.Counter = collections.Counter()  # (height, width) of the overlays received
    node_stats: dict[str, str] = {}

    def on_overlay(msg: Image) -> None:
        now = time.time()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        latencies.append(now - stamp)
        index = len(received)
        received.append(index)
        sizes[(msg.height, msg.width)] += 1
        rgb = decode_image(msg)
        cv2.imwrite(
            str(out_dir / f'overlay_{index:04d}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        )

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(f'{node_name}:'):
                node_stats.update({kv.key: kv.value for kv in status.values})

    class Side:
        """This process's half of one attempt: a context with the recorder, spinning."""

        def __init__(self) -> None:
            self.node = NodeSession(parameters, node_name=node_name)
            self.context = rclpy.Context()
            rclpy.init(context=self.context)
            self.recorder = Node('lightseg_demo_recorder', context=self.context)
            qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
            self.recorder.create_subscription(Image, overlay_topic, on_overlay, qos)
            self.recorder.create_subscription(Image, mask_topic, lambda m: None, qos)
            self.recorder.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
            # Single-threaded: spin_once runs each callback here, so none is in flight when the
            # executor shuts down. With a thread pool, rclpy's shutdown() destroyed its guard
            # condition under a callback still running in a pool thread (Kilted's shutdown does
            # not wait for them), and 2 of 16 demos ended with "The following exception was never
            # retrieved: cannot use Destroyable because destruction was requested".
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.recorder)

        def ready(self) -> bool:
            def up() -> bool:
                self.executor.spin_once(timeout_sec=0.05)
                return (
                    self.recorder.count_subscribers(camera_topic) > 0
                    and self.recorder.count_publishers(overlay_topic) > 0
                    and bool(node_stats)
                )

            return self.node.wait_until(up, startup_timeout, 'its topics')

        def close(self) -> None:
            self.executor.shutdown()
            self.recorder.destroy_node()
            rclpy.try_shutdown(context=self.context)
            self.node.stop()

    side = start_with_retries(lambda attempt: Side(), Side.ready, Side.close)
    try:
        src = ImageSource(
            'lightseg_demo_image_source',
            context=side.context,
            parameter_overrides=[
                Parameter('source', value=source),
                Parameter('topic', value=camera_topic),
                Parameter('rate_hz', value=float(rate)),
                Parameter('width', value=width),
                Parameter('height', value=height),
                Parameter('count', value=frames),
                Parameter('loop', value=True),
                # a bag's recorded stamps would make the latency below the bag's age
                Parameter('restamp', value=True),
            ],
        )
        side.executor.add_node(src)
        started = time.monotonic()
        quiet_since, seen = None, None
        timed_out = True
        while time.monotonic() - started < timeout:
            side.executor.spin_once(timeout_sec=0.05)
            if not side.node.alive():  # it ended mid-run (out of memory, a crash): say so
                timed_out = False
                break
            if src.done:
                # After the last frame, stop once every frame is answered or counted as dropped
                # by the node, or once the node is idle (all it took in is accounted for) and
                # nothing changed for 3 s: frames lost on the way. Not a fixed wait: on a GPU the
                # first frame alone took 4.6 s (cuDNN's autotuning and the CUDA graph's capture),
                # and a fixed 3 s ended the demo with no overlay at all.
                counts = {k: int(node_stats.get(k, '0')) for k in _NODE_COUNTS}
                now_seen = (len(received), *counts.values())
                if now_seen != seen:
                    quiet_since, seen = time.monotonic(), now_seen
                dropped = counts['dropped_frames']
                if len(received) + dropped >= src.published:
                    timed_out = False
                    break
                answered = counts['frames_out'] + dropped + counts['bad_frames']
                idle = answered + counts['skipped_no_subscribers'] >= counts['frames_in']
                if idle and time.monotonic() - quiet_since > 3.0:
                    timed_out = False
                    break
        for _ in range(20):  # the node's diagnostics after the last frame
            side.executor.spin_once(timeout_sec=0.05)
        published = src.published
        side.executor.shutdown()
        src.destroy_node()
    finally:
        node_ended = None if side.node.alive() else side.node.proc.returncode
        side.close()
    values = np.asarray(latencies) * 1e3
    summary = {
        'frames_published': published,
        'overlays_received': len(received),
        'frames_dropped_by_node': int(node_stats.get('dropped_frames', '0')),
        'latency_ms': {
            'what': 'image_source publish (header stamp) -> overlay received by the recorder',
            'p50': percentile(values, 50, 1),
            'p99': percentile(values, 99, 1),  # None under 100 frames (lightseg_ros.stats)
            'mean': round(float(values.mean()), 1) if values.size else None,
            'max': round(float(values.max()), 1) if values.size else None,
        },
        # what was segmented: files keep their own size (the most common one of a folder)
        'image_size': list(sizes.most_common(1)[0][0]) if sizes else None,
        'source': source,
        'rate_hz': rate,
        'model': node_stats.get('model', model),
        'weights': node_stats.get('weights', weights),
        'random_weights': node_stats.get('weights') == RANDOM,
        'device': node_stats.get('device', device),
        'topics': {'input': camera_topic, 'overlay': overlay_topic},
        'bad_frames': int(node_stats.get('bad_frames', '0')),
        'node_process': {'pid': side.node.proc.pid, 'exit_code': side.node.proc.returncode},
        # the node process ended during the run (its exit code), else null
        'node_ended_mid_run': node_ended,
        'timed_out': timed_out,
        'timeout_s': round(timeout, 1),
    }
    if node_ended is not None:
        errors = [line.strip() for line in side.node.lines if 'ERROR' in line or 'Error' in line]
        summary['node_last_error'] = errors[-1] if errors else side.node.tail(300).strip()
    partial = out_dir / f'.latency.json.{os.getpid()}.tmp'
    partial.write_text(json.dumps(summary, indent=2) + '\n')
    partial.replace(out_dir / 'latency.json')  # whole or absent, never half a summary
    return summary


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    from ..sources import FrameSourceError
    from ..sources.frames import first_frame, SYNTHETIC

    size = f' {args.width}x{args.height}' if args.source == SYNTHETIC else ''  # files: their own
    print(
        f'lightseg demo: {args.source} frames{size} at {args.rate} Hz -> '
        f'segment_node ({args.model if not args.weights else args.weights}, device {args.device}) '
        'over DDS ...',
        flush=True,
    )
    try:
        # a source with no usable frame (a path that does not exist, a folder without images, a
        # video that cannot be opened): one line, before the node's model loads
        first_frame(args.source)
        summary = run_demo(
            out,
            frames=args.frames,
            rate=args.rate,
            width=args.width,
            height=args.height,
            model=args.model,
            weights=args.weights,
            device=args.device,
            source=args.source,
            cpu_threads=args.cpu_threads,
        )
    except FrameSourceError as exc:
        print(f'lightseg demo: error: {exc}', file=sys.stderr)
        return 2
    if summary['node_ended_mid_run'] is not None:
        print(
            f'lightseg demo: error: the node exited with code {summary["node_ended_mid_run"]} '
            f'after {summary["overlays_received"]} overlays: {summary["node_last_error"]}',
            file=sys.stderr,
        )
        return 1
    if summary['timed_out']:
        print(
            f'lightseg demo: error: stopped after {summary["timeout_s"]} s with '
            f'{summary["overlays_received"]} of {summary["frames_published"]} frames answered '
            f'(the node reports {summary["frames_dropped_by_node"]} dropped, '
            f'{summary["bad_frames"]} bad)',
            file=sys.stderr,
        )
        return 1
    lat = summary['latency_ms']
    print(
        f'published {summary["frames_published"]} frames, received {summary["overlays_received"]} '
        f'overlays ({summary["frames_dropped_by_node"]} frames dropped by the node: newest frame '
        f'wins) on {summary["device"]}'
    )
    p99 = f'p99 {lat["p99"]} ms' if lat['p99'] is not None else 'p99 needs 100 frames'
    print(f'latency publish -> overlay: p50 {lat["p50"]} ms, max {lat["max"]} ms ({p99})')
    print(f'overlays (PNG): {out.resolve()}/overlay_*.png')
    print(f'latency summary (JSON): {(out / "latency.json").resolve()}')
    if summary['random_weights']:
        from ..models import no_shipped_weights_note
        from ..models.shipped import RANDOM

        asked = args.weights.strip() == RANDOM  # read as the node reads its 'weights' parameter
        print(
            'NOTE: '
            + ('RANDOM weights, as asked' if asked else no_shipped_weights_note(args.model))
        )
    else:
        print(f'weights: {summary["weights"]}')
    return 0 if summary['overlays_received'] > 0 else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        'demo', help='run the image source and the segmentation node together; write overlays'
    )
    p.add_argument(
        '--out',
        default='outputs/demo',
        type=cli_args.output_folder,
        help='folder for overlay PNGs and latency.json',
    )
    p.add_argument(
        '--frames', type=cli_args.frame_count, default=30, help='frames to publish'
    )
    p.add_argument('--rate', type=cli_args.frame_rate, default=5.0, help='frames per second')
    p.add_argument(
        '--width',
        type=cli_args.source_side,
        default=640,
        help="the synthetic scene's width; files keep their own size",
    )
    p.add_argument(
        '--height',
        type=cli_args.source_side,
        default=480,
        help="the synthetic scene's height; files keep their own size",
    )
    p.add_argument(
        '--model',
        default=DEFAULT_MODEL,
        help='model name; runs with the weights the package ships for it unless --weights',
    )
    p.add_argument(
        '--weights', default='', help="a lightseg .safetensors weights file, or 'random'"
    )
    p.add_argument('--device', default='auto', help='auto, cpu, cuda')
    p.add_argument(
        '--cpu-threads',
        type=cli_args.cpu_threads,
        default=0,
        help='torch CPU threads for the node; 0 = half the cores',
    )
    p.add_argument(
        '--source', default='synthetic', help='synthetic, an image folder, a video or a rosbag2'
    )
    p.set_defaults(func=run)
