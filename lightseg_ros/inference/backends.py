"""Inference backends: what runs the network inside a :class:`~lightseg_ros.inference.Segmenter`.

A backend maps a normalised (1, 3, H, W) float tensor on the segmenter's device to logits
(1, C, H, W) on that device; pre- and post-processing stay in the segmenter, so every backend
yields masks the same way.

* ``torch``: PyTorch eager. CUDA runs fp16; ``channels_last`` is used where it helps (CUDA).
* ``onnxruntime``: the model exported to ONNX (dynamic height and width) and run by ONNX Runtime
  with the best execution provider installed: TensorRT, then CUDA, then CPU. The export is
  cached (keyed by the weights' content), so a node does not re-export at each start.

TensorRT is reached through ONNX Runtime's TensorRT execution provider when the onnxruntime-gpu
build with TensorRT is installed (Jetson and x86 CUDA machines); no separate engine code.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["BACKENDS", "BACKEND_CHOICES", "resolve_backend", "TorchBackend", "OnnxRuntimeBackend", "make_backend", "default_cache_dir", "BackendError"]

LOG = logging.getLogger(__name__)
BACKENDS = ("torch", "onnxruntime")
BACKEND_CHOICES = ("auto",) + BACKENDS


class BackendError(RuntimeError):
    """A backend is not available here or cannot run this model."""


def default_cache_dir() -> Path:
    base = os.environ.get("LIGHTSEG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "lightseg_ros"
    )
    return Path(base)


class TorchBackend:
    name = "torch"

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype, *, channels_last: bool | None = None):
        if channels_last is None:  # NHWC kernels pay off with cuDNN; on these CPUs they measured slower
            channels_last = device.type == "cuda"
        self.channels_last = channels_last
        self.model = model.to(device, dtype).eval()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.dtype = dtype
        self.description = f"torch {device.type} {str(dtype).replace('torch.', '')}" + (" channels_last" if channels_last else "")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x).float()


def _fingerprint(model: nn.Module) -> str:
    """Content hash of the model's tensors and class, so a cached export matches its weights."""
    h = hashlib.sha256(type(model).__name__.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, model: nn.Module, device: torch.device, *, num_classes: int, model_name: str = "model",
                 cache_dir: str | Path | None = None, threads: int | None = None,
                 providers: list[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError("backend 'onnxruntime' needs the onnxruntime package (pip install onnxruntime)") from exc
        from .export import export_onnx

        model = model.float().cpu().eval()
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        path = cache / f"{model_name}-{_fingerprint(model)}-torch{torch.__version__.split('+')[0]}.onnx"
        if path.is_file():
            LOG.info("using cached ONNX export %s", path)
        else:
            LOG.info("exporting %s to ONNX at %s (once; cached for later starts)", model_name, path)
            export_onnx(model, path, input_size=(64, 64))
        self.path = path
        available = ort.get_available_providers()
        if providers is None:
            wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"] if device.type == "cuda" else []
            providers = [p for p in wanted if p in available] + ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in available]
        if missing:
            raise BackendError(f"onnxruntime providers {missing} are not installed; available: {available}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        # ORT's idle workers spin-wait after each run by default; the pre/post-processing torch ops
        # that follow on the same cores then ran 2-20x slower (argmax 15 ms instead of 1 ms at 360x480)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.providers = self.session.get_providers()
        self.device = device
        self.num_classes = num_classes
        self.description = f"onnxruntime {self.providers[0].replace('ExecutionProvider', '')}"
        self._on_gpu = self.providers[0] != "CPUExecutionProvider"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._on_gpu:
            return self._run_bound(x)
        out = self.session.run(["logits"], {"input": x.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(out).to(self.device)

    def _run_bound(self, x: torch.Tensor) -> torch.Tensor:
        """GPU providers: ONNX Runtime reads and writes the torch tensors' device memory directly.

        The logits' shape is known ((N, classes, H, W): the models return input-sized logits), so
        the output is a preallocated torch tensor and nothing crosses to the host.
        """
        x = x.float().contiguous()
        out = torch.empty((x.shape[0], self.num_classes, *x.shape[-2:]), device=x.device, dtype=torch.float32)
        index = x.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input("input", "cuda", index, np.float32, tuple(x.shape), x.data_ptr())
        binding.bind_output("logits", "cuda", index, np.float32, tuple(out.shape), out.data_ptr())
        torch.cuda.current_stream(x.device).synchronize()  # x is written on torch's stream, ORT uses its own
        self.session.run_with_iobinding(binding)
        return out


def resolve_backend(kind: str, device: torch.device) -> str:
    """``auto``: ONNX Runtime on the CPU when it is installed (2-3x faster than eager PyTorch on the
    CPUs measured, see BENCHMARKS.md), PyTorch fp16 on CUDA."""
    if kind != "auto":
        return kind
    if device.type == "cpu":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "torch"
        return "onnxruntime"
    return "torch"


def make_backend(kind: str, model: nn.Module, device: torch.device, dtype: torch.dtype, *, num_classes: int,
                 model_name: str = "model", cache_dir: str | Path | None = None):
    """The backend ``kind`` for ``model`` on ``device``; :class:`BackendError` says what is accepted."""
    kind = resolve_backend(kind, device)
    if kind == "torch":
        return TorchBackend(model, device, dtype)
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(model, device, num_classes=num_classes, model_name=model_name, cache_dir=cache_dir)
    raise BackendError(f"unknown backend {kind!r}; accepted: {', '.join(BACKEND_CHOICES)}")
