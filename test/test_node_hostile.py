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
Hostile and oversized input never takes the node down: a real node process over DDS.

Every image case of the catalogue (``hostile_inputs``) is published, followed by a good frame that
must be served; crafted weights files are refused at start (exit code 2, one line naming the file)
and at run time (set_parameters answered with the reason, previous model kept, /diagnostics WARN);
/diagnostics reports bad frames, one-class masks and memory above the budget.
"""

from __future__ import annotations

from contextlib import contextmanager
import sys
import threading
import time
import uuid

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from hostile_inputs import craft, IMAGE_CASES, LIMIT, META_CASES, RGB, small_weights
from lightseg_ros.inference import Segmenter
from lightseg_ros.inference.image_codec import encode_image
import numpy as np
import pytest
from rcl_interfaces.srv import GetParameters, SetParameters
from ros_harness import call, fresh_domain, NodeProcess, Probe, set_params
from sensor_msgs.msg import CompressedImage, Image
import torch

NS = f'/h{uuid.uuid4().hex[:8]}'
RAW, PACKED = f'{NS}/cam/image', f'{NS}/front/image/compressed'
OUT_RAW, OUT_PACKED = f'{NS}/cam/segmentation', f'{NS}/front/segmentation'
NODE = f'hostile_{uuid.uuid4().hex[:6]}'
CAP = 20_000  # max_inference_pixels of the node under test
pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp('hostile_weights')
    good = small_weights(folder / 'good.safetensors')
    # the large-frame work's measured cases
    crafted = {
        case.name: craft(good, folder / f'crafted_{i}.safetensors', case.text)
        for i, case in enumerate(META_CASES[:5])
    }
    return good, crafted


@pytest.mark.parametrize('case', META_CASES[:5], ids=[c.name for c in META_CASES[:5]])
def test_crafted_weights_at_start_exit_2_with_one_line(weights, case, capfd):
    """
    Run segment_node's main() in this process.

    A process per case would cost a torch import each.
    """
    from lightseg_ros.ros.segment_node import main

    path = weights[1][case.name]
    assert (
        main(
            [
                '--ros-args',
                '-p',
                f'weights:={path}',
                '-r',
                f'__node:=crafted_{uuid.uuid4().hex[:6]}',
            ]
        )
        == 2
    )
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if 'cannot start' in line]
    assert len(errors) == 1 and str(path) in errors[0] and case.words in errors[0], err
    assert 'Traceback' not in err


def test_one_camera_in_two_transports_is_refused_before_the_model_loads(capfd, monkeypatch):
    """The image_topics refusal comes first: loading a model (25 s compiled) is not needed."""
    from lightseg_ros.ros import segment_node

    def load(config):
        raise MemoryError('the model was loaded')

    monkeypatch.setattr(segment_node, 'load_segmenter', load)
    argv = ['--ros-args', '-p', 'image_topics:=[/c/image_raw, /c/image_raw/compressed]']
    argv += ['-p', 'weights:=random', '-r', f'__node:=twice_{uuid.uuid4().hex[:6]}']
    try:
        code = segment_node.main(argv)
    except MemoryError:
        code = None
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if 'cannot start' in line]
    assert code == 2 and len(errors) == 1, err
    assert 'parameter image_topics: image_topics lists one camera' in errors[0]
    assert 'was loaded' not in err and 'Traceback' not in err


def test_crafted_weights_end_a_node_process_with_exit_code_2(weights):
    path = weights[1][META_CASES[0].name]
    proc = NodeProcess(
        'lightseg_ros.ros.segment_node',
        ['-p', f'weights:={path}', '-r', f'__node:=crafted_{uuid.uuid4().hex[:6]}'],
    )
    assert proc.proc.wait(timeout=120) == 2
    proc._reader.join(timeout=5)
    assert (
        f"cannot start: parameter weights: {path}: invalid 'lightseg' metadata: metadata must be "
        'a JSON object'
        in proc.output
        and 'Traceback' not in proc.output
    ), proc.output


def test_a_backend_that_is_not_installed_ends_the_start_with_one_line(
    weights, monkeypatch, capfd
):
    """backend:=onnxruntime where the onnxruntime extra is not installed: exit code 2, one line."""
    from lightseg_ros.ros.segment_node import main

    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # 'import onnxruntime' fails, as there
    argv = ['--ros-args', '-p', 'backend:=onnxruntime', '-p', 'device:=cpu']
    argv += ['-p', f'weights:={weights[0]}', '-r', f'__node:=no_ort_{uuid.uuid4().hex[:6]}']
    assert main(argv) == 2
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if 'cannot start' in line]
    assert len(errors) == 1 and (
        "backend 'onnxruntime' needs the onnxruntime and onnx packages; onnxruntime cannot"
        in errors[0]
    )
    assert 'Traceback' not in err


@contextmanager
def in_process_node(name, topic, weights_path, namespace=''):
    """
    Run a SegmentNode in this process, spun by its own thread, with a probe on a fresh domain.

    Yields (node, probe); the node reads ``topic`` and publishes its masks only, /diagnostics
    every 0.3 s.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from lightseg_ros.ros.segment_node import SegmentNode

    domain = fresh_domain()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = SegmentNode(
        name,
        namespace=namespace,
        context=context,
        parameter_overrides=[
            Parameter('weights', value=str(weights_path)),
            Parameter('device', value='cpu'),
            Parameter('backend', value='torch'),
            Parameter('image_topics', value=[topic]),
            Parameter('outputs', value=['mask']),
            Parameter('diagnostics_period', value=0.3),
        ],
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    probe = Probe(f'{name}_probe', domain_id=domain)
    try:
        yield node, probe
    finally:
        probe.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=10)


