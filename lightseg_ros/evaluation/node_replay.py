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
Node-mode bag evaluation: replay a bag's image messages, unchanged, into a live segment_node.

The node runs as its own process (as on a robot); this process publishes the recorded CDR bytes
over DDS at the recorded rate (scaled) or as fast as possible, subscribes to the node's outputs,
pairs them with the published frames by header stamp, and measures publish -> mask received.
"""

from __future__ import annotations

from pathlib import Path
import threading
import time

import numpy as np

from .bag_eval import labels_by_stamp, score_frame
from .report import BagEvalReport
from ..models.shipped import RANDOM
from ..ros.node_session import NodeSession, NodeStartError, start_with_retries
from ..ros.topics import OUTPUTS
from ..sources.bags import (
    AtomicBagWriter,
    BagError,
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    open_bag,
    read_topic,
    typestore,
)

__all__ = ['evaluate_node', 'node_output_topic']

WARMUP_STAMP_NS = 1  # stamp of the warm-up frames, never a real recording's
RECORDED = tuple(o for o in OUTPUTS if o != 'confidence')  # the image outputs --record keeps


def node_output_topic(image_topic: str, output: str) -> str:
    """Return the node's output topic for a camera topic (see segment_node's topic naming)."""
    from ..ros.topics import output_namespaces, output_topic

    return output_topic(output_namespaces([image_topic])[0], output)


class _Collector:
    """Receives the node's outputs as raw CDR bytes, keyed by (output, header stamp)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: dict[str, dict[int, tuple[float, bytes]]] = {o: {} for o in RECORDED}
        self.last_arrival = time.monotonic()
        self.store = typestore()

    def callback(self, output: str):
        def on_message(raw: bytes) -> None:
            now = time.monotonic()
            msg = self.store.deserialize_cdr(raw, IMAGE_TYPE)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            with self.lock:
                self.received[output][stamp] = (now, bytes(raw))
                self.last_arrival = now

        return on_message


