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
Training recipes: typed sections with defaults, YAML files that inherit from each other, overrides.

A run is described by seven sections, one dataclass each: ``model`` (:class:`ModelConfig`),
``data`` (:class:`DataConfig`), ``augment`` (:class:`AugmentConfig`), ``optim``
(:class:`OptimConfig`), ``train`` (:class:`LoopConfig`), ``eval`` (:class:`EvalConfig`) and
``distill`` (:class:`DistillConfig`), gathered in
:class:`TrainConfig`. The defaults are the papers' recipe: crop 512, SGD with momentum 0.9 and
weight decay 1e-4, a linear warm-up then cosine decay 0.007 -> 0.0007, batch 8, 200 epochs.

``load_config(path, overrides)`` reads a YAML recipe over the defaults, then applies ``--set
key.sub=value`` overrides, whose values are parsed as YAML (``--set optim.lr=0.01``, ``--set
data.crop_size=[256,256]``, ``--set train.amp=false``). A recipe may start from another, as mmseg's
do: ``_base_: ../_base_/camvid.yaml`` (relative to the file) is read first and the file's own keys
are merged over it, section by section. Unknown sections or keys, and values of the wrong type, are
:class:`ConfigError` naming the file (or override) and the key.

Each section also reads as a mapping (``cfg["optim"]["lr"]``, ``dict(cfg.optim)``), so the weights
metadata and ``config.json`` keep the plain form they always had (:meth:`TrainConfig.to_dict`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import copy
from dataclasses import dataclass, field, fields
from functools import cache
import math
from pathlib import Path
import re
import types
import typing
from typing import Any, Literal, Union

import yaml

from ..messages import shown_value
from ..models.weights import LIMITS

__all__ = [
    'ConfigError',
    'ModelConfig',
    'DataConfig',
    'AugmentConfig',
    'OptimConfig',
    'LoopConfig',
    'EvalConfig',
    'TrainConfig',
    'SECTIONS',
    'load_config',
    'apply_overrides',
    'dump_config',
    'resolve_data_root',
    'repo_root',
]


class ConfigError(ValueError):
    """
    A configuration file or override is malformed.

    The message names the file or override and the key.
    """


# a recipe is a short text: larger files, deeper nesting or more values are refused (a crafted
# file would otherwise exhaust the stack, or memory through YAML aliases)
MAX_RECIPE_BYTES = 1_000_000
MAX_NESTING = LIMITS.nesting
MAX_VALUES = 100_000
# the largest random scale of a training sample, and of a validation's multi-scale pass (as
# ``lightseg eval --scales`` takes): each costs memory with its square
MAX_AUGMENT_SCALE = 8.0
MAX_EVAL_SCALE = 4.0
# a training seed feeds numpy's seeding, which takes 0 to 2**32 - 1 (each rank adds its rank)
MAX_SEED = 2**31 - 1


class _Loader(yaml.SafeLoader):
    """
    YAML as PyYAML's safe loader reads it, but ``1e-3`` is a number (YAML 1.2), not a string.

    YAML 1.1 needs a dot (``1.0e-3``) for an exponent to make a float. A key given twice in one
    mapping is an error (PyYAML keeps the last silently: a second ``train:`` section dropped the
    first one's values).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f'key {key!r} appears twice in one mapping', key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    'tag:yaml.org,2002:float',
    re.compile(r'^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$'),
    list('-+0123456789'),
)


def load_yaml(text: Any) -> Any:
    """Read YAML with the recipe's loader: a repeated key is an error, ``1e-3`` a number."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)


class _Section(Mapping):
    """
    A dataclass that also reads as a mapping of its fields.

    Read-only; set attributes to change it.
    """

    @classmethod
    def keys_accepted(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def __getitem__(self, key: str) -> Any:
        if key in self.keys_accepted():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_accepted())

    def __len__(self) -> int:
        return len(self.keys_accepted())

    def to_dict(self) -> dict[str, Any]:
        """Return the section as plain Python values (a deep copy)."""
        return {k: copy.deepcopy(getattr(self, k)) for k in self.keys_accepted()}


@dataclass(eq=False)
class ModelConfig(_Section):
    """Which network to train."""

    name: str = 'ghostnet_aspp_da'
    output_stride: int | None = None  # None: the model's default
    # True downloads ImageNet weights for the backbone; a path reads them from a local file
    pretrained_backbone: bool | str = False
    # the model builder's own keyword arguments
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class DataConfig(_Section):
    """Where the images are and how they are cut."""

    dataset: str = 'voc'  # voc | camvid | cityscapes | folder
    root: str | None = None  # --data PATH; recipes leave it to the command line
    train_split: str = 'train'
    # null: no validation, the fixed schedule's last (or averaged) weights are the result; for
    # final weights fit on every labelled frame once a held-out protocol has fixed the recipe
    val_split: str | None = 'val'
    mask_dir: str | None = (
        None  # voc only: SegmentationClass or SegmentationClassAug (auto by default)
    )
    crop_size: list[int] = field(default_factory=lambda: [512, 512])  # [H, W] of training crops
    # [H, W] the deployed model resizes camera images to (weights metadata); None = the image's own
    # size, which is how `lightseg eval` scores and what fully convolutional models handle best
    input_size: list[int] | None = None
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass(eq=False)
class AugmentConfig(_Section):
    """Paper B's augmentation (:func:`lightseg_ros.training.transforms.train_transform`)."""

    scale: list[float] = field(default_factory=lambda: [0.5, 2.0])  # random scale range
    aspect: float = 0.3  # width/height multiplied by e^U(-log(1+a), log(1+a))
    hflip: float = 0.5  # probability
    blur: float = 0.25  # probability of a Gaussian blur
    blur_sigma: list[float] = field(default_factory=lambda: [0.1, 2.0])
    hue: float = 0.1  # HSV jitter strengths (ColorJitter hue/saturation/brightness)
    saturation: float = 0.7
    value: float = 0.3
    pad_value: int = 128  # gray padding, labelled ignore


@dataclass(eq=False)
class OptimConfig(_Section):
    """
    SGD, a linear warm-up from ``warmup_factor`` x ``lr``, then cosine to ``min_lr``.

    The learning rate changes per iteration.
    """

    lr: float = 0.007
    min_lr: float = 0.0007
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    warmup_epochs: float = 1.0
    warmup_factor: float = 0.1


@dataclass(eq=False)
class LoopConfig(_Section):
    """The ``train`` section: length, batch, loss, device and where the outputs go."""

    epochs: int = 200
    batch_size: int = 8  # global: split over torchrun processes
    workers: int = 2
    seed: int = 0
    loss: str = 'ce'  # ce | dice | ce_dice | focal | ohem | ohem_dice
    class_weights: list[float] | None = None
    # instead of class_weights: 1/ln(c + p) from the training split's class pixel shares p,
    # scaled to mean 1 (ENet: c = 1.02; CGNet, DABNet: 1.10); computed when the run starts
    class_weight_c: float | None = None
    # ohem and ohem_dice: cross-entropy over the pixels whose true class has probability at most
    # ohem_thresh, and at least the ohem_min_kept fraction of the batch's labelled pixels
    ohem_thresh: float = 0.7
    ohem_min_kept: float = 0.05
    # exponential moving average of the weights (0 = off): validation scores both the trained and
    # the averaged weights, the averaged ones pick the best checkpoint and are the weights saved
    ema_decay: float = 0.0
    # an auxiliary classifier on a mid-level backbone feature, its loss weighted by aux_weight
    # (PSPNet: 0.4; 0 = off); training only, never in the weights file
    aux_weight: float = 0.0
    amp: bool = True  # used on CUDA only
    sync_bn: bool = False  # SyncBatchNorm under DistributedDataParallel
    output_dir: str = 'runs/train'
    eval_interval: int = 1  # epochs between validations (0 = only at the end)
    progress: bool = True  # tqdm bar on rank 0
    device: Literal['auto', 'cpu', 'cuda'] = 'auto'


@dataclass(eq=False)
class DistillConfig(_Section):
    """
    Knowledge distillation from a trained teacher: off while ``teacher`` is null.

    The term added to ``train.loss`` is ``weight`` x T^2 x the per-pixel KL divergence from the
    teacher's class distribution to the student's, both softened by temperature T, over the
    labelled pixels (:class:`lightseg_ros.training.losses.DistillationLoss`).
    """

    # a lightseg .safetensors file, or a model name (its shipped weights); same classes and
    # normalisation as the data
    teacher: str | None = None
    weight: float = 1.0
    temperature: float = 1.0


@dataclass(eq=False)
class EvalConfig(_Section):
    """Validation during training."""

    batch_size: int = 1
    flip: bool = False
    scales: list[float] = field(default_factory=lambda: [1.0])


SECTION_TYPES: dict[str, type[_Section]] = {
    'model': ModelConfig,
    'data': DataConfig,
    'augment': AugmentConfig,
    'optim': OptimConfig,
    'train': LoopConfig,
    'distill': DistillConfig,
    'eval': EvalConfig,
}
SECTIONS = tuple(SECTION_TYPES)


@dataclass(eq=False)
class TrainConfig(_Section):
    """
    A whole run: the seven sections, and the folder of the recipe file.

    The folder is for relative data roots.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)  # noqa: A003 (the recipe's section)
    config_dir: str | None = None

    @classmethod
    def keys_accepted(cls) -> tuple[str, ...]:
        return SECTIONS

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = 'config') -> 'TrainConfig':
        """
        Defaults with ``raw`` (sections of keys, as in a recipe file) over them; checked first.

        A ``_config_dir`` key (as :meth:`to_dict` writes it) restores :attr:`config_dir`.
        """
        raw = dict(raw)
        config_dir = raw.pop('_config_dir', None)
        check_recipe(raw, source)
        cfg = cls(config_dir=config_dir)
        for section, values in raw.items():
            for key, value in (values or {}).items():
                setattr(getattr(cfg, section), key, copy.deepcopy(value))
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """
        Return the plain sections, plus ``_config_dir`` when known.

        What ``config.json`` and the checkpoints hold.
        """
        out: dict[str, Any] = {s: getattr(self, s).to_dict() for s in SECTIONS}
        if self.config_dir is not None:
            out['_config_dir'] = self.config_dir
        return out


# ---------------------------------------------------------------------------------------------
# checking


def _dataset_names() -> list[str]:
    from .datasets import DATASETS

    return list(DATASETS)


def _loss_names() -> list[str]:
    from .losses import LOSSES

    return list(LOSSES)


def _model_names() -> list[str]:
    from ..models import list_models

    return list_models()


# values whose accepted set lives with the code that uses them (looked up only when the key is set)
CHOICES: dict[tuple[str, str], Callable[[], list[str]]] = {
    ('model', 'name'): _model_names,
    ('data', 'dataset'): _dataset_names,
    ('train', 'loss'): _loss_names,
}


def _pair(v: Any) -> bool:
    return len(v) == 2 and all(x > 0 for x in v)


def _prob(v: Any) -> bool:
    return 0 <= v <= 1


def _sides(v: Any) -> bool:
    return len(v) == 2 and all(LIMITS.side[0] <= x <= LIMITS.side[1] for x in v)


def _within(v: Any, lo: float, hi: float) -> bool:
    return len(v) == 3 and all(lo <= x <= hi for x in v)


_SIDES = f'[H, W], two integers from {LIMITS.side[0]} to {LIMITS.side[1]}'

# checks after RULES (the shape is right): sizes the run can allocate
BOUNDS: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ('data', 'crop_size'): (_sides, _SIDES),
}

# checks beyond the type: (predicate, what is accepted)
RULES: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ('data', 'crop_size'): (_pair, '[H, W], two positive integers'),
    # a blank split read as the dataset's top folder, or as "validate on the training split"
    ('data', 'train_split'): (lambda v: bool(v.strip()), 'a split name, not blank'),
    ('data', 'val_split'): (
        lambda v: v is None or bool(v.strip()),
        'a split name, not blank, or null (no validation)',
    ),
    ('augment', 'pad_value'): (lambda v: 0 <= v <= 255, 'an integer from 0 to 255 (a uint8 grey)'),
    ('data', 'input_size'): (
        lambda v: v is None or (_sides(v) and v[0] * v[1] <= LIMITS.network_pixels),
        f'null or {_SIDES}, at most {LIMITS.network_pixels} pixels in all',
    ),
    ('data', 'mean'): (
        lambda v: _within(v, *LIMITS.mean),
        f'three numbers (R, G, B) from {LIMITS.mean[0]:g} to {LIMITS.mean[1]:g}',
    ),
    ('data', 'std'): (
        lambda v: _within(v, *LIMITS.std),
        f'three numbers (R, G, B) from {LIMITS.std[0]:g} to {LIMITS.std[1]:g}',
    ),
    ('optim', 'lr'): (lambda v: 0 < v <= 10, 'a number above 0, up to 10'),
    ('optim', 'min_lr'): (lambda v: 0 <= v <= 10, 'a number from 0 to 10'),
    ('optim', 'momentum'): (_prob, 'a number from 0 to 1'),
    ('optim', 'weight_decay'): (lambda v: v >= 0, 'a number >= 0'),
    # bounded: the scheduler turns it into a step count (1e308 epochs overflowed an int)
    ('optim', 'warmup_epochs'): (
        lambda v: 0 <= v <= 100_000,
        'a number from 0 (no warm-up) to 100000',
    ),
    ('optim', 'warmup_factor'): (lambda v: 0 <= v <= 1, 'a number from 0 to 1'),
    ('train', 'seed'): (lambda v: 0 <= v <= MAX_SEED, f'an integer from 0 to {MAX_SEED}'),
    ('train', 'class_weights'): (
        # all zero: the loss is zero and nothing trains
        lambda v: v is None or (all(x >= 0 for x in v) and any(x > 0 for x in v)),
        'null or a list of numbers >= 0, at least one above 0',
    ),
    # a sample is decoded at the scale before it is cropped: its memory grows with the square
    ('augment', 'scale'): (
        lambda v: len(v) == 2 and 0 < v[0] <= v[1] <= MAX_AUGMENT_SCALE,
        f'[low, high] with 0 < low <= high <= {MAX_AUGMENT_SCALE:g}',
    ),
    # log(1 + aspect) bounds the distortion; ColorJitter's own ranges for the HSV strengths
    ('augment', 'aspect'): (lambda v: 0 <= v <= 3, 'a number from 0 (no distortion) to 3'),
    ('augment', 'hue'): (lambda v: 0 <= v <= 0.5, 'a number from 0 (off) to 0.5'),
    ('augment', 'saturation'): (lambda v: 0 <= v <= 10, 'a number from 0 (off) to 10'),
    ('augment', 'value'): (lambda v: 0 <= v <= 10, 'a number from 0 (off) to 10'),
    ('augment', 'blur_sigma'): (
        lambda v: len(v) == 2 and 0 < v[0] <= v[1],
        '[low, high] with 0 < low <= high',
    ),
    ('augment', 'hflip'): (_prob, 'a probability, 0 to 1'),
    ('augment', 'blur'): (_prob, 'a probability, 0 to 1'),
    ('train', 'epochs'): (lambda v: v >= 1, 'an integer >= 1'),
    ('train', 'batch_size'): (lambda v: 1 <= v <= 4096, 'an integer from 1 to 4096'),
    # each worker is a process holding a copy of the dataset's state: a typo forked hundreds
    ('train', 'workers'): (lambda v: 0 <= v <= 256, 'an integer from 0 to 256'),
    ('train', 'ema_decay'): (
        lambda v: 0 <= v < 1,
        'a number from 0 (off) up to, not including, 1',
    ),
    ('train', 'class_weight_c'): (
        lambda v: v is None or v > 1,
        'null or a number above 1 (ln(c + p) must stay positive)',
    ),
    ('train', 'ohem_thresh'): (lambda v: 0 < v <= 1, 'a probability above 0, up to 1'),
    ('train', 'ohem_min_kept'): (_prob, 'a fraction of the labelled pixels, 0 to 1'),
    ('train', 'aux_weight'): (lambda v: v >= 0, 'a number >= 0 (0: no auxiliary head)'),
    ('train', 'eval_interval'): (
        lambda v: v >= 0,
        'an integer >= 0 (0: validate only at the end)',
    ),
    ('distill', 'weight'): (lambda v: v >= 0, 'a number >= 0'),
    ('distill', 'temperature'): (lambda v: v > 0, 'a number > 0'),
    ('eval', 'batch_size'): (lambda v: 1 <= v <= 4096, 'an integer from 1 to 4096'),
    ('eval', 'scales'): (
        lambda v: 1 <= len(v) <= 16 and all(0 < x <= MAX_EVAL_SCALE for x in v),
        f'a list of 1 to 16 numbers, each above 0 and at most {MAX_EVAL_SCALE:g}',
    ),
}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _matches(value: Any, tp: Any) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return value in args
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:  # an integer is a number too (YAML reads "1" as an int)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    raise TypeError(f'no check for {tp!r}')


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return ' or '.join(_describe(a) for a in args)
    if origin is Literal:
        return 'one of ' + ', '.join(map(str, args))
    if origin is list:
        return f'a list of {_describe(args[0]).split(" ", 1)[1]}s'
    names = {
        type(None): 'null',
        bool: 'a boolean (true or false)',
        int: 'an integer',
        float: 'a number',
        str: 'a string',
        dict: 'a mapping',
    }
    return names.get(origin or tp, str(tp))


def _show(value: Any) -> str:
    """Return a short rendering of a value for a message (a crafted one may be long)."""
    return shown_value(value, 80)


def check_plain(value: Any, where: str) -> None:
    """
    Raise :class:`ConfigError` (prefixed ``where``) for a value too deep, too large or not finite.

    Walks the value without recursion and stops at the first problem, so that a crafted value (deep
    nesting, YAML aliases that multiply) costs no more than the limits.
    """
    stack, count = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f'{where} holds more than {MAX_VALUES} values')
        if isinstance(item, float) and not math.isfinite(item):
            what = 'be a finite number' if level == 1 else 'hold finite numbers only'
            raise ConfigError(f'{where} must {what}, got {item}')
        if isinstance(item, (dict, list)):
            if level > MAX_NESTING:
                raise ConfigError(f'{where} nests deeper than {MAX_NESTING} levels')
            stack.extend(
                (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
            )


def check_value(section: str, key: str, value: Any, source: str) -> None:
    """
    Raise :class:`ConfigError` unless ``section.key`` exists and ``value`` fits it.

    ``value`` must be acceptable for the key.
    """
    hints = _hints(SECTION_TYPES[section])
    if key not in hints or key == 'config_dir':
        raise ConfigError(
            f'{source}: unknown key {section}.{key}; {section} accepts: '
            f'{", ".join(SECTION_TYPES[section].keys_accepted())}'
        )
    check_plain(value, f'{source}: {section}.{key}')
    if not _matches(value, hints[key]):
        raise ConfigError(
            f'{source}: {section}.{key} must be {_describe(hints[key])}, got {_show(value)}'
        )
    for rules in (RULES, BOUNDS):
        rule = rules.get((section, key))
        if rule is not None and value is not None and not rule[0](value):
            raise ConfigError(f'{source}: {section}.{key} must be {rule[1]}, got {_show(value)}')
    choices = CHOICES.get((section, key))
    if choices is not None and value not in choices():
        raise ConfigError(
            f'{source}: {section}.{key} {_show(value)} is not known; accepted: '
            f'{", ".join(choices())}'
        )


def check_recipe(raw: Any, source: str) -> None:
    """Check a recipe's sections and keys (types included) without applying it."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f'{source}: expected a mapping of sections ({", ".join(SECTIONS)}), got {_show(raw)}'
        )
    for section, values in raw.items():
        if section not in SECTION_TYPES:
            raise ConfigError(
                f'{source}: unknown section {section!r}; accepted: {", ".join(SECTIONS)}'
            )
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(
                f'{source}: section {section!r} must be a mapping of keys, got {_show(values)}'
            )
        for key, value in values.items():
            check_value(section, str(key), value, source)


