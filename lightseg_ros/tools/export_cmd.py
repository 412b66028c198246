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
``lightseg export``: a weights file to ONNX and/or to a compact safetensors file.

ONNX with dynamic height and width, checked with onnxruntime; safetensors with ``--half``: fp16
tensors, the form the package ships, checked against the source.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import cli_args

__all__ = ['register', 'run']


def _opsets() -> tuple[int, int]:
    """
    Return the opsets torch's TorchScript exporter supports with constant folding (9-20 in 2.14).

    Below 9 the exporter cannot fold constants, and it prints the whole graph when an operator is
    missing.
    """
    try:
        from torch.onnx import _constants as c

        lo, hi = c.ONNX_CONSTANT_FOLDING_MIN_OPSET, c.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
        return int(lo), int(hi)
    except (ImportError, AttributeError):  # another torch: the range of torch 2.14
        return 9, 20


def _export_safetensors(args: argparse.Namespace, model, meta, size) -> None:
    """
    Write ``--safetensors``: first beside it under a temporary name, checked, then moved in place.

    A file that fails its checks (a tensor beyond fp16's range with --half, labels that change
    on more pixels than --min-agreement allows) is removed and nothing at the path changes.
    """
    import torch

    from ..models import load_model, save_weights, WeightsError

    final = Path(args.safetensors)
    partial = final.with_name(f'.{final.stem}.partial{os.getpid()}{final.suffix}')
    try:
        path = save_weights(partial, model, meta, half=args.half)
        try:
            reloaded, _ = load_model(path)
        except WeightsError as exc:
            fp16 = " (a tensor beyond fp16's range, 65504: export without --half)"
            raise SystemExit(
                f'lightseg export: error: the export to {final} fails its check, so it was not '
                f'written: {str(exc).replace(str(path), "the file")}'
                f'{fp16 if args.half else ""}'
            ) from None
        x = torch.randn(
            2, 3, int(size[0]), int(size[1]), generator=torch.Generator().manual_seed(0)
        )
        with torch.no_grad():
            ref, out = model(x), reloaded(x)
        agree = float((ref.argmax(1) == out.argmax(1)).float().mean())
        diff = float((ref - out).abs().max())
        if agree < args.min_agreement:
            raise SystemExit(
                f'lightseg export: error: labels agree on {agree * 100:.3f}% of pixels, below '
                f'--min-agreement {args.min_agreement * 100:.1f}%; {final} was not written'
            )
        os.replace(path, final)
        path = final
    finally:
        partial.unlink(missing_ok=True)
    print(
        f'wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {"fp16" if args.half else "fp32"} '
        f'tensors, {meta.model}, val mIoU {meta.val_miou if meta.val_miou is not None else "n/a"})'
    )
    print(
        f'reloaded vs source at {size[0]}x{size[1]}: max abs logit diff {diff:.3g}, labels agree '
        f'on {agree * 100:.3f}% of pixels'
    )


def _check_output_paths(args: argparse.Namespace) -> None:
    """Refuse an output that would replace the --weights file, or the other output."""
    weights = Path(args.weights).resolve() if args.weights else None
    outputs = [(flag, getattr(args, flag[2:])) for flag in ('--safetensors', '--onnx')]
    outputs = [(flag, Path(value).resolve()) for flag, value in outputs if value]
    for flag, path in outputs:
        if path == weights:
            raise SystemExit(
                f'lightseg export: error: {flag} names the --weights file itself; write the '
                'export to another path'
            )
    if len(outputs) == 2 and outputs[0][1] == outputs[1][1]:
        raise SystemExit(
            'lightseg export: error: --safetensors and --onnx name the same file; give each '
            'its own path'
        )


