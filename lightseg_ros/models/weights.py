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
Weights files that carry their own metadata: safetensors tensors + a JSON header entry.

Whoever loads a file (the node's Segmenter, ``lightseg eval``, the benchmark) needs nothing else:
the model name and options, classes, colours, normalisation and input size travel with it.
Nothing is unpickled: safetensors holds raw tensors only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import errno
import json
import math
import numbers
import os
from pathlib import Path
from typing import Any
import unicodedata

import torch
from torch import nn

from .registry import (
    architecture_switches,
    build_model,
    get_model_spec,
    list_models,
    option_type_problem,
)
from ..classes import default_palette, IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    'WeightsMeta',
    'WeightsError',
    'save_weights',
    'read_weights_meta',
    'load_weights',
    'load_model',
    'weights_problem',
    'METADATA_KEY',
    'LIMITS',
    'text_problem',
]

METADATA_KEY = 'lightseg'
#: safetensors dtypes a weights file may store floating tensors in, and integer buffers in
FLOAT_DTYPES = ('F16', 'BF16', 'F32', 'F64')
INTEGER_DTYPES = ('I64', 'I32')
FORMAT_VERSION = 1


class WeightsError(ValueError):
    """A weights file is missing, unreadable, or does not fit its model; the message says which."""


class _Limits:
    """What the metadata schema accepts (README, "Limits"). One place, so docs and checks agree."""

    metadata_bytes = 1_000_000  # the JSON text of the 'lightseg' entry
    nesting = 16  # JSON levels (the shipped files use 3)
    num_classes = (1, 1024)
    text_chars = 256  # a class name, the model or dataset name, an option name
    options = 64  # model_options entries
    mean = (-1e3, 1e3)
    std = (1e-3, 1e3)  # > 0: std is a divisor (1 / (255 * std) per pixel)
    side = (16, 4096)  # input_size / train_image_size, each of H and W
    network_pixels = 4096 * 1024  # input_size H * W: what one network pass may be asked to run at
    ignore_index = (0, 65535)


LIMITS = _Limits()


