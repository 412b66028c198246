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
GhostNet + L-ASPP + dual attention + multi-scale splicing (paper B).

Liao, Yan and Liu, "Lightweight Semantic segmentation method based on GhostNet and Atrous Spatial
Pyramid Pooling", J. Phys.: Conf. Ser. 2477 012080 (2023). Reported: 2.78M parameters and
1.931 GFLOPs at 512x512 with 21 classes; 72.13 mIoU on PASCAL VOC 2012 val.

Choices where the paper is silent:

* Backbone taps /8 (blocks[4], 40ch), /16 (blocks[6], 112ch), /32 (blocks[8], 160ch) of timm's
  ``ghostnet_100``, which reproduces the paper's parameter budget (stem + blocks 0-8: about 2.52M
  of the reported 2.78M).
* L-ASPP: 160 -> 128 channels with depthwise-separable atrous branches; rates are DeepLab's
  6/12/18 at output stride 16, scaled with the stride (3/6/9 at 32, the default).
* Dual attention on the L-ASPP output: DANet position attention (query/key to C/8) and channel
  attention, applied in parallel and summed as in DANet.
* Multi-scale splicing (U-Net style): upsample, concatenate the backbone level, then at /16 a 1x1
  fuse plus a depthwise-separable 3x3 (-> 64), at /8 a 3x3 conv-BN-ReLU (-> 48). These widths
  land on the paper's budget: 2.795M parameters and 1.948 GFLOPs (21 classes, 512x512).
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import GhostNetBackbone
from .base import SegmentationModel
from .blocks import (
    ASPP,
    ChannelAttention,
    ConvBNReLU,
    PositionAttention,
    resize_to,
    SeparableConvBNReLU,
)
from .registry import register_model

__all__ = ['DualAttention', 'GhostASPPDAHead', 'ghostnet_aspp_da']


class DualAttention(nn.Module):
    """Position attention plus channel attention over the same features (their sum)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.position = PositionAttention(channels)
        self.channel = ChannelAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.position(x) + self.channel(x)


class GhostASPPDAHead(nn.Module):
    def __init__(
        self,
        c3: int,
        c4: int,
        c5: int,
        output_stride: int,
        *,
        aspp: int = 128,
        mid: int = 64,
        out: int = 48,
    ) -> None:
        super().__init__()
        rates = tuple(r * 16 // output_stride for r in (6, 12, 18))
        self.aspp = ASPP(c5, aspp, rates, separable=True)
        self.attention = DualAttention(aspp)
        self.splice16 = nn.Sequential(
            ConvBNReLU(aspp + c4, mid, 1), SeparableConvBNReLU(mid, mid, 3)
        )
        self.splice8 = ConvBNReLU(mid + c3, out, 3)
        self.out_channels = out

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.attention(self.aspp(feats['c5']))
        x = self.splice16(torch.cat([resize_to(x, feats['c4']), feats['c4']], dim=1))
        return self.splice8(torch.cat([resize_to(x, feats['c3']), feats['c3']], dim=1))


@register_model(
    'ghostnet_aspp_da',
    paper='Liao et al. 2023, GhostNet + ASPP + Dual Attention (paper B)',
    output_strides=(16, 32),
    default_output_stride=32,
    description=(
        'GhostNet 1.0x + depthwise-separable ASPP + position/channel attention + multi-scale '
        'splicing'
    ),
)
def ghostnet_aspp_da(
    *, num_classes: int, output_stride: int = 32, pretrained_backbone: bool | str = False
) -> SegmentationModel:
    backbone = GhostNetBackbone(output_stride=output_stride, pretrained=pretrained_backbone)
    head = GhostASPPDAHead(
        backbone.channels('c3'), backbone.channels('c4'), backbone.channels('c5'), output_stride
    )
    return SegmentationModel(backbone, head, head.out_channels, num_classes)
