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
Segment files: images, folders of images, globs and videos in; masks, overlays, a summary out.

Label PNGs, colour masks, overlays (an overlay video per video) and a JSON summary are written.
The core of ``lightseg predict``, free of rclpy.

Every frame goes through what ``segment_node`` runs on a camera frame: the same weights setting
(:func:`~lightseg_ros.models.resolve_weights`), :meth:`Segmenter.segment`, then :func:`colorize`
and :func:`overlay` with the segmenter's palette, so a file gives the node's mask, colour mask and
overlay.

Output layout under the output folder (``name`` is the input's path relative to the deepest folder
common to all inputs, without its suffix; sub-folders of folder inputs are kept, so names do not
collide; inputs whose names would still collide, ``x.png`` next to ``x.jpg``, keep their suffix):

* ``label/NAME.png``: class id per pixel (uint8, one channel), at the image's resolution;
* ``color/NAME.png``: the mask in the class colours; ``overlay/NAME.png``: the colours blended over
  the image;
* a video ``NAME.mp4``/``.avi``/...: ``overlay/NAME.mp4`` (mp4v, the input's frame rate) and, only
  with ``video_frames``, ``label/NAME/000000.png`` and ``color/NAME/000000.png`` per frame;
* ``summary.json``: frames, per-frame latency, class pixel shares, skipped inputs and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
import glob
import json
import os
from pathlib import Path, PurePosixPath
import stat
import time

import cv2
import numpy as np

from .image_codec import ImageDecodeError, jpeg_ends
from .segmenter import build_segmenter, Segmenter
from .visualize import colorize, overlay, palette_lut
from ..models.shipped import RANDOM
from ..sources.bags import shown_path
from ..sources.frames import (
    FrameSourceError,
    image_files,
    IMAGE_SUFFIXES,
    opencv_path,
    read_image,
    video_frames,
    video_info,
)
from ..stats import percentile

__all__ = [
    'OUTPUT_KINDS',
    'PredictInput',
    'Skipped',
    'build_segmenter',
    'collect_inputs',
    'count_frames',
    'predict',
]

OUTPUT_KINDS = ('label', 'color', 'overlay')
VIDEO_FOURCC = (
    'mp4v'  # in every OpenCV build (no system codecs needed); players and browsers read it
)
FALLBACK_FPS = 30.0  # for containers that do not say their frame rate


@dataclass(frozen=True)
class PredictInput:
    path: Path
    kind: str  # "image" or "video"
    name: str  # output name below each output folder, without suffix (posix, may hold sub-folders)


@dataclass(frozen=True)
class Skipped:
    input: str  # noqa: A003 (the summary.json key)
    problem: str  # one line that names the file


def _glob_root(pattern: str) -> Path:
    """Return the folder a glob pattern starts from: its leading parts without wildcards."""
    parts = Path(pattern).parts
    fixed = parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]
    return Path(*fixed) if fixed else Path('.')


def _expand(spec: str) -> tuple[list[tuple[Path, Path]], str | None]:
    """(file, root) pairs an input names, or a problem. Folders give their images, recursively."""
    path = Path(spec).expanduser()
    shown = shown_path(spec)
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError:  # a name too long, a folder on the way that cannot be searched
        return [], f'{shown} {_not_a_file(path)}'
    if is_dir:
        files = image_files(path, recursive=True)
        if not files:
            return [], f'folder {shown} holds no images ({", ".join(IMAGE_SUFFIXES)})'
        return [(f, path) for f in files], None
    if is_file:
        return [(path, path.parent)], None
    if glob.has_magic(spec):
        root = _glob_root(str(path))
        pairs = []
        for match in sorted(glob.glob(str(path), recursive=True)):
            found = Path(match)
            if found.is_dir():
                pairs += [(f, root) for f in image_files(found, recursive=True)]
            elif found.is_file():
                pairs.append((found, root))
        return pairs, None if pairs else f'{shown} matches no files'
    return [], f'{shown} {_not_a_file(path)}'


def _not_a_file(path: Path) -> str:
    """Say why a path that is neither a folder nor a regular file cannot be read."""
    try:
        mode = path.stat().st_mode  # follows links: a loop or a dangling one raises
    except FileNotFoundError:
        if path.is_symlink():
            return f'is a link to {shown_path(os.readlink(path))}, which does not exist'
        return 'does not exist'
    except OSError as exc:  # a loop of links (ELOOP), a name too long, no permission
        return f'cannot be read ({exc.strerror or type(exc).__name__})'
    kind = (
        'a named pipe (FIFO)'
        if stat.S_ISFIFO(mode)
        else 'a socket'
        if stat.S_ISSOCK(mode)
        else 'a device'
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else 'not a regular file'
    )
    return f'is {kind}, not an image, video or folder'