def test_a_model_switch_that_raises_keeps_the_worker_serving_the_previous_model(
    weights, monkeypatch
):
    """
    A run-time switch to a backend that is not installed fails; the node serves on (over DDS).

    The switch runs in the worker thread, which such an error (a RuntimeError, like CUDA's out of
    memory) used to end: frames then piled up unanswered while /diagnostics said OK.
    """
    from rclpy.parameter import Parameter

    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    topic = f'{NS}/switch/image'
    with in_process_node(f'switch_{uuid.uuid4().hex[:6]}', topic, weights[0]) as (node, probe):
        probe.subscribe(Image, f'{NS}/switch/segmentation/mask')
        probe.subscribe(DiagnosticArray, '/diagnostics')
        camera = probe.publisher(Image, topic)

        def send() -> int:
            msg = message('raw', encode_image(RGB, 'rgb8'))
            camera.publish(msg)
            return msg.header.stamp.sec

        probe.send_until_answered(send, f'{NS}/switch/segmentation/mask')
        assert node.set_parameters([Parameter('backend', value='onnxruntime')])[0].successful
        diagnostics(
            probe,
            lambda level, text, v: level == 2
            and 'needs the onnxruntime and onnx packages' in text,
            timeout=60,
        )
        stamp = send()  # answered by the model it had
        probe.wait_for(f'{NS}/switch/segmentation/mask', lambda m: m.header.stamp.sec == stamp)
        assert node.segmenter.backend.description.startswith('torch')
        # the parameter names the backend that runs again, not the one that failed
        probe.wait_until(lambda: node.get_parameter('backend').value == 'torch', 10, 'set back')
        # a warm-up frame above max_input_pixels fails the same way (only the load can tell)
        assert node.set_parameters([Parameter('warmup_image_size', value=[4000, 30000])])[
            0
        ].successful
        probe.wait_until(
            lambda: list(node.get_parameter('warmup_image_size').value) == [0, 0], 60, 'set back'
        )
        assert node.segmenter.warmed_up is None
        stamp = send()
        probe.wait_for(f'{NS}/switch/segmentation/mask', lambda m: m.header.stamp.sec == stamp)
        # the same weights file again is read again (a file retrained in place)
        before = node.segmenter
        assert node.set_parameters([Parameter('weights', value=str(weights[0]))])[0].successful
        probe.wait_until(lambda: node.segmenter is not before, 60, 'the file read again')
        # an empty list, as rclpy and `ros2 param set` send it (no element type), is judged by
        # the node's own check
        result = node.set_parameters([Parameter('outputs', value=[])])[0]
        assert not result.successful and 'outputs must list at least one of' in result.reason


