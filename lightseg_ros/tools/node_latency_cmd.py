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
``lightseg node-latency``: the node's end-to-end latency next to the bare segmenter's time.

Starts ``segment_node`` as its own process, publishes one rgb8 frame at a time from this process
(the next only after the previous frame's outputs arrived, so no frame waits or is dropped) and
times publish -> mask received, over real DDS. Then times ``Segmenter.segment`` on the same image
in this process. Two node phases: only ``mask`` subscribed (lazy outputs skip the rest), and all
four outputs subscribed (publish -> last of mask/color_mask/overlay/confidence received).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from . import cli_args
from ..models.shipped import DEFAULT_MODEL
from ..ros.dds import DDS_TRANSPORTS, use_dds_transport
from ..ros.node_session import NodeSession, NodeStartError, send_until_answered
from ..ros.topics import OUTPUTS
from ..stats import percentile

__all__ = ['measure_node_latency', 'register']


def _summary(seconds: list[float]) -> dict:
    """Return n, p50, p99 (None under 100 frames: lightseg_ros.stats), mean and max, in ms."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    if not ms.size:  # every frame of the phase lost: no percentile to take
        return {'n': 0, 'p50_ms': None, 'p99_ms': None, 'mean_ms': None, 'max_ms': None}
    return {
        'n': int(ms.size),
        'p50_ms': percentile(ms, 50, 1),
        'p99_ms': percentile(ms, 99, 1),
        'mean_ms': round(float(ms.mean()), 1),
        'max_ms': round(float(ms.max()), 1),
    }


def _time_node(
    image: np.ndarray,
    *,
    model: str,
    device: str,
    frames: int,
    warmup: int,
    cpu_threads: int,
    backend: str = 'auto',
    feed_hz: float = 60.0,
    feed_frames: int = 120,
    startup_timeout_s: float = 120.0,
    torch_compile: bool = False,
    warm_up: bool = False,
) -> dict:
    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from ..ros.image_source import to_image_msg

    tag = f'lightseg_latency_{os.getpid()}'
    camera = f'/{tag}/camera/image_raw'
    out_ns = f'/{tag}/camera/segmentation'
    parameters = {
        'image_topics': [camera],
        'model': model,
        'device': device,
        'cpu_threads': cpu_threads,
        'backend': backend,
        'torch_compile': torch_compile,
        'diagnostics_period': 0.5,
        'warmup_image_size': list(image.shape[:2]) if warm_up else [0, 0],
    }
    # inherits this process's DDS settings (see run())
    node = NodeSession(parameters, node_name=tag)
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = Node(f'{tag}_probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    arrivals: dict[tuple[str, int], float] = {}
    lock = threading.Condition()

    def record(name):
        def callback(msg):
            with lock:
                arrivals[(name, msg.header.stamp.sec)] = time.perf_counter()
                lock.notify_all()

        return callback

    node_stats: dict[str, str] = {}

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.name == f'{tag}: segmentation':
                node_stats.update({kv.key: kv.value for kv in status.values})

    probe.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    publisher = probe.create_publisher(Image, camera, reliable)
    subscriptions = {
        'mask': probe.create_subscription(Image, f'{out_ns}/mask', record('mask'), reliable)
    }
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    results = {}
    try:
        if not node.wait_until(
            lambda: (
                publisher.get_subscription_count() > 0
                and probe.count_publishers(f'{out_ns}/mask') > 0
            ),
            startup_timeout_s,
        ):
            raise NodeStartError(
                f'segment_node did not come up within {startup_timeout_s:.0f} s:\n{node.tail()}'
            )
        stamp = 0

        def frame() -> int:
            nonlocal stamp
            stamp += 1
            msg = to_image_msg(image, 'rgb8', probe.get_clock().now().to_msg(), 'camera')
            msg.header.stamp.sec = stamp
            publisher.publish(msg)
            return stamp

        for phase, names in (('mask_only', ('mask',)), ('all_outputs', OUTPUTS)):
            for name in names:
                if name not in subscriptions:
                    subscriptions[name] = probe.create_subscription(
                        Image, f'{out_ns}/{name}', record(name), reliable
                    )
            # unmeasured: a frame answered with every output (new subscriptions matched)
            if not send_until_answered(
                frame,
                lambda s, names=names: all((n, s) in arrivals for n in names),
                lock,
                startup_timeout_s,
            ):
                raise NodeStartError(
                    f'segment_node answered no frame with {", ".join(names)} within '
                    f'{startup_timeout_s:.0f} s:\n{node.tail()}'
                )
            latencies, lost = [], 0
            for i in range(warmup + frames):
                stamp += 1
                msg = to_image_msg(image, 'rgb8', probe.get_clock().now().to_msg(), 'camera')
                msg.header.stamp.sec = stamp
                sent = time.perf_counter()
                publisher.publish(msg)
                with lock:  # a backend may still capture or compile on a frame after the first
                    ok = lock.wait_for(
                        lambda: all((n, stamp) in arrivals for n in names),
                        timeout=10.0 if i else startup_timeout_s,
                    )
                if not ok:
                    lost += 1
                elif i >= warmup:
                    latencies.append(max(arrivals[(n, stamp)] for n in names) - sent)
            results[phase] = {**_summary(latencies), 'lost': lost, 'outputs': list(names)}
            if phase == 'mask_only':
                # the node's own arrival -> published time for the same frames, so that what DDS
                # adds (frame in, mask out) is a difference of two medians of the same run, not of
                # two runs
                node_stats.clear()
                deadline = time.monotonic() + 5.0
                while 'latency_p50_ms' not in node_stats and time.monotonic() < deadline:
                    time.sleep(0.1)
                inside = float(node_stats.get('latency_p50_ms', 'nan'))
                results[phase]['node_internal_p50_ms'] = round(inside, 1)
                # the node's window: its last frames, these and the warm-up ones
                results[phase]['node_internal_p99_ms'] = round(
                    float(node_stats.get('latency_p99_ms', 'nan')), 1
                )
                p50 = results[phase]['p50_ms']
                results[phase]['dds_p50_ms'] = None if p50 is None else round(p50 - inside, 1)
                # where those frames' time went inside the node (wait, read, segment, publish)
                results[phase]['node_stages_p50_p99_ms'] = node_stats.get('stages_p50_p99_ms', '')
                # the frame that built the CUDA graph (and compiled): outside the window above
                results[phase]['node_first_frame_ms'] = round(
                    float(node_stats.get('first_frame_ms', 'nan')), 1
                )
        # fed at a camera rate without waiting: the node must keep only the newest frame (no
        # queue), so latency stays near one inference and the frames it skips are counted as
        # dropped
        for name in OUTPUTS[1:]:
            probe.destroy_subscription(subscriptions.pop(name))
        time.sleep(1.0)
        sent: dict[int, float] = {}
        period = 1.0 / feed_hz
        start = time.perf_counter()
        for i in range(feed_frames):
            stamp += 1
            msg = to_image_msg(image, 'rgb8', probe.get_clock().now().to_msg(), 'camera')
            msg.header.stamp.sec = stamp
            delay = start + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[stamp] = time.perf_counter()
            publisher.publish(msg)
        with lock:
            lock.wait_for(lambda: ('mask', stamp) in arrivals, timeout=10.0)
        time.sleep(0.5)
        with lock:
            answered = [
                arrivals[('mask', s)] - t for s, t in sent.items() if ('mask', s) in arrivals
            ]
        results[f'fed_{feed_hz:g}hz'] = {
            **_summary(answered),
            'sent': len(sent),
            'dropped': len(sent) - len(answered),
            'outputs': ['mask'],
            'last_frame_answered': ('mask', stamp) in arrivals,
        }
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)
        node.stop()
    return results


def measure_node_latency(
    *,
    model: str = DEFAULT_MODEL,
    device: str = 'auto',
    width: int = 640,
    height: int = 480,
    frames: int = 30,
    warmup: int = 3,
    cpu_threads: int = 0,
    backend: str = 'auto',
    feed_hz: float = 60.0,
    feed_frames: int = 120,
    startup_timeout_s: float = 120.0,
    torch_compile: bool = False,
    warm_up: bool = False,
) -> dict:
    """
    Measure the node's end-to-end latency (two phases) and bare ``Segmenter.segment`` time.

    Both on one synthetic frame.
    """
    import torch

    from ..inference import build_segmenter
    from ..ros.node_config import cpu_threads_for
    from ..sources import road_scene

    image = road_scene(width, height, t=0.0)[0]
    node = _time_node(
        image,
        model=model,
        device=device,
        frames=frames,
        warmup=warmup,
        cpu_threads=cpu_threads,
        backend=backend,
        feed_hz=feed_hz,
        feed_frames=feed_frames,
        startup_timeout_s=startup_timeout_s,
        torch_compile=torch_compile,
        warm_up=warm_up,
    )
    torch.set_num_threads(cpu_threads_for(cpu_threads))  # as the node does
    # the weights the node loads for 'model' (its 'weights' parameter left empty): their
    # max_inference_pixels sets the size the network runs at, so both sides do the same work
    segmenter = build_segmenter(
        '', model, device=device, backend=backend, torch_compile=torch_compile
    )
    times = []
    for i in range(warmup + frames):
        start = time.perf_counter()
        segmenter.segment(image)
        if segmenter.device.type == 'cuda':
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return {
        'model': model,
        'backend': segmenter.backend.description,
        'device': str(segmenter.device),
        'weights': segmenter.weights_path or 'random',  # the node's too: it loads the same
        'image': [height, width],
        'node_warmed_up': warm_up,
        'torch_threads': torch.get_num_threads(),
        'cpu_count': os.cpu_count(),
        'segmenter_segment': _summary(times),
        'node_publish_to_received': node,
        'dds': {
            name: os.environ[name]
            for name in sorted(os.environ)
            if name.startswith(('FASTDDS', 'FASTRTPS'))
        },
        'note': (
            'node: separate process, rgb8 Image over DDS (reliable, depth 5 publisher), one frame '
            'in flight'
        ),
    }


def _ms(value: float | None) -> str:
    """Format a figure in ms for the table: ``-`` where a phase lost every frame."""
    return '      -' if value is None else f'{value:7.1f}'


def _print(result: dict, width: int, height: int) -> None:
    seg = result['segmenter_segment']
    print(
        f'{result["model"]} {width}x{height} on {result["device"]}, {result["backend"]} '
        f'({result["torch_threads"]} threads), DDS transport {result["dds_transport"]}'
    )
    print(
        f'  Segmenter.segment (bare)             p50 {_ms(seg["p50_ms"])} ms  p99 '
        f'{_ms(seg["p99_ms"])} ms  max {_ms(seg["max_ms"])} ms  (n={seg["n"]}; a p99 needs 100)'
    )
    for phase, r in result['node_publish_to_received'].items():
        lost = f'lost {r["lost"]}' if 'lost' in r else f'dropped {r["dropped"]} of {r["sent"]}'
        print(
            f'  node publish -> received ({phase:11s}) p50 {_ms(r["p50_ms"])} ms  p99 '
            f'{_ms(r["p99_ms"])} ms  max {_ms(r["max_ms"])} ms  (n={r["n"]}, {lost})'
        )
    mask = result['node_publish_to_received']['mask_only']
    print(
        f'  inside the node (arrival -> published) p50 {mask["node_internal_p50_ms"]:.1f} ms, p99 '
        f'{mask["node_internal_p99_ms"]:.1f} ms; the rest, DDS (frame in, mask out; a difference '
        f'of medians): {_ms(mask["dds_p50_ms"]).strip()} ms; the first frame (not in those) '
        f'{mask["node_first_frame_ms"]:.1f} ms'
    )
    print(f'  inside the node by stage, p50/p99 ms: {mask["node_stages_p50_p99_ms"]}')


def _one(args: argparse.Namespace, transport: str | None) -> dict:
    # before this process's participant exists; the node inherits it
    use_dds_transport(transport, os.environ)
    result = measure_node_latency(
        model=args.model,
        device=args.device,
        width=args.width,
        height=args.height,
        frames=args.frames,
        warmup=args.warmup,
        cpu_threads=args.cpu_threads,
        backend=args.backend,
        feed_hz=args.feed_hz,
        feed_frames=args.feed_frames,
        startup_timeout_s=args.startup_timeout,
        torch_compile=args.torch_compile,
        warm_up=args.warm_up,
    )
    result['dds_transport'] = transport or 'as the environment sets it'
    return result


def run(args: argparse.Namespace) -> int:
    from ..models import get_model_spec

    get_model_spec(args.model)  # a typo: one line now, not after the node's start-up
    transports = args.dds_transport or [None]
    if len(transports) == 1:
        results = [_one(args, transports[0])]
    else:  # each transport in its own process: Fast DDS reads its profile once per process
        results = []
        same = [
            '--model',
            args.model,
            '--device',
            args.device,
            '--width',
            str(args.width),
            '--height',
            str(args.height),
            '--frames',
            str(args.frames),
            '--warmup',
            str(args.warmup),
            '--backend',
            args.backend,
            '--feed-hz',
            str(args.feed_hz),
            '--feed-frames',
            str(args.feed_frames),
            '--startup-timeout',
            str(args.startup_timeout),
            '--cpu-threads',
            str(args.cpu_threads),
            *(['--torch-compile'] if args.torch_compile else []),
            *(['--warm-up'] if args.warm_up else []),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for transport in transports:
                out = Path(tmp) / f'{transport}.json'
                child = subprocess.run(
                    [
                        sys.executable,
                        '-m',
                        'lightseg_ros.cli',
                        'node-latency',
                        *same,
                        '--dds-transport',
                        transport,
                        '--json',
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                )
                if child.returncode:  # its own error line is on stderr already
                    print(
                        f'lightseg node-latency: the {transport} run failed (exit status '
                        f'{child.returncode}); nothing written',
                        file=sys.stderr,
                    )
                    return child.returncode
                results.append(json.loads(out.read_text()))
    for result in results:
        _print(result, args.width, args.height)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(results[0] if len(results) == 1 else results, indent=2) + '\n'
        )
        print(f'written {args.json}')
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        'node-latency', help='segment_node end-to-end latency vs bare Segmenter.segment'
    )
    p.add_argument('--model', default=DEFAULT_MODEL)
    p.add_argument('--device', default='auto')
    p.add_argument('--width', type=cli_args.source_side, default=640)
    p.add_argument('--height', type=cli_args.source_side, default=480)
    p.add_argument('--frames', type=cli_args.frame_count, default=30)
    p.add_argument('--warmup', type=cli_args.non_negative_int, default=3)
    p.add_argument('--backend', default='auto', help='auto, torch or onnxruntime (node and bare)')
    p.add_argument(
        '--torch-compile',
        action='store_true',
        help="torch backend: torch.compile the network (the node's torch_compile parameter)",
    )
    p.add_argument(
        '--warm-up',
        action='store_true',
        help="the node warms up for the frame's size when it loads the model (its "
        'warmup_image_size parameter): compare the first frame with and without',
    )
    p.add_argument(
        '--feed-hz',
        type=cli_args.frame_rate,
        default=60.0,
        help='rate of the fed phase (frames published without waiting)',
    )
    p.add_argument('--feed-frames', type=cli_args.frame_count, default=120)
    p.add_argument(
        '--startup-timeout',
        type=cli_args.positive_float,
        default=120.0,
        help="seconds to wait for the node's topics",
    )
    p.add_argument(
        '--cpu-threads',
        type=cli_args.cpu_threads,
        default=0,
        help="torch CPU threads (node and bare); 0 = the node's default, half the cores",
    )
    p.add_argument(
        '--dds-transport',
        nargs='+',
        choices=DDS_TRANSPORTS,
        default=None,
        help='DDS transport of the node and of this process (default: as the environment sets '
        'it); several: each measured in turn, in its own process',
    )
    p.add_argument(
        '--json',
        default='',
        type=cli_args.optional_output_file,
        help='also write the result as JSON here',
    )
    p.set_defaults(func=run)
