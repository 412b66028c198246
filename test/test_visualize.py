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

"""Colour masks and overlays."""

from lightseg_ros.inference import colorize, overlay, palette_lut
import numpy as np
import pytest

PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def test_colorize_looks_up_the_palette():
    mask = np.array([[0, 1], [2, 7]], np.uint8)
    out = colorize(mask, PALETTE)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [255, 0, 0] and out[1, 0].tolist() == [0, 0, 255]
    assert out[1, 1].tolist() == [0, 0, 0]  # beyond the palette: black
    assert np.array_equal(colorize(mask, palette_lut(PALETTE)), out)


@pytest.mark.parametrize('shape', [(1, 1), (3, 7), (480, 640), (0, 5)])
def test_colorize_equals_the_table_row_of_every_id_for_any_layout(shape):
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (200, 3), dtype=np.uint8)  # ids 200-255 map to black
    lut = palette_lut(palette)
    mask = rng.integers(0, 256, shape, dtype=np.uint8)
    got = colorize(mask, palette)
    assert got.shape == (*shape, 3) and got.dtype == np.uint8
    assert np.array_equal(got, lut[mask])
    strided = rng.integers(0, 256, (shape[0], 2 * shape[1]), dtype=np.uint8)[:, ::2]
    assert np.array_equal(colorize(strided, lut), lut[strided])  # a view, not contiguous


def test_overlay_blends():
    image = np.full((2, 3, 3), 100, np.uint8)
    mask = np.zeros((2, 3), np.uint8)
    assert np.array_equal(overlay(image, mask, PALETTE, 0.0), image)
    assert overlay(image, mask, PALETTE, 1.0)[0, 0].tolist() == [255, 0, 0]
    assert overlay(image, mask, PALETTE, 0.5)[0, 0].tolist() == [178, 50, 50]


def test_overlay_rejects_bad_alpha_and_shapes():
    image = np.zeros((2, 3, 3), np.uint8)
    with pytest.raises(ValueError, match='alpha'):
        overlay(image, np.zeros((2, 3), np.uint8), PALETTE, 1.5)
    with pytest.raises(ValueError):
        overlay(image, np.zeros((3, 3), np.uint8), PALETTE, 0.5)
    with pytest.raises(ValueError, match='256'):
        palette_lut(np.zeros((300, 3)))
