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

import math

from lightseg_ros.metrics import ConfusionMatrix
import numpy as np
import pytest


def test_scores_by_hand():
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 1]])
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(pred, target)
    s = cm.compute()
    # class 0: tp 1, gt 2, pred 2 -> 1/3; class 1: tp 3, gt 3, pred 4 -> 3/4;
    # class 2: tp 1, gt 2, pred 1 -> 1/2
    assert s.per_class_iou == pytest.approx([1 / 3, 3 / 4, 1 / 2])
    assert s.miou == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert s.pixel_accuracy == pytest.approx(5 / 7)
    assert s.confusion[0] == [1, 1, 0]


def test_absent_class_is_nan_and_left_out_of_the_mean():
    cm = ConfusionMatrix(3)
    cm.update(np.zeros((2, 2), int), np.zeros((2, 2), int))
    s = cm.compute()
    assert s.per_class_iou[0] == 1.0 and math.isnan(s.per_class_iou[1])
    assert s.miou == 1.0
    assert s.as_dict(['a', 'b', 'c'])['per_class_iou']['b'] is None


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match='shape'):
        ConfusionMatrix(2).update(np.zeros((2, 3), int), np.zeros((3, 2), int))


def test_numpy_and_torch_inputs_count_the_same():
    import torch

    rng = np.random.default_rng(0)
    pred, target = rng.integers(0, 4, (2, 9, 7)), rng.integers(0, 5, (2, 9, 7))
    target[0, 0, :3] = 255
    a, b = ConfusionMatrix(4), ConfusionMatrix(4)
    a.update(pred, target)
    b.update(torch.from_numpy(pred), torch.from_numpy(target))
    assert a.matrix.tolist() == b.matrix.tolist() and a.matrix.sum() < pred.size
    # uint8 labels with more than 255 classes, or an ignore index of 256: torch compared in uint8
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    for classes, ignore, counted in ((256, 255, 4), (4, 256, 4)):
        a, b = ConfusionMatrix(classes, ignore), ConfusionMatrix(classes, ignore)
        a.update(labels, labels)
        b.update(torch.from_numpy(labels), torch.from_numpy(labels))
        assert a.matrix.sum() == b.matrix.sum() == counted


def test_colors_to_ids_marks_unknown_colours():
    from lightseg_ros.classes import colors_to_ids

    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]])
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 0], [1, 2, 3]]], np.uint8)
    ids, known = colors_to_ids(rgb, palette)
    assert ids.tolist() == [[1, 2], [0, 0]] and known.tolist() == [[True, True], [True, False]]
