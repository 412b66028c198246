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
from ..sources.frames import (
    check_declared_size,
    DeclaredTooLargeError,
    FrameSourceError,
    image_files,
    IMAGE_SUFFIXES,
    opencv_path,
    read_image,
)

MAX_FPS = 1000.0  # make-bag --fps: a stamp per millisecond at most

__all__ = ['MakeBagSummary', 'make_bag', 'IMAGE_SUFFIXES']


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
        if im.format != 'PNG':
            return None
        if im.mode == 'P':
            return np.asarray(im).copy()
        # a grey PNG of 1, 2 or 4 bits holds class ids that decoders stretch to 0-255 (a 0/1 mask
        # saved from a bool array read as 0/255): read back as stored
        depth = _png_grey_bit_depth(path)
        if depth not in (1, 2, 4):
            return None
        ids = np.asarray(im).astype(np.uint8)
        top = (1 << depth) - 1
        return ids // (255 // top) if ids.max() > top else ids


def _png_grey_bit_depth(path: Path) -> int | None:
    """Return a greyscale PNG's bit depth from its header (IHDR), else None."""
    with open(path, 'rb') as f:
        head = f.read(26)
    # signature (8), chunk length (4), 'IHDR' (4), width (4), height (4), depth (1), colour type
    if len(head) < 26 or head[12:16] != b'IHDR' or head[25] != 0:
        return None
    return head[24]


# what bag-eval reads as class ids; 16 bits for label sets of more than 256 classes
_LABEL_ENCODING = {np.dtype(np.uint8): 'mono8', np.dtype(np.uint16): 'mono16'}


def _read_label(path: Path, shape: tuple[int, int]) -> np.ndarray:
    try:
        # a label is its image's size: anything larger by its header is refused undecoded
        check_declared_size(path, shape[0] * shape[1])
    except DeclaredTooLargeError:
        raise BagError(
            f'label {shown_path(path)} is larger than its image ({shape[1]}x{shape[0]}) by its '
            "header; a label is its image's size; not decoded"
        ) from None
    except FrameSourceError as exc:  # a file cut short, or not an image at all
        raise BagError(f'cannot read label {shown_path(path)}: {exc}') from None
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
    # natural order, hidden files left out, as every frame source reads a folder: frame_2
    # before frame_10, so a numbered video dump keeps its order (and --limit its first frames)
    files = image_files(images)[: limit or None]
    if not files:
        raise BagError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {images}')
    label_files: dict[str, Path] = {}
    if labels is not None:
        labels = Path(labels)
        if not labels.is_dir():
            raise BagError(f'label folder not found: {labels}')
        label_files = {p.stem: p for p in image_files(labels) if p.suffix.lower() == '.png'}
        if not any(p.stem in label_files for p in files):
            example = next(iter(sorted(label_files)), None)
            found = (
                f'found e.g. {example}.png, the images are e.g. {files[0].name}'
                if example
                else 'the folder holds no .png'
            )
            raise BagError(
                f'no label in {shown_path(labels)} shares a name with an image of '
                f'{shown_path(images)} (a label is <image stem>.png; {found})'
            )
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
