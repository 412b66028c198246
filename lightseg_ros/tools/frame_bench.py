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
Memory and latency of ``segment_node`` by camera frame size (``lightseg bench --frames``).

One node process runs the shipped weights of a model; frames of a synthetic street scene at each
size are published from this process over DDS (reliable, so that none is lost in transport), one at
a time. Measured, in this order:

1. memory: the node's resident set after start-up (``idle``: model loaded, no frame yet), its peak
   after three 640x480 frames (``warm``: a node serving a VGA camera), then its peak (``VmHWM``)
   after the frames of each size, with only ``mask`` subscribed and then with all four outputs,
   sizes in ascending order (so each peak belongs to its size and outputs); ``/proc/<pid>/status``;
2. latency, publish -> mask received, with the sizes interleaved frame by frame (a load change on a
   shared machine then hits every size alike, and their ratios stay meaningful);
3. the share of mask pixels equal to the full-resolution path (the argmax of the logits resized to
   the frame, :meth:`Segmenter.logits`), and the bare ``Segmenter.segment`` time in this process.

Frames are serialized before the clock starts and published as CDR bytes: converting a 36 MB
Python message for publishing costs the sender about 0.3 s here, which is not the node's cost.
"""

from __future__ import annotations

import os
import struct
import threading
import time

import numpy as np

from ..ros.dds import use_dds_transport
from ..ros.node_session import NodeSession, send_until_answered
from ..stats import percentile, shown

__all__ = ['measure_frames', 'check_frame_targets', 'format_frames']

OUTPUTS = ('mask', 'color_mask', 'overlay', 'confidence')
WARM = (480, 640)


def _status_mb(pid: int) -> dict[str, float]:
    """Return VmRSS and VmHWM of a process, in MB (Linux /proc)."""
    values = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            key, _, rest = line.partition(':')
            if key in ('VmRSS', 'VmHWM'):
                values[key] = int(rest.split()[0]) / 1024  # kB
    return values


def _summary_ms(seconds: list[float]) -> dict:
    """Return n, p50, p99 (None under 100 frames: lightseg_ros.stats) and max, in ms."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {  # every key present, None where a phase lost every frame
        'n': int(ms.size),
        'p50_ms': percentile(ms, 50, 1),
        'p99_ms': percentile(ms, 99, 1),
        'max_ms': round(float(ms.max()), 1) if ms.size else None,
    }


