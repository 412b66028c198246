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
Evaluate a segmentation model on a recorded rosbag2: accuracy (mIoU) and latency.

Two modes:

* offline: every image of the bag goes through a :class:`~lightseg_ros.inference.Segmenter`
  directly; latency is decode + inference per frame.
* node: the bag's serialized image messages are published unchanged into a live ``segment_node``
  (a separate process) over DDS, at the recorded rate or as fast as possible, and the node's masks
  are collected; latency is publish -> mask received, and frames the node skipped (it only ever
  processes the newest frame) are counted as dropped.

Ground truth is a label topic of class-id images (mono8, 8UC1, mono16 or 16UC1; or colour-coded
rgb8 images with a palette, :class:`LabelPalette`), paired with frames by header stamp (the frames
of a repeated stamp take its labels in recorded order); frames without a label are counted, not
scored. Labels are read as their frames ask for them (:class:`LabelStream`), so memory does not
grow with the bag's length. A label of the wrong size, or one that cannot be read, is counted and
its frame left unscored; a label colour outside the palette is an error that lists the colours
found.

Malformed frames (undeserializable, undecodable, above ``max_input_pixels``, or in an MCAP chunk
whose CRC does not match) are counted and skipped, and the report lists how many of each kind.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np

from .report import BagEvalReport
from ..classes import CAMVID_COLORS, colors_to_ids
from ..sources.bags import (
    AtomicBagWriter,
    BagError,
    BagMessage,
    COMPRESSED_TYPE,
    damaged_chunks,
    DamagedChunk,
    image_message,
    IMAGE_TYPE,
    open_bag,
    read_topic,
    topic_count,
)

__all__ = [
    'label_array',
    'LabelStream',
    'open_labels',
    'decode_frame',
    'evaluate_offline',
    'LabelPalette',
    'score_frame',
]


@dataclass(frozen=True)
class LabelPalette:
    """
    Colours of colour-coded labels and the class id each maps to.

    An id may be the ignore index.
    """

    colors: np.ndarray  # (M, 3) uint8 RGB
    ids: np.ndarray  # (M,) int64

    @classmethod
    def of(cls, colors) -> 'LabelPalette':
        """Class i = row i of an (N, 3) RGB palette."""
        colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
        return cls(colors, np.arange(len(colors), dtype=np.int64))

    @classmethod
    def camvid(cls) -> 'LabelPalette':
        return cls.of(CAMVID_COLORS)

    @classmethod
    def from_file(cls, path: str | Path) -> 'LabelPalette':
        """
        Read a palette from a text file.

        The file has ``R G B`` lines (class id = the count of such lines before it) and
        ``R G B id`` lines (an explicit id, e.g. the ignore index for a colour not to score);
        ``#`` starts a comment.
        """
        path = Path(path)
        colors, ids, next_id = [], [], 0
        for number, line in enumerate(path.read_text(errors='replace').splitlines()[:100_000], 1):
            fields = line.split('#', 1)[0].split()
            if not fields:
                continue
            try:
                values = [int(v) for v in fields]
            except ValueError:
                values = []
            if (
                len(values) not in (3, 4)
                or not all(0 <= v <= 255 for v in values[:3])
                or (len(values) == 4 and not 0 <= values[3] <= 65535)
            ):
                raise BagError(
                    f"{path}:{number}: expected 'R G B' or 'R G B id' (0-255, id 0-65535), got "
                    f'{line.strip()[:80]!r}'
                )
            colors.append(values[:3])
            if len(values) == 3:
                ids.append(next_id)
                next_id += 1
            else:
                ids.append(values[3])
        if not colors:
            raise BagError(f"{path}: no 'R G B' lines")
        return cls(np.asarray(colors, np.uint8), np.asarray(ids, np.int64))


def _as_palette(palette) -> LabelPalette | None:
    if palette is None or isinstance(palette, LabelPalette):
        return palette
    return LabelPalette.of(palette)


Progress = Callable[[int], None]
#: single-channel label encodings read as class ids (8UC1 and 16UC1 share mono8's and mono16's
#: layouts)
MONO_LABELS = ('mono8', '8UC1', 'mono16', '16UC1')


