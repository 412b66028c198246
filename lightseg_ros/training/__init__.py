"""Offline training of the papers' models: datasets, paper B's augmentation, the training loop
(``lightseg train``), evaluation (``lightseg eval``); see the README's "Training your own model"."""
from .config import ConfigError, TrainConfig, load_config
from .datasets import DatasetError, build_dataset

__all__ = ["ConfigError", "DatasetError", "TrainConfig", "build_dataset", "load_config"]