class _NodeUnderTest:
    """
    A segment_node process and a probe node in this process.

    The probe sends frames and times outputs.
    """

    def __init__(
        self, tag: str, *, model: str, backend: str, cpu_threads: int, startup_timeout_s: float
    ) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.camera, self.out_ns = f'/{tag}/camera/image_raw', f'/{tag}/camera/segmentation'
        # the transport is this process's (measure_frames sets it before rclpy.init); the node
        # inherits it
        self.session = NodeSession(
            {
                'image_topics': [self.camera],
                'model': model,
                'backend': backend,
                'cpu_threads': cpu_threads,
                'device': 'cpu',
                'input_reliability': 'reliable',
            },
            node_name=tag,
        )
        self.rclpy, self.Image = rclpy, Image
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.probe = Node(f'{tag}_probe', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.probe)
        self.arrivals: dict[tuple[str, int], float] = {}
        self.masks: dict[int, np.ndarray] = {}
        self.cond = threading.Condition()
        self.qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.publisher = self.probe.create_publisher(Image, self.camera, self.qos)
        self.subs = {}
        # subscriptions change between phases: never while the executor waits on them (rclpy
        # raises InvalidHandle in the spinning thread, which then stops receiving)
        self.spin_lock, self.spinning = threading.Lock(), True
        with self.spin_lock:
            self._subscribe(('mask',))
        threading.Thread(target=self._spin, daemon=True).start()
        self.stamp = 0
        deadline = time.monotonic() + startup_timeout_s
        while (
            self.publisher.get_subscription_count() == 0
            or self.probe.count_publishers(f'{self.out_ns}/mask') == 0
        ):
            if not self.session.alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError('segment_node did not come up:\n' + self.session.tail())
            time.sleep(0.1)

    def _spin(self) -> None:
        while self.spinning:
            with self.spin_lock:
                self.executor.spin_once(timeout_sec=0.02)

    def subscribe(self, names, template: bytearray) -> None:
        """
        Subscribe to exactly ``names`` (the node computes only outputs somebody listens to).

        Returns once a frame of ``template`` came back with every one of them (unmeasured).
        """
        with self.spin_lock:
            self._subscribe(names)

        def answered(stamp: int) -> bool:
            return all((n, stamp) in self.arrivals for n in names)

        if not send_until_answered(lambda: self.publish(template), answered, self.cond, 120.0):
            raise RuntimeError(
                f'segment_node answered no frame with {", ".join(names)} in 120 s:\n'
                + self.session.tail()
            )

    def _subscribe(self, names) -> None:
        for name in [n for n in self.subs if n not in names]:
            self.probe.destroy_subscription(self.subs.pop(name))

        from rclpy.serialization import deserialize_message

        def record(name):
            # serialized (raw): the arrival is timed before any conversion, and only the mask is
            # converted; a 36 MB overlay's conversion to a Python message (about 0.2 s) had
            # counted as the node's time, one output after another
            def callback(raw: bytes):
                arrived = time.perf_counter()
                stamp = struct.unpack_from('<i', raw, 4)[0]  # CDR LE: encapsulation, then sec
                mask = None
                if name == 'mask':
                    msg = deserialize_message(raw, self.Image)
                    mask = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width)
                with self.cond:  # the mask with its arrival: an answered frame has its mask
                    self.arrivals[(name, stamp)] = arrived
                    if mask is not None:
                        self.masks = {stamp: mask}
                    self.cond.notify_all()

            return callback

        for name in names:
            if name not in self.subs:
                self.subs[name] = self.probe.create_subscription(
                    self.Image, f'{self.out_ns}/{name}', record(name), self.qos, raw=True
                )

    def serialized(self, image: np.ndarray) -> bytearray:
        from rclpy.serialization import serialize_message

        from ..ros.image_source import to_image_msg

        return bytearray(
            serialize_message(
                to_image_msg(image, 'rgb8', self.probe.get_clock().now().to_msg(), 'camera')
            )
        )

    def publish(self, template: bytearray) -> int:
        """Publish one frame (CDR bytes, the stamp patched to a new one) and return its stamp."""
        self.stamp += 1
        # CDR LE: 4-byte encapsulation, then header.stamp.sec
        template[4:8] = struct.pack('<i', self.stamp)
        msg = bytes(template)
        self.sent_at = time.perf_counter()  # after the copy: not part of the latency
        self.publisher.publish(msg)
        return self.stamp

    def send(self, template: bytearray, names) -> float | None:
        """
        Publish one frame (CDR bytes, stamp patched) and wait for ``names``.

        Returns the seconds, None if lost.
        """
        stamp = self.publish(template)
        sent = self.sent_at
        with self.cond:
            ok = self.cond.wait_for(
                lambda: all((n, stamp) in self.arrivals for n in names), timeout=120.0
            )
            return max(self.arrivals[(n, stamp)] for n in names) - sent if ok else None

    def memory(self) -> dict[str, float]:
        return _status_mb(self.session.proc.pid)

    def close(self) -> None:
        self.spinning = False
        with self.spin_lock:
            self.executor.shutdown()
        self.probe.destroy_node()
        self.rclpy.try_shutdown(context=self.context)
        self.session.stop(timeout_s=20.0)


