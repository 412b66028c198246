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

"""Weights files carry their metadata; bad files fail with a message that says what is wrong."""

from hostile_inputs import craft, META_CASES, meta_json
from lightseg_ros.models import (
    build_model,
    load_model,
    load_weights,
    PretrainedWeightsError,
    save_weights,
    WeightsError,
    WeightsMeta,
)
import pytest
import torch


@pytest.fixture(scope='module')
def small_weights(tmp_path_factory):
    model = build_model('ghostnet_aspp_da', num_classes=3).eval()
    meta = WeightsMeta(
        model='ghostnet_aspp_da',
        num_classes=3,
        class_names=['a', 'b', 'c'],
        dataset='unit',
        input_size=[64, 96],
        output_stride=32,
    )
    path = save_weights(tmp_path_factory.mktemp('w') / 'g.safetensors', model, meta)
    return path, model


def test_round_trip_restores_model_and_metadata(small_weights):
    path, model = small_weights
    loaded, meta = load_model(path)
    assert meta.class_names == ['a', 'b', 'c'] and meta.input_size == [64, 96]
    assert len(meta.colors) == 3 and all(len(c) == 3 for c in meta.colors)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_half_precision_file_loads_as_float(tmp_path, small_weights):
    _, model = small_weights
    meta = WeightsMeta(model='ghostnet_aspp_da', num_classes=3)
    path = save_weights(tmp_path / 'h.safetensors', model, meta, half=True)
    _, state = load_weights(path)
    assert state['classifier.weight'].dtype == torch.float16
    loaded, _ = load_model(path)
    assert next(loaded.parameters()).dtype == torch.float32


def test_model_options_travel_with_the_file(tmp_path):
    model = build_model('mlff_mobilenetv2', num_classes=2, feature_enhancement=False)
    meta = WeightsMeta(
        model='mlff_mobilenetv2', num_classes=2, model_options={'feature_enhancement': False}
    )
    loaded, _ = load_model(save_weights(tmp_path / 'm.safetensors', model, meta))
    assert not any('context' in n for n, _ in loaded.named_parameters())


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match='not found'):
        load_model(tmp_path / 'nope.safetensors')
    (tmp_path / 'folder.safetensors').mkdir()
    for path in (tmp_path / 'folder.safetensors', '/dev/zero'):
        with pytest.raises(WeightsError, match=f'^{path} is not a regular file; weights are'):
            load_model(path)
    # a link to a file that is gone, and a loop: there, but not found; said as such
    (tmp_path / 'gone.safetensors').symlink_to(tmp_path / 'moved.safetensors')
    (tmp_path / 'loop.safetensors').symlink_to(tmp_path / 'loop.safetensors')
    for name in ('gone', 'loop'):
        with pytest.raises(WeightsError, match=r'is a symbolic link whose target is missing \('):
            load_model(tmp_path / f'{name}.safetensors')


def test_pickle_file_is_refused_not_unpickled(tmp_path):
    import pickle

    path = tmp_path / 'evil.safetensors'
    torch.save({'x': torch.zeros(1)}, path)
    tail = (
        "; lightseg_ros loads .safetensors files written by 'lightseg train' or 'lightseg export'"
    )
    with pytest.raises(WeightsError) as err:
        load_model(path)
    assert str(err.value) == (
        f'{path} is not a readable safetensors file (a zip archive, as a PyTorch .pt/.pth '
        f'checkpoint is: it holds pickles, never loaded){tail}'
    )
    old = tmp_path / 'old.pth'
    old.write_bytes(pickle.dumps({'x': 1}, protocol=2))  # torch.save before PyTorch 1.6
    with pytest.raises(WeightsError, match=r'\(a Python pickle, as an older PyTorch checkpoint'):
        load_model(old)
    onnx = tmp_path / 'model.onnx'
    onnx.write_bytes(b'\x08\x08\x12\x07pytorch')
    with pytest.raises(WeightsError, match=r'\(an ONNX model: the node exports and caches ONNX'):
        load_model(onnx)


