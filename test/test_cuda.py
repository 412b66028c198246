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
The CUDA path: masks against the CPU's fp32 masks, CUDA graphs, the page-locked upload, the node.

Run wherever CUDA is present; skipped, as a whole, only where it is not.
"""

import json
import uuid

from lightseg_ros.inference import Segmenter
from lightseg_ros.inference.backends import TorchBackend
from lightseg_ros.models import list_models, shipped_weights
from lightseg_ros.sources import road_scene
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')

SIZES = [(360, 480), (480, 640), (1080, 1920)]  # the last is downscaled before the network
MODELS = [name for name in list_models() if shipped_weights(name)]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a == b).mean())


@pytest.fixture(scope='module')
def cpu_masks():
    """Each model's CPU fp32 masks (PyTorch eager), the reference of every CUDA variant."""
    images = {size: road_scene(size[1], size[0], t=0.3)[0] for size in SIZES}
    masks = {}
    for name in MODELS:
        seg = Segmenter(shipped_weights(name), device='cpu', backend='torch')
        masks[name] = {size: seg.segment(images[size]).mask for size in SIZES}
    return images, masks


@pytest.mark.parametrize('name', MODELS)
@pytest.mark.parametrize(
    'variant',
    [
        {'backend': 'torch'},  # the node's default on CUDA: fp16, channels_last, CUDA graphs
        {'backend': 'torch', 'cuda_graphs': False},
        {'backend': 'onnxruntime'},  # the best provider installed; CPU's when no GPU provider
    ],
    ids=['torch', 'torch_eager', 'onnxruntime'],
)
def test_cuda_masks_agree_with_the_cpu_fp32_masks(cpu_masks, name, variant):
    images, masks = cpu_masks
    seg = Segmenter(shipped_weights(name), device='cuda', **variant)
    assert seg.device.type == 'cuda'
    if variant['backend'] == 'torch':
        assert seg.dtype == torch.float16 and seg.backend.channels_last
        assert seg.backend.cuda_graphs == variant.get('cuda_graphs', True)
    for size in SIZES:
        for _ in range(2):  # the second call replays the captured graph
            got = seg.segment(images[size]).mask
            assert agreement(got, masks[name][size]) >= 0.99, (name, size, variant)


def test_channels_first_fp16_agrees_too(cpu_masks):
    images, masks = cpu_masks
    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cuda', backend='torch')
    network = seg.backend.model.to(memory_format=torch.contiguous_format)
    seg.backend = TorchBackend(network, seg.device, torch.float16, channels_last=False)
    assert seg.backend.description == 'torch cuda float16 cuda_graphs'
    for size in SIZES:
        assert agreement(seg.segment(images[size]).mask, masks['ghostnet_aspp_da'][size]) >= 0.99


def test_torch_compile_inside_the_graph_agrees_with_the_cpu_fp32_masks(cpu_masks):
    images, masks = cpu_masks
    seg = Segmenter(
        shipped_weights('ghostnet_aspp_da'), device='cuda', backend='torch', torch_compile=True
    )
    for size in SIZES[:2]:
        for _ in range(2):
            got = seg.segment(images[size]).mask
            assert agreement(got, masks['ghostnet_aspp_da'][size]) >= 0.99, size
    # compiled, not fallen back to the uncompiled network
    assert seg.backend.compiled and seg.backend.cuda_graphs
    assert seg.backend.description.endswith('cuda_graphs compiled')


def test_graph_replays_equal_eager_and_are_kept_per_shape():
    torch.manual_seed(0)
    weights = shipped_weights('ghostnet_aspp_da')
    graphs = Segmenter(weights, device='cuda', backend='torch')
    eager = Segmenter(weights, device='cuda', backend='torch', cuda_graphs=False)
    shapes = [(96, 128), (128, 96), (160, 160), (64, 64), (200, 120)]
    for h, w in shapes:
        x = torch.randn(1, 3, h, w, device='cuda')
        with torch.inference_mode():
            a = graphs.backend(x).clone()
            b = graphs.backend(x).clone()  # replay
            c = eager.backend(x)
        assert a.dtype == torch.float32 and a.shape == c.shape
        assert torch.equal(a, b)
        assert (a - c).abs().max().item() < 0.05 * c.abs().max().item()
        assert (a.argmax(1) == c.argmax(1)).float().mean().item() >= 0.999
    assert len(graphs.backend._graphs) == TorchBackend.MAX_GRAPHS  # the oldest shape went
    assert (96, 128) not in {k[2:] for k in graphs.backend._graphs}