def label_array(msg, palette, ignore_index: int, where: str = 'label') -> np.ndarray:
    """
    Return the class ids (H, W) of a label message.

    Labels are class ids (mono8, 8UC1, mono16, 16UC1), or rgb8/bgr8 colours mapped through
    ``palette`` (a :class:`LabelPalette` or an (N, 3) RGB array). A colour outside the palette is
    a BagError that lists the colours found, with pixel counts, and how to map them.
    """
    from ..inference.image_codec import image_view

    arr = image_view(msg)
    if msg.encoding in MONO_LABELS:
        # 8UC1 is what cv_bridge writes for a single-channel uint8 mask: mono8's layout. 16-bit
        # ids come back in native byte order; ids beyond the model's classes are refused by
        # score_frame, as 8-bit ones are
        return arr.astype(arr.dtype.newbyteorder('='), copy=False)
    palette = _as_palette(palette)
    if msg.encoding in ('rgb8', 'bgr8') and palette is not None:
        rgb = arr if msg.encoding == 'rgb8' else arr[..., ::-1]
        index, known = colors_to_ids(rgb, palette.colors)
        if not known.all():
            codes, counts = np.unique(
                (rgb[~known].astype(np.int64) * [1 << 16, 1 << 8, 1]).sum(-1), return_counts=True
            )
            order = np.argsort(-counts)[:8]
            found = ', '.join(
                f'({c >> 16}, {(c >> 8) & 255}, {c & 255}) x {n} px'
                for c, n in zip(codes[order].tolist(), counts[order].tolist())
            )
            more = f' and {len(codes) - len(order)} more' if len(codes) > len(order) else ''
            first = codes[order[0]]
            raise BagError(
                f'{where} has {len(codes)} colour{"s" if len(codes) > 1 else ""} outside '
                f"--label-palette: {found}{more}; map them with a palette file of 'R G B' lines "
                '(class id = their order from 0, comments and blank lines not counted) plus '
                "'R G B id' lines for the extra colours, e.g. "
                f"'{first >> 16} {(first >> 8) & 255} {first & 255} {ignore_index}' to leave a "
                f'colour unscored (ignore index {ignore_index})'
            )
        ids = palette.ids[index]
        return ids.astype(np.uint8 if int(ids.max(initial=0)) < 256 else np.int32)
    raise BagError(
        f'label encoding {msg.encoding!r} is not supported: use class ids in '
        f'{", ".join(MONO_LABELS)}, or rgb8/bgr8 colours with a palette'
    )


