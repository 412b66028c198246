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
Argument types shared by the subcommands: a bad value ends the command at parse time with one line.

Each function is an argparse ``type=``: it returns the parsed value or raises
:class:`argparse.ArgumentTypeError` with what is accepted, which argparse prints as
``lightseg CMD: error: argument --OPTION: <message>`` with exit code 2. Nothing here imports
PyTorch unless a CUDA device is asked for.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
import re
from typing import Callable

__all__ = [
    'CPU_THREADS',
    'FRAME_PIXELS',
    'FRAME_SIDE',
    'NETWORK_PIXELS',
    'NETWORK_SIDE',
    'cpu_threads',
    'check_network_pixels',
    'device',
    'float_in',
    'frame_sizes',
    'int_in',
    'network_side',
    'network_size',
    'network_sizes',
    'non_negative_int',
    'output_file',
    'output_folder',
    'frame_count',
    'frame_rate',
    'optional_output_file',
    'positive_float',
    'positive_int',
    'source_side',
    'topic_name',
]

# as the weights' input_size (models/weights.py LIMITS.side and LIMITS.network_pixels)
NETWORK_SIDE = (16, 4096)
NETWORK_PIXELS = 4096 * 1024
# a camera frame, as the node accepts it (its max_input_pixels default: 4x a 4K frame)
FRAME_SIDE = (16, 16384)
FRAME_PIXELS = 4 * 3840 * 2160
# torch CPU threads, as the node's cpu_threads parameter (0 = half the cores)
CPU_THREADS = (0, 256)

Error = argparse.ArgumentTypeError


