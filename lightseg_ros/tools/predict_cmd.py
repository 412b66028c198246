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
``lightseg predict``: segment images, folders, globs and videos with the node's model.

With the node's model and weights; writes label PNGs, colour masks, overlays (an overlay video per
video) and ``summary.json``.

The work is :mod:`lightseg_ros.inference.predict`; this module parses, reports and sets exit codes:
0 when at least one frame was segmented, 2 when no input could be used or the model cannot be
loaded, 1 when an output cannot be written. Bad inputs get one line each and are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import cli_args

__all__ = ['register', 'run']

PROG = 'lightseg predict'
ACCEPTED = (
    'image files ({}), folders of them (recursively), globs, video files OpenCV reads '
    '(mp4, avi, mkv, ...)'
)


def run(args: argparse.Namespace) -> int:
    # OpenCV prints its own lines (without the file's name) for files it cannot decode; each bad
    # input gets our one line instead (FFmpeg's lines are quieted where videos are opened,
    # sources/frames.py). A level the user set in the environment wins.
    import cv2

    if 'OPENCV_LOG_LEVEL' not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)
    import torch
    from tqdm import tqdm

    from ..inference.backends import BackendError
    from ..inference.predict import build_segmenter, collect_inputs, count_frames, predict
    from ..models import no_shipped_weights_note, read_weights_meta
    from ..models.shipped import DEFAULT_MODEL, RANDOM
    from ..ros.node_config import cpu_threads_for
    from ..sources.bags import shown_path
    from ..sources.frames import IMAGE_SUFFIXES

    def say(problem) -> None:
        tqdm.write(f'{PROG}: skipped: {problem.problem}', file=sys.stderr)

    try:  # checked here, not by argparse, for one line without the usage above it
        cli_args.device(args.device)
    except argparse.ArgumentTypeError as exc:
        print(f'{PROG}: error: argument --device: {exc}', file=sys.stderr)
        return 2
    accepted = ACCEPTED.format(', '.join(IMAGE_SUFFIXES))
    inputs, skipped = collect_inputs(args.inputs, exclude=args.out)
    for problem in skipped:
        say(problem)
    if not inputs:
        print(f'{PROG}: error: no usable input; accepted: {accepted}', file=sys.stderr)
        return 2
    # before the model: ONNX Runtime takes the count too
    torch.set_num_threads(cpu_threads_for(args.cpu_threads))
    try:
        if args.model and args.weights.strip() not in ('', RANDOM):
            found = read_weights_meta(args.weights).model  # the file names its model
            if found != args.model:
                raise ValueError(
                    f'{args.weights} holds weights for {found!r}, not the requested '
                    f'{args.model!r}; give one of --model and --weights'
                )
        segmenter = build_segmenter(
            args.weights,
            args.model or DEFAULT_MODEL,
            device=args.device,
            backend=args.backend,
            input_size=tuple(args.input_size) if any(args.input_size) else None,
            resize=args.resize,
        )
    except (ValueError, BackendError) as exc:  # unknown model, bad weights file, device, backend
        print(f'{PROG}: error: {exc}', file=sys.stderr)
        return 2
    try:
        with tqdm(
            total=count_frames(inputs), desc='predict', unit='frame', file=sys.stderr, disable=None
        ) as bar:
            summary = predict(
                inputs,
                segmenter,
                args.out,
                outputs=args.outputs,
                alpha=args.alpha,
                video_frames=args.video_frames,
                skipped=skipped,
                progress=bar.update,
                report=say,
                warn=lambda line: tqdm.write(f'{PROG}: warning: {line}', file=sys.stderr),
            )
    except OSError as exc:
        # the path and the system's reason ('No space left on device'), not "[Errno 28] ..."
        line = (
            f'cannot write {shown_path(exc.filename)}: {exc.strerror}'
            if exc.filename and exc.strerror
            else str(exc)
        )
        print(f'{PROG}: error: {line}', file=sys.stderr)
        return 1
    if summary['frames'] == 0:
        print(f'{PROG}: error: no frame could be read; accepted: {accepted}', file=sys.stderr)
        return 2
    lat = summary['latency_ms']
    print(
        f'{summary["frames"]} frames ({summary["images"]} images, {len(summary["videos"])} '
        f'videos, {len(summary["skipped"])} inputs skipped) in {summary["wall_s"]:.1f} s; '
        f'{segmenter.model_name} on {segmenter.backend.description}: p50 {lat["p50"]:.1f} ms, '
        f'max {lat["max"]:.1f} ms per frame'
        + (f', p99 {lat["p99"]:.1f} ms' if lat['p99'] is not None else '')
    )
    written = ', '.join(f'{n} in {k}/' for k, n in summary['files_written'].items() if n)
    print(
        f'wrote {written or "no files"} under {summary["out"]}; summary: '
        f'{os.path.join(summary["out"], "summary.json")}'
    )
    if segmenter.random_weights:
        asked = args.weights.strip() == RANDOM  # read as the node reads its 'weights' parameter
        note = no_shipped_weights_note(args.model or DEFAULT_MODEL)
        print('NOTE: ' + ('RANDOM weights, as asked' if asked else note))
    else:
        print(f'weights: {segmenter.weights_path}')
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from ..inference.backends import BACKEND_CHOICES
    from ..inference.predict import OUTPUT_KINDS
    from ..inference.segmenter import RESIZE_POLICIES
    from ..models.shipped import DEFAULT_MODEL

    p = sub.add_parser(
        'predict',
        help='segment images, folders, globs and videos; write label PNGs, colour masks, '
        'overlays and a JSON summary',
    )
    p.add_argument(
        'inputs',
        nargs='+',
        metavar='INPUT',
        help='image file, folder (its images, recursively, sorted), glob (quoted), or video file',
    )
    p.add_argument(
        '--out',
        type=cli_args.output_folder,
        default='outputs/predict',
        help='output folder: label/, color/, overlay/, summary.json',
    )
    p.add_argument(
        '--outputs',
        nargs='+',
        choices=OUTPUT_KINDS,
        default=list(OUTPUT_KINDS),
        help='what to write per image; a video gets an overlay video (default: all)',
    )
    p.add_argument(
        '--video-frames',
        action='store_true',
        help="also write a video's label and color outputs per frame (label/NAME/000000.png)",
    )
    p.add_argument(
        '--model',
        help=f'model name (default {DEFAULT_MODEL}); runs with the weights the package ships '
        "for it unless --weights, whose file names its model (as the node's 'model')",
    )
    p.add_argument(
        '--weights',
        default='',
        help="a lightseg .safetensors file (names its model), or 'random' "
        "(as the node's 'weights')",
    )
    p.add_argument(
        '--backend',
        default='auto',
        choices=BACKEND_CHOICES,
        help='auto (ONNX Runtime on the CPU when installed, PyTorch on CUDA), torch, onnxruntime',
    )
    p.add_argument('--device', default='auto', help='auto, cpu, cuda, cuda:N')
    p.add_argument(
        '--alpha',
        type=cli_args.float_in(0.0, 1.0),
        default=0.5,
        help='overlay weight of the colour mask, 0..1 (node: overlay_alpha)',
    )
    p.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        default=[0, 0],
        metavar=('H', 'W'),
        help="network input; 0 0 = the weights' size (as the node's input_size)",
    )
    p.add_argument(
        '--resize',
        choices=RESIZE_POLICIES,
        default='stretch',
        help='stretch or letterbox (as the node)',
    )
    p.add_argument(
        '--cpu-threads',
        type=cli_args.cpu_threads,
        default=0,
        help='torch CPU threads, %d-%d; 0 = half the cores (as the node)' % cli_args.CPU_THREADS,
    )
    p.set_defaults(func=run)
