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
The segmenter: an RGB image in, a uint8 class-id mask at the image's resolution out.

Resize policy (``input_size`` = network input ``(H, W)``; ``None`` = the image's own size):

* ``"stretch"``: the image is resized to ``input_size`` ignoring its aspect ratio;
* ``"letterbox"``: resized keeping its aspect ratio to fit ``input_size`` and padded (centred) with
  the normalisation mean (zero after normalising); logits are cropped back to the image area.

Bounded cost whatever the camera (``max_input_pixels``, ``max_inference_pixels``):

* an image above ``max_input_pixels`` (width x height) is refused (:class:`ImageDecodeError`,
  kind ``too_large``);
* with no fixed ``input_size``, an image above ``max_inference_pixels`` is downscaled, keeping its
  aspect, before the network: objects then appear at about the scale the model learned, and the
  network's cost stops growing with the camera. The default cap is twice the area of the images
  the weights were trained on (:func:`default_inference_pixels`).

Masks are always at the input resolution. They equal the argmax of the network's logits resized
bilinearly to the image (:meth:`Segmenter.logits`, the reference), but are made without that
full-size (classes x H x W) float tensor: a pixel whose four bilinear source cells share one label
takes that label (a convex combination of logit vectors that all rank class k first ranks k first),
and only pixels next to a label boundary are interpolated exactly, in bands of bounded size. The
confidence map is computed at network resolution and resized bilinearly.

Resizing the image runs on the host with OpenCV on uint8 data on the CPU device (a float copy of a
12 Mpix frame alone would be 144 MB), on the device with PyTorch on CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
import math
import os
import time
import warnings

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .backends import make_backend
from .image_codec import check_size, DEFAULT_MAX_INPUT_PIXELS
from ..classes import CAMVID_CLASSES, CAMVID_COLORS
from ..models import (
    build_model,
    get_model_spec,
    load_model,
    resolve_weights,
    WeightsError,
    WeightsMeta,
)
from ..models.shipped import DEFAULT_MODEL
from ..models.weights import LIMITS

__all__ = [
    'Segmentation',
    'Segmenter',
    'build_segmenter',
    'select_device',
    'RESIZE_POLICIES',
    'default_inference_pixels',
    'upsample_labels',
]

LOG = logging.getLogger(__name__)
RESIZE_POLICIES = ('stretch', 'letterbox')
DEFAULT_NUM_CLASSES = 11  # CamVid's, the package's default dataset
#: native image size of the datasets the package knows, for weights that do not record
#: ``train_image_size``
DATASET_IMAGE_SIZES = {'camvid': (360, 480), 'cityscapes': (1024, 2048), 'voc': (375, 500)}
#: the inference cap of weights that record no training scale (and of random models)
FALLBACK_INFERENCE_PIXELS = 1_000_000
#: output pixels per band when masks are scaled up (bounds the exact-interpolation temporaries)
BAND_PIXELS = 1 << 17
#: on a GPU, masks are scaled up there (full-size logits, then their argmax) while those logits
#: take at most this much; beyond it, as on the CPU, by :func:`upsample_labels` on the host
DEVICE_UPSAMPLE_BYTES = 256 << 20


def default_inference_pixels(meta: WeightsMeta) -> int:
    """
    Return twice the area of the images the weights were trained on.

    That is ``train_image_size``, else the dataset's native size; :data:`FALLBACK_INFERENCE_PIXELS`
    where neither is known.
    """
    size = meta.train_image_size or DATASET_IMAGE_SIZES.get(meta.dataset.strip().lower())
    if not size:
        return FALLBACK_INFERENCE_PIXELS
    return int(min(LIMITS.network_pixels, 2 * size[0] * size[1]))


def _source_index(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Return PyTorch's bilinear source indices and weights along one axis.

    As with ``align_corners=False``.
    """
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def upsample_labels(logits: np.ndarray, labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """
    Return the argmax of ``logits`` resized bilinearly, without the full-size logits.

    The result is (height, width) uint8 labels equal to the argmax of ``logits`` (C, h, w) resized
    bilinearly (``align_corners=False``), without the (C, height, width) tensor.

    ``labels`` (h, w) is the argmax at network resolution. Each output pixel interpolates the four
    corners of one source cell. Where the corners share a label, that label wins (a convex
    combination of logit vectors that all rank class k first ranks k first): nearest-neighbour
    labels are exact there. Where they hold two labels a and b and every other class stays below
    both everywhere in the cell (its largest corner value is below the larger of a's and b's
    smallest), the winner is the sign of one interpolated difference l_a - l_b. Other cells are
    interpolated over all classes. Work is in chunks of at most :data:`BAND_PIXELS` pixels: memory
    is the output plus a bounded amount, whatever the size.
    """
    classes, h, w = logits.shape
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    # INTER_NEAREST_EXACT takes the corner nearest to the bilinear source point: one of the four
    mask = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    right = np.concatenate([labels[:, 1:], labels[:, -1:]], 1)
    down = np.concatenate([labels[1:], labels[-1:]], 0)
    diag = np.concatenate([right[1:], right[-1:]], 0)
    cell_i, cell_j = np.nonzero((labels != right) | (labels != down) | (labels != diag))
    if cell_i.size == 0:
        return mask
    y0, y1, fy = _source_index(h, height)
    x0, x1, fx = _source_index(w, width)
    # output rows (columns) whose source cell row is i: a contiguous run, since y0 does not
    # decrease
    row_start, row_end = (
        np.searchsorted(y0, np.arange(h), 'left'),
        np.searchsorted(y0, np.arange(h), 'right'),
    )
    col_start, col_end = (
        np.searchsorted(x0, np.arange(w), 'left'),
        np.searchsorted(x0, np.arange(w), 'right'),
    )
    # cells a pixel maps to
    keep = (row_end[cell_i] > row_start[cell_i]) & (col_end[cell_j] > col_start[cell_j])
    cell_i, cell_j = cell_i[keep], cell_j[keep]
    n_rows, n_cols = row_end[cell_i] - row_start[cell_i], col_end[cell_j] - col_start[cell_j]
    pixels = n_rows * n_cols
    table = np.ascontiguousarray(logits.reshape(classes, h * w), dtype=np.float32)
    flat_labels, flat_mask = labels.reshape(-1), mask.reshape(-1)
    ends = np.cumsum(pixels)
    first = 0
    while first < cell_i.size:
        # the next cells whose pixels fit one chunk (at least one cell)
        last = max(
            first + 1,
            int(np.searchsorted(ends, ends[first] - pixels[first] + BAND_PIXELS, 'right')),
        )
        ci, cj = cell_i[first:last], cell_j[first:last]
        ci1, cj1 = np.minimum(ci + 1, h - 1), np.minimum(cj + 1, w - 1)
        # (4, k) corners
        index = np.stack([ci * w + cj, ci * w + cj1, ci1 * w + cj, ci1 * w + cj1])
        values = table[:, index]  # (C, 4, k)
        corner_labels = flat_labels[index].astype(np.int64)
        a, b = corner_labels.min(0), corner_labels.max(0)
        cells = np.arange(ci.size)
        la, lb = values[a, :, cells].T, values[b, :, cells].T  # (4, k)
        others = values.copy()
        others[a, :, cells] = -np.inf
        others[b, :, cells] = -np.inf
        two = ((corner_labels == a) | (corner_labels == b)).all(0) & (
            others.max(axis=(0, 1)) < np.maximum(la.min(0), lb.min(0))
        )
        for fast in (True, False):
            chosen = np.nonzero(two == fast)[0]
            if chosen.size == 0:
                continue
            counts = pixels[first:last][chosen]
            owner = np.repeat(chosen, counts)
            local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            rows = row_start[ci][owner] + local // n_cols[first:last][owner]
            cols = col_start[cj][owner] + local % n_cols[first:last][owner]
            wy, wx = fy[rows], fx[cols]
            # the sign of l_a - l_b, interpolated in PyTorch's order: along x, then along y
            if fast:
                d = la - lb
                top = d[0, owner] * (1 - wx) + d[1, owner] * wx
                bottom = d[2, owner] * (1 - wx) + d[3, owner] * wx
                flat_mask[rows * width + cols] = np.where(
                    top * (1 - wy) + bottom * wy >= 0, a[owner], b[owner]
                )
            else:
                v = values[:, :, owner]  # (C, 4, n)
                value = (v[:, 0] * (1 - wx) + v[:, 1] * wx) * (1 - wy) + (
                    v[:, 2] * (1 - wx) + v[:, 3] * wx
                ) * wy
                flat_mask[rows * width + cols] = value.argmax(axis=0)
        first = last
    return mask


def _resize_host(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """
    Resize ``image`` to ``size`` (h, w) with OpenCV: area averaging to shrink, bilinear to enlarge.

    A large shrink goes in two steps: OpenCV's area resize has a fast path for integer factors
    (19 vs 47 ms from 4000x3000 to 678x509 here), so the frame is first reduced by the largest
    integer factor k that divides both its sides, then by the rest. Only a k that divides them:
    cropping the edges to a multiple of k shifted the network's pixels against the frame's by
    up to k - 1 source pixels at the far edge (3.3 for 1999 -> 400), where the mask is laid back
    over the whole frame.
    """
    h, w = size
    height, width = image.shape[:2]
    if h * w >= height * width:
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    k = min(height // h, width // w)
    while k >= 2 and (height % k or width % k):
        k -= 1
    if k >= 2:
        image = cv2.resize(image, (width // k, height // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


@dataclass
class Segmentation:
    mask: np.ndarray  # (H, W) uint8 class ids at the INPUT image's resolution
    confidence: np.ndarray | None = (
        None  # (H, W) float32 max softmax probability, only when requested
    )


_logged_devices: set[str] = set()


def select_device(device: str = 'auto') -> torch.device:
    """
    ``"auto"`` = CUDA when available else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given.

    The choice for ``auto`` is logged once per process.
    """
    if device == 'auto':
        chosen = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        if 'auto' not in _logged_devices:
            _logged_devices.add('auto')
            what = (
                torch.cuda.get_device_name(chosen)
                if chosen.type == 'cuda'
                else 'no CUDA device found'
            )
            LOG.info('device auto -> %s (%s)', chosen, what)
        return chosen
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f'invalid device {device!r}; accepted: auto, cpu, cuda, cuda:N') from exc
    if chosen.type not in ('cpu', 'cuda'):
        raise ValueError(f'invalid device {device!r}; accepted: auto, cpu, cuda, cuda:N')
    if chosen.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} requested but CUDA is not available; use 'auto' or 'cpu'"
        )
    count = torch.cuda.device_count() if chosen.type == 'cuda' else 0
    if chosen.index is not None and chosen.index >= count:  # cuda:3 on a one-GPU robot
        raise ValueError(
            f'device {device!r} requested but this machine has {count} CUDA device'
            f'{"s" if count != 1 else ""}; accepted: auto, cpu, cuda, cuda:0 to cuda:{count - 1}'
        )
    return chosen


class Segmenter:
    """
    A segmentation model ready for inference on one device.

    ``weights=None`` with ``model=name`` builds a randomly initialised model (``num_classes``
    default 11 with CamVid's names and colours; ``random_weights`` is then True). Otherwise the
    weights file decides model, classes, colours, normalisation and input size;
    ``model``/``num_classes`` given with it must match it. ``input_size`` overrides the file's
    input size (``None`` keeps it). On CUDA the model runs in fp16. ``backend`` picks what runs the
    network: ``"torch"``, ``"onnxruntime"``, or ``"auto"`` (ONNX Runtime on the CPU, PyTorch on
    CUDA; see :mod:`lightseg_ros.inference.backends`).
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        model: str | None = None,
        num_classes: int | None = None,
        device: str = 'auto',
        input_size: tuple[int, int] | None = None,
        resize: str = 'stretch',
        backend: str = 'auto',
        max_input_pixels: int | None = DEFAULT_MAX_INPUT_PIXELS,
        max_inference_pixels: int | None = None,
        cuda_graphs: bool | None = None,
        torch_compile: bool = False,
    ) -> None:
        if resize not in RESIZE_POLICIES:
            raise ValueError(
                f'unknown resize policy {resize!r}; accepted: {", ".join(RESIZE_POLICIES)}'
            )
        self.device = select_device(device)
        self.resize = resize
        if weights is None or str(weights) == '':
            if model is None:
                raise ValueError('give a weights file or a model name (random initialisation)')
            get_model_spec(model)  # UnknownModelError listing the accepted names
            n = DEFAULT_NUM_CLASSES if num_classes is None else int(num_classes)
            camvid = n == len(CAMVID_CLASSES)
            network = build_model(model, num_classes=n).eval()
            self.meta = WeightsMeta(
                model=model,
                num_classes=n,
                class_names=list(CAMVID_CLASSES) if camvid else [],
                colors=[list(c) for c in CAMVID_COLORS] if camvid else [],
                dataset='random initialisation (untrained)',
            )
            self.weights_path: str | None = None
            self.random_weights = True
        else:
            network, self.meta = load_model(weights, expect_model=model)
            if num_classes is not None and num_classes != self.meta.num_classes:
                raise WeightsError(
                    f'{weights} has {self.meta.num_classes} classes, not the requested '
                    f'{num_classes}'
                )
            self.weights_path = str(weights)
            self.random_weights = False
        if input_size is not None:
            h, w = (int(v) for v in input_size)
            lo, hi = LIMITS.side
            if not (lo <= h <= hi and lo <= w <= hi) or h * w > LIMITS.network_pixels:
                raise ValueError(
                    f'input_size must be (H, W) with each in [{lo}, {hi}] and at most '
                    f'{LIMITS.network_pixels} pixels, got {input_size}'
                )
            self.input_size: tuple[int, int] | None = (h, w)
        else:
            recorded = self.meta.input_size
            self.input_size = tuple(recorded) if recorded else None  # type: ignore[assignment]
        if self.meta.num_classes > 256:
            raise WeightsError(
                f'{self.weights_path or self.meta.model}: uint8 masks hold at most 256 classes; '
                f'the model has {self.meta.num_classes}'
            )
        if max_input_pixels is not None and int(max_input_pixels) < 1:
            raise ValueError(f'max_input_pixels must be >= 1, got {max_input_pixels}')
        self.max_input_pixels = None if max_input_pixels is None else int(max_input_pixels)
        if (
            max_inference_pixels is not None
            and not 0 <= int(max_inference_pixels) <= LIMITS.network_pixels
        ):
            raise ValueError(
                f'max_inference_pixels must be in [0, {LIMITS.network_pixels}] (0 = from the '
                f'weights), got {max_inference_pixels}'
            )
        self.max_inference_pixels = int(max_inference_pixels or 0) or default_inference_pixels(
            self.meta
        )
        self.model_name = self.meta.model
        self.dtype = torch.float16 if self.device.type == 'cuda' else torch.float32
        self.backend = make_backend(
            backend,
            network,
            self.device,
            self.dtype,
            num_classes=self.meta.num_classes,
            model_name=self.model_name,
            cuda_graphs=cuda_graphs,
            torch_compile=torch_compile,
        )
        # CUDA: frames go through a page-locked buffer, so that the upload is one asynchronous
        # DMA (a pageable source makes the driver copy it again and wait); see _upload
        self._staging: tuple[torch.Tensor, torch.cuda.Event | None] | None = None
        self.network = network  # the torch module (on the device for the torch backend)
        mean = torch.tensor(self.meta.mean, dtype=torch.float32, device=self.device)
        std = torch.tensor(self.meta.std, dtype=torch.float32, device=self.device)
        # x / 255 normalised = x * scale + shift, one fused multiply-add per pixel
        self._scale = (1.0 / (255.0 * std)).view(1, 3, 1, 1)
        self._shift = (-mean / std).view(1, 3, 1, 1)
        self.palette = np.asarray(self.meta.colors, dtype=np.uint8).reshape(-1, 3)
        self.class_names = list(self.meta.class_names)
        #: (image size, seconds) of the last :meth:`warm_up`, None before one
        self.warmed_up: tuple[tuple[int, int], float] | None = None

    def warm_up(self, image_size: tuple[int, int] | None = None) -> float | None:
        """
        Segment one black (H, W) image, so that the first real frame of that size runs at speed.

        A size's first frame is the slow one: on CUDA it captures the network's graph for that
        shape and lets cuDNN choose its kernels (2.6 s on an H100), with ``torch_compile`` it
        compiles (about 25 s there with an empty cache). (ONNX Runtime on the CPU: the node's
        first frame measured no faster for it.)
        ``image_size`` None means ``input_size`` where that is fixed (every image is resized to
        it); with neither, the network's shape depends on the images to come, and nothing is
        done (None is returned). Returns the seconds it took.
        """
        size = image_size or self.input_size
        if not size:
            return None
        height, width = (int(v) for v in size)
        if height < 1 or width < 1 or height * width > (self.max_input_pixels or height * width):
            raise ValueError(
                f'warm-up image {height}x{width} must have at least one pixel and at most '
                f'max_input_pixels ({self.max_input_pixels}), as a frame must'
            )
        started = time.perf_counter()
        self.segment(np.zeros((height, width, 3), np.uint8))
        seconds = time.perf_counter() - started
        self.warmed_up = ((height, width), seconds)
        return seconds

    def __repr__(self) -> str:
        return (
            f'Segmenter(model={self.model_name!r}, weights={self.weights_path!r}, '
            f'device={self.device}, backend={self.backend.description!r}, '
            f'input_size={self.input_size}, resize={self.resize!r}, '
            f'max_inference_pixels={self.max_inference_pixels})'
        )

    def network_size(
        self, height: int, width: int
    ) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
        """
        Return the network input (H, W) for an image, and the image's box in it.

        The box is (top, left, height, width).
        """
        target = self.input_size
        if target is None:
            pixels = height * width
            if pixels <= self.max_inference_pixels:
                return (height, width), (0, 0, height, width)
            ratio = math.sqrt(self.max_inference_pixels / pixels)
            h, w = max(1, int(height * ratio)), max(1, int(width * ratio))
            return (h, w), (0, 0, h, w)
        if self.resize == 'stretch':
            return target, (0, 0, *target)
        ratio = min(target[0] / height, target[1] / width)
        h, w = max(1, round(height * ratio)), max(1, round(width * ratio))
        return target, ((target[0] - h) // 2, (target[1] - w) // 2, h, w)

    def _upload(self, image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """(1, 3, h, w) float32 on the device: ``image`` resized to ``size`` (h, w)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f'expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}'
            )
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f'empty image {image.shape}')
        check_size(image.shape[1], image.shape[0], self.max_input_pixels)
        if size != image.shape[:2]:
            # on the host for every device: one definition of the network's input, so that CPU
            # and GPU masks agree (a GPU resize differing by 0.7 grey levels on average flipped
            # 2.5% of a synthetic 1920x1080 frame's labels, on an H100 and on the CPU alike),
            # and less to upload
            image = _resize_host(image, size)
        if self.device.type == 'cuda':
            tensor = self._upload_pinned(image)
        else:
            with warnings.catch_warnings():  # read-only message buffers: torch only reads them
                warnings.simplefilter('ignore', UserWarning)
                tensor = torch.from_numpy(image)
        return tensor.permute(2, 0, 1).unsqueeze(0).float()

    def _upload_pinned(self, image: np.ndarray) -> torch.Tensor:
        """Return ``image`` on the GPU, uint8 (4x less to move than float), copied async."""
        staging = self._staging
        if staging is None or staging[0].shape != image.shape:
            staging = (torch.empty(image.shape, dtype=torch.uint8, pin_memory=True), None)
        buffer, done = staging
        if done is not None:
            done.synchronize()  # the previous frame's copy out of the buffer has finished
        buffer.numpy()[...] = image
        tensor = buffer.to(self.device, non_blocking=True)
        done = torch.cuda.Event()
        done.record(torch.cuda.current_stream(self.device))  # the copy's stream, on its GPU
        self._staging = (buffer, done)
        return tensor

    def _network_logits(self, image: np.ndarray) -> torch.Tensor:
        """
        Return (1, C, h, w) logits at network resolution over the image's area.

        The letterbox padding is cut off.
        """
        size, (top, left, h, w) = self.network_size(*image.shape[:2])
        x = self._upload(image, (h, w)) * self._scale + self._shift
        if (h, w) != size:  # letterbox: pad after normalising, zeros are the mean colour
            x = F.pad(x, (left, size[1] - w - left, top, size[0] - h - top))
        out = self.backend(x)
        if (h, w) != size:
            rows, cols = slice(top, top + h), slice(left, left + w)
            out = out[:, :, rows, cols]
        return out

    @torch.inference_mode()
    def logits(self, image: np.ndarray) -> torch.Tensor:
        """
        (1, C, H, W) float32 logits at the image's resolution, on the device.

        The reference for :meth:`segment` (its masks are this tensor's argmax); it holds classes x
        H x W floats, so it is for tests and small images.
        """
        height, width = image.shape[:2]
        out = self._network_logits(image)
        if out.shape[-2:] != (height, width):
            return F.interpolate(out, size=(height, width), mode='bilinear', align_corners=False)
        return out.clone()  # the backend's buffer is reused by the next call (CUDA graphs)

    @torch.inference_mode()
    def segment(self, image: np.ndarray, *, confidence: bool = False) -> Segmentation:
        """
        Segment (H, W, 3) uint8 RGB into a :class:`Segmentation` at (H, W).

        The confidence is computed only when asked for.
        """
        height, width = image.shape[:2]
        out = self._network_logits(image)
        # max over classes gives labels and the top logit in one pass; torch's argmax over dim 1
        # measured 20x slower on the CPU (16 ms vs 0.8 ms at 360x480, 11 classes)
        top, labels = out.max(dim=1)
        conf = None
        if confidence:  # max softmax probability = 1 / sum_c exp(logit_c - top logit)
            conf = torch.exp(out - top.unsqueeze(1)).sum(dim=1).reciprocal()[0].cpu().numpy()
        if out.shape[-2:] == (height, width):
            return Segmentation(mask=labels[0].to(torch.uint8).cpu().numpy(), confidence=conf)
        if (
            self.device.type == 'cuda'
            and out.shape[1] * height * width * out.element_size() <= DEVICE_UPSAMPLE_BYTES
        ):
            # the same definition (argmax of the bilinearly resized logits) on the GPU: one uint8
            # mask comes back instead of the C x h x w logits, and the host's exact upsampling
            # (10 ms for a 1280x720 frame on one CPU core) is not paid on a robot's slow CPU
            full = F.interpolate(out, size=(height, width), mode='bilinear', align_corners=False)
            mask = full.argmax(dim=1)[0].to(torch.uint8).cpu().numpy()
        else:
            mask = upsample_labels(
                out[0].float().cpu().numpy(),
                labels[0].to(torch.uint8).cpu().numpy(),
                height,
                width,
            )
        if conf is not None:
            conf = cv2.resize(conf, (width, height), interpolation=cv2.INTER_LINEAR)
        return Segmentation(mask=mask, confidence=conf)


def build_segmenter(
    weights: str = '', model: str = DEFAULT_MODEL, *, num_classes: int | None = None, **options
) -> Segmenter:
    """
    Return the segmenter for a ``weights`` setting, read as the node and the tools read it.

    The node, ``lightseg predict`` and the tools read the setting as:
    ``""`` = the shipped weights of ``model`` (random, for ``num_classes``, where none ship),
    ``random``, or a ``.safetensors`` file, which names the model. ``options`` go to
    :class:`Segmenter`.
    """
    path = resolve_weights(weights, model)
    if path:
        return Segmenter(path, **options)
    return Segmenter(model=model, num_classes=num_classes, **options)
