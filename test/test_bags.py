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

"""Bag I/O: make-bag in both storage formats, reading back, and the clear errors."""

import struct
import zlib

from bag_fixtures import write_dataset
import cv2
from lightseg_ros.evaluation.make_bag import make_bag
from lightseg_ros.sources.bags import AtomicBagWriter, BagError, open_bag, read_topic
import numpy as np
import pytest


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_make_bag_round_trip(tmp_path, storage):
    images, labels = write_dataset(tmp_path, n=3, unlabelled=(1,))
    summary = make_bag(images, labels, tmp_path / 'bag', fps=10, storage=storage)
    assert (summary.frames, summary.labelled) == (3, 2)
    with open_bag(tmp_path / 'bag') as reader:
        frames = list(read_topic(reader, '/camera/image_raw'))
        labs = list(read_topic(reader, '/camera/labels'))
    assert [f.stamp_ns - frames[0].stamp_ns for f in frames] == [0, 100_000_000, 200_000_000]
    assert {lab.stamp_ns for lab in labs} == {frames[0].stamp_ns, frames[2].stamp_ns}
    assert frames[0].msg.encoding == 'rgb8' and frames[0].msg.header.frame_id == 'camera'
    label = labs[0].msg.data.reshape(labs[0].msg.height, labs[0].msg.width)
    assert label[0, 0] == 255 and label[5, -1] == 1


def test_make_bag_is_readable_by_humble_and_reads_folders_as_the_sources_do(tmp_path):
    import yaml

    images, labels = write_dataset(tmp_path, n=3)
    for i, old in enumerate(sorted(images.iterdir())):  # numbered as a video dump is
        old.rename(images / f'frame_{[2, 10, 9][i]}{old.suffix}')
    for i, old in enumerate(sorted(labels.iterdir())):
        old.rename(labels / f'frame_{[2, 10, 9][i]}{old.suffix}')
    (images / '._frame_1.png').write_bytes(b'\x00\x05\x16\x07')  # a macOS resource fork
    summary = make_bag(images, labels, tmp_path / 'bag', limit=2)
    assert (summary.frames, summary.labelled) == (2, 2)  # frame_2 and frame_9, not frame_10
    meta = yaml.safe_load((tmp_path / 'bag' / 'metadata.yaml').read_text())
    info = meta['rosbag2_bagfile_information']
    # format 8: rosbag2 before format 9 (Humble, Iron) reads each topic's offered_qos_profiles
    # as a string; format 9's list stops `ros2 bag info` there
    assert info['version'] == 8
    for topic in info['topics_with_message_count']:
        assert isinstance(topic['topic_metadata']['offered_qos_profiles'], str)


def test_make_bag_refuses_labels_that_match_no_image_and_reads_low_bit_labels(tmp_path):
    from PIL import Image

    images, labels = write_dataset(tmp_path, n=2)
    names = sorted(p.name for p in labels.iterdir())
    for p in labels.iterdir():
        p.rename(p.with_name(p.stem + '_L.png'))  # CamVid's colour-label names
    with pytest.raises(BagError, match='no label in .* shares a name with an image'):
        make_bag(images, labels, tmp_path / 'bag')
    for p in labels.iterdir():
        p.unlink()
    ids = np.zeros((48, 64), np.uint8)
    ids[:, 40:] = 1
    Image.fromarray(ids.astype(bool)).save(labels / names[0])  # a 1-bit PNG of 0/1
    four = np.zeros((48, 64), np.uint8)
    four[10:, :] = 3
    Image.fromarray(four * 17, 'L').convert('L').save(labels / names[1], bits=4)
    make_bag(images, labels, tmp_path / 'bag')
    with open_bag(tmp_path / 'bag') as reader:
        labs = list(read_topic(reader, '/camera/labels'))
    first = labs[0].msg.data.reshape(48, 64)
    assert np.array_equal(first, ids)  # 0/1, not 0/255
    second = labs[1].msg.data.reshape(48, 64)
    assert set(np.unique(second)) <= {0, 3}