def test_an_unreadable_weights_file_says_so_not_that_it_is_missing(tmp_path, small_weights):
    import os
    import subprocess
    import sys

    path = tmp_path / 'locked.safetensors'
    path.write_bytes(small_weights[0].read_bytes())
    path.chmod(0)
    # root reads a file of mode 0: the loader then runs without the capabilities that allow it
    root = os.geteuid() == 0
    drop = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search'] if root else []
    code = (
        'import sys; from lightseg_ros.models import load_model, WeightsError\n'
        'try:\n    load_model(sys.argv[1])\nexcept WeightsError as exc:\n    print(exc)'
    )
    out = subprocess.run(
        [*drop, sys.executable, '-c', code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == f'cannot read weights file {path}: Permission denied', out.stderr


def test_file_without_metadata(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / 'bare.safetensors'
    save_file({'x': torch.zeros(1)}, str(path))
    with pytest.raises(WeightsError, match="no 'lightseg' metadata"):
        load_model(path)


def test_unknown_model_in_metadata_lists_accepted(tmp_path, small_weights):
    _, model = small_weights
    path = save_weights(
        tmp_path / 'x.safetensors', model, WeightsMeta(model='segformer_b9', num_classes=3)
    )
    with pytest.raises(WeightsError, match='ghostnet_aspp_da'):
        load_model(path)


def test_wrong_shapes(tmp_path, small_weights):
    _, model = small_weights
    path = save_weights(
        tmp_path / 'x.safetensors', model, WeightsMeta(model='ghostnet_aspp_da', num_classes=5)
    )
    with pytest.raises(WeightsError, match='does not fit'):
        load_model(path)


def test_expect_model_mismatch(small_weights):
    path, _ = small_weights
    with pytest.raises(WeightsError, match='not the requested'):
        load_model(path, expect_model='mlff_mobilenetv2')


def test_local_pretrained_backbone_file_is_loaded(tmp_path):
    from safetensors.torch import save_file
    from torchvision.models import mobilenet_v2

    torch.manual_seed(1)
    net = mobilenet_v2()
    path = tmp_path / 'mbv2.safetensors'
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    model = build_model('deeplabv3plus_mobilenetv2', num_classes=3, pretrained_backbone=str(path))
    assert torch.equal(model.backbone.stages['c2'][0][0].weight, net.features[0][0].weight)
    # the stages the backbone keeps are enough: no last 1x1 conv, no ImageNet classifier (or
    # one for another number of classes)
    kept = {k: v.contiguous() for k, v in net.state_dict().items() if k.startswith('features.')}
    kept = {k: v for k, v in kept.items() if not k.startswith('features.18.')}
    save_file({**kept, 'classifier.1.weight': torch.zeros(10, 1280)}, str(path))
    model = build_model('deeplabv3plus_mobilenetv2', num_classes=3, pretrained_backbone=str(path))
    last = model.backbone.stages['c5'][-1].conv[-2].weight
    assert torch.equal(last, net.features[17].conv[-2].weight)


def test_backbone_file_that_does_not_fit(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / 'other.safetensors'
    save_file({'fc.weight': torch.zeros(2, 2)}, str(path))
    with pytest.raises(PretrainedWeightsError, match='does not fit this backbone') as info:
        build_model('ghostnet_aspp_da', num_classes=3, pretrained_backbone=str(path))
    assert str(info.value).endswith(
        "accepted: timm's ghostnet_100 weights (conv_stem, bn1 and blocks.0 to blocks.8 at least)"
    )
    # right names, wrong kind of values: complex (torch would keep the real part, with a
    # warning) or integer tensors are refused, naming the tensor
    import timm

    ghost = timm.create_model('ghostnet_100').state_dict()
    for dtype in (torch.complex64, torch.int32):
        save_file(
            {**ghost, 'conv_stem.weight': ghost['conv_stem.weight'].to(dtype)}, str(path)
        )
        with pytest.raises(PretrainedWeightsError) as info:
            build_model('ghostnet_aspp_da', num_classes=3, pretrained_backbone=str(path))
        assert f'conv_stem.weight holds {str(dtype)[6:]} values where the backbone takes ' in str(
            info.value
        )
    with pytest.raises(PretrainedWeightsError, match='not found'):
        build_model(
            'ghostnet_aspp_da', num_classes=3, pretrained_backbone=str(tmp_path / 'missing.pth')
        )


def test_metadata_is_read_without_the_tensors(small_weights, tmp_path):
    from lightseg_ros.models import read_weights_meta

    path, _ = small_weights
    assert read_weights_meta(path).class_names == ['a', 'b', 'c']
    (tmp_path / 'junk.safetensors').write_bytes(b'\x00' * 16)
    with pytest.raises(WeightsError, match='not a readable safetensors file'):
        read_weights_meta(tmp_path / 'junk.safetensors')


# -- hostile metadata: every violation is one WeightsError naming the file and the field ----------


@pytest.mark.parametrize('case', META_CASES, ids=[c.name for c in META_CASES])
def test_hostile_metadata_is_one_clear_error_naming_file_and_field(tmp_path, small_weights, case):
    from lightseg_ros.models import read_weights_meta
    from lightseg_ros.models.weights import weights_problem

    path, words = craft(small_weights[0], tmp_path / 'crafted.safetensors', case.text), case.words
    for load in (read_weights_meta, load_model, load_weights):
        with pytest.raises(WeightsError) as info:
            load(path)
        message = str(info.value)
        assert str(path) in message and words in message, message
        assert '\n' not in message and len(message) < 600
    assert weights_problem(path) == message


def test_a_terminal_escape_in_a_files_header_never_reaches_the_screen(tmp_path):
    import json
    import struct

    from lightseg_ros.models.weights import weights_problem

    header = json.dumps(
        {'w': {'dtype': '\x1b[2J\x1b[31mPWNED', 'shape': [1], 'data_offsets': [0, 4]}}
    ).encode()
    path = tmp_path / 'escape.safetensors'
    path.write_bytes(struct.pack('<Q', len(header)) + header + b'\0' * 4)
    with pytest.raises(WeightsError) as info:
        load_model(path)
    for message in (str(info.value), weights_problem(path)):
        assert '\x1b' not in message and str(path) in message, repr(message)


def test_tensors_are_checked_before_and_after_reading(tmp_path, small_weights):
    from safetensors.torch import save_file

    path, model = small_weights
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state['classifier.weight'][0] = float('nan')
    meta = WeightsMeta(model='ghostnet_aspp_da', num_classes=3)
    save_file(state, str(tmp_path / 'nan.safetensors'), metadata={'lightseg': meta.to_json()})
    with pytest.raises(
        WeightsError,
        match='nan.safetensors: tensor classifier.weight holds NaN or infinite values',
    ):
        load_model(tmp_path / 'nan.safetensors')
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state['classifier.weight'] = torch.zeros(3, 4000, 1, 1)
    save_file(state, str(tmp_path / 'shape.safetensors'), metadata={'lightseg': meta.to_json()})
    with pytest.raises(
        WeightsError, match=r"tensor classifier.weight is \[3, 4000, 1, 1\], the model's is"
    ):
        load_model(tmp_path / 'shape.safetensors')


@pytest.mark.parametrize('dtype', [torch.bool, torch.uint8, torch.int32, torch.complex64])
def test_tensors_stored_in_a_dtype_no_weights_have_are_refused(tmp_path, small_weights, dtype):
    from safetensors.torch import save_file

    path, model = small_weights
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state['classifier.weight'] = state['classifier.weight'].to(dtype)
    meta = WeightsMeta(model='ghostnet_aspp_da', num_classes=3)
    save_file(state, str(tmp_path / 'odd.safetensors'), metadata={'lightseg': meta.to_json()})
    with pytest.raises(
        WeightsError,
        match=r'odd.safetensors does not fit ghostnet_aspp_da: tensor classifier.weight is '
        r'stored as [A-Z0-9]+; accepted: F16, BF16, F32, F64$',
    ):
        load_model(tmp_path / 'odd.safetensors')
    state = {k: v.clone() for k, v in model.state_dict().items()}
    counters = [k for k in state if k.endswith('num_batches_tracked')]
    state[counters[0]] = state[counters[0]].float()  # an integer buffer stored as a float
    save_file(state, str(tmp_path / 'count.safetensors'), metadata={'lightseg': meta.to_json()})
    with pytest.raises(WeightsError, match=r'is stored as F32; accepted: I64, I32$'):
        load_model(tmp_path / 'count.safetensors')


def test_metadata_is_checked_when_made_and_when_saved(tmp_path, small_weights):
    with pytest.raises(WeightsError, match="'std\\[1\\]' must be in"):
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, std=[0.2, 0.0, 0.2])
    meta = WeightsMeta(model='ghostnet_aspp_da', num_classes=3, train_image_size=[360, 480])
    assert meta.class_names == ['class_0', 'class_1', 'class_2'] and len(meta.colors) == 3
    meta.num_classes = (
        0  # changed after construction: save_weights checks again and writes nothing
    )
    with pytest.raises(WeightsError, match="'num_classes' must be in"):
        save_weights(tmp_path / 'bad.safetensors', small_weights[1], meta)
    assert not (tmp_path / 'bad.safetensors').exists()


def test_eval_and_export_refuse_hostile_metadata_in_one_line(tmp_path, small_weights, capsys):
    from lightseg_ros.cli import main

    path = craft(small_weights[0], tmp_path / 'crafted.safetensors', meta_json(std=[0, 0, 0]))
    for argv in (
        ['eval', '--weights', str(path), '--data', str(tmp_path)],
        ['export', '--weights', str(path), '--onnx', str(tmp_path / 'x.onnx')],
    ):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert str(path) in error and "'std[0]' must be in" in error
        assert error.count('\n') == 1 and 'Traceback' not in error
    assert not (tmp_path / 'x.onnx').exists()


def test_eval_and_results_flag_images_the_weights_were_trained_on(tmp_path, capsys):
    """Scoring val with weights fit on train+val prints one warning and marks the table."""
    import json

    from lightseg_ros.classes import CAMVID_CLASSES
    from lightseg_ros.cli import main
    from synthetic_data import make_camvid

    data = make_camvid(tmp_path / 'camvid', n=2, size=(48, 64))
    model = build_model('ghostnet_aspp_da', num_classes=11).eval()
    paths = {}
    for train_split in ('train', 'train+val'):
        meta = WeightsMeta(
            model='ghostnet_aspp_da',
            num_classes=11,
            class_names=list(CAMVID_CLASSES),
            dataset='camvid',
            recipe={'train_split': train_split, 'val_split': None},
        )
        paths[train_split] = save_weights(tmp_path / f'{train_split}.safetensors', model, meta)
    seen = {}
    for train_split, path in paths.items():
        out = tmp_path / train_split
        argv = ['eval', '--weights', str(path), '--data', str(data), '--out', str(out)]
        assert main(argv + ['--no-progress']) == 0
        seen[train_split] = json.loads((out / 'metrics.json').read_text())['seen_in_training']
        err = capsys.readouterr().err
        assert ('warning' in err) == (train_split == 'train+val'), err
    assert seen == {'train': 0, 'train+val': 2}
    assert "2 of the 2 images of 'val' are in the split these weights were trained on" in err
    assert "('train+val')" in err and err.count('\n') == 1
    # scored on train, the train-only file has seen everything too
    out = tmp_path / 'results.json'
    argv = ['results', '--data', str(data), '--split', 'train', '--iters', '0', '--quiet']
    assert main(argv + ['--json', str(out), '--weights', str(paths['train'])]) == 0
    text = capsys.readouterr().out

    def not_json(word):
        raise AssertionError(f'{word} is not JSON')

    written = json.loads(out.read_text(), parse_constant=not_json)
    assert written['rows'][0]['seen_in_training'] == 2
    # nothing timed with --iters 0: null in the JSON, '-' in the table, the device it ran on
    assert written['rows'][0]['latency_p50_ms'] is None and written['machine']['device'] == 'cpu'
    assert '| CPU p50 ms @360x480 |' in text and '| - | - |' in text
    assert '* scored on images these weights were trained on' in text


def test_a_weights_file_gets_the_mode_of_any_new_file(tmp_path, small_weights):
    """Safetensors writes owner-only files; a weights file is shared with nodes and installs."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = save_weights(
            tmp_path / 'w.safetensors', small_weights[1], load_weights(small_weights[0])[0]
        )
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)
