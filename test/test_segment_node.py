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
The segmentation node as a real process over DDS.

Outputs, headers, drops, bad input, parameters.
"""

from __future__ import annotations

import json
import time
import uuid

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from lightseg_ros.inference import (
    colorize,
    decode_compressed_image,
    decode_image,
    encode_image,
    overlay,
    Segmenter,
)
from lightseg_ros.models import build_model, save_weights, WeightsMeta
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from ros_harness import NodeProcess, set_params, start_node_and_probe
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

H, W = 64, 80
NS = f'/t{uuid.uuid4().hex[:8]}'
RAW, JPEG, QUIET = f'{NS}/cam/image', f'{NS}/front/image/compressed', f'{NS}/quiet/image'
OUT_RAW, OUT_JPEG, OUT_QUIET = (
    f'{NS}/cam/segmentation',
    f'{NS}/front/segmentation',
    f'{NS}/quiet/segmentation',
)
NODE = f'seg_{uuid.uuid4().hex[:6]}'
OUTPUT_NAMES = ('mask', 'color_mask', 'overlay', 'confidence')
pytestmark = pytest.mark.usefixtures('one_torch_thread')  # see conftest


def scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(
        rng.integers(0, 256, (8, 10, 3), dtype=np.uint8), (W, H), interpolation=cv2.INTER_LINEAR
    )
    return img


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp('node_weights')
    net = build_model('ghostnet_aspp_da', num_classes=11)
    first = save_weights(
        folder / 'eleven.safetensors', net, WeightsMeta(model='ghostnet_aspp_da', num_classes=11)
    )
    net3 = build_model('ghostnet_aspp_da', num_classes=3)
    second = save_weights(
        folder / 'three.safetensors',
        net3,
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['x', 'y', 'z']),
    )
    return first, second


@pytest.fixture(scope='module')
def graph(weights):
    """(probe, node process, reference segmenter) shared by the module's tests."""

    def prepare(probe):
        for out in (OUT_RAW, OUT_JPEG):
            for name in OUTPUT_NAMES:
                probe.subscribe(Image, f'{out}/{name}')
            probe.subscribe(String, f'{out}/class_legend', latched=True)
        probe.subscribe(DiagnosticArray, '/diagnostics')
        probe.raw = probe.publisher(Image, RAW)
        probe.jpeg = probe.publisher(CompressedImage, JPEG)
        probe.quiet = probe.publisher(Image, QUIET)
        probe.params = probe.node.create_client(SetParameters, f'/{NODE}/set_parameters')

    node, probe = start_node_and_probe(
        'lightseg_ros.ros.segment_node',
        [
            '-r',
            f'__node:={NODE}',
            '-p',
            f'image_topics:=[{RAW}, {JPEG}, {QUIET}]',
            '-p',
            f'weights:={weights[0]}',
            '-p',
            'diagnostics_period:=0.5',
            '-p',
            f'warmup_image_size:=[{H}, {W}]',
        ],
        prepare=prepare,
        ready=lambda probe: (
            probe.raw.get_subscription_count() > 0
            and probe.jpeg.get_subscription_count() > 0
            and probe.node.count_publishers(f'{OUT_RAW}/confidence') > 0
            and probe.node.count_publishers(f'{OUT_JPEG}/overlay') > 0
        ),
        timeout=45,
    )
    try:
        probe.wait_for(f'{OUT_RAW}/class_legend', timeout=20)
        time.sleep(0.5)  # let the node's publishers match the probe's subscriptions too
        yield probe, node, Segmenter(weights[0], device='cpu')
    finally:
        probe.close()
        node.stop()


_stamp = [1000]


def image_msg(
    rgb: np.ndarray, encoding: str, frame_id: str = 'cam_optical', overrides: dict | None = None
) -> Image:
    msg = Image()
    _stamp[0] += 1
    msg.header.stamp.sec, msg.header.stamp.nanosec = _stamp[0], 123
    msg.header.frame_id = frame_id
    fields = {**encode_image(rgb, encoding), **(overrides or {})}
    msg.height, msg.width, msg.encoding = fields['height'], fields['width'], fields['encoding']
    msg.is_bigendian, msg.step, msg.data = fields['is_bigendian'], fields['step'], fields['data']
    return msg


def with_stamp(msg):
    sec = msg.header.stamp.sec
    return lambda m: m.header.stamp.sec == sec


def outputs_for(probe, out_ns: str, msg, names=OUTPUT_NAMES, timeout: float = 20.0) -> dict:
    return {name: probe.wait_for(f'{out_ns}/{name}', with_stamp(msg), timeout) for name in names}