def test_make_bag_writes_16_bit_labels_as_mono16_that_bag_eval_reads(tmp_path):
    from lightseg_ros.evaluation.bag_eval import label_array

    images, labels = write_dataset(tmp_path, n=1)
    ids = np.zeros((48, 64), np.uint16)
    ids[:, 32:] = 300  # a class id beyond 8 bits (a label set of more than 256 classes)
    png = next(labels.iterdir())
    cv2.imwrite(str(png), ids)
    make_bag(images, labels, tmp_path / 'bag')
    with open_bag(tmp_path / 'bag') as reader:
        (lab,) = read_topic(reader, '/camera/labels')
    assert (lab.msg.encoding, lab.msg.step, lab.msg.is_bigendian) == ('mono16', 128, 0)
    assert np.array_equal(label_array(lab.msg, None, 255), ids)
    cv2.imwrite(str(png), np.zeros((48, 64, 3), np.uint8))  # colours: refused, naming the file
    with pytest.raises(BagError, match=f'label {png} must be a single-channel 8- or 16-bit'):
        make_bag(images, labels, tmp_path / 'bag2')


def test_missing_topic_names_what_the_bag_has(tmp_path):
    images, labels = write_dataset(tmp_path, n=1)
    make_bag(images, labels, tmp_path / 'bag')
    with open_bag(tmp_path / 'bag') as reader, pytest.raises(BagError, match='/camera/image_raw'):
        list(read_topic(reader, '/front/image'))


def test_a_topic_name_with_a_newline_cannot_forge_a_line(tmp_path):
    from lightseg_ros.sources import FrameSourceError, iter_frames
    from lightseg_ros.sources.bags import IMAGE_TYPE, image_message

    forged = '/cam\nlightseg bag-eval: error: forged'
    with AtomicBagWriter(tmp_path / 'bag') as w:
        rgb = np.zeros((24, 32, 3), np.uint8)
        w.write(forged, image_message(w.store, rgb, 'rgb8', 1, 'c'), IMAGE_TYPE, 1)
    with open_bag(tmp_path / 'bag') as reader, pytest.raises(BagError) as err:
        list(read_topic(reader, '/front/image'))
    assert '\n' not in str(err.value) and repr(f'{forged} [{IMAGE_TYPE}]') in str(err.value)
    with pytest.raises(FrameSourceError) as err:
        next(iter_frames(str(tmp_path / 'bag'), bag_topic='/front/image', on_skip=print))
    assert '\n' not in str(err.value) and 'forged' in str(err.value)


def test_missing_and_non_bag_paths(tmp_path):
    with pytest.raises(BagError, match='not found'):
        with open_bag(tmp_path / 'nope'):
            pass
    (tmp_path / 'dir').mkdir()
    with pytest.raises(BagError, match='not a rosbag2 folder'):
        with open_bag(tmp_path / 'dir'):
            pass


def test_a_file_outside_a_bag_folder_is_named(tmp_path):
    """A stray file is reported by its own name, not as its folder ('.' from a relative path)."""
    stray = tmp_path / 'recording.bag'
    stray.write_bytes(b'\x00' * 100)
    with pytest.raises(BagError) as err:
        with open_bag(stray):
            pass
    assert str(stray) in str(err.value) and 'is a file' in str(err.value)


def test_a_broken_metadata_yaml_is_one_line(tmp_path):
    """A broken metadata.yaml is one line (PyYAML's error quotes the file over several)."""
    (tmp_path / 'bag').mkdir()
    (tmp_path / 'bag' / 'metadata.yaml').write_text('rosbag2_bagfile_information: {version: 9\n')
    with pytest.raises(BagError, match='cannot read bag') as err:
        with open_bag(tmp_path / 'bag'):
            pass
    assert '\n' not in str(err.value) and str(tmp_path / 'bag') in str(err.value)
    assert len(str(err.value)) < 300 + len(str(tmp_path)) + 40


def test_empty_bag(tmp_path):
    with AtomicBagWriter(tmp_path / 'empty') as w:
        w.writer.add_connection('/camera/image_raw', 'sensor_msgs/msg/Image', typestore=w.store)
    with pytest.raises(BagError, match='no messages'):
        with open_bag(tmp_path / 'empty'):
            pass


def test_corrupt_bag(tmp_path):
    images, labels = write_dataset(tmp_path, n=2)
    make_bag(images, labels, tmp_path / 'bag', storage='sqlite3')
    db = next((tmp_path / 'bag').glob('*.db3'))
    db.write_bytes(b'this is not sqlite' * 10)
    with pytest.raises(BagError, match='cannot read'):
        with open_bag(tmp_path / 'bag') as reader:
            list(read_topic(reader, '/camera/image_raw'))


