"""
Offline training of the papers' models.

Datasets, paper B's augmentation, the training loop (``lightseg train``), evaluation
(``lightseg eval``); see the README's "Training your own model".
"""

from .config import ConfigError, load_config, TrainConfig
from .datasets import build_dataset, DatasetError

__all__ = ['ConfigError', 'DatasetError', 'TrainConfig', 'build_dataset', 'load_config']