def as_array(msg: Image) -> np.ndarray:
    dtype = np.float32 if msg.encoding == '32FC1' else np.uint8
    arr = np.frombuffer(msg.data, dtype)
    return (
        arr.reshape(msg.height, msg.width, -1).squeeze(-1)
        if msg.encoding in ('mono8', '32FC1')
        else arr.reshape(msg.height, msg.width, 3)
    )


@pytest.mark.parametrize(
    'encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', 'yuv422', 'yuv422_yuy2']
)
def test_every_encoding_gives_all_outputs_equal_to_the_segmenter(graph, encoding):
    probe, node, segmenter = graph
    msg = image_msg(scene(len(encoding)), encoding, frame_id=f'frame_{encoding}')
    probe.raw.publish(msg)
    outs = outputs_for(probe, OUT_RAW, msg)
    image = decode_image(msg)
    expected = segmenter.segment(image, confidence=True)
    for name, out in outs.items():
        assert out.header.frame_id == f'frame_{encoding}' and out.header.stamp == msg.header.stamp
        assert (out.height, out.width) == (H, W)
    assert outs['mask'].encoding == 'mono8' and outs['color_mask'].encoding == 'rgb8'
    assert outs['overlay'].encoding == 'rgb8' and outs['confidence'].encoding == '32FC1'
    mask = as_array(outs['mask'])
    assert np.array_equal(mask, expected.mask)
    assert np.array_equal(as_array(outs['color_mask']), colorize(mask, segmenter.palette))
    assert np.array_equal(as_array(outs['overlay']), overlay(image, mask, segmenter.palette, 0.5))
    assert np.allclose(as_array(outs['confidence']), expected.confidence, atol=1e-4)


@pytest.mark.parametrize('ext, fmt', [('.jpg', 'jpeg'), ('.png', 'png')])
def test_compressed_input(graph, ext, fmt):
    probe, node, segmenter = graph
    msg = CompressedImage(format=fmt)
    _stamp[0] += 1
    msg.header.stamp.sec, msg.header.frame_id = _stamp[0], 'front_optical'
    msg.data = cv2.imencode(ext, cv2.cvtColor(scene(7), cv2.COLOR_RGB2BGR))[1].tobytes()
    probe.jpeg.publish(msg)
    outs = outputs_for(probe, OUT_JPEG, msg)
    assert all(o.header.frame_id == 'front_optical' for o in outs.values())
    assert np.array_equal(
        as_array(outs['mask']), segmenter.segment(decode_compressed_image(msg)).mask
    )


def test_burst_leaves_no_backlog_and_processes_the_last_frame(graph):
    probe, node, _ = graph
    msgs = [image_msg(scene(i % 5), 'rgb8') for i in range(100)]
    first, last = msgs[0].header.stamp.sec, msgs[-1].header.stamp.sec
    for m in msgs:
        probe.raw.publish(m)
    probe.wait_for(f'{OUT_RAW}/mask', with_stamp(msgs[-1]), timeout=30)
    time.sleep(1.0)
    with probe.cond:
        processed = [
            m.header.stamp.sec
            for m in probe.messages[f'{OUT_RAW}/mask']
            if first <= m.header.stamp.sec <= last
        ]
    # newest frame served, older ones replaced
    assert processed[-1] == last and len(processed) < 100
    assert processed == sorted(processed)

    # every frame the node received is accounted for: published, replaced (dropped), skipped or bad
    def settled(m):
        v = {
            kv.key: int(kv.value)
            for s in m.status
            for kv in s.values
            if kv.value.lstrip('-').isdigit()
        }
        return v['frames_in'] >= len(processed) and v['frames_in'] == (
            v['frames_out'] + v['dropped_frames'] + v['skipped_no_subscribers'] + v['bad_frames']
        )

    probe.wait_for('/diagnostics', settled, timeout=10)


@pytest.mark.parametrize(
    'bad, words',
    [
        ({'encoding': '32FC3'}, 'unsupported encoding'),
        ({'step': 10}, 'step 10 is smaller'),
        ({'data': b'\x00' * 50}, 'data has 50 bytes'),
        ({'height': 0, 'width': 0, 'step': 0, 'data': b''}, 'zero size'),
    ],
)
def test_malformed_image_is_dropped_with_a_warning_and_the_node_keeps_serving(graph, bad, words):
    probe, node, _ = graph
    probe.raw.publish(image_msg(scene(1), 'rgb8', overrides=bad))
    # the warning first: a good frame sent while the node is busy would replace the bad one unread
    probe.wait_until(lambda: words in node.output, 10, f'a warning containing {words!r}')
    good = image_msg(scene(2), 'rgb8')
    probe.raw.publish(good)
    probe.wait_for(f'{OUT_RAW}/mask', with_stamp(good))
    assert node.alive()


