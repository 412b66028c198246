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

"""Every backend this machine has gives the same masks; exports are cached; errors are clear."""

import os
import sys

from lightseg_ros.inference.backends import BackendError, BACKENDS, OnnxRuntimeBackend
from lightseg_ros.inference.segmenter import Segmenter
from lightseg_ros.models import build_model, save_weights, WeightsMeta
import numpy as np
import pytest
import torch

# ONNX Runtime's fused kernels round differently from PyTorch's: logits agree to ~1e-4, so a
# pixel whose two best classes are closer than that may flip. Masks must agree on >= 99.9%.
MASK_AGREEMENT = 0.999


@pytest.fixture(scope='module')
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size, dtype=np.uint8) for size in ((64, 80, 3), (97, 131, 3))]


@pytest.mark.parametrize('model', ['ghostnet_aspp_da', 'mlff_mobilenetv2'])
def test_backends_agree_on_masks(model, images, tmp_path, monkeypatch):
    monkeypatch.setenv('LIGHTSEG_CACHE', str(tmp_path / 'cache'))
    torch.manual_seed(0)
    weights = save_weights(
        tmp_path / 'w.safetensors',
        build_model(model, num_classes=5),
        WeightsMeta(model=model, num_classes=5),
    )
    ref = Segmenter(weights, device='cpu', backend='torch')
    for backend in BACKENDS:
        seg = Segmenter(weights, device='cpu', backend=backend)
        for image in images:
            with torch.inference_mode():
                diff = (ref.logits(image) - seg.logits(image)).abs().max().item()
            assert diff < 1e-3, (backend, diff)
            agree = (ref.segment(image).mask == seg.segment(image).mask).mean()
            assert agree >= MASK_AGREEMENT, (backend, agree)


def test_onnx_export_is_cached(tmp_path):
    model = build_model('ghostnet_aspp_da', num_classes=3)
    first = OnnxRuntimeBackend(model, torch.device('cpu'), num_classes=3, cache_dir=tmp_path)
    mtime = first.path.stat().st_mtime_ns
    second = OnnxRuntimeBackend(model, torch.device('cpu'), num_classes=3, cache_dir=tmp_path)
    assert second.path == first.path and second.path.stat().st_mtime_ns == mtime
    assert len(list(tmp_path.glob('*.onnx'))) == 1
    with torch.no_grad():
        model.classifier.bias += 1  # other weights -> another export
    third = OnnxRuntimeBackend(model, torch.device('cpu'), num_classes=3, cache_dir=tmp_path)
    assert third.path != first.path
    # the same tensors at another output stride (dilations only): another export, not the first
    stride16 = build_model('ghostnet_aspp_da', num_classes=3, output_stride=16)
    stride16.load_state_dict(model.state_dict())
    fourth = OnnxRuntimeBackend(stride16, torch.device('cpu'), num_classes=3, cache_dir=tmp_path)
    assert fourth.path not in (first.path, third.path)


def test_unknown_backend_and_missing_provider():
    with pytest.raises(BackendError, match='accepted: auto, torch, onnxruntime'):
        Segmenter(model='ghostnet_aspp_da', device='cpu', backend='tflite')
    with pytest.raises(BackendError, match='not installed'):
        OnnxRuntimeBackend(
            build_model('ghostnet_aspp_da', num_classes=3),
            torch.device('cpu'),
            num_classes=3,
            providers=['NoSuchExecutionProvider'],
        )


def test_without_onnx_auto_runs_torch_and_onnxruntime_says_what_is_missing(monkeypatch):
    # a robot's rosdep install gives onnxruntime but not onnx (no rosdep key), which the export
    # needs: 'auto' used to pick onnxruntime there, and the node ended in ModuleNotFoundError
    from lightseg_ros.inference.backends import resolve_backend

    cpu = torch.device('cpu')
    assert resolve_backend('auto', cpu) == 'onnxruntime'  # both are installed here
    monkeypatch.setitem(sys.modules, 'onnx', None)  # 'import onnx' fails, as there
    assert resolve_backend('auto', cpu) == 'torch'
    model = build_model('ghostnet_aspp_da', num_classes=11).eval()
    with pytest.raises(BackendError) as err:
        OnnxRuntimeBackend(model, cpu, num_classes=11, model_name='ghostnet_aspp_da')
    assert str(err.value) == (
        "backend 'onnxruntime' needs the onnxruntime and onnx packages; onnx cannot be imported "
        "(pip install onnx), or use backend 'torch'"
    )


def test_export_writes_through_its_own_temporary_file(tmp_path):
    from lightseg_ros.inference.export import export_onnx

    model = build_model('ghostnet_aspp_da', num_classes=3).eval()
    (tmp_path / 'm.onnx.tmp').write_text('another export in progress')
    out = export_onnx(model, tmp_path / 'm.onnx', input_size=(64, 64))
    # the fixed name m.onnx.tmp was another run's: it is left alone, and nothing else remains
    assert (tmp_path / 'm.onnx.tmp').read_text() == 'another export in progress'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.onnx', 'm.onnx.tmp']
    assert out.stat().st_mode & 0o777 == (tmp_path / 'm.onnx.tmp').stat().st_mode & 0o777


