"""Weights files that carry their own metadata: safetensors tensors + a JSON header entry.

Whoever loads a file (the node's Segmenter, ``lightseg eval``, the benchmark) needs nothing else:
the model name and options, classes, colours, normalisation and input size travel with it.
Nothing is unpickled: safetensors holds raw tensors only.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..classes import IMAGENET_MEAN, IMAGENET_STD, default_palette
from .registry import build_model, list_models

__all__ = ["WeightsMeta", "WeightsError", "save_weights", "read_weights_meta", "load_weights", "load_model", "METADATA_KEY"]

METADATA_KEY = "lightseg"
FORMAT_VERSION = 1


class WeightsError(ValueError):
    """A weights file is missing, unreadable, or does not fit its model; the message says which."""


@dataclass
class WeightsMeta:
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
    dataset: str = ""
    val_miou: float | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not self.class_names:
            self.class_names = [f"class_{i}" for i in range(self.num_classes)]
        if not self.colors:
            self.colors = default_palette(self.num_classes).tolist()
        if len(self.class_names) != self.num_classes or len(self.colors) != self.num_classes:
            raise WeightsError(
                f"metadata lists {len(self.class_names)} names and {len(self.colors)} colours "
                f"for {self.num_classes} classes"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "WeightsMeta":
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def save_weights(path: str | os.PathLike, model: nn.Module, meta: WeightsMeta, *, half: bool = False) -> Path:
    """Write ``model``'s state dict and ``meta`` atomically (temp file + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v.contiguous()
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata={METADATA_KEY: meta.to_json()})
    os.replace(tmp, path)
    return path


def _open_checked(path: Path):
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return safe_open(str(path), framework="pt")
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(
            f"{path} is not a readable safetensors file ({exc}); lightseg_ros loads .safetensors "
            "files written by 'lightseg train' or 'lightseg export'"
        ) from exc


def _meta_of(path: Path, header: dict[str, str]) -> WeightsMeta:
    if METADATA_KEY not in header:
        raise WeightsError(
            f"{path} has no '{METADATA_KEY}' metadata; weights must be written by lightseg_ros "
            "(models.weights.save_weights), which records the model name and classes"
        )
    try:
        meta = WeightsMeta.from_json(header[METADATA_KEY])
    except (json.JSONDecodeError, TypeError) as exc:
        raise WeightsError(f"{path}: malformed '{METADATA_KEY}' metadata: {exc}") from exc
    if meta.model not in list_models():
        raise WeightsError(f"{path} is for model {meta.model!r}, which is not registered; accepted: {list_models()}")
    return meta


def read_weights_meta(path: str | os.PathLike) -> WeightsMeta:
    """The metadata of a weights file, checked as :func:`load_weights` checks it, without reading tensors."""
    path = Path(path)
    with _open_checked(path) as f:
        header = f.metadata() or {}
    return _meta_of(path, header)


def load_weights(path: str | os.PathLike) -> tuple[WeightsMeta, dict[str, torch.Tensor]]:
    path = Path(path)
    with _open_checked(path) as f:
        header = f.metadata() or {}
        meta = _meta_of(path, header)
        state = {k: f.get_tensor(k) for k in f.keys()}
    return meta, state


def load_model(path: str | os.PathLike, *, expect_model: str | None = None) -> tuple[nn.Module, WeightsMeta]:
    """Build the model a weights file names and load it (fp32, eval mode, on the CPU)."""
    meta, state = load_weights(path)
    if expect_model is not None and meta.model != expect_model:
        raise WeightsError(f"{path} holds weights for {meta.model!r}, not the requested {expect_model!r}")
    model = build_model(
        meta.model, num_classes=meta.num_classes, output_stride=meta.output_stride, **meta.model_options
    )
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise WeightsError(f"{path} does not fit {meta.model}: {exc}") from None
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"{path} does not fit {meta.model}: missing {result.missing_keys[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}"
        )
    return model.eval(), meta
