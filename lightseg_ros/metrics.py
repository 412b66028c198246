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
Segmentation metrics from a confusion matrix: mIoU, pixel accuracy, per-class IoU.

Shared by ``lightseg eval`` (training), ``lightseg bag-eval`` and the benchmarks, so every figure
the package reports is computed one way. Pixels labelled ``ignore_index`` (or any label outside
[0, num_classes)) are not counted. Classes absent from both prediction and ground truth have an
undefined IoU (NaN) and are left out of the mean, as in the usual VOC/Cityscapes evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ['ConfusionMatrix', 'SegmentationScores']


@dataclass
class SegmentationScores:
    miou: float
    pixel_accuracy: float
    mean_class_accuracy: float
    per_class_iou: list[float]  # NaN where the class is absent from prediction and ground truth
    confusion: list[list[int]]  # rows: ground truth, columns: prediction

    def as_dict(self, class_names: list[str] | None = None) -> dict:
        names = class_names or [str(i) for i in range(len(self.per_class_iou))]
        return {
            'miou': self.miou,
            'pixel_accuracy': self.pixel_accuracy,
            'mean_class_accuracy': self.mean_class_accuracy,
            'per_class_iou': {
                n: (None if np.isnan(v) else v) for n, v in zip(names, self.per_class_iou)
            },
            'confusion_matrix': self.confusion,
        }


class ConfusionMatrix:
    """Accumulates a (num_classes x num_classes) confusion matrix on the device of its inputs."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """
        ``pred`` and ``target``: integer class maps of the same shape (any batch layout).

        Tensors are counted on their device; numpy arrays (read-only message buffers included)
        with numpy, without copying them into tensors.
        """
        if pred.shape != target.shape:
            raise ValueError(
                f'prediction shape {tuple(pred.shape)} != label shape {tuple(target.shape)}'
            )
        n = self.num_classes
        if isinstance(pred, np.ndarray) and isinstance(target, np.ndarray):
            target = target.astype(np.int64, copy=False)
            valid = (target >= 0) & (target < n) & (target != self.ignore_index)
            index = target[valid] * n + np.clip(pred[valid].astype(np.int64, copy=False), 0, n - 1)
            counts = torch.from_numpy(np.bincount(index, minlength=n * n).reshape(n, n))
        else:
            pred = torch.as_tensor(pred)
            # int64 before comparing: torch compares a uint8 tensor with 256 in uint8 (wrapped)
            target = torch.as_tensor(target, device=pred.device).long()
            valid = (target >= 0) & (target < n) & (target != self.ignore_index)
            index = target[valid] * n + pred[valid].long().clamp(0, n - 1)
            counts = torch.bincount(index, minlength=n * n).reshape(n, n)
        self.matrix += counts.cpu()

    def merge(self, other: 'ConfusionMatrix') -> None:
        self.matrix += other.matrix

    def reset(self) -> None:
        self.matrix.zero_()

    def compute(self) -> SegmentationScores:
        m = self.matrix.double()
        tp = m.diag()
        gt = m.sum(1)
        union = gt + m.sum(0) - tp
        with np.errstate(invalid='ignore', divide='ignore'):
            iou = (tp / union).numpy()  # NaN where union == 0
            class_acc = (tp / gt).numpy()
        total = m.sum().item()
        return SegmentationScores(
            miou=float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
            pixel_accuracy=float(tp.sum().item() / total) if total else 0.0,
            mean_class_accuracy=float(np.nanmean(class_acc))
            if np.isfinite(class_acc).any()
            else 0.0,
            per_class_iou=[float(v) for v in iou],
            confusion=self.matrix.tolist(),
        )