def test_a_stuck_frame_is_reported_under_the_nodes_full_name(weights, monkeypatch):
    """
    A frame that never finishes (a hung device) turns /diagnostics WARN, under the full name.

    Two nodes of one name in two namespaces reported one status name, so a monitor showed one row
    that flipped between them; and a worker stuck on a frame left the node OK as frames piled up.
    """
    from lightseg_ros.ros import node_health

    monkeypatch.setattr(node_health, 'STALL_WARN_S', 1.0)
    topic, name = f'{NS}/stuck/image', f'stuck_{uuid.uuid4().hex[:6]}'
    release = threading.Event()
    with in_process_node(name, topic, weights[0], namespace='/robot7') as (node, probe):
        segment = node.segmenter.segment

        def stuck(*args, **kwargs):
            release.wait(60)
            return segment(*args, **kwargs)

        node.segmenter.segment = stuck
        try:  # released before the node is destroyed, whatever an assertion does
            probe.subscribe(Image, f'{NS}/stuck/segmentation/mask')
            probe.subscribe(DiagnosticArray, '/diagnostics')
            camera = probe.publisher(Image, topic)
            probe.wait_until(
                lambda: camera.get_subscription_count() > 0, 30, 'the node to subscribe'
            )

            def stuck_report(level, text, values):
                camera.publish(message('raw', encode_image(RGB, 'rgb8')))  # frames keep coming
                return level == 1 and 'no frame processed for' in text

            found = diagnostics(probe, stuck_report, timeout=30)
            assert found.status[0].name == f'robot7/{name}: segmentation'
            release.set()
            diagnostics(probe, lambda level, text, values: 'no frame processed' not in text, 30)
        finally:
            release.set()


@pytest.fixture(scope='module')
def graph(weights):
    # a fresh node/probe pair on a fresh domain if discovery stalls (ros_harness)
    for attempt in range(3):
        domain = fresh_domain()
        node = NodeProcess(
            'lightseg_ros.ros.segment_node',
            [
                '-r',
                f'__node:={NODE}',
                '-p',
                f'image_topics:=[{RAW}, {PACKED}]',
                '-p',
                f'weights:={weights[0]}',
                '-p',
                'diagnostics_period:=0.3',
                '-p',
                f'max_input_pixels:={LIMIT}',
                '-p',
                f'max_inference_pixels:={CAP}',
                '-p',
                'outputs:=[mask]',
            ],
            extra_env={'ROS_DOMAIN_ID': str(domain)},
        )
        probe = Probe(f'probe_{uuid.uuid4().hex[:6]}', domain_id=domain)
        for out in (OUT_RAW, OUT_PACKED):
            probe.subscribe(Image, f'{out}/mask')
        probe.subscribe(DiagnosticArray, '/diagnostics')
        probe.raw, probe.packed = (
            probe.publisher(Image, RAW),
            probe.publisher(CompressedImage, PACKED),
        )
        probe.params = probe.node.create_client(SetParameters, f'/{NODE}/set_parameters')
        probe.get_params = probe.node.create_client(GetParameters, f'/{NODE}/get_parameters')
        try:
            probe.wait_until(
                lambda: (
                    probe.raw.get_subscription_count() > 0
                    and probe.packed.get_subscription_count() > 0
                    and probe.node.count_publishers(f'{OUT_PACKED}/mask') > 0
                ),
                45,
                lambda: f'the node to come up; its output:\n{node.output}',
            )
            break
        except AssertionError:
            probe.close()
            node.stop()
            if attempt == 2:
                raise
    try:
        # a frame on each topic answered: the node's mask publishers have matched the probe
        png = cv2.imencode('.png', RGB[..., ::-1])[1].tobytes()
        for transport, out, fields in (
            ('raw', OUT_RAW, encode_image(RGB, 'rgb8')),
            ('compressed', OUT_PACKED, {'format': 'png', 'data': png}),
        ):

            def send(transport=transport, fields=fields) -> int:
                msg = message(transport, fields)
                (probe.raw if transport == 'raw' else probe.packed).publish(msg)
                return msg.header.stamp.sec

            probe.send_until_answered(send, f'{out}/mask')
        yield probe, node
    finally:
        probe.close()
        node.stop()


_stamp = [5000]


def as_array(msg: Image) -> np.ndarray:
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width)


def message(transport: str, fields: dict | bytes):
    if isinstance(fields, bytes):  # published as the serialized message it is
        return fields
    msg = Image() if transport == 'raw' else CompressedImage()
    _stamp[0] += 1
    msg.header.stamp.sec = _stamp[0]
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


def diagnostics(probe, predicate, timeout=10.0):
    def check(m):
        status = m.status[0]
        values = {kv.key: kv.value for kv in status.values}
        return predicate(
            status.level[0] if isinstance(status.level, bytes) else status.level,
            status.message,
            values,
        )

    try:
        return probe.wait_for('/diagnostics', check, timeout)
    except AssertionError as exc:  # say what the node did report
        found = probe.messages['/diagnostics']
        last = found[-1].status[0] if found else None
        raise AssertionError(f'{exc}; the last: {last.message if last else None!r}') from None