def run(args: argparse.Namespace) -> int:
    from ..inference.backends import onnxruntime_missing
    from ..inference.export import check_onnx, export_onnx, ExportError
    from ..models import load_model, WeightsError

    if not (args.onnx or args.safetensors):
        raise SystemExit('lightseg export: error: give --onnx PATH and/or --safetensors PATH')
    _check_output_paths(args)
    if bool(args.height) != bool(args.width):
        raise SystemExit(
            'lightseg export: error: give --height and --width together (or neither: the size '
            'the weights were trained at)'
        )
    missing = args.onnx and onnxruntime_missing()
    if missing:  # both write and check the export
        raise SystemExit(
            f'lightseg export: error: --onnx needs the onnx and onnxruntime packages; {missing} '
            f'cannot be imported (pip install {missing.replace(" and ", " ")})'
        )
    try:
        model, meta = load_model(args.weights)
    except WeightsError as exc:  # one line naming the file and the field, no traceback
        raise SystemExit(f'lightseg export: error: {exc}') from None
    size = (
        (args.height, args.width)
        if args.height and args.width
        else tuple(meta.input_size or (512, 512))
    )
    cli_args.check_network_pixels('lightseg export', '--height/--width', *size)
    if args.safetensors:
        _export_safetensors(args, model, meta, size)
    if args.onnx:
        sizes = (
            [size]
            if args.static
            else [size, (size[0] // 2 + 8, size[1] // 2 + 24), (size[1], size[0])]
        )
        sizes = list(dict.fromkeys(sizes))  # a square size transposed is itself: checked once
        # written beside its path and checked there, moved in place only if it passes: a file
        # that fails the check never stands at the path a node or a cache would load
        path = Path(args.onnx)
        partial = path.with_name(f'.{path.stem}.partial{os.getpid()}{path.suffix}')
        try:
            export_onnx(
                model, partial, input_size=size, opset=args.opset, dynamic=not args.static
            )
            diff = check_onnx(model, partial, sizes=sizes, tolerance=args.tolerance)
            os.replace(partial, path)
        except ExportError as exc:
            raise ExportError(
                f'{str(exc).replace(str(partial), str(path))} ({path} was not written)'
            ) from None
        finally:
            partial.unlink(missing_ok=True)
        print(
            f'wrote {path} ({meta.model}, {meta.num_classes} classes, opset {args.opset}, '
            f'{"static " + "x".join(map(str, size)) if args.static else "dynamic height/width"})'
        )
        print(
            f'onnxruntime vs PyTorch at {", ".join(f"{h}x{w}" for h, w in sizes)}: max abs diff '
            f'{diff:.3g} (tolerance {args.tolerance:g})'
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        'export',
        help='export a weights file to ONNX (checked with onnxruntime) or to fp16 safetensors',
    )
    p.add_argument('--weights', required=True)
    p.add_argument('--onnx', type=cli_args.output_file, help='output .onnx path')
    p.add_argument(
        '--safetensors',
        type=cli_args.output_file,
        help='output .safetensors path (same metadata; see --half)',
    )
    p.add_argument(
        '--half',
        action='store_true',
        help='--safetensors: store floating-point tensors as fp16 '
        '(half the size; loaded back as fp32)',
    )
    p.add_argument(
        '--min-agreement',
        type=cli_args.float_in(0.0, 1.0),
        default=0.995,
        help='--safetensors: smallest accepted share of pixels whose label is unchanged',
    )
    lo, hi = cli_args.NETWORK_SIDE
    p.add_argument(
        '--height',
        type=cli_args.network_side,
        help=f"export/check height, {lo}-{hi} (default: the weights' input size)",
    )
    p.add_argument('--width', type=cli_args.network_side, help=f'with --height, {lo}-{hi}')
    p.add_argument(
        '--opset',
        type=cli_args.int_in(*_opsets()),
        default=17,
        help='ONNX opset, %d-%d (default 17)' % _opsets(),
    )
    p.add_argument(
        '--static', action='store_true', help='fixed input size instead of dynamic height/width'
    )
    p.add_argument(
        '--tolerance',
        type=cli_args.float_in(0.0),
        default=1e-3,
        help='largest accepted |onnxruntime - PyTorch|, >= 0',
    )
    p.set_defaults(func=run)
