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
Inference backends: what runs the network inside a :class:`~lightseg_ros.inference.Segmenter`.

A backend maps a normalised (1, 3, H, W) float tensor on the segmenter's device to logits
(1, C, H, W) on that device; pre- and post-processing stay in the segmenter, so every backend
yields masks the same way.

* ``torch``: PyTorch. CUDA runs fp16, ``channels_last``, and replays a CUDA graph of the network
  per input shape (one launch instead of one per layer: at batch 1 a small network is bound by
  kernel launches, not by the GPU); the CPU runs eager fp32.
* ``onnxruntime``: the model exported to ONNX (dynamic height and width) and run by ONNX Runtime
  with the best execution provider installed: TensorRT, then CUDA, then CPU. The export is
  cached, so a node does not re-export at each start (:func:`cached_export`).

The ONNX cache (``$LIGHTSEG_CACHE``, else ``~/.cache/lightseg_ros``) is trusted only as far as it
is checked: a file is named by the model, the sha256 of its weights and the torch and onnx
versions; the folder and files are created user-only (0700 / 0600); each export has a ``.sha256``
file next to it, and before use the export's own sha256 must match it, both files must belong to
this user and be writable by nobody else, and the folder must not be writable by others. A file
that fails is logged and exported again (in a private temporary folder where the cache folder
itself fails).

