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
Multi-level feature fusion on MobileNetV2 (paper A).

Huo, Wang, Liu and Li, "Lightweight Semantic Segmentation Algorithm Based on Multi-level Feature
Fusion" (2023). DeepLabV3+/MobileNetV2 whose decoder takes low-level features from two backbone
stages, each passed through a Feature Enhancement (FE) module, and is trained with CE + Dice.

Choices where the paper is silent (its figures are not available):

* The two stages are /4 (24ch, ``c2``) and /8 (32ch, ``c3``).
* FE: local branch = 3x3 conv-BN-ReLU (same width) then 1x1 conv-BN-ReLU to 48 channels; global
  branch = global average pooling -> 1x1 conv -> sigmoid, a per-channel gate over those 48
  channels. Fusion is ``local * gate + local`` (a residual gate), so the global position
  information re-weights the local detail without ever erasing it.
* The /8 enhanced features are resized to /4; [ASPP output, FE(/4), FE(/8)] are concatenated
  (256 + 48 + 48 channels) and refined by two 3x3 conv-BN-ReLU layers of 256 as in DeepLabV3+.
* ``feature_enhancement=False`` replaces each FE by the baseline's plain 1x1 projection to 48
  channels and keeps the /8 level: FE alone is switched off. Paper A's rows without FE are the
  plain DeepLabV3+ baseline, which has no /8 level either (``deeplabv3plus_mobilenetv2``).
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import MobileNetV2Backbone
from .base import SegmentationModel
from .blocks import ASPP, ConvBNReLU, resize_to
from .deeplabv3plus import aspp_rates
from .registry import register_model

__all__ = ['FeatureEnhancement', 'MLFFHead', 'mlff_mobilenetv2']


class FeatureEnhancement(nn.Module):
    """Paper A's FE module: local edge detail (3x3 then 1x1) gated by global context (GAP)."""

    def __init__(self, cin: int, cout: int = 48) -> None:
        super().__init__()
        self.local = nn.Sequential(ConvBNReLU(cin, cin, 3), ConvBNReLU(cin, cout, 1))
        self.context = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.local(x)
        return local * self.context(x) + local


class MLFFHead(nn.Module):
    def __init__(
        self, high: int, low2: int, low3: int, output_stride: int, *, feature_enhancement: bool
    ) -> None:
        super().__init__()
        self.aspp = ASPP(high, 256, aspp_rates(output_stride))
        make = FeatureEnhancement if feature_enhancement else (lambda c: ConvBNReLU(c, 48, 1))
        self.enhance2 = make(low2)
        self.enhance3 = make(low3)
        self.fuse = nn.Sequential(
            ConvBNReLU(256 + 48 + 48, 256, 3),
            nn.Dropout(0.5),
            ConvBNReLU(256, 256, 3),
            nn.Dropout(0.1),
        )

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        low2 = self.enhance2(feats['c2'])
        low3 = resize_to(self.enhance3(feats['c3']), low2)
        high = resize_to(self.aspp(feats['c5']), low2)
        return self.fuse(torch.cat([high, low2, low3], dim=1))


@register_model(
    'mlff_mobilenetv2',
    paper='Huo et al. 2023, Multi-level Feature Fusion (paper A)',
    output_strides=(8, 16),
    default_output_stride=16,
    description=(
        'MobileNetV2 + ASPP + Feature Enhancement on /4 and /8 + multi-level fusion (train with '
        'CE+Dice)'
    ),
)
def mlff_mobilenetv2(
    *,
    num_classes: int,
    output_stride: int = 16,
    pretrained_backbone: bool | str = False,
    feature_enhancement: bool = True,
) -> SegmentationModel:
    backbone = MobileNetV2Backbone(output_stride=output_stride, pretrained=pretrained_backbone)
    head = MLFFHead(
        backbone.channels('c5'),
        backbone.channels('c2'),
        backbone.channels('c3'),
        output_stride,
        feature_enhancement=feature_enhancement,
    )
    return SegmentationModel(backbone, head, 256, num_classes)