def test_warm_up_captures_the_graph_that_frames_of_that_size_replay():
    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cuda', backend='torch')
    assert seg.warm_up((480, 640)) > 0 and list(seg.backend._graphs) == [(1, 3, 480, 640)]
    graph = seg.backend._graphs[(1, 3, 480, 640)]
    seg.segment(road_scene(640, 480, t=0.3)[0])
    assert list(seg.backend._graphs) == [(1, 3, 480, 640)]
    assert seg.backend._graphs[(1, 3, 480, 640)] is graph  # replayed, not captured again


def test_logits_are_not_overwritten_by_the_next_frame():
    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cuda', backend='torch')
    first, second = (road_scene(160, 120, t=t)[0] for t in (0.1, 0.9))
    a = seg.logits(first)
    kept = a.clone()
    seg.logits(second)
    assert torch.equal(a, kept)


def test_alternating_frames_through_the_page_locked_buffer_stay_apart():
    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cuda', backend='torch')
    frames = [road_scene(320, 240, t=t)[0] for t in (0.0, 0.5)]
    expected = [seg.segment(f).mask for f in frames]
    assert agreement(expected[0], expected[1]) < 0.99  # two different answers
    for i in range(40):
        assert np.array_equal(seg.segment(frames[i % 2]).mask, expected[i % 2]), i


def test_the_node_on_cuda_serves_masks_and_switches_models_on_the_gpu():
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray
    from lightseg_ros.ros.image_source import to_image_msg
    from rcl_interfaces.srv import SetParameters
    from ros_harness import set_params, start_node_and_probe
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    ns, node_name = f'/cuda{uuid.uuid4().hex[:6]}', f'seg_{uuid.uuid4().hex[:6]}'
    camera, out = f'{ns}/cam/image', f'{ns}/cam/segmentation'

    def prepare(probe):
        probe.subscribe(Image, f'{out}/mask')
        probe.subscribe(String, f'{out}/class_legend', latched=True)
        probe.subscribe(DiagnosticArray, '/diagnostics')
        probe.camera = probe.publisher(Image, camera)
        probe.params = probe.node.create_client(SetParameters, f'/{node_name}/set_parameters')

    args = ['-r', f'__node:={node_name}', '-p', f'image_topics:=[{camera}]', '-p', 'device:=cuda']
    node, probe = start_node_and_probe(
        'lightseg_ros.ros.segment_node',
        [*args, '-p', 'diagnostics_period:=0.5'],
        prepare=prepare,
        ready=lambda p: (
            p.camera.get_subscription_count() > 0 and p.node.count_publishers(f'{out}/mask') > 0
        ),
        timeout=90,
    )
    try:
        image = road_scene(640, 480, t=0.4)[0]

        def mask_for(stamp: int) -> np.ndarray:
            msg = to_image_msg(image, 'rgb8', Time(sec=stamp), 'camera')
            probe.camera.publish(msg)
            got = probe.wait_for(f'{out}/mask', lambda m: m.header.stamp.sec == stamp, 30)
            return np.frombuffer(got.data, np.uint8).reshape(got.height, got.width)

        for model, stamp in (('ghostnet_aspp_da', 1), ('mlff_mobilenetv2', 2)):
            if model != 'ghostnet_aspp_da':  # switch without restart, on the GPU
                assert set_params(probe, model=model)[0].successful
                status = probe.wait_for(
                    '/diagnostics',
                    lambda m: {kv.key: kv.value for kv in m.status[0].values}['model'] == model,
                    60,
                ).status[0]
            reference = Segmenter(shipped_weights(model), device='cuda').segment(image).mask
            assert agreement(mask_for(stamp), reference) >= 0.995, model
        values = {kv.key: kv.value for kv in status.values}  # after the switch
        assert values['device'].startswith('cuda') and values['model'] == 'mlff_mobilenetv2'
        assert values['backend'] == 'torch cuda float16 channels_last cuda_graphs', values
        legend = probe.wait_for(f'{out}/class_legend', lambda m: True, 10)
        assert len(json.loads(legend.data)['classes']) == 11
        assert node.alive(), node.tail()
    finally:
        probe.close()
        node.stop()


def test_the_benchmark_records_the_gpu_memory_the_segmenter_takes():
    from lightseg_ros.tools.bench_cmd import format_table
    from lightseg_ros.tools.benchmark import bench_segmenter

    case = bench_segmenter(
        'ghostnet_aspp_da', 'torch', (360, 480), device='cuda', warmup=3, iters=10, rounds=2
    )
    mem = case.extra['gpu_memory_mb']
    # 2.8 M fp16 weights are 5 MB; buffers, graph pools and cuDNN workspaces stay well under 2 GB
    assert 5 < mem < 2048 and case.extra['gpu_reserved_mb'] >= mem
    # the device's free memory fell by about what PyTorch's allocator took for it, or more (half:
    # blocks cached before the segmenter was built may have served part of it)
    assert 0.5 * mem <= case.extra['gpu_device_mb'] < 4096, case.extra
    result = {
        'peak_gflops': 1.0,
        'machine': {'device': 'cuda', 'threads': 1, 'torch': torch.__version__},
        'cases': [case.as_dict()],
        'peer': [],
        'skipped': [],
    }
    assert 'GPU MB' in format_table(result) and f'{mem:7.1f}' in format_table(result)


