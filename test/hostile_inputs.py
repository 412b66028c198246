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
Hostile and malformed inputs, one catalogue for the fuzz tests and for README's failure table.

Each image case builds the fields of a ``sensor_msgs/Image`` (raw) or ``CompressedImage``
(compressed) and says what must happen: ``segmented``, or dropped with an ``ImageDecodeError`` of
a given kind. ``test_image_codec`` runs every case through the decoders, ``test_segment_node``
publishes every case to a live node (which must serve the next good frame after each), and
``test_readme_failure_table`` checks that README's table is :func:`failure_table` (regenerate it
with ``PYTHONPATH=. python test/hostile_inputs.py``).

The fuzz limit :data:`LIMIT` (``max_input_pixels``) is 1 Mpix so that an oversized raw frame stays
small in a test; the bombs claim 36 to 4225 Mpix, above the default limit too.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import json
import struct
from typing import Callable
import zlib

import cv2
import numpy as np

LIMIT = 1_000_000
_RNG = np.random.default_rng(15)
RGB = cv2.resize(
    _RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8), (80, 64), interpolation=cv2.INTER_LINEAR
)


@dataclass(frozen=True)
class ImageCase:
    name: str  # README wording
    transport: str  # "raw" (sensor_msgs/Image) or "compressed" (sensor_msgs/CompressedImage)
    build: Callable[[], dict | bytes]  # the message's fields, or its serialized bytes as sent
    expect: str  # "segmented", or the ImageDecodeError kind of the drop
    words: str = ''  # the warning contains these


def _raw(**overrides) -> Callable[[], dict]:
    """Return a 80x64 rgb8 frame with some fields overridden."""

    def build() -> dict:
        from lightseg_ros.inference.image_codec import encode_image

        return {**encode_image(RGB, 'rgb8'), **overrides}

    return build


def _encoded(encoding: str, **kwargs) -> Callable[[], dict]:
    def build() -> dict:
        from lightseg_ros.inference.image_codec import encode_image

        return encode_image(RGB, encoding, **kwargs)

    return build