def test_failed_write_leaves_nothing_behind(tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        with AtomicBagWriter(out) as w:
            w.writer.add_connection('/x', 'sensor_msgs/msg/Image', typestore=w.store)
            raise RuntimeError('boom')
    assert not out.exists() and not (tmp_path / 'out.partial').exists()


def test_existing_output_is_not_overwritten(tmp_path):
    (tmp_path / 'out').mkdir()
    with pytest.raises(BagError, match='already exists'):
        AtomicBagWriter(tmp_path / 'out')


def test_an_indexed_png_label_gives_its_indices_as_class_ids(tmp_path):
    from lightseg_ros.evaluation.bag_eval import label_array
    from PIL import Image

    images, labels = write_dataset(tmp_path, n=1)
    ids = np.zeros((48, 64), np.uint8)
    ids[:, 32:] = 2
    ids[0, 0] = 255  # VOC's void
    indexed = Image.fromarray(ids, 'P')
    indexed.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253)
    indexed.save(next(labels.iterdir()))  # as VOC and many labelling tools write them
    make_bag(images, labels, tmp_path / 'bag')
    with open_bag(tmp_path / 'bag') as reader:
        (lab,) = read_topic(reader, '/camera/labels')
    assert lab.msg.encoding == 'mono8' and np.array_equal(label_array(lab.msg, None, 255), ids)


def test_label_of_wrong_size_is_refused(tmp_path):
    images, labels = write_dataset(tmp_path, n=1)
    import cv2

    cv2.imwrite(str(labels / 'frame_000.png'), np.zeros((10, 10), np.uint8))
    with pytest.raises(BagError, match='10x10 but its image is 64x48'):
        make_bag(images, labels, tmp_path / 'bag')
    assert not (tmp_path / 'bag').exists()


@pytest.mark.parametrize('storage, suffix', [('mcap', '.mcap'), ('sqlite3', '.db3')])
def test_bag_names_inside_are_clean(tmp_path, storage, suffix):
    """The storage file and metadata.yaml carry the bag's name, not the staging folder's."""
    images, labels = write_dataset(tmp_path, n=1)
    make_bag(images, labels, tmp_path / 'clean', storage=storage)
    assert sorted(p.name for p in (tmp_path / 'clean').iterdir()) == [
        'clean' + suffix,
        'metadata.yaml',
    ]
    assert 'partial' not in (tmp_path / 'clean' / 'metadata.yaml').read_text()
    assert not (tmp_path / 'clean.partial').exists()


