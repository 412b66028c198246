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

import math

from lightseg_ros.training.losses import (
    build_loss,
    CEDiceLoss,
    DiceLoss,
    DistillationLoss,
    FocalLoss,
    OhemCrossEntropy,
)
import pytest
import torch

IGNORE = 255


def _two_pixel_case():
    # two classes, three pixels: logits make softmax probabilities exactly p = sigmoid(l0 - l1)
    logits = torch.tensor([[[[2.0, 0.0, 5.0]], [[0.0, 0.0, -5.0]]]])  # (1, 2, 1, 3)
    target = torch.tensor([[[0, 1, IGNORE]]])
    return logits, target


def test_dice_by_hand_with_ignored_pixel_excluded():
    logits, target = _two_pixel_case()
    p0 = 1 / (1 + math.exp(-2.0))  # pixel 0: P(class 0)
    # class 0: tp = p0, fp = 0.5 (pixel 1 prob of class 0), fn = 1 - p0
    # class 1: tp = 0.5, fp = 1 - p0, fn = 0.5 ; the ignored pixel contributes nothing
    s0 = 2 * p0 / (2 * p0 + 0.5 + (1 - p0))
    s1 = 2 * 0.5 / (2 * 0.5 + (1 - p0) + 0.5)
    expected = 1 - (s0 + s1) / 2
    got = DiceLoss(IGNORE, eps=0.0)(logits, target)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_dice_ignores_the_ignored_pixel_whatever_its_logits():
    logits, target = _two_pixel_case()
    other = logits.clone()
    other[0, :, 0, 2] = torch.tensor([-9.0, 9.0])
    assert DiceLoss(IGNORE)(logits, target).item() == pytest.approx(
        DiceLoss(IGNORE)(other, target).item()
    )


def test_ce_dice_is_the_sum():
    logits, target = _two_pixel_case()
    p0 = 1 / (1 + math.exp(-2.0))
    ce = (-math.log(p0) - math.log(0.5)) / 2
    dice = DiceLoss(IGNORE)(logits, target).item()
    assert CEDiceLoss(IGNORE)(logits, target).item() == pytest.approx(ce + dice, rel=1e-6)


def test_focal_by_hand_and_gamma_zero_is_ce():
    logits, target = _two_pixel_case()
    p0 = 1 / (1 + math.exp(-2.0))
    expected = ((1 - p0) ** 2 * -math.log(p0) + 0.5**2 * -math.log(0.5)) / 2
    assert FocalLoss(IGNORE)(logits, target).item() == pytest.approx(expected, rel=1e-6)
    ce = torch.nn.functional.cross_entropy(logits, target, ignore_index=IGNORE)
    assert FocalLoss(IGNORE, gamma=0.0)(logits, target).item() == pytest.approx(
        ce.item(), rel=1e-6
    )


def test_weighted_focal_at_gamma_zero_is_weighted_ce():
    logits = torch.randn(2, 3, 4, 5)
    target = torch.randint(0, 3, (2, 4, 5))
    target[0, 0] = IGNORE
    weights = torch.tensor([0.2, 1.0, 3.0])
    ce = torch.nn.functional.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE)
    focal = FocalLoss(IGNORE, gamma=0.0, class_weights=weights)(logits, target)
    assert focal.item() == pytest.approx(ce.item(), rel=1e-5)


def test_perfect_prediction_has_zero_dice_loss():
    target = torch.tensor([[[0, 1], [1, 0]]])
    logits = torch.nn.functional.one_hot(target, 2).permute(0, 3, 1, 2).float() * 100
    assert DiceLoss(IGNORE)(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_build_loss_names_accepted_losses():
    assert isinstance(build_loss('ce_dice'), CEDiceLoss)
    ohem = build_loss('ohem_dice', ohem_thresh=0.5, ohem_min_kept=0.25)
    assert isinstance(ohem.ce, OhemCrossEntropy) and (ohem.ce.thresh, ohem.ce.min_kept) == (
        0.5,
        0.25,
    )
    with pytest.raises(ValueError, match='ce, ce_dice, dice, focal, ohem, ohem_dice'):
        build_loss('hinge')


def test_distillation_by_hand_ignores_unlabelled_pixels_and_scales_by_t_squared():
    student, target = _two_pixel_case()
    teacher = torch.tensor([[[[0.0, 3.0, -9.0]], [[0.0, 0.0, 9.0]]]])
    t = 2.0

    def kl(tl, sl):  # two classes, one pixel, at temperature t
        pt = torch.softmax(torch.tensor(tl) / t, 0)
        ps = torch.softmax(torch.tensor(sl) / t, 0)
        return float((pt * (pt.log() - ps.log())).sum())

    # pixels 0 and 1 are labelled, pixel 2 is ignored whatever the two models say there
    expected = t * t * (kl([0.0, 0.0], [2.0, 0.0]) + kl([3.0, 0.0], [0.0, 0.0])) / 2
    got = DistillationLoss(t, IGNORE)(student, teacher, target)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert DistillationLoss(t, IGNORE)(student, student.clone(), target).item() == pytest.approx(
        0.0, abs=1e-7
    )


def test_distillation_resizes_the_teacher_and_gives_the_student_a_gradient():
    student = torch.randn(2, 4, 16, 16, requires_grad=True)
    teacher = torch.randn(2, 4, 8, 8)
    target = torch.randint(0, 4, (2, 16, 16))
    loss = DistillationLoss(1.0, IGNORE)(student, teacher, target)
    loss.backward()
    assert loss.item() > 0 and student.grad.abs().sum() > 0


def _ohem_case():
    # one class-0 pixel per confidence level: p(true class) = sigmoid(l) for logits (l, 0)
    levels = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 9.0])
    logits = torch.stack([levels, torch.zeros_like(levels)]).view(1, 2, 1, -1)
    target = torch.zeros(1, 1, levels.numel(), dtype=torch.long)
    target[0, 0, -1] = IGNORE  # the most confident pixel is unlabelled: never kept
    return logits, target, -torch.nn.functional.logsigmoid(levels)  # per-pixel CE