def measure_frames(
    sizes: list[tuple[int, int]],
    *,
    model: str = 'ghostnet_aspp_da',
    backend: str = 'auto',
    cpu_threads: int = 1,
    frames: int = 8,
    warmup: int = 2,
    startup_timeout_s: float = 180.0,
    dds_transport: str = 'large_data',
    progress=lambda text: None,
) -> dict:
    """
    Measure the node per frame size (H, W).

    The node's memory (idle, warm, peak, after) and latency, and mask agreement. ``dds_transport``
    (ros/dds.py) is set on this process, before its participant exists, and so on the node too.
    """
    use_dds_transport(dds_transport, os.environ)
    import torch

    from ..inference import Segmenter
    from ..models import shipped_weights
    from ..sources import road_scene

    sizes = sorted({tuple(s) for s in sizes}, key=lambda s: s[0] * s[1])
    torch.set_num_threads(cpu_threads)
    reference = Segmenter(shipped_weights(model), device='cpu', backend=backend)
    images = {size: road_scene(size[1], size[0], t=0.0)[0] for size in sizes}
    warm_image = road_scene(WARM[1], WARM[0], t=1.0)[0]
    rows = {
        size: {'size': list(size), 'network_size': list(reference.network_size(*size)[0])}
        for size in sizes
    }
    node = _NodeUnderTest(
        f'lightseg_frames_{os.getpid()}',
        model=model,
        backend=backend,
        cpu_threads=cpu_threads,
        startup_timeout_s=startup_timeout_s,
    )
    try:
        templates = {size: node.serialized(image) for size, image in images.items()}
        warm_template = node.serialized(warm_image)
        time.sleep(2.0)  # let start-up settle before reading the idle figure
        idle = node.memory()['VmRSS']
        node.subscribe(('mask',), warm_template)
        for _ in range(3):
            node.send(warm_template, ('mask',))
        warm = node.memory()['VmHWM']
        progress(f'node idle {idle:.0f} MB, warm (640x480) {warm:.0f} MB')
        last_masks = {}
        phases = (('mask_only', ('mask',)), ('all_outputs', OUTPUTS))
        for size in sizes:  # memory: ascending sizes, mask then all outputs: each peak is its own
            for phase, names in phases:
                node.subscribe(names, warm_template)
                lost = sum(node.send(templates[size], names) is None for _ in range(warmup + 2))
                peak = node.memory()['VmHWM']
                rows[size][phase] = {
                    'peak_rss_mb': round(peak, 1),
                    'peak_above_idle_mb': round(peak - idle, 1),
                    'peak_above_warm_mb': round(peak - warm, 1),
                    'lost': lost,
                }
                if phase == 'mask_only':
                    with node.cond:
                        last_masks[size] = node.masks.get(node.stamp)
                progress(
                    f'{size[1]}x{size[0]} {phase}: peak {peak:.0f} MB (+{peak - warm:.0f} above '
                    'warm)'
                )
        for phase, names in phases:
            node.subscribe(names, warm_template)
            times: dict = {size: [] for size in sizes}
            for _ in range(frames):  # latency: sizes interleaved frame by frame
                for size in sizes:
                    dt = node.send(templates[size], names)
                    if dt is None:
                        rows[size][phase]['lost'] += 1
                    else:
                        times[size].append(dt)
            for size in sizes:
                rows[size][phase].update(_summary_ms(times[size]))
        after = node.memory()['VmRSS']
    finally:
        node.close()
    for size in sizes:
        rows[size].update(
            idle_rss_mb=round(idle, 1),
            warm_peak_rss_mb=round(warm, 1),
            rss_after_mb=round(after, 1),
        )
        image, mask = images[size], last_masks.get(size)
        with torch.inference_mode():
            full = reference.logits(image).argmax(1)[0].to(torch.uint8).numpy()
        rows[size]['mask_agreement_with_full_resolution'] = (
            round(float((mask == full).mean()), 5)
            if mask is not None and mask.shape == full.shape
            else None
        )
        del full
        seconds = []
        for i in range(warmup + frames):
            t0 = time.perf_counter()
            reference.segment(image)
            if i >= warmup:
                seconds.append(time.perf_counter() - t0)
        rows[size]['segmenter_segment'] = _summary_ms(seconds)
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    return {
        'model': model,
        'weights': 'shipped',
        'backend': reference.backend.description,
        'cpu_threads': cpu_threads,
        'cpu_count': os.cpu_count(),
        'dds_transport': dds_transport,
        'load_average_1_5_15': [round(v, 2) for v in load] if load else None,
        'max_inference_pixels': reference.max_inference_pixels,
        'frames': frames,
        'rows': [rows[size] for size in sizes],
    }


