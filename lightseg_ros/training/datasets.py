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
Segmentation datasets for training and evaluation.

PASCAL VOC 2012 (and the SBD-augmented set), CamVid, Cityscapes, and a generic folder layout for
your own data.

Each dataset yields ``(image, mask)``: a float (3, H, W) tensor after its transform (or a uint8
``tv_tensors.Image`` without one) and an int64 (H, W) label map. Each knows its ``class_names``,
``colors`` (RGB) and ``ignore_index``. Missing files, image/mask size mismatches and label values
out of range raise :class:`DatasetError` naming the file, as do images or masks whose header
claims more than :data:`MAX_PIXELS` (``lightseg predict``'s limit; refused before decoding).
16-bit grey images keep their high byte, as ``lightseg predict`` and the node read them; images of
32-bit or floating-point pixels are refused. An image's EXIF orientation is applied, as OpenCV
applies it for ``lightseg predict`` and the node, and its mask must match the image shown upright
(masks are label maps, never rotated). :meth:`SegmentationDataset.check` finds all of these, and
JPEG files cut short, before a run's first epoch.

Layouts (``root`` is what ``data.root`` / ``--data`` points at):

* ``voc``: ``JPEGImages/NAME.jpg``, ``SegmentationClass/NAME.png`` (palette PNG, 255 = ignore),
  ``ImageSets/Segmentation/{train,val}.txt``. The SBD-augmented set:
  ``SegmentationClassAug/NAME.png`` with a split list such as
  ``ImageSets/Segmentation/train_aug.txt`` (or ``ROOT/train_aug.txt``); a split whose name contains
  ``aug`` reads ``SegmentationClassAug`` (``data.mask_dir`` overrides). ``root`` may also be the
  ``VOCdevkit`` folder above ``VOC2012``.
* ``camvid``: ``{split}/NAME.png`` with ``{split}annot/NAME.png`` (class index, 11 = ignore) and
  an optional ``{split}.txt`` listing the names (SegNet's preparation). Splits combine and select
  drives: ``train+val``, ``train+val[0006R0]``, ``train+val[-0006R0]`` (see :class:`CamVid`).
* ``cityscapes``: ``leftImg8bit/{split}/CITY/X_leftImg8bit.png`` with
  ``gtFine/{split}/CITY/X_gtFine_labelTrainIds.png`` (19 classes, 255 = ignore; made by
  cityscapesscripts' ``createTrainIdLabelImgs``).
* ``folder`` (your own data): ``images/`` and ``masks/`` (mask = image stem + ``.png``), each
  either flat with a ``{split}.txt`` listing stems, or with ``{split}/`` sub-folders; and a classes
  file, ``classes.yaml`` (``classes: [{name: road, color: [128, 64, 128]}, ...]``, optional
  ``ignore_index``, default 255; no other key) or ``classes.txt`` (one class a line:
  ``name R G B``). Names and colours are unique, and a name is text a weights file stores (at
  most 256 printable characters). Masks are single-channel class indices, or RGB images in the
  classes' colours.
"""

from __future__ import annotations

from collections import Counter
import os
from pathlib import Path
import re
from typing import Any, Callable, Sequence
import warnings

import numpy as np
from PIL import Image
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
import yaml

from .config import load_yaml, read_small_text
from ..classes import (
    CAMVID_CLASSES,
    CAMVID_COLORS,
    CITYSCAPES_CLASSES,
    CITYSCAPES_COLORS,
    colors_to_ids,
    default_palette,
    VOC_CLASSES,
)
from ..inference.image_codec import DEFAULT_MAX_INPUT_PIXELS, jpeg_ends
from ..messages import shown_value
from ..models.weights import LIMITS, text_problem

__all__ = [
    'DatasetError',
    'SegmentationDataset',
    'VOCSegmentation',
    'CamVid',
    'Cityscapes',
    'FolderDataset',
    'DATASETS',
    'build_dataset',
    'seen_in_training',
    'shared_images',
    'read_classes_file',
    'camvid_drive',
    'parse_split',
]

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class DatasetError(ValueError):
    """A dataset file is missing or inconsistent; the message names the file."""


# what Pillow raises for a file it cannot read (a decompression bomb is not an OSError)
UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
# the most pixels a dataset image or mask may have, read from its header before decoding: the
# limit `lightseg predict` applies (4x a 4K frame), far below Pillow's decompression-bomb limit
MAX_PIXELS = DEFAULT_MAX_INPUT_PIXELS
# a classes file is a short list (at most LIMITS.num_classes classes): larger files are refused
MAX_CLASSES_FILE_BYTES = 1_000_000
# the keys a classes.yaml holds, at its top and in each class
CLASSES_YAML_KEYS = ('classes', 'ignore_index')
CLASS_KEYS = ('name', 'color')
# the end of a JPEG file read to find its end-of-image marker; a file whose tail holds none (cut
# short, or bytes appended after the marker) is read whole, up to JPEG_CHECK_BYTES (as predict)
JPEG_TAIL_BYTES = 4096
JPEG_CHECK_BYTES = 256 << 20
# EXIF Orientation values 2-8 and the transpose of an (H, W, ...) array that shows the image
# upright, as OpenCV (`lightseg predict`, the node, the demo) and PIL.ImageOps.exif_transpose
# apply them; 5-8 swap width and height
EXIF_ORIENTATION = 0x0112
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
# the most bytes of a PNG's eXIf chunk read (EXIF in a JPEG is at most 64 KiB)
MAX_EXIF_BYTES = 1 << 20
Transform = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[torch.Tensor, torch.Tensor]]


class SegmentationDataset(Dataset):
    """
    Pairs of (image file, mask file) with the dataset's classes.

    ``dataset[i]`` loads sample ``i``; ``dataset[(i, seed)]`` additionally runs the transform under
    ``torch.manual_seed(seed)`` in a forked RNG, so augmentation depends only on (seed, i) and not
    on the worker that loads it (see :class:`lightseg_ros.training.engine.SeededSampler`).
    """

    name = 'segmentation'

    def __init__(
        self,
        samples: Sequence[tuple[Path, Path]],
        class_names: Sequence[str],
        colors: Sequence[Sequence[int]],
        ignore_index: int = 255,
        transform: Transform | None = None,
    ) -> None:
        if not samples:
            raise DatasetError(f'{self.name}: no samples found')
        for image, mask in samples:
            if not Path(image).is_file():
                raise DatasetError(f'{self.name}: image file missing: {image}')
            if not Path(mask).is_file():
                raise DatasetError(f'{self.name}: mask file missing: {mask} (for image {image})')
        self.samples = [(Path(i), Path(m)) for i, m in samples]
        self.class_names = list(class_names)
        self.colors = [list(map(int, c)) for c in colors]
        self.ignore_index = int(ignore_index)
        self.transform = transform
        # where the class colours come from, for an RGB mask's colour that matches none
        self.colors_from = f'{self.name} class'
        # a folder dataset's own classes file gives colours a palette mask can contradict
        self.check_palette = False
        # each image's EXIF orientation, as check() found it: load() reads it from here
        self._orientations: dict[Path, int] = {}
        self.exif_turned: list[Path] = []  # the images check() found an orientation turns
        if len(self.colors) != len(self.class_names):
            raise DatasetError(
                f'{self.name}: {len(self.class_names)} class names but {len(self.colors)} colours'
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.samples)

    def _open(self, path: Path, what: str) -> Image.Image:
        """
        Open an image file (``what``: image or mask) with only its header read; close it after use.

        :class:`DatasetError` where the file cannot be read or has more than :data:`MAX_PIXELS`.
        """
        try:
            im = Image.open(path)
        except UNREADABLE as exc:
            raise DatasetError(f'{self.name}: cannot read {what} {path}: {exc}') from None
        width, height = im.size
        if width * height > MAX_PIXELS:
            im.close()
            raise DatasetError(
                f'{self.name}: {what} {path} is {width}x{height} = {width * height} pixels; '
                f'at most {MAX_PIXELS} pixels per image are accepted'
            )
        return im

    def _check_sizes(
        self,
        image_size: tuple[int, int],
        mask_size: tuple[int, int],
        image_path: Path,
        mask_path: Path,
        orientation: int = 1,
    ) -> None:
        """
        Raise :class:`DatasetError` unless the (W, H) sizes of image and mask agree.

        ``image_size`` is the image's upright size, once its EXIF ``orientation`` is applied.
        """
        if tuple(mask_size) == tuple(image_size):
            return
        width, height = image_size
        if orientation >= 5 and tuple(mask_size) == (height, width):
            # the mask fits the pixels as stored: drawn in a tool that ignores the orientation
            raise DatasetError(
                f'{self.name}: size mismatch: image {image_path} is {width}x{height} once its '
                f'EXIF orientation ({orientation}) rotates it, as `lightseg predict` and the node '
                f'read it, but mask {mask_path} is {height}x{width} (WxH): the size of the '
                'unrotated pixels'
            )
        raise DatasetError(
            f'{self.name}: size mismatch: image {image_path} is {width}x{height} but mask '
            f'{mask_path} is {mask_size[0]}x{mask_size[1]} (WxH)'
        )

    def _check_image_mode(self, im: Image.Image, path: Path) -> None:
        """Raise :class:`DatasetError` for an image :meth:`_rgb` cannot bring to 8 bits."""
        if im.mode in ('I', 'F') and not _sixteen_bit(im):
            kind = 'floating-point' if im.mode == 'F' else '32-bit integer'
            raise DatasetError(
                f'{self.name}: image {path} has {kind} pixels (Pillow mode {im.mode}); accepted: '
                '8-bit or 16-bit grey, RGB, RGBA or palette images'
            )

    def _rgb(self, im: Image.Image, path: Path) -> np.ndarray:
        """Decode the open image ``im`` (of file ``path``) into (H, W, 3) uint8 RGB."""
        self._check_image_mode(im, path)
        if not _sixteen_bit(im):
            return np.asarray(im.convert('RGB'))
        # Pillow's convert('RGB') clips 16-bit grey at 255 (most pixels of a camera frame come
        # out white); keep the high byte instead, as `lightseg predict` (OpenCV) and the node
        # (mono16) do, so a model is trained and scored on the pixels it is later shown
        grey = (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)

    def _labels(self, im: Image.Image, path: Path) -> np.ndarray:
        """Decode the open mask ``im`` (of file ``path``) into class ids."""
        if im.mode in ('RGB', 'RGBA'):
            # a fully transparent pixel (alpha 0) is unlabelled: the ignore index, whatever
            # colour it holds (a labelling tool's empty canvas is transparent black)
            clear = np.asarray(im.getchannel('A')) == 0 if im.mode == 'RGBA' else None
            return self._colors_to_labels(np.asarray(im.convert('RGB')), path, clear)
        if im.mode == 'F':  # cast to ids, 0.5 would silently become class 0
            raise DatasetError(
                f'{self.name}: mask {path} has floating-point values (Pillow mode F); masks '
                'hold integer class ids (8- or 16-bit grey or palette PNG) or class colours (RGB)'
            )
        labels = np.asarray(im)
        if im.mode == 'P' and self.check_palette:
            self._check_palette_order(im, labels, path)
        # 8- and 16-bit labels stay as they are (checked, counted); load() widens them
        return labels if labels.dtype in (np.uint8, np.uint16) else labels.astype(np.int64)

    def _check_palette_order(self, im: Image.Image, labels: np.ndarray, path: Path) -> None:
        """
        Refuse a palette mask whose pixels are drawn in another class's colour.

        A palette mask is read by its indices. An RGB mask saved by a tool that re-indexes the
        palette (pngquant, optipng, an image editor's indexed mode) keeps the classes' colours
        in another order: read by index, it would train every pixel as the wrong class.
        """
        raw = im.getpalette() or []
        palette = np.asarray(raw, dtype=np.int64).reshape(-1, 3) if len(raw) % 3 == 0 else None
        if palette is None or not len(palette):
            return
        class_of = {tuple(c): i for i, c in enumerate(self.colors)}
        used = [
            int(i)
            for i in np.flatnonzero(np.bincount(labels.ravel(), minlength=1))
            if i != self.ignore_index
        ]
        # the palette speaks of the classes only where every index used is drawn in a class
        # colour (Pillow gives a bare index mask a one-entry black palette; a grey ramp holds
        # greys): then an index drawn in another class's colour is a re-indexed mask
        drawn = [
            class_of.get(tuple(int(v) for v in palette[i])) if i < len(palette) else None
            for i in used
        ]
        if None in drawn or len(used) < 2:  # one index alone is no order to contradict
            return
        for idx, j in zip(used, drawn):
            if j != idx:
                raise DatasetError(
                    f"{path}: palette mask whose index {idx} is drawn in class {j}'s colour "
                    f'{list(self.colors[j])} ({shown_value(self.class_names[j])}); a palette mask '
                    f'is read by its indices, so those pixels would train as class {idx}. Save '
                    f'the mask as RGB, or index its palette in {self.colors_from} order'
                )

    def _colors_to_labels(
        self, rgb: np.ndarray, path: Path, clear: np.ndarray | None = None
    ) -> np.ndarray:
        labels, known = colors_to_ids(rgb, np.asarray(self.colors))
        if clear is not None and clear.any():
            known = known | clear
            labels = np.where(clear, np.int64(self.ignore_index), labels)
        if not known.all():
            bad = np.unique(rgb[~known], axis=0)[:5]
            listed = ', '.join(
                f'{name} ({r}, {g}, {b})'
                for name, (r, g, b) in zip(self.class_names[:20], self.colors)
            )
            more = f' and {self.num_classes - 20} more' if self.num_classes > 20 else ''
            raise DatasetError(
                f'{path}: RGB mask has colours that match no class: '
                f'{[tuple(int(v) for v in c) for c in bad]}; the {self.colors_from} colours are '
                f'{listed}{more}'
            )
        return labels

    def _check_pair(
        self, image_size: tuple[int, int], mask: np.ndarray, image_path: Path, mask_path: Path
    ) -> None:
        """
        Raise :class:`DatasetError` unless ``mask`` fits the image.

        It must be a label image of the image's (W, H) size whose values are classes or the ignore
        index.
        """
        if mask.ndim != 2:
            raise DatasetError(
                f'{mask_path}: expected a single-channel label image, got shape {mask.shape}'
            )
        self._check_sizes(image_size, (mask.shape[1], mask.shape[0]), image_path, mask_path)
        bad = ((mask < 0) | (mask >= self.num_classes)) & (mask != self.ignore_index)
        if bad.any():
            values = np.unique(mask[bad])[:10].tolist()
            raise DatasetError(
                f'{self.name}: mask {mask_path} has label values {values} outside [0, '
                f'{self.num_classes - 1}] that are not the ignore index {self.ignore_index}'
            )

    def _labels_checked(self, im: Image.Image, mask_path: Path) -> np.ndarray:
        try:
            return self._labels(im, mask_path)
        except UNREADABLE as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f'{self.name}: cannot read mask {mask_path}: {exc}') from None

    def load(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        """
        Load sample ``index`` untransformed, checked.

        Same size, labels in [0, num_classes) or ignore.
        """
        image_path, mask_path = self.samples[index]
        # each file opened once; the sizes come from the headers first, so a huge or mismatched
        # file is refused before anything is decoded
        with self._open(image_path, 'image') as im, self._open(mask_path, 'mask') as mk:
            orientation = self._orientations.get(image_path) or _orientation(im, image_path)
            self._check_sizes(
                _upright_size(im.size, orientation), mk.size, image_path, mask_path, orientation
            )
            try:
                image = self._rgb(im, image_path)
            except UNREADABLE as exc:
                if isinstance(exc, DatasetError):
                    raise
                raise DatasetError(f'{self.name}: cannot read image {image_path}: {exc}') from None
            # a mask is a label map drawn on the image as shown upright: never rotated, whatever
            # orientation tag it carries (an editor may copy its photo's EXIF into it)
            mask = self._labels_checked(mk, mask_path)
        if orientation in _UPRIGHT:  # trained on the pixels `lightseg predict` will be shown
            image = _UPRIGHT[orientation](image)
        self._check_pair((image.shape[1], image.shape[0]), mask, image_path, mask_path)
        # 8-bit labels stay 8-bit through the augmentation (the transforms' last step makes them
        # int64): resized as uint8 they come out the same, in a quarter of the time, and a
        # frame at the image limit scaled by 2 holds 133 MB of labels instead of 1.1 GB (plus
        # the float copy torchvision makes to resize int64). Wider labels, or an ignore index
        # above 255 (the padding's value), go int64 at once.
        narrow = mask.dtype == np.uint8 and self.ignore_index <= 255
        return (
            tv_tensors.Image(torch.from_numpy(image.copy()).permute(2, 0, 1)),
            tv_tensors.Mask(torch.from_numpy(mask.copy() if narrow else mask.astype(np.int64))),
        )

    def check(self, what: str = '', max_listed: int = 5) -> None:
        """
        Check every sample without decoding the images.

        Each image's header is read and its file structure verified (a JPEG's end-of-image marker
        looked for in the file's tail), each mask decoded and checked as :meth:`load` does (size
        against the image shown upright, label values).

        Raises one :class:`DatasetError` naming ``what`` (e.g. the split) and the first
        ``max_listed`` problems, so that a bad file stops a run before its first epoch, not in it.
        Each image's EXIF orientation is kept for :meth:`load` (a PNG's may need a second read of
        its chunks), and the images it turns are listed in :attr:`exif_turned`.
        """
        problems = []
        self.exif_turned: list[Path] = []
        self.image_sizes = Counter()
        sizes = []  # each sample's (H, W), for batches of one size (sample_sizes)
        # labelled pixels per class, counted on the way (class weights from the data)
        self.class_pixels = np.zeros(self.num_classes, dtype=np.int64)
        for image_path, mask_path in self.samples:
            try:
                with self._open(image_path, 'image') as im:
                    orientation = _orientation(im, image_path)
                    self._orientations[image_path] = orientation
                    if orientation != 1:
                        self.exif_turned.append(image_path)
                    size = _upright_size(im.size, orientation)
                    self._check_image_mode(im, image_path)
                    self.image_sizes[(size[1], size[0])] += 1
                    sizes.append((size[1], size[0]))
                    try:  # walks the file's structure (PNG chunk checksums), decodes no pixel
                        im.verify()
                    except UNREADABLE as exc:
                        raise DatasetError(
                            f'{self.name}: cannot read image {image_path}: {exc}'
                        ) from None
                    # verify() reads no JPEG data: a JPEG cut short failed in the epoch
                    if im.format in ('JPEG', 'MPO') and _jpeg_cut_short(image_path):
                        raise DatasetError(
                            f'{self.name}: cannot read image {image_path}: truncated JPEG (the '
                            'file ends before its end-of-image marker)'
                        )
                with self._open(mask_path, 'mask') as mk:
                    self._check_sizes(size, mk.size, image_path, mask_path, orientation)
                    mask = self._labels_checked(mk, mask_path)
                self._check_pair(size, mask, image_path, mask_path)
                labelled = mask[mask != self.ignore_index]
                self.class_pixels += np.bincount(labelled.ravel(), minlength=self.num_classes)
            except DatasetError as exc:
                problems.append(str(exc).removeprefix(f'{self.name}: '))
        if problems:
            listed = '; '.join(problems[:max_listed])
            more = f'; and {len(problems) - max_listed} more' if len(problems) > max_listed else ''
            where = f' {what}' if what else ''
            raise DatasetError(
                f'{self.name}{where}: {len(problems)} of {len(self)} samples are unusable: '
                f'{listed}{more}'
            )
        self._sizes = (list(self.samples), sizes)

    def exif_note(self, what: str) -> str | None:
        """
        Return a line on the images :meth:`check` found an EXIF orientation turns, else None.

        Their masks must fit the image as shown upright; where a labelling tool ignored the tag
        and the sizes still agree (a half turn, a mirror, a square image), nothing else can tell.
        """
        if not self.exif_turned:
            return None
        return (
            f'note: {len(self.exif_turned)} {what} image(s) carry an EXIF orientation that turns '
            f'them (first: {self.exif_turned[0]}); they are trained upright, as `lightseg '
            'predict` and the node read them: their masks must be drawn on the upright image'
        )

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        image, mask = self.load(index)
        if self.transform is None:
            return image, mask
        if seed is None:
            image, mask = self.transform(image, mask)
        else:
            with torch.random.fork_rng(devices=[]):
                # the CPU generator only (the one fork_rng restores): torch.manual_seed would also
                # reseed every GPU's, from here on, for dropout in a run with workers: 0 on CUDA
                torch.random.default_generator.manual_seed(seed)
                image, mask = self.transform(image, mask)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).long()

    def class_weights(self, c: float) -> list[float]:
        """
        Return per-class weights 1 / ln(c + p) from the pixel frequencies p, scaled to mean 1.

        p is each class's share of the labelled pixels counted by :meth:`check`. ENet (Paszke et
        al. 2016) proposed the form with c = 1.02; CGNet and DABNet use c = 1.10, a milder
        spread. A class with no pixels gets the largest weight, 1 / ln(c).
        """
        counts = getattr(self, 'class_pixels', None)
        if counts is None:
            raise RuntimeError('class_weights() needs the pixel counts of check()')
        p = counts / max(int(counts.sum()), 1)
        w = 1.0 / np.log(c + p)
        return [round(float(x), 4) for x in w * len(w) / w.sum()]

    def sample_sizes(self) -> list[tuple[int, int]]:
        """
        Return each sample's image size (H, W), in sample order.

        As :meth:`check` read them, else from the image headers (no pixel is decoded).
        """
        cached = getattr(self, '_sizes', None)
        if cached is not None and cached[0] == self.samples:
            return cached[1]
        sizes = []
        for image_path, _ in self.samples:
            with self._open(image_path, 'image') as im:
                width, height = _upright_size(im.size, _orientation(im, image_path))
                sizes.append((height, width))
        return sizes

    def common_image_size(self) -> list[int] | None:
        """Return the [H, W] most of the samples have (after :meth:`check`), else None."""
        sizes = getattr(self, 'image_sizes', None)
        return list(sizes.most_common(1)[0][0]) if sizes else None

    def describe(self) -> dict[str, Any]:
        return {
            'dataset': self.name,
            'num_samples': len(self),
            'class_names': self.class_names,
            'ignore_index': self.ignore_index,
        }


def _sixteen_bit(im: Image.Image) -> bool:
    """Whether ``im`` is 16-bit grey: Pillow's I;16 modes, or mode I from a (16-bit) PNG."""
    # older Pillow releases open a 16-bit grey PNG as mode I (32-bit); a PNG holds no wider grey
    return im.mode.startswith('I;16') or (im.mode == 'I' and im.format == 'PNG')


def _orientation(im: Image.Image, path: Path) -> int:
    """
    Return the EXIF orientation (1-8) of the open image ``im`` of file ``path``; nothing decoded.

    From the EXIF block OpenCV reads too: a JPEG's or WebP's, a PNG's eXIf chunk (also one after
    the pixel data), a TIFF's own tag; not the XMP or text copies Pillow's ``getexif`` also
    consults. An absent, malformed or out-of-range value is 1 (upright), as OpenCV takes it.
    """
    try:
        if im.format == 'TIFF':
            value = im.tag_v2.get(EXIF_ORIENTATION, 1)
        else:
            data = im.info.get('exif')
            if data is None and im.format == 'PNG':
                # Pillow's getexif() would decode the PNG to reach a chunk after the pixels
                data = _png_exif(path)
            if not data:
                return 1
            exif = Image.Exif()
            # Pillow warns of a corrupt block, in every epoch: it is read as upright instead
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                exif.load(data)
            value = exif.get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - Pillow raises several types for malformed EXIF
        return 1
    return value if isinstance(value, int) and value in _UPRIGHT else 1


def _png_exif(path: Path) -> bytes | None:
    """Return the data of the PNG file's eXIf chunk, else None; only chunk headers are read."""
    try:
        with open(path, 'rb') as f:
            f.seek(8)  # the signature
            while len(head := f.read(8)) == 8:
                length, kind = int.from_bytes(head[:4], 'big'), head[4:]
                if kind == b'eXIf':
                    return f.read(min(length, MAX_EXIF_BYTES))
                if kind == b'IEND':
                    break
                f.seek(length + 4, os.SEEK_CUR)  # the data and its checksum
    except OSError:
        pass  # an unreadable file is reported by its decoding
    return None


def _upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Return the (W, H) ``size`` of an image once its EXIF ``orientation`` is applied."""
    return (size[1], size[0]) if orientation >= 5 else (size[0], size[1])


def _jpeg_cut_short(path: Path) -> bool:
    """
    Return whether the JPEG file ``path`` ends before its end-of-image marker.

    The test ``lightseg predict`` and the node apply (:func:`jpeg_ends`), without reading every
    file whole: its first step, an end-of-image marker after the last start-of-scan marker, is
    as sound on the file's tail as on the whole file, and settles a sound file in one small read.
    """
    try:
        with open(path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(2) != b'\xff\xd8':
                return False
            f.seek(max(size - JPEG_TAIL_BYTES, 2))
            tail = f.read()
            if tail.rfind(b'\xff\xd9') > tail.rfind(b'\xff\xda'):
                return False
            if size > JPEG_CHECK_BYTES:
                return False  # left to the decoder
            f.seek(0)
            return not jpeg_ends(f.read())
    except OSError:
        return False  # an unreadable file is reported by its decoding


def _read_list(path: Path, *, whole_line: bool = False) -> list[str]:
    """
    Read a split list: the first column of each line (VOC, SegNet), or the whole line.

    ``whole_line``: a name may hold spaces (the folder layout's one name a line).
    """
    try:
        with open(path, encoding='utf-8') as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith('#')]
            return lines if whole_line else [line.split()[0] for line in lines]
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f'{path}: not UTF-8 text (offset {exc.start} of a read block); a split list is one '
            'UTF-8 file name a line'
        ) from None


def _stem(name: str) -> str:
    return Path(name).stem if Path(name).suffix.lower() in IMAGE_EXTENSIONS else name


class VOCSegmentation(SegmentationDataset):
    """PASCAL VOC 2012 segmentation (21 classes, 255 = ignore), optionally SBD-augmented."""

    name = 'voc'

    def __init__(
        self,
        root: str | Path,
        split: str = 'train',
        transform: Transform | None = None,
        mask_dir: str | None = None,
    ) -> None:
        root = Path(root)
        for sub in ('VOC2012', 'VOCdevkit/VOC2012'):
            if not (root / 'JPEGImages').is_dir() and (root / sub / 'JPEGImages').is_dir():
                root = root / sub
        if not (root / 'JPEGImages').is_dir():
            raise DatasetError(
                f'voc: {root / "JPEGImages"} not found; point data.root at VOCdevkit/VOC2012'
            )
        lists = [root / 'ImageSets' / 'Segmentation' / f'{split}.txt', root / f'{split}.txt']
        list_file = next((p for p in lists if p.is_file()), None)
        if list_file is None:
            raise DatasetError(
                f'voc: split list for {split!r} not found (looked for {lists[0]} and {lists[1]})'
            )
        if mask_dir is None:
            aug = root / 'SegmentationClassAug'
            mask_dir = (
                'SegmentationClassAug'
                if aug.is_dir()
                and ('aug' in split.lower() or not (root / 'SegmentationClass').is_dir())
                else 'SegmentationClass'
            )
        samples = [
            (root / 'JPEGImages' / f'{n}.jpg', root / mask_dir / f'{n}.png')
            for n in map(_stem, _read_list(list_file))
        ]
        super().__init__(
            samples, VOC_CLASSES, default_palette(len(VOC_CLASSES)).tolist(), 255, transform
        )


def camvid_drive(name: str) -> str:
    """
    Return the drive (sequence) a CamVid frame comes from.

    ``0016E5_07959.png`` -> ``0016E5``.
    """
    return Path(name).name.split('_', 1)[0]


def parse_split(spec: str) -> tuple[list[str], set[str] | None, set[str]]:
    """
    ``train+val[0001TP,0016E5]`` -> (splits, drives kept or None for all, drives left out).

    A drive prefixed with ``-`` is left out instead: ``train+val[-0006R0]``.
    """
    spec = spec.strip()
    drives: set[str] | None = None
    excluded: set[str] = set()
    if spec.endswith(']') and '[' in spec:
        spec, inner = spec[:-1].split('[', 1)
        items = [d.strip() for d in inner.split(',') if d.strip()]
        if not items:
            raise DatasetError(f'split {spec}[]: list at least one drive in the brackets')
        excluded = {d[1:] for d in items if d.startswith('-')}
        kept = {d for d in items if not d.startswith('-')}
        drives = kept or None
    splits = [s.strip() for s in spec.split('+') if s.strip()]
    if not splits:
        raise DatasetError(f'empty split {spec!r}')
    twice = [s for i, s in enumerate(splits) if s in splits[:i]]
    if twice:  # train+train trained every frame of it twice an epoch, unsaid
        raise DatasetError(f'split {spec!r} names {twice[0]!r} twice; name each split once')
    odd = [s for s in splits if not SPLIT_NAME.fullmatch(s)]
    if odd:  # an unclosed bracket ('train['), a space, a path: not a split folder's name
        raise DatasetError(
            f'split {odd[0]!r} is not a split name; expected names such as train, val or '
            'train+val, optionally followed by drives in brackets: train[0006R0], '
            'train+val[-0006R0]'
        )
    return splits, drives, excluded


#: a split is a folder name: letters, digits, '_', '-', '.' (train, val, test, train_extra)
SPLIT_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]*')


class CamVid(SegmentationDataset):
    """
    CamVid as prepared for SegNet: 11 classes, label 11 = ignore, 360x480.

    ``split`` is one split (``train``), a union (``train+val``), optionally restricted to drives:
    ``train+val[0006R0]`` (frames of that drive only) or ``train+val[-0006R0]`` (all but it).
    Frames of one drive are near-duplicates of each other, so a model is only honestly scored on a
    drive it was not trained on.
    """

    name = 'camvid'

    def __init__(
        self, root: str | Path, split: str = 'train', transform: Transform | None = None
    ) -> None:
        root = Path(root)
        splits, drives, excluded = parse_split(split)
        samples = []
        for one in splits:
            samples += self._split_samples(root, one)
        if not samples:  # said before any drive is looked for: there is none
            looked = ', '.join(
                str(root / f'{s}.txt') if (root / f'{s}.txt').is_file() else f'{root / s}/'
                for s in splits
            )
            raise DatasetError(f'camvid: split {split!r} has no images (looked in {looked})')
        found = {camvid_drive(image.name) for image, _ in samples}
        unknown = sorted(((drives or set()) | excluded) - found)
        if unknown:
            raise DatasetError(
                f'camvid: split {split!r} names drives {unknown} that {"+".join(splits)} does not '
                f'contain; it has {sorted(found)}'
            )
        samples = [
            (i, m)
            for i, m in samples
            if (drives is None or camvid_drive(i.name) in drives)
            and camvid_drive(i.name) not in excluded
        ]
        if not samples:
            raise DatasetError(f'camvid: split {split!r} selects no frames')
        super().__init__(samples, CAMVID_CLASSES, CAMVID_COLORS, 11, transform)

    @staticmethod
    def _split_samples(root: Path, split: str) -> list[tuple[Path, Path]]:
        image_dir, mask_dir = root / split, root / f'{split}annot'
        if not image_dir.is_dir():
            raise DatasetError(f'camvid: image folder {image_dir} not found')
        list_file = root / f'{split}.txt'
        if list_file.is_file():
            names = [Path(n).name for n in _read_list(list_file)]
        else:
            names = sorted(
                p.name for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS
            )
        return [(image_dir / n, mask_dir / (Path(n).stem + '.png')) for n in names]


class Cityscapes(SegmentationDataset):
    """Cityscapes fine annotations in train ids (19 classes, 255 = ignore)."""

    name = 'cityscapes'

    def __init__(
        self, root: str | Path, split: str = 'train', transform: Transform | None = None
    ) -> None:
        root = Path(root)
        image_dir = root / 'leftImg8bit' / split
        if not image_dir.is_dir():
            raise DatasetError(f'cityscapes: image folder {image_dir} not found')
        samples = []
        for image in sorted(image_dir.glob('*/*_leftImg8bit.png')):
            stem = image.name[: -len('_leftImg8bit.png')]
            samples.append(
                (
                    image,
                    root
                    / 'gtFine'
                    / split
                    / image.parent.name
                    / f'{stem}_gtFine_labelTrainIds.png',
                )
            )
        if not samples:
            raise DatasetError(
                f'cityscapes: split {split!r} has no images: no CITY/*_leftImg8bit.png in '
                f'{image_dir}'
            )
        super().__init__(samples, CITYSCAPES_CLASSES, CITYSCAPES_COLORS, 255, transform)


def _color(path: Path, name: str, value: Any) -> list[int] | None:
    """Return a class's colour as three integers 0-255, or None where none is given."""
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        raise DatasetError(
            f'{path}: colour of class {name!r} must be three integers 0-255 [R, G, B], got '
            f'{shown_value(value)}'
        )
    return [int(v) for v in value]


def _ignore_index(path: Path, value: Any) -> int:
    lo, hi = LIMITS.ignore_index
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DatasetError(
            f'{path}: ignore_index must be an integer {lo}-{hi}, got {shown_value(value)}'
        )
    return value


def _key(key: Any) -> str:
    """Return a YAML key as an error names it: as written where it is short plain text."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 60:
        return key
    return shown_value(key)


def _classes_from_yaml(path: Path, text: str) -> tuple[list[str], list[Any], int, list[str]]:
    accepted = "expected 'classes: [{name: ..., color: [R, G, B]}, ...]'"
    try:
        # the recipe's loader: a key given twice is refused (safe_load kept the last in silence)
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, 'problem_mark', None)
        at = f' (line {where.line + 1})' if where is not None else ''
        twice = getattr(exc, 'problem', '') or ''
        what = f': {twice}' if 'appears twice' in twice else ''
        raise DatasetError(f'{path}: not valid YAML{at}{what}; {accepted}') from None
    except RecursionError:
        raise DatasetError(f'{path}: nested too deeply; {accepted}') from None
    # a misspelt key ('colour', 'ignore') would be read as absent: a default taken in silence
    unknown = [k for k in data if k not in CLASSES_YAML_KEYS] if isinstance(data, dict) else []
    if unknown:
        raise DatasetError(
            f'{path}: unknown key {_key(unknown[0])}; {path.name} accepts: '
            f'{", ".join(CLASSES_YAML_KEYS)}'
        )
    entries = data.get('classes') if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise DatasetError(f'{path}: {accepted}')
    ignore = _ignore_index(path, data.get('ignore_index', 255)) if isinstance(data, dict) else 255
    names: list[str] = []
    colors: list[Any] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            names.append(entry)
            colors.append(None)
        elif isinstance(entry, dict) and isinstance(entry.get('name'), bool):
            # YAML 1.1 reads a bare off / on / yes / no as a bool: 'False' was stored as the name
            raise DatasetError(
                f'{path}: class {i} name reads as the boolean {entry["name"]} in YAML; quote it '
                "(name: 'off')"
            )
        elif isinstance(entry, dict) and isinstance(entry.get('name'), (str, int)):
            names.append(str(entry['name']))
            unknown = [k for k in entry if k not in CLASS_KEYS]
            if unknown:
                raise DatasetError(
                    f'{path}: unknown key {_key(unknown[0])} in class {i} '
                    f'({shown_value(names[-1])}); '
                    f'a class accepts: {", ".join(CLASS_KEYS)}'
                )
            colors.append(_color(path, names[-1], entry.get('color')))
        else:
            raise DatasetError(
                f'{path}: class entry {i} must be a name or {{name: ..., color: [R, G, B]}}'
            )
    return names, colors, ignore, [str(path)] * len(names)


def _classes_from_text(path: Path, text: str) -> tuple[list[str], list[Any], list[str]]:
    names: list[str] = []
    colors: list[Any] = []
    lines: list[str] = []  # where each class is, for its errors: FILE:LINE
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith('#'):
            continue
        values = parts[1:]
        if len(parts) not in (1, 4) or not all(v.isdigit() and int(v) <= 255 for v in values):
            shown = line.strip() if len(line.strip()) <= 60 else line.strip()[:57] + '...'
            raise DatasetError(
                f"{path}:{lineno}: expected 'name' or 'name R G B' (R, G, B integers 0-255), "
                f'got {shown!r}'
            )
        names.append(parts[0])
        colors.append([int(v) for v in values] if values else None)
        lines.append(f'{path}:{lineno}')
    return names, colors, lines


def read_classes_file(path: str | Path) -> tuple[list[str], list[list[int]], int]:
    """
    Read a folder dataset's ``classes.yaml`` or ``classes.txt``.

    Returns (names, RGB colours, ignore index). A malformed file is a :class:`DatasetError`
    naming it and what is accepted.
    """
    path = Path(path)
    text = read_small_text(
        path, MAX_CLASSES_FILE_BYTES, DatasetError, 'a classes file is a short list'
    ).removeprefix('\ufeff')  # a byte-order mark (Windows editors) is no part of the first name
    ignore = 255
    if path.suffix in ('.yaml', '.yml'):
        names, colors, ignore, where = _classes_from_yaml(path, text)
    else:
        names, colors, where = _classes_from_text(path, text)
    lo, hi = LIMITS.num_classes
    if not lo <= len(names) <= hi:
        raise DatasetError(f'{path}: lists {len(names)} classes; {lo} to {hi} are accepted')
    if ignore < len(names):
        # its pixels would be void: that class would never be trained, and score nothing
        raise DatasetError(
            f'{path}: the ignore index {ignore} is also class {ignore} '
            f'({shown_value(names[ignore])}) of the {len(names)} classes; the ignore index must '
            f'be {len(names)} or more'
            + (' (set ignore_index in a classes.yaml)' if path.suffix not in ('.yaml', '.yml')
               else '')
        )
    palette = default_palette(len(names)).tolist()
    _check_classes(names, colors, palette, where)
    return names, [c if c is not None else palette[i] for i, c in enumerate(colors)], ignore


def _check_classes(
    names: list[str], colors: list[Any], palette: list[list[int]], where: list[str]
) -> None:
    """
    Raise :class:`DatasetError` for a name a weights file refuses, or a repeated name or colour.

    ``colors`` holds None where the file gives none (the ``palette`` colour is taken); ``where``
    names each class's file (and line).
    """
    first_of_name: dict[str, int] = {}
    first_of_color: dict[tuple[int, ...], int] = {}
    for i, name in enumerate(names):
        # the weights metadata's own rule, so the run does not fail saving its first weights
        problem = text_problem(name)
        if problem is not None:
            raise DatasetError(
                f'{where[i]}: class {i} name {problem}; a class name is at most '
                f'{LIMITS.text_chars} printable characters (no tab, newline or other control '
                'character), as a weights file stores it'
            )
        j = first_of_name.setdefault(name, i)
        if j != i:
            raise DatasetError(
                f"{where[i]}: class {i} name {shown_value(name)} repeats class {j}'s; names "
                'must be unique'
            )
        rgb = colors[i] if colors[i] is not None else palette[i]
        j = first_of_color.setdefault(tuple(rgb), i)
        if j != i:
            default = ', the default as it gives none,' if colors[i] is None else ''
            default_j = ', its default' if colors[j] is None else ''
            raise DatasetError(
                f'{where[i]}: colour {rgb} of class {i} ({shown_value(name)}){default} is '
                f"class {j}'s ({shown_value(names[j])}{default_j}); each class needs its own "
                f'colour (an RGB mask labels a shared colour class {j})'
            )


class FolderDataset(SegmentationDataset):
    """
    Your own data: ``images/``, ``masks/`` and ``classes.yaml`` / ``classes.txt``.

    See the module docstring.
    """

    name = 'folder'

    def __init__(
        self, root: str | Path, split: str = 'train', transform: Transform | None = None
    ) -> None:
        root = Path(root)
        classes_file = next(
            (
                root / n
                for n in ('classes.yaml', 'classes.yml', 'classes.txt')
                if (root / n).is_file()
            ),
            None,
        )
        if classes_file is None:
            raise DatasetError(f'folder: no classes file in {root} (classes.yaml or classes.txt)')
        names, colors, ignore = read_classes_file(classes_file)
        images, masks = root / 'images', root / 'masks'
        if not images.is_dir():
            raise DatasetError(f'folder: image folder {images} not found')
        if (images / split).is_dir():
            images, masks = images / split, masks / split
            files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise DatasetError(
                    f'folder: split {split!r} has no images in {images}; accepted: '
                    f'{", ".join(IMAGE_EXTENSIONS)} files (any case)'
                )
        elif (root / f'{split}.txt').is_file():
            files = []
            listed = _read_list(root / f'{split}.txt', whole_line=True)
            stems = list(map(_stem, listed))
            if not stems:
                raise DatasetError(
                    f'folder: split {split!r}: {root / f"{split}.txt"} lists no images (one '
                    f'image file name or stem a line, found in {images})'
                )
            for name, stem in zip(listed, stems):
                if stem != name and (images / name).is_file():  # named with its extension
                    files.append(images / name)
                    continue
                found = [
                    images / (stem + e)
                    for e in IMAGE_EXTENSIONS
                    if (images / (stem + e)).is_file()
                ]
                if not found:
                    raise DatasetError(
                        f'folder: image {images / stem}.* listed in {root / f"{split}.txt"} not '
                        'found'
                    )
                if len(found) > 1:
                    raise DatasetError(
                        f'folder: image {stem!r} listed in {root / f"{split}.txt"} is ambiguous: '
                        f'{found[0]} and {found[1]} share its stem and so one mask; keep one'
                    )
                files.append(found[0])
        else:
            raise DatasetError(
                f'folder: split {split!r} not found: neither {images / split}/ nor '
                f'{root / f"{split}.txt"}'
            )
        # a mask is masks/<stem>.png: two images of one stem (a.jpg and a.png; a/x.png and
        # b/x.png in a list, or x listed twice) would be trained on one mask
        by_stem: dict[str, Path] = {}
        for f in files:
            other = by_stem.setdefault(f.stem, f)
            if other is not f:
                raise DatasetError(
                    f'folder: images {other} and {f}, which share the stem {f.stem!r} and so the '
                    f'mask {masks / (f.stem + ".png")}; keep one, and list each image once'
                )
        samples = [(f, masks / (f.stem + '.png')) for f in files]
        super().__init__(samples, names, colors, ignore, transform)
        self.colors_from = classes_file.name
        self.check_palette = True


DATASETS: dict[str, type[SegmentationDataset]] = {
    'voc': VOCSegmentation,
    'camvid': CamVid,
    'cityscapes': Cityscapes,
    'folder': FolderDataset,
}


def build_dataset(
    name: str,
    root: str | os.PathLike,
    split: str,
    transform: Transform | None = None,
    **options: Any,
) -> SegmentationDataset:
    """Dataset ``name`` (voc | camvid | cityscapes | folder) at ``root``, split ``split``."""
    if name not in DATASETS:
        raise DatasetError(f'unknown dataset {name!r}; accepted: {", ".join(DATASETS)}')
    options = {k: v for k, v in options.items() if v is not None}
    return DATASETS[name](root, split, transform, **options)


def seen_in_training(
    meta, scored: SegmentationDataset, dataset_name: str, root: str | os.PathLike, **options: Any
) -> int | None:
    """
    Count the images of ``scored`` that the weights described by ``meta`` were trained on.

    The training split comes from the weights' recipe (``train_split``), resolved on the same root
    as the scored split, so ``val`` scored with weights fit on ``train+val`` counts every image.
    None where the recipe names no split, the layouts differ or the split cannot be listed there.
    """
    split = (meta.recipe or {}).get('train_split')
    if not isinstance(split, str) or not split or dataset_name != meta.dataset:
        return None
    try:
        trained = build_dataset(dataset_name, Path(root), split, None, **options)
    except (DatasetError, OSError):
        return None
    return shared_images(trained, scored)


def shared_images(trained: SegmentationDataset, scored: SegmentationDataset) -> int:
    """Count the images of ``scored`` that ``trained`` holds too (by resolved path)."""
    names = {Path(image).resolve() for image, _ in trained.samples}
    return sum(Path(image).resolve() in names for image, _ in scored.samples)
