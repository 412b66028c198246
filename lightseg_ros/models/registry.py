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
Model registry: every part of lightseg_ros (node, trainer, benchmark, tests) builds models by name.

Adding a model is adding one file that decorates its builder with :func:`register_model` and
importing that file in ``lightseg_ros/models/__init__.py``, or, without touching this package,
declaring that file as a ``lightseg_ros.models`` entry point of another installed package
(:mod:`.plugins`).
"""

from __future__ import annotations

from dataclasses import dataclass
import inspect
from typing import Any, Callable

from torch import nn

from .plugins import plugin_problems

__all__ = [
    'ModelSpec',
    'UnknownModelError',
    'register_model',
    'get_model_spec',
    'build_model',
    'list_models',
    'architecture_switches',
    'option_type_problem',
]


class UnknownModelError(ValueError):
    """Raised when a model name is not in the registry; the message lists the accepted names."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    paper: str
    output_strides: tuple[int, ...]
    default_output_stride: int
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    paper: str,
    output_strides: tuple[int, ...],
    default_output_stride: int,
    description: str,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """
    Register a model builder (a decorator).

    The builder is called as ``fn(*, num_classes, output_stride, pretrained_backbone)``.
    """

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f'model {name!r} is already registered')
        if default_output_stride not in output_strides:
            raise ValueError(
                f'{name}: default output stride {default_output_stride} not in {output_strides}'
            )
        _REGISTRY[name] = ModelSpec(
            name, fn, paper, output_strides, default_output_stride, description
        )
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_model_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        # a model of a plugin that did not load is "unknown": say why that plugin is missing
        missing = ''.join(f'; {line}' for line in plugin_problems())
        raise UnknownModelError(
            f'unknown model {name!r}; accepted models: {", ".join(list_models())}{missing}'
        ) from None


def architecture_switches(builder: Callable[..., nn.Module]) -> dict[str, Any]:
    """
    Return a builder's keyword options that a recipe or a weights file may set, with defaults.

    Not ``pretrained_backbone``: a file must not make the loader read another file.
    """
    reserved = {'num_classes', 'output_stride', 'pretrained_backbone'}
    return {
        name: p.default
        for name, p in inspect.signature(builder).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in reserved
    }


def option_type_problem(default: Any, value: Any) -> str | None:
    """Say why ``value`` cannot be an option whose default is ``default``; None if it can."""
    if default is None or type(value) is type(default):
        return None
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return None
    from ..messages import shown_value

    return f'must be a {type(default).__name__}, got {shown_value(value)}'


def build_model(
    name: str,
    *,
    num_classes: int,
    output_stride: int | None = None,
    pretrained_backbone: bool | str = False,
    **options: object,
) -> nn.Module:
    """
    Build a registered model.

    ``options`` are architecture switches a builder documents (e.g. ``feature_enhancement`` of
    ``mlff_mobilenetv2`` for paper A's ablation); weights files record them.

    ``pretrained_backbone`` is False (random init), True (fetch the library's ImageNet weights; a
    clear error when offline) or a path to a local backbone weights file (.safetensors or .pth).
    """
    spec = get_model_spec(name)
    switches = architecture_switches(spec.builder)
    for key, value in options.items():
        wrong = key in switches and option_type_problem(switches[key], value)
        if wrong:  # a truthy string for a bool switch built the other architecture, silently
            raise ValueError(f'model {name!r} option {key!r} {wrong}')
    if output_stride is None:
        output_stride = spec.default_output_stride
    if output_stride not in spec.output_strides:
        raise ValueError(
            f'model {name!r} does not support output_stride={output_stride}; accepted: '
            f'{spec.output_strides}'
        )
    if num_classes < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}')
    try:
        return spec.builder(
            num_classes=num_classes,
            output_stride=output_stride,
            pretrained_backbone=pretrained_backbone,
            **options,
        )
    except TypeError as exc:
        if options and 'unexpected keyword' in str(exc):
            raise ValueError(
                f'model {name!r} does not accept options {sorted(options)}: {exc}'
            ) from None
        raise
