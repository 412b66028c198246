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


"""Batch norms folded into their convolutions (lightseg_ros/models/fusion.py)."""

from lightseg_ros.inference.backends import TorchBackend
from lightseg_ros.models import build_model, list_models
from lightseg_ros.models.fusion import fold_batchnorms
import torch
from torch import nn


def trained_looking(model: nn.Module) -> nn.Module:
    """Give every batch norm statistics and an affine transform away from the identity."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return model.eval()


def test_every_batch_norm_of_every_model_folds_and_the_outputs_stay():
    torch.manual_seed(0)
    for name in list_models():
        model = trained_looking(build_model(name, num_classes=5))
        count = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        folded, n = fold_batchnorms(model, torch.randn(1, 3, 64, 64))
        assert n == count > 0, name
        assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules()), name
        assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # a copy was folded
        x = torch.randn(1, 3, 72, 88)  # another size than the one that found the pairs
        with torch.no_grad():
            a, b = model(x), folded(x)
        assert torch.allclose(a, b, rtol=0, atol=1e-4 * a.abs().max().item()), name


class SharedConv(nn.Module):
    """One convolution called twice, each time followed by its own batch norm: nothing to fold."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm2d(4), nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn1(self.conv(x)) + self.bn2(self.conv(x))


class ConvFeedsTwo(nn.Module):
    """A convolution whose output a batch norm and a residual both use: folding would change it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_shared_or_reused_outputs_are_left_alone():
    x = torch.randn(1, 3, 16, 16)
    model, n = fold_batchnorms(trained_looking(SharedConv()), x)
    assert n == 0 and isinstance(model.bn1, nn.BatchNorm2d)
    model, n = fold_batchnorms(trained_looking(ConvFeedsTwo()), x)
    assert n == 0 and isinstance(model.bn, nn.BatchNorm2d)  # the check against the original


def test_the_torch_backend_folds_where_asked():
    model = trained_looking(build_model('ghostnet_aspp_da', num_classes=3))
    cpu = torch.device('cpu')
    assert TorchBackend(model, cpu, torch.float32).folded_batchnorms == 0  # CPU default: not
    backend = TorchBackend(model, cpu, torch.float32, fold_batchnorms=True)
    assert backend.folded_batchnorms == 92
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        assert torch.allclose(backend(x), model(x), rtol=0, atol=1e-3)
