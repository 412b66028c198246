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

"""Frame sources (synthetic, folder, video, rosbag2) and the image_source node over DDS."""

from __future__ import annotations

import time
import uuid

import cv2
from lightseg_ros.classes import CAMVID_CLASSES
from lightseg_ros.inference import decode_image
from lightseg_ros.sources import (
    BagFrame,
    FrameSourceError,
    iter_frames,
    playback_rate,
    road_scene,
    source_kind,
)
import numpy as np
import pytest
from ros_harness import NodeProcess, Probe
from sensor_msgs.msg import Image

IMAGE = 'sensor_msgs/msg/Image'


def test_synthetic_scene_has_the_street_classes():
    image, labels = road_scene(160, 120, t=0.5)
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8 and labels.shape == (120, 160)
    present = {CAMVID_CLASSES[i] for i in np.unique(labels)}
    assert {'sky', 'building', 'road', 'pavement', 'car'} <= present
    # cars move
    assert not np.array_equal(road_scene(160, 120, t=0.0)[0], road_scene(160, 120, t=1.0)[0])


def test_folder_and_video_sources(tmp_path):
    frames = [road_scene(64, 48, t=i)[0] for i in range(3)]
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f'{i:03d}.png'), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    assert source_kind(str(tmp_path)) == 'folder'
    got = list(iter_frames(str(tmp_path), loop=False))
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, frames))
    looped = iter_frames(str(tmp_path), loop=True)
    assert len([next(looped) for _ in range(7)]) == 7

    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5, (64, 48))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    assert source_kind(str(video)) == 'video'
    got = list(iter_frames(str(video), loop=False))
    assert len(got) == 3 and got[0].shape == (48, 64, 3)


def test_a_truncated_video_plays_what_it_has_and_is_named_once_however_often_it_loops(tmp_path):
    from hostile_inputs import short_video

    video = tmp_path / 'short.avi'
    read = short_video(video, 10, (96, 72))
    said = []
    assert len(list(iter_frames(str(video), loop=False, on_skip=said.append))) == read
    assert said == [
        f'video {video} ended after {read} of the 10 frames it declares (truncated or damaged); '
        'the frames read were used'
    ]
    said.clear()
    looped = iter_frames(str(video), loop=True, on_skip=said.append)
    assert len([next(looped) for _ in range(3 * read + 1)]) == 3 * read + 1
    assert len(said) == 1 and 'short.avi' in said[0]


