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
Model registry and the papers' architectures.

``build_model(name, num_classes=...)`` is the entry.
"""

from . import deeplabv3plus, ghostnet_aspp_da, lraspp, mlff  # noqa: F401  (registers the models)
from .backbones import PretrainedWeightsError
from .complexity import Complexity, measure
from .plugins import load_plugins, plugin_problems
from .registry import (
    build_model,
    get_model_spec,
    list_models,
    ModelSpec,
    register_model,
    UnknownModelError,
)
from .shipped import (
    no_shipped_weights_note,
    resolve_weights,
    shipped_models,
    shipped_weights,
    trained_weights,
    WEIGHTS_DIR,
)
from .weights import (
    load_model,
    load_weights,
    read_weights_meta,
    save_weights,
    WeightsError,
    WeightsMeta,
)

__all__ = [
    'Complexity',
    'ModelSpec',
    'PretrainedWeightsError',
    'UnknownModelError',
    'build_model',
    'get_model_spec',
    'list_models',
    'measure',
    'load_plugins',
    'plugin_problems',
    'register_model',
    'WeightsError',
    'WeightsMeta',
    'load_model',
    'load_weights',
    'read_weights_meta',
    'save_weights',
    'WEIGHTS_DIR',
    'no_shipped_weights_note',
    'resolve_weights',
    'shipped_models',
    'shipped_weights',
    'trained_weights',
]

# after every name above exists: a plugin imports register_model from this package
load_plugins()
