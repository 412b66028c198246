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
Colour masks and overlays, vectorised.

A palette lookup table and one blend, no per-pixel Python.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

__all__ = ['palette_lut', 'colorize', 'overlay']


def palette_lut(palette: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """(256, 3) uint8 lookup table from an (N, 3) RGB palette; ids >= N map to black."""
    colors = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if len(colors) > 256:
        raise ValueError(f'a uint8 mask holds at most 256 classes; palette has {len(colors)}')
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(colors)] = colors
    return lut


def colorize(mask: np.ndarray, palette: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """
    (H, W) uint8 class ids -> (H, W, 3) uint8 RGB, one table lookup.

    ``palette`` is (N, 3) RGB (or an already built 256-entry table from :func:`palette_lut`).
    """
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f'mask must be (H, W) uint8, got {mask.shape} {mask.dtype}')
    lut = (
        palette
        if isinstance(palette, np.ndarray)
        and palette.shape == (256, 3)
        and palette.dtype == np.uint8
        else palette_lut(palette)
    )
    if mask.size == 0:
        return lut[mask]
    # OpenCV's per-channel table on the mask copied to three channels: 0.8 ms at 640x480 on the
    # development machine, where numpy's lut[mask] (a gather of 3-byte rows) took 4.5 ms and
    # np.take 1.3 ms; the node colours every frame for color_mask and overlay
    m = np.ascontiguousarray(mask)
    return cv2.LUT(cv2.merge((m, m, m)), lut.reshape(256, 1, 3))


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray | Sequence[Sequence[int]],
    alpha: float = 0.5,
    *,
    color_mask: np.ndarray | None = None,
) -> np.ndarray:
    """
    Alpha-blend the colour mask over ``image``.

    The result is ``(1 - alpha) * image + alpha * colour``, uint8 RGB.
    ``color_mask`` may be passed when already computed (saves one lookup).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    if image.shape[:2] != mask.shape[:2] or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image {image.shape} and mask {mask.shape} must be (H, W, 3) and (H, W)')
    colors = colorize(mask, palette) if color_mask is None else color_mask
    return cv2.addWeighted(np.ascontiguousarray(image), 1.0 - alpha, colors, alpha, 0.0)
