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

from lightseg_ros.models import build_model, list_models
from lightseg_ros.training.aux_head import AuxiliaryHead
import pytest
import torch

# the level before the deepest: stride 16 in the MobileNetV2 and GhostNet trunks, 8 in LR-ASPP's
LEVELS = {
    'ghostnet_aspp_da': ('c4', 112),
    'mlff_mobilenetv2': ('c4', 96),
    'deeplabv3plus_mobilenetv2': ('c4', 96),
    'lraspp_mobilenet_v3_large': ('low', 40),
}


def test_every_registered_model_has_a_level_for_the_head():
    assert set(list_models()) == set(LEVELS)


@pytest.mark.parametrize('name', sorted(LEVELS))
def test_the_head_reads_the_training_pass_and_trains_the_trunk(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).train()
    keys = set(model.state_dict())
    aux = AuxiliaryHead(model, 3)
    assert (aux.level, aux.head[0].in_channels) == LEVELS[name]
    assert set(model.state_dict()) == keys  # the model's weights are untouched by the head
    x = torch.randn(2, 3, 64, 96)
    model(x)
    logits = aux(x.shape[-2:])
    assert logits.shape == (2, 3, 64, 96)
    logits.square().mean().backward()
    stem = next(p for p in model.backbone.parameters() if p.ndim == 4)
    assert stem.grad is not None and stem.grad.abs().sum() > 0  # the trunk learns from it
    with pytest.raises(RuntimeError, match='no features'):
        aux(x.shape[-2:])  # each training pass feeds the head once
    model.eval()
    with torch.no_grad():
        model(x)
    with pytest.raises(RuntimeError, match='no features'):
        aux(x.shape[-2:])  # evaluation passes leave nothing behind
    aux.detach()
    model.train()(x)
    assert aux._features is None


def test_an_unknown_level_names_the_levels_there_are():
    model = build_model('ghostnet_aspp_da', num_classes=3)
    with pytest.raises(ValueError, match="no backbone level 'c9'; the model has c3, c4, c5"):
        AuxiliaryHead(model, 3, level='c9')