def test_make_bag_writes_chunk_crcs_and_damage_is_found(tmp_path):
    from lightseg_ros.sources.bags import _mcap_chunks, damaged_chunks

    # 518 KB frames: a chunk per two
    images, labels = write_dataset(tmp_path, n=4, size=(360, 480))
    make_bag(images, labels, tmp_path / 'bag')
    mcap = tmp_path / 'bag' / 'bag.mcap'
    chunks = list(_mcap_chunks(mcap))
    assert len(chunks) >= 2 and all(crc != 0 for _, _, _, crc, *_ in chunks)
    assert damaged_chunks(tmp_path / 'bag') == []
    offset, start, end, _, _, records_at, size, _ = chunks[1]
    data = bytearray(mcap.read_bytes())
    data[records_at + size // 2] ^= 0x10  # one bit of pixel data
    mcap.write_bytes(bytes(data))
    damaged = damaged_chunks(tmp_path / 'bag')
    assert [(d.offset, d.start_ns, d.end_ns) for d in damaged] == [(offset, start, end)]
    assert '!= recorded' in damaged[0].reason
    data[9] ^= 0xFF  # the first record's length: structural damage is one clear error
    mcap.write_bytes(bytes(data))
    with pytest.raises(BagError, match='is damaged'):
        damaged_chunks(tmp_path / 'bag')


def test_an_image_or_label_claiming_a_huge_size_is_refused_undecoded(tmp_path):
    from hostile_inputs import png_claiming

    images, labels = write_dataset(tmp_path, n=2)
    (labels / 'frame_001.png').write_bytes(png_claiming(100_000, 100_000))
    with pytest.raises(
        BagError, match=r'label .*frame_001\.png is larger than its image \(64x48\) by its header'
    ):
        make_bag(images, labels, tmp_path / 'bag')
    (images / 'frame_001.png').write_bytes(png_claiming(9000, 9000))
    with pytest.raises(BagError, match=r'image .*frame_001\.png declares 9000x9000 = 81000000'):
        make_bag(images, None, tmp_path / 'bag')
    assert not (tmp_path / 'bag').exists()


def _zstd_bag(path, frames: int = 4):
    """Write ``frames`` 360x480 frames (a chunk per two) as rosbag2 does with zstd chunks."""
    from lightseg_ros.sources.bags import IMAGE_TYPE, image_message
    from rosbags.rosbag2 import CompressionFormat, CompressionMode

    writer = AtomicBagWriter(path)
    writer.writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer as w:
        for i in range(frames):
            rgb = np.full((360, 480, 3), i, np.uint8)
            w.write('/cam', image_message(w.store, rgb, 'rgb8', i + 1, 'c'), IMAGE_TYPE, i + 1)
    return path / f'{path.name}.mcap'


def test_zstd_chunks_are_checked_and_a_lying_size_is_damage_not_a_bomb(tmp_path):
    """
    A few KB of zstd that declare 805 MB took 1.6 GB: the declared size is capped, never exceeded.

    The CRC check still works for compressed chunks; their messages are then skipped, not read.
    """
    from lightseg_ros.sources import iter_frames
    from lightseg_ros.sources.bags import _mcap_chunks, damaged_chunks, MAX_CHUNK_BYTES

    try:
        from backports import zstd
    except ImportError:  # pragma: no cover - Python 3.14
        from compression import zstd

    mcap = _zstd_bag(tmp_path / 'bag')
    chunks = list(_mcap_chunks(mcap))
    assert len(chunks) >= 2 and {c[4] for c in chunks} == {'zstd'}
    assert damaged_chunks(tmp_path / 'bag') == []  # CRC 0 (rosbags writes none): sizes checked
    good = bytearray(mcap.read_bytes())

    def with_field(chunk, at: int, fmt: str, value: int) -> None:
        data = bytearray(good)
        struct.pack_into(fmt, data, chunk[0] + 9 + at, value)
        mcap.write_bytes(bytes(data))

    offset, start, end, _, _, records_at, size, uncompressed = chunks[1]
    records = zstd.decompress(bytes(good[records_at:][:size]))
    with_field(chunks[1], 24, '<I', zlib.crc32(records))  # the CRC a recorder writes
    assert damaged_chunks(tmp_path / 'bag') == []
    with_field(chunks[1], 24, '<I', zlib.crc32(records) ^ 1)
    damaged = damaged_chunks(tmp_path / 'bag')
    assert [(d.offset, d.start_ns, d.end_ns) for d in damaged] == [(offset, start, end)]
    assert '!= recorded' in damaged[0].reason
    # the size a chunk declares: above the cap it is not decompressed, below what it holds the
    # decompression stops there
    with_field(chunks[1], 16, '<Q', 805_306_368)
    (damaged,) = damaged_chunks(tmp_path / 'bag')
    assert damaged.reason == (
        f'declares 805306368 bytes of records uncompressed, above the {MAX_CHUNK_BYTES} '
        'accepted; not decompressed'
    )
    skipped: list[str] = []
    frames = list(iter_frames(str(tmp_path / 'bag'), loop=False, on_skip=skipped.append))
    assert len(frames) == sum(not start <= t <= end for t in (1, 2, 3, 4)) < 4
    assert len(skipped) == 1 and 'not decompressed' in skipped[0]
    with_field(chunks[1], 16, '<Q', 1000)
    (damaged,) = damaged_chunks(tmp_path / 'bag')
    assert damaged.reason == 'its zstd data holds more than the 1000 bytes it declares'
    with_field(chunks[1], 16, '<Q', uncompressed + 1)
    (damaged,) = damaged_chunks(tmp_path / 'bag')
    assert damaged.reason == (
        f'its zstd data holds {uncompressed} bytes, not the {uncompressed + 1} it declares'
    )
    data = bytearray(good)
    data[slice(records_at + 5, records_at + 25)] = b'\xff' * 20  # not zstd's compressed data
    mcap.write_bytes(bytes(data))
    (damaged,) = damaged_chunks(tmp_path / 'bag')
    assert damaged.reason.startswith('its zstd data cannot be decompressed (')


def test_a_zstd_bomb_is_read_a_piece_at_a_time(tmp_path):
    """256 MiB of zeros in 8 KB of zstd, declaring 64 MiB: found out in a MiB of memory or so."""
    import tracemalloc

    from hostile_inputs import mcap_chunk, mcap_file, zstd_zeros
    from lightseg_ros.sources.bags import damaged_chunks

    bomb = zstd_zeros(256 << 20)
    (tmp_path / 'bag').mkdir()
    (tmp_path / 'bag' / 'bag.mcap').write_bytes(
        mcap_file(mcap_chunk(bomb, compression='zstd', uncompressed=64 << 20))
    )
    tracemalloc.start()
    try:
        (damaged,) = damaged_chunks(tmp_path / 'bag')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert damaged.reason == f'its zstd data holds more than the {64 << 20} bytes it declares'
    assert damaged.offset == 8 and peak < 8 << 20, peak


def test_lz4_chunks_are_checked_too(tmp_path):
    import lz4.frame
    from hostile_inputs import mcap_chunk, mcap_file
    from lightseg_ros.sources.bags import damaged_chunks

    records = bytes(range(256)) * 64
    packed = lz4.frame.compress(records)
    (tmp_path / 'bag').mkdir()
    mcap = tmp_path / 'bag' / 'bag.mcap'
    crc = zlib.crc32(records)
    mcap.write_bytes(
        mcap_file(mcap_chunk(packed, compression='lz4', uncompressed=len(records), crc=crc))
    )
    assert damaged_chunks(tmp_path / 'bag') == []
    mcap.write_bytes(mcap_file(mcap_chunk(packed, compression='lz4', uncompressed=100, crc=1)))
    (damaged,) = damaged_chunks(tmp_path / 'bag')
    assert damaged.reason == 'its lz4 data holds more than the 100 bytes it declares'


@pytest.mark.parametrize(
    'record, words',
    [
        (
            b'\x06' + struct.pack('<Q', 4) + b'\x00' * 4,
            '(4 bytes; a chunk header takes at least 40)',
        ),
        (  # a compression name of 4 GB
            b'\x06' + struct.pack('<Q', 48) + struct.pack('<QQQII', 1, 2, 3, 0, 2**32 - 1),
            '(its compression name of 4294967295 bytes runs past its record)',
        ),
    ],
)
def test_a_chunk_shorter_than_its_header_is_one_clear_error(tmp_path, record, words):
    """It was ``struct.error: unpack requires a buffer of 28 bytes`` from bag-eval and replay."""
    from hostile_inputs import mcap_file
    from lightseg_ros.sources import FrameSourceError, iter_frames
    from lightseg_ros.sources.bags import damaged_chunks

    images, labels = write_dataset(tmp_path, n=2)
    make_bag(images, labels, tmp_path / 'bag')
    mcap = tmp_path / 'bag' / 'bag.mcap'
    mcap.write_bytes(mcap_file(record + b'\x00' * 16))  # padding: the record fits in the file
    expected = f'{mcap} is damaged: the chunk at byte 8 is shorter than its header {words}'
    with pytest.raises(BagError) as err:
        damaged_chunks(tmp_path / 'bag')
    assert str(err.value) == expected
    with pytest.raises(FrameSourceError) as err:
        next(iter_frames(str(tmp_path / 'bag'), on_skip=lambda line: None))
    assert str(err.value) == expected


def test_a_bag_path_too_long_or_with_a_newline_is_one_line(tmp_path):
    from lightseg_ros.sources.bags import damaged_chunks

    long = tmp_path / ('b' * 300)
    with pytest.raises(BagError, match=r'^cannot read bag .*b{300}: File name too long$'):
        with open_bag(long):
            pass
    with pytest.raises(BagError, match=r'^cannot read bag .*b{300}: File name too long$'):
        damaged_chunks(long)
    forged = tmp_path / 'x\nlightseg bag-eval: error: forged'
    forged.mkdir()
    with pytest.raises(BagError) as err:
        with open_bag(forged):
            pass
    assert str(err.value) == f'{str(forged)!r} is not a rosbag2 folder (no metadata.yaml)'


def _file_compressed_bag(path, frames: int = 3):
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores

    store = get_typestore(Stores.ROS2_KILTED)
    Img = store.types['sensor_msgs/msg/Image']
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.FILE, CompressionFormat.ZSTD)
    with writer:
        conn = writer.add_connection('/cam', Img.__msgtype__, typestore=store)
        for i in range(frames):
            msg = Img(
                header=store.types['std_msgs/msg/Header'](
                    stamp=store.types['builtin_interfaces/msg/Time'](sec=i, nanosec=0),
                    frame_id='cam',
                ),
                height=48,
                width=64,
                encoding='rgb8',
                is_bigendian=0,
                step=64 * 3,
                data=np.zeros(48 * 64 * 3, np.uint8),
            )
            writer.write(conn, i + 1, store.serialize_cdr(msg, Img.__msgtype__))
    return path


