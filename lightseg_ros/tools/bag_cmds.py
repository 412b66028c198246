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

"""``lightseg make-bag`` and ``lightseg bag-eval``: evaluation bags and scoring a model on them."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from . import cli_args
from ..sources.bags import BagError


def _palette(name: str | None):
    if name is None:
        return None
    from ..evaluation.bag_eval import LabelPalette

    if name == 'camvid':
        return LabelPalette.camvid()
    path = Path(name)
    if not path.is_file():
        raise BagError(
            f"--label-palette takes 'camvid' or a text file of 'R G B' (and 'R G B id') lines; "
            f'{name} is neither'
        )
    return LabelPalette.from_file(path)


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit='frame', file=sys.stderr, disable=None)


def run_make_bag(args: argparse.Namespace) -> int:
    from ..evaluation.make_bag import make_bag

    try:
        s = make_bag(
            args.images,
            args.labels,
            args.out,
            fps=args.fps,
            image_topic=args.image_topic,
            label_topic=args.label_topic,
            frame_id=args.frame_id,
            storage=args.storage,
            limit=args.limit,
        )
    except BagError as exc:
        print(f'lightseg make-bag: error: {exc}', file=sys.stderr)
        return 2
    print(
        f'wrote {s.path}: {s.frames} frames ({s.labelled} labelled), {s.duration_s:.1f} s at '
        f'{args.fps} fps, topics {args.image_topic} and {args.label_topic}'
    )
    return 0


def run_bag_eval(args: argparse.Namespace) -> int:
    from ..evaluation import bag_eval
    from ..models import trained_weights, UnknownModelError, WeightsError
    from ..models.shipped import DEFAULT_MODEL

    try:
        palette = _palette(args.label_palette)
        path = trained_weights(args.weights, args.model)
        weights, model = (str(path), args.model) if path else (None, args.model or DEFAULT_MODEL)
        if args.mode == 'offline':
            from ..inference.segmenter import Segmenter

            segmenter = Segmenter(weights, model=model, device=args.device)
            with _progress(None, 'bag-eval') as bar:
                report = bag_eval.evaluate_offline(
                    args.bag,
                    args.image_topic,
                    args.label_topic,
                    segmenter,
                    label_palette=palette,
                    record=args.record,
                    progress=bar.update,
                )
        else:
            from ..evaluation.node_replay import evaluate_node

            with _progress(None, 'bag-eval (node)') as bar:
                report = evaluate_node(
                    args.bag,
                    args.image_topic,
                    args.label_topic,
                    model=model,
                    weights=weights,
                    device=args.device,
                    rate=args.rate,
                    label_palette=palette,
                    record=args.record,
                    progress=bar.update,
                )
    except (BagError, WeightsError, UnknownModelError, ValueError) as exc:
        print(f'lightseg bag-eval: error: {exc}', file=sys.stderr)
        return 2
    print(report.table())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(report.to_json())
        print(f'JSON written to {args.json}')
    if args.record:
        print(f'outputs recorded to {args.record}')
    if report.frames and not report.processed:  # every frame malformed (or dropped): say so
        print(
            f'lightseg bag-eval: error: none of the {report.frames} frames on '
            f'{args.image_topic} could be segmented (see the skipped lines above)',
            file=sys.stderr,
        )
        return 1
    if args.label_topic and report.processed and not report.labelled:
        print(
            f'lightseg bag-eval: error: {_why_unscored(report, args.label_topic)}', file=sys.stderr
        )
        return 2
    return 0


def _why_unscored(report, label_topic: str) -> str:
    """One line: why no frame of ``report`` could be scored against ``label_topic``."""
    label_kinds = sorted(k for k in report.malformed_counts if k.startswith('label_'))
    if label_kinds:
        kind = label_kinds[0]
        return (
            f'no frame could be scored: {report.malformed_counts[kind]} labels on {label_topic} '
            f'skipped as {kind} (first: {report.malformed_examples.get(kind, "")}); labels must '
            "be class ids (mono8, 8UC1, mono16 or 16UC1) or palette colours, of their image's size"
        )
    return (
        f'no frame could be scored: none of the {report.processed} frames has a label on '
        f'{label_topic} with its header stamp; labels are paired with frames by header stamp'
    )


def _rate(text: str) -> float | None:
    if text == 'max':
        return None
    try:
        return cli_args.positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"rate must be a positive finite number or 'max', got {text!r}"
        ) from None


def register(sub: argparse._SubParsersAction) -> None:
    from ..evaluation.make_bag import MAX_FPS

    p = sub.add_parser(
        'make-bag', help='build an evaluation rosbag2 from an image folder and a label folder'
    )
    p.add_argument('images', help='folder of images (png/jpg)')
    p.add_argument(
        'labels', nargs='?', help="folder of class-id PNG labels with the images' file names"
    )
    p.add_argument(
        '--out',
        required=True,
        type=cli_args.output_folder,
        help='output bag folder (must not exist)',
    )
    p.add_argument(
        '--fps',
        type=cli_args.float_in(0.0, MAX_FPS, lo_open=True),
        default=15.0,
        help=f'frame rate of the stamps, in (0, {MAX_FPS:g}] (default 15)',
    )
    p.add_argument('--image-topic', type=cli_args.topic_name, default='/camera/image_raw')
    p.add_argument('--label-topic', type=cli_args.topic_name, default='/camera/labels')
    p.add_argument('--frame-id', default='camera')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    p.add_argument(
        '--limit', type=cli_args.non_negative_int, help='only the first N images (0: all)'
    )
    p.set_defaults(func=run_make_bag)

    p = sub.add_parser(
        'bag-eval',
        help='score a model on a rosbag2: mIoU and latency, offline or through the node',
    )
    p.add_argument('bag', help='rosbag2 folder (sqlite3 or MCAP)')
    p.add_argument('--image-topic', type=cli_args.topic_name, required=True)
    p.add_argument(
        '--label-topic',
        type=cli_args.topic_name,
        help='mono8 class-id label images, paired with frames by header stamp',
    )
    p.add_argument(
        '--label-palette',
        help="labels are colour images: 'camvid', or a file of 'R G B' lines (class ids 0, 1, ... "
        "in their order; comments and blank lines not counted) and 'R G B id' lines (e.g. "
        "'0 0 0 11' maps black to id 11); a colour outside the palette is an error listing the "
        'colours found',
    )
    p.add_argument(
        '--model',
        help='model name (default: the one the weights file names, else ghostnet_aspp_da)',
    )
    p.add_argument(
        '--weights',
        default='',
        help="weights file (.safetensors); default: the package's trained "
        "weights for --model; 'random' for an untrained model (latency only)",
    )
    p.add_argument(
        '--device', type=cli_args.device, default='auto', help='auto, cpu, cuda, cuda:N'
    )
    p.add_argument('--mode', choices=('offline', 'node'), default='offline')
    p.add_argument(
        '--rate',
        type=_rate,
        default=1.0,
        help="node mode: replay speed factor of the recorded rate, or 'max' (default 1.0)",
    )
    p.add_argument(
        '--record',
        type=cli_args.output_folder,
        help='write mask, color_mask and overlay topics to this new bag',
    )
    p.add_argument(
        '--json', type=cli_args.output_file, help='also write the report as JSON to this file'
    )
    p.set_defaults(func=run_bag_eval)