def serve_good_frame(probe, rgb=RGB):
    good = message('raw', encode_image(rgb, 'rgb8'))
    probe.raw.publish(good)
    return probe.wait_for(f'{OUT_RAW}/mask', lambda m: m.header.stamp.sec == good.header.stamp.sec)


def test_every_hostile_image_is_dropped_or_segmented_and_the_next_frame_served(graph):
    probe, node = graph
    bad = 0
    for case in IMAGE_CASES:
        msg = message(case.transport, case.build())
        (probe.raw if case.transport == 'raw' else probe.packed).publish(msg)
        out = OUT_RAW if case.transport == 'raw' else OUT_PACKED
        if case.expect == 'segmented':
            mask = probe.wait_for(
                f'{out}/mask', lambda m: m.header.stamp.sec == msg.header.stamp.sec
            )
            assert (mask.height, mask.width) == (64, 80), case.name
        else:
            bad += 1
            # /diagnostics says so: the count, WARN, and the reason
            diagnostics(
                probe,
                lambda level, text, v: (
                    int(v['bad_frames']) == bad and level == 1 and case.words in text
                ),
                timeout=15,
            )
        time.sleep(0.05)
        serve_good_frame(probe)
        assert node.alive(), node.output
    for kind in {c.expect for c in IMAGE_CASES} - {
        'segmented'
    }:  # each kind's first warning is logged
        case = next(c for c in IMAGE_CASES if c.expect == kind)
        assert case.words in node.output, case.name


def test_frames_above_the_inference_cap_are_downscaled(graph, weights):
    probe, node = graph
    # 240x192: above the cap
    rgb = np.ascontiguousarray(np.repeat(np.repeat(RGB, 3, axis=0), 3, axis=1))
    mask = as_array(serve_good_frame(probe, rgb))
    expected = Segmenter(weights[0], device='cpu', max_inference_pixels=CAP).segment(rgb).mask
    assert mask.shape == (192, 240) and (mask == expected).mean() >= 0.999


@pytest.mark.parametrize('case', META_CASES[:5], ids=[c.name for c in META_CASES[:5]])
def test_crafted_weights_at_run_time_are_refused_and_the_model_kept(graph, weights, case):
    probe, node = graph
    path = weights[1][case.name]
    result = set_params(probe, weights=str(path))[0]
    assert not result.successful and str(path) in result.reason and case.words in result.reason, (
        result.reason
    )
    serve_good_frame(probe)  # the previous model still serves
    diagnostics(
        probe,
        lambda level, text, v: (
            level == 1 and f"refused weights='{path}'" in text and case.words in text
        ),
    )
    assert node.alive()


def _nan_weights(good, path):
    from lightseg_ros.models import save_weights
    from lightseg_ros.models.weights import load_model

    net, meta = load_model(good)
    with torch.no_grad():
        net.classifier.bias[0] = float('nan')
    return save_weights(path, net, meta)


def _wrong_shape_weights(good, path):
    from lightseg_ros.models import build_model, save_weights, WeightsMeta

    return save_weights(  # the metadata says 3 classes, the tensors are a 5-class model's
        path,
        build_model('ghostnet_aspp_da', num_classes=5),
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c']),
    )


@pytest.mark.parametrize(
    'make, words',
    [
        (_wrong_shape_weights, 'tensor classifier.weight is [5, 48, 1, 1]'),
        (_nan_weights, 'tensor classifier.bias holds NaN or infinite values'),
    ],
    ids=['tensor shapes of another model', 'NaN in a tensor'],
)
def test_weights_failing_past_their_metadata_set_the_parameter_back(
    graph, weights, tmp_path, make, words
):
    """
    Tensors are read by the worker, after set_parameters has accepted the file's metadata.

    The switch fails there, the previous model serves on, and the weights parameter names the
    model that runs again (it used to keep the bad file, which a restart would then load).
    """
    from rcl_interfaces.msg import ParameterType

    probe, node = graph
    path = make(weights[0], tmp_path / 'bad.safetensors')
    assert set_params(probe, weights=str(path))[0].successful  # the metadata is fine
    diagnostics(
        probe,
        lambda level, text, v: level == 2 and 'model switch failed' in text and words in text,
        timeout=60,
    )

    def weights_parameter() -> str:
        reply = call(probe, probe.get_params, GetParameters.Request(names=['weights']))
        assert reply.values[0].type == ParameterType.PARAMETER_STRING
        return reply.values[0].string_value

    probe.wait_until(lambda: weights_parameter() == str(weights[0]), 30, 'weights set back')
    serve_good_frame(probe)
    assert f'model switch failed, keeping ghostnet_aspp_da: {path}' in node.output
    assert '(weights set back to the running model' in node.output
    assert node.alive()