def test_corrupt_jpeg_is_dropped_and_the_node_keeps_serving(graph):
    probe, node, _ = graph
    bad = CompressedImage(format='jpeg', data=b'\xff\xd8\xff\xe0 not really a jpeg')
    probe.jpeg.publish(bad)
    probe.wait_until(
        lambda: 'could not decode compressed image' in node.output, 10, 'the corrupt-jpeg warning'
    )
    good = CompressedImage(format='png')
    _stamp[0] += 1
    good.header.stamp.sec = _stamp[0]
    good.data = cv2.imencode('.png', scene(3))[1].tobytes()
    probe.jpeg.publish(good)
    probe.wait_for(f'{OUT_JPEG}/mask', with_stamp(good))
    assert node.alive()


def test_outputs_without_subscribers_are_not_computed(graph):
    probe, node, _ = graph
    probe.wait_until(
        lambda: probe.quiet.get_subscription_count() > 0, 10, 'quiet camera subscription'
    )
    probe.quiet.publish(image_msg(scene(4), 'rgb8'))

    def skipped(m):
        values = {kv.key: kv.value for s in m.status for kv in s.values}
        return int(values.get('skipped_no_subscribers', 0)) >= 1

    diag = probe.wait_for('/diagnostics', skipped, timeout=10)
    values = {kv.key: kv.value for kv in diag.status[0].values}
    assert values['device'] == 'cpu' and values['model'] == 'ghostnet_aspp_da'
    assert {
        'input_rate_hz',
        'output_rate_hz',
        'latency_p50_ms',
        'latency_p99_ms',
        'stages_p50_p99_ms',
        'dropped_frames',
    } <= set(values)


def test_parameter_changes_take_effect(graph, weights):
    probe, node, segmenter = graph
    assert set_params(probe, overlay_alpha=0.0)[0].successful
    msg = image_msg(scene(5), 'rgb8')
    probe.raw.publish(msg)
    assert np.array_equal(
        as_array(outputs_for(probe, OUT_RAW, msg, ['overlay'])['overlay']), scene(5)
    )

    assert set_params(probe, outputs=['mask'])[0].successful
    msg = image_msg(scene(6), 'rgb8')
    probe.raw.publish(msg)
    outputs_for(probe, OUT_RAW, msg, ['mask'])
    time.sleep(0.5)
    with probe.cond:
        assert not any(with_stamp(msg)(m) for m in probe.messages[f'{OUT_RAW}/color_mask'])
    assert set_params(probe, outputs=list(OUTPUT_NAMES), overlay_alpha=0.5)[0].successful

    # model switch without restart: a 3-class weights file; the legend is republished and masks
    # follow
    assert set_params(probe, weights=str(weights[1]))[0].successful
    legend = probe.wait_for(
        f'{OUT_RAW}/class_legend', lambda m: len(json.loads(m.data)['classes']) == 3
    )
    assert [c['name'] for c in json.loads(legend.data)['classes']] == ['x', 'y', 'z']
    msg = image_msg(scene(8), 'rgb8')
    probe.raw.publish(msg)
    mask = as_array(outputs_for(probe, OUT_RAW, msg, ['mask'])['mask'])
    assert np.array_equal(mask, Segmenter(weights[1], device='cpu').segment(scene(8)).mask)
    assert set_params(probe, weights=str(weights[0]))[0].successful
    probe.wait_for(f'{OUT_RAW}/class_legend', lambda m: len(json.loads(m.data)['classes']) == 11)


@pytest.mark.parametrize(
    'name, value, words',
    [
        ('overlay_alpha', 1.5, 'alpha'),
        ('outputs', ['mask', 'heatmap'], "unknown outputs ['heatmap']"),
        ('model', 'segformer_b9', 'accepted models: deeplabv3plus_mobilenetv2, ghostnet_aspp_da'),
        ('weights', '/nonexistent/w.safetensors', 'not found'),
        ('resize', 'crop', 'stretch, letterbox'),
        ('image_topics', ['/other'], 'read-only'),
        ('warmup_image_size', [0, 480], 'warmup_image_size must be [height, width]'),
    ],
)
def test_invalid_parameters_are_refused_with_a_reason(graph, name, value, words):
    probe, node, _ = graph
    result = set_params(probe, **{name: value})[0]
    assert not result.successful and (
        words in result.reason or words.lower() in result.reason.lower()
    ), result.reason
    msg = image_msg(scene(9), 'rgb8')
    probe.raw.publish(msg)
    outputs_for(probe, OUT_RAW, msg, ['mask'])  # still serving with the old settings


@pytest.mark.parametrize(
    'param, words',
    [
        (
            'model:=segformer_b9',
            ["unknown model 'segformer_b9'", 'ghostnet_aspp_da', 'mlff_mobilenetv2'],
        ),
        (
            'weights:=/nonexistent/w.safetensors',
            ['weights file not found: /nonexistent/w.safetensors'],
        ),
    ],
)
def test_bad_model_or_weights_fail_clearly(param, words):
    node = NodeProcess(
        'lightseg_ros.ros.segment_node', ['-p', param, '-r', f'__node:=bad_{uuid.uuid4().hex[:6]}']
    )
    assert node.proc.wait(timeout=60) != 0
    node._reader.join(timeout=5)
    assert all(w in node.output for w in words), node.output


