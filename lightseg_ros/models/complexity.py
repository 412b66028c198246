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
Parameter and FLOP counting in the papers' convention (512x512 input, 21 classes in their tables).

Both papers report thop <= 0.0.31 multiply-accumulates, doubled. thop is unmaintained and its
rules changed between releases, and fvcore leaves out conv bias and counts BN differently, so the
rules are stated here, applied by forward hooks on leaf modules:

* Conv2d: output elements x (in_channels / groups x kernel area + 1 if bias) MACs.
* Linear: output elements x (in_features + 1 if bias) MACs.
* BatchNorm: 2 x input elements (thop's inference-mode count: scale and shift).
* Activations, pooling, interpolation and functional ops (attention matmuls) are not counted.

GFLOPs = 2 x (conv/linear MACs + BN count) / 1e9.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ['Complexity', 'count_parameters', 'count_macs', 'measure']


@dataclass(frozen=True)
class Complexity:
    params: int
    gflops: float
    state_dict_mb: float  # fp32 tensors of the state dict, 1e6 bytes


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _conv_macs(m: nn.Conv2d, out: torch.Tensor) -> int:
    per_output = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] + (
        m.bias is not None
    )
    return out.numel() * per_output


def _linear_macs(m: nn.Linear, out: torch.Tensor) -> int:
    return out.numel() * (m.in_features + (m.bias is not None))


def _bn_ops(m: nn.modules.batchnorm._BatchNorm, out: torch.Tensor) -> int:
    return 2 * out.numel()


_RULES = {nn.Conv2d: _conv_macs, nn.Linear: _linear_macs, nn.modules.batchnorm._BatchNorm: _bn_ops}


@torch.no_grad()
def count_macs(model: nn.Module, input_size: tuple[int, int] = (512, 512)) -> int:
    """thop-style operation count for one image of ``input_size`` (H, W), batch 1, eval mode."""
    total = 0

    def hook(module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        for kind, rule in _RULES.items():
            if isinstance(module, kind):
                total += rule(module, out)
                return

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, tuple(_RULES))
    ]
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        model(torch.zeros(1, 3, *input_size, device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def measure(model: nn.Module, input_size: tuple[int, int] = (512, 512)) -> Complexity:
    state_bytes = sum(t.numel() * 4 for t in model.state_dict().values() if t.is_floating_point())
    return Complexity(
        params=count_parameters(model),
        gflops=2 * count_macs(model, input_size) / 1e9,
        state_dict_mb=state_bytes / 1e6,
    )
