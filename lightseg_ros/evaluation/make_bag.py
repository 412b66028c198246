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
Build an evaluation bag from an image folder and a label folder (e.g. a dataset split).

Each image becomes a ``sensor_msgs/Image`` (rgb8) on the image topic; its label (same file stem,
a single-channel 8- or 16-bit PNG of class ids) becomes a mono8 or mono16 ``sensor_msgs/Image``
on the label topic with
the same header stamp, which is how ``lightseg bag-eval`` pairs them. Images without a label are
written without one (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..sources.bags import AtomicBagWriter, BagError, image_message, IMAGE_TYPE, shown_path
from ..sources.frames import check_declared_size, FrameSourceError, opencv_path, read_image

MAX_FPS = 1000.0  # make-bag --fps: a stamp per millisecond at most

__all__ = ['MakeBagSummary', 'make_bag', 'IMAGE_SUFFIXES']

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


@dataclass
class MakeBagSummary:
    path: Path
    frames: int
    labelled: int
    duration_s: float


def _read_rgb(path: Path) -> np.ndarray:
    try:
        return read_image(path)  # the declared size is checked before decoding
    except FrameSourceError as exc:
        raise BagError(str(exc)) from None


def _palette_indices(path: Path) -> np.ndarray | None:
    """
    Return an indexed (palette) PNG's indices, the class ids; None for any other file.

    OpenCV expands a palette to its colours, so such labels were refused as 3-channel.
    """
    from PIL import Image

    with Image.open(path) as im:
        if im.format != 'PNG' or im.mode != 'P':
            return None
        return np.asarray(im).copy()


# what bag-eval reads as class ids; 16 bits for label sets of more than 256 classes
_LABEL_ENCODING = {np.dtype(np.uint8): 'mono8', np.dtype(np.uint16): 'mono16'}


def _read_label(path: Path, shape: tuple[int, int]) -> np.ndarray:
    try:
        # a label is its image's size: anything larger by its header is refused undecoded
        check_declared_size(path, shape[0] * shape[1])
    except FrameSourceError:
        raise BagError(
            f'label {shown_path(path)} is larger than its image ({shape[1]}x{shape[0]}) by its '
            "header; a label is its image's size; not decoded"
        ) from None
    try:
        label = _palette_indices(path)  # an indexed PNG (VOC's, many tools'): its class ids
        if label is None:
            label = cv2.imread(opencv_path(path), cv2.IMREAD_UNCHANGED)
    except (FrameSourceError, cv2.error, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise BagError(f'cannot read label {shown_path(path)}: {reason}') from None
    if label is None:
        raise BagError(f'cannot read label {shown_path(path)}')
    if label.ndim != 2 or label.dtype not in (np.uint8, np.uint16):
        raise BagError(
            f'label {shown_path(path)} must be a single-channel 8- or 16-bit image of class ids, '
            f'got {label.dtype} {label.shape}'
        )
    if label.shape != shape:
        raise BagError(
            f'label {shown_path(path)} is {label.shape[1]}x{label.shape[0]} but its image is '
            f'{shape[1]}x{shape[0]}'
        )
    return label


def make_bag(
    images: str | Path,
    labels: str | Path | None,
    out: str | Path,
    *,
    fps: float = 15.0,
    image_topic: str = '/camera/image_raw',
    label_topic: str = '/camera/labels',
    frame_id: str = 'camera',
    storage: str = 'mcap',
    start_ns: int = 1_700_000_000_000_000_000,
    limit: int | None = None,
) -> MakeBagSummary:
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise BagError(f'image folder not found: {images}')
    if not 0 < fps <= MAX_FPS:  # NaN and inf too (inf would stamp every frame 0)
        raise BagError(f'fps must be in (0, {MAX_FPS:g}], got {fps}')
    if limit is not None and limit < 0:
        raise BagError(f'limit must be a whole number >= 0 (0: every image), got {limit}')
    if labels is not None and label_topic == image_topic:
        raise BagError(
            f'the label topic and the image topic are both {image_topic}; give them two names'
        )
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[
        : limit or None
    ]
    if not files:
        raise BagError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {images}')
    label_files: dict[str, Path] = {}
    if labels is not None:
        labels = Path(labels)
        if not labels.is_dir():
            raise BagError(f'label folder not found: {labels}')
        label_files = {p.stem: p for p in labels.iterdir() if p.suffix.lower() == '.png'}
    period = int(round(1e9 / fps))
    labelled = 0
    with AtomicBagWriter(out, storage=storage) as writer:
        for i, path in enumerate(files):
            stamp = start_ns + i * period
            rgb = _read_rgb(path)
            writer.write(
                image_topic,
                image_message(writer.store, rgb, 'rgb8', stamp, frame_id),
                IMAGE_TYPE,
                stamp,
            )
            label_path = label_files.get(path.stem)
            if label_path is not None:
                label = _read_label(label_path, rgb.shape[:2])
                writer.write(
                    label_topic,
                    image_message(
                        writer.store, label, _LABEL_ENCODING[label.dtype], stamp, frame_id
                    ),
                    IMAGE_TYPE,
                    stamp,
                )
                labelled += 1
    return MakeBagSummary(out, len(files), labelled, len(files) / fps)