def test_onnx_cache_is_private_checked_and_rebuilt_when_tampered(tmp_path, caplog):
    import logging
    import os

    from lightseg_ros.inference.backends import _cache_problem, cached_export

    model = build_model('ghostnet_aspp_da', num_classes=3).eval()
    cache = tmp_path / 'cache'
    path = cached_export(model, 'g', cache)
    digest = path.with_name(path.name + '.sha256')
    assert f'-onnx{__import__("onnx").__version__}.onnx' in path.name
    assert cache.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600 and digest.stat().st_mode & 0o777 == 0o600
    original = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger='lightseg_ros.inference.backends'):
        # used as is
        assert cached_export(model, 'g', cache) == path and path.stat().st_mtime_ns == mtime
        assert 'sha256 checked' in caplog.text

        planted = bytearray(original)
        planted[len(planted) // 2] ^= 0xFF  # a file changed in place: its hash no longer matches
        path.write_bytes(bytes(planted))
        caplog.clear()
        cached_export(model, 'g', cache)
        assert '(changed since it was written); exporting it again' in caplog.text
        assert path.read_bytes() == original

        os.chmod(path, 0o666)  # writable by others: not trusted
        assert 'writable by other users (mode 666)' in _cache_problem(path, digest)
        os.chmod(path, 0o600)

        path.unlink()
        (tmp_path / 'elsewhere.onnx').write_bytes(original)
        path.symlink_to(tmp_path / 'elsewhere.onnx')  # a planted link
        caplog.clear()
        cached_export(model, 'g', cache)
        assert 'is not a regular file' in caplog.text and not path.is_symlink()

        for record in (b'', b'\xff\xfe not ascii'):  # cut short by a power cut, or garbled
            digest.write_bytes(record)
            caplog.clear()
            assert cached_export(model, 'g', cache) == path  # exported again, no IndexError
            assert 'its record says nothing' in caplog.text or 'exporting it again' in caplog.text
            assert digest.read_text().split()[0] == _cache_problem.__globals__['_file_sha256'](
                path
            )

        os.chmod(cache, 0o777)
        caplog.clear()
        other = cached_export(model, 'g', cache)
        assert (
            'not using the ONNX cache' in caplog.text and other.parent != cache and other.is_file()
        )
        again = cached_export(model, 'g', cache)  # a reload: the same private folder, not another
        assert again.parent == other.parent
    from lightseg_ros.inference.export import check_onnx

    assert check_onnx(model, path, sizes=[(64, 64)]) < 1e-3  # the rebuilt export is the model


def test_torch_compile_caches_in_a_private_lightseg_folder_and_the_next_compile_reuses_it(
    tmp_path, monkeypatch
):
    """Inductor's cache (pickles it loads back) lives user-only in the lightseg cache, not /tmp."""
    from lightseg_ros.inference.backends import INDUCTOR_CACHE_VARIABLE, TorchBackend
    from torch._dynamo.utils import counters
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # as importing torch._dynamo leaves it (restored after the test)
    monkeypatch.setenv(INDUCTOR_CACHE_VARIABLE, default_cache_dir())
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU()
    ).eval()
    x = torch.randn(1, 3, 16, 24)
    plain = TorchBackend(network, torch.device('cpu'), torch.float32)(x)
    hits = []
    for _ in range(2):  # the second as in a new process: torch's in-memory state forgotten
        torch._dynamo.reset()
        counters.clear()
        backend = TorchBackend(
            network, torch.device('cpu'), torch.float32, compile=True, cache_dir=tmp_path
        )
        assert backend.compile_cache == tmp_path / 'torchinductor'
        assert torch.allclose(backend(x), plain, atol=1e-5) and backend.compiled
        hits.append(counters['inductor']['fxgraph_cache_hit'])
    assert (tmp_path / 'torchinductor').stat().st_mode & 0o777 == 0o700
    assert os.environ[INDUCTOR_CACHE_VARIABLE] == str(tmp_path / 'torchinductor')
    assert any((tmp_path / 'torchinductor').iterdir())
    assert hits == [0, 1]  # compiled once, then loaded from the folder


def test_torch_compile_will_not_use_a_cache_folder_others_can_write(tmp_path, monkeypatch, caplog):
    from lightseg_ros.inference.backends import INDUCTOR_CACHE_VARIABLE, TorchBackend

    shared = tmp_path / 'shared'
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(INDUCTOR_CACHE_VARIABLE, str(shared))
    network = torch.nn.Conv2d(3, 4, 3).eval()
    with caplog.at_level('WARNING', logger='lightseg_ros.inference.backends'):
        backend = TorchBackend(network, torch.device('cpu'), torch.float32, compile=True)
    assert 'torch.compile keeps nothing between starts' in caplog.text
    assert f'{shared} is writable by other users (mode 777)' in caplog.text
    used = backend.compile_cache
    assert used != shared and used.stat().st_mode & 0o777 == 0o700
    assert os.environ[INDUCTOR_CACHE_VARIABLE] == str(used)


