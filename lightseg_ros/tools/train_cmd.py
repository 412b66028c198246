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
``lightseg train``: train a model from a YAML recipe (``config/train/**.yaml``) with overrides.

Several processes: ``torchrun --nproc_per_node N -m lightseg_ros.cli train --config ...``.
``--print-config`` prints the resolved recipe (bases, overrides and flags applied) and exits.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import sys

from ..training.config import ConfigError, dump_config, load_config, TrainConfig
from ..training.datasets import DatasetError

__all__ = ['register', 'run', 'config_from_args', 'one_line']


def one_line(exc: BaseException) -> str:
    """
    Return an error's message as one line.

    A DataLoader worker's error arrives wrapped with the worker's traceback; its last line is the
    message.
    """
    text = str(exc).strip()
    if 'Original Traceback' in text:
        last = text.splitlines()[-1]
        text = last.split(': ', 1)[1] if last.split(': ', 1)[0].endswith('Error') else last
    return ' '.join(text.split())


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Return the run's config: file, then ``--set`` overrides, then the explicit flags."""
    overrides = list(args.set or [])
    flags = {
        'train.output_dir': args.output_dir,
        'train.epochs': args.epochs,
        'train.batch_size': args.batch_size,
        'optim.lr': args.lr,
        'train.device': args.device,
        'train.workers': args.workers,
        'train.seed': args.seed,
    }
    # a flag's string is that string, not YAML: JSON's quoted form is YAML that reads back as it
    # ('runs/exp1 #baseline' lost its comment, '2024' became a number)
    overrides += [
        f'{k}={json.dumps(v, ensure_ascii=False) if isinstance(v, str) else v}'
        for k, v in flags.items()
        if v is not None
    ]
    if args.no_progress:
        overrides.append('train.progress=false')
    cfg = load_config(args.config, overrides)
    # a path given on the command line is relative to the working directory
    if args.data is not None:
        # abspath, not resolve(): resolve() raises RuntimeError on a symlink loop, where
        # resolve_data_root says the folder is not found
        cfg.data.root = os.path.abspath(Path(args.data).expanduser())
    return cfg


def run(args: argparse.Namespace) -> int:
    from ..models import PretrainedWeightsError
    from ..training.engine import CheckpointError

    try:
        return _run(args)
    except (ConfigError, DatasetError, CheckpointError, PretrainedWeightsError) as exc:
        print(f'lightseg train: error: {one_line(exc)}', file=sys.stderr)
        return 2


def _at_least(option: str, value: int | None, low: int) -> None:
    """Raise :class:`ConfigError` where a numeric flag is given below ``low``."""
    if value is not None and value < low:
        raise ConfigError(f'{option} must be an integer >= {low}, got {value}')


def check_device(device: str) -> None:
    """Raise :class:`ConfigError` where ``train.device`` cannot be used on this machine."""
    from ..inference.segmenter import select_device

    try:
        select_device(device)
    except ValueError as exc:
        raise ConfigError(f'train.device: {exc}') from None


def _run(args: argparse.Namespace) -> int:
    _at_least('--benchmark-iters', args.benchmark_iters, 1)
    _at_least('--benchmark-warmup', args.benchmark_warmup, 0)
    _at_least('--stop-after-epochs', args.stop_after_epochs, 0)
    cfg = config_from_args(args)
    if args.print_config:
        print(dump_config(cfg), end='')
        return 0
    check_device(cfg.train.device)
    if args.benchmark_iters is not None:
        from ..training.engine import benchmark_training

        result = benchmark_training(cfg, iters=args.benchmark_iters, warmup=args.benchmark_warmup)
        print(json.dumps(result))
        return 0
    from ..training.engine import CHECKPOINT_LAST, train

    resume = args.resume
    if resume == 'auto':
        last = Path(cfg.train.output_dir) / CHECKPOINT_LAST
        resume = str(last) if last.is_file() else None
    summary = train(cfg, resume=resume, stop_after_epochs=args.stop_after_epochs)
    if summary.get('weights'):
        print(f'weights: {summary["weights"]}')
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        'train',
        help='train a model from a YAML config',
        description='Train a segmentation model. Settings come from --config, then --set '
        'overrides (YAML values), then the explicit flags.',
    )
    p.add_argument('--config', help='YAML recipe, e.g. config/train/camvid_ghostnet_aspp_da.yaml')
    p.add_argument(
        '--set', action='append', metavar='KEY=VALUE', help='override, e.g. --set optim.lr=0.01'
    )
    p.add_argument(
        '--data', metavar='PATH', help='dataset root, e.g. /path/to/camvid (sets data.root)'
    )
    p.add_argument(
        '--output-dir', help='where checkpoints, weights and logs go (train.output_dir)'
    )
    p.add_argument('--epochs', type=int)
    p.add_argument(
        '--batch-size', type=int, help='global batch size (split over torchrun processes)'
    )
    p.add_argument('--lr', type=float, help='peak learning rate (optim.lr)')
    p.add_argument('--workers', type=int, help='data-loading worker processes')
    p.add_argument('--seed', type=int)
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'])
    p.add_argument(
        '--resume',
        metavar='CHECKPOINT',
        help=(
            "continue exactly from a checkpoint ('auto': OUTPUT_DIR/checkpoint_last.pth if "
            'present)'
        ),
    )
    p.add_argument(
        '--stop-after-epochs',
        type=int,
        metavar='N',
        help='stop this invocation after N epochs (resume later with --resume)',
    )
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument(
        '--benchmark-iters',
        type=int,
        metavar='N',
        help='measure training throughput over N iterations on random batches, then exit',
    )
    p.add_argument('--benchmark-warmup', type=int, default=3, metavar='N')
    p.add_argument(
        '--print-config',
        action='store_true',
        help='print the resolved recipe as YAML (bases, --set and flags applied) and exit',
    )
    p.set_defaults(func=run)
