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
Trained weights that ship inside the package, and what a ``weights`` setting means.

Every place that takes weights (the node's ``weights`` parameter, the launch argument, ``lightseg
eval``, ``lightseg demo``, ``lightseg bag-eval``) reads the setting the same way:

* ``""`` or ``"default"``: the weights this package ships for the chosen model
  (``lightseg_ros/weights/<model>.safetensors``); when none ship for it, random initialisation,
  which the caller reports loudly;
* ``"random"``: random initialisation on purpose (timing runs, tests);
* anything else: the path of a lightseg ``.safetensors`` file (whose metadata then names the
  model).
"""

from __future__ import annotations

import os
from pathlib import Path

from .registry import get_model_spec, list_models
from .weights import WeightsError

__all__ = [
    'WEIGHTS_DIR',
    'DEFAULT',
    'RANDOM',
    'DEFAULT_MODEL',
    'shipped_weights',
    'shipped_models',
    'resolve_weights',
    'trained_weights',
    'no_shipped_weights_note',
]

#: installed with the package (setup.py package_data), so colcon and pip installs both carry it
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / 'weights'
DEFAULT = 'default'
RANDOM = 'random'
#: the node's and the tools' model when neither a model nor a weights file is named
DEFAULT_MODEL = 'ghostnet_aspp_da'


def shipped_weights(model: str) -> Path | None:
    """
    Return the packaged weights file of ``model``, or None when none ships.

    Unknown names raise.
    """
    get_model_spec(model)  # UnknownModelError listing the accepted names
    path = WEIGHTS_DIR / f'{model}.safetensors'
    return path if path.is_file() else None


def shipped_models() -> list[str]:
    """Return the registered models that have packaged weights."""
    return [m for m in list_models() if shipped_weights(m)]


def resolve_weights(spec: str | os.PathLike | None, model: str | None) -> Path | None:
    """
    Return the weights file a setting names (see the module docstring).

    None means random initialisation.
    """
    text = '' if spec is None else str(spec).strip()
    if text == RANDOM:
        return None
    if text in ('', DEFAULT):
        if model is None:
            raise ValueError("weights '' (default) needs a model name to pick the shipped weights")
        return shipped_weights(model)
    return Path(text).expanduser()


def no_shipped_weights_note(
    model: str, consequence: str = 'so it runs with RANDOM weights: masks are meaningless'
) -> str:
    shipped = ', '.join(shipped_models()) or 'none'
    return (
        f'no trained weights ship for {model!r} (packaged: {shipped}), {consequence}; train with '
        "'lightseg train' and pass the file as weights"
    )


def trained_weights(spec: str | os.PathLike | None, model: str | None) -> Path | None:
    """
    Return the file a ``--weights``/``--model`` pair names, for tools that score or replay.

    Those are ``lightseg eval`` and ``bag-eval``. Random weights only when asked for (``random``);
    a default that ships nothing is an error.
    """
    text = '' if spec is None else str(spec).strip()
    if text in ('', DEFAULT, RANDOM):
        model = model or DEFAULT_MODEL
    path = resolve_weights(text, model)
    if path is None and text != RANDOM:
        raise WeightsError(no_shipped_weights_note(str(model), 'so there is nothing to score'))
    return path
