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
``lightseg results``: the results table (accuracy, size, cost, CPU latency) of weights files.

As Markdown and JSON: every figure in BENCHMARKS.md's results section comes from this command.

Per weights file: parameters and GFLOPs at the evaluation size (papers' convention), val mIoU and
per-class IoU at native resolution (``lightseg eval``'s scoring), and single-image latency of the
network at that size with the node's default backend, next to torchvision's LR-ASPP in the same
run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from . import cli_args

__all__ = ['register', 'run', 'results_markdown']


def _label(meta) -> str:
    recipe = meta.recipe or {}
    bits = [f'loss {recipe["loss"]}'] if recipe.get('loss') else []
    bits += [f'{k}={v}' for k, v in sorted((meta.model_options or {}).items())]
    return meta.model + (f' ({", ".join(bits)})' if bits else '')


def _cell(value: float | None, form: str) -> str:
    """Format a latency cell with ``form`` (``'{:.1f}'``): ``-`` where none was timed."""
    return '-' if value is None else form.format(value)


def results_markdown(rows: list[dict], peer: dict | None, device: str = 'cpu') -> str:
    size = 'x'.join(map(str, rows[0]['size'])) if rows else ''
    where = 'CPU' if device == 'cpu' else device
    lines = [
        f'| model | params | GFLOPs @{size} | val mIoU | pixel acc. | {where} p50 ms @{size} | vs '
        'peer | epochs | weights |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ]
    for r in rows:
        seen = '*' if r.get('seen_in_training') else ''
        lines.append(
            f'| {r["label"]} | {r["params"]:,} | {r["gflops"]:.2f} | {r["miou"]:.2f}{seen} | '
            f'{r["pixel_acc"]:.2f} | {_cell(r["latency_p50_ms"], "{:.1f}")} | '
            f'{_cell(r["ratio_to_peer"], "{:.2f}x")} | '
            f'{r["epochs_trained"]} | `{r["weights_name"]}` |'
        )
    if peer:
        lines.append(
            f'| peer: {peer["model"]} (random weights, speed only) | | {peer["gflops"]:.2f} | | | '
            f'{peer["network"]["p50_ms"]:.1f} | 1.00x | | |'
        )
    if any(r.get('seen_in_training') for r in rows):
        lines += ['', '\\* scored on images these weights were trained on: fit, not accuracy']
    if rows:
        names = rows[0]['class_names']
        lines += ['', '| model | ' + ' | '.join(names) + ' |', '|---|' + '---:|' * len(names)]
        for r in rows:
            lines.append(
                f'| {r["label"]} | '
                + ' | '.join('n/a' if v is None else f'{v:.1f}' for v in r['per_class_iou'])
                + ' |'
            )
    return '\n'.join(lines) + '\n'


def run(args: argparse.Namespace) -> int:
    from . import benchmark as bm
    from .eval_cmd import score_weights, seen_warning
    from ..models import read_weights_meta, shipped_models, shipped_weights, WeightsError
    from ..models.complexity import measure
    from ..models.weights import load_model

    paths = (
        [Path(p) for p in args.weights]
        if args.weights
        else [shipped_weights(m) for m in shipped_models()]
    )
    if not paths:
        raise SystemExit(
            'lightseg results: error: no weights given and none ship with the package'
        )
    try:
        metas = [read_weights_meta(p) for p in paths]
    except WeightsError as exc:
        raise SystemExit(f'lightseg results: error: {exc}') from None
    from ..inference.backends import BACKEND_CHOICES

    if args.iters and args.backend not in BACKEND_CHOICES:  # before the scoring, not after it
        raise SystemExit(
            f'lightseg results: error: argument --backend: unknown backend {args.backend!r}; '
            f"accepted: {', '.join(BACKEND_CHOICES)}"
        )
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    from ..inference.segmenter import select_device

    device = select_device(args.device)  # what the timings ran on, for the table and the JSON
    size = tuple(args.size)
    cli_args.check_network_pixels('lightseg results', '--size', *size)
    peer = None
    if args.iters:
        peer = bm.bench_peer(
            size,
            device=args.device,
            warmup=args.warmup,
            iters=args.iters,
            num_classes=metas[0].num_classes,
        ).as_dict()
        say(f'peer {peer["model"]}: p50 {peer["network"]["p50_ms"]:.1f} ms')
    rows = []
    for path, meta in zip(paths, metas):
        say(f'{path}: scoring on {args.split} ...')
        scores, meta, images, seconds, dataset, seen = score_weights(
            path, args.data, split=args.split, device=args.device, progress=not args.quiet
        )
        model, _ = load_model(path)
        c = measure(model, size)
        row = {
            'label': _label(meta),
            'model': meta.model,
            'weights': str(path),
            'weights_name': path.name,
            'weights_mb': round(path.stat().st_size / 1e6, 2),
            'dataset': dataset,
            'split': args.split,
            'images': images,
            'seen_in_training': seen,
            'size': list(size),
            'params': c.params,
            'gflops': round(c.gflops, 3),
            'miou': round(scores.miou * 100, 2),
            'pixel_acc': round(scores.pixel_accuracy * 100, 2),
            'class_names': list(meta.class_names),
            'per_class_iou': [
                None if v != v else round(float(v) * 100, 2) for v in scores.per_class_iou
            ],
            'epochs_trained': (meta.recipe or {}).get('epochs_trained'),
            'recipe': meta.recipe,
            'eval_seconds': round(seconds, 1),
        }
        if args.iters:
            # timed in rounds interleaved with the peer, right after this file's scoring: the
            # ratio compares the two under the same load (the peer row's own timing, at the
            # start, does not)
            case = bm.bench_segmenter(
                meta.model,
                args.backend,
                size,
                device=args.device,
                warmup=args.warmup,
                iters=args.iters,
                weights=str(path),
                rounds=max(1, min(args.rounds, args.iters)),
            )
            row.update(
                latency_p50_ms=case.network.p50_ms,
                latency_p99_ms=case.network.p99_ms,
                backend=case.backend_detail,
                ratio_to_peer=case.ratio_to_peer,
                ratio_to_peer_range=[case.ratio_spread.min, case.ratio_spread.max],
            )
        else:
            row.update(  # null in the JSON (NaN is not JSON), '-' in the table
                latency_p50_ms=None,
                latency_p99_ms=None,
                backend='',
                ratio_to_peer=None,
            )
        warning = seen_warning(seen, images, args.split, meta)
        if warning:
            print(f'lightseg results: {path}: {warning}', file=sys.stderr)
        p50 = _cell(row['latency_p50_ms'], '{:.1f}')
        say(f'{row["label"]}: mIoU {row["miou"]:.2f}, p50 {p50} ms')
        rows.append(row)
    text = results_markdown(rows, peer, str(device))
    print(text, end='')
    for out in (args.json, args.markdown):
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {'machine': bm.machine_info(device), 'peer': peer, 'rows': rows},
                indent=2,
            )
            + '\n'
        )
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        'results',
        help='results table of weights files: params, GFLOPs, val mIoU, per-class IoU, '
        'CPU latency',
    )
    p.add_argument(
        '--data',
        required=True,
        help="dataset root (the weights' dataset layout), e.g. /path/to/camvid",
    )
    p.add_argument(
        '--weights', nargs='+', help='weights files (default: every file the package ships)'
    )
    p.add_argument('--split', default='val')
    p.add_argument(
        '--size',
        type=cli_args.network_side,
        nargs=2,
        default=[360, 480],
        metavar=('H', 'W'),
        help="size for GFLOPs and latency, each side 16-4096 (default CamVid's 360 480)",
    )
    p.add_argument('--backend', default='auto', help="latency backend (default: the node's, auto)")
    p.add_argument('--device', type=cli_args.device, default='cpu', help='auto, cpu, cuda, cuda:N')
    p.add_argument(
        '--iters',
        type=cli_args.non_negative_int,
        default=30,
        help='timed runs per model (0 = no latency)',
    )
    p.add_argument('--warmup', type=cli_args.non_negative_int, default=5)
    p.add_argument(
        '--rounds',
        type=cli_args.positive_int,
        default=6,
        help='rounds of timing alternating each model with the peer; "vs peer" is the median '
        "of the rounds' ratios (default 6)",
    )
    p.add_argument(
        '--json', type=cli_args.output_file, help='write rows and machine facts as JSON'
    )
    p.add_argument('--markdown', type=cli_args.output_file, help='write the tables as Markdown')
    p.add_argument('--quiet', action='store_true')
    p.set_defaults(func=run)
