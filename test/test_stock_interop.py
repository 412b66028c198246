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
segment_node among stock ROS 2 participants.

Processes with no DDS variable and the QoS users' tools use.

A camera driver publishing 640x480 rgb8 at 10 Hz with REP-2003's system-default QoS (reliable), or
with sensor-data QoS (best effort), in its own process (``stock_camera.py``); subscribers with
rclpy's default QoS (reliable depth 10: rviz2's image display, ``ros2 topic echo`` adapting to a
reliable publisher). The node runs with its defaults, except a small network input so that it keeps
up with 10 Hz on a 2-core machine (transport is what is tested; the frames on the wire are full
size).
"""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import time
import uuid

from diagnostic_msgs.msg import DiagnosticArray
from lightseg_ros.ros.dds import DDS_VARIABLES
from lightseg_ros.ros.node_session import NodeSession, ros_parameter_args
import pytest
from ros_harness import fresh_domain, start_node_and_probe
from sensor_msgs.msg import CameraInfo, Image

NS = f'/stock{uuid.uuid4().hex[:6]}'
CAMERA, OUT = f'{NS}/camera/image_raw', f'{NS}/camera/segmentation'
NODE = f'seg_{uuid.uuid4().hex[:6]}'
FRAMES = 30
STOCK_QOS = 10  # rclpy's default: reliable, keep last 10


def stock_env(domain: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DDS_VARIABLES}
    return {**env, 'ROS_DOMAIN_ID': str(domain)}


@pytest.fixture(scope='module')
def graph():
    def prepare(probe):
        for name in ('mask', 'overlay'):
            probe.subscribe(Image, f'{OUT}/{name}', qos=STOCK_QOS)
        probe.subscribe(CameraInfo, f'{OUT}/camera_info', qos=STOCK_QOS)
        probe.subscribe(DiagnosticArray, '/diagnostics', qos=STOCK_QOS)

    node, probe = start_node_and_probe(
        'lightseg_ros.ros.segment_node',
        [
            '-r',
            f'__node:={NODE}',
            *ros_parameter_args(
                {
                    'image_topics': [CAMERA],
                    'input_size': [120, 160],
                    'cpu_threads': 1,
                    'no_input_warning_s': 1.0,
                    'diagnostics_period': 0.5,
                    'output_depth': 5,
                }
            ),
        ],
        prepare=prepare,
        ready=lambda probe: (
            probe.node.count_subscribers(CAMERA) > 0
            and probe.node.count_publishers(f'{OUT}/mask') > 0
        ),
    )
    yield probe
    probe.close()
    node.stop()


def run_camera(probe, qos: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name('stock_camera.py')),
            CAMERA,
            '--qos',
            qos,
            '--count',
            str(FRAMES),
            '--rate',
            '10',
        ],
        env=stock_env(probe.domain),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and f'published {FRAMES}' in result.stdout, (
        result.stdout + result.stderr
    )
    return result


def stamps(probe, topic: str) -> set[int]:
    return {m.header.stamp.sec for m in probe.messages[topic] if 1 <= m.header.stamp.sec <= FRAMES}


def node_status(probe, what, timeout: float = 15.0):
    """
    Return the node's newest /diagnostics status satisfying ``what``.

    Waits up to ``timeout`` for one.
    """
    found = []

    def newest() -> bool:
        with probe.cond:
            statuses = [
                s
                for m in probe.messages['/diagnostics']
                for s in m.status
                if s.name.startswith(NODE)
            ]
        found[:] = [s for s in statuses if what(s)][-1:]
        return bool(found)

    probe.wait_until(
        newest, timeout, "a /diagnostics status of the node matching the test's condition"
    )
    return found[0]


def values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def frame_counts(probe, frames_in_at_least: int) -> dict[str, str]:
    """
    Return the node's counters once it is idle.

    That is once it has taken in ``frames_in_at_least`` frames and is idle.
    """
    node_status(probe, lambda s: int(values(s)['frames_in']) >= frames_in_at_least)
    time.sleep(1.0)  # the frame in flight
    return values(node_status(probe, lambda s: True))


def test_reliable_stock_camera_gets_every_frame_across(graph):
    probe = graph
    run_camera(probe, 'system_default')
    counts = frame_counts(probe, int(0.95 * FRAMES))
    masks = stamps(probe, f'{OUT}/mask')
    overlays = stamps(probe, f'{OUT}/overlay')
    # >= 95% of the frames reach the node (transport); each is answered, or replaced by a newer one
    # while the model was busy (newest frame only; how many depends on this machine's load, not on
    # DDS). The outputs are depth 1 as well: a subscriber that lags gets the newest, and always the
    # last frame's.
    assert int(counts['frames_in']) >= 0.95 * FRAMES, (counts, probe.session.tail())
    assert int(counts['frames_out']) + int(counts['dropped_frames']) >= int(counts['frames_in']), (
        counts
    )
    # every mask the node published reached the stock subscriber (how many it published depends
    # on this machine's speed; the last frame it always answers)
    assert FRAMES in masks and FRAMES in overlays, (sorted(masks), sorted(overlays))
    assert len(masks) >= 0.9 * int(counts['frames_out']), (sorted(masks), counts)
    mask = next(m for m in probe.messages[f'{OUT}/mask'] if m.header.stamp.sec == 1)
    assert (mask.width, mask.height, mask.encoding, mask.header.frame_id) == (
        640,
        480,
        'mono8',
        'stock_camera',
    )
    # camera_info passes through, stamped like the masks (projecting a mask into 3D needs both)
    infos = {m.header.stamp.sec: m for m in probe.messages[f'{OUT}/camera_info']}
    # the node passes camera_info on from the first one it has received: the node's reader of the
    # camera's camera_info topic is matched by discovery, which on a loaded machine can take a few
    # of the camera's frames (here up to 10 of 30); from then on every mask has its info
    assert infos and set(infos) <= masks and FRAMES in infos, (sorted(infos), sorted(masks))
    since_first = {s for s in masks if s >= min(infos)}
    assert len(infos) >= 0.9 * len(since_first), (sorted(infos), sorted(masks))
    assert infos[max(infos)].k[0] == 500.0 and infos[max(infos)].header.frame_id == 'stock_camera'
    status = node_status(probe, lambda s: 'Image reliable' in values(s).get('input_qos', ''))
    # a reliable writer drops a frame only when its own history (the system default's) fills before
    # the node acknowledges, which a loaded 2-core machine can cause; the node counts each such
    # frame, and each one counted is one that never arrived (within the 5% above)
    lost = int(values(status)['messages_lost'])
    assert lost <= FRAMES - int(values(status)['frames_in']) and lost <= 0.05 * FRAMES, values(
        status
    )


def test_best_effort_stock_camera_is_followed_and_losses_explained(graph):
    probe = graph
    frames_before = int(values(node_status(probe, lambda s: True))['frames_in'])
    # waits until the node's subscription matches it: best effort (the node follows the camera
    # within 0.1 s of the incompatible-QoS event; the camera logs that event once, as rclpy's and
    # rclcpp's publishers do)
    camera = run_camera(probe, 'sensor_data')
    assert camera.stderr.count('incompatible QoS') <= 1, camera.stderr
    time.sleep(1.5)
    status = node_status(probe, lambda s: 'Image best_effort' in values(s).get('input_qos', ''))
    arrived = int(values(status)['frames_in']) - frames_before
    if arrived < FRAMES:  # frames missing: the node says why, with the fix
        status = node_status(
            probe, lambda s: s.level == s.WARN and 'lost in transport' in s.message
        )
        assert 'reliable QoS' in status.message and 'shared-memory profile' in status.message, (
            status.message
        )
    # what arrived was served: answered, or replaced by a newer frame while the model was busy
    counts = frame_counts(probe, frames_before + arrived)
    assert int(counts['frames_out']) + int(counts['dropped_frames']) >= int(counts['frames_in']), (
        counts
    )


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_node_stops_cleanly_on_sigterm_and_sigint(sig):
    node = NodeSession(
        {'image_topics': ['/stop_test/image'], 'weights': 'random', 'cpu_threads': 1},
        node_name=f'stop_{uuid.uuid4().hex[:6]}',
        env={'ROS_DOMAIN_ID': str(fresh_domain())},
    )
    try:
        assert node.wait_until(lambda: 'segmentation/*' in node.output, 60, 'the node to be up')
        started = time.monotonic()
        node.proc.send_signal(sig)
        code = node.proc.wait(timeout=10)
        assert time.monotonic() - started < 5.0
        node._reader.join(timeout=2)
        assert code == 0 and 'stopping: frames in 0' in node.output, node.output
        assert 'latency no frame answered' in node.output, node.output  # not 'p50 nan ms'
        assert 'Traceback' not in node.output
        # the stop line is logged once the context is gone, to the console only: no stray
        # "Failed to publish log message to rosout" from a copy to /rosout
        assert 'rosout' not in node.output, node.output
    finally:
        node.stop()


def random_weights_node(name: str, topic: str, prepare, **parameters):
    """Start a node (random weights) on ``topic`` and a probe that ``prepare`` sets up."""
    return start_node_and_probe(
        'lightseg_ros.ros.segment_node',
        ['-r', f'__node:={name}_{uuid.uuid4().hex[:6]}']
        + ros_parameter_args(
            {'image_topics': [topic], 'weights': 'random', 'cpu_threads': 1, **parameters}
        ),
        prepare=prepare,
        ready=lambda probe: probe.node.count_subscribers(topic) > 0,
    )


def publish_latched_still(probe, topic: str, sec: int, frame_id: str) -> None:
    """Publish one 64x48 frame, reliable and transient local (latched), as a still camera does."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    latched = QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    probe.still = probe.node.create_publisher(Image, topic, latched)
    frame = Image(height=48, width=64, encoding='rgb8', step=64 * 3, data=bytes(64 * 48 * 3))
    frame.header.stamp.sec, frame.header.frame_id = sec, frame_id
    probe.still.publish(frame)


