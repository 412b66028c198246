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
``lightseg eval``: score a weights file on a dataset split at native resolution.

Writes ``metrics.json`` and PNG charts (per-class IoU bars, normalised confusion matrix).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Any, NamedTuple

from . import cli_args

__all__ = ['class_names_warning', 'register', 'run', 'Score', 'score_weights']

MAX_SCALE = 4.0  # --scales: a scaled image is resized, so its cost grows with the square
MAX_WORKERS = 256


class Score(NamedTuple):
    """What :func:`score_weights` measured, and on what."""

    scores: Any  # metrics.Scores
    meta: Any  # models.WeightsMeta
    images: int
    seconds: float
    dataset: str
    # how many scored images the weights were trained on (None: their recipe does not say)
    seen: int | None


def seen_warning(seen: int | None, images: int, split: str, meta) -> str | None:
    """One line saying the score measures fit, where the weights were trained on scored images."""
    if not seen:
        return None
    return (
        f'warning: {seen} of the {images} images of {split!r} are in the split these weights '
        f'were trained on ({meta.recipe["train_split"]!r}): the score measures fit, not accuracy '
        'on unseen frames'
    )


def class_names_warning(weights, trained: list[str], dataset: str, found: list[str]) -> str | None:
    """
    One line where the dataset names its classes otherwise than the weights (same count).

    Scoring goes by class index, so a dataset whose class 1 is 'car' where the weights' class 1
    is 'road' would be scored silently against the wrong classes.
    """
    differ = [i for i, (a, b) in enumerate(zip(trained, found)) if a.casefold() != b.casefold()]
    if not differ:
        return None
    i = differ[0]
    return (
        f'warning: {len(differ)} of the {len(trained)} class names of the {dataset} dataset '
        f'differ from those {weights} was trained on (class {i} is {found[i]!r} there, '
        f'{trained[i]!r} in the weights); scores go by class index, under the names of the '
        'weights'
    )


def score_weights(
    weights,
    data: str | Path,
    *,
    dataset: str | None = None,
    split: str = 'val',
    mask_dir: str | None = None,
    device: str = 'auto',
    batch_size: int = 1,
    workers: int = 0,
    max_images: int | None = None,
    scales=(1.0,),
    flip: bool = False,
    progress: bool = True,
):
    """
    Score a weights file on a dataset split at native resolution.

    Returns a :class:`Score`.
    """
    from ..inference import select_device
    from ..models import load_model
    from ..training.datasets import build_dataset, DatasetError, seen_in_training
    from ..training.evaluate import evaluate, native_loader
    from ..training.transforms import eval_transform

    model, meta = load_model(weights)
    dataset_name = dataset or meta.dataset
    if mask_dir and dataset_name != 'voc':  # it was ignored: the score read other masks
        raise DatasetError(
            f'--mask-dir is for voc (SegmentationClass or SegmentationClassAug); the dataset is '
            f'{dataset_name}, which reads its own mask folders'
        )
    options = {'mask_dir': mask_dir} if dataset_name == 'voc' else {}
    ds = build_dataset(
        dataset_name,
        Path(data).expanduser(),
        split,
        eval_transform(meta.mean, meta.std),
        **options,
    )
    if ds.num_classes != meta.num_classes:  # a score by class index would mean nothing
        raise DatasetError(
            f'{weights} predicts {meta.num_classes} classes but the {dataset_name} dataset at '
            f'{data} has {ds.num_classes}: score weights trained on its classes'
        )
    renamed = class_names_warning(weights, meta.class_names, dataset_name, ds.class_names)
    if renamed:
        print(renamed, file=sys.stderr)
    if max_images:
        ds.samples = ds.samples[:max_images]
    ds.check(f'split {split!r}')  # a bad file stops here, not minutes into scoring
    note = ds.exif_note(f'split {split!r}')
    if note:
        print(note, file=sys.stderr)
    seen = seen_in_training(meta, ds, dataset_name, Path(data).expanduser(), **options)
    dev = select_device(device)
    model.to(dev)
    # batches of one image size each: a split may mix sizes (scored at native resolution)
    loader = native_loader(ds, batch_size, workers)
    start = time.perf_counter()
    cm = evaluate(
        model,
        loader,
        meta.num_classes,
        ds.ignore_index,  # the labels' own void value (training's validation scores with it too)
        device=dev,
        scales=scales,
        flip=flip,
        progress=progress,
    )
    return Score(cm.compute(), meta, len(ds), time.perf_counter() - start, dataset_name, seen)