def _big_raw() -> dict:
    from lightseg_ros.inference.image_codec import encode_image

    return encode_image(np.zeros((1000, 1200, 3), np.uint8), 'rgb8')


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode('.png', array, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()


def _jpeg(array: np.ndarray) -> bytes:
    return cv2.imencode('.jpg', array)[1].tobytes()


def _jpeg_claiming(width: int, height: int) -> bytes:
    """
    Return a valid small JPEG whose frame header (SOF0) claims ``width`` x ``height``.

    About 3 KB.
    """
    data = bytearray(_jpeg(cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR)))
    sof = data.find(b'\xff\xc0')
    struct.pack_into('>HH', data, sof + 5, height, width)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """
    Return a PNG whose header claims ``width`` x ``height`` (RGB8).

    Over one compressed block of zero rows.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
        )

    rows = zlib.compress(b'\x00' * min(4_000_000, (3 * width + 1) * 64), 9)
    return (
        b'\x89PNG\r\n\x1a\n'
        + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
        + chunk(b'IDAT', rows)
        + chunk(b'IEND', b'')
    )


@functools.lru_cache(maxsize=1)
def _png_bomb() -> bytes:
    """
    Return a real PNG of 6000x6000 zeros: about 105 KB compressed, 108 MB decoded.

    Built once: 2 s.
    """
    return _png(np.zeros((6000, 6000, 3), np.uint8))


def _compressed(fmt: str, data: Callable[[], bytes]) -> Callable[[], dict]:
    return lambda: {'format': fmt, 'data': data()}


BGR = cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR)


def _serialized_frame() -> bytes:
    from types import SimpleNamespace

    from lightseg_ros.ros.wire import image_message

    stamp = SimpleNamespace(sec=1, nanosec=0)
    return image_message(SimpleNamespace(stamp=stamp, frame_id='camera'), RGB, 'rgb8')


def _cut_message() -> bytes:
    return _serialized_frame()[:100]


def _lying_string_length() -> bytes:
    raw = bytearray(_serialized_frame())
    raw[12:16] = (0x7FFFFFFF).to_bytes(4, 'little')  # frame_id's length, after the CDR header
    return bytes(raw)


IMAGE_CASES: tuple[ImageCase, ...] = (
    # raw sensor_msgs/Image
    ImageCase(
        'raw: unknown encoding (32FC3)',
        'raw',
        _raw(encoding='32FC3'),
        'unknown_encoding',
        'unsupported encoding',
    ),
    ImageCase(
        'raw: a 100000-character encoding (a log flood)',
        'raw',
        _raw(encoding='rgb8' * 25_000),
        'unknown_encoding',
        "'rgb8rgb8rgb8rgb8rgb8rgb8rgb8rgb8rgb8rgb8'... (100000 characters); supported",
    ),
    ImageCase(
        'raw: step smaller than a row', 'raw', _raw(step=10), 'bad_step', 'step 10 is smaller'
    ),
    ImageCase(
        'raw: data shorter than step x height',
        'raw',
        _raw(data=b'\x00' * 50),
        'truncated_data',
        'data has 50 bytes',
    ),
    ImageCase(
        'raw: data longer than step x height',
        'raw',
        _raw(data=b'\x00' * 20000),
        'oversized_data',
        '20000 bytes',
    ),
    ImageCase(
        'raw: zero width and height',
        'raw',
        _raw(height=0, width=0, step=0, data=b''),
        'zero_size',
        'zero size',
    ),
    ImageCase(
        'raw: yuv422 with an odd width',
        'raw',
        lambda: {
            'height': 2,
            'width': 3,
            'encoding': 'yuv422',
            'is_bigendian': 0,
            'step': 6,
            'data': b'\x00' * 12,
        },
        'bad_width',
        'even width',
    ),
    ImageCase(
        'raw: header claims 100000x100000, no data',
        'raw',
        _raw(height=100_000, width=100_000, step=300_000),
        'too_large',
        'above max_input_pixels',
    ),
    ImageCase(
        'raw: 1200x1000 rgb8 frame above max_input_pixels 1000000',
        'raw',
        _big_raw,
        'too_large',
        '1200x1000 = 1200000 pixels',
    ),
    ImageCase(
        'raw: message cut to 100 bytes (its data sequence claims 15360)',
        'raw',
        _cut_message,
        'malformed_message',
        'not a sensor_msgs/msg/Image message',
    ),
    ImageCase(
        'raw: message whose frame_id claims 2 GB',
        'raw',
        _lying_string_length,
        'malformed_message',
        'not a sensor_msgs/msg/Image message',
    ),
    ImageCase('raw: mono16, big-endian', 'raw', _encoded('mono16', bigendian=True), 'segmented'),
    ImageCase(
        'raw: bgra8 with row padding', 'raw', _encoded('bgra8', step=80 * 4 + 12), 'segmented'
    ),
    ImageCase('raw: yuv422_yuy2', 'raw', _encoded('yuv422_yuy2'), 'segmented'),
    ImageCase(
        "raw: 8UC3 (cv_bridge's passthrough of a BGR array)", 'raw', _encoded('8UC3'), 'segmented'
    ),
    ImageCase('raw: bayer_rggb8 mosaic', 'raw', _encoded('bayer_rggb8'), 'segmented'),
    # sensor_msgs/CompressedImage
    ImageCase(
        'compressed: empty data',
        'compressed',
        _compressed('jpeg', lambda: b''),
        'empty_data',
        'has no data',
    ),
    ImageCase(
        'compressed: random bytes',
        'compressed',
        _compressed(
            'jpeg', lambda: np.random.default_rng(1).integers(0, 256, 2000, np.uint8).tobytes()
        ),
        'corrupt_compressed',
        'could not decode compressed image',
    ),
    ImageCase(
        'compressed: random bytes with a 50000-character format',
        'compressed',
        _compressed(
            'jpeg' * 12_500,
            lambda: np.random.default_rng(1).integers(0, 256, 2000, np.uint8).tobytes(),
        ),
        'corrupt_compressed',
        "(format 'jpegjpegjpegjpegjpegjpegjpegjpegjpegjpeg'... (50000 characters), 2000 bytes)",
    ),
    ImageCase(
        'compressed: JPEG cut in half',
        'compressed',
        _compressed('jpeg', lambda: _jpeg(BGR)[: len(_jpeg(BGR)) // 2]),
        'corrupt_compressed',
        'is a truncated JPEG',
    ),
    ImageCase(
        'compressed: JPEG missing its last 200 bytes (OpenCV would pad it grey)',
        'compressed',
        _compressed('jpeg', lambda: _jpeg(BGR)[:-200]),
        'corrupt_compressed',
        'is a truncated JPEG: it ends before its end-of-image marker',
    ),
    ImageCase(
        'compressed: PNG cut in half',
        'compressed',
        _compressed('png', lambda: _png(BGR)[: len(_png(BGR)) // 2]),
        'corrupt_compressed',
        'could not decode compressed image',
    ),
    ImageCase(
        'compressed: compressedDepth',
        'compressed',
        _compressed('16UC1; compressedDepth png', lambda: _png(BGR)),
        'unsupported_format',
        'compressedDepth',
    ),
    ImageCase(
        'compressed: 3 KB JPEG whose header claims 30000x30000',
        'compressed',
        _compressed('jpeg', lambda: _jpeg_claiming(30000, 30000)),
        'too_large',
        '900000000 pixels by its header',
    ),
    ImageCase(
        'compressed: PNG of 6000x6000 zeros (105 KB)',
        'compressed',
        _compressed('png', _png_bomb),
        'too_large',
        '6000x6000 = 36000000 pixels',
    ),
    ImageCase(
        'compressed: PNG header claiming 20000x20000',
        'compressed',
        _compressed('png', lambda: png_claiming(20000, 20000)),
        'too_large',
        '400000000 pixels by its header',
    ),
    ImageCase(
        'compressed: PNG header claiming 65000x65000',
        'compressed',
        _compressed('png', lambda: png_claiming(65000, 65000)),
        'too_large',
        '4225000000 pixels by its header',
    ),
    ImageCase(
        "compressed: PNG labelled 'jpeg'",
        'compressed',
        _compressed('jpeg', lambda: _png(BGR)),
        'segmented',
    ),
    ImageCase(
        'compressed: 16-bit PNG',
        'compressed',
        _compressed('png', lambda: _png(BGR.astype(np.uint16) * 257)),
        'segmented',
    ),
    ImageCase(
        'compressed: 4-channel PNG',
        'compressed',
        _compressed('png', lambda: _png(cv2.cvtColor(BGR, cv2.COLOR_BGR2BGRA))),
        'segmented',
    ),
    ImageCase(
        'compressed: grey JPEG',
        'compressed',
        _compressed('jpeg', lambda: _jpeg(cv2.cvtColor(BGR, cv2.COLOR_BGR2GRAY))),
        'segmented',
    ),
)


def decode_case(case: ImageCase, fields: dict | None = None):
    """Run a case through the decoder the node uses for its transport (with :data:`LIMIT`)."""
    from types import SimpleNamespace

    from lightseg_ros.inference.image_codec import decode_compressed_image, decode_image
    from lightseg_ros.ros.wire import read_message
    from lightseg_ros.sources.bags import COMPRESSED_TYPE, IMAGE_TYPE

    fields = fields if fields is not None else case.build()
    if isinstance(fields, bytes):  # read as the node reads what DDS delivers
        msg = read_message(
            fields, COMPRESSED_TYPE if case.transport == 'compressed' else IMAGE_TYPE
        )
    else:
        msg = SimpleNamespace(**fields)
    return (decode_compressed_image if case.transport == 'compressed' else decode_image)(
        msg, LIMIT
    )


# -- weights metadata -----------------------------------------------------------------------------


def meta_json(**changes) -> str:
    data = {
        'model': 'ghostnet_aspp_da',
        'num_classes': 3,
        'class_names': ['a', 'b', 'c'],
        'output_stride': 32,
    }
    data.update(changes)
    return json.dumps(data)


@dataclass(frozen=True)
class MetaCase:
    name: str
    text: str  # the 'lightseg' metadata entry
    words: str  # the error contains these (after the file name)


# the first five are the large-frame work's measured cases
META_CASES: tuple[MetaCase, ...] = (
    MetaCase('JSON list instead of an object', '[1, 2, 3]', 'must be a JSON object'),
    MetaCase(
        'num_classes -5, no names or colours',
        meta_json(num_classes=-5, class_names=[]),
        "'num_classes' must be in [1, 1024], got -5",
    ),
    MetaCase(
        '100,000 nested brackets', '[' * 100_000 + ']' * 100_000, 'nests deeper than 16 levels'
    ),
    MetaCase(
        'std [0, 0, 0]', meta_json(std=[0, 0, 0]), "'std[0]' must be in [0.001, 1000], got 0"
    ),
    MetaCase(
        'input_size [10^6, 10^6]',
        meta_json(input_size=[10**6, 10**6]),
        "'input_size[0]' must be in [16, 4096], got 1000000",
    ),
    MetaCase(
        "nesting 18 levels inside 'recipe'",
        meta_json(recipe={'x': [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}),
        'nests deeper than 16 levels',
    ),
    MetaCase(
        'metadata over 1 MB',
        meta_json(recipe={'pad': 'x' * 1_100_000}),
        'at most 1000000 are accepted',
    ),
    MetaCase(
        '2 names for 3 classes',
        meta_json(class_names=['a', 'b']),
        "'class_names' must have 3 entries (one per class: num_classes is 3), got 2",
    ),
    MetaCase(
        'a class name with a newline (a forged log line)',
        meta_json(class_names=['a\nTraceback (most recent call last):', 'b', 'c']),
        "'class_names[0]' must be printable text, got 'a\\nTraceback (most recent call last):' "
        '(character U+000A)',
    ),
    MetaCase(
        'a class name with a lone surrogate',
        meta_json(class_names=['\ud800', 'b', 'c']),
        "'class_names[0]' must be printable text",
    ),
    MetaCase(
        'a class name with a line separator (U+2028, a forged line to log viewers)',
        meta_json(class_names=['car\u2028[ERROR] forged', 'b', 'c']),
        "'class_names[0]' must be printable text",
    ),
    MetaCase(
        'a class name with a right-to-left override',
        meta_json(class_names=['\u202egnp.exe', 'b', 'c']),
        '(character U+202E)',
    ),
    MetaCase(
        'a mean of 400 digits',
        meta_json().replace(
            '"output_stride": 32', '"output_stride": 32, "mean": [1' + '0' * 400 + ', 0, 0]'
        ),
        "'mean[0]' must be a finite number",
    ),
    MetaCase(
        "a recipe's train_split of 600 parts (eval lists the dataset once per part)",
        meta_json(recipe={'train_split': 'train+' * 599 + 'train'}),
        "'recipe.train_split' is longer than 256 characters",
    ),
    MetaCase(
        "a recipe's train_split of 20 short parts",
        meta_json(recipe={'train_split': '+'.join(['a'] * 20)}),
        "'recipe.train_split' joins 20 splits; at most 16 are accepted",
    ),
    MetaCase(
        'a colour component 256',
        meta_json(colors=[[0, 0, 0], [1, 2, 3], [0, 0, 256]]),
        "'colors[2][2]' must be in [0, 255], got 256",
    ),
    MetaCase(
        'a colour with 2 components',
        meta_json(colors=[[0, 0], [1, 2, 3], [0, 0, 0]]),
        "'colors[0]' must have 3 entries [r, g, b], got 2",
    ),
    MetaCase(
        'mean NaN',
        meta_json().replace('"output_stride": 32', '"output_stride": 32, "mean": [NaN, 0, 0]'),
        "'mean[0]' must be a finite number",
    ),
    MetaCase(
        'num_classes as a string',
        meta_json(num_classes='3'),
        "'num_classes' must be an integer in [1, 1024], got '3'",
    ),
    MetaCase('num_classes true', meta_json(num_classes=True), "'num_classes' must be an integer"),
    MetaCase(
        'num_classes 5000',
        meta_json(num_classes=5000, class_names=[]),
        "'num_classes' must be in [1, 1024], got 5000",
    ),
    MetaCase(
        'a 5000-digit integer',
        '{"model": "ghostnet_aspp_da", "num_classes": ' + '9' * 5000 + '}',
        'not valid JSON',
    ),
    MetaCase('not JSON', '{not json', 'not valid JSON'),
    MetaCase(
        'input_size 4096x4096',
        meta_json(input_size=[4096, 4096]),
        "'input_size' 4096x4096 is more than 4194304 pixels",
    ),
    MetaCase(
        'input_size with one entry',
        meta_json(input_size=[64]),
        "'input_size' must have 2 entries [height, width] or null, got 1",
    ),
    MetaCase(
        'output_stride the model lacks',
        meta_json(output_stride=8),
        "'output_stride' must be one of [16, 32] for ghostnet_aspp_da, got 8",
    ),
    MetaCase(
        'model name as a list',
        meta_json(model=['ghostnet_aspp_da']),
        "'model' must be a non-empty string",
    ),
    MetaCase(
        'unregistered model',
        meta_json(model='segformer_b9'),
        "is for model 'segformer_b9', which is not registered",
    ),
    MetaCase(
        'an option holding an object',
        meta_json(model_options={'depth': {'a': 1}}),
        "'model_options.depth' must be a number, string, boolean or null",
    ),
    MetaCase(
        'an option the model lacks',
        meta_json(model_options={'no_such_switch': True}),
        "names 'no_such_switch', which ghostnet_aspp_da does not",
    ),
    MetaCase(
        'pretrained_backbone path as an option',
        meta_json(model_options={'pretrained_backbone': '/etc/passwd'}),
        "names 'pretrained_backbone'",
    ),
    MetaCase(
        'an option of the wrong type',
        meta_json(
            model='mlff_mobilenetv2',
            output_stride=16,
            model_options={'feature_enhancement': 'yes'},
        ),
        "'model_options.feature_enhancement' must be a bool, got 'yes'",
    ),
    MetaCase(
        'val_miou in percent', meta_json(val_miou=61.5), "'val_miou' must be in [0, 1], got 61.5"
    ),
    MetaCase(
        'a newer format_version',
        meta_json(format_version=7),
        "'format_version' must be in [1, 1], got 7",
    ),
    MetaCase('no model field', '{"num_classes": 3}', "no 'model' field"),
)


def craft(source, path, text: str):
    """Copy the weights file ``source`` with only its 'lightseg' metadata replaced by ``text``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), framework='pt') as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(path), metadata={'lightseg': text})
    return path


