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
Latency benchmark: each model and backend against torchvision's LR-ASPP MobileNetV3-Large peer.

Every figure is measured in one run on one machine. The ratio to the peer is measured so that it
survives a noisy machine: our model and the peer run in alternating rounds on the same input (A, B,
then B, A, ...), each round gives one ratio of the two medians, and the ratio reported is the
median over rounds with its spread (quartiles, min and max). A load change then hits both sides of
a round alike instead of skewing one whole measurement against the other. Two latencies per case:

* ``network``: the backend alone on a prepared normalised tensor (what the peer comparison uses);
* ``pipeline``: :meth:`Segmenter.segment` from a uint8 RGB image to the uint8 mask at input
  resolution (upload, normalise, network, resize, argmax, download). As in the node, a frame
  above the weights' ``max_inference_pixels`` is shrunk before the network: the case then
  records ``pipeline_network_size`` (``extra``), and its pipeline may take less than its network.

The theoretical floor is the model's FLOPs (papers' convention) at the case's size over the
machine's measured peak (a matrix multiply on the same threads: fp32 on the CPU, fp16 on CUDA):
no backend can beat it on the CPU, and the gap says how much a faster kernel library could still
give. On CUDA a 1024 x 1024 product is a rough peak (launch-bound on a large GPU), so the floor
there is indicative, not a bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
import platform
import time

import numpy as np
import torch

from ..stats import percentile

__all__ = [
    'Timing',
    'RatioStats',
    'time_callable',
    'time_interleaved',
    'measure_peak_gflops',
    'BenchCase',
    'bench_segmenter',
    'bench_peer',
]

PEER = 'lraspp_mobilenet_v3_large'


@dataclass
class Timing:
    p50_ms: float
    p99_ms: float | None  # None under 100 samples (lightseg_ros.stats): max_ms is the tail then
    mean_ms: float
    fps: float
    iters: int
    max_ms: float = 0.0

    @classmethod
    def from_samples(cls, samples_s: list[float]) -> 'Timing':
        ms = np.asarray(samples_s) * 1000
        return cls(
            float(np.percentile(ms, 50)),
            percentile(ms, 99),
            float(ms.mean()),
            float(1000 / ms.mean()),
            len(ms),
            float(ms.max()),
        )


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@dataclass
class RatioStats:
    """Spread of per-round ratios A / B."""

    median: float
    p25: float
    p75: float
    min: float  # noqa: A003 (keys of the results JSON)
    max: float  # noqa: A003
    rounds: int

    @classmethod
    def from_ratios(cls, ratios: list[float]) -> 'RatioStats':
        r = np.asarray(ratios, dtype=float)
        p25, median, p75 = np.percentile(r, [25, 50, 75])
        return cls(
            round(float(median), 3),
            round(float(p25), 3),
            round(float(p75), 3),
            round(float(r.min()), 3),
            round(float(r.max()), 3),
            len(r),
        )


def _timed_calls(fn: Callable[[], object], calls: int, device: torch.device) -> list[float]:
    """Seconds of each of ``calls`` calls of ``fn``, each timed to completion on ``device``."""
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        samples.append(time.perf_counter() - t0)
    return samples


def time_callable(
    fn: Callable[[], object], *, device: torch.device, warmup: int, iters: int
) -> Timing:
    """Batch-1 latency of ``fn`` after ``warmup`` calls, each call timed to completion."""
    for _ in range(warmup):
        fn()
    _sync(device)
    return Timing.from_samples(_timed_calls(fn, iters, device))


