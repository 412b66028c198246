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
Topic names as ROS users give them, against a live node over DDS.

- A namespace and a remapping move the camera_info the node reads and the outputs it publishes
  with the image topic (the names were derived from the parameter's text: a remapped camera was
  read, but another camera's camera_info was republished with its masks, on the old topics).
- ``transport: compressed`` on a base topic reads image_transport's ``<base>/compressed``.
- A camera_info published once, latched (transient local), reaches the node that starts later.
- Each mask's camera_info is its own frame's (by stamp), not the latest received.
- ``output_durability: transient_local`` serves latched and volatile subscribers, and a late one.
- Under ``use_sim_time`` with ``/clock`` held still (a paused simulation, ``ros2 bag play
  --start-paused``), the node still follows a best-effort camera that appears after it and still
  publishes ``/diagnostics``: its housekeeping timers run on the steady clock.
"""

from pathlib import Path
import time
import uuid

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from lightseg_ros.ros.input_qos import camera_info_qos, Offer
from lightseg_ros.ros.node_session import ros_parameter_args
from lightseg_ros.ros.topics import transport_topic
import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import start_node_and_probe
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

NODE = 'lightseg_ros.ros.segment_node'


def _image(stamp: int, frame_id: str) -> Image:
    msg = Image(height=48, width=64, encoding='rgb8', step=64 * 3)
    msg.header.stamp.sec, msg.header.frame_id = stamp, frame_id
    msg.data = np.full((48, 64, 3), 90, np.uint8).tobytes()
    return msg


def _info(stamp: int, fx: float) -> CameraInfo:
    info = CameraInfo(height=48, width=64, distortion_model='plumb_bob')
    info.header.stamp.sec = stamp
    info.k = [fx, 0.0, 32.0, 0.0, fx, 24.0, 0.0, 0.0, 1.0]
    return info


def _sender(probe):
    """Return send(): publish the next frame on ``probe.image``, return its stamp (send.stamp)."""

    def send() -> int:
        send.stamp += 1
        probe.image.publish(_image(send.stamp, 'cam'))
        return send.stamp

    send.stamp = 0
    return send


def test_transport_topic_follows_image_transport_naming():
    assert transport_topic('/cam/image_raw', 'compressed') == '/cam/image_raw/compressed'
    assert transport_topic('/cam/image_raw/compressed', 'compressed') == (
        '/cam/image_raw/compressed'
    )
    assert transport_topic('/cam/image_raw/', 'compressed') == '/cam/image_raw/compressed'
    for transport in ('raw', 'auto'):
        assert transport_topic('/cam/image_raw', transport) == '/cam/image_raw'


def test_namespace_and_remapping_move_camera_info_and_outputs_with_the_image():
    ns = f'/r{uuid.uuid4().hex[:6]}'
    front = f'{ns}/front'

    def prepare(probe):
        probe.subscribe(Image, f'{front}/segmentation/mask')
        probe.subscribe(CameraInfo, f'{front}/segmentation/camera_info')
        probe.subscribe(Image, f'{ns}/camera/segmentation/mask')  # the old, wrong place
        probe.image = probe.publisher(Image, f'{front}/image_raw')
        probe.front_info = probe.publisher(CameraInfo, f'{front}/camera_info')
        # the camera_info of the name before remapping: never to be passed on
        probe.decoy_info = probe.publisher(CameraInfo, f'{ns}/camera/camera_info')

    session, probe = start_node_and_probe(
        NODE,
        [
            '-r',
            f'__node:=seg_{uuid.uuid4().hex[:6]}',
            '-r',
            f'__ns:={ns}',
            '-r',
            f'{ns}/camera/image_raw:={front}/image_raw',
            # a rule for the remapped name: ROS applies remapping once, so it must not apply (the
            # node resolved the name, then subscribed to the result, which rcl remapped again)
            '-r',
            f'{front}/image_raw:={ns}/elsewhere/image_raw',
            # the default image_topics, camera/image_raw, is relative: under the namespace
            *ros_parameter_args({'weights': 'random', 'cpu_threads': 1}),
        ],
        prepare=prepare,
        ready=lambda probe: probe.node.count_subscribers(f'{front}/image_raw') > 0,
    )
    try:
        assert probe.node.count_subscribers(f'{ns}/camera/image_raw') == 0
        assert probe.node.count_subscribers(f'{ns}/elsewhere/image_raw') == 0
        probe.wait_until(
            lambda: probe.node.count_subscribers(f'{front}/camera_info') > 0,
            30,
            lambda: f'the node to read {front}/camera_info; log:\n{session.tail()}',
        )
        assert probe.node.count_subscribers(f'{ns}/camera/camera_info') == 0

        def send() -> int:
            send.stamp += 1
            probe.decoy_info.publish(_info(send.stamp, 999.0))
            probe.front_info.publish(_info(send.stamp, 500.0))
            time.sleep(0.05)
            probe.image.publish(_image(send.stamp, 'front'))
            return send.stamp

        send.stamp = 0
        mask = probe.send_until_answered(send, f'{front}/segmentation/mask', timeout=60)
        assert mask.header.frame_id == 'front'
        info = probe.wait_for(f'{front}/segmentation/camera_info', timeout=30)
        assert info.k[0] == 500.0, f'another camera calibration was passed on: {info.k}'
        assert not probe.messages[f'{ns}/camera/segmentation/mask']
        assert f'{front}/image_raw -> {front}/segmentation/*' in session.output, session.tail()
    finally:
        probe.close()
        session.stop()


def test_compressed_transport_and_a_paused_sim_clock():
    base = f'/c{uuid.uuid4().hex[:6]}/cam/image_raw'
    out = base.rsplit('/', 1)[0] + '/segmentation'

    def prepare(probe):
        probe.subscribe(Image, f'{out}/mask')
        probe.subscribe(DiagnosticArray, '/diagnostics')

    session, probe = start_node_and_probe(
        NODE,
        [
            '-r',
            f'__node:=seg_{uuid.uuid4().hex[:6]}',
            *ros_parameter_args(
                {
                    'image_topics': [base],
                    'transport': 'compressed',
                    'weights': 'random',
                    'cpu_threads': 1,
                    'diagnostics_period': 0.5,
                    # /clock is never published: the ROS clock stands at 0
                    'use_sim_time': True,
                }
            ),
        ],
        prepare=prepare,
        ready=lambda probe: probe.node.count_subscribers(f'{base}/compressed') > 0,
    )
    try:
        assert probe.node.count_subscribers(base) == 0
        # the camera appears after the node, best effort: the node's reliable subscription (made
        # while nobody published) does not match it until its checks, on the steady clock, follow
        # it with the sim clock held still
        camera = probe.publisher(CompressedImage, f'{base}/compressed', reliable=False)
        ok, jpeg = cv2.imencode('.jpg', np.full((48, 64, 3), 90, np.uint8))
        assert ok

        def send() -> int:
            send.stamp += 1
            msg = CompressedImage(format='jpeg', data=jpeg.tobytes())
            msg.header.stamp.sec, msg.header.frame_id = send.stamp, 'cam'
            camera.publish(msg)
            return send.stamp

        send.stamp = 0
        mask = probe.send_until_answered(send, f'{out}/mask', timeout=60, every=0.5)
        assert (mask.height, mask.width) == (48, 64)
        assert 'subscribed CompressedImage best_effort' in session.output, session.tail()
        # /diagnostics keeps coming with the sim clock held still
        count = len(probe.messages['/diagnostics'])
        probe.wait_until(
            lambda: len(probe.messages['/diagnostics']) >= count + 2,
            20,
            lambda: f'/diagnostics with /clock held still; log:\n{session.tail()}',
        )
    finally:
        probe.close()
        session.stop()


def test_camera_info_qos_follows_latched_publishers():
    info = 'sensor_msgs/msg/CameraInfo'
    latched = Offer('reliable', info, 'transient_local')
    assert camera_info_qos([latched, latched]) == ('reliable', 'transient_local')
    # anything else: best effort and volatile, which every publisher matches
    for offers in (
        [],
        [Offer('reliable', info)],
        [latched, Offer('best_effort', info)],
        [Offer('best_effort', info, 'transient_local')],
    ):
        assert camera_info_qos(offers) == ('best_effort', 'volatile'), offers


def test_a_latched_camera_info_published_before_the_node_starts_is_passed_on():
    camera = f'/l{uuid.uuid4().hex[:6]}/cam/image_raw'
    out = camera.rsplit('/', 1)[0] + '/segmentation'

    def prepare(probe):
        probe.subscribe(Image, f'{out}/mask')
        probe.subscribe(CameraInfo, f'{out}/camera_info')
        probe.image = probe.publisher(Image, camera)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        # published once, while the node process is still starting: only a transient-local
        # subscription gets it
        info_topic = camera.rsplit('/', 1)[0] + '/camera_info'
        probe.info = probe.node.create_publisher(CameraInfo, info_topic, latched)
        probe.info.publish(_info(0, 321.0))

    session, probe = start_node_and_probe(
        NODE,
        [
            '-r',
            f'__node:=seg_{uuid.uuid4().hex[:6]}',
            *ros_parameter_args({'image_topics': [camera], 'weights': 'random', 'cpu_threads': 1}),
        ],
        prepare=prepare,
        ready=lambda probe: probe.node.count_subscribers(camera) > 0,
    )
    try:

        send = _sender(probe)
        mask = probe.send_until_answered(send, f'{out}/mask', timeout=60)
        info = probe.wait_for(
            f'{out}/camera_info', lambda m: m.header.stamp.sec >= mask.header.stamp.sec, 30
        )
        assert info.k[0] == 321.0 and info.header.frame_id == 'cam'
    finally:
        probe.close()
        session.stop()


@pytest.mark.parametrize(
    'topic, why',
    [('bad topic!', 'must not contain characters'), ('/a//b', "repeated '/'")],
)
def test_an_invalid_topic_name_is_one_line(capfd, topic, why):
    from lightseg_ros.ros.segment_node import main

    argv = ['--ros-args', *ros_parameter_args({'image_topics': [topic], 'weights': 'random'})]
    argv += ['-r', f'__node:=p_{uuid.uuid4().hex[:6]}']
    assert main(argv) == 2
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if 'cannot start' in line]
    assert len(lines) == 1, err[-2000:]
    assert f'parameter image_topics: {topic!r} is not a valid topic name' in lines[0]
    assert why in lines[0] and 'Traceback' not in err


# a params file as users write them: keyed by the node's name in any namespace, two cameras in
# one namespace; and a section for the node in the root namespace only, which rcl does not apply
# to a node in a namespace (rviz must not either)
TWO_CAMERAS = (
    '/**/segment_node:\n  ros__parameters:\n    image_topics: [cam/left, cam/right]\n'
    '    transport: raw\n'
    'segment_node:\n  ros__parameters:\n    image_topics: [elsewhere/image_raw]\n'
)

# a compressed camera: rviz2 shows it by its /compressed topic (image_transport picks the decoder
# by that name)
COMPRESSED = '/**:\n  ros__parameters:\n    transport: compressed\n'


@pytest.mark.parametrize(
    'launch_args, params_text',
    [
        ({'namespace': 'robotX'}, None),  # the params file's relative camera/image_raw, moved
        ({'namespace': 'robotX', 'image_topic': 'front/image_raw'}, None),
        ({'image_topic': '/robotX/rear/image_raw'}, None),
        ({'namespace': 'robotX'}, TWO_CAMERAS),
        ({'image_topic': '/robotX/cam/image_raw'}, COMPRESSED),
    ],
    ids=[
        'namespace',
        'namespace and image_topic',
        'absolute image_topic',
        'two cameras',
        'compressed transport',
    ],
)
def test_the_launchs_rviz_displays_name_the_topics_the_node_uses(
    launch_args, params_text, tmp_path
):
    """
    Rviz2's layout named the default topics: with namespace:= or image_topic:= it showed nothing.

    The launch's rviz topics are checked against a node started as the launch starts it (its
    name, the namespace, the params file and the launch's overrides), over DDS.
    """
    import yaml

    from lightseg_ros.ros.launch_helpers import segment_node_setup

    root = Path(__file__).resolve().parents[1]
    ns = f'r{uuid.uuid4().hex[:6]}'
    args = {k: v.replace('robotX', ns) for k, v in launch_args.items()}
    if params_text is not None:
        args['params_file'] = str(tmp_path / 'params.yaml')
        Path(args['params_file']).write_text(params_text)
    setup = segment_node_setup({**args, 'rviz': 'true'}, root, installed=lambda name: True)
    topics = setup.rviz_topics
    written = yaml.safe_load(Path(setup.write_rviz_config(tmp_path)).read_text())
    displays = written['Visualization Manager']['Displays']
    shown = {d['Name']: d['Topic']['Value'] for d in displays}
    assert shown == topics and all(t.startswith('/') for t in topics.values()), shown
    assert topics['Input'] == setup.cameras[0]  # what the replay launch plays and waits for
    policies = {d['Name']: d['Topic']['Reliability Policy'] for d in displays}
    assert policies == {'Input': 'Reliable', 'Overlay': 'Reliable', 'Color mask': 'Reliable'}
    overrides = setup.parameters[1] if len(setup.parameters) > 1 else {}
    # the launch's node name: a params file may key its parameters by it (a fresh DDS domain)
    ros_args = ['-r', f'__node:={setup.node_name}', '--params-file', setup.parameters[0]]
    if setup.namespace:
        ros_args += ['-r', f'__ns:=/{setup.namespace}']
    session, probe = start_node_and_probe(
        NODE,
        ros_args + ros_parameter_args({**overrides, 'weights': 'random', 'cpu_threads': 1}),
        prepare=lambda probe: None,
        ready=lambda probe: (
            probe.node.count_subscribers(topics['Input']) > 0
            and probe.node.count_publishers(topics['Overlay']) > 0
            and probe.node.count_publishers(topics['Color mask']) > 0
        ),
    )
    try:  # the node logs the line after its subscriptions exist: it may come a moment later
        probe.wait_until(
            lambda: f'{topics["Input"]} -> ' in session.output,
            30,
            lambda: f'the node to name its camera; log:\n{session.tail()}',
        )
    finally:
        probe.close()
        session.stop()


def test_transient_local_outputs_serve_latched_and_volatile_subscribers_and_late_joiners():
    """
    ``output_durability: transient_local``: a subscriber asking for latched data is served.

    With the default (volatile) such a subscriber matches nothing; a transient-local publisher
    serves both kinds, and one that joins after the last frame gets that frame's mask at once.
    """
    ns = f'/d{uuid.uuid4().hex[:6]}'
    camera, out = f'{ns}/cam/image_raw', f'{ns}/cam/segmentation'

    def prepare(probe):
        probe.subscribe(Image, f'{out}/mask', latched=True)
        probe.subscribe(Image, f'{out}/overlay')  # volatile, as rviz2's Image display
        probe.image = probe.publisher(Image, camera)

    session, probe = start_node_and_probe(
        NODE,
        [
            '-r',
            f'__node:=seg_{uuid.uuid4().hex[:6]}',
            *ros_parameter_args(
                {
                    'image_topics': [camera],
                    'weights': 'random',
                    'cpu_threads': 1,
                    'output_durability': 'transient_local',
                    'outputs': ['mask', 'overlay'],
                }
            ),
        ],
        prepare=prepare,
        ready=lambda probe: probe.node.count_publishers(f'{out}/mask') > 0,
    )
    try:
        offered = probe.node.get_publishers_info_by_topic(f'{out}/mask')
        assert [i.qos_profile.durability for i in offered] == [DurabilityPolicy.TRANSIENT_LOCAL]

        send = _sender(probe)
        mask = probe.send_until_answered(send, f'{out}/mask', timeout=60)
        probe.wait_for(f'{out}/overlay', lambda m: m.header.stamp.sec == mask.header.stamp.sec)
        # the last frame sent is always answered (nothing newer replaces it) and is the last mask
        last = send.stamp
        probe.wait_for(f'{out}/mask', lambda m: m.header.stamp.sec == last, timeout=30)
        # a subscriber that joins after the last frame (no frame follows) gets its mask
        late: list = []
        qos = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        probe.node.create_subscription(Image, f'{out}/mask', late.append, qos)
        probe.wait_until(lambda: bool(late), 30, 'the late subscriber to get the last mask')
        assert [m.header.stamp.sec for m in late] == [last]
    finally:
        probe.close()
        session.stop()


def test_each_mask_gets_the_camera_info_of_its_own_frame():
    """
    The camera_info passed on with a mask is the one stamped like its frame, where it came.

    It was the latest received: a calibration that changed (a zoom, a self-calibrating rig) while
    the frame waited for the model was published with the wrong frame.
    """
    ns = f'/i{uuid.uuid4().hex[:6]}'
    camera, out = f'{ns}/cam/image_raw', f'{ns}/cam/segmentation'

    def prepare(probe):
        probe.subscribe(Image, f'{out}/mask')
        probe.subscribe(CameraInfo, f'{out}/camera_info')
        probe.image = probe.publisher(Image, camera)
        probe.info = probe.publisher(CameraInfo, f'{ns}/cam/camera_info')

    session, probe = start_node_and_probe(
        NODE,
        [
            '-r',
            f'__node:=seg_{uuid.uuid4().hex[:6]}',
            *ros_parameter_args(
                {'image_topics': [camera], 'weights': 'random', 'cpu_threads': 1}
            ),
        ],
        prepare=prepare,
        ready=lambda probe: (
            probe.node.count_subscribers(f'{ns}/cam/camera_info') > 0
            and probe.node.count_publishers(f'{out}/camera_info') > 0
        ),
    )
    try:

        def send() -> int:  # a calibration per frame, the next frame's published before
            send.stamp += 2
            probe.info.publish(_info(send.stamp, 100.0 + send.stamp))
            probe.info.publish(_info(send.stamp + 1, 100.0 + send.stamp + 1))
            time.sleep(0.2)
            probe.image.publish(_image(send.stamp, 'cam'))
            return send.stamp

        send.stamp = 0
        probe.send_until_answered(send, f'{out}/mask', timeout=60)
        for _ in range(3):
            stamp = send()
            info = probe.wait_for(f'{out}/camera_info', lambda m, s=stamp: m.header.stamp.sec == s)
            assert info.k[0] == 100.0 + stamp, (stamp, info.k[0])
        # a frame with no calibration of its own gets the latest
        probe.image.publish(_image(stamp + 5, 'cam'))
        info = probe.wait_for(f'{out}/camera_info', lambda m: m.header.stamp.sec == stamp + 5)
        assert info.k[0] == 100.0 + stamp + 1
    finally:
        probe.close()
        session.stop()