def test_torch_compile_that_fails_warns_once_and_runs_the_network_uncompiled(monkeypatch, caplog):
    """Where Inductor cannot compile (no compiler, no Triton), the network runs uncompiled."""
    from lightseg_ros.inference.backends import TorchBackend

    calls = []

    def compile_that_fails(model, **options):
        def run(x):
            calls.append(x.shape)
            raise RuntimeError('InductorError: no working C++ compiler found\n(a long traceback)')

        return run

    monkeypatch.setattr(torch, 'compile', compile_that_fails)
    torch.manual_seed(0)
    network = build_model('ghostnet_aspp_da', num_classes=4).eval()
    plain = TorchBackend(network, torch.device('cpu'), torch.float32)
    backend = TorchBackend(network, torch.device('cpu'), torch.float32, compile=True)
    assert backend.compiled and backend.description == 'torch cpu float32 compiled'
    x = torch.randn(1, 3, 64, 96)
    with caplog.at_level('WARNING', logger='lightseg_ros.inference.backends'):
        first = backend(x)
        second = backend(x)
    assert len(calls) == 1  # tried once, then never again
    assert not backend.compiled and backend.description == 'torch cpu float32'
    assert torch.equal(first, plain(x)) and torch.equal(second, first)
    warnings = [r.getMessage() for r in caplog.records if 'torch.compile' in r.getMessage()]
    assert warnings == [
        'torch.compile failed, running uncompiled: InductorError: no working C++ compiler found'
    ]


def test_tensorrt_engines_are_fp16_and_cached_beside_the_onnx_export(
    tmp_path, caplog, monkeypatch
):
    from lightseg_ros.inference import backends
    from lightseg_ros.inference.backends import ort_providers

    monkeypatch.setattr(backends, 'TENSORRT_LIBRARIES', ('libc.so.6',))  # TensorRT "loads"

    onnx_path = tmp_path / 'cache' / 'ghostnet_aspp_da-0123abcd-torch2.14.1-onnx1.19.0.onnx'
    onnx_path.parent.mkdir(mode=0o700)
    everything = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert ort_providers(torch.device('cpu'), everything, onnx_path) == ['CPUExecutionProvider']

    trt, cuda, cpu = ort_providers(torch.device('cuda:1'), everything, onnx_path)
    engines = onnx_path.parent / 'tensorrt'
    assert trt == (
        'TensorrtExecutionProvider',
        {
            'device_id': '1',
            'trt_fp16_enable': 'True',
            'trt_engine_cache_enable': 'True',
            'trt_engine_cache_path': str(engines),
            'trt_engine_cache_prefix': onnx_path.stem,  # model, weights' sha256, versions
            'trt_timing_cache_enable': 'True',
            'trt_timing_cache_path': str(engines),
        },
    )
    assert cuda == ('CUDAExecutionProvider', {'device_id': '1'}) and cpu == 'CPUExecutionProvider'
    assert engines.is_dir() and engines.stat().st_mode & 0o777 == 0o700
    # only what is installed
    assert ort_providers(
        torch.device('cuda'), ['CUDAExecutionProvider', 'CPUExecutionProvider'], onnx_path
    ) == [('CUDAExecutionProvider', {'device_id': '0'}), 'CPUExecutionProvider']

    # engines are not kept where other users could replace them: built, not cached, and said so
    engines.chmod(0o777)
    with caplog.at_level('WARNING', logger='lightseg_ros.inference.backends'):
        trt, *_ = ort_providers(torch.device('cuda'), everything, onnx_path)
    assert trt == ('TensorrtExecutionProvider', {'device_id': '0', 'trt_fp16_enable': 'True'})
    assert 'TensorRT engines are not cached' in caplog.text and 'writable by other' in caplog.text


def test_tensorrt_is_not_chosen_where_its_libraries_do_not_load(tmp_path, caplog, monkeypatch):
    """
    Start on CUDA, with one warning once, where TensorRT's libraries do not load.

    onnxruntime-gpu lists its TensorRT provider with or without TensorRT; without it, each session
    printed ORT's 10-line "EP Error" before falling back.
    """
    from lightseg_ros.inference import backends
    from lightseg_ros.inference.backends import ort_providers

    monkeypatch.setattr(backends, 'TENSORRT_LIBRARIES', ('libc.so.6', 'libnvinfer_absent.so.10'))
    monkeypatch.setattr(backends, '_said_without_tensorrt', set())
    onnx_path = tmp_path / 'model.onnx'
    everything = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    with caplog.at_level('WARNING', logger='lightseg_ros.inference.backends'):
        for _ in range(3):
            assert ort_providers(torch.device('cuda'), everything, onnx_path) == [
                ('CUDAExecutionProvider', {'device_id': '0'}),
                'CPUExecutionProvider',
            ]
    assert [r.getMessage() for r in caplog.records] == [
        'onnxruntime has its TensorRT provider but libnvinfer_absent.so.10 does not load '
        '(TensorRT 10 is needed): using CUDA without TensorRT'
    ]
    assert not (tmp_path / 'tensorrt').exists()  # no engine folder for a provider not used