def time_interleaved(
    fn_a: Callable[[], object],
    fn_b: Callable[[], object],
    *,
    device: torch.device,
    warmup: int,
    rounds: int,
    per_round: int,
) -> tuple[list[float], list[float], list[float]]:
    """
    Time ``fn_a`` and ``fn_b`` in alternating rounds of ``per_round`` calls each.

    Each runs ``warmup`` calls first. The order flips every round (A B, B A, ...) so that neither
    side always runs second. Returns the seconds of every A call, of every B call, and each round's
    ratio median(A) / median(B).
    """
    for _ in range(warmup):
        fn_a()
        fn_b()
    _sync(device)

    def timed(fn: Callable[[], object]) -> list[float]:
        return _timed_calls(fn, per_round, device)

    all_a, all_b, ratios = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            a = timed(fn_a)
            b = timed(fn_b)
        else:
            b = timed(fn_b)
            a = timed(fn_a)
        all_a += a
        all_b += b
        ratios.append(float(np.median(a) / np.median(b)))
    return all_a, all_b, ratios


def measure_peak_gflops(device: torch.device, *, n: int = 1024, seconds: float = 1.0) -> float:
    """
    Measure sustained matrix-multiply GFLOP/s on ``device`` with the current threads.

    fp32, fp16 on CUDA.
    """
    dtype = torch.float16 if device.type == 'cuda' else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(4):
            a @ b
        count += 4
        _sync(device)
    return 2 * n**3 * count / (time.perf_counter() - t0) / 1e9


@dataclass
class BenchCase:
    model: str
    backend: str
    backend_detail: str
    size: list[int]
    gflops: float
    network: Timing
    pipeline: Timing | None = None
    floor_ms: float | None = None
    # median over interleaved rounds of (network p50 / the peer's PyTorch network p50), same size
    # and input
    ratio_to_peer: float | None = None
    ratio_spread: RatioStats | None = None
    peer_network: Timing | None = None  # the peer, timed in the same rounds
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _gflops(model: torch.nn.Module, size: tuple[int, int]) -> float:
    from ..models.complexity import count_macs

    return 2 * count_macs(model, size) / 1e9


def _peer_model(num_classes: int) -> torch.nn.Module:
    """Return torchvision's LR-ASPP MobileNetV3-Large (a registered model), random weights."""
    from ..models import build_model

    return build_model(PEER, num_classes=num_classes).eval()


def _peer_backend(
    num_classes: int,
    device: torch.device,
    cuda_graphs: bool | None,
    compile: bool = False,  # noqa: A002
):
    """Return the peer run as our torch backend runs a network (fp16, channels_last, graphs)."""
    from ..inference.backends import TorchBackend

    dtype = torch.float16 if device.type == 'cuda' else torch.float32
    return TorchBackend(
        _peer_model(num_classes), device, dtype, cuda_graphs=cuda_graphs, compile=compile
    )


