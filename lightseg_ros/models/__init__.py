"""
Model registry and the papers' architectures.

``build_model(name, num_classes=...)`` is the entry.
"""

from . import deeplabv3plus, ghostnet_aspp_da, mlff  # noqa: F401  (registers the models)
from .backbones import PretrainedWeightsError
from .complexity import Complexity, measure
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
