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
Where frames come from.

The built-in synthetic scene, a folder of images, a video file or a rosbag2.

``iter_frames(source)`` yields either RGB arrays (synthetic, folder, video) or :class:`BagFrame`
(a rosbag2 message's raw CDR bytes and its type, replayed unchanged: rclpy publishers accept
serialized bytes, so stamps and encodings are exactly those recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
import itertools
import os
from pathlib import Path
import re
from typing import Callable, Iterator

import cv2
import numpy as np

from .bags import COMPRESSED_TYPE, IMAGE_TYPE, shown_path
from .synthetic import road_scene

__all__ = [
    'BagFrame',
    'DeclaredTooLargeError',
    'FrameSourceError',
    'VideoInfo',
    'source_kind',
    'iter_frames',
    'image_files',
    'read_image',
    'opencv_path',
    'check_declared_size',
    'video_info',
    'video_frames',
    'short_video_line',
    'playback_rate',
    'DEFAULT_RATE_HZ',
    'IMAGE_SUFFIXES',
    'IMAGE_MSGTYPES',
]

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
IMAGE_MSGTYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
SYNTHETIC = 'synthetic'
DEFAULT_RATE_HZ = 10.0  # what a source with no rate of its own plays at


class FrameSourceError(ValueError):
    """The source does not exist, holds no frames, or cannot be read; the message says which."""


class DeclaredTooLargeError(FrameSourceError):
    """An image file whose header declares more pixels than accepted (nothing was decoded)."""


@dataclass
class BagFrame:
    data: bytes  # CDR-serialized message, as recorded
    msgtype: str  # "sensor_msgs/msg/Image" or "sensor_msgs/msg/CompressedImage"
    topic: str  # the topic it was recorded on


def source_kind(source: str) -> str:
    """``synthetic``, ``folder``, ``bag`` (rosbag2 folder, .mcap or .db3) or ``video``."""
    if source in ('', SYNTHETIC):
        return SYNTHETIC
    path = Path(source)
    accepted = "give 'synthetic', a folder of images, a video file or a rosbag2"
    try:
        if not path.exists():
            raise FrameSourceError(f'source {source!r} does not exist; {accepted}')
        if path.is_dir():
            return 'bag' if (path / 'metadata.yaml').is_file() else 'folder'
    except OSError as exc:  # a name too long, a folder on the way that cannot be searched
        raise FrameSourceError(
            f'source {source!r} cannot be read ({exc.strerror or type(exc).__name__}); {accepted}'
        ) from None
    if path.suffix.lower() in ('.mcap', '.db3'):
        return 'bag'
    return 'video'


def iter_frames(
    source: str = SYNTHETIC,
    *,
    width: int = 640,
    height: int = 480,
    loop: bool = True,
    bag_topic: str = '',
    fps: float = 10.0,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[np.ndarray | BagFrame]:
    """
    Frames of ``source`` (see module docstring); ``loop`` restarts finite sources at their end.

    ``width``/``height`` size the synthetic scene; files keep their own size. ``fps`` sets the
    synthetic scene's clock. In a folder, an image that cannot be read is passed over: ``on_skip``
    gets one line naming it, once however often the source loops (without it, the error is
    raised); a folder where none can be read raises :class:`FrameSourceError`. In a bag, so are a
    message that cannot be deserialized and the messages of a chunk whose CRC fails (one line for
    all such chunks). A video that ends well short of the frames it declares plays what it has;
    ``on_skip`` gets one line naming it.
    """
    kind = source_kind(source)
    if on_skip is not None:
        on_skip = _once_each(on_skip)  # a looped source meets its bad files again every pass
    if kind == SYNTHETIC:
        return (road_scene(width, height, t=i / fps)[0] for i in itertools.count())
    if kind == 'folder':
        files = image_files(source)
        if not files:
            raise FrameSourceError(
                f'folder {shown_path(source)} holds no images ({", ".join(IMAGE_SUFFIXES)})'
            )

        def again() -> Iterator[np.ndarray]:
            return _folder_frames(source, files, on_skip)

    elif kind == 'video':

        def again() -> Iterator[np.ndarray]:
            return video_frames(source, on_short=on_skip)

    else:
        checked: list = []  # the damaged chunks, found once (a pass over the whole bag)

        def again() -> Iterator[BagFrame]:
            return _bag_frames(source, bag_topic, on_skip, checked)

    return _looped(again(), again, loop)


def first_frame(source: str, *, bag_topic: str = '') -> None:
    """
    Read ``source``'s first frame; FrameSourceError when it has none that can be read.

    What a command checks before it starts anything slow (a node loading its model): a folder
    without a readable image, a video that cannot be opened, a bag without an image topic.
    """
    # a bag's damaged chunks are looked for only where a skip is reported: here its first
    # message is read, not the whole file (its player checks it all)
    on_skip = None if source_kind(source) == 'bag' else (lambda line: None)
    frames = iter_frames(
        source, width=16, height=16, loop=False, bag_topic=bag_topic, on_skip=on_skip
    )
    try:
        next(frames)
    except StopIteration:
        raise FrameSourceError(f'source {shown_path(source)} holds no frame') from None
    finally:
        close = getattr(frames, 'close', None)
        if close is not None:
            close()


# the most distinct skip lines remembered, so that memory stays bounded for any source
_MAX_REMEMBERED_SKIPS = 4096


def _once_each(report: Callable[[str], None]) -> Callable[[str], None]:
    """Wrap ``report`` so that each distinct line reaches it once (the first 4096 remembered)."""
    seen: set[str] = set()

    def once(line: str) -> None:
        if line in seen:
            return
        if len(seen) < _MAX_REMEMBERED_SKIPS:
            seen.add(line)
        report(line)

    return once


def _looped(first: Iterator, again, loop: bool) -> Iterator:
    yield from first
    while loop:
        yield from again()


def image_files(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """
    Return the image files (``IMAGE_SUFFIXES``, any case) in ``folder``, in natural order.

    With ``recursive``, below it too. Natural order puts ``frame_2`` before ``frame_10`` (a video
    dumped to numbered files plays in order) and ignores case. Hidden files (``.name``, such as
    the ``._IMG.JPG`` resource forks macOS leaves on shared drives) are not images.
    """
    root = Path(folder)
    found = root.rglob('*') if recursive else root.iterdir()
    return sorted(
        (
            p
            for p in found
            if p.suffix.lower() in IMAGE_SUFFIXES
            and not p.name.startswith('.')
            and p.is_file()
        ),
        key=_natural_key,
    )


def _natural_key(path: Path) -> list:
    """Sort key: the path's runs of digits as numbers, the rest case-folded."""
    return [
        (0, int(part), part) if part.isdecimal() else (1, part.casefold(), part)
        for part in re.split(r'([0-9]+)', str(path))
    ]


def opencv_path(path: str | Path) -> str:
    """
    Return ``path`` as OpenCV's functions take it; FrameSourceError when they cannot.

    OpenCV's Python binding encodes a name to UTF-8, and a name that is not valid UTF-8 (Python
    holds its bytes as lone surrogates) crashed the whole process in that encoding (SIGSEGV, no
    message), in imread, imwrite, haveImageReader and VideoCapture alike.
    """
    name = os.fspath(path)
    try:
        name.encode('utf-8')
    except UnicodeEncodeError:
        raise FrameSourceError(
            f'{shown_path(path)}: OpenCV cannot open a file whose name is not valid UTF-8; '
            'rename it'
        ) from None
    return name


def read_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """
    Read (H, W, 3) uint8 RGB from an image file.

    Grey, 16-bit, CMYK and alpha images are converted by OpenCV. The size the file's header
    declares is read first: an image above ``max_pixels`` (default: the node's
    ``max_input_pixels`` default, 4x a 4K frame), or one whose header gives no size, is refused
    undecoded, so a small file that claims a huge image costs nothing.
    """
    from ..inference.image_codec import DEFAULT_MAX_INPUT_PIXELS

    limit = DEFAULT_MAX_INPUT_PIXELS if max_pixels is None else int(max_pixels)
    name = opencv_path(path)
    check_declared_size(path, limit)
    try:
        bgr = cv2.imread(name, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV's own size limit, decoder failures
        reason = str(exc).strip().splitlines()[-1][:160]
        raise FrameSourceError(f'cannot read image {shown_path(path)}: {reason}') from None
    if bgr is None:
        raise FrameSourceError(_not_decoded(path))
    # Pillow and OpenCV each tell the format by content; where they disagree on a crafted file,
    # the decoded size is still bounded here
    if bgr.shape[0] * bgr.shape[1] > limit:
        raise FrameSourceError(
            f'image {shown_path(path)} is {bgr.shape[1]}x{bgr.shape[0]} pixels, above the '
            f'{limit} accepted'
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _not_decoded(path: str | Path) -> str:
    return f'cannot read image {shown_path(path)} (not an image OpenCV decodes, or corrupt)'


def check_declared_size(path: str | Path, limit: int) -> None:
    """
    Refuse (FrameSourceError) an image file whose header declares more than ``limit`` pixels.

    Nothing is decoded. A file whose header Pillow cannot read is refused too: its size is known
    only once decoded, and OpenCV decodes formats Pillow does not read (Radiance HDR, PFM) as
    float, whatever the file's suffix; a 9 MB HDR file named .png took 3 GB.
    """
    from ..inference.image_codec import declared_size, ImageDecodeError

    try:
        width, height = declared_size(path)
    except ImageDecodeError as exc:
        if exc.kind != 'too_large':
            if not _has_reader(path):  # not an image at all: said as the decoder would say it
                raise FrameSourceError(_not_decoded(path)) from None
            raise FrameSourceError(
                f'cannot read image {shown_path(path)}: its header gives no size to check '
                'before decoding (accepted: PNG, JPEG, BMP, TIFF, WebP and the other formats '
                'Pillow reads); not decoded'
            ) from None
        declared = f'{exc} pixels'
    else:
        if width * height <= limit:
            return
        declared = f'{width}x{height} = {width * height} pixels'
    raise DeclaredTooLargeError(
        f'image {shown_path(path)} declares {declared} in its header, above the {limit} '
        'accepted; not decoded'
    )


def _has_reader(path: str | Path) -> bool:
    """Return whether OpenCV has a decoder for the file's content (its first bytes only)."""
    try:
        return bool(cv2.haveImageReader(opencv_path(path)))
    except (cv2.error, FrameSourceError):
        return False


def _folder_frames(
    folder: str, files: list[Path], on_skip: Callable[[str], None] | None
) -> Iterator[np.ndarray]:
    read = 0
    for path in files:
        try:
            image = read_image(path)
        except FrameSourceError as exc:
            if on_skip is None:
                raise
            on_skip(f'skipped: {exc}')
            continue
        read += 1
        yield image
    if not read:
        raise FrameSourceError(f'no image in folder {shown_path(folder)} could be read')


@dataclass(frozen=True)
class VideoInfo:
    fps: float  # 0.0 where the container does not say
    # 0 where the container does not say (a count OpenCV estimates; reading may give fewer)
    frames: int
    width: int
    height: int


def _open_video(path: str | Path) -> cv2.VideoCapture:
    # FFmpeg prints its own lines for damaged streams ("[mjpeg @ 0x...] overread 8"), without the
    # file's name; a short video gets our one line instead (video_frames). OpenCV reads the level
    # when it opens its first video; a level the user set in the environment wins.
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')  # AV_LOG_QUIET
    capture = cv2.VideoCapture(opencv_path(path))
    if not capture.isOpened():
        raise FrameSourceError(
            f'cannot open video {shown_path(path)} (OpenCV reads mp4, avi, mkv, ...)'
        )
    return capture


def video_info(path: str | Path) -> VideoInfo:
    """
    Return the frame rate, frame count and size a video file declares.

    :class:`FrameSourceError` if OpenCV cannot open it.
    """
    capture = _open_video(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        return VideoInfo(
            fps=fps if fps > 0 and np.isfinite(fps) else 0.0,
            frames=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()


#: failed reads in a row after which a video is taken to have ended (a damaged frame fails one)
MAX_FAILED_READS_IN_A_ROW = 8


def short_video_line(path: str | Path, read: int, declared: int) -> str | None:
    """
    Word a video that ended before the frame count its container declares; None if it did not.

    Where the container gives no count (mkv, webm), OpenCV estimates one from duration and
    average rate, which can be high for a variable-rate stream: a shortfall of up to 2 frames or
    5% of the count is not reported. A cut-off copy loses far more.
    """
    missing = declared - read
    if declared <= 0 or missing <= max(2, declared // 20):
        return None
    return (
        f'video {shown_path(path)} ended after {read} of the {declared} frames it declares '
        '(truncated or damaged); the frames read were used'
    )


def video_frames(
    path: str | Path, on_short: Callable[[str], None] | None = None
) -> Iterator[np.ndarray]:
    """
    Yield the RGB frames of a video file (OpenCV).

    :class:`FrameSourceError` if it cannot be opened or has none. A video that ends well before
    the frame count it declares (truncated, a damaged stream) gives what it has and, with
    ``on_short``, one line naming it (:func:`short_video_line`).
    """
    capture = _open_video(path)
    try:
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        count = failed = run = 0  # frames read, frames passed over, failed reads in a row
        while True:
            ok, bgr = capture.read()
            if not ok:
                # one damaged frame fails one read and the next ones decode: read on while the
                # container declares more frames, up to a few failures in a row (the end, or a
                # stream damaged past saving); only failures a good frame follows were frames
                run += 1
                if run > MAX_FAILED_READS_IN_A_ROW or count + failed + run >= declared:
                    break
                continue
            failed, run = failed + run, 0
            count += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if count == 0:
            raise FrameSourceError(f'video {shown_path(path)} has no frames')
        if on_short is not None:
            if failed:
                on_short(
                    f'video {shown_path(path)}: {failed} of its frames could not be decoded '
                    '(damaged) and were passed over'
                )
            line = short_video_line(path, count + failed, declared)
            if line:
                on_short(line)
    finally:
        capture.release()


def playback_rate(source: str, rate_hz: float, bag_topic: str = '') -> tuple[float, str]:
    """
    Return the rate to play ``source`` at, and words saying where that rate comes from.

    ``rate_hz`` > 0 is used as given. 0 asks for the source's own rate: the frame rate a video
    declares, or a bag's average rate on its image topic (``bag_topic``, else its first): its
    messages over the bag's whole recorded span, every topic's (the index gives no per-topic
    span without reading the messages), so a camera that starts late beside other topics plays
    slower than it recorded; give ``rate_hz`` then. A source without one (the synthetic scene, a
    folder, a video or bag that does not say, or says a rate outside 0.1-1000 Hz) plays at 10 Hz,
    and the words say so.
    :class:`FrameSourceError` where the source cannot be opened.
    """
    if rate_hz > 0:
        return rate_hz, f'{rate_hz:g} Hz'
    kind = source_kind(source)
    own = 0.0
    if kind == 'video':
        own, what = video_info(source).fps, 'the video declares'
    elif kind == 'bag':
        own, what = _bag_rate(source, bag_topic), 'its average rate in the bag'
    if 0.1 <= own <= 1000.0:  # the range rate_hz accepts; a damaged header can say anything
        return own, f'{own:g} Hz ({what})'
    return DEFAULT_RATE_HZ, f'{DEFAULT_RATE_HZ:g} Hz (the {kind} source has no rate of its own)'


def _image_topic(reader, bag_topic: str) -> tuple[str, list[str]]:
    """Return the topic to play (``bag_topic``, else the bag's first image topic) and them all."""
    images = [c.topic for c in reader.connections if c.msgtype in IMAGE_MSGTYPES]
    return bag_topic or (images[0] if images else ''), images


def _bag_rate(path: str, bag_topic: str) -> float:
    from .bags import BagError, open_bag, topic_count

    try:
        with open_bag(path) as reader:
            topic, _ = _image_topic(reader, bag_topic)
            count, span_ns = topic_count(reader, topic), reader.duration
    except BagError as exc:
        raise FrameSourceError(str(exc)) from None
    return (count - 1) / (span_ns * 1e-9) if count > 1 and span_ns > 0 else 0.0


def _bag_frames(
    path: str,
    bag_topic: str = '',
    on_skip: Callable[[str], None] | None = None,
    checked: list | None = None,
) -> Iterator[BagFrame]:
    """
    Yield the recorded CDR bytes of one image topic.

    The topic is ``bag_topic``, else the bag's first image topic. With ``on_skip``, messages that
    cannot be deserialized or lie in a damaged chunk are reported to it and passed over;
    ``checked`` keeps the damaged chunks across loops (found and reported on the first).
    """
    from .bags import BagError, damaged_chunks, open_bag, read_topic

    read = 0
    try:
        if checked:
            damaged = checked[0]
        else:
            damaged = damaged_chunks(path) if on_skip else []
            if checked is not None:
                checked.append(damaged)
            if damaged:
                first = damaged[0]
                on_skip(
                    f'skipped: {len(damaged)} chunks of bag {shown_path(path)} fail their CRC or '
                    f'size check (the first, in {shown_path(first.file)} at byte {first.offset}: '
                    f'{first.reason}); their messages are not read'
                )
        with open_bag(path) as reader:
            topic, images = _image_topic(reader, bag_topic)
            if topic not in images:
                available = sorted(
                    {shown_path(f'{c.topic} ({c.msgtype})') for c in reader.connections}
                )
                raise FrameSourceError(
                    f'bag {shown_path(path)} has no image topic {bag_topic!r}; it holds: '
                    f'{", ".join(available)}'
                )
            for message in read_topic(
                reader,
                topic,
                skip=damaged,
                on_malformed=on_skip and (lambda why: on_skip(f'skipped: {topic}: {why}')),
            ):
                read += 1
                yield BagFrame(message.raw, message.msgtype, message.topic)
    except BagError as exc:
        raise FrameSourceError(str(exc)) from None
    if not read:
        raise FrameSourceError(f'no message of bag {shown_path(path)} could be read')