def test_one_class_everywhere_and_memory_budget_reach_diagnostics(graph, weights, tmp_path):
    from lightseg_ros.models import build_model, save_weights, WeightsMeta
    import torch

    probe, node = graph
    net = build_model('ghostnet_aspp_da', num_classes=3)
    with torch.no_grad():
        net.classifier.weight.zero_()
        net.classifier.bias.copy_(torch.tensor([0.0, 0.0, 50.0]))
    broken = save_weights(
        tmp_path / 'one_class.safetensors',
        net,
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'road']),
    )
    assert set_params(probe, weights=str(broken))[0].successful
    probe.wait_until(
        lambda: 'weights ' + str(broken) in node.output, 60, 'the switch to the one-class model'
    )
    for _ in range(5):
        assert (as_array(serve_good_frame(probe)) == 2).all()
    diagnostics(
        probe,
        lambda level, text, v: (
            level == 1 and 'masks hold one class on every pixel (road from ' in text
        ),
    )
    assert set_params(probe, weights=str(weights[0]))[0].successful
    probe.wait_until(
        lambda: 'weights ' + str(weights[0]) in node.output.split(str(broken))[-1],
        60,
        'the switch back',
    )

    assert set_params(probe, memory_budget_mb=1)[0].successful
    diagnostics(
        probe,
        lambda level, text, v: (
            level == 2 and 'above the budget 1 MB' in text and float(v['resident_memory_mb']) > 1
        ),
    )
    assert set_params(probe, memory_budget_mb=0)[0].successful
    # a frame on each camera topic: a topic whose publisher sent nothing for no_input_warning_s
    # (5 s; this test's steps can take longer on a loaded machine) is reported silent, a WARN
    serve_good_frame(probe)
    png = cv2.imencode('.png', RGB[..., ::-1])[1].tobytes()
    packed = message('compressed', {'format': 'png', 'data': png})
    probe.packed.publish(packed)
    probe.wait_for(f'{OUT_PACKED}/mask', lambda m: m.header.stamp.sec == packed.header.stamp.sec)
    diagnostics(probe, lambda level, text, v: level == 0 and text == 'ok')


def test_a_switch_failing_after_a_cleanup_does_not_mark_the_next_configuration(monkeypatch):
    """
    A worker still loading when cleanup stopped waiting for it fails later: that is not news.

    Its failure used to set the node's model error, so the configuration made since reported
    "model switch failed" in /diagnostics until its next load.
    """
    import rclpy
    from rclpy.parameter import Parameter
    import lightseg_ros.ros.segment_node as segment_node
    from lightseg_ros.ros.segment_lifecycle_node import SegmentLifecycleNode

    real_load = segment_node.load_segmenter
    started, release = threading.Event(), threading.Event()

    def slow_failing_load(config):
        if config.num_classes == 5:
            started.set()
            release.wait(30)  # fails once the next configuration is up
            raise ValueError('a load that fails late')
        return real_load(config)

    monkeypatch.setattr(segment_node, 'load_segmenter', slow_failing_load)
    monkeypatch.setattr(segment_node.SegmentNode, 'WORKER_STOP_WAIT_S', 0.1)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=fresh_domain())
    node = SegmentLifecycleNode(
        f'late_{uuid.uuid4().hex[:6]}',
        context=context,
        parameter_overrides=[
            Parameter('weights', value='random'),
            Parameter('device', value='cpu'),
            Parameter('backend', value='torch'),
            Parameter('image_topics', value=[f'{NS}/late/image']),
            Parameter('cpu_threads', value=1),
        ],
    )
    try:
        node.trigger_configure()
        node.trigger_activate()
        assert node.set_parameters([Parameter('num_classes', value=5)])[0].successful
        assert started.wait(30)  # the old worker is inside its slow load
        node.trigger_deactivate()
        node.trigger_cleanup()  # waits 0.1 s, then goes on without that worker
        assert node.set_parameters([Parameter('num_classes', value=4)])[0].successful
        node.trigger_configure()
        assert len(node.segmenter.class_names) == 4
        workers = [t for t in threading.enumerate() if t.name == 'segmentation_worker']
        assert len(workers) == 2  # the old one is still in its load
        release.set()
        for worker in workers:
            worker.join(0.1)
        deadline = time.monotonic() + 20
        while sum(t.is_alive() for t in workers) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(t.is_alive() for t in workers) == 1  # the old one has failed and ended
        assert not node._model_error, node._model_error
        assert len(node.segmenter.class_names) == 4
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