def test_a_seeded_training_sample_leaves_the_gpu_generator_alone(tmp_path):
    """Per-sample augmentation seeds the CPU generator only, not CUDA's (dropout on the GPU)."""
    from lightseg_ros.training.datasets import build_dataset
    from lightseg_ros.training.transforms import train_transform
    from synthetic_data import make_camvid

    root = make_camvid(tmp_path, n=1)
    ds = build_dataset('camvid', root, 'train', train_transform([32, 32], 11))
    torch.cuda.manual_seed(7)
    before = torch.cuda.get_rng_state()
    ds[(0, 123)]
    assert torch.equal(torch.cuda.get_rng_state(), before)


def test_a_segmenter_on_the_last_gpu_captures_its_graph_from_another_thread():
    # the node's worker thread starts with GPU 0 current: the capture must still be on the
    # segmenter's own GPU (with one GPU this is cuda:0, and the test still proves the thread)
    import threading

    device = f'cuda:{torch.cuda.device_count() - 1}'
    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device=device, backend='torch')
    eager = Segmenter(
        shipped_weights('ghostnet_aspp_da'), device=device, backend='torch', cuda_graphs=False
    )
    image = road_scene(480, 360, t=0.2)[0]
    out = {}
    worker = threading.Thread(target=lambda: out.update(mask=seg.segment(image).mask))
    worker.start()
    worker.join()
    assert seg.backend.cuda_graphs and len(seg.backend._graphs) == 1
    assert agreement(out['mask'], eager.segment(image).mask) > 0.999


def test_rng_states_saved_on_more_gpus_than_are_visible_restore():
    from lightseg_ros.training.engine import _rng_state, _set_rng_state

    state = _rng_state()
    assert len(state['cuda']) == 1  # this process's GPU only
    many = {**state, 'cuda': state['cuda'] * (torch.cuda.device_count() + 7)}  # an 8+-GPU run
    _set_rng_state(many)
    a = torch.randn(4, device='cuda')
    _set_rng_state(state)
    assert torch.equal(a, torch.randn(4, device='cuda'))


def test_one_visible_gpu_serves_any_local_rank(monkeypatch):
    from lightseg_ros.training.engine import setup_distributed

    monkeypatch.setenv('LOCAL_RANK', '3')
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert setup_distributed('cuda').device == torch.device('cuda', 0)


def test_a_gpu_index_past_the_last_is_refused_by_the_node_check_in_one_line():
    from lightseg_ros.ros.node_config import validate_change

    count = torch.cuda.device_count()
    line = validate_change('device', f'cuda:{count}')
    assert line == (
        f"device 'cuda:{count}' requested but this machine has {count} CUDA device"
        f'{"s" if count != 1 else ""}; accepted: auto, cpu, cuda, cuda:0 to cuda:{count - 1}'
    )
    assert validate_change('device', f'cuda:{count - 1}') is None


def test_masks_scaled_up_on_the_gpu_match_the_hosts_exact_upsampling():
    from lightseg_ros.inference.segmenter import upsample_labels

    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cuda', backend='torch')
    image = road_scene(1920, 1080, t=0.4)[0]  # above the weights' cap: the network runs smaller
    with torch.inference_mode():
        out = seg._network_logits(image).float().clone()
    assert out.shape[-2:] != (1080, 1920)
    host = upsample_labels(
        out[0].cpu().numpy(), out[0].argmax(0).to(torch.uint8).cpu().numpy(), 1080, 1920
    )
    assert agreement(seg.segment(image).mask, host) >= 0.999


def test_a_capture_out_of_memory_at_one_size_keeps_graphs_for_the_others(monkeypatch):
    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cuda', backend='torch')
    backend = seg.backend
    real_capture = backend._capture

    def capture(x):
        if x.shape[-1] == 480:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory (a test)')
        return real_capture(x)

    monkeypatch.setattr(backend, '_capture', capture)
    large, small = road_scene(480, 360, t=0.1)[0], road_scene(320, 240, t=0.1)[0]
    seg.segment(large)
    seg.segment(large)  # eager again, not another capture
    seg.segment(small)
    assert backend.cuda_graphs and list(backend._graphs) == [(1, 3, 240, 320)]
    assert list(backend._eager_shapes) == [(1, 3, 360, 480)]
