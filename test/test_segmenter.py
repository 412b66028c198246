"""The segmenter: mask at input resolution, resize policies, weights and model handling."""
import numpy as np
import pytest
import torch

from lightseg_ros.classes import CAMVID_CLASSES
from lightseg_ros.inference import Segmenter, select_device
from lightseg_ros.models import UnknownModelError, WeightsError, WeightsMeta, build_model, save_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest

IMAGE = np.random.default_rng(0).integers(0, 256, (48, 72, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def segmenter():
    torch.manual_seed(0)
    return Segmenter(model="ghostnet_aspp_da")


def test_random_init_uses_camvid_classes(segmenter):
    assert segmenter.random_weights and segmenter.meta.class_names == list(CAMVID_CLASSES)
    assert segmenter.model_name == "ghostnet_aspp_da" and segmenter.device == torch.device("cpu")
    assert segmenter.palette.shape == (11, 3)


def test_mask_at_input_resolution_matches_argmax(segmenter):
    result = segmenter.segment(IMAGE)
    assert result.mask.shape == (48, 72) and result.mask.dtype == np.uint8 and result.confidence is None
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


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
def test_fixed_input_size_gives_mask_at_input_resolution(resize):
    seg = Segmenter(model="ghostnet_aspp_da", input_size=(64, 64), resize=resize)
    assert seg.segment(IMAGE).mask.shape == (48, 72)


def test_letterbox_pads_and_crops_back(monkeypatch):
    seg = Segmenter(model="ghostnet_aspp_da", input_size=(64, 64), resize="letterbox")
    seen = {}

    def fake_model(x):
        seen["shape"] = tuple(x.shape)
        seen["x"] = x.clone()
        return torch.zeros(1, 11, 64, 64)

    monkeypatch.setattr(seg, "backend", fake_model)
    seg.segment(IMAGE)
    assert seen["shape"] == (1, 3, 64, 64)
    # 48x72 fits 64x64 as 43x64 (rounded), centred: 10 rows of padding on top, zeros (= mean colour)
    assert torch.count_nonzero(seen["x"][:, :, :10]) == 0 and torch.count_nonzero(seen["x"][:, :, -10:]) == 0
    assert torch.count_nonzero(seen["x"][:, :, 11:53]) > 0


def test_weights_file_decides_classes_and_input_size(tmp_path):
    net = build_model("ghostnet_aspp_da", num_classes=3)
    meta = WeightsMeta(model="ghostnet_aspp_da", num_classes=3, class_names=["a", "b", "c"], input_size=[32, 32])
    path = save_weights(tmp_path / "w.safetensors", net, meta)
    seg = Segmenter(path)
    assert seg.meta.class_names == ["a", "b", "c"] and seg.input_size == (32, 32) and not seg.random_weights
    assert seg.segment(IMAGE).mask.max() < 3
    with pytest.raises(WeightsError, match="not the requested"):
        Segmenter(path, model="mlff_mobilenetv2")
    with pytest.raises(WeightsError, match="classes"):
        Segmenter(path, num_classes=5)


def test_bad_arguments():
    with pytest.raises(UnknownModelError, match="ghostnet_aspp_da"):
        Segmenter(model="segformer_b9")
    with pytest.raises(ValueError, match="letterbox"):
        Segmenter(model="ghostnet_aspp_da", resize="crop")
    with pytest.raises(ValueError, match="weights file or a model"):
        Segmenter()
    with pytest.raises(ValueError, match="accepted"):
        select_device("tpu")
    with pytest.raises(ValueError, match="uint8"):
        Segmenter(model="ghostnet_aspp_da").segment(IMAGE.astype(np.float32))
    assert select_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