def small_weights(path):
    """Return a 3-class ghostnet_aspp_da weights file (random init)."""
    from lightseg_ros.models import build_model, save_weights, WeightsMeta

    return save_weights(
        path,
        build_model('ghostnet_aspp_da', num_classes=3),
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c']),
    )


# -- the README table -----------------------------------------------------------------------------


def short_video(path, frames: int, size: tuple[int, int]) -> int:
    """
    Write an MJPG AVI of ``frames`` street frames of ``size`` (w, h), cut at half its bytes.

    Its header still declares ``frames``; the index and the later frames are gone. Returns how
    many frames OpenCV still reads from it (checked to be some, and short of the count).
    """
    from lightseg_ros.sources import road_scene

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, size)
    for i in range(frames):
        writer.write(cv2.cvtColor(road_scene(*size, t=i * 0.2)[0], cv2.COLOR_RGB2BGR))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    video = cv2.VideoCapture(str(path))
    declared = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    read = 0
    while video.read()[0]:
        read += 1
    video.release()
    assert declared == frames and 0 < read < frames - 2, (declared, read)
    return read


# -- files: MCAP chunks, images whose header gives no size ----------------------------------------


def mcap_chunk(
    records: bytes, *, compression: str = '', uncompressed: int | None = None, crc: int = 0
) -> bytes:
    """
    Return an MCAP chunk record holding ``records`` (already compressed as ``compression`` says).

    ``uncompressed``: the size the chunk declares (default: ``len(records)``).
    """
    name = compression.encode()
    body = (
        struct.pack('<QQQI', 1, 2, len(records) if uncompressed is None else uncompressed, crc)
        + struct.pack('<I', len(name))
        + name
        + struct.pack('<Q', len(records))
        + records
    )
    return b'\x06' + struct.pack('<Q', len(body)) + body


