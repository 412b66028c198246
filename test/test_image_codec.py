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

"""Message <-> numpy conversions, without any ROS graph (duck-typed messages)."""

import io
from types import SimpleNamespace

import cv2
from hostile_inputs import decode_case, IMAGE_CASES, LIMIT
from lightseg_ros.inference.image_codec import (
    decode_compressed_image,
    decode_image,
    encode_image,
    image_fields,
    image_view,
    ImageDecodeError,
    SUPPORTED_ENCODINGS,
)
import numpy as np
import pytest

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
GREY = cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY)


def msg(**fields):
    return SimpleNamespace(**fields)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', '8UC3', '8UC4'])
@pytest.mark.parametrize('pad', [0, 5])
def test_colour_round_trip_exact_with_step_padding(encoding, pad):
    fields = encode_image(RGB, encoding)
    if pad:
        fields = encode_image(RGB, encoding, step=fields['step'] + pad)
    assert np.array_equal(decode_image(msg(**fields)), RGB)


@pytest.mark.parametrize('encoding', ['mono8', '8UC1', 'mono16', '16UC1'])
@pytest.mark.parametrize('bigendian', [False, True])
def test_mono_round_trip(encoding, bigendian):
    fields = encode_image(RGB, encoding, bigendian=bigendian, step=None)
    out = decode_image(msg(**fields))
    assert (
        out.shape == RGB.shape
        and np.array_equal(out[..., 0], GREY)
        and np.array_equal(out[..., 2], GREY)
    )


def test_mono16_big_endian_bytes_are_honoured():
    values = np.array([[0x1234, 0xFF00]], dtype='>u2')
    m = msg(height=1, width=2, encoding='mono16', is_bigendian=1, step=4, data=values.tobytes())
    assert image_view(m).tolist() == [[0x1234, 0xFF00]]
    assert decode_image(m)[0, :, 0].tolist() == [0x12, 0xFF]
    little = msg(
        height=1, width=2, encoding='mono16', is_bigendian=0, step=4, data=values.tobytes()
    )
    assert image_view(little).tolist() == [[0x3412, 0x00FF]]


@pytest.mark.parametrize('encoding', ['yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv'])
def test_yuv422_round_trip_close(encoding):
    flat = np.zeros((4, 8, 3), np.uint8)
    flat[:] = (200, 120, 40)  # chroma constant over pixel pairs
    out = decode_image(msg(**encode_image(flat, encoding)))
    assert np.abs(out.astype(int) - flat).max() <= 2


def test_8uc3_is_read_as_bgr_like_cv_bridge_passthrough():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    m = msg(height=2, width=2, encoding='8UC3', is_bigendian=0, step=6, data=bgr.tobytes())
    assert decode_image(m)[0, 0].tolist() == [0, 0, 255]


# ROS names a Bayer pattern by its first row, left to right: rggb has R G / G B tiles
BAYER_TILES = {
    'bayer_rggb8': ('R', 'G', 'G', 'B'),
    'bayer_bggr8': ('B', 'G', 'G', 'R'),
    'bayer_gbrg8': ('G', 'B', 'R', 'G'),
    'bayer_grbg8': ('G', 'R', 'B', 'G'),
}


@pytest.mark.parametrize('encoding', sorted(BAYER_TILES))
def test_bayer_mosaic_built_by_hand_demosaics_to_its_colour(encoding):
    colour = {'R': 200, 'G': 100, 'B': 30}
    tile = np.array([colour[c] for c in BAYER_TILES[encoding]], np.uint8).reshape(2, 2)
    mosaic = np.tile(tile, (4, 5))  # 8x10 pixels
    m = msg(height=8, width=10, encoding=encoding, is_bigendian=0, step=10, data=mosaic.tobytes())
    out = decode_image(m)
    assert out.shape == (8, 10, 3)
    # away from the border every pixel is the flat colour; red and blue swapped fails
    assert np.abs(out[2:-2, 2:-2].astype(int) - [200, 100, 30]).max() <= 1


@pytest.mark.parametrize('encoding', sorted(BAYER_TILES))
def test_bayer_round_trip_of_a_smooth_image(encoding):
    y, x = np.mgrid[0:12, 0:16]
    smooth = np.stack([x * 10, y * 12, np.full_like(x, 90)], -1).astype(np.uint8)
    out = decode_image(msg(**encode_image(smooth, encoding, step=16 + 3)))
    assert np.abs(out[2:-2, 2:-2].astype(int) - smooth[2:-2, 2:-2]).max() <= 1


def test_compressed_jpeg_ignores_exif_orientation_like_image_transport():
    from PIL import Image

    stored = np.zeros((32, 48, 3), np.uint8)  # 48 wide, 32 high as stored
    stored[:, :24] = 255
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', exif=exif, quality=95)
    m = msg(format='jpeg', data=buffer.getvalue())
    out = decode_compressed_image(m)
    assert out.shape == (32, 48, 3)  # as stored: camera_info's width and height
    assert out[16, 4].min() > 200 and out[16, 44].max() < 50


def test_rgb8_decoding_is_zero_copy():
    data = bytearray(encode_image(RGB, 'rgb8')['data'])
    out = decode_image(msg(height=6, width=8, encoding='rgb8', is_bigendian=0, step=24, data=data))
    data[0] = (int(RGB[0, 0, 0]) + 1) % 256
    assert out[0, 0, 0] == data[0]


def test_list_data_and_array_module_data_accepted():
    import array

    fields = encode_image(RGB, 'rgb8')
    for data in (list(fields['data']), array.array('B', fields['data'])):
        assert np.array_equal(decode_image(msg(**{**fields, 'data': data})), RGB)