def _int(text: str, accepted: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Error(f'expected {accepted}, got {text!r}') from None


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """Return the type of a whole number in [lo, hi] (no upper bound for None)."""
    accepted = f'a whole number >= {lo}' if hi is None else f'a whole number in [{lo}, {hi}]'

    def parse(text: str) -> int:
        value = _int(text, accepted)
        if value < lo or (hi is not None and value > hi):
            raise Error(f'expected {accepted}, got {text!r}')
        return value

    parse.__name__ = 'whole number'  # argparse's "invalid <name> value" never shows: we raise
    return parse


positive_int = int_in(1)
non_negative_int = int_in(0)
cpu_threads = int_in(*CPU_THREADS)


def float_in(
    lo: float, hi: float | None = None, *, lo_open: bool = False
) -> Callable[[str], float]:
    """Return the type of a finite number in [lo, hi] ((lo, hi] with ``lo_open``; hi None: any)."""
    left = '(' if lo_open else '['
    accepted = (
        f'a finite number {">" if lo_open else ">="} {lo:g}'
        if hi is None
        else f'a number in {left}{lo:g}, {hi:g}]'
    )

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise Error(f'expected {accepted}, got {text!r}') from None
        below = value <= lo if lo_open else value < lo
        if not math.isfinite(value) or below or (hi is not None and value > hi):
            raise Error(f'expected {accepted}, got {text!r}')
        return value

    parse.__name__ = 'number'
    return parse


positive_float = float_in(0.0, lo_open=True)
# what the tools that publish frames take: the image source's sides and rates
# (ros/image_source.py), and a frame count that ends (the image source's 0 = never stops)
source_side = int_in(16, 8192)
frame_rate = float_in(0.1, 1000.0)
frame_count = int_in(1, 1_000_000)


def _sizes(
    text: str, side: tuple[int, int], pixels: int, one: bool = False
) -> list[tuple[int, int]]:
    lo, hi = side
    form = 'HxW' if one else 'HxW,HxW,...'
    accepted = f'{form} (e.g. 360x480) with each side in [{lo}, {hi}] and at most {pixels} pixels'
    sizes = []
    for part in text.split(','):
        fields = part.strip().lower().split('x')
        try:
            if len(fields) != 2:
                raise ValueError
            h, w = (int(f) for f in fields)
        except ValueError:
            raise Error(f'expected {accepted}, got {text!r}') from None
        if not (lo <= h <= hi and lo <= w <= hi) or h * w > pixels:
            raise Error(f'expected {accepted}, got {part.strip()!r}')
        sizes.append((h, w))
    if one and len(sizes) != 1:
        raise Error(f'expected {accepted}, got {text!r}')
    return sizes


def network_sizes(text: str) -> list[tuple[int, int]]:
    """Network input sizes 'HxW,HxW': each side and the pixels bounded as a weights' input_size."""
    return _sizes(text, NETWORK_SIDE, NETWORK_PIXELS)


def network_size(text: str) -> tuple[int, int]:
    """One network input size 'HxW'."""
    return _sizes(text, NETWORK_SIDE, NETWORK_PIXELS, one=True)[0]


def frame_sizes(text: str) -> list[tuple[int, int]]:
    """Camera frame sizes 'HxW,HxW', at most the node's max_input_pixels default each."""
    return _sizes(text, FRAME_SIDE, FRAME_PIXELS)


network_side = int_in(*NETWORK_SIDE)


def check_network_pixels(prog: str, option: str, h: int, w: int) -> None:
    """Raise SystemExit (one line, exit 2 in cli.py) for an H x W above the network pixels."""
    if h * w > NETWORK_PIXELS:
        raise SystemExit(
            f'{prog}: error: argument {option}: expected at most {NETWORK_PIXELS} pixels, got '
            f'{h}x{w} = {h * w}'
        )


def device(text: str) -> str:
    """
    Return 'auto', 'cpu', 'cuda' or 'cuda:N' that this machine has, checked as the segmenter does.

    ``select_device`` (inference/segmenter.py) gives the message; a CUDA index the machine lacks is
    refused too. Returned as given, for ``select_device`` to use.
    """
    value = text.strip()
    if value == 'auto':  # the default: no import of PyTorch at parse time
        return value
    if not re.fullmatch(r'(cpu|cuda)(:\d+)?', value):
        raise Error(f'invalid device {text!r}; accepted: auto, cpu, cuda, cuda:N')
    if value.startswith('cpu'):
        return value
    from ..inference.segmenter import select_device

    try:
        chosen = select_device(value)
    except ValueError as exc:
        raise Error(str(exc)) from None
    import torch

    count = torch.cuda.device_count()
    if chosen.index is not None and chosen.index >= count:
        raise Error(
            f'device {text!r} requested but this machine has {count} CUDA device'
            f'{"s" if count != 1 else ""}; accepted: auto, cpu, cuda, cuda:0 to cuda:{count - 1}'
        )
    return value


# a ROS 2 topic name as written in a bag: tokens of letters, digits and underscores (not starting
# with a digit) joined by single slashes (REP-144 / the rcl name rules)
_TOPIC = re.compile(r'/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*')


def topic_name(text: str) -> str:
    """Return a valid ROS 2 topic name, e.g. /camera/image_raw."""
    if not _TOPIC.fullmatch(text):
        raise Error(
            f'{text[:80]!r} is not a valid ROS topic name; expected names of letters, digits and '
            "'_' (not starting with a digit) joined by single '/', e.g. /camera/image_raw"
        )
    return text


def output_file(text: str) -> str:
    """Return a file path to write: not an existing folder, nor below an existing file."""
    path = Path(text)
    if not text.strip():
        raise Error(f'expected the path of a file to write, got {text!r}')
    if path.is_dir():
        raise Error(f'{text!r} is a folder; expected the path of a file to write')
    for parent in path.parents:  # the nearest that exists must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise Error(
                    f'{str(parent)!r} is not a folder; expected the path of a file to write'
                )
            _check_writable(parent)
            break
    return text


def _check_writable(folder: Path) -> None:
    """
    Refuse a folder no file can be written in, before the command's work rather than after it.

    By writing one (and removing it): permissions do not tell (root may write anywhere, yet not
    in /proc), and ``lightseg results --json`` scored every model before its write failed.
    """
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix='.lightseg-probe-'):
            pass
    except OSError as exc:
        raise Error(f'cannot write a file in {str(folder)!r}: {exc.strerror}') from None


def optional_output_file(text: str) -> str:
    """Return '' (nothing to write) or a file path to write, as :func:`output_file`."""
    return text if text == '' else output_file(text)


def output_folder(text: str) -> str:
    """Return a folder path to write into: an existing folder or a path not there yet."""
    path = Path(text)
    if not text.strip():
        raise Error(f'expected the path of a folder to write into, got {text!r}')
    if path.exists() and not path.is_dir():
        raise Error(f'{text!r} exists and is not a folder; expected a folder (new or existing)')
    if path.is_dir():
        _check_writable(path)
        return text
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise Error(f'{str(parent)!r} is not a folder; expected a folder to write into')
            # a write, not os.access: root "may" write in /proc, and eval scored a whole split
            # before its report could not be written
            _check_writable(parent)
            break
    return text
