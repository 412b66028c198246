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
Building blocks shared by the heads: conv-BN-ReLU, (separable) ASPP, dual attention.

ASPP follows DeepLabV3+ (Chen et al., ECCV 2018); the separable variant is the L-ASPP of Liao et
al. 2023; position and channel attention follow DANet (Fu et al., CVPR 2019).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = [
    'ConvBNReLU',
    'SeparableConvBNReLU',
    'ASPP',
    'PositionAttention',
    'ChannelAttention',
    'resize_to',
]


def resize_to(x: torch.Tensor, ref: torch.Tensor | tuple[int, int]) -> torch.Tensor:
    size = ref if isinstance(ref, tuple) else ref.shape[-2:]
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


class ConvBNReLU(nn.Sequential):
    """Conv (with bias, as in the public DeepLabV3+ code the papers count) + BN + ReLU."""

    def __init__(
        self, cin: int, cout: int, kernel_size: int = 1, dilation: int = 1, *, bias: bool = True
    ) -> None:
        pad = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(cin, cout, kernel_size, padding=pad, dilation=dilation, bias=bias),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class SeparableConvBNReLU(nn.Sequential):
    """Depthwise (dilated) 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, dilation: int = 1) -> None:
        pad = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(
                cin, cin, kernel_size, padding=pad, dilation=dilation, groups=cin, bias=False
            ),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class _ImagePool(nn.Module):
    """ASPP's image-level branch: global average pool, 1x1 conv, spread back over the map."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = ConvBNReLU(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.proj(F.adaptive_avg_pool2d(x, 1))
        return pooled.expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    """
    Atrous spatial pyramid pooling.

    1x1, three atrous 3x3 and an image-pooling branch, fused by 1x1.
    ``separable=True`` gives L-ASPP (depthwise-separable atrous branches).
    """

    def __init__(
        self, cin: int, cout: int, rates: tuple[int, int, int], *, separable: bool = False
    ) -> None:
        super().__init__()
        atrous = SeparableConvBNReLU if separable else ConvBNReLU
        self.branches = nn.ModuleList(
            [ConvBNReLU(cin, cout, 1)]
            + [atrous(cin, cout, 3, dilation=r) for r in rates]
            + [_ImagePool(cin, cout)]
        )
        self.project = ConvBNReLU(cout * 5, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.branches], dim=1))


class PositionAttention(nn.Module):
    """DANet position attention: each position attends to all positions (softmax over H*W)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, channels // reduction, 1)
        self.key = nn.Conv2d(channels, channels // reduction, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))  # starts as identity

    #: the most elements of the N x N affinity matrix held at once, per image (64 MiB in float32).
    #: Up to it (N <= 4096: a 2048x2048 input at output stride 32) the matrix is made whole;
    #: beyond it the queries go in row blocks, whose softmax rows are independent, so that memory
    #: grows with N rather than N^2 (N = 16384 at output stride 16 would need 1 GiB twice over)
    max_affinity_elements = 1 << 24

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h * w
        q = self.query(x).flatten(2).transpose(1, 2)  # B, N, C'
        k = self.key(x).flatten(2)  # B, C', N
        v = self.value(x).flatten(2)  # B, C, N
        rows = max(1, self.max_affinity_elements // n)
        if rows >= n:
            attn = torch.softmax(torch.bmm(q, k), dim=-1)  # B, N, N
            out = torch.bmm(v, attn.transpose(1, 2))
        else:
            out = torch.cat(
                [
                    torch.bmm(v, torch.softmax(torch.bmm(q[:, i:i + rows], k), dim=-1).mT)
                    for i in range(0, n, rows)
                ],
                dim=2,
            )
        return self.gamma * out.view(b, c, h, w) + x


class ChannelAttention(nn.Module):
    """DANet channel attention: channel affinities X X^T, sharpened as max - energy, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.flatten(2)  # B, C, N
        energy = torch.bmm(flat, flat.transpose(1, 2))  # B, C, C
        energy = energy.amax(dim=-1, keepdim=True) - energy
        attn = torch.softmax(energy, dim=-1)
        out = torch.bmm(attn, flat).view(b, c, h, w)
        return self.gamma * out + x
