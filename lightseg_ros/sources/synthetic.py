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
A procedural street scene (sky, buildings, trees, road, pavement, cars, poles) with its label mask.

Lets the node, the demo and tests run on a fresh machine with no data. Labels use CamVid's 11
classes (:data:`lightseg_ros.classes.CAMVID_CLASSES`); colours follow CamVid loosely but with
texture noise, so the image is not just the palette.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..classes import CAMVID_CLASSES

__all__ = ['road_scene']

_ID = {name: i for i, name in enumerate(CAMVID_CLASSES)}


def road_scene(
    width: int = 640, height: int = 480, t: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """
    (RGB image (H, W, 3) uint8, label mask (H, W) uint8) of a street at time ``t`` seconds.

    ``seed`` fixes the layout (buildings, trees); ``t`` moves the cars and the lane markings.
    """
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    lab = np.zeros((height, width), np.uint8)
    horizon = int(height * 0.45)

    def fill(poly_or_rect, color, cls, shape='poly'):
        if shape == 'rect':
            x0, y0, x1, y1 = (int(v) for v in poly_or_rect)
            cv2.rectangle(img, (x0, y0), (x1, y1), color, -1)
            cv2.rectangle(lab, (x0, y0), (x1, y1), _ID[cls], -1)
        else:
            pts = np.asarray(poly_or_rect, np.int32)
            cv2.fillPoly(img, [pts], color)
            cv2.fillPoly(lab, [pts], _ID[cls])

    # sky: a pale overcast gradient, as in CamVid's Cambridge footage (a saturated blue sky is
    # outside what the shipped CamVid weights saw, and they label it road)
    ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None]
    img[:horizon] = (np.array([200, 205, 215]) * (1 - ramp) + np.array([235, 235, 240]) * ramp)[
        :, None, :
    ]
    lab[:horizon] = _ID['sky']
    # buildings along the horizon, with windows
    x = 0
    while x < width:
        w = int(rng.integers(width // 10, width // 5))
        top = int(horizon - rng.integers(height // 8, height // 3))
        shade = int(rng.integers(90, 170))
        fill(
            (x, top, x + w, horizon + height // 20),
            (shade, shade - 30, shade - 40),
            'building',
            'rect',
        )
        for wy in range(top + 8, horizon, 18):
            for wx in range(x + 6, x + w - 10, 16):
                cv2.rectangle(img, (wx, wy), (wx + 7, wy + 9), (60, 70, 90), -1)
        x += w
    # ground: pavement then road (a trapezoid vanishing at the horizon)
    fill(
        (
            (0, horizon + height // 20),
            (width, horizon + height // 20),
            (width, height),
            (0, height),
        ),
        (150, 150, 165),
        'pavement',
    )
    mid = width // 2
    fill(
        (
            (mid - width // 12, horizon + height // 20),
            (mid + width // 12, horizon + height // 20),
            (width + width // 4, height),
            (-width // 4, height),
        ),
        (105, 100, 110),
        'road',
    )
    # lane markings moving towards the viewer
    for k in range(6):
        s = ((k + (t * 1.5) % 1.0) / 6.0) ** 2
        y = int(horizon + height // 20 + s * (height - horizon))
        cv2.rectangle(
            img,
            (mid - 2 - int(6 * s), y),
            (mid + 2 + int(6 * s), y + int(4 + 20 * s)),
            (230, 230, 230),
            -1,
        )
    # trees and poles on the pavement
    for side in (-1, 1):
        for k in range(2):
            cx = int(mid + side * width * (0.3 + 0.15 * k))
            base = int(horizon + height * (0.12 + 0.1 * k))
            fill((cx - 2, base - height // 5, cx + 2, base), (170, 170, 140), 'pole', 'rect')
            r = int(height * (0.05 + 0.03 * k))
            cv2.circle(img, (cx + side * r * 2, base - height // 5), r, (70, 120, 40), -1)
            cv2.circle(lab, (cx + side * r * 2, base - height // 5), r, _ID['tree'], -1)
    # cars: boxes with wheels, driving along the road
    for k, (lane, speed, color) in enumerate(
        ((-1, 0.12, (180, 30, 40)), (1, -0.08, (40, 60, 170)))
    ):
        s = 0.35 + 0.5 * ((k * 0.37 + t * abs(speed)) % 1.0)
        cy = int(horizon + height // 20 + s * (height - horizon) * 0.8)
        cw, ch = int(width * 0.25 * s), int(height * 0.12 * s)
        cx = int(mid + lane * width * 0.18 * s * 2)
        fill((cx - cw // 2, cy - ch, cx + cw // 2, cy), color, 'car', 'rect')
        fill(
            (cx - cw // 3, cy - ch - ch // 2, cx + cw // 3, cy - ch),
            tuple(int(c * 0.7) for c in color),
            'car',
            'rect',
        )
        for wx in (cx - cw // 3, cx + cw // 3):
            cv2.circle(img, (wx, cy), max(2, ch // 4), (20, 20, 20), -1)
            cv2.circle(lab, (wx, cy), max(2, ch // 4), _ID['car'], -1)
    noise = np.random.default_rng(seed + int(t * 1000)).integers(-6, 7, img.shape, dtype=np.int16)
    img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return img, lab