def test_a_latched_image_that_came_before_any_output_subscriber_is_segmented_when_one_comes():
    """
    The node skips frames nobody listens for; a latched one-shot image was skipped for good.

    It is held, and segmented once an output gains a subscriber (rviz opened after the still).
    """
    topic, out = f'{NS}/held/image_raw', f'{NS}/held/segmentation'

    def prepare(probe):
        publish_latched_still(probe, topic, 11, 'held')

    # the silence warning after 0.5 s, so that the wait below would see a wrong one
    node, probe = random_weights_node('held', topic, prepare, no_input_warning_s=0.5)
    try:
        time.sleep(3.0)  # the frame arrives while no output has a subscriber: skipped
        probe.subscribe(Image, f'{out}/mask', qos=STOCK_QOS)
        mask = probe.wait_for(f'{out}/mask', timeout=30)
        assert (mask.header.stamp.sec, mask.header.frame_id) == (11, 'held')
        assert 'subscribed Image reliable transient_local' in node.output, node.tail()
        # the latched publisher sent its image: no "none arrived, check DDS" warning follows
        assert 'no frame on' not in node.output, node.tail()
    finally:
        probe.close()
        node.stop()


def test_a_stop_signal_while_a_frame_is_in_the_network_is_no_failed_frame():
    """
    SIGINT while the worker segments a frame: a clean stop, no "frame failed" error.

    rclpy's signal handler shuts the context down before the node stops its worker, so that
    frame's publish fails ("publisher's context is invalid"); it was logged as a failed frame.
    """
    topic, out = f'{NS}/busy/image_raw', f'{NS}/busy/segmentation'

    def prepare(probe):
        probe.subscribe(Image, f'{out}/overlay', qos=STOCK_QOS)
        probe.camera = probe.publisher(Image, topic)

    node, probe = random_weights_node('busy', topic, prepare)
    try:
        frame = Image(height=480, width=640, encoding='rgb8', step=640 * 3)
        frame.header.frame_id = 'busy'
        frame.data = bytes(640 * 480 * 3)

        def feed_until(done, timeout: float) -> None:
            end = time.monotonic() + timeout
            while not done() and time.monotonic() < end:
                probe.camera.publish(frame)
                time.sleep(0.02)

        feed_until(lambda: len(probe.messages[f'{out}/overlay']) >= 3, 60)
        assert len(probe.messages[f'{out}/overlay']) >= 3, node.tail()
        # frames keep coming while the signal lands: the worker is busy with one
        feed_until(lambda: False, 0.3)
        node.proc.send_signal(signal.SIGINT)
        feed_until(lambda: node.proc.poll() is not None, 10)
        code = node.proc.wait(timeout=10)
        node._reader.join(timeout=2)
        assert code == 0 and 'stopping: frames in' in node.output, node.output[-3000:]
        assert 'failed' not in node.output and 'Traceback' not in node.output, node.output[-3000:]
    finally:
        probe.close()
        node.stop()


def test_an_image_latched_before_the_node_started_is_segmented():
    """A publisher that sends one image, transient local, before the node subscribes."""
    topic, out = f'{NS}/latched/image_raw', f'{NS}/latched/segmentation'

    def prepare(probe):
        probe.subscribe(Image, f'{out}/mask', qos=STOCK_QOS)
        # before the node exists: only a latched reader gets it
        publish_latched_still(probe, topic, 7, 'still')

    node, probe = random_weights_node('still', topic, prepare)
    try:
        mask = probe.wait_for(f'{out}/mask', timeout=30)
        assert (mask.header.stamp.sec, mask.header.frame_id) == (7, 'still')
        assert (mask.height, mask.width) == (48, 64)
        assert 'subscribed Image reliable transient_local' in node.output, node.tail()
    finally:
        probe.close()
        node.stop()
