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
Evaluation at native resolution.

Prediction with optional flip and multi-scale testing, scores from the shared
:class:`~lightseg_ros.metrics.ConfusionMatrix`, and reports (JSON + PNG charts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ..metrics import ConfusionMatrix, SegmentationScores

__all__ = [
    'predict_probabilities',
    'size_batches',
    'native_loader',
    'evaluate',
    'write_report',
    'plot_per_class_iou',
    'plot_confusion',
]


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: torch.Tensor, *, scales: Sequence[float] = (1.0,), flip: bool = False
) -> torch.Tensor:
    """
    Return class probabilities (B, C, H, W) at the input's size.

    The softmax of each pass, averaged over ``scales`` (and their horizontal flips when ``flip``).
    With one scale and no flip this is the softmax of one pass.
    """
    h, w = images.shape[-2:]
    total, passes = None, 0
    for s in scales:
        x = (
            images
            if s == 1.0
            else F.interpolate(images, scale_factor=s, mode='bilinear', align_corners=False)
        )
        views = [(x, False), (x.flip(-1), True)] if flip else [(x, False)]
        for view, flipped in views:
            out = model(view).float()
            if flipped:
                out = out.flip(-1)
            if out.shape[-2:] != (h, w):
                out = F.interpolate(out, size=(h, w), mode='bilinear', align_corners=False)
            prob = out.softmax(1)
            total = prob if total is None else total + prob
            passes += 1
    return total / passes


def size_batches(sizes: Sequence[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """
    Return batches of positions into ``sizes``, at most ``batch_size`` each, of one size each.

    Images scored at native resolution are stacked into one tensor per batch, which needs them
    all of one size: each size's images are batched on their own, in their order (the sizes in
    the order they first appear). The confusion matrix does not depend on the order.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for position, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(position)
    return [
        group[start:start + batch_size]
        for group in groups.values()
        for start in range(0, len(group), batch_size)
    ]


def native_loader(
    dataset, batch_size: int, workers: int = 0, indices: Sequence[int] | None = None
) -> DataLoader:
    """
    Return a loader of ``dataset`` (or of its samples ``indices``) for :func:`evaluate`.

    With ``batch_size`` above 1, each batch holds images of one size
    (:meth:`~lightseg_ros.training.datasets.SegmentationDataset.sample_sizes`, read by its
    ``check()``), so a split that mixes sizes is scored as it is, not stopped by a batch that
    cannot be stacked.
    """
    indices = list(range(len(dataset))) if indices is None else list(indices)
    subset = Subset(dataset, indices)
    if batch_size == 1:
        return DataLoader(subset, batch_size=1, shuffle=False, num_workers=workers)
    sizes = dataset.sample_sizes()
    batches = size_batches([sizes[i] for i in indices], batch_size)
    return DataLoader(subset, batch_sampler=batches, num_workers=workers)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    num_classes: int,
    ignore_index: int,
    *,
    device: torch.device | str = 'cpu',
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    amp: bool = False,
    progress: bool = False,
) -> ConfusionMatrix:
    """
    Return the confusion matrix of ``model`` over ``loader``.

    Batches of normalised images and label maps.
    """
    model.eval()
    device = torch.device(device)
    cm = ConfusionMatrix(num_classes, ignore_index)
    if progress:
        from tqdm import tqdm

        loader = tqdm(loader, desc='eval', leave=False, dynamic_ncols=True, disable=None)
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        with torch.autocast(
            device.type, dtype=torch.float16, enabled=amp and device.type == 'cuda'
        ):
            prob = predict_probabilities(model, images, scales=scales, flip=flip)
        cm.update(prob.argmax(1), targets.to(device))
    return cm


def plot_per_class_iou(
    scores: SegmentationScores,
    class_names: Sequence[str],
    colors: Sequence[Sequence[int]],
    path: str | Path,
    title: str = '',
) -> Path:
    """Horizontal bars of per-class IoU in the classes' colours, mIoU as a dashed line."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    iou = np.nan_to_num(np.array(scores.per_class_iou, dtype=float), nan=0.0)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(7, 0.35 * n + 1.5))
    y = np.arange(n)
    ax.barh(
        y, iou * 100, color=[np.array(c) / 255 for c in colors], edgecolor='black', linewidth=0.5
    )
    for yi, v, raw in zip(y, iou, scores.per_class_iou):
        ax.text(
            v * 100 + 1, yi, 'n/a' if np.isnan(raw) else f'{v * 100:.1f}', va='center', fontsize=8
        )
    ax.axvline(
        scores.miou * 100,
        color='black',
        linestyle='--',
        linewidth=1,
        label=f'mIoU {scores.miou * 100:.1f}%',
    )
    ax.legend(loc='lower right', fontsize=8)
    ax.set_yticks(y, class_names)
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel('IoU (%)')
    ax.set_title(
        title
        or (
            f'per-class IoU, mIoU {scores.miou * 100:.2f}%, pixel acc. '
            f'{scores.pixel_accuracy * 100:.2f}%'
        )
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_confusion(
    scores: SegmentationScores, class_names: Sequence[str], path: str | Path
) -> Path:
    """
    Plot the confusion matrix normalised per ground-truth row (recall).

    As a heat map with percentages.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    m = np.array(scores.confusion, dtype=float)
    rows = m.sum(1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(class_names)
    size = max(5.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap='Blues', vmin=0, vmax=1)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if norm[i, j] >= 0.005:
                    ax.text(
                        j,
                        i,
                        f'{norm[i, j] * 100:.0f}',
                        ha='center',
                        va='center',
                        fontsize=7,
                        color='white' if norm[i, j] > 0.5 else 'black',
                    )
    ax.set_xticks(range(n), class_names, rotation=60, ha='right')
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel('predicted')
    ax.set_ylabel('ground truth')
    ax.set_title('confusion matrix (% of each ground-truth class)')
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def write_report(
    scores: SegmentationScores,
    class_names: Sequence[str],
    colors: Sequence[Sequence[int]],
    out_dir: str | Path,
    extra: dict | None = None,
) -> dict[str, Path]:
    """
    Write the evaluation report into ``out_dir``.

    ``metrics.json``, and ``per_class_iou.png`` and ``confusion_matrix.png`` where matplotlib is
    installed (the ``train`` extra; a robot's ROS install may lack it): without it the charts are
    left out, the figures are all in the JSON, and :data:`CHARTS_SKIPPED` says why.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        **(extra or {}),
        **scores.as_dict(list(class_names)),
        'class_names': list(class_names),
    }
    (out_dir / 'metrics.json').write_text(json.dumps(report, indent=2))
    written = {'json': out_dir / 'metrics.json'}
    if not charts_available():
        return written
    written['iou_chart'] = plot_per_class_iou(
        scores, class_names, colors, out_dir / 'per_class_iou.png'
    )
    written['confusion_chart'] = plot_confusion(
        scores, class_names, out_dir / 'confusion_matrix.png'
    )
    return written


#: why :func:`write_report` leaves its charts out where matplotlib is missing
CHARTS_SKIPPED = (
    'charts left out: matplotlib is not installed (pip install matplotlib, or sudo apt install '
    'python3-matplotlib); every figure is in metrics.json'
)


def charts_available() -> bool:
    """Whether matplotlib can be imported, so that :func:`write_report` draws its charts."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