def mcap_file(*records: bytes) -> bytes:
    """
    Return an MCAP file's data section: the magic, ``records``, then a DataEnd record.

    Enough for the chunk walk of ``sources.bags`` (it stops at DataEnd); no summary follows.
    """
    return b'\x89MCAP0\r\n' + b''.join(records) + b'\x0f' + struct.pack('<QI', 4, 0)


def zstd_zeros(size: int) -> bytes:
    """
    Return one zstd frame of ``size`` zero bytes that does not declare its size.

    Compressed a MiB at a time, so that building a bomb costs no more memory than reading one
    should; 256 MiB of zeros is about 8 KB.
    """
    try:
        from backports import zstd
    except ImportError:  # pragma: no cover - Python 3.14
        from compression import zstd

    compressor, block = zstd.ZstdCompressor(), bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    parts.append(compressor.compress(bytes(size & ((1 << 20) - 1))))
    return b''.join(parts) + compressor.flush()


def radiance_hdr(width: int, height: int) -> bytes:
    """
    Return a Radiance HDR (RGBE, run-length coded) image of one colour.

    Pillow cannot read its header; OpenCV decodes it (as float, whatever the file's suffix). Each
    row takes 20 bytes for up to 127 pixels: 1000x1000 is 165 KB and decodes to 12 MB of float.
    """
    head = f'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n'.encode()
    row = bytes([2, 2, width >> 8, width & 255])
    for channel in range(4):
        left = width
        while left > 0:
            run = min(127, left)
            row += bytes([128 + run, 100 if channel < 3 else 128])
            left -= run
    return head + row * height