def collect_inputs(
    specs: Sequence[str], *, exclude: str | Path | None = None
) -> tuple[list[PredictInput], list[Skipped]]:
    """
    Expand inputs (image files, folders, globs, video files) to files, each with a unique name.

    The files come in order, each with a unique output name.
    A file with an image suffix is an image; any other file is tried as a video (OpenCV decides
    when it is read). Folders contribute their images only. A file named twice is taken once.
    Files below ``exclude`` (the output folder) are left out, so that an output folder inside an
    input folder is not segmented again on the next run.
    """
    excluded = os.path.join(os.path.realpath(exclude), '') if exclude is not None else None
    pairs: list[tuple[Path, Path]] = []
    skipped: list[Skipped] = []
    for spec in specs:
        found, problem = _expand(spec)
        if problem:
            skipped.append(Skipped(spec, problem))
        pairs += found
    seen: set[str] = set()
    unique = []
    inside_out = 0
    for file, root in pairs:
        key = os.path.realpath(file)
        if excluded and key.startswith(excluded):
            inside_out += 1
        elif key not in seen:
            seen.add(key)
            unique.append((Path(os.path.abspath(file)), Path(os.path.abspath(root))))
    if inside_out:  # said, not dropped in silence: `--out` may name the input folder itself
        skipped.append(
            Skipped(
                str(exclude),
                f'{inside_out} input file(s) inside the output folder {shown_path(exclude)} '
                '(--out) left out',
            )
        )
    if not unique:
        return [], skipped
    common = Path(os.path.commonpath([str(root) for _, root in unique]))
    rel = [PurePosixPath(file.relative_to(common).as_posix()) for file, _ in unique]
    # a video's frame folder must not be one
    folders = {str(parent) for r in rel for parent in r.parents}
    inputs = [
        PredictInput(
            file,
            'image' if file.suffix.lower() in IMAGE_SUFFIXES else 'video',
            str(r.with_suffix('')),
        )
        for (file, _), r in zip(unique, rel)
    ]
    # names that would meet keep their suffix (x.jpg and x.png stay apart); a kept suffix can in
    # turn meet another file's stem (x.png and x.png.jpg both 'x.png'), and a video's frame folder
    # an image's file (y.png.mp4's label/y.png/ and y.png's label/y.png): repeated until none do,
    # each pass giving at least one input its whole relative name, which is unique
    while True:
        taken = Counter(i.name for i in inputs)
        files = {i.name + '.png' for i in inputs if i.kind == 'image'}
        clash = [
            k
            for k, i in enumerate(inputs)
            if i.name != str(rel[k])
            and (taken[i.name] > 1 or i.kind == 'video' and (i.name in folders or i.name in files))
        ]
        if not clash:
            return inputs, skipped
        for k in clash:
            inputs[k] = PredictInput(inputs[k].path, inputs[k].kind, str(rel[k]))


def count_frames(inputs: Sequence[PredictInput]) -> int | None:
    """Frames the inputs hold (for a progress bar); None when a video does not say how many."""
    total = 0
    for item in inputs:
        if item.kind == 'image':
            total += 1
            continue
        try:
            frames = video_info(item.path).frames
        except FrameSourceError:
            continue  # reported when it is read
        if frames <= 0:
            return None
        total += frames
    return total


JPEG_CHECK_BYTES = 256 << 20  # larger files are left to the decoder


def check_jpeg_complete(path: str | Path) -> None:
    """Raise FrameSourceError for a JPEG file cut short (libjpeg warns and pads it grey)."""
    try:
        with open(path, 'rb') as f:
            if f.read(2) != b'\xff\xd8' or os.fstat(f.fileno()).st_size > JPEG_CHECK_BYTES:
                return
            data = b'\xff\xd8' + f.read()
    except OSError:
        return  # the reader reports a file it cannot open
    if not jpeg_ends(data):
        raise FrameSourceError(
            f'cannot read image {shown_path(path)}: truncated JPEG (the file ends before its '
            'end-of-image marker)'
        )


def _output_name(path: Path) -> str:
    """Return an output path as OpenCV takes it; OSError (a file not written) when it cannot."""
    try:
        return opencv_path(path)
    except FrameSourceError as exc:
        raise OSError(str(exc)) from None


def _partial(path: Path) -> Path:
    """
    Return the name a file is written under until it is whole (same folder, same suffix).

    One name a folder and process (a run writes one file at a time), and no longer than a short
    output name: a name the filesystem takes is not refused for its temporary one.
    """
    return path.with_name(f'.lightseg-partial-{os.getpid()}{path.suffix}')


