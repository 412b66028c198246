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
Tiny generated datasets in each supported layout (tests never read real data).

Images show a noisy background (class 0), an axis-aligned rectangle (class 1) and a disk (class 2),
each in its own colour, so a small model can overfit them quickly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASS_COLORS = [(40, 40, 40), (220, 40, 40), (40, 200, 60)]


def make_sample(
    rng: np.random.Generator, size: tuple[int, int] = (64, 64)
) -> tuple[np.ndarray, np.ndarray]:
    h, w = size
    mask = np.zeros((h, w), np.uint8)
    y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    y1, x1 = y0 + h // 3, x0 + w // 3
    mask[y0:y1, x0:x1] = 1
    cy, cx, r = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4), min(h, w) // 6
    yy, xx = np.mgrid[:h, :w]
    mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2
    image = np.array(CLASS_COLORS, np.float32)[mask] + rng.normal(0, 12, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def _save(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    image_path.parent.mkdir(parents=True, exist_ok=True)
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(image_path)
    Image.fromarray(mask).save(mask_path)


def make_camvid(
    root: Path, n: int = 8, size=(64, 64), seed: int = 0, splits=('train', 'val')
) -> Path:
    """
    Write the CamVid layout: {split}/NAME.png, {split}annot/NAME.png, {split}.txt.

    Corner pixel = 11 (ignore).
    """
    rng = np.random.default_rng(seed)
    for split in splits:
        names = []
        for i in range(n):
            image, mask = make_sample(rng, size)
            mask[0, 0] = 11
            name = f'seq_{i:04d}.png'
            _save(image, mask, root / split / name, root / f'{split}annot' / name)
            names.append(name)
        (root / f'{split}.txt').write_text('\n'.join(names) + '\n')
    return root


def make_voc(root: Path, n: int = 4, size=(64, 64), seed: int = 0, aug: bool = False) -> Path:
    """
    Write the VOC2012 layout (palette PNG masks, 255 borders).

    With ``aug`` the SBD SegmentationClassAug layout.
    """
    rng = np.random.default_rng(seed)
    mask_dir = 'SegmentationClassAug' if aug else 'SegmentationClass'
    lists = {'train_aug' if aug else 'train': [], 'val': []}
    for split in lists:
        for i in range(n):
            image, mask = make_sample(rng, size)
            mask[-1, :] = 255
            name = f'2007_{split}_{i:04d}'
            (root / 'JPEGImages').mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / 'JPEGImages' / f'{name}.jpg', quality=95)
            (root / mask_dir).mkdir(parents=True, exist_ok=True)
            m = Image.fromarray(mask, mode='P')
            m.putpalette([v for c in CLASS_COLORS for v in c] + [0] * (256 * 3 - 9))
            m.save(root / mask_dir / f'{name}.png')
            lists[split].append(name)
    seg = root / 'ImageSets' / 'Segmentation'
    seg.mkdir(parents=True, exist_ok=True)
    for split, names in lists.items():
        (seg / f'{split}.txt').write_text('\n'.join(names) + '\n')
    return root


def make_cityscapes(root: Path, n: int = 2, size=(64, 128), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split in ('train', 'val'):
        for i in range(n):
            image, mask = make_sample(rng, size)
            stem = f'aachen_{i:06d}_000019'
            _save(
                image,
                mask,
                root / 'leftImg8bit' / split / 'aachen' / f'{stem}_leftImg8bit.png',
                root / 'gtFine' / split / 'aachen' / f'{stem}_gtFine_labelTrainIds.png',
            )
    return root


def make_folder(
    root: Path,
    n: int = 4,
    size=(64, 64),
    seed: int = 0,
    classes: str = 'yaml',
    rgb_masks: bool = False,
) -> Path:
    """
    Write the generic layout.

    images/{split}/, masks/{split}/ and classes.yaml (or classes.txt).
    """
    rng = np.random.default_rng(seed)
    for split in ('train', 'val'):
        for i in range(n):
            image, mask = make_sample(rng, size)
            if rgb_masks:
                mask = np.array(CLASS_COLORS, np.uint8)[mask]
            _save(
                image,
                mask,
                root / 'images' / split / f'img{i}.jpg',
                root / 'masks' / split / f'img{i}.png',
            )
    names = ['background', 'box', 'disk']
    if classes == 'yaml':
        body = 'classes:\n' + ''.join(
            f'  - {{name: {n}, color: [{c[0]}, {c[1]}, {c[2]}]}}\n'
            for n, c in zip(names, CLASS_COLORS)
        )
        (root / 'classes.yaml').write_text(body + 'ignore_index: 255\n')
    else:
        (root / 'classes.txt').write_text(
            ''.join(f'{n} {c[0]} {c[1]} {c[2]}\n' for n, c in zip(names, CLASS_COLORS))
        )
    return root