def test_a_bag_compressed_per_file_is_read_unless_it_would_fill_the_temporary_folder(
    tmp_path, monkeypatch
):
    """The rosbags reader decompresses such a bag whole into /tmp: 32 KB wrote 1 GB."""
    from lightseg_ros.sources import bags

    bag = _file_compressed_bag(tmp_path / 'bag')
    assert any(p.name.endswith('.zstd') for p in bag.iterdir())
    with open_bag(bag) as reader:
        assert reader.message_count == 3
    # as if the temporary folder had 1000 bytes to spare: the 27 KB of frames do not fit
    monkeypatch.setattr(bags, '_free_bytes', lambda folder: bags._KEEP_FREE_BYTES + 1000)
    with pytest.raises(BagError, match=r'is compressed per file and decompresses to more than'):
        with open_bag(bag):
            pass


def test_a_metadata_file_whose_aliases_multiply_is_refused_before_rosbags_reads_it(tmp_path):
    """The rosbags reader quoted a bad field whole: a 1.4 KB metadata.yaml took 55 s, 9 GB."""
    bag = tmp_path / 'bag'
    bag.mkdir()
    (bag / 'b.mcap').write_bytes(b'')
    levels = ''.join(
        f'  {chr(98 + i)}: &{chr(98 + i)} [' + ', '.join([f'*{chr(97 + i)}'] * 10) + ']\n'
        for i in range(8)
    )
    (bag / 'metadata.yaml').write_text(
        'rosbag2_bagfile_information:\n  version: 9\n  storage_identifier: mcap\n'
        '  relative_file_paths: [b.mcap]\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n'
        + levels
        # rosbags quotes this field whole when it is not 'zstd'
        + '  compression_format: *i\n  compression_mode: message\n'
    )
    with pytest.raises(BagError, match=r'metadata\.yaml holds more than 100000 values'):
        with open_bag(bag):
            pass


