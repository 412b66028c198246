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

"""The figures a bag evaluation reports, as a table for people and JSON for machines."""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import math

import numpy as np

from ..metrics import ConfusionMatrix, SegmentationScores
from ..sources.bags import shown_path
from ..stats import percentile

__all__ = ['BagEvalReport', 'LatencyStats']


@dataclass
class LatencyStats:
    samples_ms: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        self.samples_ms.append(ms)

    def percentile(self, q: float) -> float | None:
        """Return the ``q``-th percentile; None where the samples are too few to hold it."""
        return percentile(self.samples_ms, q)


@dataclass
class BagEvalReport:
    mode: str
    bag: str
    image_topic: str
    label_topic: str | None
    model: str
    class_names: list[str]
    frames: int = 0  # image messages in the bag (after warm-up)
    processed: int = 0  # masks produced (offline: all frames; node: masks received)
    labelled: int = 0  # processed frames that had a label with the same stamp
    unlabelled: int = 0  # processed frames without a label: counted, not scored
    dropped: int = 0  # frames the node did not answer (node mode)
    malformed: int = (
        0  # image frames counted and skipped: undecodable, too large, in a damaged chunk, ...
    )
    # frames that repeat the stamp of an earlier frame with a label: paired in recorded order
    repeated_stamps: int = 0
    malformed_counts: dict[str, int] = field(default_factory=dict)  # per kind (labels included)
    # the first reason of each kind
    malformed_examples: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    latency: LatencyStats = field(default_factory=LatencyStats)
    confusion: ConfusionMatrix | None = None

    @classmethod
    def for_model(
        cls, mode: str, bag, image_topic: str, label_topic: str | None, meta
    ) -> BagEvalReport:
        """Return an empty report of ``mode`` for the model that ``meta`` describes."""
        return cls(
            mode,
            str(bag),
            image_topic,
            label_topic,
            meta.model,
            list(meta.class_names),
            confusion=ConfusionMatrix(meta.num_classes, meta.ignore_index),
        )

    def note_malformed(
        self, kind: str, example: str, count: int = 1, *, frame: bool = True
    ) -> None:
        """
        Count ``count`` skipped messages of ``kind``.

        They are image frames unless ``frame`` is False.
        """
        self.malformed_counts[kind] = self.malformed_counts.get(kind, 0) + count
        self.malformed_examples.setdefault(kind, example[:300])
        if frame:
            self.malformed += count

    def note_damaged(self, damaged, lost: int) -> None:
        """Count ``lost`` frames not read: they lie in ``damaged`` chunks (CRC or size failed)."""
        if lost > 0 and damaged:
            first = damaged[0]
            self.note_malformed(
                'damaged_chunk',
                f'{len(damaged)} chunks fail their CRC or size check, the first in '
                f'{shown_path(first.file)} at byte '
                f'{first.offset} ({first.reason})',
                lost,
            )

    @property
    def scores(self) -> SegmentationScores | None:
        if self.confusion is None or self.labelled == 0:
            return None
        return self.confusion.compute()

    def as_dict(self) -> dict:
        scores = self.scores
        return {
            'mode': self.mode,
            'bag': self.bag,
            'image_topic': self.image_topic,
            'label_topic': self.label_topic,
            'model': self.model,
            'frames': self.frames,
            'processed': self.processed,
            'labelled': self.labelled,
            'unlabelled': self.unlabelled,
            'dropped': self.dropped,
            'malformed': self.malformed,
            'repeated_stamps': self.repeated_stamps,
            'malformed_by_kind': {
                k: {'count': n, 'first': self.malformed_examples.get(k, '')}
                for k, n in sorted(self.malformed_counts.items())
            },
            'wall_s': round(self.wall_s, 3),
            'throughput_fps': round(self.processed / self.wall_s, 2) if self.wall_s else None,
            'latency_ms': {
                'p50': self.latency.percentile(50),
                'p99': self.latency.percentile(99),
                'mean': float(np.mean(self.latency.samples_ms))
                if self.latency.samples_ms
                else None,
                'max': max(self.latency.samples_ms) if self.latency.samples_ms else None,
            },
            'scores': scores.as_dict(self.class_names) if scores else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def table(self) -> str:
        d = self.as_dict()
        lat = d['latency_ms']
        fmt = lambda v: '-' if v is None else f'{v:.1f}'  # noqa: E731
        lines = [
            f'bag {self.bag}  ({self.mode} mode, model {self.model})',
            f'frames {self.frames}  processed {self.processed}  labelled {self.labelled}  '
            f'unlabelled {self.unlabelled}  dropped {self.dropped}  malformed {self.malformed}',
            f'latency ms  p50 {fmt(lat["p50"])}  p99 {fmt(lat["p99"])}  mean {fmt(lat["mean"])}  '
            f'max {fmt(lat["max"])}  ({len(self.latency.samples_ms)} frames; a p99 needs 100)  '
            f'throughput {d["throughput_fps"]} fps',
        ]
        for kind, n in sorted(self.malformed_counts.items()):
            lines.append(f'skipped {n} x {kind}, first: {self.malformed_examples.get(kind, "")}')
        if self.repeated_stamps:
            lines.append(
                f'{self.repeated_stamps} frames repeat the stamp of an earlier labelled frame: '
                'the frames of one stamp take its labels in recorded order (n-th frame, n-th '
                'label)'
            )
        scores = self.scores
        if scores is None:
            lines.append('no labelled frames: accuracy not scored')
            return '\n'.join(lines)
        lines.append(
            f'mIoU {100 * scores.miou:.2f}  pixel accuracy {100 * scores.pixel_accuracy:.2f}'
        )
        width = max(len(n) for n in self.class_names)
        for name, iou in zip(self.class_names, scores.per_class_iou):
            lines.append(
                f'  {name:<{width}}  {"   n/a" if math.isnan(iou) else f"{100 * iou:6.2f}"}'
            )
        return '\n'.join(lines)
