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
Training and evaluation transforms, paper B's augmentation on torchvision.transforms.v2.

Liao et al. 2023 (GhostNet + L-ASPP + DA) train with random scale and aspect distortion, gray (128)
padding, horizontal flip and Gaussian blur on 512x512 crops; the public code they follow adds HSV
jitter. Images are ``tv_tensors.Image`` (uint8) and masks ``tv_tensors.Mask``, so each v2 transform
treats them correctly: masks are resized with nearest neighbour, padded with the ignore index, and
left alone by blur and colour jitter.

All randomness comes from torch's global generator; the dataset runs each sample's transform under
its own seed (``dataset[(index, seed)]``), so a run is reproducible whatever the number of workers.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

__all__ = [
    'RandomScaleAspect',
    'PairCompose',
    'resize_labels',
    'train_transform',
    'eval_transform',
]


class RandomScaleAspect:
    """
    Resize by a random scale in ``scale`` and distort the aspect ratio.

    Width/height is multiplied by ``exp(U(-log(1 + aspect), log(1 + aspect)))``. Masks use nearest
    neighbour.
    """

    def __init__(self, scale: Sequence[float] = (0.5, 2.0), aspect: float = 0.3) -> None:
        self.scale = (float(scale[0]), float(scale[1]))
        self.log_aspect = math.log1p(float(aspect))

    def __call__(
        self, image: tv_tensors.Image, mask: tv_tensors.Mask
    ) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        s = torch.empty(1).uniform_(*self.scale).item()
        a = (
            math.exp(torch.empty(1).uniform_(-self.log_aspect, self.log_aspect).item())
            if self.log_aspect
            else 1.0
        )
        h, w = image.shape[-2:]
        size = [max(1, round(h * s / math.sqrt(a))), max(1, round(w * s * math.sqrt(a)))]
        return F.resize(image, size, antialias=True), resize_labels(mask, size)


def resize_labels(mask: torch.Tensor, size: Sequence[int]) -> tv_tensors.Mask:
    """
    Resize a label mask (..., H, W) to ``size`` by the label at each output pixel's centre.

    Pixel centres, as the image's bilinear resize samples: plain nearest takes the top-left corner
    and moved labels up and left of their pixels by about half a pixel. Written out as indexing
    (any integer dtype) because torchvision ignored ``NEAREST_EXACT`` for masks before 0.29, and
    ``interpolate``'s nearest-exact takes uint8 only.
    """
    h, w = mask.shape[-2:]
    out_h, out_w = int(size[0]), int(size[1])

    def centres(n_out: int, n_in: int) -> torch.Tensor:
        return ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out)).long()

    rows, cols = centres(out_h, h).clamp_(max=h - 1), centres(out_w, w).clamp_(max=w - 1)
    return tv_tensors.Mask(mask[..., rows[:, None], cols[None, :]])


class PairCompose:
    """Apply callables that take and return ``(image, mask)`` in turn (v2 transforms qualify)."""

    def __init__(self, transforms: Sequence[Any]) -> None:
        self.transforms = list(transforms)

    def __call__(
        self, image: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for t in self.transforms:
            image, mask = t(image, mask)
        return image, mask

    def __repr__(self) -> str:
        return 'PairCompose(' + ', '.join(repr(t) for t in self.transforms) + ')'


def _to_tensor(mean: Sequence[float], std: Sequence[float]) -> list[Any]:
    return [
        v2.ToDtype(
            {tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, 'others': None},
            scale=True,
        ),
        v2.Normalize(mean=list(mean), std=list(std)),
    ]


def train_transform(
    crop_size: Sequence[int],
    ignore_index: int,
    *,
    scale: Sequence[float] = (0.5, 2.0),
    aspect: float = 0.3,
    hflip: float = 0.5,
    blur: float = 0.25,
    blur_sigma: Sequence[float] = (0.1, 2.0),
    hue: float = 0.1,
    saturation: float = 0.7,
    value: float = 0.3,
    pad_value: int = 128,
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
) -> PairCompose:
    """
    Paper B's training augmentation ending in a normalised float image and an int64 mask.

    Order: scale + aspect distortion, gray padding (``pad_value``; mask padded with
    ``ignore_index``) and random crop to ``crop_size`` [H, W], horizontal flip, Gaussian blur, HSV
    jitter, normalise.
    """
    crop = [int(crop_size[0]), int(crop_size[1])]
    fill = {tv_tensors.Image: pad_value, tv_tensors.Mask: ignore_index}
    steps: list[Any] = [
        RandomScaleAspect(scale, aspect),
        v2.RandomCrop(crop, pad_if_needed=True, fill=fill, padding_mode='constant'),
    ]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if blur > 0:
        steps.append(v2.RandomApply([v2.GaussianBlur(5, sigma=tuple(blur_sigma))], p=blur))
    if hue or saturation or value:
        steps.append(
            v2.ColorJitter(
                brightness=value or None, saturation=saturation or None, hue=hue or None
            )
        )
    return PairCompose(steps + _to_tensor(mean, std))


def eval_transform(
    mean: Sequence[float] = (0.485, 0.456, 0.406), std: Sequence[float] = (0.229, 0.224, 0.225)
) -> PairCompose:
    """Native resolution: only conversion to float and normalisation."""
    return PairCompose(_to_tensor(mean, std))
