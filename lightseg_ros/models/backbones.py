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
Backbones that expose their feature levels (name, channels, reduction), timm-style.

Both come from maintained libraries: MobileNetV2 from torchvision, GhostNet 1.0x from timm. This
module only cuts them at the taps the papers use and turns strides into dilation for a smaller
output stride.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import pickle
import re

import torch
from torch import nn

__all__ = [
    'FeatureInfo',
    'Backbone',
    'MobileNetV2Backbone',
    'GhostNetBackbone',
    'PretrainedWeightsError',
]


class PretrainedWeightsError(RuntimeError):
    """The ImageNet backbone weights could not be fetched or read."""


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    channels: int
    reduction: int


class Backbone(nn.Module):
    """A trunk that returns ``{level name: tensor}``; ``feature_info`` describes each level."""

    feature_info: list[FeatureInfo]

    def channels(self, name: str) -> int:
        return next(f.channels for f in self.feature_info if f.name == name)


def _dilate(module: nn.Module, dilation: int) -> None:
    """
    Replace the stride-2 convs of ``module`` by stride 1 and dilate its 3x3+ convs.

    DeepLab's atrous trick, so that the receptive field is unchanged: the strided convs, and the
    convs that run before them (a GhostNet bottleneck's first ghost module works at the
    resolution before its strided depthwise conv), keep the dilation of the level before
    (``dilation // 2``); every spatial conv after the stride gets ``dilation``. Registration
    order is taken as execution order, which holds for torchvision's and timm's blocks.
    """
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    before = max(dilation // 2, 1)
    past_stride = not any(conv.stride == (2, 2) for conv in convs)
    for conv in convs:
        k = conv.kernel_size[0]
        if conv.stride == (2, 2):
            conv.stride = (1, 1)
            d = before
            past_stride = True
        else:
            d = dilation if past_stride else before
        if k > 1:
            conv.dilation = (d, d)
            conv.padding = (d * (k - 1) // 2, d * (k - 1) // 2)


#: what a pretrained_backbone file may be, said with every refusal
ACCEPTED_BACKBONE_FILES = (
    'accepted: a .safetensors file, or a state dict of tensors saved with torch.save (.pth)'
)
# ImageNet backbones are 10-30 MB, a whole training checkpoint a few hundred: a larger file is
# refused from its size, before torch.load or safetensors copies it into memory
MAX_BACKBONE_FILE_BYTES = 1 << 30


def _check_zip_sizes(path: Path) -> None:
    """
    Refuse a zip-format checkpoint whose members inflate past the size cap.

    torch.save stores its members uncompressed, so the file's size bounds what loading it takes;
    a file re-zipped with DEFLATE would not be bounded (195 KB on disk, a 200 MB tensor loaded,
    and the 1 GiB cap on the file would let it reach a terabyte).
    """
    import zipfile

    if not zipfile.is_zipfile(path):
        return  # the legacy format: its tensors are raw bytes of the file
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PretrainedWeightsError(
            f'backbone weights {path}: not a readable checkpoint ({exc}); '
            f'{ACCEPTED_BACKBONE_FILES}'
        ) from None
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):
        raise PretrainedWeightsError(
            f'backbone weights {path} has compressed members, which torch.save never writes (what '
            f'they inflate to is not bounded by the file); {ACCEPTED_BACKBONE_FILES}'
        )
    if sum(m.file_size for m in members) > MAX_BACKBONE_FILE_BYTES:
        raise PretrainedWeightsError(
            f'backbone weights {path} declares more than {MAX_BACKBONE_FILE_BYTES >> 30} GiB of '
            f'members; {ACCEPTED_BACKBONE_FILES}'
        )


def torch_load_failure(exc: BaseException, contents: str) -> str:
    """
    Say why ``torch.load(weights_only=True)`` failed, in a few words.

    ``contents`` is what the file should have held (``'a PyTorch checkpoint'``). Never torch's
    advice to load with ``weights_only=False``: that would run whatever the file's pickle says.
    """
    text = str(exc).strip()
    if 'unsupported global' in text.lower():  # torch's wording differs between releases
        found = re.search(r'GLOBAL ([\w.]+)', text)
        what = f' ({found.group(1)})' if found else ''
        return (
            f'it holds a Python object{what} besides tensors and plain values, and such files '
            'are not loaded'
        )
    if isinstance(exc, EOFError) or not text:
        return 'the file is empty or cut short'
    # a file that is no pickle at all fails on its first bytes (as an unknown opcode, or a
    # KeyError naming the byte): that says nothing about where it went wrong
    if isinstance(exc, (pickle.UnpicklingError, KeyError)) or 'weights_only' in text:
        return f'its contents are not {contents}'
    return f'it is truncated or corrupt: {text.split(". ")[0][:160]}'


def _read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """
    Return the tensors of a backbone weights file by name.

    A ``.safetensors`` file, or a (possibly ``{'state_dict': ...}``-wrapped) dict of tensors saved
    with ``torch.save``, read with ``weights_only=True``: nothing else is unpickled. Anything else
    is a :class:`PretrainedWeightsError` of one line naming the file and what is accepted.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise PretrainedWeightsError(
                f'backbone weights {path} is a folder, not a file; {ACCEPTED_BACKBONE_FILES}'
            )
        if path.exists():  # a device or a pipe: never opened (it could block, or never end)
            raise PretrainedWeightsError(
                f'backbone weights {path} is not a regular file; {ACCEPTED_BACKBONE_FILES}'
            )
        raise PretrainedWeightsError(f'backbone weights file not found: {path}')
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PretrainedWeightsError(
            f'backbone weights {path}: cannot read it: {exc.strerror or exc}'
        ) from None
    if size > MAX_BACKBONE_FILE_BYTES:
        raise PretrainedWeightsError(
            f'backbone weights {path} is {size / (1 << 30):.1f} GiB; at most '
            f'{MAX_BACKBONE_FILE_BYTES >> 30} GiB is accepted (an ImageNet backbone is 10-30 MB)'
        )
    if path.suffix.lower() == '.safetensors':
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            why = ' '.join(str(exc).split())[:160] or type(exc).__name__
            raise PretrainedWeightsError(
                f'backbone weights {path}: not a readable safetensors file ({why}); '
                f'{ACCEPTED_BACKBONE_FILES}'
            ) from None
    else:
        _check_zip_sizes(path)
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)  # never unpickled
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
            raise PretrainedWeightsError(
                f'backbone weights {path}: not readable: '
                f'{torch_load_failure(exc, "a state dict of tensors")}; '
                f'{ACCEPTED_BACKBONE_FILES}'
            ) from None
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    # a checkpoint's other entries (an epoch, a name) are not weights; callers compare names
    # and shapes, so only named tensors go on
    tensors = (
        {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if isinstance(state, dict)
        else {}
    )
    if not tensors:
        held = 'a dict without tensors' if isinstance(state, dict) else f'a {type(state).__name__}'
        raise PretrainedWeightsError(
            f'backbone weights {path} holds {held}, not a state dict of tensors by name; '
            f'{ACCEPTED_BACKBONE_FILES}'
        )
    return tensors


def _load_into(
    module: nn.Module, state: dict[str, torch.Tensor], source: str, accepted: str
) -> None:
    """
    Load the keys of ``state`` that belong to ``module``; every module key must be present.

    ``accepted`` says which file fits (``"torchvision's mobilenet_v2 ..."``), with every refusal.
    """
    own = module.state_dict()
    matched = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in matched and not k.endswith('num_batches_tracked')]
    if missing:
        raise PretrainedWeightsError(
            f'{source} does not fit this backbone: {len(missing)} tensors missing (first: '
            f'{missing[0]}); accepted: {accepted}'
        )
    bad = [k for k, v in matched.items() if v.shape != own[k].shape]
    if bad:
        raise PretrainedWeightsError(
            f'{source}: shape mismatch for {bad[0]}: {tuple(matched[bad[0]].shape)} where the '
            f'backbone has {tuple(own[bad[0]].shape)}; accepted: {accepted}'
        )
    # copy_ would take a complex tensor's real part with only a warning, an integer one silently
    kinds = [
        k for k, v in matched.items()
        if own[k].is_floating_point() and (v.is_complex() or not v.is_floating_point())
    ]
    if kinds:
        raise PretrainedWeightsError(
            f'{source}: {kinds[0]} holds {str(matched[kinds[0]].dtype).removeprefix("torch.")} '
            f'values where the backbone takes floating point ones; accepted: {accepted}'
        )
    try:
        module.load_state_dict(matched, strict=False)
    except RuntimeError as exc:  # a tensor torch cannot copy into a parameter (sparse, complex)
        raise PretrainedWeightsError(
            f'{source}: its tensors cannot be loaded into this backbone: '
            f'{" ".join(str(exc).split())[:160]}'
        ) from None


class MobileNetV2Backbone(Backbone):
    """
    torchvision MobileNetV2 ``features[0:18]`` (the 1x1 conv to 1280 is dropped).

    Levels: ``c2`` = features[:4] (24ch, /4), ``c3`` = [4:7] (32ch, /8), ``c4`` = [7:14] (96ch,
    /16), ``c5`` = [14:18] (320ch, /32 or dilated).
    """

    _STAGES = (
        ('c2', 0, 4, 24, 4),
        ('c3', 4, 7, 32, 8),
        ('c4', 7, 14, 96, 16),
        ('c5', 14, 18, 320, 32),
    )

    def __init__(self, *, output_stride: int = 16, pretrained: bool | str = False) -> None:
        super().__init__()
        from torchvision.models import mobilenet_v2, MobileNet_V2_Weights

        net = mobilenet_v2(weights=None)
        if pretrained is True:
            try:
                net = mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)
            except Exception as exc:  # noqa: BLE001 - network errors vary by platform
                raise PretrainedWeightsError(
                    "could not fetch torchvision's ImageNet MobileNetV2 weights (offline?): "
                    f'{exc}. Pass pretrained_backbone=PATH to a local mobilenet_v2 weights file '
                    'instead.'
                ) from exc
        elif pretrained:
            # the stages this backbone keeps (features 0-17), by torchvision's names: the last
            # 1x1 conv and the ImageNet classifier are not needed in the file
            _load_into(
                nn.ModuleDict({'features': net.features[:18]}),
                _read_state_dict(pretrained),
                str(pretrained),
                "torchvision's mobilenet_v2 weights (features.0 to features.17 at least)",
            )
        features = net.features
        self.stages = nn.ModuleDict({name: features[a:b] for name, a, b, _, _ in self._STAGES})
        self.feature_info = []
        for name, _, _, ch, red in self._STAGES:
            if red > output_stride:
                _dilate(self.stages[name], red // output_stride)
            self.feature_info.append(FeatureInfo(name, ch, min(red, output_stride)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for name, stage in self.stages.items():
            x = stage(x)
            out[name] = x
        return out


class GhostNetBackbone(Backbone):
    """
    timm ``ghostnet_100`` stem and ``blocks[0:9]`` (``blocks[9]`` and the classifier head dropped).

    Levels (the cut that reproduces paper B's parameter budget: stem + blocks 0-8 hold about 2.52M
    parameters): ``c3`` = blocks[4] out (40ch, /8), ``c4`` = blocks[6] (112ch, /16), ``c5`` =
    blocks[8] (160ch, /32). timm's own ``features_only`` taps differ and cannot
    dilate, so the cut is done here.
    """

    _TAPS = {4: ('c3', 40, 8), 6: ('c4', 112, 16), 8: ('c5', 160, 32)}

    def __init__(self, *, output_stride: int = 32, pretrained: bool | str = False) -> None:
        super().__init__()
        import timm

        if pretrained is True:
            try:
                net = timm.create_model('ghostnet_100', pretrained=True)
            except Exception as exc:  # noqa: BLE001
                raise PretrainedWeightsError(
                    f"could not fetch timm's ImageNet ghostnet_100 weights (offline?): {exc}. "
                    'Pass pretrained_backbone=PATH to a local ghostnet_100 weights file instead.'
                ) from exc
        else:
            net = timm.create_model('ghostnet_100', pretrained=False)
            if pretrained:
                _load_into(
                    nn.ModuleDict(
                        {'conv_stem': net.conv_stem, 'bn1': net.bn1, 'blocks': net.blocks[:9]}
                    ),
                    _read_state_dict(pretrained),
                    str(pretrained),
                    "timm's ghostnet_100 weights (conv_stem, bn1 and blocks.0 to blocks.8 at "
                    'least)',
                )
        self.stem = nn.Sequential(net.conv_stem, net.bn1, net.act1)
        self.blocks = net.blocks[:9]
        # blocks[i] downsamples when its first bottleneck has stride 2; find that from the modules
        self.feature_info = []
        reduction = 2
        for i, block in enumerate(self.blocks):
            strided = any(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in block.modules())
            if strided:
                reduction *= 2
                if reduction > output_stride:
                    _dilate(block, reduction // output_stride)
            elif reduction > output_stride:
                _dilate(block, reduction // output_stride)
            if i in self._TAPS:
                name, ch, _ = self._TAPS[i]
                self.feature_info.append(FeatureInfo(name, ch, min(reduction, output_stride)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        out = {}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self._TAPS:
                out[self._TAPS[i][0]] = x
        return out
