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

"""The segmenter: mask at input resolution, resize policies, weights and model handling."""

from lightseg_ros.classes import CAMVID_CLASSES
from lightseg_ros.inference import Segmenter, select_device
from lightseg_ros.models import (
    build_model,
    save_weights,
    UnknownModelError,
    WeightsError,
    WeightsMeta,
)
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures('one_torch_thread')  # see conftest

IMAGE = np.random.default_rng(0).integers(0, 256, (48, 72, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def segmenter():
    torch.manual_seed(0)
    return Segmenter(model='ghostnet_aspp_da', device='cpu')  # the CPU path (test_cuda: CUDA's)


def test_random_init_uses_camvid_classes(segmenter):
    assert segmenter.random_weights and segmenter.meta.class_names == list(CAMVID_CLASSES)
    assert segmenter.model_name == 'ghostnet_aspp_da' and segmenter.device == torch.device('cpu')
    assert segmenter.palette.shape == (11, 3)


def test_mask_at_input_resolution_matches_argmax(segmenter):
    result = segmenter.segment(IMAGE)
    assert (
        result.mask.shape == (48, 72)
        and result.mask.dtype == np.uint8
        and result.confidence is None
    )
    logits = segmenter.logits(IMAGE)
    assert np.array_equal(result.mask, logits.argmax(1)[0].numpy().astype(np.uint8))
    with_conf = segmenter.segment(IMAGE, confidence=True)
    assert np.array_equal(with_conf.mask, result.mask)
    c = with_conf.confidence
    assert c.shape == (48, 72) and c.dtype == np.float32 and (c > 0).all() and (c <= 1).all()


def test_read_only_and_padded_views_work(segmenter):
    buf = np.zeros((48, 80, 3), np.uint8)
    buf[:, :72] = IMAGE
    view = buf[:, :72]
    view.flags.writeable = False
    assert np.array_equal(segmenter.segment(view).mask, segmenter.segment(IMAGE).mask)


@pytest.mark.parametrize('resize', ['stretch', 'letterbox'])
def test_fixed_input_size_gives_mask_at_input_resolution(resize):
    seg = Segmenter(model='ghostnet_aspp_da', input_size=(64, 64), resize=resize)
    assert seg.segment(IMAGE).mask.shape == (48, 72)


def test_letterbox_pads_and_crops_back(monkeypatch):
    seg = Segmenter(model='ghostnet_aspp_da', input_size=(64, 64), resize='letterbox')
    seen = {}

    def fake_model(x):
        seen['shape'] = tuple(x.shape)
        seen['x'] = x.clone()
        return torch.zeros(1, 11, 64, 64)

    monkeypatch.setattr(seg, 'backend', fake_model)
    seg.segment(IMAGE)
    assert seen['shape'] == (1, 3, 64, 64)
    # 48x72 fits 64x64 as 43x64 (rounded), centred: 10 rows of padding on top, zeros (= mean
    # colour)
    assert (
        torch.count_nonzero(seen['x'][:, :, :10]) == 0
        and torch.count_nonzero(seen['x'][:, :, -10:]) == 0
    )
    assert torch.count_nonzero(seen['x'][:, :, 11:53]) > 0


def test_weights_file_decides_classes_and_input_size(tmp_path):
    net = build_model('ghostnet_aspp_da', num_classes=3)
    meta = WeightsMeta(
        model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c'], input_size=[32, 32]
    )
    path = save_weights(tmp_path / 'w.safetensors', net, meta)
    seg = Segmenter(path)
    assert (
        seg.meta.class_names == ['a', 'b', 'c']
        and seg.input_size == (32, 32)
        and not seg.random_weights
    )
    assert seg.segment(IMAGE).mask.max() < 3
    with pytest.raises(WeightsError, match='not the requested'):
        Segmenter(path, model='mlff_mobilenetv2')
    with pytest.raises(WeightsError, match='classes'):
        Segmenter(path, num_classes=5)


def test_bad_arguments():
    with pytest.raises(UnknownModelError, match='ghostnet_aspp_da'):
        Segmenter(model='segformer_b9')
    with pytest.raises(ValueError, match='letterbox'):
        Segmenter(model='ghostnet_aspp_da', resize='crop')
    with pytest.raises(ValueError, match='weights file or a model'):
        Segmenter()
    with pytest.raises(ValueError, match='accepted'):
        select_device('tpu')
    with pytest.raises(ValueError, match='uint8'):
        Segmenter(model='ghostnet_aspp_da').segment(IMAGE.astype(np.float32))
    assert select_device('auto') == torch.device('cuda' if torch.cuda.is_available() else 'cpu')


# -- bounded cost whatever the camera -------------------------------------------------------------


def test_frames_above_the_cap_are_downscaled_keeping_aspect(monkeypatch):
    seg = Segmenter(model='ghostnet_aspp_da', max_inference_pixels=1200, backend='torch')
    seen = {}
    real = seg.backend

    def spy(x):
        seen['shape'] = tuple(x.shape)
        return real(x)

    monkeypatch.setattr(seg, 'backend', spy)
    image = np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    result = seg.segment(image, confidence=True)
    h, w = seen['shape'][-2:]
    assert h * w <= 1200 and abs(w / h - 1.5) < 0.05  # 28x42: the image's aspect
    assert result.mask.shape == (60, 90) and result.confidence.shape == (60, 90)
    assert (result.confidence > 0).all() and (result.confidence <= 1).all()
    seg.segment(IMAGE[:20, :30])  # 600 pixels: under the cap, run as is
    assert seen['shape'][-2:] == (20, 30)


def test_downscaled_masks_equal_the_full_resolution_path():
    """segment() never builds the (classes, H, W) logits; its masks still equal their argmax."""
    torch.manual_seed(2)
    seg = Segmenter(
        model='ghostnet_aspp_da', max_inference_pixels=2000, backend='torch', device='cpu'
    )
    rng = np.random.default_rng(4)
    image = cv2_resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (203, 157))
    mask = seg.segment(image).mask
    reference = seg.logits(image).argmax(1)[0].numpy()
    assert mask.shape == (157, 203) and (mask == reference).mean() >= 0.999


@pytest.mark.parametrize(
    'h, w, height, width', [(17, 23, 48, 72), (40, 50, 97, 131), (60, 80, 47, 61), (9, 9, 9, 40)]
)
@pytest.mark.parametrize('smooth', [True, False])
def test_upsample_labels_is_the_argmax_of_bilinear_logits(h, w, height, width, smooth):
    from lightseg_ros.inference.segmenter import upsample_labels
    import torch.nn.functional as F

    torch.manual_seed(h + w)
    if smooth:  # regions and boundaries, as a trained model gives; else every cell mixed
        logits = F.interpolate(
            torch.randn(1, 7, max(2, h // 4), max(2, w // 4)), size=(h, w), mode='bilinear'
        )[0]
    else:
        logits = torch.randn(7, h, w)
    labels = logits.max(0).indices.to(torch.uint8).numpy()
    mask = upsample_labels(logits.numpy(), labels, height, width)
    ref = (
        F.interpolate(logits[None], size=(height, width), mode='bilinear', align_corners=False)[0]
        .argmax(0)
        .numpy()
    )
    assert mask.dtype == np.uint8 and mask.shape == (height, width)
    assert (mask == ref).mean() >= 0.999


def test_default_cap_follows_the_training_scale():
    from lightseg_ros.inference.segmenter import (
        default_inference_pixels,
        FALLBACK_INFERENCE_PIXELS,
    )
    from lightseg_ros.models import read_weights_meta, shipped_weights

    assert (
        default_inference_pixels(read_weights_meta(shipped_weights('ghostnet_aspp_da')))
        == 2 * 360 * 480
    )
    meta = WeightsMeta(
        model='ghostnet_aspp_da', num_classes=3, train_image_size=[512, 1024], dataset='camvid'
    )
    assert default_inference_pixels(meta) == 2 * 512 * 1024  # recorded size first
    assert (
        default_inference_pixels(WeightsMeta(model='ghostnet_aspp_da', num_classes=3))
        == FALLBACK_INFERENCE_PIXELS
    )
    assert (
        Segmenter(
            model='ghostnet_aspp_da', max_inference_pixels=5000, backend='torch'
        ).max_inference_pixels
        == 5000
    )


def test_images_above_max_input_pixels_are_refused():
    from lightseg_ros.inference import ImageDecodeError

    seg = Segmenter(model='ghostnet_aspp_da', max_input_pixels=48 * 72 - 1, backend='torch')
    with pytest.raises(
        ImageDecodeError, match='72x48 = 3456 pixels, above max_input_pixels 3455'
    ) as info:
        seg.segment(IMAGE)
    assert info.value.kind == 'too_large'
    with pytest.raises(ValueError, match='input_size must be'):
        Segmenter(model='ghostnet_aspp_da', input_size=(10**6, 10**6))


class ShapeRecorder:
    """Stands for a segmenter's backend and records the shape of each network input."""

    def __init__(self, backend):
        self.backend, self.shapes = backend, []

    def __call__(self, x):
        self.shapes.append(tuple(x.shape))
        return self.backend(x)

    def __getattr__(self, name):
        return getattr(self.backend, name)


def test_warm_up_runs_the_network_at_the_shape_a_frame_of_that_size_gets():
    seg = Segmenter(model='ghostnet_aspp_da', backend='torch', max_inference_pixels=32 * 48)
    seg.backend = recorder = ShapeRecorder(seg.backend)
    assert seg.warm_up() is None and seg.warmed_up is None  # no fixed size: nothing known
    assert recorder.shapes == []
    seconds = seg.warm_up((48, 72))
    assert seconds > 0 and seg.warmed_up == ((48, 72), seconds)
    seg.segment(IMAGE)  # 48x72, downscaled for the network as the warm-up frame was
    assert len(recorder.shapes) == 2 and recorder.shapes[0] == recorder.shapes[1]
    assert recorder.shapes[0][-2:] != (48, 72)

    fixed = Segmenter(model='ghostnet_aspp_da', backend='torch', input_size=(32, 40))
    fixed.backend = recorder = ShapeRecorder(fixed.backend)
    fixed.warm_up()  # input_size fixed: every frame's network shape is known
    fixed.segment(IMAGE)
    assert recorder.shapes == [(1, 3, 32, 40)] * 2 and fixed.warmed_up[0] == (32, 40)

    small = Segmenter(model='ghostnet_aspp_da', backend='torch', max_input_pixels=100)
    with pytest.raises(ValueError, match=r'warm-up image 20x20 must .* max_input_pixels \(100\)'):
        small.warm_up((20, 20))


def cv2_resize(image, size):
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize('width, to', [(1999, 400), (1279, 320), (4000, 500)])
def test_a_large_shrink_keeps_each_network_pixel_over_its_part_of_the_frame(width, to):
    """Cropping to a multiple of the integer factor shifted pixels by up to 3.3 (1999 -> 400)."""
    from lightseg_ros.inference.segmenter import _resize_host

    columns = np.tile(np.arange(width, dtype=np.float32), (40, 1))  # each pixel its column
    shrunk = _resize_host(columns, (8, to))[0]
    centres = (np.arange(to) + 0.5) * width / to - 0.5
    assert np.abs(shrunk - centres).max() < 0.5
