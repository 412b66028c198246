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

"""Class names and colour palettes of the datasets the package knows, and a palette for any N."""

from __future__ import annotations

import numpy as np

__all__ = [
    'colors_to_ids',
    'CAMVID_CLASSES',
    'CAMVID_COLORS',
    'VOC_CLASSES',
    'CITYSCAPES_CLASSES',
    'CITYSCAPES_COLORS',
    'default_palette',
    'IMAGENET_MEAN',
    'IMAGENET_STD',
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# SegNet's 11-class CamVid (label 11 = unlabelled, ignored)
CAMVID_CLASSES = (
    'sky',
    'building',
    'pole',
    'road',
    'pavement',
    'tree',
    'sign_symbol',
    'fence',
    'car',
    'pedestrian',
    'bicyclist',
)
# The colours CamVid's own label images use for these classes.
CAMVID_COLORS = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (0, 0, 192),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
)

VOC_CLASSES = (
    'background',
    'aeroplane',
    'bicycle',
    'bird',
    'boat',
    'bottle',
    'bus',
    'car',
    'cat',
    'chair',
    'cow',
    'diningtable',
    'dog',
    'horse',
    'motorbike',
    'person',
    'pottedplant',
    'sheep',
    'sofa',
    'train',
    'tvmonitor',
)

# Cityscapes' 19 evaluation classes (train ids 0-18, 255 = ignore) and their official colours.
CITYSCAPES_CLASSES = (
    'road',
    'sidewalk',
    'building',
    'wall',
    'fence',
    'pole',
    'traffic_light',
    'traffic_sign',
    'vegetation',
    'terrain',
    'sky',
    'person',
    'rider',
    'car',
    'truck',
    'bus',
    'train',
    'motorcycle',
    'bicycle',
)
CITYSCAPES_COLORS = (
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
)


def default_palette(n: int) -> np.ndarray:
    """
    (n, 3) uint8 RGB colours, PASCAL VOC's scheme: the bits of the class id spread over R, G, B.

    Distinct for any n up to 2**24; class 0 is black, as in VOC's label images.
    """
    ids = np.arange(n, dtype=np.int64)
    palette = np.zeros((n, 3), dtype=np.int64)
    for shift in range(8):
        for channel in range(3):
            bit = (ids >> (3 * shift + channel)) & 1
            palette[:, channel] |= bit << (7 - shift)
    return palette.astype(np.uint8)


def colors_to_ids(rgb: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Class ids (H, W) int64 of a colour-coded (H, W, 3) RGB label image, and where a colour matched.

    ``palette`` is (N, 3) RGB, class i = row i. Pixels whose colour is not in the palette get id 0
    and ``False`` in the returned mask; the caller decides (training rejects the file, bag-eval
    ignores them). One sorted lookup for all classes, no per-class pass.
    """
    codes = (
        (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    )
    pal = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    pal_codes = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    order = np.argsort(pal_codes, kind='stable')  # a repeated colour maps to its first class
    pos = np.clip(np.searchsorted(pal_codes[order], codes), 0, len(order) - 1)
    ids = order[pos]
    known = pal_codes[ids] == codes
    return np.where(known, ids, 0), known