class _FieldError(ValueError):
    """One schema violation: the field and what is wrong with it (callers add the file's name)."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"'{field_name}' {problem}")
        self.field_name = field_name
        self.problem = problem


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _FieldError(name, f'must be an integer in [{lo}, {hi}], got {_show(value)}')
    if not lo <= value <= hi:
        raise _FieldError(name, f'must be in [{lo}, {hi}], got {value}')
    return int(value)


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    try:  # an integer of 400 digits is no float (isfinite raised OverflowError on it)
        finite = math.isfinite(value)
    except (OverflowError, TypeError):
        finite = False
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not finite:
        raise _FieldError(name, f'must be a finite number in [{lo:g}, {hi:g}], got {_show(value)}')
    if not lo <= value <= hi:
        raise _FieldError(name, f'must be in [{lo:g}, {hi:g}], got {value:g}')
    return float(value)


#: the characters that change the direction text is shown in (LRM, RLM, embeddings, overrides,
#: isolates, the Arabic letter mark)
_BIDI_CONTROLS = frozenset(
    '\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c'
)


def _text(name: str, value: Any, *, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise _FieldError(
            name, f'must be {"a" if empty else "a non-empty"} string, got {_show(value)}'
        )
    if len(value) > LIMITS.text_chars:
        raise _FieldError(name, f'is longer than {LIMITS.text_chars} characters ({len(value)})')
    # a newline would forge lines in reports and logs (so would U+2028/9, line and paragraph
    # separators to many viewers), a lone surrogate cannot be printed or encoded (a plot of the
    # classes failed with one), and a bidirectional control reverses how a table reads
    bad = next(
        (
            c
            for c in value
            if unicodedata.category(c) in ('Cc', 'Cs', 'Zl', 'Zp') or c in _BIDI_CONTROLS
        ),
        None,
    )
    if bad is not None:
        raise _FieldError(
            name, f'must be printable text, got {_show(value)} (character U+{ord(bad):04X})'
        )
    return value


#: parts a recipe's train_split may join with '+' (CamVid's richest is 'train+val[-0006R0]')
MAX_SPLIT_PARTS = 16


def _check_recipe(recipe: dict) -> None:
    """
    Check the recipe fields the tools read and print: the training split and the loss.

    ``lightseg eval`` builds the split a file names to see which of its images the weights saw: a
    split of 100000 parts listed the dataset 100000 times (hours, gigabytes).
    """
    for key in ('train_split', 'loss'):
        if recipe.get(key) is not None:
            _text(f'recipe.{key}', recipe[key])
    split = recipe.get('train_split')
    if split is not None and split.count('+') >= MAX_SPLIT_PARTS:
        raise _FieldError(
            'recipe.train_split',
            f'joins {split.count("+") + 1} splits; at most {MAX_SPLIT_PARTS} are accepted',
        )


def text_problem(value: Any) -> str | None:
    """
    Return what the metadata finds wrong with ``value`` as a text field (a class name), else None.

    For the files whose text ends up in the metadata (a dataset's classes file): they refuse what
    a weights file would, before a training run spends an epoch and fails saving its weights.
    The answer reads after the field's name: ``must be printable text, got ...``.
    """
    try:
        _text('text', value)
    except _FieldError as exc:
        return exc.problem
    return None


def _list(name: str, value: Any, length: int | None = None, what: str = '') -> list:
    if not isinstance(value, (list, tuple)):
        raise _FieldError(name, f'must be a list{what}, got {_show(value)}')
    if length is not None and len(value) != length:
        raise _FieldError(name, f'must have {length} entries{what}, got {len(value)}')
    return list(value)


def _size(name: str, value: Any) -> list[int] | None:
    if value is None:
        return None
    lo, hi = LIMITS.side
    size = [
        _int(f'{name}[{i}]', v, lo, hi)
        for i, v in enumerate(_list(name, value, 2, ' [height, width] or null'))
    ]
    return size


def _show(value: Any) -> str:
    """Return a short rendering of a bad value (a crafted file may hold megabytes)."""
    text = (
        repr(value)
        if not isinstance(value, (dict, list))
        else f'a JSON {"object" if isinstance(value, dict) else "list"}'
    )
    return text if len(text) <= 60 else text[:57] + '...'


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > LIMITS.nesting:
                return level
            stack.extend(
                (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


@dataclass
class WeightsMeta:
    """
    The metadata a weights file carries.

    Construction checks every field (see :data:`LIMITS`), so a value that cannot be run (std 0, a
    million-pixel input size, 5 names for 3 classes) never gets far.
    """

    model: str
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    colors: list[list[int]] = field(default_factory=list)  # RGB per class
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    input_size: list[int] | None = None  # network input [H, W]; None = the image's own size
    output_stride: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    ignore_index: int = 255
    dataset: str = ''
    val_miou: float | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # [H, W] of the images the model was trained on: the scale it learned objects at (the
    # segmenter's default inference cap follows it); None = not recorded
    train_image_size: list[int] | None = None

    def __post_init__(self) -> None:
        try:
            self._check()
        except _FieldError as exc:
            raise WeightsError(f'invalid weights metadata: {exc}') from None

    def _check(self) -> None:
        self.model = _text('model', self.model, empty=False)
        n = self.num_classes = _int('num_classes', self.num_classes, *LIMITS.num_classes)
        what = f' (one per class: num_classes is {n})'
        if self.class_names is None or (
            isinstance(self.class_names, (list, tuple)) and not self.class_names
        ):
            self.class_names = [f'class_{i}' for i in range(n)]
        self.class_names = [
            _text(f'class_names[{i}]', v)
            for i, v in enumerate(_list('class_names', self.class_names, n, what))
        ]
        if self.colors is None or (isinstance(self.colors, (list, tuple)) and not self.colors):
            self.colors = default_palette(n).tolist()
        self.colors = [
            [
                _int(f'colors[{i}][{c}]', v, 0, 255)
                for c, v in enumerate(_list(f'colors[{i}]', rgb, 3, ' [r, g, b]'))
            ]
            for i, rgb in enumerate(_list('colors', self.colors, n, what))
        ]
        self.mean = [
            _number(f'mean[{i}]', v, *LIMITS.mean)
            for i, v in enumerate(_list('mean', self.mean, 3, ' (R, G, B)'))
        ]
        self.std = [
            _number(f'std[{i}]', v, *LIMITS.std)
            for i, v in enumerate(_list('std', self.std, 3, ' (R, G, B)'))
        ]
        self.input_size = _size('input_size', self.input_size)
        if self.input_size and self.input_size[0] * self.input_size[1] > LIMITS.network_pixels:
            raise _FieldError(
                'input_size',
                f'{self.input_size[0]}x{self.input_size[1]} is more than '
                f'{LIMITS.network_pixels} pixels',
            )
        self.train_image_size = _size('train_image_size', self.train_image_size)
        if self.output_stride is not None:
            self.output_stride = _int('output_stride', self.output_stride, 1, 64)
        if not isinstance(self.model_options, dict):
            raise _FieldError(
                'model_options', f'must be a JSON object, got {_show(self.model_options)}'
            )
        if len(self.model_options) > LIMITS.options:
            raise _FieldError('model_options', f'has more than {LIMITS.options} entries')
        for key, value in self.model_options.items():
            _text('model_options key', key, empty=False)
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise _FieldError(
                    f'model_options.{key}',
                    f'must be a number, string, boolean or null, got {_show(value)}',
                )
        self.ignore_index = _int('ignore_index', self.ignore_index, *LIMITS.ignore_index)
        self.dataset = _text('dataset', self.dataset)
        if self.val_miou is not None:
            self.val_miou = _number('val_miou', self.val_miou, 0.0, 1.0)
        if not isinstance(self.recipe, dict):
            raise _FieldError('recipe', f'must be a JSON object, got {_show(self.recipe)}')
        _check_recipe(self.recipe)
        self.format_version = _int('format_version', self.format_version, 1, FORMAT_VERSION)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> 'WeightsMeta':
        """
        Parse and check metadata text.

        :class:`WeightsError` names the field (the caller adds the file).
        """
        if len(text) > LIMITS.metadata_bytes:
            raise WeightsError(
                f'metadata is {len(text)} characters; at most {LIMITS.metadata_bytes} are accepted'
            )
        try:
            data = json.loads(text)
        # the C parser stops at Python's recursion limit; the message says why
        except RecursionError:
            raise WeightsError(f'metadata nests deeper than {LIMITS.nesting} levels') from None
        except ValueError as exc:  # JSONDecodeError, or an integer literal too long to convert
            raise WeightsError(f'metadata is not valid JSON ({exc})') from None
        if not isinstance(data, dict):
            raise WeightsError(
                f"metadata must be a JSON object with 'model' and 'num_classes', got {_show(data)}"
            )
        if _depth(data) > LIMITS.nesting:
            raise WeightsError(f'metadata nests deeper than {LIMITS.nesting} levels')
        for required in ('model', 'num_classes'):
            if required not in data:
                raise WeightsError(f"metadata has no '{required}' field")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def save_weights(
    path: str | os.PathLike, model: nn.Module, meta: WeightsMeta, *, half: bool = False
) -> Path:
    """
    Write ``model``'s state dict and ``meta`` atomically (temp file + rename).

    The metadata is checked again first (fields may have been changed since construction): nothing
    writes a file that the loaders would refuse.
    """
    from safetensors.torch import save_file

    meta.__post_init__()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v.contiguous()
    tmp = path.with_name(path.name + '.tmp')
    save_file(state, str(tmp), metadata={METADATA_KEY: meta.to_json()})
    # safetensors creates its files owner-only (0600); a weights file is meant to be shared (a node
    # run by another user, a package install), so it gets the mode any new file gets here
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
    return path


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def _open_checked(path: Path):
    from safetensors import safe_open, SafetensorError

    try:
        path.stat()
    except OSError as exc:  # a name too long, a folder on the way that cannot be searched
        if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):  # said below
            raise WeightsError(f'cannot read weights file {path}: {exc.strerror or exc}') from None
    if not path.is_file():
        if path.exists():  # a folder, a device, a pipe: "not found" would send users looking
            raise WeightsError(f'{path} is not a regular file; weights are .safetensors files')
        if path.is_symlink():  # there, but leading nowhere: "not found" would be as misleading
            raise WeightsError(
                f'weights file {path} is a symbolic link whose target is missing (or that loops)'
            )
        raise WeightsError(f'weights file not found: {path}')
    try:
        with open(path, 'rb') as f:  # safetensors words an unreadable file as a missing one
            head = f.read(8)
    except OSError as exc:
        raise WeightsError(f'cannot read weights file {path}: {exc.strerror}') from None
    try:
        return safe_open(str(path), framework='pt')
    except (SafetensorError, OSError, ValueError) as exc:
        why = _what_it_is(path, head) or _first_line(exc)
        raise WeightsError(
            f'{path} is not a readable safetensors file ({why}); lightseg_ros loads '
            ".safetensors files written by 'lightseg train' or 'lightseg export'"
        ) from None


def _what_it_is(path: Path, head: bytes) -> str:
    """Name the kinds of file users give as weights by mistake, from their first bytes."""
    if head.startswith(b'PK\x03\x04'):  # torch.save's format since PyTorch 1.6
        return 'a zip archive, as a PyTorch .pt/.pth checkpoint is: it holds pickles, never loaded'
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocols 2-5
        return 'a Python pickle, as an older PyTorch checkpoint is: pickles are never loaded'
    if path.suffix.lower() == '.onnx':
        return 'an ONNX model: the node exports and caches ONNX itself from a .safetensors file'
    return ''


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    line = line if len(line) <= 200 else line[:197] + '...'
    # safetensors quotes the file's own strings (a dtype, a tensor name): a terminal escape in
    # them would reach the screen, so every control character is shown as its escape
    return ''.join(
        c.encode('unicode_escape').decode('ascii') if unicodedata.category(c)[0] == 'C' else c
        for c in line
    )


def _meta_of(path: Path, header: dict[str, str] | None) -> WeightsMeta:
    if not header or METADATA_KEY not in header:
        raise WeightsError(
            f"{path} has no '{METADATA_KEY}' metadata; weights must be written by lightseg_ros "
            '(models.weights.save_weights), which records the model name and classes'
        )
    try:
        meta = WeightsMeta.from_json(header[METADATA_KEY])
    except WeightsError as exc:
        raise WeightsError(
            f"{path}: invalid '{METADATA_KEY}' metadata: "
            f'{str(exc).removeprefix("invalid weights metadata: ")}'
        ) from None
    if meta.model not in list_models():
        raise WeightsError(
            f'{path} is for model {meta.model!r}, which is not registered; accepted: '
            f'{list_models()}'
        )
    spec = get_model_spec(meta.model)
    if meta.output_stride is not None and meta.output_stride not in spec.output_strides:
        raise WeightsError(
            f"{path}: invalid '{METADATA_KEY}' metadata: 'output_stride' must be one of "
            f'{list(spec.output_strides)} for {meta.model}, got {meta.output_stride}'
        )
    switches = architecture_switches(spec.builder)
    for key, value in meta.model_options.items():
        if key not in switches:
            raise WeightsError(
                f"{path}: invalid '{METADATA_KEY}' metadata: 'model_options' names {key!r}, which "
                f'{meta.model} does not take; accepted: {sorted(switches) or "none"}'
            )
        wrong = option_type_problem(switches[key], value)
        if wrong:
            raise WeightsError(
                f"{path}: invalid '{METADATA_KEY}' metadata: 'model_options.{key}' {wrong}"
            )
    return meta


def read_weights_meta(path: str | os.PathLike) -> WeightsMeta:
    """
    Return the metadata of a weights file, without reading tensors.

    It is checked as :func:`load_weights` checks it.
    """
    path = Path(path)
    with _open_checked(path) as f:
        header = f.metadata()
    return _meta_of(path, header)


def weights_problem(path: str | os.PathLike) -> str | None:
    """
    None when ``path``'s metadata passes every check, else the one-line reason (naming the file).

    What the node's parameter callback and the command-line tools call before loading: it never
    raises, whatever the file holds.
    """
    try:
        read_weights_meta(path)
    except WeightsError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - hostile files must give a reason, not a traceback
        return f'{path}: cannot read weights metadata ({type(exc).__name__}: {_first_line(exc)})'
    return None


def load_weights(path: str | os.PathLike) -> tuple[WeightsMeta, dict[str, torch.Tensor]]:
    path = Path(path)
    with _open_checked(path) as f:
        meta = _meta_of(path, f.metadata())
        state = {k: f.get_tensor(k) for k in f.keys()}
    return meta, state


def load_model(
    path: str | os.PathLike, *, expect_model: str | None = None
) -> tuple[nn.Module, WeightsMeta]:
    """
    Build the model a weights file names and load it (fp32, eval mode, on the CPU).

    Tensor names and shapes are compared with the model's from the file's header before any tensor
    is read, so a file claiming huge tensors costs nothing; tensors holding NaN or inf are refused.
    """
    path = Path(path)
    with _open_checked(path) as f:
        meta = _meta_of(path, f.metadata())
        if expect_model is not None and meta.model != expect_model:
            raise WeightsError(
                f'{path} holds weights for {meta.model!r}, not the requested {expect_model!r}'
            )
        try:
            model = build_model(
                meta.model,
                num_classes=meta.num_classes,
                output_stride=meta.output_stride,
                **meta.model_options,
            )
        except (TypeError, ValueError, RuntimeError, MemoryError, OverflowError) as exc:
            # a plugin's option sized by the file (a width of 10**12) asks for more memory than
            # there is: the file is refused, not the process
            raise WeightsError(
                f"{path}: invalid '{METADATA_KEY}' metadata: the model cannot be built from it "
                f'({_first_line(exc)})'
            ) from None
        expected = model.state_dict()
        keys = set(f.keys())
        missing, unexpected = sorted(set(expected) - keys), sorted(keys - set(expected))
        if missing or unexpected:
            raise WeightsError(
                f'{path} does not fit {meta.model}: missing {missing[:3]}, unexpected '
                f'{unexpected[:3]}'
            )
        for key, ref in expected.items():
            piece = f.get_slice(key)
            shape = list(piece.get_shape())
            if shape != list(ref.shape):
                raise WeightsError(
                    f"{path} does not fit {meta.model}: tensor {key} is {shape}, the model's is "
                    f'{list(ref.shape)} (num_classes {meta.num_classes})'
                )
            # torch casts any dtype on loading (bool, uint8, complex, fp8 weights all loaded)
            accepted = FLOAT_DTYPES if ref.is_floating_point() else INTEGER_DTYPES
            if piece.get_dtype() not in accepted:
                raise WeightsError(
                    f'{path} does not fit {meta.model}: tensor {key} is stored as '
                    f'{piece.get_dtype()}; accepted: {", ".join(accepted)}'
                )
        state = {}
        for key in expected:
            tensor = f.get_tensor(key)
            if tensor.is_floating_point():
                tensor = tensor.float()
                if not bool(torch.isfinite(tensor).all()):
                    raise WeightsError(f'{path}: tensor {key} holds NaN or infinite values')
            state[key] = tensor
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied
        raise WeightsError(f'{path} does not fit {meta.model}: {_first_line(exc)}') from None
    return model.eval(), meta
