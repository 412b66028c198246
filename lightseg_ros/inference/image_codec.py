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
Conversions between ``sensor_msgs`` image messages and numpy arrays, as pure functions.

No rclpy import: functions take any object with the message's fields (duck typing), so they are
tested without a ROS graph, as cv_bridge's core is. Every malformed message raises
:class:`ImageDecodeError` whose ``kind`` names the problem (for per-kind throttled warnings).

Decoding (``sensor_msgs/Image`` -> RGB uint8, what the segmenter takes):

* ``rgb8`` is a zero-copy view of ``msg.data`` (row padding in ``step`` honoured through strides);
* ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``, ``yuv422``/``uyvy``, ``yuv422_yuy2``/``yuyv``,
  ``8UC3``/``8UC4`` (read as BGR/BGRA, what cv_bridge's passthrough gives an OpenCV array) and the
  8-bit Bayer mosaics (``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``, ``bayer_grbg8``,
  demosaiced) are converted by one OpenCV call from a zero-copy view;
* ``mono16`` (either endianness, ``is_bigendian`` honoured) keeps its high byte (``v >> 8``), i.e.
  the full 16-bit range maps linearly onto 0..255, then grey to RGB.

``sensor_msgs/CompressedImage`` (jpeg, png, and the other formats both Pillow and OpenCV read) ->
RGB uint8. The header's width and height are read first (Pillow, which parses headers without
decoding) and an image above ``max_pixels`` is refused before any pixel is decoded: a 30000x30000
PNG of one colour is a few hundred KB on the wire and 2.7 GB decoded.

Size limit: every decoder takes ``max_pixels`` (width x height; the node's ``max_input_pixels``,
default :data:`DEFAULT_MAX_INPUT_PIXELS`) and refuses larger images with kind ``too_large``.

Encoding (numpy -> Image fields) always uses ``arr.tobytes()``: assigning an ndarray or memoryview
to an rclpy message's ``data`` copies element by element (tens of ms for 640x480).
"""

from __future__ import annotations

import io
import re
import sys
from typing import Any
import warnings

import cv2
import numpy as np

__all__ = [
    'DEFAULT_MAX_INPUT_PIXELS',
    'ImageDecodeError',
    'check_size',
    'compressed_size',
    'SUPPORTED_ENCODINGS',
    'decode_image',
    'image_view',
    'declared_size',
    'jpeg_ends',
    'decode_compressed_image',
    'image_fields',
    'encode_image',
]


class ImageDecodeError(ValueError):
    """A message cannot be turned into an image; ``kind`` is a short key naming the problem."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# the longest encoding or format string quoted in full in an error (a message sets its length)
_MAX_QUOTED = 40


def _quoted(text: str) -> str:
    """Return ``repr(text)``, cut to its first ``_MAX_QUOTED`` characters if longer."""
    if len(text) <= _MAX_QUOTED:
        return repr(text)
    return f'{text[:_MAX_QUOTED]!r}... ({len(text)} characters)'


#: 4x a 3840x2160 (4K UHD) frame: 33.2 Mpix
DEFAULT_MAX_INPUT_PIXELS = 4 * 3840 * 2160


def check_size(width: int, height: int, max_pixels: int | None, what: str = 'image') -> None:
    """
    Refuse an image whose ``width * height`` exceeds ``max_pixels``.

    Raises :class:`ImageDecodeError` (kind ``too_large``).
    """
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(
            'too_large',
            f'{what} is {width}x{height} = {width * height} pixels, above max_input_pixels '
            f'{max_pixels}; dropped (raise max_input_pixels to accept it)',
        )


