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
The node's pure helpers.

Topic names, the latest-frame mailbox, statistics, parameter validation.
"""

import os
import threading

from lightseg_ros.ros.frame_mailbox import LatestFrameMailbox
from lightseg_ros.ros.node_config import cpu_threads_for, ModelConfig, PARAMETERS, validate_change
from lightseg_ros.ros.node_stats import LatencyWindow, RateMeter, WarningThrottle
from lightseg_ros.ros.topics import camera_namespace, is_compressed_topic, output_namespaces
import pytest


def test_topic_names():
    assert camera_namespace('/cam/image_raw') == '/cam'
    assert camera_namespace('/cam/image_raw/compressed') == '/cam'
    assert output_namespaces(['/cam/image_raw', '/down/color/image']) == [
        '/cam/segmentation',
        '/down/color/segmentation',
    ]
    assert output_namespaces(['/cam/left', '/cam/right']) == [
        '/cam/left/segmentation',
        '/cam/right/segmentation',
    ]
    assert output_namespaces(['image']) == ['segmentation'] and output_namespaces(['/image']) == [
        '/segmentation'
    ]
    # a camera moved to its own name meets another camera's namespace: that one moves too
    assert output_namespaces(['/a/image', '/a/b/image', '/a/b']) == [
        '/a/image/segmentation',
        '/a/b/image/segmentation',
        '/a/b/segmentation',
    ]
    # one camera in two transports would publish both streams on one set of outputs
    with pytest.raises(ValueError, match=r'^image_topics lists one camera twice: /c/image_raw '):
        output_namespaces(['/c/image_raw', '/c/image_raw/compressed'])
    assert is_compressed_topic('/cam/image_raw/compressed') and not is_compressed_topic(
        '/cam/image_raw'
    )
    assert is_compressed_topic('/cam/jpeg', 'compressed') and not is_compressed_topic(
        '/x/compressed', 'raw'
    )
    with pytest.raises(ValueError):
        output_namespaces(['/a', '/a'])
    with pytest.raises(ValueError, match='transport'):
        is_compressed_topic('/a', 'theora')


def test_mailbox_keeps_only_the_newest_frame_per_camera():
    box = LatestFrameMailbox()
    assert not box.put('a', 1) and box.put('a', 2) and not box.put('b', 3)
    assert box.dropped == 1 and len(box) == 2
    assert box.take(0) == ('a', 2) and box.take(0) == ('b', 3) and box.take(0.01) is None


def test_mailbox_is_idle_only_when_no_frame_waits_or_is_in_hand():
    box = LatestFrameMailbox()
    assert box.idle()
    box.put('a', 1)
    assert not box.idle()
    assert box.take(0) == ('a', 1)
    assert not box.idle()  # taken, not yet handled: the frame is in neither place
    box.done()
    assert box.idle()


def test_mailbox_wakes_a_waiting_worker():
    box, got = LatestFrameMailbox(), []
    t = threading.Thread(target=lambda: got.append(box.take(5)))
    t.start()
    box.put('cam', 'frame')
    t.join(2)
    assert got == [('cam', 'frame')]
    box.close()
    assert box.take(5) is None


def test_stats_and_throttle():
    meter = RateMeter(window=2.0, start=-0.5)  # on this test's clock, a whole window old at 1.5
    for t in (0.0, 0.5, 1.0, 1.5):
        meter.tick(t)
    assert meter.rate(1.5) == 2.0 and meter.rate(10.0) == 0.0 and meter.total == 4
    window = LatencyWindow()
    for ms in range(1, 101):
        window.add(ms / 1e3)
    p50, p99 = window.percentiles_ms(50, 99)
    assert 50 <= p50 <= 51 and 99 <= p99 <= 100
    throttle = WarningThrottle(5.0)
    assert throttle.allow('bad_step', 0.0) == (True, 0)
    assert throttle.allow('bad_step', 1.0) == (False, 0)
    assert throttle.allow('truncated_data', 1.0) == (True, 0)  # each kind on its own
    assert throttle.allow('bad_step', 6.0) == (True, 1)


def test_parameter_validation():
    assert all(validate_change(p.name, p.default) is None for p in PARAMETERS)
    assert 'accepted models' in validate_change('model', 'yolo')
    assert 'not found' in validate_change('weights', '/no/such.safetensors')
    assert 'unknown outputs' in validate_change('outputs', ['mask', 'depth'])
    assert 'outputs must list at least one of' in validate_change('outputs', [])
    assert '[0.0, 1.0]' in validate_change('overlay_alpha', -0.1)
    assert 'input_size' in validate_change('input_size', [0, 64])
    assert validate_change('input_size', [360, 480]) is None
    assert 'warmup_image_size must be' in validate_change('warmup_image_size', [480])
    assert 'warmup_image_size must be' in validate_change('warmup_image_size', [480, 10**6])
    assert validate_change('warmup_image_size', [480, 640]) is None
    assert 'accepted' in validate_change('device', 'tpu')
    assert 'stretch, letterbox' in validate_change('resize', 'crop')
    assert validate_change('use_sim_time', True) is None
    # published under the camera namespace: a relative name (an absolute or empty one made
    # rclpy's InvalidTopicNameException traceback at start)
    for bad in ('', '/abs/ns', 'a//b', 'bad name!', '9seg', 'seg/'):
        assert 'output_namespace must be a relative name' in validate_change(
            'output_namespace', bad
        ), bad
    for good in ('segmentation', 'seg/v2', '_x'):
        assert validate_change('output_namespace', good) is None
    assert cpu_threads_for(3) == 3 and 1 <= cpu_threads_for(0) <= max(1, os.cpu_count() // 2)
    config = ModelConfig.from_values({p.name: p.default for p in PARAMETERS})
    assert (
        config.input_size is None and config.model == 'ghostnet_aspp_da' and config.weights == ''
    )
    assert config.warmup_image_size is None
    values = {p.name: p.default for p in PARAMETERS} | {'warmup_image_size': [480, 640]}
    assert ModelConfig.from_values(values).warmup_image_size == (480, 640)


def test_weights_without_metadata_are_refused(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / 'bare.safetensors'
    save_file({'x': np.zeros(1, np.float32)}, str(path))
    assert 'metadata' in validate_change('weights', str(path))
    (tmp_path / 'junk.safetensors').write_bytes(b'junk')
    assert 'not a readable' in validate_change('weights', str(tmp_path / 'junk.safetensors'))


def test_send_until_answered_keeps_every_stamp_sent_a_candidate():
    """A node slower than the resend period answers an older frame first: that one counts."""
    from lightseg_ros.ros.node_session import send_until_answered

    cond, answers, sent = threading.Condition(), set(), []

    def publish() -> int:
        sent.append(len(sent) + 1)
        return sent[-1]

    def answer_first_frame() -> None:
        with cond:
            answers.add(1)
            cond.notify_all()

    timer = threading.Timer(0.35, answer_first_frame)  # the first frame, after three resends
    timer.start()
    assert send_until_answered(publish, answers.__contains__, cond, 10.0, every_s=0.1)
    timer.join()
    assert len(sent) >= 3 and answers == {1}
    # nothing answered: False once the time is up
    assert not send_until_answered(publish, lambda s: False, cond, 0.3, every_s=0.1)