def _write_whole(path: Path, data: bytes) -> None:
    """
    Write ``data`` under a temporary name, then rename it to ``path``.

    A run stopped midway (Ctrl-C, a full disk) leaves no cut file under a final name. OSError,
    with the system's reason and the path, when it cannot be written.
    """
    tmp = _partial(path)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        # named by the file asked for: the temporary name means nothing to the user, and a
        # full disk fails in write or close, where Python's error names no file at all
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write(path: Path, image: np.ndarray) -> None:
    """PNG via OpenCV (RGB -> BGR; one channel as is); OSError when it cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    # encoded in memory and written by Python: cv2.imwrite says only False, never why
    ok, png = cv2.imencode('.png', data)
    if not ok:
        raise OSError(f'cannot encode {shown_path(path)} as PNG')
    _write_whole(path, png.tobytes())


class _Run:
    """
    One predict run: segments frames, writes what is asked for, keeps the figures.

    The figures go to the summary.
    """

    def __init__(
        self, segmenter: Segmenter, out_dir: Path, outputs: Sequence[str], alpha: float
    ) -> None:
        self.segmenter, self.out_dir, self.outputs, self.alpha = (
            segmenter,
            out_dir,
            set(outputs),
            alpha,
        )
        self.lut = palette_lut(segmenter.palette)
        self.latencies: list[float] = []
        self.pixels = np.zeros(256, np.int64)
        self.written = Counter(dict.fromkeys(OUTPUT_KINDS, 0))  # files per output folder

    def write(self, kind: str, name: str, image: np.ndarray) -> None:
        _write(self.out_dir / kind / f'{name}.png', image)
        self.written[kind] += 1

    def segment(self, image: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        mask = self.segmenter.segment(image).mask
        self.latencies.append(time.perf_counter() - start)
        self.pixels += np.bincount(mask.ravel(), minlength=256)
        return mask

    def views(self, image: np.ndarray, mask: np.ndarray, kinds: set[str]) -> dict[str, np.ndarray]:
        """
        Return the node's outputs for one frame: mask, colours, overlay.

        As segment_node._publish_outputs makes them.
        """
        views = {'label': mask} if 'label' in kinds else {}
        if 'color' in kinds or 'overlay' in kinds:
            colors = colorize(mask, self.lut)
            if 'color' in kinds:
                views['color'] = colors
            if 'overlay' in kinds:
                views['overlay'] = overlay(image, mask, self.lut, self.alpha, color_mask=colors)
        return views

    def image(self, item: PredictInput) -> None:
        check_jpeg_complete(item.path)  # before libjpeg, which warns and decodes it padded grey
        image = read_image(item.path, self.segmenter.max_input_pixels)
        mask = self.segment(image)
        for kind, view in self.views(image, mask, self.outputs).items():
            self.write(kind, item.name, view)

    def check_frame_size(self, item: PredictInput, width: int, height: int, what: str) -> None:
        """
        Refuse a video whose frames are above the segmenter's ``max_input_pixels``, naming it.

        The segmenter's own refusal names neither the file nor a setting predict has.
        """
        limit = self.segmenter.max_input_pixels
        if limit is not None and width * height > limit:
            raise FrameSourceError(
                f'video {shown_path(item.path)} {what} {width}x{height} = {width * height} '
                f'pixels a frame, above the {limit} accepted; not segmented'
            )

    def video(
        self, item: PredictInput, video_frames_too: bool, progress: Callable[[int], None]
    ) -> dict:
        info = video_info(item.path)
        # a damaged or odd header can declare anything (100000 fps, NaN): the writer refuses a
        # rate above 65535, and that ended the whole run as an output error; 0.1-1000 Hz is kept
        fps = info.fps if 0.1 <= info.fps <= 1000.0 else FALLBACK_FPS
        target = self.out_dir / 'overlay' / f'{item.name}.mp4'
        # written under a temporary name and renamed when whole: a stopped run left a playable
        # cut video under the final name
        partial = _partial(target)
        per_frame = (self.outputs - {'overlay'}) if video_frames_too else set()
        wanted = per_frame | ({'overlay'} if 'overlay' in self.outputs else set())
        writer = None
        frames = 0
        short: list[str] = []  # the line for a video that ends before the count it declares
        try:
            # refused by the size it declares, before a frame is decoded: a 6000x6000 MJPG costs
            # 108 MB a frame
            self.check_frame_size(item, info.width, info.height, 'is')
            for image in video_frames(item.path, on_short=short.append):
                # a container that gives no size, or another than its frames have
                self.check_frame_size(item, image.shape[1], image.shape[0], 'has a frame of')
                mask = self.segment(image)
                views = self.views(image, mask, wanted)
                if 'overlay' in views:
                    # opened at the first frame, so a video that cannot be read leaves no file
                    if writer is None:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        writer = cv2.VideoWriter(
                            _output_name(partial),
                            cv2.VideoWriter_fourcc(*VIDEO_FOURCC),
                            fps,
                            (image.shape[1], image.shape[0]),
                        )
                        if not writer.isOpened():
                            raise OSError(f'cannot write video {shown_path(target)}')
                    writer.write(cv2.cvtColor(views['overlay'], cv2.COLOR_RGB2BGR))
                for kind in per_frame:
                    self.write(kind, f'{item.name}/{frames:06d}', views[kind])
                frames += 1
                progress(1)
        except BaseException:
            if writer is not None:
                writer.release()
                partial.unlink(missing_ok=True)
            raise
        finally:
            if info.frames > frames:  # the bar counted what it declares: end it at its total
                progress(info.frames - frames)
        if writer is not None:
            writer.release()
            os.replace(partial, target)
            self.written['overlay'] += 1
        return {
            'input': str(item.path),
            'frames': frames,
            'declared_frames': info.frames,  # 0 where the container does not say
            'fps': fps,
            'overlay': str(target) if writer is not None else None,
            'problem': short[0] if short else None,
        }


def _percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {'p50': None, 'p99': None, 'mean': None, 'max': None}
    ms = np.asarray(seconds) * 1e3
    return {
        'p50': percentile(ms, 50, 2),
        'p99': percentile(ms, 99, 2),  # None under 100 frames (lightseg_ros.stats)
        'mean': round(float(ms.mean()), 2),
        'max': round(float(ms.max()), 2),
    }


def predict(
    inputs: Sequence[PredictInput],
    segmenter: Segmenter,
    out_dir: str | Path,
    *,
    outputs: Sequence[str] = OUTPUT_KINDS,
    alpha: float = 0.5,
    video_frames: bool = False,
    skipped: Sequence[Skipped] = (),
    progress: Callable[[int], None] = lambda n: None,
    report: Callable[[Skipped], None] = lambda s: None,
    warn: Callable[[str], None] = lambda line: None,
) -> dict:
    """
    Segment every input and write the outputs asked for (module docstring) and ``summary.json``.

    A file that cannot be read is reported through ``report``, listed in the summary and skipped;
    the run goes on. A video that ends well short of the frames it declares is segmented as far
    as it reads, and ``warn`` gets one line naming it (kept as the video's ``problem`` in the
    summary). OSError only when an output cannot be written. Returns the summary.
    """
    unknown = sorted(set(outputs) - set(OUTPUT_KINDS))
    if unknown:
        raise ValueError(f'unknown outputs {unknown}; accepted: {", ".join(OUTPUT_KINDS)}')
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # an earlier run's summary would stand beside this run's outputs if this one is stopped
    (out / 'summary.json').unlink(missing_ok=True)
    run = _Run(segmenter, out, outputs, alpha)
    problems = list(skipped)
    images, videos = 0, []
    started = time.perf_counter()
    for item in inputs:
        try:
            if item.kind == 'image':
                run.image(item)
                images += 1
            else:
                videos.append(run.video(item, video_frames, progress))
                if videos[-1]['problem']:
                    warn(videos[-1]['problem'])
        except FrameSourceError as exc:  # one line each, naming the file; skipped
            problems.append(Skipped(str(item.path), str(exc)))
            report(problems[-1])
        except ImageDecodeError as exc:  # the decoder's words do not name the file
            problems.append(Skipped(str(item.path), f'{item.kind} {shown_path(item.path)}: {exc}'))
            report(problems[-1])
        finally:
            if item.kind == 'image':  # a video advances per frame
                progress(1)
    wall = time.perf_counter() - started
    frames = len(run.latencies)
    total = int(run.pixels.sum())
    names = segmenter.class_names or [f'class_{i}' for i in range(segmenter.meta.num_classes)]
    summary = {
        'frames': frames,
        'images': images,
        'videos': videos,
        'skipped': [{'input': s.input, 'problem': s.problem} for s in problems],
        'latency_ms': {
            'what': 'Segmenter.segment per frame (pre-processing, network, argmax, mask to host; '
            'not file reading or writing), first frame included',
            **_percentiles(run.latencies),
        },
        'files_written': dict(run.written),  # per output folder; a video's overlay is one file
        'wall_s': round(wall, 3),
        'class_pixel_share': {
            n: round(float(run.pixels[i]) / total, 6) if total else 0.0
            for i, n in enumerate(names)
        },
        'model': segmenter.model_name,
        'weights': segmenter.weights_path or RANDOM,
        'random_weights': segmenter.random_weights,
        'backend': segmenter.backend.description,
        'device': str(segmenter.device),
        'input_size': list(segmenter.input_size) if segmenter.input_size else None,
        'resize': segmenter.resize,
        'outputs': [k for k in OUTPUT_KINDS if k in outputs],
        'alpha': alpha,
        'video_frames': video_frames,
        'out': str(out.resolve()),
    }
    _write_whole(out / 'summary.json', (json.dumps(summary, indent=2) + '\n').encode())
    return summary