# ---------------------------------------------------------------------------------------------
# reading


def apply_overrides(cfg: TrainConfig, overrides: list[str] | None) -> TrainConfig:
    """
    Return a copy of ``cfg`` with ``key.sub=value`` strings applied (values parsed as YAML).

    ``model.options.NAME=value`` sets one model option; every other key is ``SECTION.KEY``.
    """
    cfg = copy.deepcopy(cfg)
    for item in overrides or []:
        if '=' not in item:
            raise ConfigError(f'override {item!r} is not of the form key.sub=value')
        key, raw = item.split('=', 1)
        key = key.strip()
        parts = key.split('.')
        source = f'--set {key}={raw if len(raw) <= 60 else raw[:57] + "..."}'
        if len(parts) < 2 or parts[0] not in SECTION_TYPES:
            raise ConfigError(
                f'override {key!r}: expected SECTION.KEY with SECTION one of {", ".join(SECTIONS)}'
            )
        try:
            value = load_yaml(raw)
        except yaml.YAMLError:
            raise ConfigError(f'{source}: the value is not valid YAML') from None
        except RecursionError:
            raise ConfigError(
                f'{source}: the value nests deeper than {MAX_NESTING} levels'
            ) from None
        section, name = parts[0], parts[1]
        if len(parts) > 2:
            if parts[:2] != ['model', 'options']:
                raise ConfigError(
                    f'{source}: unknown key {key}; only model.options takes a sub-key '
                    f'(model.options.NAME=value)'
                )
            check_plain(value, f'{source}: {key}')
            node = cfg.model.options
            for part in parts[2:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node[parts[-1]] = value
            continue
        check_value(section, name, value, source)
        setattr(getattr(cfg, section), name, value)
    return cfg


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """
    Return the defaults, with the recipe at ``path`` over them, then ``overrides``.

    The recipe's ``_base_`` chain is resolved, if any. Records the recipe's folder
    (:attr:`TrainConfig.config_dir`) so that a relative data root can be found from it.
    """
    cfg = TrainConfig()
    if path is not None:
        path = Path(path)
        cfg = TrainConfig.from_dict(_read_recipe(path), source=str(path))
        cfg.config_dir = str(path.resolve().parent)
    cfg = apply_overrides(cfg, overrides)
    if cfg.train.loss == 'dice' and (cfg.train.class_weights or cfg.train.class_weight_c):
        raise ConfigError(
            f'{path or "config"}: train.loss is dice, which takes no class weights, but '
            'train.class_weights or train.class_weight_c is set; set them to null, or use '
            'train.loss: ce_dice'
        )
    if cfg.optim.min_lr > cfg.optim.lr:  # the cosine "decay" would raise the learning rate
        raise ConfigError(
            f'{path or "config"}: optim.min_lr ({cfg.optim.min_lr:g}) is above optim.lr '
            f'({cfg.optim.lr:g}); the schedule decays from lr to min_lr, so min_lr must be at '
            'most lr'
        )
    if cfg.optim.nesterov and cfg.optim.momentum <= 0:
        raise ConfigError(
            f'{path or "config"}: optim.nesterov is true but optim.momentum is '
            f'{cfg.optim.momentum}; Nesterov momentum needs optim.momentum > 0'
        )
    return cfg


class _RecipeDumper(yaml.SafeDumper):
    """Block-style sections with inline lists, as the recipe files are written."""


_RecipeDumper.add_representer(
    list,
    lambda dumper, data: dumper.represent_sequence('tag:yaml.org,2002:seq', data, flow_style=True),
)


def dump_config(cfg: TrainConfig) -> str:
    """Return the resolved recipe as YAML, loadable again as a recipe."""
    plain = {s: getattr(cfg, s).to_dict() for s in SECTIONS}
    return yaml.dump(plain, Dumper=_RecipeDumper, sort_keys=False, default_flow_style=False)


def _read_recipe(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """
    Read a recipe file merged over the file its ``_base_`` key names (relative to it).

    Recursively. Each file is checked on its own, so an error names the file that has it.
    """
    problem = _not_a_recipe_file(path)
    if problem:
        raise ConfigError(problem + (f' (the _base_ of {_chain[-1]})' if _chain else ''))
    if path.resolve() in _chain:
        raise ConfigError(f'{path}: _base_ chain loops back to itself')
    try:
        loaded = load_yaml(
            read_small_text(path, MAX_RECIPE_BYTES, ConfigError, 'a recipe is a short YAML file')
        )
    except RecursionError:
        raise ConfigError(f'{path}: nests deeper than {MAX_NESTING} levels') from None
    except yaml.YAMLError as exc:
        where = getattr(exc, 'problem_mark', None)
        at = f' (line {where.line + 1})' if where is not None else ''
        raise ConfigError(
            f'{path}: not valid YAML{at}: {getattr(exc, "problem", None) or exc}'
        ) from None
    if loaded is None:  # empty, or comments only: most likely the wrong file, not the defaults
        raise ConfigError(
            f'{path}: the recipe is empty; expected sections such as model:, data:, train: '
            '(leave --config out to train with the defaults)'
        )
    if not isinstance(loaded, dict):
        raise ConfigError(f'{path}: expected a mapping of sections at the top level')
    base = loaded.pop('_base_', None)
    loaded = {k: ({} if v is None else v) for k, v in loaded.items()}
    check_recipe(loaded, str(path))
    if base is None:
        return loaded
    if not isinstance(base, str):
        raise ConfigError(
            f'{path}: _base_ must be the path of another recipe, got {_show(base)}'
        )
    parent = _read_recipe(path.parent / base, _chain + (path.resolve(),))
    return _merge_sections(parent, loaded)


def _not_a_recipe_file(path: Path) -> str | None:
    """Return why ``path`` cannot be read as a recipe file, in a few words; None if it can."""
    accepted = 'a recipe is a YAML file such as config/train/camvid_ghostnet_aspp_da.yaml'
    try:
        if path.is_file():
            return None
        # a folder or a device exists: "not found" would send users looking for it; a device
        # such as /dev/zero or a pipe is never opened (it could block, or never end)
        if path.is_dir():
            return f'{path} is a folder, not a YAML file; {accepted}'
        if path.exists():
            return f'{path} is not a regular file; {accepted}'
        if path.is_symlink():
            return f'{path} is a link to a missing file; {accepted}'
    except OSError as exc:  # a name too long for the file system, a folder not to be entered
        shown = str(path) if len(str(path)) <= 200 else str(path)[:100] + '...'
        return f'{shown}: cannot read it: {exc.strerror or exc}'
    return f'config file not found: {path}'


def read_small_text(path: Path, limit: int, error: type[Exception], kind: str) -> str:
    """
    Return a short UTF-8 file's text (a recipe, a classes file).

    ``error`` naming the file where it cannot be read, is larger than ``limit`` bytes (``kind``
    says what such a file is) or is not UTF-8.
    """
    try:
        with open(path, 'rb') as f:
            raw = f.read(limit + 1)
    except OSError as exc:
        raise error(f'{path}: cannot read it: {exc.strerror or exc}') from None
    if len(raw) > limit:
        raise error(f'{path}: larger than {limit} bytes; {kind}')
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise error(
            f'{path}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); '
            'save it as UTF-8'
        ) from None


def _merge_sections(base: dict, update: dict) -> dict:
    """Merge one recipe over another, key by key (model options are replaced as a whole)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict) and key != 'options':
            out[key] = _merge_sections(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def repo_root() -> Path:
    """Return the checkout (or install prefix) that holds the ``lightseg_ros`` package."""
    return Path(__file__).resolve().parents[2]


def resolve_data_root(root: str | Path | None, config_dir: str | Path | None = None) -> Path:
    """
    Find a dataset root.

    Absolute, else relative to the working directory, the repository, or the config file's
    repository (``config/train/x.yaml`` -> two levels up). The first that exists wins.
    """
    if root is None:
        raise ConfigError(
            "no dataset root: pass --data PATH (the dataset's folder) or --set data.root=PATH"
        )
    root = Path(root).expanduser()
    if root.is_absolute():
        if not root.exists():
            raise ConfigError(
                f"dataset root {root} not found; pass --data PATH (the dataset's folder)"
            )
        return root
    candidates = [Path.cwd() / root, repo_root() / root]
    if config_dir is not None:
        candidates.append(Path(config_dir) / root)
        # a recipe in a top-level folder (/workspace/my.yaml) has no repository two levels up
        if len(Path(config_dir).parents) >= 2:
            candidates.append(Path(config_dir).parents[1] / root)
    for c in candidates:
        if c.exists():
            return c.resolve()
    tried = ', '.join(str(c) for c in candidates)
    raise ConfigError(f'dataset root {str(root)!r} not found (tried {tried}); pass --data PATH')
