"""Training run configuration: a YAML file, defaults for what it leaves out, command-line overrides.

A run is described by one nested mapping (``model``, ``data``, ``augment``, ``optim``, ``train``,
``eval``). ``load_config(path, overrides)`` merges the file over :data:`DEFAULTS` and then applies
``--set key.sub=value`` overrides, whose values are parsed as YAML (``--set optim.lr=0.01``,
``--set data.crop_size=[256,256]``, ``--set train.amp=false``). A recipe may start from another:
``_base_: ../cpu/camvid_ghostnet_aspp_da.yaml`` (relative to the file) merges it over that one.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS", "ConfigError", "load_config", "apply_overrides", "merge", "resolve_data_root", "repo_root"]


class ConfigError(ValueError):
    """A configuration file or override is malformed; the message names the key."""


# The papers' recipe (REFERENCE.md section 1): crop 512, SGD momentum 0.9, wd 1e-4,
# warm-up then cosine 0.007 -> 0.0007, batch 8, 200 epochs.
DEFAULTS: dict[str, Any] = {
    "model": {"name": "ghostnet_aspp_da", "output_stride": None, "pretrained_backbone": False, "options": {}},
    "data": {
        "dataset": "voc",          # voc | camvid | cityscapes | folder
        "root": None,
        "train_split": "train",
        "val_split": "val",
        "mask_dir": None,          # voc only: SegmentationClass or SegmentationClassAug (auto by default)
        "crop_size": [512, 512],   # [H, W] of training crops
        # [H, W] the deployed model resizes camera images to (weights metadata); null = the image's own
        # size, which is how `lightseg eval` scores and what fully convolutional models handle best
        "input_size": None,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    },
    "augment": {
        "scale": [0.5, 2.0],       # random scale range
        "aspect": 0.3,             # aspect distortion: width/height multiplied by e^U(-log(1+a), log(1+a))
        "hflip": 0.5,              # probability
        "blur": 0.25,              # probability of a Gaussian blur
        "blur_sigma": [0.1, 2.0],
        "hue": 0.1, "saturation": 0.7, "value": 0.3,  # HSV jitter strengths (ColorJitter hue/sat/brightness)
        "pad_value": 128,          # gray padding, labelled ignore
    },
    "optim": {
        "lr": 0.007, "min_lr": 0.0007, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": False,
        "warmup_epochs": 1.0, "warmup_factor": 0.1,
    },
    "train": {
        "epochs": 200, "batch_size": 8, "workers": 2, "seed": 0, "loss": "ce", "class_weights": None,
        "amp": True,               # used on CUDA only
        "sync_bn": False,          # SyncBatchNorm under DistributedDataParallel
        "output_dir": "runs/train",
        "eval_interval": 1,        # epochs between validations (0 = only at the end)
        "progress": True,          # tqdm bar on rank 0
        "device": "auto",          # auto | cpu | cuda
    },
    "eval": {"batch_size": 1, "flip": False, "scales": [1.0]},
}


def merge(base: dict, update: dict, _path: str = "") -> dict:
    """Recursively merge ``update`` into a copy of ``base``; unknown top-level sections are refused."""
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        where = f"{_path}{key}"
        if isinstance(out.get(key), dict) and isinstance(value, dict) and key != "options":
            out[key] = merge(out[key], value, where + ".")
        elif not _path and key not in out:
            raise ConfigError(f"unknown config section {key!r}; accepted: {', '.join(sorted(DEFAULTS))}")
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(cfg: dict, overrides: list[str] | None) -> dict:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a copy of ``cfg``."""
    cfg = copy.deepcopy(cfg)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) < 2 or parts[0] not in DEFAULTS:
            raise ConfigError(f"override {key!r}: expected SECTION.KEY with SECTION one of {', '.join(DEFAULTS)}")
        node = cfg
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        free = parts[:2] == ["model", "options"]  # model options are free-form
        if not free and len(parts) == 2 and parts[1] not in DEFAULTS[parts[0]]:
            raise ConfigError(f"override {key!r}: unknown key; {parts[0]} has {', '.join(sorted(DEFAULTS[parts[0]]))}")
        node[parts[-1]] = yaml.safe_load(raw)
    return cfg


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict:
    """Defaults, merged with the YAML file at ``path`` (if any), then ``overrides``.

    The returned dict records the config file's directory under ``_config_dir`` so relative data
    roots can be resolved against it.
    """
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        cfg = merge(cfg, _read_recipe(Path(path)))
        cfg["_config_dir"] = str(Path(path).resolve().parent)
    return apply_overrides(cfg, overrides)


def _read_recipe(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """A recipe file merged over the file its ``_base_`` key names (relative to it), recursively."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}" + (f" (the _base_ of {_chain[-1]})" if _chain else ""))
    if path.resolve() in _chain:
        raise ConfigError(f"{path}: _base_ chain loops back to itself")
    try:
        with open(path) as f:
            loaded = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = loaded.pop("_base_", None)
    if base is None:
        return loaded
    if not isinstance(base, str):
        raise ConfigError(f"{path}: _base_ must be the path of another recipe, got {base!r}")
    parent = _read_recipe(path.parent / base, _chain + (path.resolve(),))
    return _merge_sections(parent, loaded)


def _merge_sections(base: dict, update: dict) -> dict:
    """Merge one recipe over another, section by section (model options replace, as in :func:`merge`)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict) and key != "options":
            out[key] = _merge_sections(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def repo_root() -> Path:
    """The checkout (or install prefix) that holds the ``lightseg_ros`` package."""
    return Path(__file__).resolve().parents[2]


def resolve_data_root(root: str | Path | None, config_dir: str | Path | None = None) -> Path:
    """Find a dataset root: absolute, else relative to the working directory, the repository, or the
    config file's repository (``config/train/x.yaml`` -> two levels up). The first that exists wins."""
    if root is None:
        raise ConfigError("data.root is not set; pass --data PATH or --set data.root=PATH")
    root = Path(root).expanduser()
    if root.is_absolute():
        return root
    candidates = [Path.cwd() / root, repo_root() / root]
    if config_dir is not None:
        candidates += [Path(config_dir) / root, Path(config_dir).parents[1] / root]
    for c in candidates:
        if c.exists():
            return c.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"dataset root {str(root)!r} not found (tried {tried}); pass --data PATH")
