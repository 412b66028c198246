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
Batch norms folded into the convolutions before them, for inference.

At batch 1 on a GPU each of a network's 60-90 batch norms is a kernel of its own (a quarter of
ghostnet_aspp_da's GPU time on an H100). Folded, the convolution's weights and bias carry the
normalisation and the batch norm becomes an identity.

torch.fx's fuser needs a traceable model, and these are not (they unpack tensor shapes), so the
pairs are found by running the model once: a batch norm whose input is the very tensor a
convolution just returned, and that convolution runs once. The folded model is checked against
the original on the same input, and the original kept if they differ.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ['fold_batchnorms']


def _pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """Return (conv name, batch norm name) pairs found by running ``model`` on ``example``."""
    names = {module: name for name, module in model.named_modules()}
    produced: dict[int, str] = {}  # id of a convolution's output -> the convolution
    calls: dict[str, int] = {}
    pairs: list[tuple[str, str]] = []
    keep: list[torch.Tensor] = []  # outputs stay alive, so that their ids stay theirs

    def after_conv(module, inputs, output):
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        produced[id(output)] = name
        keep.append(output)

    def before_bn(module, inputs):
        conv = produced.get(id(inputs[0]))
        if conv is not None:
            pairs.append((conv, names[module]))

    hooks = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(after_conv))
        elif isinstance(module, nn.BatchNorm2d):
            hooks.append(module.register_forward_pre_hook(before_bn))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    counted = [p for p in pairs if calls[p[0]] == 1]
    used = [bn for _, bn in counted]
    return [p for p in counted if used.count(p[1]) == 1]


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition('.')
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def fold_batchnorms(
    model: nn.Module, example: torch.Tensor, *, tolerance: float = 1e-3
) -> tuple[nn.Module, int]:
    """
    Return an eval-mode copy of ``model`` with its conv -> batch norm pairs folded, and the count.

    ``example`` (a float32 input on the model's device) finds the pairs and checks the result: when
    the outputs differ by more than ``tolerance`` times the largest output, ``model`` comes back
    unchanged with a count of 0.
    """
    model = model.eval()
    pairs = _pairs(model, example)
    if not pairs:
        return model, 0
    folded = copy.deepcopy(model)
    for conv_name, bn_name in pairs:
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        _replace(folded, conv_name, fuse_conv_bn_eval(conv, bn))
        _replace(folded, bn_name, nn.Identity())
    with torch.no_grad():
        before, after = model(example), folded(example)
    if not torch.allclose(before, after, rtol=0, atol=tolerance * before.abs().max().item()):
        return model, 0
    return folded, len(pairs)