TensorRT is reached through ONNX Runtime's TensorRT execution provider when the onnxruntime-gpu
build with TensorRT is installed (Jetson and x86 CUDA machines); no separate engine code. Its
engines are built in fp16 and kept in ``tensorrt/`` beside the ONNX export, named after it (model,
weights' sha256, versions), so a node builds an engine once per input size, not at every start
(:func:`ort_providers`). ONNX Runtime adds the GPU and TensorRT version to the engine's own key.

``torch_compile`` keeps Inductor's caches in ``torchinductor/`` of the same cache, private and
checked the same way (:func:`compile_cache_dir`).
"""

from __future__ import annotations

import atexit
from collections import OrderedDict
import ctypes
import hashlib
import logging
import os
from pathlib import Path
import shutil
import stat
import tempfile

import numpy as np
import torch
from torch import nn

__all__ = [
    'BACKENDS',
    'BACKEND_CHOICES',
    'resolve_backend',
    'TorchBackend',
    'OnnxRuntimeBackend',
    'make_backend',
    'default_cache_dir',
    'compile_cache_dir',
    'BackendError',
    'cached_export',
    'remove_process_export_dir',
]

LOG = logging.getLogger(__name__)
BACKENDS = ('torch', 'onnxruntime')
BACKEND_CHOICES = ('auto',) + BACKENDS
# What onnxruntime-gpu's TensorRT provider links against (TensorRT 10, ORT 1.2x-1.3x). ORT lists
# the provider whenever its own plugin is installed, TensorRT or not; without TensorRT, each
# session then printed a 10-line "EP Error" and fell back (an H100, onnxruntime-gpu 1.31.1).
TENSORRT_LIBRARIES = ('libnvinfer.so.10', 'libnvonnxparser.so.10')
_said_without_tensorrt: set[str] = set()


class BackendError(RuntimeError):
    """A backend is not available here or cannot run this model."""


def default_cache_dir() -> Path:
    base = os.environ.get('LIGHTSEG_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'lightseg_ros'
    )
    return Path(base)


class TorchBackend:
    """
    PyTorch; on CUDA with a CUDA graph per input shape.

    With graphs, the returned logits live in the graph's own memory: valid until the next call
    with the same shape (the segmenter consumes them at once; :meth:`Segmenter.logits` copies).
    """

    name = 'torch'
    #: input shapes whose graphs are kept (each holds its activations); the oldest goes first
    MAX_GRAPHS = 4

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        dtype: torch.dtype,
        *,
        channels_last: bool | None = None,
        cuda_graphs: bool | None = None,
        fold_batchnorms: bool | None = None,
        compile: bool = False,  # noqa: A002 - torch.compile's name
        cache_dir: str | Path | None = None,
    ):
        # NHWC kernels pay off with cuDNN; on these CPUs they measured slower
        if channels_last is None:
            channels_last = device.type == 'cuda'
        self.channels_last = channels_last
        self.device = device
        # folded in fp32, before the cast; on CUDA by default (on the CPU, ONNX Runtime folds them
        # itself, and eager PyTorch on the CPU stays the bit-exact reference of the tests)
        self.folded_batchnorms = 0
        if fold_batchnorms if fold_batchnorms is not None else device.type == 'cuda':
            from ..models.fusion import fold_batchnorms as fold

            example = torch.randn(1, 3, 64, 64, device=next(model.parameters()).device)
            model, self.folded_batchnorms = fold(model.float(), example)
        self.model = model.to(device, dtype).eval()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.dtype = dtype
        # torch.compile: Inductor's fused kernels, compiled at the first call of each input shape
        # (about 25 s on an H100), then replayed in the CUDA graph. At 512x512 on an H100 it took
        # ghostnet from 862 to 1421 frames/s back to back (BENCHMARKS.md). Off by default for that
        # start-up cost; where Inductor cannot compile (no compiler, no Triton) it runs uncompiled.
        # Its caches go to a private folder that outlives a reboot (compile_cache_dir).
        self._plain = self.model
        self.compiled = bool(compile)
        self.compile_cache: Path | None = None
        if self.compiled:
            self.compile_cache = compile_cache_dir(cache_dir)
            self.model = torch.compile(self.model, dynamic=False)
        self.cuda_graphs = device.type == 'cuda' and (cuda_graphs is None or cuda_graphs)
        self._graphs: OrderedDict[tuple[int, ...], tuple] = OrderedDict()
        # shapes whose capture ran out of GPU memory: eager for them, graphs for the rest
        self._eager_shapes: OrderedDict[tuple[int, ...], None] = OrderedDict()
        self._describe()

    def _describe(self) -> None:
        self.description = (
            f'torch {self.device.type} {str(self.dtype).replace("torch.", "")}'
            + (' channels_last' if self.channels_last else '')
            + (' cuda_graphs' if self.cuda_graphs else '')
            + (' compiled' if self.compiled else '')
        )

    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.compiled:
            try:
                return self.model(x).float()
            except Exception as exc:  # noqa: BLE001 - any compiler failure: run uncompiled
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                LOG.warning('torch.compile failed, running uncompiled: %s', first)
                self.model, self.compiled = self._plain, False
                self._describe()
        return self.model(x).float()

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.cuda_graphs:
            return self._eager(x)
        # CUDA's current device is per thread and starts at 0: the node's worker thread capturing
        # for cuda:1 would otherwise capture on a stream of GPU 0 while the kernels ran on GPU 1
        with torch.cuda.device(self.device):
            return self._graphed(x)

    def _graphed(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        if key in self._eager_shapes:
            return self._eager(x)
        entry = self._graphs.get(key)
        if entry is None:
            try:
                entry = self._capture(x)
            except torch.cuda.OutOfMemoryError as exc:
                # one large size did not fit beside the graphs kept: that size runs eager (not
                # captured again at each frame), the others keep theirs
                LOG.warning('CUDA graph for input %s: out of memory, running eager: %s', key, exc)
                self._eager_shapes[key] = None
                if len(self._eager_shapes) > 64:
                    self._eager_shapes.popitem(last=False)
                torch.cuda.empty_cache()
                return self._eager(x)
            except RuntimeError as exc:  # an op that cannot be captured: eager from now on
                LOG.warning('CUDA graph capture failed, running eager: %s', exc)
                self.cuda_graphs = False
                self._graphs.clear()
                self._describe()
                return self._eager(x)
            self._graphs[key] = entry
            if len(self._graphs) > self.MAX_GRAPHS:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _capture(self, x: torch.Tensor) -> tuple:
        static_in = x.clone()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up off the capture: cuDNN's choices, allocations
            for _ in range(2):
                self._eager(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # on this model's own stream: torch's default capture stream is made once per process, on
        # whichever GPU was current at the first capture
        with torch.cuda.graph(graph, stream=side):
            static_out = self._eager(static_in)
        return graph, static_in, static_out


INDUCTOR_CACHE_VARIABLE = 'TORCHINDUCTOR_CACHE_DIR'
_said_about_compile_cache: set[str] = set()


def _torch_default_compile_cache() -> str | None:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir as torch_default
    except ImportError:  # a torch without it: a variable that is set is taken as the user's
        return None
    return os.path.abspath(torch_default())


def compile_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """
    Give ``torch.compile``'s on-disk caches a private folder that lasts.

    Inductor keeps what it compiled (graphs as pickles, which the next compile loads back, and
    Triton's kernels) under ``$TORCHINDUCTOR_CACHE_DIR``, by default ``/tmp/torchinductor_<user>``.
    Many robots empty /tmp at each boot, so every start paid the whole compile again (the
    segmenter's first 360x480 frame of ghostnet_aspp_da on a 2-core CPU: 69 s with the cache empty,
    7.4 s in a new process with it full), and in a shared /tmp another user can create that folder
    first and plant pickles in it. Unless the variable names another folder (the user's choice, or
    an earlier call's: torch reads it at each compile), it is set to ``torchinductor/`` in the
    lightseg cache (``cache_dir``, else :func:`default_cache_dir`); torch's own default counts as
    unset, as importing ``torch._dynamo`` writes it into the variable. The folder is created
    user-only and checked like the ONNX cache's. One that fails the check (another owner, writable
    by others) is not used, and the variable is pointed at a new private temporary folder instead,
    removed at exit (Inductor also loads the code it generates from that folder, and does not
    overwrite a file already there): each start then compiles in full, and says why, once. Returns
    the folder used.
    """
    chosen = os.environ.get(INDUCTOR_CACHE_VARIABLE)
    if chosen and os.path.abspath(chosen) == _torch_default_compile_cache():
        chosen = None  # torch's own default, which importing torch._dynamo writes there
    path = Path(chosen) if chosen else Path(cache_dir or default_cache_dir()) / 'torchinductor'
    problem = _private_dir(path)
    if problem:
        if problem not in _said_about_compile_cache:
            _said_about_compile_cache.add(problem)
            LOG.warning(
                'torch.compile keeps nothing between starts (each compiles in full): %s', problem
            )
        path = Path(tempfile.mkdtemp(prefix='lightseg-inductor-'))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[INDUCTOR_CACHE_VARIABLE] = str(path.absolute())
    return path


def _fingerprint(model: nn.Module) -> str:
    """
    Return the key of the model's cached export: a sha256 of what the exported graph depends on.

    The tensors (names and bytes), the modules as ``repr`` lists them (their dilations and
    paddings: an output stride or a model option changes them and no tensor; the same weights at
    output stride 8 ran the stride-16 export), and this package's version and export opset (code
    that changes a forward pass comes with a new version).
    """
    from .. import __version__
    from .export import DEFAULT_OPSET

    h = hashlib.sha256(f'{__version__} opset {DEFAULT_OPSET}\n{model!r}'.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _private_dir(path: Path) -> str | None:
    """
    Create ``path`` user-only if missing.

    Return None when it is safe to keep exports in, else why not.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat()
    except OSError as exc:
        return f'cannot use {path} ({exc})'
    if hasattr(os, 'getuid') and info.st_uid != os.getuid():
        return f'{path} belongs to another user (uid {info.st_uid})'
    if info.st_mode & 0o022:
        return f'{path} is writable by other users (mode {info.st_mode & 0o777:o})'
    return None


def _cache_problem(path: Path, digest_path: Path) -> str | None:
    """None when the cached export at ``path`` may be used, else what is wrong with it."""
    for p in (path, digest_path):
        info = p.lstat()
        if not stat.S_ISREG(info.st_mode):
            return f'{p.name} is not a regular file'
        if hasattr(os, 'getuid') and info.st_uid != os.getuid():
            return f'{p.name} belongs to another user (uid {info.st_uid})'
        if info.st_mode & 0o022:
            return f'{p.name} is writable by other users (mode {info.st_mode & 0o777:o})'
    # a record cut short (a power cut before the rename reached the disk) or garbled is a record
    # that does not match, not an error: the export is made again
    with open(digest_path, 'rb') as f:
        head = f.read(1024)
    record = head.decode('ascii', 'replace').split()
    expected = record[0] if record and len(head) < 1024 else ''
    actual = _file_sha256(path)
    if actual != expected:
        return (
            f'has sha256 {actual[:16]}..., its record says {expected[:16] or "nothing"}... '
            '(changed since it was written)'
        )
    return None


_export_dir: Path | None = None


def _process_export_dir() -> Path:
    """
    Return this process's private folder for exports (0700), removed when the process ends.

    Used where the cache folder is refused: one folder per process, not one per export, so that
    a node reloading its model does not leave a folder per reload behind. Removed at exit, and by
    :func:`remove_process_export_dir` for a process that ends in ``os._exit`` (the node).
    """
    global _export_dir
    if _export_dir is None or not _export_dir.is_dir():
        _export_dir = Path(tempfile.mkdtemp(prefix='lightseg-onnx-'))  # 0700 by construction
    return _export_dir


@atexit.register
def remove_process_export_dir() -> None:
    """Remove this process's private export folder, if it made one."""
    global _export_dir
    if _export_dir is not None:
        shutil.rmtree(_export_dir, ignore_errors=True)
        _export_dir = None


def cached_export(model: nn.Module, model_name: str, cache_dir: str | Path | None = None) -> Path:
    """
    Return the checked ONNX export of ``model`` (see the module docstring).

    The model is exported when the file is missing or fails its check.
    """
    import onnx

    from .export import export_onnx

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    name = (
        f'{model_name}-{_fingerprint(model)[:32]}-torch{torch.__version__.split("+")[0]}'
        f'-onnx{onnx.__version__}.onnx'
    )
    unsafe = _private_dir(cache)
    if unsafe:
        cache = _process_export_dir()
        LOG.warning('not using the ONNX cache: %s; exporting to %s for this run', unsafe, cache)
    path, digest_path = cache / name, cache / (name + '.sha256')
    if path.exists() or digest_path.exists():
        try:
            problem = _cache_problem(path, digest_path)
        except OSError as exc:
            problem = f'cannot be checked ({exc})'
        if problem is None:
            LOG.info('using cached ONNX export %s (sha256 checked)', path)
            return path
        LOG.warning('cached ONNX export %s %s; exporting it again', path, problem)
    else:
        LOG.info('exporting %s to ONNX at %s (once; cached for later starts)', model_name, path)
    tmp = cache / f'.{name}.{os.getpid()}.tmp'
    try:
        export_onnx(model, tmp, input_size=(64, 64))
        os.chmod(tmp, 0o600)
        digest = _file_sha256(tmp)
        digest_tmp = cache / f'.{name}.sha256.{os.getpid()}.tmp'
        fd = os.open(digest_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(f'{digest}  {name}\n')
            f.flush()
            os.fsync(f.fileno())
        with open(tmp, 'rb') as f:  # on disk before the renames make it the cached export
            os.fsync(f.fileno())
        os.replace(tmp, path)  # rename replaces a planted symlink itself, never its target
        os.replace(digest_tmp, digest_path)
    finally:
        tmp.unlink(missing_ok=True)
        (cache / f'.{name}.sha256.{os.getpid()}.tmp').unlink(missing_ok=True)
    return path


def tensorrt_problem() -> str | None:
    """
    Return why TensorRT's libraries do not load here, or None when they do.

    The dynamic loader is asked as ORT will ask it (an already-loaded library, LD_LIBRARY_PATH, the
    ldconfig cache); a pip-installed ``tensorrt`` is imported first, which loads its own copies.
    """
    try:
        import tensorrt  # noqa: F401  (pip's tensorrt loads libnvinfer from its tensorrt_libs)
    except Exception:  # noqa: BLE001 - absent or broken: the loader decides below
        pass
    for library in TENSORRT_LIBRARIES:
        try:
            ctypes.CDLL(library)
        except OSError:
            return f'{library} does not load'
    return None


def ort_providers(
    device: torch.device, available: list[str], onnx_path: Path
) -> list[str | tuple[str, dict]]:
    """
    Return ONNX Runtime's providers for ``device``, best first, with TensorRT's options.

    On CUDA: TensorRT (fp16, engine and timing caches in ``tensorrt/`` beside ``onnx_path``,
    prefixed with its name) where its provider is installed and TensorRT's libraries load (a
    warning, once, where they do not), then CUDA, where installed; always the CPU last.
    """
    chosen: list[str | tuple[str, dict]] = []
    if device.type == 'cuda':
        index = str(device.index or 0)
        tensorrt = 'TensorrtExecutionProvider' in available
        problem = tensorrt and tensorrt_problem()
        if problem and problem not in _said_without_tensorrt:
            _said_without_tensorrt.add(problem)
            LOG.warning(
                'onnxruntime has its TensorRT provider but %s (TensorRT 10 is needed): '
                'using CUDA without TensorRT',
                problem,
            )
        if tensorrt and not problem:
            engines = onnx_path.parent / 'tensorrt'
            unsafe = _private_dir(engines)
            options = {'device_id': index, 'trt_fp16_enable': 'True'}
            if unsafe:
                LOG.warning('TensorRT engines are not cached: %s', unsafe)
            else:
                options.update(
                    trt_engine_cache_enable='True',
                    trt_engine_cache_path=str(engines),
                    trt_engine_cache_prefix=onnx_path.stem,
                    trt_timing_cache_enable='True',
                    trt_timing_cache_path=str(engines),
                )
            chosen.append(('TensorrtExecutionProvider', options))
        if 'CUDAExecutionProvider' in available:
            chosen.append(('CUDAExecutionProvider', {'device_id': index}))
    return [*chosen, 'CPUExecutionProvider']


class OnnxRuntimeBackend:
    name = 'onnxruntime'

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        num_classes: int,
        model_name: str = 'model',
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        providers: list[str | tuple[str, dict]] | None = None,
    ) -> None:
        missing = onnxruntime_missing()
        if missing:
            install = missing.replace(' and ', ' ')
            raise BackendError(
                f"backend 'onnxruntime' needs the onnxruntime and onnx packages; {missing} cannot "
                f"be imported (pip install {install}), or use backend 'torch'"
            )
        import onnxruntime as ort

        model = model.float().cpu().eval()
        path = cached_export(model, model_name, cache_dir)
        self.path = path
        available = ort.get_available_providers()
        if providers is None:
            providers = ort_providers(device, available, path)
        names = [p if isinstance(p, str) else p[0] for p in providers]
        missing = [p for p in names if p not in available]
        if missing:
            raise BackendError(
                f'onnxruntime providers {missing} are not installed; available: {available}'
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        # ORT's idle workers spin-wait after each run by default; the pre/post-processing torch ops
        # that follow on the same cores then ran 2-20x slower (argmax 15 ms instead of 1 ms at
        # 360x480)
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.providers = self.session.get_providers()
        self.device = device
        self.num_classes = num_classes
        self.description = f'onnxruntime {self.providers[0].replace("ExecutionProvider", "")}'
        self._on_gpu = self.providers[0] != 'CPUExecutionProvider'

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._on_gpu:
            return self._run_bound(x)
        out = self.session.run(['logits'], {'input': x.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(out).to(self.device)

    def _run_bound(self, x: torch.Tensor) -> torch.Tensor:
        """
        GPU providers: ONNX Runtime reads and writes the torch tensors' device memory directly.

        The logits' shape is known ((N, classes, H, W): the models return input-sized logits), so
        the output is a preallocated torch tensor and nothing crosses to the host.
        """
        x = x.float().contiguous()
        out = torch.empty(
            (x.shape[0], self.num_classes, *x.shape[-2:]), device=x.device, dtype=torch.float32
        )
        index = x.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input('input', 'cuda', index, np.float32, tuple(x.shape), x.data_ptr())
        binding.bind_output('logits', 'cuda', index, np.float32, tuple(out.shape), out.data_ptr())
        torch.cuda.current_stream(
            x.device
        ).synchronize()  # x is written on torch's stream, ORT uses its own
        self.session.run_with_iobinding(binding)
        return out


def resolve_backend(kind: str, device: torch.device) -> str:
    """
    Resolve ``auto`` to a backend: ONNX Runtime on the CPU when installed, PyTorch fp16 on CUDA.

    ONNX Runtime is 2-3x faster than eager PyTorch on the CPUs measured (see BENCHMARKS.md).
    """
    if kind != 'auto':
        return kind
    if device.type == 'cpu' and onnxruntime_missing() is None:
        return 'onnxruntime'
    return 'torch'


def onnxruntime_missing() -> str | None:
    """
    Name what the ONNX Runtime backend needs and cannot import, None where both are there.

    It needs onnxruntime to run and onnx to export (``cached_export``): on a robot, rosdep
    installs onnxruntime (``python3-onnxruntime-pip``), but no rosdep key gives onnx.
    """
    from importlib.util import find_spec

    missing = [name for name in ('onnxruntime', 'onnx') if find_spec(name) is None]
    return ' and '.join(missing) or None


def make_backend(
    kind: str,
    model: nn.Module,
    device: torch.device,
    dtype: torch.dtype,
    *,
    num_classes: int,
    model_name: str = 'model',
    cache_dir: str | Path | None = None,
    cuda_graphs: bool | None = None,
    torch_compile: bool = False,
):
    """
    Return the backend ``kind`` for ``model`` on ``device``.

    :class:`BackendError` says what is accepted. ``cuda_graphs`` (torch on CUDA): None = on.
    ``torch_compile``: the torch backend runs the network through ``torch.compile`` (ONNX Runtime
    optimises its own graph: ignored there).
    """
    kind = resolve_backend(kind, device)
    if kind == 'torch':
        return TorchBackend(
            model,
            device,
            dtype,
            cuda_graphs=cuda_graphs,
            compile=torch_compile,
            cache_dir=cache_dir,
        )
    if kind == 'onnxruntime':
        return OnnxRuntimeBackend(
            model, device, num_classes=num_classes, model_name=model_name, cache_dir=cache_dir
        )
    raise BackendError(f'unknown backend {kind!r}; accepted: {", ".join(BACKEND_CHOICES)}')
