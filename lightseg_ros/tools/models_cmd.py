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
``lightseg models``: the registered models with parameters and GFLOPs.

GFLOPs in the papers' convention.
"""

from __future__ import annotations

import argparse
import json

from . import cli_args
from ..models import (
    build_model,
    get_model_spec,
    list_models,
    measure,
    read_weights_meta,
    shipped_weights,
)
from ..models.weights import LIMITS


def _shipped(name: str) -> dict | None:
    path = shipped_weights(name)
    if path is None:
        return None
    meta = read_weights_meta(path)
    return {
        'path': str(path),
        'dataset': meta.dataset,
        'num_classes': meta.num_classes,
        'val_miou': None if meta.val_miou is None else round(meta.val_miou * 100, 2),
        # the split the weights were fit on (train+val for final weights: no val figure then)
        'train_split': (meta.recipe or {}).get('train_split'),
    }


def _shipped_text(w: dict | None) -> str:
    if not w:
        return 'none (random init)'
    if w['val_miou'] is None:
        return f'{w["dataset"]}, fit on {w["train_split"] or "?"}'
    return f'{w["dataset"]} val mIoU {w["val_miou"]}'


def model_table(num_classes: int = 21, size: tuple[int, int] = (512, 512)) -> list[dict]:
    rows = []
    for name in list_models():
        spec = get_model_spec(name)
        # each model at its default stride: OS16 for the MobileNetV2 models as in both papers;
        # GhostNet's published 1.931 GFLOPs is its undilated OS32 (OS16 would be about 3.4)
        model = build_model(name, num_classes=num_classes)
        c = measure(model, size)
        rows.append(
            {
                'name': name,
                'params': c.params,
                'gflops': round(c.gflops, 3),
                'fp32_mb': round(c.state_dict_mb, 2),
                'output_stride': spec.default_output_stride,
                'output_strides': list(spec.output_strides),
                'paper': spec.paper,
                'description': spec.description,
                'shipped_weights': _shipped(name),
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    cli_args.check_network_pixels('lightseg models', '--height/--width', args.height, args.width)
    rows = model_table(args.num_classes, (args.height, args.width))
    if args.json:
        print(
            json.dumps(
                {
                    'num_classes': args.num_classes,
                    'input_size': [args.height, args.width],
                    'convention': '2 x (conv/linear MACs incl. bias + 2 x BN elements)',
                    'models': rows,
                },
                indent=2,
            )
        )
        return 0
    print(
        f'{"model":28s} {"params":>10s} {"GFLOPs":>8s} {"fp32 MB":>8s}  OS  '
        f'{"shipped weights":24s} description'
    )
    for r in rows:
        shipped = _shipped_text(r['shipped_weights'])
        print(
            f'{r["name"]:28s} {r["params"]:>10,d} {r["gflops"]:>8.3f} {r["fp32_mb"]:>8.2f}  '
            f'{r["output_stride"]:>2d}  {shipped:24s} {r["description"]}'
        )
    print(
        f"({args.num_classes} classes, {args.height}x{args.width}, papers' FLOP convention; "
        'shipped weights are loaded when no weights file is given)'
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser('models', help='list registered models with parameters and GFLOPs')
    p.add_argument('--json', action='store_true', help='machine-readable output')
    lo, hi = cli_args.NETWORK_SIDE
    p.add_argument(
        '--num-classes',
        type=cli_args.int_in(*LIMITS.num_classes),
        default=21,
        help='classes of the head counted (%(default)s, as Pascal VOC)',
    )
    p.add_argument('--height', type=cli_args.network_side, default=512, help=f'{lo}-{hi}')
    p.add_argument('--width', type=cli_args.network_side, default=512, help=f'{lo}-{hi}')
    p.set_defaults(func=run)
