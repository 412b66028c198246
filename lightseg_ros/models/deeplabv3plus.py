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
DeepLabV3+ with a MobileNetV2 backbone: the baseline both papers compare against.

Chen et al., "Encoder-Decoder with Atrous Separable Convolution for Semantic Image Segmentation",
ECCV 2018. Layout and counting as the papers report it (counting rules: :mod:`.complexity`): ASPP
320->256 with rates 6/12/18 at output stride 16 (12/24/36 at 8), decoder with a 24->48 low-level
projection and two 3x3 convs at /4. 21 classes, OS16: 5,818,149 parameters, 52.85 GFLOPs at
512x512.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import MobileNetV2Backbone
from .base import SegmentationModel
from .blocks import ASPP, ConvBNReLU, resize_to
from .registry import register_model

__all__ = ['DeepLabV3PlusHead', 'deeplabv3plus_mobilenetv2', 'aspp_rates']


def aspp_rates(output_stride: int) -> tuple[int, int, int]:
    return (6, 12, 18) if output_stride == 16 else (12, 24, 36)


class DeepLabV3PlusHead(nn.Module):
    def __init__(
        self, high_channels: int, low_channels: int, output_stride: int, aspp_channels: int = 256
    ) -> None:
        super().__init__()
        self.aspp = ASPP(high_channels, aspp_channels, aspp_rates(output_stride))
        self.low_proj = ConvBNReLU(low_channels, 48, 1)
        self.fuse = nn.Sequential(
            ConvBNReLU(aspp_channels + 48, 256, 3),
            nn.Dropout(0.5),
            ConvBNReLU(256, 256, 3),
            nn.Dropout(0.1),
        )

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        low = self.low_proj(feats['c2'])
        high = resize_to(self.aspp(feats['c5']), low)
        return self.fuse(torch.cat([high, low], dim=1))


@register_model(
    'deeplabv3plus_mobilenetv2',
    paper='Chen et al., ECCV 2018 (baseline of Huo et al. 2023 and Liao et al. 2023)',
    output_strides=(8, 16),
    default_output_stride=16,
    description='DeepLabV3+ / MobileNetV2 baseline',
)
def deeplabv3plus_mobilenetv2(
    *, num_classes: int, output_stride: int = 16, pretrained_backbone: bool | str = False
) -> SegmentationModel:
    backbone = MobileNetV2Backbone(output_stride=output_stride, pretrained=pretrained_backbone)
    head = DeepLabV3PlusHead(backbone.channels('c5'), backbone.channels('c2'), output_stride)
    return SegmentationModel(backbone, head, 256, num_classes)
