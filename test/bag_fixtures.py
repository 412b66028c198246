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

"""Small image/label folders and bags made by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_dataset(
    root: Path,
    n: int = 4,
    size: tuple[int, int] = (48, 64),
    num_classes: int = 3,
    unlabelled: tuple[int, ...] = (),
) -> tuple[Path, Path]:
    """
    Write ``n`` RGB images with class-id labels (left/right halves and a square).

    Some images have no label.
    """
    images, labels = root / 'images', root / 'labels'
    images.mkdir(parents=True)
    labels.mkdir()
    rng = np.random.default_rng(0)
    h, w = size
    for i in range(n):
        label = np.zeros((h, w), np.uint8)
        half_h, half_w, quarter_h, quarter_w = h // 2, w // 2, h // 4, w // 4
        label[:, half_w:] = 1
        label[quarter_h:half_h, quarter_w:half_w] = 2 % num_classes
        label[0, 0] = 255  # an ignored pixel
        rgb = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(images / f'frame_{i:03d}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if i not in unlabelled:
            cv2.imwrite(str(labels / f'frame_{i:03d}.png'), label)
    return images, labels
