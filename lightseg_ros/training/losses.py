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
Segmentation losses: cross-entropy, Dice, CE + Dice (paper A, Huo et al. 2023), focal and OHEM.

Every loss takes logits (B, C, H, W) and integer targets (B, H, W); pixels equal to
``ignore_index`` take no part in any term (the public DeepLabV3+ code counts them as false
positives in Dice; here they are excluded everywhere).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

__all__ = [
    'CrossEntropy',
    'DiceLoss',
    'CEDiceLoss',
    'FocalLoss',
    'OhemCrossEntropy',
    'DistillationLoss',
    'build_loss',
    'LOSSES',
]


def _valid_one_hot(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    one_hot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    return one_hot * valid.unsqueeze(1), valid.unsqueeze(1).to(logits.dtype)


def _true_class_log_prob(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Return log p of each pixel's true class (B, H, W, fp32), the labelled mask and safe targets.

    Safe targets put class 0 where the pixel is ignored, so they index any per-class table.
    """
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    logp_t = F.log_softmax(logits.float(), dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
    return logp_t, valid, safe


class CrossEntropy(nn.Module):
    """
    The (class-weighted) mean of :class:`torch.nn.CrossEntropyLoss`; 0 with no labelled pixel.

    torch's mean divides by the labelled pixels' weight, 0 when a batch holds none (a crop of
    void only), and gives NaN: the gradient stays finite, but the epoch's logged loss was NaN.
    Written as torch's sum over the pixels' weight, clamped, without a host sync.
    """

    def __init__(self, ignore_index: int = 255, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.ignore_index, self.class_weights = ignore_index, class_weights

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weights = None if self.class_weights is None else self.class_weights.to(logits.device)
        total = F.cross_entropy(
            logits, target, weight=weights, ignore_index=self.ignore_index, reduction='sum'
        )
        valid = target != self.ignore_index
        if weights is None:
            count = valid.sum().to(total.dtype)
        else:
            safe = torch.where(valid, target, torch.zeros_like(target))
            count = (weights[safe] * valid).sum().to(total.dtype)
        return total / count.clamp(min=1e-12)


class DiceLoss(nn.Module):
    """
    1 - mean over classes of (2 tp + eps) / (2 tp + fp + fn + eps).

    tp, fp and fn are soft counts (softmax probabilities) summed per class over the batch and all
    valid pixels. A class with no labelled pixel in the batch has tp 0 and scores about 0, so the
    loss cannot fall below (absent classes) / (classes): its logged value tracks how many classes
    a batch holds. Such a class gives (almost) no gradient, so training is unaffected; averaging
    over present classes only would instead scale the Dice term's gradient by batch content, and
    the recipes' results were measured with this form.
    """

    def __init__(self, ignore_index: int = 255, eps: float = 1e-5) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.eps = eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prob = logits.float().softmax(dim=1)
        one_hot, valid = _valid_one_hot(prob, target, self.ignore_index)
        prob = prob * valid
        dims = (0, 2, 3)
        tp = (prob * one_hot).sum(dims)
        fp = prob.sum(dims) - tp
        fn = one_hot.sum(dims) - tp
        score = (2 * tp + self.eps) / (2 * tp + fp + fn + self.eps)
        return 1 - score.mean()


class CEDiceLoss(nn.Module):
    """
    Paper A's loss: cross-entropy + Dice, equal weights by default.

    ``ce`` replaces the cross-entropy term (for instance by :class:`OhemCrossEntropy`).
    """

    def __init__(
        self,
        ignore_index: int = 255,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        class_weights: torch.Tensor | None = None,
        ce: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.ce = ce or CrossEntropy(ignore_index, class_weights)
        self.dice = DiceLoss(ignore_index)
        self.ce_weight, self.dice_weight = ce_weight, dice_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.ce_weight * self.ce(logits, target) + self.dice_weight * self.dice(
            logits, target
        )


class FocalLoss(nn.Module):
    """
    Focal loss (Lin et al., ICCV 2017): mean over valid pixels of -(1 - p_t)^gamma log p_t.

    With ``class_weights`` the mean is weighted as :class:`CrossEntropy`'s and
    :class:`OhemCrossEntropy`'s are (divided by the pixels' summed weights), so the three losses
    keep one scale for one set of weights, and gamma 0 gives weighted cross-entropy.
    """

    def __init__(
        self,
        ignore_index: int = 255,
        gamma: float = 2.0,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.ignore_index, self.gamma = ignore_index, gamma
        self.class_weights = class_weights

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp_t, valid, safe = _true_class_log_prob(logits, target, self.ignore_index)
        loss = -((1 - logp_t.exp()) ** self.gamma) * logp_t
        if self.class_weights is None:
            count = valid.sum().to(loss.dtype)
        else:
            weight = self.class_weights.to(loss.device, loss.dtype)[safe]
            loss = loss * weight
            count = (weight * valid).sum()
        return (loss * valid).sum() / count.clamp(min=1e-12)


class OhemCrossEntropy(nn.Module):
    """
    Cross-entropy over the hard pixels only: online hard example mining, applied per pixel.

    A labelled pixel is hard when the softmax probability of its true class is at most
    ``thresh``. When fewer than ``min_kept`` (a fraction of the batch's labelled pixels) are hard,
    the ``min_kept`` least confident pixels are kept instead, so the loss never rests on a
    handful of pixels late in training. The kept pixels' mean is weighted by ``class_weights``
    as :class:`torch.nn.CrossEntropyLoss` weights its mean. torch has no such loss; the
    selection is written here without a host sync (no ``.item()``), so a CUDA step keeps its
    pace.
    """

    def __init__(
        self,
        ignore_index: int = 255,
        thresh: float = 0.7,
        min_kept: float = 0.05,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < thresh <= 1.0 or not 0.0 <= min_kept <= 1.0:
            raise ValueError(
                f'OHEM needs 0 < thresh <= 1 and 0 <= min_kept <= 1, got {thresh} and {min_kept}'
            )
        self.ignore_index, self.thresh, self.min_kept = ignore_index, thresh, min_kept
        self.class_weights = class_weights

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp_t, valid, safe = _true_class_log_prob(logits, target, self.ignore_index)
        with torch.no_grad():
            # unlabelled pixels sort last (probability 2) and are never kept
            prob = torch.where(valid, logp_t.exp(), torch.full_like(logp_t, 2.0)).flatten()
            k = (valid.sum() * self.min_kept).long().clamp(min=1, max=prob.numel())
            kth = prob.sort().values.gather(0, (k - 1).view(1))  # k-th least confident
            keep = valid & (prob.view_as(valid) <= torch.clamp(kth, min=self.thresh))
        weight = keep.to(logp_t.dtype)
        if self.class_weights is not None:
            weight = weight * self.class_weights.to(logp_t.device)[safe]
        return -(logp_t * weight).sum() / weight.sum().clamp(min=1e-12)


class DistillationLoss(nn.Module):
    """
    T^2 x mean over labelled pixels of KL(teacher || student), both softmaxes at temperature T.

    Hinton et al.'s (2015) soft targets applied per pixel, the pixel-wise term of structured
    distillation for segmentation (Liu et al., CVPR 2019). Pixels whose target is
    ``ignore_index`` (padding, unlabelled) take no part. Teacher logits of another size are
    resized to the student's.
    """

    def __init__(self, temperature: float = 1.0, ignore_index: int = 255) -> None:
        super().__init__()
        self.temperature, self.ignore_index = temperature, ignore_index

    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        if teacher.shape[-2:] != student.shape[-2:]:
            teacher = F.interpolate(
                teacher, size=student.shape[-2:], mode='bilinear', align_corners=False
            )
        t = self.temperature
        log_s = F.log_softmax(student.float() / t, dim=1)
        log_t = F.log_softmax(teacher.float() / t, dim=1)
        kl = (log_t.exp() * (log_t - log_s)).sum(dim=1)  # (B, H, W)
        valid = target != self.ignore_index
        return t * t * (kl * valid).sum() / valid.sum().clamp(min=1)


LOSSES: dict[str, Callable[..., nn.Module]] = {
    'ce': lambda ignore_index, class_weights=None, **_: CrossEntropy(ignore_index, class_weights),
    'dice': lambda ignore_index, class_weights=None, **_: DiceLoss(ignore_index),
    'ce_dice': lambda ignore_index, class_weights=None, **_: CEDiceLoss(
        ignore_index, class_weights=class_weights
    ),
    'focal': lambda ignore_index, class_weights=None, **_: FocalLoss(
        ignore_index, class_weights=class_weights
    ),
    'ohem': lambda ignore_index, class_weights=None, **ohem: OhemCrossEntropy(
        ignore_index, class_weights=class_weights, **ohem
    ),
    'ohem_dice': lambda ignore_index, class_weights=None, **ohem: CEDiceLoss(
        ignore_index, ce=OhemCrossEntropy(ignore_index, class_weights=class_weights, **ohem)
    ),
}


def build_loss(
    name: str,
    *,
    ignore_index: int = 255,
    class_weights: torch.Tensor | None = None,
    ohem_thresh: float = 0.7,
    ohem_min_kept: float = 0.05,
) -> nn.Module:
    """Build loss ``name``; the ``ohem_*`` settings apply to ``ohem`` and ``ohem_dice`` only."""
    if name not in LOSSES:
        raise ValueError(f'unknown loss {name!r}; accepted: {", ".join(sorted(LOSSES))}')
    if name == 'dice' and class_weights is not None:
        # Dice is a mean over classes already: the weights were printed and recorded, and ignored
        raise ValueError(
            'the dice loss takes no class weights; set train.class_weights and '
            'train.class_weight_c to null, or use ce_dice'
        )
    return LOSSES[name](ignore_index, class_weights, thresh=ohem_thresh, min_kept=ohem_min_kept)