def decode_frame(item: BagMessage, max_pixels: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a recorded Image or CompressedImage message."""
    from ..inference.image_codec import decode_compressed_image, decode_image

    if item.msgtype == COMPRESSED_TYPE:
        return decode_compressed_image(item.msg, max_pixels)
    return decode_image(item.msg, max_pixels)


class LabelStream:
    """
    A bag's label topic, read as the frames ask for their labels.

    A first pass keeps only the labels' stamps; :meth:`get` then reads on through the topic to the
    asked stamp, holding the labels it passes over until their frames ask. Memory holds the
    labels recorded ahead of their frames (a handful when a recorder writes each label next to
    its image), not the whole topic, and never more than ``max_held`` of them: past that, a
    label passed over is let go and read again, by a scan of the topic from its start, when its
    frame asks (``rescans`` counts them). A bag whose labels were all recorded far from their
    frames costs time, not memory. A label serves one frame; :meth:`discard` forgets the label of
    a frame that will not ask (dropped, or undecodable).

    A stamp may repeat (a driver that stamps every frame 0, or two frames in one clock tick): the
    frames of one stamp, in the order they ask or are discarded, take that stamp's labels in
    their recorded order, the n-th frame the n-th label; ``repeats`` counts the frames that asked
    for a stamp an earlier frame had asked for.
    """

    #: labels held ahead of their frames at most (360x480 mono8: 170 KB each, 44 MB in all)
    MAX_HELD = 256

    def __init__(
        self,
        bag: str | Path,
        topic: str,
        *,
        skip: list[DamagedChunk] | None = None,
        on_malformed: Callable[[str], None] | None = None,
        max_held: int | None = None,
    ) -> None:
        self._bag, self._topic, self._skip = bag, topic, skip
        self.max_held = self.MAX_HELD if max_held is None else max_held
        self.rescans = 0
        self.repeats = 0
        # a label's key: (stamp, how many labels of that stamp the topic holds before it)
        self._let_go: set[tuple[int, int]] = set()  # passed over while the hold was full
        self._asked: dict[int, int] = {}  # per labelled stamp, frames that asked or were discarded
        with open_bag(bag) as reader:
            self._wanted = {
                key
                for key, _ in _numbered(
                    read_topic(
                        reader, topic, expect=(IMAGE_TYPE,), skip=skip, on_malformed=on_malformed
                    )
                )
            }
        self._labelled = {stamp for stamp, _ in self._wanted}
        self._ahead: dict[tuple[int, int], BagMessage] = {}
        self._stack = ExitStack()
        self._messages = self._read(self._stack.enter_context(open_bag(bag)))

    def __enter__(self) -> LabelStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self, reader):
        # malformed labels were reported by the first pass: skip them quietly now
        return _numbered(
            read_topic(
                reader,
                self._topic,
                expect=(IMAGE_TYPE,),
                skip=self._skip,
                on_malformed=lambda why: None,
            )
        )

    def close(self) -> None:
        self._messages.close()
        self._stack.close()

    @property
    def held(self) -> int:
        """Labels read ahead of their frames and held now."""
        return len(self._ahead)

    def _next_key(self, stamp_ns: int) -> tuple[int, int] | None:
        """Return the key of the next frame stamped ``stamp_ns``'s label, None if none."""
        if stamp_ns not in self._labelled:
            return None
        nth = self._asked.get(stamp_ns, 0)
        self._asked[stamp_ns] = nth + 1
        if nth:
            self.repeats += 1
        key = (stamp_ns, nth)
        return key if key in self._wanted else None

    def get(self, stamp_ns: int) -> BagMessage | None:
        """Return the label of the next frame stamped ``stamp_ns``, or None when it has none."""
        key = self._next_key(stamp_ns)
        if key is None:
            return None
        self._wanted.discard(key)
        found = self._ahead.pop(key, None)
        if found is not None:
            return found
        if key in self._let_go:
            self._let_go.discard(key)
            return self._rescan(key)
        for passed, message in self._messages:
            if passed == key:
                return message
            if passed in self._wanted:
                if len(self._ahead) < self.max_held:
                    self._ahead[passed] = message
                else:
                    self._let_go.add(passed)
        return None

    def _rescan(self, key: tuple[int, int]) -> BagMessage | None:
        self.rescans += 1
        with open_bag(self._bag) as reader:
            for passed, message in self._read(reader):
                if passed == key:
                    return message
        return None

    def discard(self, stamp_ns: int) -> None:
        """Forget the label of the next frame stamped ``stamp_ns``: that frame will not ask."""
        key = self._next_key(stamp_ns)
        if key is not None:
            self._wanted.discard(key)
            self._let_go.discard(key)
            self._ahead.pop(key, None)


def _numbered(messages):
    """Yield ``((stamp, n), message)``: n counts the earlier messages of the same stamp."""
    counts: dict[int, int] = {}  # as many entries as the first pass's set of labels
    for message in messages:
        stamp = message.stamp_ns
        n = counts.get(stamp, 0)
        counts[stamp] = n + 1
        yield (stamp, n), message


class _NoLabels:
    """The :class:`LabelStream` of a bag evaluated without a label topic."""

    held = repeats = 0

    def __enter__(self) -> _NoLabels:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def get(self, stamp_ns: int) -> None:
        return None

    def discard(self, stamp_ns: int) -> None:
        pass


def open_labels(
    bag: str | Path,
    label_topic: str | None,
    *,
    skip: list[DamagedChunk] | None = None,
    on_malformed: Callable[[str], None] | None = None,
) -> LabelStream | _NoLabels:
    """Return a :class:`LabelStream` of ``label_topic``, or one without labels when it is None."""
    if not label_topic:
        return _NoLabels()
    return LabelStream(bag, label_topic, skip=skip, on_malformed=on_malformed)


def score_frame(
    report: BagEvalReport,
    mask: np.ndarray,
    label_msg: BagMessage | None,
    palette: np.ndarray | None,
    ignore_index: int,
) -> None:
    """
    Add one mask to the report: scored against its label, or counted as unlabelled.

    A label that cannot be read or does not match its image's size is reported (one line per
    kind) and its frame counted as unlabelled; labels whose colours the palette lacks stop the
    evaluation (a BagError), since every label of the bag will need the same fix; so do class ids
    that are neither a class of the model nor its ignore index.
    """
    from ..inference.image_codec import ImageDecodeError

    if label_msg is None:
        report.unlabelled += 1
        return
    where = f'label at stamp {label_msg.stamp_ns}'
    try:
        label = label_array(label_msg.msg, palette, ignore_index, where)
    except ImageDecodeError as exc:
        report.note_malformed(f'label_{exc.kind}', f'{where}: {exc}', frame=False)
        report.unlabelled += 1
        return
    if label.shape != mask.shape:
        report.note_malformed(
            'label_size_mismatch',
            f'{where} is {label.shape[1]}x{label.shape[0]} but its image is '
            f'{mask.shape[1]}x{mask.shape[0]}',
            frame=False,
        )
        report.unlabelled += 1
        return
    n = report.confusion.num_classes
    bad = (label >= n) & (label != ignore_index)
    if bad.any():  # as lightseg eval refuses such masks: scored, they would all count as misses
        values = np.unique(label[bad])[:10].tolist()
        raise BagError(
            f'{where} has class ids {values} outside [0, {n - 1}] that are not the ignore index '
            f'{ignore_index}; labels must hold the class ids of the model ({n} classes) or the '
            'ignore index'
        )
    report.confusion.update(mask, label)
    report.labelled += 1


def evaluate_offline(
    bag: str | Path,
    image_topic: str,
    label_topic: str | None,
    segmenter,
    *,
    label_palette: np.ndarray | None = None,
    record: str | Path | None = None,
    record_storage: str = 'mcap',
    output_prefix: str | None = None,
    overlay_alpha: float = 0.5,
    progress: Progress | None = None,
) -> BagEvalReport:
    """
    Run every image of ``image_topic`` through ``segmenter`` and score it against the labels.

    ``record`` topics are the node's for that camera (``/camera/image_raw`` ->
    ``/camera/segmentation/mask``), as node mode records them, unless ``output_prefix`` is given.
    """
    if output_prefix is None:
        from ..ros.topics import output_namespaces

        output_prefix = output_namespaces([image_topic])[0]
    from ..inference.image_codec import ImageDecodeError
    from ..inference.visualize import colorize, overlay

    meta = segmenter.meta
    damaged = damaged_chunks(bag)
    report = BagEvalReport.for_model('offline', bag, image_topic, label_topic, meta)
    labels = open_labels(
        bag,
        label_topic,
        skip=damaged,
        on_malformed=lambda why: report.note_malformed('label_undeserializable', why, frame=False),
    )
    palette = np.asarray(meta.colors, dtype=np.uint8)
    writer = AtomicBagWriter(record, storage=record_storage) if record else None
    start = time.perf_counter()
    seen = 0

    def malformed(kind: str, why: str) -> None:
        report.note_malformed(kind, why)
        if progress:
            progress(1)

    warmed: set[tuple[int, int]] = set()  # frame sizes the segmenter has run once
    try:
        if writer:
            writer.__enter__()
        with labels, open_bag(bag) as reader:
            expected = topic_count(reader, image_topic)
            for item in read_topic(
                reader,
                image_topic,
                skip=damaged,
                on_malformed=lambda why: malformed('undeserializable', why),
            ):
                seen += 1
                t0 = time.perf_counter()
                try:
                    rgb = decode_frame(item, segmenter.max_input_pixels)
                except ImageDecodeError as exc:
                    malformed(exc.kind, f'frame at stamp {item.stamp_ns}: {exc}')
                    labels.discard(item.stamp_ns)
                    continue
                decoded = time.perf_counter() - t0
                if rgb.shape[:2] not in warmed:
                    # a size's first frame is the slow one (CUDA graph capture, cuDNN's choice,
                    # compilation: seconds on a GPU): outside the figures, as the node warms up
                    if len(warmed) >= 64:  # bounded whatever sizes a bag holds
                        warmed.clear()
                    warmed.add(rgb.shape[:2])
                    t_warm = time.perf_counter()
                    segmenter.warm_up(rgb.shape[:2])
                    # out of the throughput too: node mode starts its clock after the warm-up
                    start += time.perf_counter() - t_warm
                t1 = time.perf_counter()
                mask = segmenter.segment(rgb).mask
                report.latency.add(1000 * (decoded + time.perf_counter() - t1))
                report.processed += 1
                score_frame(
                    report, mask, labels.get(item.stamp_ns), label_palette, meta.ignore_index
                )
                if writer:
                    _record_outputs(
                        writer,
                        item,
                        rgb,
                        mask,
                        palette,
                        overlay_alpha,
                        output_prefix,
                        colorize,
                        overlay,
                    )
                if progress:
                    progress(1)
            report.repeated_stamps = labels.repeats
            seen += report.malformed_counts.get('undeserializable', 0)
            report.note_damaged(damaged, expected - seen)
        report.frames = report.processed + report.malformed
        if report.frames == 0:
            raise BagError(f'topic {image_topic!r} holds no messages')
    except BaseException as exc:
        if writer:
            writer.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if writer:
        writer.__exit__(None, None, None)
    report.wall_s = time.perf_counter() - start
    return report


def _record_outputs(
    writer: AtomicBagWriter,
    item: BagMessage,
    rgb: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray,
    alpha: float,
    prefix: str,
    colorize,
    overlay,
) -> None:
    header = item.msg.header
    stamp, frame = item.stamp_ns, header.frame_id
    for name, arr, enc in (
        ('mask', mask, 'mono8'),
        ('color_mask', colorize(mask, palette), 'rgb8'),
        ('overlay', overlay(rgb, mask, palette, alpha), 'rgb8'),
    ):
        writer.write(
            f'{prefix}/{name}',
            image_message(writer.store, arr, enc, stamp, frame),
            IMAGE_TYPE,
            item.log_time_ns,
        )