def write_video(path, fps, frames=3, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
    for i in range(frames):
        writer.write(cv2.cvtColor(road_scene(*size, t=i)[0], cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_a_folder_plays_in_natural_order_without_hidden_files(tmp_path):
    from lightseg_ros.sources.frames import image_files, source_kind

    for i, name in enumerate(['frame_10.png', 'frame_2.png', 'Frame_1.PNG', 'frame_9.jpg']):
        cv2.imwrite(str(tmp_path / name), np.full((4, 4, 3), i, np.uint8))
    (tmp_path / '._frame_3.png').write_bytes(b'\x00\x05\x16\x07')  # a macOS resource fork
    names = [p.name for p in image_files(tmp_path)]
    assert names == ['Frame_1.PNG', 'frame_2.png', 'frame_9.jpg', 'frame_10.png']
    # a character that is a digit but no decimal number
    cv2.imwrite(str(tmp_path / 'frame_\u00b2.png'), np.zeros((4, 4, 3), np.uint8))
    assert len(image_files(tmp_path)) == 5
    (tmp_path / 'drive.MCAP').write_bytes(b'')
    assert source_kind(str(tmp_path / 'drive.MCAP')) == 'bag'


def test_rate_zero_plays_a_source_at_its_own_rate(tmp_path):
    video = write_video(tmp_path / 'clip.avi', 25)
    assert playback_rate(str(video), 15.0) == (15.0, '15 Hz')  # a rate given wins
    assert playback_rate(str(video), 0.0) == (25.0, '25 Hz (the video declares)')
    # three frames recorded one second apart on the image topic
    bag = write_bag(tmp_path / 'bag', [11, 12, 13], other_topic='/recorded/aaa_other')
    rate, words = playback_rate(str(bag), 0.0, '/recorded/image')
    assert rate == pytest.approx(1.0, rel=1e-6) and words == '1 Hz (its average rate in the bag)'
    assert playback_rate('synthetic', 0.0) == (
        10.0,
        '10 Hz (the synthetic source has no rate of its own)',
    )
    # a one-frame bag has no span, a video at one frame a minute a rate outside 0.1-1000 Hz:
    # both play at 10 Hz
    assert playback_rate(str(write_bag(tmp_path / 'one', [3])), 0.0)[0] == 10.0
    assert playback_rate(str(write_video(tmp_path / 'slow.avi', 1 / 60)), 0.0)[0] == 10.0
    with pytest.raises(FrameSourceError, match='nothing.avi'):
        playback_rate(str(tmp_path / 'nothing.avi'), 0.0)


def test_an_unreadable_image_in_a_folder_is_passed_over_with_one_line(tmp_path):
    good = road_scene(64, 48, t=0)[0]
    cv2.imwrite(str(tmp_path / 'a.png'), cv2.cvtColor(good, cv2.COLOR_RGB2BGR))
    (tmp_path / 'b.png').write_bytes(b'not a png')
    cv2.imwrite(str(tmp_path / 'c.png'), cv2.cvtColor(good, cv2.COLOR_RGB2BGR))
    skipped = []
    frames = list(iter_frames(str(tmp_path), loop=False, on_skip=skipped.append))
    assert len(frames) == 2 and all(np.array_equal(f, good) for f in frames)
    assert skipped == [
        f'skipped: cannot read image {tmp_path / "b.png"} (not an image OpenCV '
        'decodes, or corrupt)'
    ]
    with pytest.raises(FrameSourceError, match='b.png'):  # no one to tell: the error stops it
        list(iter_frames(str(tmp_path), loop=False))
    skipped.clear()
    looped = iter_frames(str(tmp_path), loop=True, on_skip=skipped.append)
    assert len([next(looped) for _ in range(8)]) == 8  # four passes over the folder
    assert len(skipped) == 1 and 'b.png' in skipped[0]  # told once, not once a pass
    for name in ('a.png', 'c.png'):
        (tmp_path / name).write_bytes(b'')
    with pytest.raises(FrameSourceError, match=f'no image in folder {tmp_path} could be read'):
        next(iter_frames(str(tmp_path), loop=True, on_skip=skipped.append))


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(FrameSourceError, match='does not exist'):
        source_kind(str(tmp_path / 'nope'))
    with pytest.raises(FrameSourceError, match='no images'):
        next(iter_frames(str(tmp_path)))


def write_bag(path, stamps, other_topic=''):
    """Write a bag of road scenes on /recorded/image (and black frames on ``other_topic``)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores

    store = get_typestore(Stores.ROS2_KILTED)
    Img, Header, Time = (
        store.types['sensor_msgs/msg/Image'],
        store.types['std_msgs/msg/Header'],
        store.types['builtin_interfaces/msg/Time'],
    )
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        # added first: the bag's first image topic is then not /recorded/image
        other = other_topic and writer.add_connection(
            other_topic, Img.__msgtype__, typestore=store
        )
        conn = writer.add_connection('/recorded/image', Img.__msgtype__, typestore=store)

        def frame(sec: int, nanosec: int, frame_id: str, rgb: np.ndarray) -> bytes:
            msg = Img(
                header=Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id),
                height=24,
                width=32,
                encoding='rgb8',
                is_bigendian=0,
                step=96,
                data=rgb.reshape(-1),
            )
            return store.serialize_cdr(msg, Img.__msgtype__)

        for i, sec in enumerate(stamps):
            if other:
                black = np.zeros((24, 32, 3), np.uint8)
                writer.write(other, sec * 10**9 - 1, frame(sec, 0, 'other_cam', black))
            rgb = road_scene(32, 24, t=i)[0]
            writer.write(conn, sec * 10**9, frame(sec, 7, 'bag_cam', rgb))
    return path


def test_bag_source_yields_raw_cdr(tmp_path):
    bag = write_bag(tmp_path / 'bag', [5, 6])
    assert source_kind(str(bag)) == 'bag'
    frames = list(iter_frames(str(bag), loop=False))
    assert [type(f) for f in frames] == [BagFrame, BagFrame] and frames[
        0
    ].msgtype == 'sensor_msgs/msg/Image'
    with pytest.raises(FrameSourceError, match='/recorded/image'):
        next(iter_frames(str(bag), bag_topic='/other'))


def test_bag_source_passes_over_bad_messages_and_damaged_chunks(tmp_path):
    """A message that is not CDR and the frames of a chunk whose CRC fails: one line each."""
    from lightseg_ros.sources.bags import _mcap_chunks, AtomicBagWriter, image_message

    with AtomicBagWriter(tmp_path / 'bag') as w:
        for i in range(6):
            rgb = np.full((360, 480, 3), i, np.uint8)
            w.write('/cam', image_message(w.store, rgb, 'rgb8', i + 1, 'c'), IMAGE, i + 1)
            if i == 0:
                w.write_raw('/cam', IMAGE, b'\x00\x01\x00\x00garbage', 1)
    skipped: list[str] = []
    assert len(list(iter_frames(str(tmp_path / 'bag'), loop=False, on_skip=skipped.append))) == 6
    assert len(skipped) == 1 and 'cannot be deserialized' in skipped[0]
    mcap = tmp_path / 'bag' / 'bag.mcap'
    _, _, _, _, _, records_at, size, _ = list(_mcap_chunks(mcap))[1]
    data = bytearray(mcap.read_bytes())
    data[records_at + size - 1000] ^= 0x01  # a bit of pixel data near the chunk's end
    mcap.write_bytes(bytes(data))
    skipped.clear()
    frames = iter_frames(str(tmp_path / 'bag'), loop=True, on_skip=skipped.append)
    first_pass = [next(frames) for _ in range(12)]  # two loops: the CRCs are checked once
    assert 2 <= len({f.data for f in first_pass}) <= 5
    assert sum('fail their CRC' in line for line in skipped) == 1
    with pytest.raises(FrameSourceError, match='cannot be deserialized'):
        list(iter_frames(str(tmp_path / 'bag'), loop=False))  # without on_skip: raised


@pytest.fixture(scope='module')
def probe():
    p = Probe(f'source_probe_{uuid.uuid4().hex[:6]}')
    yield p
    p.close()


def test_image_source_publishes_synthetic_frames(probe):
    topic = f'/s{uuid.uuid4().hex[:8]}/camera/image_raw'
    probe.subscribe(Image, topic)
    node = NodeProcess(
        'lightseg_ros.ros.image_source',
        [
            '-p',
            f'topic:={topic}',
            '-p',
            'width:=80',
            '-p',
            'height:=64',
            '-p',
            'rate_hz:=20',  # an integer, as users type it, for a double parameter
            '-p',
            'encoding:=bgr8',
            '-p',
            'frame_id:=synthetic_cam',
        ],
    )
    try:
        msg = probe.wait_for(topic, timeout=30)
        assert (msg.height, msg.width, msg.encoding, msg.header.frame_id) == (
            64,
            80,
            'bgr8',
            'synthetic_cam',
        )
        assert decode_image(msg).shape == (64, 80, 3)
    finally:
        node.stop()


def test_image_source_replays_a_bag_unchanged(probe, tmp_path):
    bag = write_bag(tmp_path / 'bag', [11, 12, 13], other_topic='/recorded/aaa_other')
    topic = f'/b{uuid.uuid4().hex[:8]}/image'
    probe.subscribe(Image, topic)
    node = NodeProcess(
        'lightseg_ros.ros.image_source',
        [
            '-p',
            f'topic:={topic}',
            '-p',
            f'source:={bag}',
            '-p',
            'rate_hz:=20.0',
            '-p',
            'loop:=true',
            '-p',
            'bag_topic:=/recorded/image',  # not the bag's first image topic
        ],
    )
    try:
        msg = probe.wait_for(topic, lambda m: m.header.stamp.sec == 13, timeout=30)
        assert (
            msg.header.frame_id == 'bag_cam'
            and msg.header.stamp.nanosec == 7
            and msg.encoding == 'rgb8'
        )
        assert np.array_equal(decode_image(msg), road_scene(32, 24, t=2)[0])
    finally:
        node.stop()


def test_image_source_restamps_a_bags_frames_when_asked(probe, tmp_path):
    # the demo's latency is now - stamp: a bag's recorded stamps (seconds 11-13 after 1970) would
    # make it the bag's age
    bag = write_bag(tmp_path / 'bag', [11, 12, 13])
    topic = f'/r{uuid.uuid4().hex[:8]}/image'
    probe.subscribe(Image, topic)
    before = time.time()
    node = NodeProcess(
        'lightseg_ros.ros.image_source',
        ['-p', f'topic:={topic}', '-p', f'source:={bag}', '-p', 'rate_hz:=20.0',
         '-p', 'restamp:=true'],
    )
    try:
        msg = probe.wait_for(topic, lambda m: True, timeout=30)
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        assert before - 1 <= stamp <= time.time() + 1
        assert msg.header.frame_id == 'bag_cam' and msg.encoding == 'rgb8'
        assert decode_image(msg).shape == (24, 32, 3)
    finally:
        node.stop()


def test_image_source_plays_a_video_at_its_own_rate_when_rate_hz_is_zero(probe, tmp_path):
    video = write_video(tmp_path / 'clip.avi', 25, size=(80, 64))
    topic = f'/v{uuid.uuid4().hex[:8]}/camera/image_raw'
    probe.subscribe(Image, topic)
    node = NodeProcess(
        'lightseg_ros.ros.image_source',
        ['-p', f'topic:={topic}', '-p', f'source:={video}', '-p', 'rate_hz:=0'],
    )
    try:
        msg = probe.wait_for(topic, timeout=30)
        assert (msg.width, msg.height) == (80, 64)
        assert f'publishing {video} on {topic} at 25 Hz (the video declares)' in node.tail()
    finally:
        node.stop()


def test_an_image_whose_header_gives_no_size_is_refused_undecoded(tmp_path, monkeypatch):
    """
    Radiance HDR named .png: Pillow reads no size from it, OpenCV decodes it as float.

    A 9 MB one took 3 GB. It is refused before decoding; the formats Pillow reads still decode.
    """
    from hostile_inputs import radiance_hdr
    from lightseg_ros.sources import read_image
    from PIL import Image as PILImage

    scene = road_scene(64, 48, t=0)[0]
    bgr = cv2.cvtColor(scene, cv2.COLOR_RGB2BGR)
    files = {'grey.png': cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 'deep.png': bgr.astype(np.uint16)}
    files.update({f'plain.{s}': bgr for s in ('png', 'jpg', 'bmp', 'tif', 'webp')})
    for name, array in files.items():
        assert cv2.imwrite(str(tmp_path / name), array)
    PILImage.fromarray(scene).convert('CMYK').save(tmp_path / 'cmyk.jpg')
    (tmp_path / 'hdr.png').write_bytes(radiance_hdr(64, 48))
    assert cv2.imread(str(tmp_path / 'hdr.png')) is not None  # OpenCV would decode it
    skipped: list[str] = []
    frames = list(iter_frames(str(tmp_path), loop=False, on_skip=skipped.append))
    assert len(frames) == len(files) + 1 and all(f.shape == (48, 64, 3) for f in frames)
    assert skipped == [
        f'skipped: cannot read image {tmp_path / "hdr.png"}: its header gives no size to check '
        'before decoding (accepted: PNG, JPEG, BMP, TIFF, WebP and the other formats Pillow '
        'reads); not decoded'
    ]
    monkeypatch.setattr(cv2, 'imread', lambda *a: pytest.fail('decoded'))
    with pytest.raises(FrameSourceError, match='hdr.png: its header gives no size'):
        read_image(tmp_path / 'hdr.png')


def test_a_source_name_too_long_or_with_a_newline_is_one_line(tmp_path):
    """A 300-character name was ``OSError: [Errno 36]``; a newline could forge a line."""
    long = str(tmp_path / ('s' * 300))
    with pytest.raises(FrameSourceError) as err:
        source_kind(long)
    assert str(err.value) == (
        f"source {long!r} cannot be read (File name too long); give 'synthetic', a folder of "
        'images, a video file or a rosbag2'
    )
    folder = tmp_path / 'in'
    folder.mkdir()
    forged = folder / 'a\nimage_source: error: forged.png'
    forged.write_bytes(b'not a png')
    cv2.imwrite(str(folder / 'b.png'), np.zeros((8, 8, 3), np.uint8))
    skipped: list[str] = []
    assert len(list(iter_frames(str(folder), loop=False, on_skip=skipped.append))) == 1
    assert skipped == [
        f'skipped: cannot read image {str(forged)!r} (not an image OpenCV decodes, or corrupt)'
    ]


def test_a_short_finite_run_arrives_whole(probe):
    """count:=3 delivered nothing: the frames went out before the subscriber had matched."""
    topic = f'/f{uuid.uuid4().hex[:8]}/camera/image_raw'
    probe.subscribe(Image, topic)
    node = NodeProcess(
        'lightseg_ros.ros.image_source',
        ['-p', f'topic:={topic}', '-p', 'width:=64', '-p', 'height:=48', '-p', 'count:=3'],
    )
    try:
        assert node.proc.wait(timeout=60) == 0, node.tail()
        probe.wait_until(lambda: len(probe.messages[topic]) >= 3, 10, lambda: node.tail())
        assert len(probe.messages[topic]) == 3
    finally:
        node.stop()


def test_each_frame_comes_with_a_camera_info_of_its_stamp_and_size(probe):
    """A stand-in camera without camera_info left rviz2's Camera display and image_proc idle."""
    from sensor_msgs.msg import CameraInfo

    ns = f'/i{uuid.uuid4().hex[:8]}/camera'
    probe.subscribe(Image, f'{ns}/image_raw')
    probe.subscribe(CameraInfo, f'{ns}/camera_info')
    node = NodeProcess(
        'lightseg_ros.ros.image_source',
        ['-p', f'topic:={ns}/image_raw', '-p', 'width:=80', '-p', 'height:=64', '-p', 'count:=3'],
    )
    try:
        assert node.proc.wait(timeout=60) == 0, node.tail()
        probe.wait_until(
            lambda: len(probe.messages[f'{ns}/camera_info']) >= 3, 10, lambda: node.tail()
        )
        images, infos = probe.messages[f'{ns}/image_raw'], probe.messages[f'{ns}/camera_info']
        stamp = lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)  # noqa: E731
        assert [stamp(m) for m in infos] == [stamp(m) for m in images]
        info = infos[0]
        assert (info.width, info.height, info.header.frame_id) == (80, 64, 'camera')
        assert list(info.k) == [80.0, 0.0, 39.5, 0.0, 80.0, 31.5, 0.0, 0.0, 1.0]
    finally:
        node.stop()


def test_an_encoding_the_frame_size_cannot_take_is_one_line_at_start():
    """yuv422 at an odd width ended the first tick in a ValueError traceback."""
    node = NodeProcess(
        'lightseg_ros.ros.image_source',
        ['-p', f'topic:=/o{uuid.uuid4().hex[:8]}/image_raw', '-p', 'width:=81',
         '-p', 'encoding:=yuv422'],
    )
    try:
        assert node.proc.wait(timeout=60) == 2, node.tail()
        assert 'cannot start: ' in node.output and 'even width' in node.output, node.tail()
        assert 'Traceback' not in node.output, node.tail()
    finally:
        node.stop()