def bench_segmenter(
    name: str,
    backend: str,
    size: tuple[int, int],
    *,
    device: str,
    warmup: int,
    iters: int,
    weights: str | None = None,
    num_classes: int = 11,
    peak_gflops: float | None = None,
    rounds: int = 0,
    cuda_graphs: bool | None = None,
    torch_compile: bool = False,
) -> BenchCase:
    """
    Measure network and pipeline latency of one model on one backend.

    With ``rounds``, the network is timed in that many rounds interleaved with the peer on the same
    input (``iters`` calls of each in all), which sets ``ratio_to_peer``, ``ratio_spread`` and
    ``peer_network``. On CUDA, ``extra`` holds the GPU memory the segmenter takes: the peak PyTorch
    allocated while segmenting (weights, CUDA graph pools, buffers; ``gpu_memory_mb``) and what its
    caching allocator held then (``gpu_reserved_mb``), each above its own figure before, and
    the drop in the device's free memory (``gpu_device_mb``): that one also counts what other
    libraries allocate themselves (ONNX Runtime's arena, cuDNN and cuBLAS workspaces), so it is the
    column that compares backends, where nothing else uses the GPU.
    """
    from ..inference.segmenter import Segmenter

    base = base_reserved = free_before = 0
    if torch.cuda.is_available() and not device.startswith('cpu'):
        which = torch.device(device) if device.startswith('cuda') else None  # None: the current
        torch.cuda.empty_cache()  # cached blocks would be reused without lowering the free memory
        base = torch.cuda.memory_allocated(which)
        # each figure above its own kind: reserved minus allocated overstated it by what the
        # allocator held in partly used blocks before
        base_reserved = torch.cuda.memory_reserved(which)
        free_before = torch.cuda.mem_get_info(which)[0]

    seg = Segmenter(
        weights,
        model=None if weights else name,
        num_classes=None if weights else num_classes,
        device=device,
        backend=backend,
        cuda_graphs=cuda_graphs,
        torch_compile=torch_compile,
    )
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    x = torch.randn(1, 3, *size, device=seg.device)
    ratio = peer_network = None
    with torch.inference_mode():
        if rounds:
            # the peer with the same treatment as ours (graphs only where ours has them)
            peer = _peer_backend(
                seg.meta.num_classes,
                seg.device,
                getattr(seg.backend, 'cuda_graphs', False),
                getattr(seg.backend, 'compiled', False),
            )
            ours, theirs, ratios = time_interleaved(
                lambda: seg.backend(x),
                lambda: peer(x),
                device=seg.device,
                warmup=warmup,
                rounds=rounds,
                # at least ``iters`` calls in all: --iters 100 over 3 rounds timed 99, no p99
                per_round=max(1, -(-iters // rounds)),
            )
            network, peer_network = Timing.from_samples(ours), Timing.from_samples(theirs)
            ratio = RatioStats.from_ratios(ratios)
            del peer  # its memory is not the segmenter's
        else:
            network = time_callable(
                lambda: seg.backend(x), device=seg.device, warmup=warmup, iters=iters
            )
    extra = {}
    shrunk = tuple(seg.network_size(*size)[0])
    if shrunk != tuple(size):
        extra['pipeline_network_size'] = list(shrunk)
    if seg.device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(seg.device)
    pipeline = time_callable(
        lambda: seg.segment(image), device=seg.device, warmup=warmup, iters=iters
    )
    if seg.device.type == 'cuda':
        mib = 2**20
        extra['gpu_memory_mb'] = round(
            (torch.cuda.max_memory_allocated(seg.device) - base) / mib, 1
        )
        extra['gpu_reserved_mb'] = round(
            (torch.cuda.max_memory_reserved(seg.device) - base_reserved) / mib, 1
        )
        extra['gpu_device_mb'] = round(
            (free_before - torch.cuda.mem_get_info(seg.device)[0]) / mib, 1
        )
    gf = _gflops(seg.network, size)
    return BenchCase(
        seg.model_name,
        backend,
        seg.backend.description,
        list(size),
        round(gf, 3),
        network,
        pipeline,
        floor_ms=1000 * gf / peak_gflops if peak_gflops else None,
        ratio_to_peer=ratio.median if ratio else None,
        ratio_spread=ratio,
        peer_network=peer_network,
        extra=extra,
    )


def bench_peer(
    size: tuple[int, int],
    *,
    device: str,
    warmup: int,
    iters: int,
    num_classes: int = 11,
    peak_gflops: float | None = None,
    cuda_graphs: bool | None = None,
    torch_compile: bool = False,
) -> BenchCase:
    """Time torchvision's LR-ASPP MobileNetV3-Large as our torch backend runs, random weights."""
    from ..inference.segmenter import select_device

    dev = select_device(device)
    gf = _gflops(_peer_model(num_classes), size)
    peer = _peer_backend(num_classes, dev, cuda_graphs, torch_compile)
    x = torch.randn(1, 3, *size, device=dev)
    with torch.inference_mode():
        network = time_callable(lambda: peer(x), device=dev, warmup=warmup, iters=iters)
    return BenchCase(
        PEER,
        'torch',
        peer.description,
        list(size),
        round(gf, 3),
        network,
        floor_ms=1000 * gf / peak_gflops if peak_gflops else None,
    )


def machine_info(device: torch.device) -> dict:
    info = {
        'python': platform.python_version(),
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'processor': platform.processor() or platform.machine(),
        'device': str(device),
    }
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
    try:
        import onnxruntime

        info['onnxruntime'] = onnxruntime.__version__
    except ImportError:
        pass
    return info
