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
Every registered model is tested by being registered.

Shapes, gradients, determinism, figures.
"""

from lightseg_ros.models import (
    build_model,
    get_model_spec,
    list_models,
    measure,
    UnknownModelError,
)
import pytest
import torch

MODELS = list_models()

# The papers' figures at 512x512, 21 classes (counted as in lightseg_ros.models.complexity) and the
# tolerance the issue sets.
PAPER_FIGURES = {
    'deeplabv3plus_mobilenetv2': {'params': (5_818_149, 0.005), 'gflops': (52.846, 0.02)},
    'ghostnet_aspp_da': {'params': (2_780_000, 0.05), 'gflops': (1.931, 0.05)},
    'mlff_mobilenetv2': {'fp32_mb': (23.2, 0.05)},
}


def test_registry_holds_the_three_models_and_the_peer():
    assert set(MODELS) == {
        'deeplabv3plus_mobilenetv2',
        'mlff_mobilenetv2',
        'ghostnet_aspp_da',
        'lraspp_mobilenet_v3_large',
    }


def test_the_peer_is_torchvisions_lraspp_unchanged():
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    ours = build_model('lraspp_mobilenet_v3_large', num_classes=11).eval()
    theirs = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=11).eval()
    theirs.load_state_dict(ours.net.state_dict())  # same tensors, names and shapes
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x)['out'])


def test_unknown_model_names_the_accepted_ones():
    with pytest.raises(UnknownModelError) as err:
        build_model('resnet_nope', num_classes=3)
    for name in MODELS:
        assert name in str(err.value)


def test_unsupported_output_stride_is_refused():
    with pytest.raises(ValueError, match='output_stride'):
        build_model('deeplabv3plus_mobilenetv2', num_classes=3, output_stride=4)


@pytest.mark.parametrize('name', MODELS)
@pytest.mark.parametrize('size', [(64, 64), (97, 131), (361, 479)])
def test_logits_come_back_at_input_size(name, size):
    model = build_model(name, num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 5, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('name', MODELS)
def test_every_output_stride_gives_input_sized_logits(name):
    for os_ in get_model_spec(name).output_strides:
        model = build_model(name, num_classes=3, output_stride=os_).eval()
        with torch.no_grad():
            feats = model.backbone(torch.randn(1, 3, 128, 160))
        for info in model.backbone.feature_info:
            assert feats[info.name].shape[1] == info.channels
            assert feats[info.name].shape[-2:] == (128 // info.reduction, 160 // info.reduction), (
                info
            )
        assert max(f.reduction for f in model.backbone.feature_info) == os_


@pytest.mark.parametrize('name', MODELS)
def test_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=4).train()
    x = torch.randn(2, 3, 64, 96)
    target = torch.randint(0, 4, (2, 64, 96))
    loss = torch.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    # attention gammas start at 0, so their inputs' convs get no gradient on the first step only
    # via gamma
    assert not [
        n
        for n in no_grad
        if 'gamma' not in n and 'query' not in n and 'key' not in n and 'value' not in n
    ]
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize('name', MODELS)
def test_eval_is_deterministic(name):
    model = build_model(name, num_classes=3).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize('name', sorted(PAPER_FIGURES))
def test_papers_figures(name):
    c = measure(
        build_model(name, num_classes=21, output_stride=16 if name != 'ghostnet_aspp_da' else None)
    )
    measured = {'params': c.params, 'gflops': c.gflops, 'fp32_mb': c.state_dict_mb}
    for key, (expected, tol) in PAPER_FIGURES[name].items():
        assert abs(measured[key] - expected) <= tol * expected, (key, measured[key], expected)


def test_baseline_parameter_count_is_exact():
    assert measure(build_model('deeplabv3plus_mobilenetv2', num_classes=21)).params == 5_818_149


def test_mlff_ablation_switch_removes_feature_enhancement():
    with_fe = build_model('mlff_mobilenetv2', num_classes=21)
    without = build_model('mlff_mobilenetv2', num_classes=21, feature_enhancement=False)
    assert any('context' in n for n, _ in with_fe.named_parameters())
    assert not any('context' in n for n, _ in without.named_parameters())
    with pytest.raises(ValueError, match='does not accept options'):
        build_model('deeplabv3plus_mobilenetv2', num_classes=21, feature_enhancement=False)


def test_dilated_ghostnet_keeps_the_convs_before_the_stride_at_their_own_rate():
    # the first ghost module of a strided bottleneck runs at the resolution before the stride, so
    # at output stride 16 its 3x3 cheap op keeps dilation 1, like the strided conv itself; the
    # ghost module after the stride works at the dilated rate (2)
    os32 = build_model('ghostnet_aspp_da', num_classes=3, output_stride=32).backbone
    os16 = build_model('ghostnet_aspp_da', num_classes=3, output_stride=16).backbone
    checked = 0
    for b32, b16 in zip(os32.blocks.modules(), os16.blocks.modules()):
        dw = getattr(b32, 'conv_dw', None)
        if not isinstance(dw, torch.nn.Conv2d) or dw.stride != (2, 2):
            continue
        if b16.conv_dw.stride == (2, 2):  # a stride outside the dilated levels: untouched
            assert b16.ghost1.cheap_operation[0].dilation == (1, 1)
            continue
        checked += 1
        assert b16.conv_dw.dilation == (1, 1)
        assert b16.ghost1.cheap_operation[0].dilation == (1, 1)
        assert b16.ghost2.cheap_operation[0].dilation == (2, 2)
        assert b16.shortcut[0].dilation == (1, 1)
    assert checked == 1


def test_position_attention_in_row_blocks_equals_the_whole_matrix():
    from lightseg_ros.models.blocks import PositionAttention

    torch.manual_seed(0)
    whole = PositionAttention(16).eval()
    with torch.no_grad():
        whole.gamma.fill_(1.0)
    blocks = PositionAttention(16).eval()
    blocks.load_state_dict(whole.state_dict())
    # 7 x 9 = 63 positions: 63 * 10 elements a block, so 7 blocks, the last one short
    blocks.max_affinity_elements = 63 * 10
    x = torch.randn(2, 16, 7, 9)
    largest = []
    real_softmax = torch.softmax

    def softmax(t, dim):  # the affinities of one block are what the softmax sees
        largest.append(t[0].numel())
        return real_softmax(t, dim=dim)

    with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch, 'softmax', softmax)
        expected = whole(x)
        assert largest == [63 * 63]
        largest.clear()
        got = blocks(x)
    assert len(largest) == 7 and max(largest) <= 63 * 10
    assert not torch.equal(expected, x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
