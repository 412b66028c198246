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
ONNX export of lightseg_ros models, checked against PyTorch with onnxruntime.

Uses torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``), which needs no
extra packages and gives dynamic height and width through ``dynamic_axes``. The graph takes a
normalised float image batch ``input`` (N, 3, H, W) and returns ``logits`` (N, C, H, W).
Shared by ``lightseg export`` and the inference backends.
"""

from __future__ import annotations

import os
from pathlib import Path
import secrets
from typing import Sequence
import warnings

import numpy as np
import torch
from torch import nn

__all__ = ['ExportError', 'export_onnx', 'check_onnx', 'DEFAULT_OPSET']

DEFAULT_OPSET = 17


class ExportError(RuntimeError):
    """The exported graph is missing or does not reproduce the PyTorch model."""


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    input_size: Sequence[int] = (512, 512),
    opset: int = DEFAULT_OPSET,
    dynamic: bool = True,
    dynamic_batch: bool = True,
) -> Path:
    """
    Export ``model`` (put in eval mode, on the CPU) to ``path``.

    With ``dynamic`` the height and width (and, with ``dynamic_batch``, the batch) are symbolic.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    dummy = torch.randn(1, 3, int(input_size[0]), int(input_size[1]))
    axes: dict[int, str] = {}
    if dynamic_batch:
        axes[0] = 'batch'
    if dynamic:
        axes.update({2: 'height', 3: 'width'})
    if path.is_dir():
        raise ExportError(f'{path} is a folder; expected the path of the .onnx file to write')
    # a name of its own: two exports to one path never write, move or delete each other's file;
    # made with the mode a plain write gives (0666 less the umask, which the kernel applies)
    while True:
        tmp = path.with_name(f'.{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp')
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the exporter's deprecation and tracer warnings
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                input_names=['input'],
                output_names=['logits'],
                dynamic_axes={'input': axes, 'logits': axes} if axes else None,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        tmp.replace(path)
    except torch.onnx.errors.OnnxExporterError as exc:  # an operator the opset lacks
        reason = ' '.join(str(exc).split())[:300]
        raise ExportError(f'cannot export {path} at opset {opset}: {reason}') from None
    except IsADirectoryError:
        raise ExportError(
            f'{path} is a folder; expected the path of the .onnx file to write'
        ) from None
    finally:
        tmp.unlink(missing_ok=True)  # a failed export leaves no partial file behind
    return path


def check_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    sizes: Sequence[Sequence[int]] = ((512, 512),),
    batch: int = 1,
    tolerance: float = 1e-3,
    seed: int = 0,
) -> float:
    """
    Compare the ONNX file with ``model`` and return the largest absolute difference of the logits.

    The ONNX file runs with onnxruntime and ``model`` with PyTorch on random inputs of each size
    ([H, W]); :class:`ExportError` is raised when the difference exceeds ``tolerance``.
    """
    import onnx
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ExportError(f'ONNX file not found: {path}')
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    model = model.eval().cpu()
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for h, w in sizes:
        x = torch.randn(batch, 3, int(h), int(w), generator=gen)
        with torch.no_grad():
            ref = model(x).numpy()
        (out,) = session.run(['logits'], {'input': x.numpy()})
        if out.shape != ref.shape:
            raise ExportError(
                f'{path}: onnxruntime output shape {out.shape} != PyTorch {ref.shape} at {h}x{w}'
            )
        worst = max(worst, float(np.abs(out - ref).max()))
    if not worst <= tolerance:
        raise ExportError(
            f'{path}: onnxruntime and PyTorch differ by {worst:.3g} (tolerance {tolerance:g})'
        )
    return worst