def run(args: argparse.Namespace) -> int:
    from .train_cmd import one_line
    from ..models import read_weights_meta, trained_weights, WeightsError
    from ..training.datasets import DatasetError
    from ..training.evaluate import charts_available, CHARTS_SKIPPED, write_report

    try:
        weights = trained_weights(args.weights, args.model)
        if weights is None:
            raise WeightsError(
                "lightseg eval scores trained weights; 'random' is not accepted here"
            )
        found = read_weights_meta(weights).model
        if args.model and found != args.model:
            raise WeightsError(
                f'{weights} holds weights for {found!r}, not the requested {args.model!r}'
            )
        scores, meta, images, seconds, dataset_name, seen = score_weights(
            weights,
            args.data,
            dataset=args.dataset,
            split=args.split,
            mask_dir=args.mask_dir,
            device=args.device,
            batch_size=args.batch_size,
            workers=args.workers,
            max_images=args.max_images,
            scales=args.scales,
            flip=args.flip,
            progress=not args.no_progress,
        )
    except (
        WeightsError
    ) as exc:  # every metadata or tensor problem: one line naming the file and field
        raise SystemExit(f'lightseg eval: error: {exc}') from None
    except DatasetError as exc:
        print(f'lightseg eval: error: {one_line(exc)}', file=sys.stderr)
        return 2
    extra = {
        'weights': str(weights),
        'model': meta.model,
        'dataset': dataset_name,
        'data': str(args.data),
        'split': args.split,
        'images': images,
        'flip': args.flip,
        'scales': list(args.scales),
        'seconds': round(seconds, 2),
        'seen_in_training': seen,
    }
    warning = seen_warning(seen, images, args.split, meta)
    if warning:
        print(f'lightseg eval: {warning}', file=sys.stderr)
    out = write_report(scores, meta.class_names, meta.colors, args.out, extra)
    # with --json, stdout holds the JSON line alone (as `bench --json`), so it pipes into jq
    text = sys.stderr if args.json else sys.stdout
    print(
        f'{meta.model} on {dataset_name}/{args.split} ({images} images, native resolution'
        f'{", flip" if args.flip else ""}'
        f'{", scales " + str(list(args.scales)) if list(args.scales) != [1.0] else ""}):',
        file=text,
    )
    print(
        f'  mIoU {scores.miou * 100:.2f}%  pixel accuracy {scores.pixel_accuracy * 100:.2f}%  '
        f'mean class accuracy {scores.mean_class_accuracy * 100:.2f}%',
        file=text,
    )
    for n, v in zip(meta.class_names, scores.per_class_iou):
        print(f'  {n:20s} {"n/a" if v != v else f"{v * 100:6.2f}"}', file=text)
    print('wrote ' + ', '.join(str(p) for p in out.values()), file=text)
    if not charts_available():
        print(f'lightseg eval: {CHARTS_SKIPPED}', file=sys.stderr)
    if args.json:
        print(json.dumps(json.loads(Path(out['json']).read_text())))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        'eval', help='mIoU, pixel accuracy, per-class IoU and confusion matrix of a weights file'
    )
    p.add_argument(
        '--weights',
        default='',
        help='.safetensors file written by lightseg train (default: the '
        "package's trained weights for --model)",
    )
    p.add_argument(
        '--model',
        help='with no --weights: whose shipped weights to score (default ghostnet_aspp_da)',
    )
    p.add_argument('--data', required=True, help='dataset root')
    p.add_argument(
        '--dataset',
        choices=['voc', 'camvid', 'cityscapes', 'folder'],
        help='dataset layout (default: the one the weights were trained on)',
    )
    p.add_argument('--split', default='val')
    p.add_argument('--mask-dir', help='voc only: SegmentationClass or SegmentationClassAug')
    p.add_argument(
        '--flip', action='store_true', help='average with the horizontally flipped prediction'
    )
    p.add_argument(
        '--scales',
        type=cli_args.float_in(0.0, MAX_SCALE, lo_open=True),
        nargs='+',
        default=[1.0],
        help=f'multi-scale testing, e.g. 0.75 1 1.25 (each in (0, {MAX_SCALE:g}])',
    )
    p.add_argument(
        '--out',
        type=cli_args.output_folder,
        default='outputs/eval',
        help='folder for metrics.json and the PNG charts',
    )
    p.add_argument('--batch-size', type=cli_args.positive_int, default=1)
    p.add_argument(
        '--workers',
        type=cli_args.int_in(0, MAX_WORKERS),
        default=0,
        help=f'DataLoader worker processes, 0-{MAX_WORKERS} (0: load in this process)',
    )
    p.add_argument(
        '--max-images',
        type=cli_args.non_negative_int,
        help='score only the first N images (0: all)',
    )
    p.add_argument(
        '--device', type=cli_args.device, default='auto', help='auto, cpu, cuda, cuda:N'
    )
    p.add_argument('--no-progress', action='store_true')
    p.add_argument(
        '--json',
        action='store_true',
        help='print the report as one JSON line on stdout (the text report goes to stderr)',
    )
    p.set_defaults(func=run)