def test_a_damaged_chunk_of_labels_costs_the_frames_nothing(tmp_path):
    """
    Frames and labels written one topic after the other share log times, not chunks.

    A damaged label chunk skipped its time range on every topic: 14 intact frames were lost.
    """
    from lightseg_ros.sources.bags import (
        _mcap_chunks,
        damaged_chunks,
        IMAGE_TYPE,
        image_message,
        seal_mcap_crcs,
    )

    with AtomicBagWriter(tmp_path / 'bag') as w:
        for topic in ('/cam', '/lab'):
            for i in range(6):  # 518 KB messages: a chunk per two
                array = np.full((360, 480, 3), i, np.uint8)
                w.write(topic, image_message(w.store, array, 'rgb8', i, 'c'), IMAGE_TYPE, i)
    mcap = tmp_path / 'bag' / 'bag.mcap'
    seal_mcap_crcs(mcap)
    chunks = list(_mcap_chunks(mcap))
    label_chunk = next(  # the first chunk of labels: the next to start at time 0
        c for c in chunks[1:] if c[1] == 0
    )
    offset, _, _, _, _, records_at, size, _ = label_chunk
    data = bytearray(mcap.read_bytes())
    data[records_at + size // 2] ^= 0x10
    mcap.write_bytes(bytes(data))
    (damaged,) = damaged_chunks(tmp_path / 'bag')
    assert damaged.offset == offset and damaged.topics == frozenset({'/lab'})
    with open_bag(tmp_path / 'bag') as reader:
        frames = list(read_topic(reader, '/cam', skip=[damaged]))
        labels = list(read_topic(reader, '/lab', skip=[damaged]))
    assert [m.stamp_ns for m in frames] == list(range(6))
    kept = [i for i in range(6) if not damaged.start_ns <= i <= damaged.end_ns]
    assert [m.stamp_ns for m in labels] == kept and 0 < len(kept) < 6  # its own labels lost
