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

from collections import OrderedDict
from pathlib import Path
import threading
import time

import numpy as np

from .bag_eval import open_labels, score_frame
from .report import BagEvalReport
from ..models.shipped import RANDOM
from ..ros.node_session import NodeSession, NodeStartError, start_with_retries
from ..ros.topics import OUTPUTS, transport_topic
from ..sources.bags import (
    AtomicBagWriter,
    BagError,
    COMPRESSED_TYPE,
    damaged_chunks,
    IMAGE_TYPE,
    open_bag,
    read_topic,
    topic_count,
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
    """
    Receives the node's outputs as raw CDR bytes, with header stamp and arrival time.

    The replay loop takes them as they come (:meth:`take`), so nothing piles up here.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inbox: list[tuple[str, int, float, bytes]] = []  # output, stamp, arrival, raw
        self.warm_answered = False
        self.last_arrival = time.monotonic()
        self.store = typestore()

    def callback(self, output: str):
        def on_message(raw: bytes) -> None:
            now = time.monotonic()
            msg = self.store.deserialize_cdr(raw, IMAGE_TYPE)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            with self.lock:
                self.last_arrival = now
                if stamp == WARMUP_STAMP_NS:
                    self.warm_answered = self.warm_answered or output == 'mask'
                else:
                    self.inbox.append((output, stamp, now, bytes(raw)))

        return on_message

    def take(self) -> list[tuple[str, int, float, bytes]]:
        """Return what arrived since the last call, oldest first."""
        with self.lock:
            items, self.inbox = self.inbox, []
        # by arrival: callbacks of several threads may append out of the order they were called in
        return sorted(items, key=lambda item: item[2])


class _Scorer:
    """
    Pairs the node's outputs with the frames published to it, as they arrive.

    The node answers frames in order and skips to the newest, so a mask for a frame means every
    earlier unanswered frame was dropped: only the frames in flight are held, and a label is
    fetched when its frame's mask arrives (:class:`LabelStream`).
    """

    RECENT = 256  # answered frames whose other outputs may still arrive (for --record)

    def __init__(self, report, labels, palette, ignore_index, writer, image_topic) -> None:
        self.report, self.labels, self.palette = report, labels, palette
        self.ignore_index, self.writer = ignore_index, writer
        self.topics = {o: node_output_topic(image_topic, o) for o in RECORDED}
        # frames published and not answered yet, in publication order: sequence number -> stamp,
        # sent, log time. Keyed by order, not by stamp: a bag may repeat a stamp (a driver that
        # stamps every frame 0), and a mask then belongs to the oldest frame of its stamp that
        # was sent before it arrived (keyed by stamp, a mask that came back while the next frame
        # of the same stamp went out was paired with that frame: its label and its send time)
        self.in_flight: OrderedDict[int, tuple[int, float, int]] = OrderedDict()
        self.sequence = 0
        self.recent: OrderedDict[int, int] = OrderedDict()  # answered: log time
        self.last_mask_arrival: float | None = None
        self.last_published: tuple[int, float] | None = None  # sequence number, sent
        self.store = typestore()

    def published(self, stamp_ns: int, sent: float, log_time_ns: int) -> None:
        self.report.frames += 1
        self.sequence += 1
        self.in_flight[self.sequence] = (stamp_ns, sent, log_time_ns)
        self.last_published = (self.sequence, sent)

    def answered(self, sequence: int) -> bool:
        """Whether the frame published ``sequence``-th has been answered or dropped."""
        return sequence not in self.in_flight

    def _frame_of(self, stamp: int, arrival: float) -> int | None:
        """Return the in-flight frame a mask stamped ``stamp`` answers, None if none."""
        for sequence, (sent_stamp, sent, _) in self.in_flight.items():
            if sent_stamp == stamp and sent <= arrival:
                return sequence
        return None

    def _log_time_in_flight(self, stamp: int) -> int | None:
        return next((log for s, _, log in self.in_flight.values() if s == stamp), None)

    def absorb(self, items) -> None:
        from ..inference.image_codec import image_view

        report = self.report
        for output, stamp, arrival, raw in items:
            answers = self._frame_of(stamp, arrival) if output == 'mask' else None
            if answers is not None:
                # the node answers in order and skips to the newest: every earlier frame in
                # flight was dropped (its label, the next of its stamp, is let go)
                while True:
                    sequence, (earlier, sent, log_time) = self.in_flight.popitem(last=False)
                    if sequence == answers:
                        break
                    report.dropped += 1
                    self.labels.discard(earlier)
                self.recent[stamp] = log_time
                if len(self.recent) > self.RECENT:
                    self.recent.popitem(last=False)
                report.processed += 1
                report.latency.add(1000 * (arrival - sent))
                self.last_mask_arrival = arrival
                mask = image_view(self.store.deserialize_cdr(raw, IMAGE_TYPE))
                score_frame(report, mask, self.labels.get(stamp), self.palette, self.ignore_index)
            if self.writer is None:
                continue
            log_time = self.recent.get(stamp)
            if log_time is None:
                log_time = self._log_time_in_flight(stamp)
            if log_time is not None:
                self.writer.write_raw(self.topics[output], IMAGE_TYPE, raw, log_time)

    def finish(self) -> None:
        """Count the frames never answered as dropped."""
        for stamp, _, _ in self.in_flight.values():
            self.report.dropped += 1
            self.labels.discard(stamp)
        self.in_flight.clear()
        self.report.repeated_stamps = self.labels.repeats


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
        # compressed frames go where the node's 'compressed' transport listens (image_transport's
        # <topic>/compressed), whatever the name they were recorded under (/cam/jpeg)
        published = (
            transport_topic(image_topic, 'compressed')
            if msg_class.__name__ == 'CompressedImage'
            else image_topic
        )
        self.pub = self.node.create_publisher(msg_class, published, reliable)
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
            if collector.warm_answered:
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
        collector.take()
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

    from ..models.weights import read_weights_meta

    if record:
        AtomicBagWriter.check_free(record)  # before a node process is started
    damaged = damaged_chunks(bag)
    with open_bag(bag) as reader:
        first = next(
            read_topic(reader, image_topic, skip=damaged, on_malformed=lambda why: None), None
        )
    if first is None:
        raise BagError(f'topic {image_topic!r} holds no messages')
    if weights:
        meta = read_weights_meta(weights)  # fail here, clearly, before starting a process
        model = model or meta.model
    else:
        from ..inference.segmenter import Segmenter

        meta = Segmenter(model=model, device='cpu').meta
    report = BagEvalReport.for_model('node', bag, image_topic, label_topic, meta)

    compressed = first.msgtype == COMPRESSED_TYPE
    msg_class = CompressedImage if compressed else Image
    collector = _Collector()
    warm = deserialize_message(first.raw, msg_class)
    warm.header.stamp.sec, warm.header.stamp.nanosec = 0, WARMUP_STAMP_NS
    first_log = first.log_time_ns
    del first
    wanted = RECORDED if record else ('mask',)
    parameters = {
        'image_topics': [image_topic],
        'device': device,
        # the node subscribes to what the bag holds: raw on the topic, compressed on
        # <topic>/compressed (where the replay publishes it)
        'transport': 'compressed' if compressed else 'raw',
        # no file = random weights, said explicitly (an empty value would load the shipped weights)
        'weights': str(Path(weights).resolve()) if weights else RANDOM,
        **({'model': model} if model else {}),
    }
    with open_labels(
        bag,
        label_topic,
        skip=damaged,
        on_malformed=lambda why: report.note_malformed('label_undeserializable', why, frame=False),
    ) as labels:
        try:
            session = start_with_retries(
                lambda attempt: _ReplaySession(
                    image_topic, msg_class, wanted, collector, parameters
                ),
                lambda s: s.warm_up(warm, collector, startup_timeout_s),
                _ReplaySession.close,
                attempts=startup_attempts,
                what=f'segment_node (answering within {startup_timeout_s:.0f} s)',
            )
        except NodeStartError as exc:
            raise BagError(str(exc)) from None
        writer = scorer = None
        try:
            writer = AtomicBagWriter(record, storage=record_storage) if record else None
            scorer = _Scorer(report, labels, label_palette, meta.ignore_index, writer, image_topic)
            if writer:
                writer.__enter__()
            t0 = _replay(
                session.pub,
                bag,
                image_topic,
                damaged,
                rate,
                first_log,
                collector,
                scorer,
                progress,
            )
            # wait for the last answers: the node answers frames in order and always the
            # newest, so the last frame's mask is the end; without it, give up once nothing
            # arrived for settle_s, but never before answer_timeout_s after the last publish (a
            # loaded machine may take seconds per frame)
            last_frame, last_sent = scorer.last_published
            while True:
                scorer.absorb(collector.take())
                if scorer.answered(last_frame):
                    break
                now = time.monotonic()
                with collector.lock:
                    quiet = now - max(collector.last_arrival, last_sent)
                if quiet >= settle_s and now - last_sent >= answer_timeout_s:
                    break
                time.sleep(0.05)
        except BaseException as exc:
            session.close()
            if writer:
                writer.__exit__(type(exc), exc, exc.__traceback__)
            raise
        session.close()
        scorer.absorb(collector.take())
        scorer.finish()
        if writer:
            writer.__exit__(None, None, None)
    # first frame published -> last mask received (not the settle time spent waiting for more)
    report.wall_s = (scorer.last_mask_arrival or t0) - t0
    return report


def _replay(pub, bag, image_topic, damaged, rate, first_log, collector, scorer, progress) -> float:
    """
    Publish the recorded bytes unchanged, at ``rate`` times the recorded pace (None: at once).

    The outputs that arrive meanwhile are scored between frames. A message that cannot be
    deserialized (no stamp to pair its answer with) or that lies in a damaged chunk is counted as
    malformed, not published; a frame the node refuses (say, an unknown encoding) goes out as
    recorded and counts as dropped. Returns when the first frame was published.
    """
    report = scorer.report

    def malformed(why: str) -> None:
        report.note_malformed('undeserializable', why)
        if progress:
            progress(1)

    t0 = time.monotonic()
    with open_bag(bag) as reader:
        expected = topic_count(reader, image_topic)
        for item in read_topic(reader, image_topic, skip=damaged, on_malformed=malformed):
            scorer.absorb(collector.take())
            if rate is not None:
                delay = t0 + (item.log_time_ns - first_log) / 1e9 / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            sent = time.monotonic()
            pub.publish(item.raw)
            scorer.published(item.stamp_ns, sent, item.log_time_ns)
            if progress:
                progress(1)
    report.note_damaged(damaged, expected - report.frames - report.malformed)
    report.frames += report.malformed
    return t0
