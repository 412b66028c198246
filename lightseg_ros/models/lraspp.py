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
The peer: torchvision's LR-ASPP MobileNetV3-Large, as a registered model.

It is the model a user would pick instead of ours (Howard et al. 2019, in torchvision), and the
speed peer of every benchmark. Registered, it trains, exports, runs in the node and is scored by
the same tools and recipes as the papers' models, so accuracy and latency compare on one footing.
The network is torchvision's own, unchanged; this module only returns its logits as a tensor and
describes its two feature levels.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import _load_into, _read_state_dict, FeatureInfo, PretrainedWeightsError
from .registry import register_model

__all__ = ['LRASPPMobileNetV3']

NAME = 'lraspp_mobilenet_v3_large'


class LRASPPMobileNetV3(nn.Module):
    """
    torchvision's ``lraspp_mobilenet_v3_large``, returning the logits (not a dict).

    ``backbone`` is torchvision's (its levels ``low``, 40 channels at 1/8, and ``high``, 960 at
    1/16: a dilated last stage); ``net`` is the whole torchvision model.
    """

    def __init__(self, num_classes: int, pretrained_backbone: bool | str = False) -> None:
        super().__init__()
        from torchvision.models import MobileNet_V3_Large_Weights
        from torchvision.models.segmentation import lraspp_mobilenet_v3_large

        fetch = MobileNet_V3_Large_Weights.IMAGENET1K_V1 if pretrained_backbone is True else None
        try:
            self.net = lraspp_mobilenet_v3_large(
                weights=None, weights_backbone=fetch, num_classes=num_classes
            )
        except Exception as exc:  # noqa: BLE001 - network errors vary by platform
            if fetch is None:
                raise
            raise PretrainedWeightsError(
                "could not fetch torchvision's ImageNet MobileNetV3-Large weights (offline?): "
                f'{exc}. Pass pretrained_backbone=PATH to a local mobilenet_v3_large weights file '
                'instead.'
            ) from exc
        if pretrained_backbone and pretrained_backbone is not True:
            # an ImageNet classifier's file names the trunk 'features.N...'; the backbone is 'N...'
            state = {
                k.removeprefix('features.'): v
                for k, v in _read_state_dict(pretrained_backbone).items()
            }
            _load_into(
                self.net.backbone,
                state,
                str(pretrained_backbone),
                "torchvision's mobilenet_v3_large weights (its features.* tensors)",
            )
        self.net.backbone.feature_info = [FeatureInfo('low', 40, 8), FeatureInfo('high', 960, 16)]
        self.num_classes = num_classes

    @property
    def backbone(self) -> nn.Module:
        return self.net.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)['out']  # already resized to the input's height and width


@register_model(
    NAME,
    paper='Howard et al. 2019, Searching for MobileNetV3 (LR-ASPP); torchvision',
    output_strides=(16,),
    default_output_stride=16,
    description=(
        "torchvision's LR-ASPP MobileNetV3-Large, unchanged: the peer every benchmark compares "
        'against'
    ),
)
def lraspp_mobilenet_v3_large(
    *, num_classes: int, output_stride: int = 16, pretrained_backbone: bool | str = False
) -> LRASPPMobileNetV3:
    return LRASPPMobileNetV3(num_classes, pretrained_backbone)