def check_frame_targets(result: dict) -> dict:
    """
    Check the large-frame goals for the largest frame against 640x480.

    Empty where a size was not measured.
    """
    rows = {tuple(r['size']): r for r in result['rows']}
    small, large = rows.get((480, 640)), rows.get((3000, 4000))
    if not (small and large):
        return {}
    # a size whose frames were all lost has no p50: that target is not met (it was a KeyError
    # that lost the whole run's figures)
    p50s = large['mask_only'].get('p50_ms'), small['mask_only'].get('p50_ms')
    ratio = p50s[0] / p50s[1] if None not in p50s and p50s[1] else None
    memory = large['mask_only']['peak_above_warm_mb']
    agree = large['mask_agreement_with_full_resolution']
    return {
        'latency_4000x3000_vs_640x480': {
            'value': round(ratio, 2) if ratio is not None else None,
            'limit': 3.0,
            'met': ratio is not None and ratio <= 3.0,
        },
        'memory_above_warm_mb_4000x3000': {
            'value': memory,
            'limit': 300,
            'met': memory <= 300,
            'above_idle_mb': large['mask_only']['peak_above_idle_mb'],
        },
        'mask_agreement_4000x3000': {
            'value': agree,
            'limit': 0.99,
            'met': agree is not None and agree >= 0.99,
        },
    }


def format_frames(result: dict) -> str:
    lines = [
        f'{result["model"]} (shipped weights), {result["backend"]}, {result["cpu_threads"]} '
        f'thread(s), max_inference_pixels {result["max_inference_pixels"]}; load average '
        f'{result["load_average_1_5_15"]}',
        f'{"frame":>10s} {"network":>9s} {"idle MB":>8s} {"warm MB":>8s} {"mask +idle":>10s} '
        f'{"+warm":>6s} {"all +idle":>9s} {"+warm":>6s} {"after MB":>8s} {"mask p50":>9s} '
        f'{"max":>7s} {"all p50":>8s} {"bare p50":>8s} {"agree":>7s}',
    ]
    for r in result['rows']:
        h, w = r['size']
        m, a = r['mask_only'], r['all_outputs']
        agree = r['mask_agreement_with_full_resolution']
        bare = r.get('segmenter_segment', {}).get('p50_ms', float('nan'))
        lines.append(
            f'{w:>5d}x{h:<4d} {r["network_size"][1]:>4d}x{r["network_size"][0]:<4d} '
            f'{r["idle_rss_mb"]:8.0f} {r["warm_peak_rss_mb"]:8.0f} '
            f'{m["peak_above_idle_mb"]:10.0f} {m["peak_above_warm_mb"]:6.0f} '
            f'{a["peak_above_idle_mb"]:9.0f} {a["peak_above_warm_mb"]:6.0f} '
            f'{r["rss_after_mb"]:8.0f} {shown(m.get("p50_ms")):>9s} '
            f'{shown(m.get("max_ms")):>7s} {shown(a.get("p50_ms")):>8s} '
            f'{bare:8.1f} {agree if agree is not None else "-":>7}'
        )
    for name, t in result.get('targets', {}).items():
        lines.append(
            f'target {name}: {t["value"]} (limit {t["limit"]}) -> '
            f'{"met" if t["met"] else "NOT met"}'
        )
    lines.append(
        'MB: resident memory of the node process: idle = after start-up; warm = peak after three '
        "640x480 frames; +idle/+warm = peak (VmHWM) after the size's frames above those (sizes "
        'ascending); after = resident at the end; ms: publish -> received, one frame in flight, '
        'sizes interleaved; bare = Segmenter.segment in the measuring process; agree = mask '
        'pixels equal to the full-resolution path'
    )
    return '\n'.join(lines)