@pytest.mark.parametrize(
    'change, kind, words',
    [
        ({'encoding': '32FC3'}, 'unknown_encoding', "unsupported encoding '32FC3'"),
        ({'step': 10}, 'bad_step', 'step 10 is smaller'),
        ({'data': b'\0' * 100}, 'truncated_data', 'data has 100 bytes, expected'),
        ({'data': b'\0' * 1000}, 'oversized_data', '1000 bytes, expected'),
        ({'height': 0}, 'zero_size', 'zero size'),
        ({'width': 0}, 'zero_size', 'zero size'),
    ],
)
def test_malformed_messages_raise_with_a_reason(change, kind, words):
    fields = {**encode_image(RGB, 'rgb8'), **change}
    with pytest.raises(ImageDecodeError, match=words) as info:
        decode_image(msg(**fields))
    assert info.value.kind == kind


def test_odd_width_yuv_refused():
    with pytest.raises(ImageDecodeError, match='even width'):
        decode_image(
            msg(height=2, width=3, encoding='yuv422', is_bigendian=0, step=6, data=b'\0' * 12)
        )


@pytest.mark.parametrize('ext, fmt', [('.jpg', 'jpeg'), ('.png', 'png')])
def test_compressed_decoding(ext, fmt):
    ok, buf = cv2.imencode(ext, cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    out = decode_compressed_image(msg(format=fmt, data=buf.tobytes()))
    assert out.shape == RGB.shape and out.dtype == np.uint8
    if fmt == 'png':
        assert np.array_equal(out, RGB)


@pytest.mark.parametrize(
    'data, fmt, kind',
    [
        (b'', 'jpeg', 'empty_data'),
        (b'\xff\xd8\xff\xe0 this is not a jpeg', 'jpeg', 'corrupt_compressed'),
        (b'\x89PNG...', '16UC1; compressedDepth png', 'unsupported_format'),
    ],
)
def test_bad_compressed_images(data, fmt, kind):
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed_image(msg(format=fmt, data=data))
    assert info.value.kind == kind and str(info.value)
    assert ' object at 0x' not in str(info.value)  # Pillow's repr of the in-memory data


def test_output_fields_use_bytes():
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    f = image_fields(mask, 'mono8')
    assert isinstance(f['data'], bytes) and f['step'] == 4 and (f['height'], f['width']) == (3, 4)
    conf = np.ones((3, 4), np.float32)
    f = image_fields(conf, '32FC1')
    assert f['step'] == 16 and len(f['data']) == 48 and f['is_bigendian'] == 0
    assert np.array_equal(np.frombuffer(f['data'], np.float32).reshape(3, 4), conf)


def test_every_supported_encoding_decodes():
    even = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    for encoding in SUPPORTED_ENCODINGS:
        assert decode_image(msg(**encode_image(even, encoding))).shape == (4, 6, 3)


# -- fuzz: every hostile or odd image of the catalogue is decoded or dropped with its kind --------


@pytest.mark.parametrize('case', IMAGE_CASES, ids=[c.name for c in IMAGE_CASES])
def test_hostile_images_are_decoded_or_dropped_with_their_kind(case):
    if case.expect == 'segmented':
        out = decode_case(case)
        assert out.shape == (64, 80, 3) and out.dtype == np.uint8
    else:
        with pytest.raises(ImageDecodeError) as info:
            decode_case(case)
        assert info.value.kind == case.expect and case.words in str(info.value), str(info.value)
        assert '\n' not in str(info.value)


def test_random_mutations_of_jpeg_and_png_never_escape_as_other_errors():
    """Bit flips, cuts and splices of valid images: a decoded RGB image or an ImageDecodeError."""
    rng = np.random.default_rng(15)
    sources = {
        fmt: cv2.imencode(ext, RNG.integers(0, 256, (40, 56, 3), dtype=np.uint8))[1].tobytes()
        for fmt, ext in (('jpeg', '.jpg'), ('png', '.png'))
    }
    outcomes = {'decoded': 0, 'dropped': 0}
    for i in range(300):
        fmt = ('jpeg', 'png')[i % 2]
        data = bytearray(sources[fmt])
        for _ in range(rng.integers(1, 8)):
            what = rng.integers(0, 3)
            at = int(rng.integers(0, len(data)))
            if what == 0:
                data[at] ^= 1 << int(rng.integers(0, 8))
            elif what == 1:
                end = at + int(rng.integers(1, 64))
                del data[at:end]
            else:
                data[at:at] = rng.integers(
                    0, 256, int(rng.integers(1, 32)), dtype=np.uint8
                ).tobytes()
        try:
            out = decode_compressed_image(msg(format=fmt, data=bytes(data)), LIMIT)
            assert (
                out.ndim == 3
                and out.shape[2] == 3
                and out.dtype == np.uint8
                and out.size <= 3 * LIMIT
            )
            outcomes['decoded'] += 1
        except ImageDecodeError as exc:
            assert exc.kind and str(exc)
            outcomes['dropped'] += 1
    assert outcomes['decoded'] and outcomes['dropped']


def test_readme_failure_table_is_the_catalogue():
    from pathlib import Path

    from hostile_inputs import failure_table

    readme = (Path(__file__).resolve().parents[1] / 'README.md').read_text()
    begin, end = (
        '<!-- failure-table: begin (PYTHONPATH=. python test/hostile_inputs.py) -->',
        '<!-- failure-table: end -->',
    )
    assert begin in readme and end in readme
    assert readme.split(begin)[1].split(end)[0].strip() == failure_table()