class _ReplaySession:
    """
    A segment_node process, and this process's participant that feeds it.

    The participant publishes to the node and collects its outputs.
    """

    def __init__(
        self, image_topic: str, msg_class, outputs, collector: _Collector, parameters: dict
    ) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.node_session = NodeSession(parameters)
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('lightseg_bag_replay', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        # reliable, as REP-2003 asks of camera drivers: camera-sized frames arrive whole with stock
        # DDS settings
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.node.create_publisher(msg_class, image_topic, reliable)
        for output in outputs:
            self.node.create_subscription(
                Image,
                node_output_topic(image_topic, output),
                collector.callback(output),
                reliable,
                raw=True,
            )
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def warm_up(self, warm, collector: _Collector, timeout_s: float) -> bool:
        """
        Publish the warm-up frame until the node answers it.

        Return True when it answered, False when ``timeout_s`` passed.
        """
        deadline = time.monotonic() + timeout_s
        last_sent = 0.0

        def answered() -> bool:
            nonlocal last_sent
            if WARMUP_STAMP_NS in collector.received['mask']:
                return True
            if time.monotonic() - last_sent > 0.5:
                self.pub.publish(warm)
                last_sent = time.monotonic()
            return False

        try:
            ok = self.node_session.wait_until(
                answered, max(0.0, deadline - time.monotonic()), "a warm-up frame's mask"
            )
        except NodeStartError as exc:
            raise BagError(f'segment_node {exc}') from None
        if not ok:
            return False
        time.sleep(0.5)
        with collector.lock:
            for store in collector.received.values():
                store.clear()
        return True

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.node_session.stop()


def evaluate_node(
    bag: str | Path,
    image_topic: str,
    label_topic: str | None,
    *,
    model: str | None = None,
    weights: str | None = None,
    device: str = 'auto',
    rate: float | None = 1.0,
    label_palette: np.ndarray | None = None,
    record: str | Path | None = None,
    record_storage: str = 'mcap',
    progress=None,
    startup_timeout_s: float = 60.0,
    startup_attempts: int = 3,
    settle_s: float = 2.0,
    answer_timeout_s: float = 20.0,
) -> BagEvalReport:
    """
    Replay ``image_topic`` into a fresh segment_node process and score its masks.

    ``rate``: factor of the recorded rate (1.0 = real time), or None for as fast as possible.
    """
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CompressedImage, Image

    from ..inference.image_codec import image_view
    from ..models.weights import read_weights_meta

    labels = labels_by_stamp(bag, label_topic) if label_topic else {}
    with open_bag(bag) as reader:
        frames = list(read_topic(reader, image_topic))
    if not frames:
        raise BagError(f'topic {image_topic!r} holds no messages')
    if weights:
        meta = read_weights_meta(weights)  # fail here, clearly, before starting a process
        model = model or meta.model
    else:
        from ..inference.segmenter import Segmenter

        meta = Segmenter(model=model, device='cpu').meta
    report = BagEvalReport.for_model('node', bag, image_topic, label_topic, meta)

    compressed = frames[0].msgtype == COMPRESSED_TYPE
    msg_class = CompressedImage if compressed else Image
    collector = _Collector()
    warm = deserialize_message(frames[0].raw, msg_class)
    warm.header.stamp.sec, warm.header.stamp.nanosec = 0, WARMUP_STAMP_NS
    wanted = RECORDED if record else ('mask',)
    parameters = {
        'image_topics': [image_topic],
        'device': device,
        # the node subscribes to what the bag holds, whatever the topic's name
        'transport': 'compressed' if compressed else 'raw',
        # no file = random weights, said explicitly (an empty value would load the shipped weights)
        'weights': str(Path(weights).resolve()) if weights else RANDOM,
        **({'model': model} if model else {}),
    }
    try:
        session = start_with_retries(
            lambda attempt: _ReplaySession(image_topic, msg_class, wanted, collector, parameters),
            lambda s: s.warm_up(warm, collector, startup_timeout_s),
            _ReplaySession.close,
            attempts=startup_attempts,
            what=f'segment_node (answering within {startup_timeout_s:.0f} s)',
        )
    except NodeStartError as exc:
        raise BagError(str(exc)) from None
    pub = session.pub
    try:
        # replay the recorded bytes unchanged
        published: dict[int, float] = {}
        t0, first_log = time.monotonic(), frames[0].log_time_ns
        for item in frames:
            if rate is not None:
                delay = t0 + (item.log_time_ns - first_log) / 1e9 / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            published[item.stamp_ns] = time.monotonic()
            pub.publish(item.raw)
            if progress:
                progress(1)
        # wait for the last answers: the node answers frames in order and always the newest, so the
        # last frame's mask is the end; without it, give up once nothing arrived for settle_s, but
        # never before answer_timeout_s after the last publish (a loaded machine may take seconds
        # per frame)
        last = frames[-1].stamp_ns
        while True:
            now = time.monotonic()
            with collector.lock:
                if last in collector.received['mask']:
                    break
                quiet = now - max(collector.last_arrival, published[last])
            if quiet >= settle_s and now - published[last] >= answer_timeout_s:
                break
            time.sleep(0.05)
    finally:
        session.close()

    store = typestore()
    report.frames = len(frames)
    masks = collector.received['mask']
    # first frame published -> last mask received (not the settle time spent waiting for more)
    report.wall_s = max((arrival for arrival, _ in masks.values()), default=t0) - t0
    for stamp, sent in published.items():
        if stamp not in masks:
            report.dropped += 1
            continue
        arrival, raw = masks[stamp]
        report.processed += 1
        report.latency.add(1000 * (arrival - sent))
        mask = np.array(image_view(store.deserialize_cdr(raw, IMAGE_TYPE)))
        score_frame(report, mask, labels.get(stamp), label_palette, meta.ignore_index)
    if record:
        _record(record, record_storage, image_topic, collector, frames)
    return report


def _record(
    out: str | Path, storage: str, image_topic: str, collector: _Collector, frames
) -> None:
    log_time = {f.stamp_ns: f.log_time_ns for f in frames}
    with AtomicBagWriter(out, storage=storage) as writer:
        for output in RECORDED:
            topic = node_output_topic(image_topic, output)
            for stamp, (_, raw) in sorted(collector.received[output].items()):
                if stamp in log_time:
                    writer.write_raw(topic, IMAGE_TYPE, raw, log_time[stamp])
