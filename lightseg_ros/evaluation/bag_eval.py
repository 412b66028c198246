"""Evaluate a segmentation model on a recorded rosbag2: accuracy (mIoU) and latency.

Two modes:

* offline: every image of the bag goes through a :class:`~lightseg_ros.inference.Segmenter`
  directly; latency is decode + inference per frame.
* node: the bag's serialized image messages are published unchanged into a live ``segment_node``
  (a separate process) over DDS, at the recorded rate or as fast as possible, and the node's masks
  are collected; latency is publish -> mask received, and frames the node skipped (it only ever
  processes the newest frame) are counted as dropped.

Ground truth is a label topic of mono8 class-id images (or colour-coded rgb8 images with a
palette), paired with frames by header stamp; frames without a label are counted, not scored.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..classes import colors_to_ids
from ..metrics import ConfusionMatrix
from .bags import COMPRESSED_TYPE, IMAGE_TYPE, AtomicBagWriter, BagError, BagMessage, image_message, open_bag, read_topic
from .report import BagEvalReport

__all__ = ["labels_by_stamp", "label_array", "decode_frame", "evaluate_offline"]

Progress = Callable[[int], None]


def label_array(msg, palette: np.ndarray | None, ignore_index: int) -> np.ndarray:
    """Class ids (H, W) from a label message: mono8 ids, or rgb8 colours mapped through ``palette``."""
    from ..inference.image_codec import image_view

    arr = image_view(msg)
    if msg.encoding == "mono8":
        return arr if arr.ndim == 2 else arr[..., 0]
    if msg.encoding in ("rgb8", "bgr8") and palette is not None:
        ids, known = colors_to_ids(arr if msg.encoding == "rgb8" else arr[..., ::-1], palette)
        return np.where(known, ids, ignore_index).astype(np.uint8 if ignore_index < 256 else np.int32)
    raise BagError(
        f"label encoding {msg.encoding!r} is not supported: use mono8 class ids, or rgb8/bgr8 colours with a palette"
    )


def decode_frame(item: BagMessage) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a recorded Image or CompressedImage message."""
    from ..inference.image_codec import decode_compressed_image, decode_image

    return decode_compressed_image(item.msg) if item.msgtype == COMPRESSED_TYPE else decode_image(item.msg)


def labels_by_stamp(bag: str | Path, label_topic: str) -> dict[int, BagMessage]:
    """All label messages of a bag keyed by header stamp (order in the bag does not matter)."""
    with open_bag(bag) as reader:
        return {m.stamp_ns: m for m in read_topic(reader, label_topic, expect=(IMAGE_TYPE,))}


def _score(report: BagEvalReport, mask: np.ndarray, label_msg: BagMessage | None,
           palette: np.ndarray | None, ignore_index: int) -> None:
    if label_msg is None:
        report.unlabelled += 1
        return
    label = label_array(label_msg.msg, palette, ignore_index)
    if label.shape != mask.shape:
        raise BagError(
            f"label at stamp {label_msg.stamp_ns} is {label.shape[1]}x{label.shape[0]} but its image is "
            f"{mask.shape[1]}x{mask.shape[0]}"
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
    record_storage: str = "mcap",
    output_prefix: str = "/segmentation",
    overlay_alpha: float = 0.5,
    progress: Progress | None = None,
) -> BagEvalReport:
    """Run every image of ``image_topic`` through ``segmenter`` and score it against the labels."""
    from ..inference.visualize import colorize, overlay

    meta = segmenter.meta
    labels = labels_by_stamp(bag, label_topic) if label_topic else {}
    report = BagEvalReport("offline", str(bag), image_topic, label_topic, meta.model, list(meta.class_names),
                           confusion=ConfusionMatrix(meta.num_classes, meta.ignore_index))
    palette = np.asarray(meta.colors, dtype=np.uint8)
    writer = AtomicBagWriter(record, storage=record_storage) if record else None
    start = time.perf_counter()
    try:
        if writer:
            writer.__enter__()
        with open_bag(bag) as reader:
            for item in read_topic(reader, image_topic):
                t0 = time.perf_counter()
                rgb = decode_frame(item)
                mask = segmenter.segment(rgb).mask
                report.latency.add(1000 * (time.perf_counter() - t0))
                report.frames += 1
                report.processed += 1
                _score(report, mask, labels.get(item.stamp_ns), label_palette, meta.ignore_index)
                if writer:
                    _record_outputs(writer, item, rgb, mask, palette, overlay_alpha, output_prefix, colorize, overlay)
                if progress:
                    progress(1)
        if report.frames == 0:
            raise BagError(f"topic {image_topic!r} holds no messages")
    except BaseException as exc:
        if writer:
            writer.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if writer:
        writer.__exit__(None, None, None)
    report.wall_s = time.perf_counter() - start
    return report


def _record_outputs(writer: AtomicBagWriter, item: BagMessage, rgb: np.ndarray, mask: np.ndarray,
                    palette: np.ndarray, alpha: float, prefix: str, colorize, overlay) -> None:
    header = item.msg.header
    stamp, frame = item.stamp_ns, header.frame_id
    for name, arr, enc in (
        ("mask", mask, "mono8"),
        ("color_mask", colorize(mask, palette), "rgb8"),
        ("overlay", overlay(rgb, mask, palette, alpha), "rgb8"),
    ):
        writer.write(f"{prefix}/{name}", image_message(writer.store, arr, enc, stamp, frame), IMAGE_TYPE,
                     item.log_time_ns)
