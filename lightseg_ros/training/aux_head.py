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
A training-only auxiliary classifier on an intermediate backbone level (``train.aux_weight``).

PSPNet (Zhao et al., CVPR 2017) added a second cross-entropy on a mid-level feature map to give
the trunk a shorter path for its gradients; the head is dropped after training. Here it reads the
backbone's level through a forward hook, so the segmentation model, its weights file and the
deployed network stay exactly as they are: the head lives in the training checkpoints only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ['AuxiliaryHead']


class AuxiliaryHead(nn.Module):
    """
    3x3 conv, batch norm, ReLU, dropout and a 1x1 classifier on one level of ``model.backbone``.

    ``level`` names the level (``model.backbone.feature_info``); by default the one before the
    deepest (stride 16 for the MobileNetV2 and GhostNet trunks, stride 8 for LR-ASPP's). The
    level is captured only while the backbone is in training mode, so validation and the weight
    average never leave a tensor behind. :meth:`loss` consumes the captured level.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        *,
        level: str | None = None,
        channels: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        backbone = model.backbone
        levels = {f.name: f for f in backbone.feature_info}
        if level is None:
            level = backbone.feature_info[-2 if len(levels) > 1 else -1].name
        if level not in levels:
            raise ValueError(f'no backbone level {level!r}; the model has {", ".join(levels)}')
        self.level = level
        self.head = nn.Sequential(
            nn.Conv2d(levels[level].channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.Conv2d(channels, num_classes, 1),
        )
        self._features: torch.Tensor | None = None
        # a hook, not a wrapper: the model keeps its class, state dict and forward
        self._handle = backbone.register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, inputs: Any, output: dict[str, torch.Tensor]) -> None:
        if module.training:
            self._features = output[self.level]

    def forward(self, size: torch.Size | tuple[int, int]) -> torch.Tensor:
        """Classify the level captured by the last training forward pass, resized to ``size``."""
        if self._features is None:
            raise RuntimeError('the auxiliary head has no features: run the model in train mode')
        feats, self._features = self._features, None
        return F.interpolate(self.head(feats), size=size, mode='bilinear', align_corners=False)

    def detach(self) -> None:
        """Remove the hook from the backbone."""
        self._handle.remove()
        self._features = None
