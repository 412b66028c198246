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
The shared shell of every model.

Backbone -> decode head -> classifier -> logits at input size.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .backbones import Backbone

__all__ = ['SegmentationModel']


class SegmentationModel(nn.Module):
    """
    Owns the classifier and the final upsampling, so heads only map features to features.

    ``head(features: dict) -> Tensor`` with ``head_channels`` channels at any resolution; the
    classifier is a 1x1 conv, and logits are bilinearly resized to the input's height and width
    (any size works: 360x480, 361x479, 64x64).
    """

    def __init__(
        self, backbone: Backbone, head: nn.Module, head_channels: int, num_classes: int
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.classifier = nn.Conv2d(head_channels, num_classes, 1)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        logits = self.classifier(self.head(self.backbone(x)))
        return F.interpolate(logits, size=size, mode='bilinear', align_corners=False)