def _cell(text: str, limit: int = 110) -> str:
    text = text.replace('|', '/')
    return text if len(text) <= limit else text[: limit - 3] + '...'


def failure_table() -> str:
    """Return the README's two failure tables (images, weights metadata), from every case."""
    from pathlib import Path
    import tempfile

    from lightseg_ros.inference.image_codec import ImageDecodeError
    from lightseg_ros.models.weights import weights_problem

    rows = ['| input | what the node does | warning (start) |', '|---|---|---|']
    for case in IMAGE_CASES:
        try:
            image = decode_case(case)
            rows.append(f'| {case.name} | segmented ({image.shape[1]}x{image.shape[0]} RGB) | |')
        except ImageDecodeError as exc:
            rows.append(f'| {case.name} | dropped (`{exc.kind}`) | {_cell(str(exc))} |')
    rows += ['', "| weights metadata | error (F = the file's path) |", '|---|---|']
    with tempfile.TemporaryDirectory() as tmp:
        source = small_weights(Path(tmp) / 'base.safetensors')
        for case in META_CASES:
            problem = weights_problem(craft(source, Path(tmp) / 'F', case.text)) or 'accepted'
            rows.append(f'| {case.name} | {_cell(problem.replace(str(Path(tmp) / "F"), "F"))} |')
    return '\n'.join(rows)


if __name__ == '__main__':
    print(failure_table())