# encoding -> (bytes per pixel, numpy dtype of one channel, channels, cv2 conversion to RGB or
# None)
_LAYOUTS: dict[str, tuple[int, str, int, int | None]] = {
    'rgb8': (3, 'u1', 3, None),
    'bgr8': (3, 'u1', 3, cv2.COLOR_BGR2RGB),
    'rgba8': (4, 'u1', 4, cv2.COLOR_RGBA2RGB),
    'bgra8': (4, 'u1', 4, cv2.COLOR_BGRA2RGB),
    'mono8': (1, 'u1', 1, cv2.COLOR_GRAY2RGB),
    '8UC1': (1, 'u1', 1, cv2.COLOR_GRAY2RGB),
    'mono16': (2, 'u2', 1, cv2.COLOR_GRAY2RGB),
    '16UC1': (2, 'u2', 1, cv2.COLOR_GRAY2RGB),
    'yuv422': (2, 'u1', 2, cv2.COLOR_YUV2RGB_UYVY),  # ROS's yuv422 is UYVY byte order
    'uyvy': (2, 'u1', 2, cv2.COLOR_YUV2RGB_UYVY),
    'yuv422_yuy2': (2, 'u1', 2, cv2.COLOR_YUV2RGB_YUY2),
    'yuyv': (2, 'u1', 2, cv2.COLOR_YUV2RGB_YUY2),
    # cv_bridge's passthrough labels an OpenCV array 8UC3 / 8UC4, and OpenCV arrays are BGR(A)
    '8UC3': (3, 'u1', 3, cv2.COLOR_BGR2RGB),
    '8UC4': (4, 'u1', 4, cv2.COLOR_BGRA2RGB),
    # Bayer mosaics (the raw output of many machine-vision drivers). OpenCV names a pattern by the
    # second row's first two pixels, ROS by the first row's: ROS rggb is OpenCV's BG, and so on
    'bayer_rggb8': (1, 'u1', 1, cv2.COLOR_BayerBG2RGB),
    'bayer_bggr8': (1, 'u1', 1, cv2.COLOR_BayerRG2RGB),
    'bayer_gbrg8': (1, 'u1', 1, cv2.COLOR_BayerGR2RGB),
    'bayer_grbg8': (1, 'u1', 1, cv2.COLOR_BayerGB2RGB),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_LAYOUTS)


def _as_buffer(data: Any) -> Any:
    """
    Return the message's data as something numpy can view without copying.

    That is array.array, bytes, ...
    """
    if isinstance(data, (bytes, bytearray, memoryview, np.ndarray)):
        return data
    try:
        memoryview(data)
        return data
    except TypeError:  # a plain list of ints (hand-built messages)
        return np.asarray(data, dtype=np.uint8)