def test_the_first_frame_of_a_size_is_reported_apart_from_the_latency_window(graph):
    """It builds the size's CUDA graph (seconds on a GPU): not a sample of the steady state."""
    probe, node, _ = graph

    def counts(m):
        values = {kv.key: kv.value for s in m.status for kv in s.values}
        return {k: values[k] for k in ('frames_out', 'latency_samples', 'first_frames')}

    def settled(before):  # the next diagnostics after the node answered what was sent
        return lambda m: int(counts(m)['frames_out']) >= int(before['frames_out']) + 3

    time.sleep(1.2)  # the earlier tests' frames answered, and a diagnostics period since
    with probe.cond:
        before = counts(probe.messages['/diagnostics'][-1])  # the newest
    big = cv2.resize(scene(7), (W + 16, H + 8))  # a size no other test of the module sends
    for _ in range(3):
        msg = image_msg(big, 'rgb8')
        probe.raw.publish(msg)
        probe.wait_for(f'{OUT_RAW}/mask', with_stamp(msg), timeout=20)
    diag = probe.wait_for('/diagnostics', settled(before), timeout=10)
    after = counts(diag)
    assert int(after['frames_out']) - int(before['frames_out']) == 3
    assert int(after['first_frames']) - int(before['first_frames']) == 1
    assert int(after['latency_samples']) - int(before['latency_samples']) == 2
    values = {kv.key: kv.value for kv in diag.status[0].values}
    assert float(values['first_frame_ms']) > 0
    # the steady-state frames' time by stage, in order; together about the frame's latency
    stages = dict(part.split(' ') for part in values['stages_p50_p99_ms'].split(', '))
    assert list(stages) == ['wait', 'read', 'segment', 'publish']
    p50 = {name: float(v.split('/')[0]) for name, v in stages.items()}
    assert all(v >= 0 for v in p50.values()) and p50['segment'] > 0
    assert sum(p50.values()) <= float(values['latency_p99_ms']) * 1.5 + 1


def test_the_node_warms_up_for_its_cameras_size_when_it_loads_a_model(graph):
    probe, node, _ = graph
    assert f'warmed up for {H}x{W} frames in ' in node.output, node.output


def test_the_console_script_shortens_the_interpreters_switch_interval():
    """The worker takes the interpreter back within 0.5 ms, not Python's 5 ms (the node's p99)."""
    import sys

    from lightseg_ros.ros import segment_node

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        code = segment_node.main(['--ros-args', '-p', 'model:=no_such_model'])
        assert code == 2  # it stops at the unknown model, after setting the interval
        assert sys.getswitchinterval() == pytest.approx(segment_node.SWITCH_INTERVAL_S)
        assert segment_node.SWITCH_INTERVAL_S < 0.005
    finally:
        sys.setswitchinterval(before)


def test_without_post_set_callbacks_a_change_is_applied_once_written(weights, monkeypatch):
    """
    Before Iron (Humble) rclpy has only the on-set callback: changes apply from a timer.

    Humble's rclpy cannot be installed here; this runs the node's fallback on this rclpy, with
    the pre- and post-set callbacks left unused, through real set_parameters calls.
    """
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from lightseg_ros.ros import segment_node

    monkeypatch.setattr(segment_node, '_SET_PHASES', False)
    context = rclpy.Context()
    rclpy.init(context=context, args=['--ros-args', '-p', f'weights:={weights[0]}'])
    node = segment_node.SegmentNode(f'humble_{uuid.uuid4().hex[:6]}', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        # nothing registered where Humble has no registry (rclpy's own lists, read as a check)
        assert not node._pre_set_parameters_callbacks and not node._post_set_parameters_callbacks
        result = node.set_parameters([Parameter('overlay_alpha', value=0.25)])[0]
        assert result.successful
        deadline = time.monotonic() + 10
        while node._alpha != 0.25 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert node._alpha == 0.25
        # a model switch: the 3-class file is loaded by the worker once the value is written
        assert node.set_parameters([Parameter('weights', value=str(weights[1]))])[0].successful
        deadline = time.monotonic() + 60
        while len(node.segmenter.class_names) != 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.segmenter.class_names == ['x', 'y', 'z']
        # a refused value is refused by the on-set callback alone, and nothing is applied
        assert not node.set_parameters([Parameter('overlay_alpha', value=2.0)])[0].successful
        time.sleep(0.1)
        assert node._alpha == 0.25
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