def test_ohem_keeps_the_pixels_below_the_threshold():
    logits, target, ce = _ohem_case()
    # p = 0.12 0.27 0.5 0.73 0.88 0.95: at thresh 0.7 the first three are hard
    got = OhemCrossEntropy(IGNORE, thresh=0.7, min_kept=0.0)(logits, target)
    assert got.item() == pytest.approx(ce[:3].mean().item(), rel=1e-6)
    # a threshold of 1 keeps every labelled pixel: plain cross-entropy
    plain = torch.nn.functional.cross_entropy(logits, target, ignore_index=IGNORE)
    everything = OhemCrossEntropy(IGNORE, thresh=1.0, min_kept=0.0)(logits, target)
    assert everything.item() == pytest.approx(plain.item(), rel=1e-6)


def test_ohem_keeps_at_least_min_kept_of_the_labelled_pixels():
    logits, target, ce = _ohem_case()
    # nothing is below 0.05; half of the 6 labelled pixels (the 3 least confident) are kept
    got = OhemCrossEntropy(IGNORE, thresh=0.05, min_kept=0.5)(logits, target)
    assert got.item() == pytest.approx(ce[:3].mean().item(), rel=1e-6)
    # min_kept 1 keeps every labelled pixel but never the unlabelled one
    got = OhemCrossEntropy(IGNORE, thresh=0.05, min_kept=1.0)(logits, target)
    assert got.item() == pytest.approx(ce[:6].mean().item(), rel=1e-6)


def test_ohem_weights_its_mean_like_cross_entropy_and_trains_only_hard_pixels():
    logits, target, ce = _ohem_case()
    target[0, 0, 1] = 1  # pixel 1 becomes class 1 (p = 0.73, easy at thresh 0.5)
    weights = torch.tensor([1.0, 3.0])
    logits.requires_grad_(True)
    loss = OhemCrossEntropy(IGNORE, thresh=0.5, min_kept=0.0, class_weights=weights)(
        logits, target
    )
    # hard: pixels 0 and 2 (class 0, p 0.12 and 0.5); pixel 1 (class 1) is easy and left out
    assert loss.item() == pytest.approx(((ce[0] + ce[2]) / 2).item(), rel=1e-6)
    loss.backward()
    assert logits.grad[0, :, 0, 1].abs().sum() == 0 and logits.grad[0, :, 0, 0].abs().sum() > 0
    with torch.no_grad():  # every pixel kept: the weighted mean of torch's cross-entropy
        all_kept = OhemCrossEntropy(IGNORE, thresh=1.0, min_kept=0.0, class_weights=weights)
        torch_ce = torch.nn.functional.cross_entropy(
            logits, target, weight=weights, ignore_index=IGNORE
        )
        assert all_kept(logits, target).item() == pytest.approx(torch_ce.item(), rel=1e-6)
    with pytest.raises(ValueError, match='0 < thresh <= 1'):
        OhemCrossEntropy(IGNORE, thresh=0.0)


def test_cross_entropy_is_torchs_weighted_mean_and_zero_on_a_batch_of_void_only():
    """The mean of torch is NaN on a crop with no labelled pixel: the epoch's loss was NaN."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, 4, requires_grad=True)
    target = torch.randint(0, 3, (2, 5, 4))
    target[0, 0] = 255
    weights = torch.tensor([0.5, 2.0, 1.0])
    for w in (None, weights):
        ours = build_loss('ce', class_weights=w)(logits, target)
        theirs = torch.nn.CrossEntropyLoss(weight=w, ignore_index=255)(logits, target)
        assert torch.allclose(ours, theirs)
    void = torch.full_like(target, 255)
    for name in ('ce', 'ce_dice'):
        loss = build_loss(name, class_weights=weights)(logits, void)
        assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-6)
        loss.backward()
        assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match='the dice loss takes no class weights'):
        build_loss('dice', class_weights=weights)