def image_view(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """
    Zero-copy (H, W[, C]) view of a ``sensor_msgs/Image``'s pixels in its own encoding.

    Validates size (against ``max_pixels`` too), encoding, ``step`` and data length; mono16 comes
    back as uint16 in native order only when the message's byte order is native (otherwise as a
    byte-swapped-dtype view).
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    encoding = str(msg.encoding)
    if height <= 0 or width <= 0:
        raise ImageDecodeError('zero_size', f'image has zero size ({width}x{height})')
    check_size(width, height, max_pixels)
    layout = _LAYOUTS.get(encoding)
    if layout is None:
        raise ImageDecodeError(
            'unknown_encoding',
            f'unsupported encoding {_quoted(encoding)}; supported: '
            f'{", ".join(SUPPORTED_ENCODINGS)}',
        )
    bpp, channel_type, channels, _ = layout
    if encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv') and width % 2:
        raise ImageDecodeError('bad_width', f'{encoding} needs an even width, got {width}')
    row_bytes = width * bpp
    if step < row_bytes:
        raise ImageDecodeError(
            'bad_step',
            f'step {step} is smaller than width*bytes_per_pixel = {width}*{bpp} = {row_bytes} '
            f'({encoding})',
        )
    buffer = _as_buffer(msg.data)
    size = buffer.nbytes if isinstance(buffer, (np.ndarray, memoryview)) else len(buffer)
    if size != step * height:
        problem = 'truncated' if size < step * height else 'oversized'
        raise ImageDecodeError(
            f'{problem}_data',
            f'data has {size} bytes, expected step*height = {step}*{height} = {step * height}',
        )
    if channel_type == 'u2':
        dtype = np.dtype('>u2' if msg.is_bigendian else '<u2')
        return np.ndarray((height, width), dtype=dtype, buffer=buffer, strides=(step, 2))
    if channels == 1:
        return np.ndarray((height, width), dtype=np.uint8, buffer=buffer, strides=(step, 1))
    return np.ndarray(
        (height, width, channels), dtype=np.uint8, buffer=buffer, strides=(step, channels, 1)
    )


def decode_image(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """
    Decode a ``sensor_msgs/Image`` to (H, W, 3) uint8 RGB.

    A zero-copy view for rgb8, else one conversion.
    """
    view = image_view(msg, max_pixels)
    conversion = _LAYOUTS[str(msg.encoding)][3]
    if view.dtype.itemsize == 2:  # mono16: high byte, native order
        view = (view >> 8).astype(np.uint8)
    if conversion is None:
        return view
    return cv2.cvtColor(view, conversion)


def declared_size(source: Any) -> tuple[int, int]:
    """
    Return (width, height) as an image's header declares it, decoding no pixel.

    ``source``: a path or a binary file object. Pillow reads only the header here (``Image.open``
    is lazy) and identifies the format by its content. Raises :class:`ImageDecodeError`:
    ``too_large`` above twice Pillow's own limit (179 Mpix), where Pillow gives no size (the
    message is the pixel count the header claims), ``unreadable_header`` where it cannot parse one.
    """
    from PIL import Image as PILImage

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # DecompressionBombWarning: callers apply their limit
            with PILImage.open(source) as header:
                return header.size
    except PILImage.DecompressionBombError as exc:
        claimed = re.search(r'\((\d+) pixels\)', str(exc))
        raise ImageDecodeError(
            'too_large', claimed.group(1) if claimed else 'over 179000000'
        ) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types for unreadable data
        # Pillow names an in-memory source by its repr ('<_io.BytesIO object at 0x7f...>'),
        # an address that differs on every frame and says nothing to the reader
        why = ' '.join(_OBJECT_REPR.sub('', str(exc)).split())
        raise ImageDecodeError('unreadable_header', why[:120]) from None


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>|'<[\w.]+ object at 0x[0-9a-fA-F]+>'")


def compressed_size(data: Any, fmt: str = '', max_pixels: int | None = None) -> tuple[int, int]:
    """
    Return (width, height) from a compressed image's header, without decoding any pixel.

    An image above ``max_pixels`` raises :class:`ImageDecodeError` (``too_large``). The format is
    identified by content (:func:`declared_size`), so a PNG labelled "jpeg" is measured as the PNG
    it is.
    """
    shown = _quoted(fmt)
    what = f'compressed image (format {shown})'
    try:
        width, height = declared_size(io.BytesIO(data))
    except ImageDecodeError as exc:
        if exc.kind == 'too_large':
            raise ImageDecodeError(
                'too_large',
                f'{what} is {exc} pixels by its header, above max_input_pixels {max_pixels}; '
                'dropped undecoded',
            ) from None
        raise ImageDecodeError(
            'corrupt_compressed',
            f'could not decode compressed image (format {shown}, {len(data)} bytes): corrupt or '
            f'not a format read here (jpeg, png, bmp, tiff, webp, ...): {exc}',
        ) from None
    if width <= 0 or height <= 0:
        raise ImageDecodeError('zero_size', f'{what} has zero size ({width}x{height})')
    check_size(width, height, max_pixels, what)
    return width, height


# Written here: OpenCV's libjpeg only prints a warning for a JPEG cut short and returns the image
# padded grey (UVC cameras' MJPEG streams deliver such frames), and Pillow, which raises for it,
# would decode every frame a second time; walking the markers is one pass of bytes.find.
def jpeg_ends(data: bytes) -> bool:
    """
    Return whether the JPEG stream ``data`` reaches its end-of-image marker (True: not a JPEG).

    Compressed data never holds 0xFF 0xD9 or 0xFF 0xDA (0xFF there is followed by 0x00 or a
    restart marker), so an end-of-image marker after the last start-of-scan marker means the
    last scan ended: two searches in C, microseconds per frame. Otherwise (a frame cut short, or
    bytes after the end that hold 0xFF 0xDA) the marker segments are walked, skipping each scan's
    compressed data, which took 0.2-0.5 ms for a 640x480 frame; bytes after the end-of-image
    marker are not looked at.
    """
    if not data.startswith(b'\xff\xd8'):
        return True
    if data.rfind(b'\xff\xd9') > data.rfind(b'\xff\xda'):
        return True
    pos, n = 2, len(data)
    while pos + 1 < n:
        if data[pos] != 0xFF:  # not where a marker belongs: the decoder decides
            return True
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            return True
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if pos + 4 > n:
            return False
        pos += 2 + (data[pos + 2] << 8 | data[pos + 3])
        if marker != 0xDA:  # start of scan: its entropy-coded data follows
            continue
        while True:
            pos = data.find(b'\xff', pos)
            if pos < 0 or pos + 1 >= n:
                return False
            follow = data[pos + 1]
            if follow == 0xFF:
                pos += 1
            elif follow == 0x00 or 0xD0 <= follow <= 0xD7:
                pos += 2
            else:
                break
    return False


def decode_compressed_image(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """
    ``sensor_msgs/CompressedImage`` (jpeg, png, ...) -> (H, W, 3) uint8 RGB.

    The header is read first and an image above ``max_pixels`` is refused undecoded; 16-bit,
    grey and 4-channel images come back as 8-bit RGB. Every failure is an
    :class:`ImageDecodeError`.
    """
    fmt = str(getattr(msg, 'format', '') or '')
    shown = _quoted(fmt)
    if 'compresseddepth' in fmt.lower():
        raise ImageDecodeError(
            'unsupported_format', f'compressedDepth images are not supported (format {shown})'
        )
    buffer = _as_buffer(msg.data)
    data = (
        np.frombuffer(buffer, dtype=np.uint8)
        if not isinstance(buffer, np.ndarray)
        else buffer.reshape(-1)
    )
    if data.size == 0:
        raise ImageDecodeError('empty_data', f'compressed image (format {shown}) has no data')
    compressed_size(data, fmt, max_pixels)
    if data.size > 1 and data[0] == 0xFF and data[1] == 0xD8 and not jpeg_ends(data.tobytes()):
        raise ImageDecodeError(
            'corrupt_compressed',
            f'compressed image (format {shown}, {data.size} bytes) is a truncated JPEG: it ends '
            'before its end-of-image marker (a camera frame cut short)',
        )
    try:
        # EXIF orientation ignored, as image_transport's compressed decoder ignores it: the mask
        # keeps the frame's width and height, which camera_info and other subscribers assume
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:  # OpenCV's own limits and decoder failures
        raise ImageDecodeError(
            'corrupt_compressed',
            f'could not decode compressed image (format {shown}, '
            f'{data.size} bytes): {str(exc).strip().splitlines()[-1][:160]}',
        ) from None
    if bgr is None or bgr.size == 0:
        raise ImageDecodeError(
            'corrupt_compressed',
            f'could not decode compressed image (format {shown}, {data.size} bytes): corrupt or '
            'not a format OpenCV reads (jpeg, png, ...)',
        )
    check_size(bgr.shape[1], bgr.shape[0], max_pixels, f'compressed image (format {shown})')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_fields(array: np.ndarray, encoding: str, *, data: bool = True) -> dict[str, Any]:
    """
    Return the fields of a ``sensor_msgs/Image`` holding ``array`` (mono8, rgb8, 32FC1, ...).

    The data is filled with ``tobytes()`` (left out with ``data=False``).
    ``msg.height, msg.width, ... = ...`` or
    ``for k, v in image_fields(a, e).items(): setattr(msg, k, v)``.
    """
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    return {
        'height': height,
        'width': width,
        'encoding': encoding,
        'is_bigendian': int(
            array.dtype.byteorder == '>'
            or (array.dtype.byteorder == '=' and sys.byteorder == 'big')
        ),
        'step': width * (array.itemsize * (array.shape[2] if array.ndim == 3 else 1)),
        **({'data': array.tobytes()} if data else {}),
    }


def _mosaic(rgb: np.ndarray, tile: str) -> np.ndarray:
    """Sample RGB through a Bayer colour filter: one channel per pixel, as the sensor sees it."""
    out = np.empty(rgb.shape[:2], np.uint8)
    for index, colour in enumerate(tile):
        row, col = divmod(index, 2)
        out[row::2, col::2] = rgb[row::2, col::2, 'RGB'.index(colour)]
    return out


def encode_image(
    rgb: np.ndarray, encoding: str, *, step: int | None = None, bigendian: bool = False
) -> dict[str, Any]:
    """
    Encode (H, W, 3) uint8 RGB as Image fields in ``encoding``.

    For sources and tests; any supported encoding.
    ``step`` larger than the row size pads each row with zeros; ``bigendian`` applies to mono16.
    mono16 stores ``grey * 257`` (so that decoding returns ``grey``).
    """
    if encoding not in _LAYOUTS:
        raise ValueError(
            f'unsupported encoding {encoding!r}; supported: {", ".join(SUPPORTED_ENCODINGS)}'
        )
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}')
    to_native = {
        'rgb8': None,
        'bgr8': cv2.COLOR_RGB2BGR,
        'rgba8': cv2.COLOR_RGB2RGBA,
        'bgra8': cv2.COLOR_RGB2BGRA,
        'mono8': cv2.COLOR_RGB2GRAY,
        '8UC1': cv2.COLOR_RGB2GRAY,
        'mono16': cv2.COLOR_RGB2GRAY,
        '16UC1': cv2.COLOR_RGB2GRAY,
        'yuv422': cv2.COLOR_RGB2YUV_UYVY,
        'uyvy': cv2.COLOR_RGB2YUV_UYVY,
        'yuv422_yuy2': cv2.COLOR_RGB2YUV_YUY2,
        'yuyv': cv2.COLOR_RGB2YUV_YUY2,
        '8UC3': cv2.COLOR_RGB2BGR,
        '8UC4': cv2.COLOR_RGB2BGRA,
    }
    if encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv') and rgb.shape[1] % 2:
        raise ValueError(f'{encoding} needs an even width')
    if encoding.startswith('bayer_'):  # the name spells the 2x2 tile, row-major: rggb
        native = _mosaic(rgb, encoding[len('bayer_'):-1].upper())
    elif to_native.get(encoding) is None:
        native = rgb
    else:
        native = cv2.cvtColor(rgb, to_native[encoding])
    if encoding in ('mono16', '16UC1'):
        native = (native.astype(np.uint16) * np.uint16(257)).astype(
            np.dtype('>u2' if bigendian else '<u2')
        )
    fields = image_fields(native, encoding)
    fields['is_bigendian'] = int(bigendian and native.itemsize == 2)
    if step is not None and step != fields['step']:
        if step < fields['step']:
            raise ValueError(f'step {step} < row size {fields["step"]}')
        rows = np.frombuffer(fields['data'], np.uint8).reshape(native.shape[0], fields['step'])
        padded = np.zeros((native.shape[0], step), np.uint8)
        padded[:, : fields['step']] = rows
        fields['step'], fields['data'] = step, padded.tobytes()
    return fields
