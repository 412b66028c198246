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
Hostile training inputs: datasets, classes files, recipes, flags and checkpoints.

Each ends in one :class:`DatasetError`, :class:`ConfigError` or :class:`CheckpointError` that
names the bad file, key or option and what is accepted, at a bounded cost.
"""

from __future__ import annotations

import tracemalloc

from hostile_inputs import png_claiming
from lightseg_ros.cli import main
from lightseg_ros.inference.image_codec import DEFAULT_MAX_INPUT_PIXELS
from lightseg_ros.training.config import ConfigError, load_config
from lightseg_ros.training.datasets import build_dataset, DatasetError, read_classes_file
from lightseg_ros.training.engine import (
    _restore,
    _set_rng_state,
    check_output_dir,
    CheckpointError,
    resume_state,
)
import numpy as np
from PIL import Image
import pytest
from synthetic_data import make_camvid, make_folder
import torch


def test_an_image_above_the_pixel_cap_is_refused_from_its_header(tmp_path):
    root = make_camvid(tmp_path, n=2, size=(48, 64), splits=('train',))
    (root / 'train' / 'seq_0001.png').write_bytes(png_claiming(6000, 6000))
    ds = build_dataset('camvid', root, 'train')
    limit = f'at most {DEFAULT_MAX_INPUT_PIXELS} pixels per image are accepted'
    with pytest.raises(DatasetError) as info:
        ds[1]
    assert 'seq_0001.png is 6000x6000 = 36000000 pixels' in str(info.value)
    assert limit in str(info.value)
    with pytest.raises(DatasetError, match=r'seq_0001\.png is 6000x6000 .*at most 33177600'):
        ds.check('train')


def test_a_huge_mask_for_a_small_image_is_a_size_mismatch_without_decoding(tmp_path):
    root = make_camvid(tmp_path, n=1, size=(48, 64), splits=('train',))
    Image.new('L', (5000, 5000)).save(root / 'trainannot' / 'seq_0000.png')
    ds = build_dataset('camvid', root, 'train')
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=r'size mismatch: .*is 5000x5000 \(WxH\)'):
            ds[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # decoded and cast to int64 it would be 200 MB


@pytest.mark.parametrize(
    'name, body, message',
    [
        ('classes.yaml', b'classes: [a, b\n  c: {', r'not valid YAML \(line \d+\); expected'),
        ('classes.yaml', b'classes: [a, b]\nignore_index: banana\n', 'ignore_index must be an'),
        ('classes.yaml', b'classes: [{name: a, color: red}]\n', r"class 'a' must be three int"),
        ('classes.yaml', b'classes: [{name: a, color: 5}]\n', r'0-255 \[R, G, B\], got 5'),
        ('classes.yaml', b'classes: [a, b]\nignore_index: 70000\n', r'integer 0-65535'),
        ('classes.txt', b'a 1 2 x\n', r"classes\.txt:1: expected 'name' or 'name R G B'"),
        ('classes.txt', b'a 1 2 300\n', r'integers 0-255\), got .a 1 2 300'),
        ('classes.txt', b'caf\xe9 1 2 3\n', r'not UTF-8 text \(byte 0xe9 at offset 3\)'),
        ('classes.txt', b'# nothing\n', r'lists 0 classes; 1 to 1024 are accepted'),
        # names a weights file refuses (the run failed saving its first weights, an epoch in)
        (
            'classes.yaml',
            b'classes: [{name: "road\\tside", color: [1, 2, 3]}]\n',
            r"class 0 name must be printable text, got 'road\\tside' \(character U\+0009\); "
            r'a class name is at most 256 printable characters',
        ),
        (
            'classes.yaml',
            b'classes: [a, ' + b'x' * 257 + b']\n',
            r'class 1 name is longer than 256 characters \(257\); a class name is at most',
        ),
        ('classes.txt', b'a\nro\x01ad 1 2 3\n', r'classes\.txt:2: class 1 name must be printable'),
        # keys a classes.yaml does not read: said, not ignored
        (
            'classes.yaml',
            b'classes: [{name: a, colour: [0, 0, 0]}]\n',
            r"unknown key colour in class 0 \('a'\); a class accepts: name, color$",
        ),
        (
            'classes.yaml',
            b'classes: [a, b]\nignore: 0\n',
            r'unknown key ignore; classes\.yaml accepts: classes, ignore_index$',
        ),
        # a repeated name is ambiguous, a repeated colour labels only its first class in RGB masks
        ('classes.yaml', b'classes: [a, b, a]\n', r"class 2 name 'a' repeats class 0's; names"),
        ('classes.txt', b'a 1 2 3\nb\na 4 5 6\n', r"classes\.txt:3: class 2 name 'a' repeats"),
        (
            'classes.yaml',
            b'classes: [{name: a, color: [9, 9, 9]}, {name: b, color: [9, 9, 9]}]\n',
            r"colour \[9, 9, 9\] of class 1 \('b'\) is class 0's \('a'\); each class needs",
        ),
        (
            'classes.txt',
            b'a 0 0 0\nb 1 1 1\nc 0 0 0\n',
            r"classes\.txt:3: colour \[0, 0, 0\] of class 2 \('c'\) is class 0's \('a'\)",
        ),
        (  # a class without a colour gets the default palette's, here class 0's colour
            'classes.yaml',
            b'classes: [{name: a, color: [128, 0, 0]}, b]\n',
            r"\[128, 0, 0\] of class 1 \('b'\), the default as it gives none, is class 0's",
        ),
    ],
)
def test_a_malformed_classes_file_is_one_dataset_error(tmp_path, name, body, message):
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(DatasetError, match=message) as info:
        read_classes_file(path)
    assert str(info.value).startswith(str(path)) and '\n' not in str(info.value)


def test_every_class_name_a_classes_file_takes_is_one_weights_files_take(tmp_path):
    """The longest name, and names with spaces or accents, are saved in a weights file."""
    from lightseg_ros.models.weights import WeightsMeta

    path = tmp_path / 'classes.yaml'
    path.write_text('classes: [' + 'x' * 256 + ', "road side", café]\n', encoding='utf-8')
    names, colors, ignore = read_classes_file(path)
    meta = WeightsMeta('m', len(names), names, colors, ignore_index=ignore)
    assert meta.class_names == ['x' * 256, 'road side', 'café']


@pytest.mark.parametrize(
    'text, overrides, message',
    [
        ('', ['optim.lr=-1'], r'--set optim\.lr=-1: optim\.lr must be a number above 0, up to'),
        # an overflow in SGD, a uint8 that cannot hold the grey, a fork bomb
        ('', ['optim.lr=1e308'], r'optim\.lr must be a number above 0, up to 10, got 1e\+308'),
        ('', ['augment.pad_value=300'], r'augment\.pad_value must be an integer from 0 to 255'),
        ('', ['train.workers=999999'], r'train\.workers must be an integer from 0 to 256, got'),
        ('', ['train.batch_size=100000'], r'train\.batch_size must be an integer from 1 to'),
        ('', ['optim.momentum=-3'], r'optim\.momentum must be a number from 0 to 1, got -3'),
        ('', ['optim.weight_decay=-1'], r'optim\.weight_decay must be a number >= 0, got -1'),
        ('optim: {lr: .nan}\n', [], r'bad\.yaml: optim\.lr must be a finite number, got nan'),
        (
            'data: {crop_size: [100000, 100000]}\n',
            [],
            r'bad\.yaml: data\.crop_size must be \[H, W\], two integers from 16 to 4096',
        ),
        ('', ['train.seed=-1'], r'train\.seed must be an integer from 0 to 2147483647, got -1'),
        ('data: {mean: [.nan, 0, 0]}\n', [], r'bad\.yaml: data\.mean must hold finite numbers'),
        ('data: {std: [.inf, 1, 1]}\n', [], r'bad\.yaml: data\.std must hold finite numbers'),
        ('data: {std: [0.0001, 1, 1]}\n', [], r'data\.std must be three numbers .* 0\.001 to'),
        ('data: {input_size: [8, 8]}\n', [], r'bad\.yaml: data\.input_size must be null or'),
        (
            'model: {options: {x: ' + '[' * 5000 + ']' * 5000 + '}}\n',
            [],
            r'bad\.yaml: nests deeper than 16 levels',
        ),
        (
            'model: {options: {x: ' + '[' * 40 + ']' * 40 + '}}\n',
            [],
            r'bad\.yaml: model\.options nests deeper than 16 levels',
        ),
        (
            'model:\n  options:\n    a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n'
            + ''.join(
                f'    {chr(98 + i)}: &{chr(98 + i)} ['
                + ', '.join([f'*{chr(97 + i)}'] * 10)
                + ']\n'
                for i in range(8)
            ),
            [],
            r'model\.options holds more than 100000 values',
        ),
        ('', ['model.options.x=' + '[' * 40 + ']' * 40], r'model\.options\.x nests deeper'),
        ('', ['model.options.x=' + '[' * 5000 + ']' * 5000], r'\.\.\.: the value nests deeper'),
        ('optim: {momentum: 0, nesterov: true}\n', [], r'Nesterov momentum needs optim\.momentum'),
        # PyYAML kept the last silently: the first section's epochs and seed were dropped
        (
            'train: {epochs: 3, seed: 5}\ntrain: {output_dir: runs/dup}\n',
            [],
            r"not valid YAML \(line 2\): key 'train' appears twice in one mapping",
        ),
        ('train: {epochs: 3, epochs: 400}\n', [], r"key 'epochs' appears twice"),
        # the cosine "decay" raised the learning rate (a --lr below the recipe's min_lr)
        (
            'optim: {lr: 0.02, min_lr: 0.0002}\n',
            ['optim.lr=0.0001'],
            r'optim\.min_lr \(0\.0002\) is above optim\.lr \(0\.0001\)',
        ),
        # dice ignored the class weights it printed and recorded
        (
            '',
            ['train.loss=dice', 'train.class_weight_c=1.02'],
            r'train\.loss is dice, which takes no class weights',
        ),
        # ColorJitter's and the aspect distortion's own errors were tracebacks at the first batch
        ('', ['augment.hue=0.9'], r'augment\.hue must be a number from 0 \(off\) to 0\.5, got'),
        ('', ['augment.saturation=-1'], r'augment\.saturation must be a number from 0 \(off\)'),
        ('', ['augment.aspect=-5'], r'augment\.aspect must be a number from 0 \(no distortion'),
        # a sample decoded at 60x its size, a validation at 1000x (49 GB asked of the allocator)
        ('', ['augment.scale=[0.5, 60]'], r'augment\.scale must be \[low, high\] with .* <= 8,'),
        ('', ['eval.scales=[1000]'], r'eval\.scales must be a list of 1 to 16 numbers, each'),
        # a section that is an alias bomb: the message shows a few items, not billions
        (
            'a: &a [x, x, x, x, x, x, x, x, x, x]\n'
            + ''.join(
                f'{chr(98 + i)}: &{chr(98 + i)} [' + ', '.join([f'*{chr(97 + i)}'] * 10) + ']\n'
                for i in range(8)
            )
            + 'train: *i\n',
            [],
            r"unknown section 'a'",
        ),
        (
            'train:\n  - &a [x, x, x, x, x, x, x, x, x, x]\n'
            + ''.join(
                f'  - &{chr(98 + i)} [' + ', '.join([f'*{chr(97 + i)}'] * 10) + ']\n'
                for i in range(7)
            ),
            [],
            r"section 'train' must be a mapping of keys, got \[\['x', 'x', .{0,80}$",
        ),
    ],
)
def test_config_values_torch_cannot_run_are_config_errors(tmp_path, text, overrides, message):
    bad = tmp_path / 'bad.yaml'
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(bad if text else None, overrides)  # an empty recipe is an error of its own


@pytest.mark.parametrize('text', ['', '# only a comment\n', '---\n'])
def test_an_empty_recipe_is_a_config_error_not_the_defaults(tmp_path, text, capsys):
    empty = tmp_path / 'empty.yaml'
    empty.write_text(text)
    with pytest.raises(ConfigError, match=r'empty\.yaml: the recipe is empty; expected sections'):
        load_config(empty)
    assert main(['train', '--config', str(empty), '--data', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'the recipe is empty' in err and 'Traceback' not in err, err


def test_class_weights_that_do_not_match_the_classes_are_one_line(tmp_path, capsys):
    from synthetic_data import make_camvid

    root = make_camvid(tmp_path / 'camvid', n=2, size=(48, 64), splits=('train',))
    argv = ['train', '--data', str(root), '--output-dir', str(tmp_path / 'run'), '--epochs', '1']
    argv += ['--set', 'data.dataset=camvid', '--set', 'data.val_split=null']
    argv += ['--set', 'train.class_weights=[1]']
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'Traceback' not in err, err
    assert 'train.class_weights has 1 entries; the dataset has 11 classes' in err, err


def test_a_config_that_is_no_file_says_what_it_is(tmp_path, capsys):
    """A folder or a device exists: 'config file not found' sent users looking for it."""
    (tmp_path / 'gone.yaml').symlink_to(tmp_path / 'nothing.yaml')
    (tmp_path / 'base.yaml').write_text('_base_: .\n')
    cases = [
        (tmp_path, 'is a folder, not a YAML file; a recipe is a YAML file such as config/train/'),
        ('/dev/zero', '/dev/zero is not a regular file; a recipe is a YAML file such as'),
        (tmp_path / 'gone.yaml', 'gone.yaml is a link to a missing file; a recipe is a YAML'),
        (tmp_path / 'nothing.yaml', 'config file not found: '),
        (tmp_path / 'base.yaml', '(the _base_ of '),
        (tmp_path / ('a' * 5000 + '.yaml'), 'aaa...: cannot read it: File name too long'),
    ]
    for path, message in cases:
        assert main(['train', '--config', str(path), '--print-config']) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and message in err and 'Traceback' not in err, err


def test_a_damaged_pretrained_backbone_is_one_line_naming_it(tmp_path, capsys):
    """Each refusal names the file and what is accepted; never torch's weights_only advice."""
    import pickle

    from lightseg_ros.models import build_model, PretrainedWeightsError
    from safetensors.torch import save_file

    good = tmp_path / 'good.safetensors'
    save_file({'conv_stem.weight': torch.zeros(16, 3, 3, 3)}, str(good))
    torch.save({'epoch': 3}, tmp_path / 'plain.pth')

    class Evil:

        def __reduce__(self):
            return (print, ('pwned',))

    # protocol 2, as torch.save writes: a later protocol fails on its first opcode instead
    (tmp_path / 'evil.pth').write_bytes(pickle.dumps({'conv_stem.weight': Evil()}, protocol=2))
    (tmp_path / 'zeros.pth').write_bytes(bytes(50))
    (tmp_path / 'empty.pth').write_bytes(b'')
    (tmp_path / 'cut.safetensors').write_bytes(good.read_bytes()[:-20])
    (tmp_path / 'zeros.safetensors').write_bytes(bytes(50))
    cases = {
        'cut.safetensors': r'not a readable safetensors file \(Error while deserializing header',
        'zeros.safetensors': r'not a readable safetensors file \(.*: invalid JSON in header',
        'evil.pth': r'holds a Python object \((builtins\.)?print\) besides tensors .* not loaded',
        'zeros.pth': r'not readable: its contents are not a state dict of tensors',
        'empty.pth': r'not readable: the file is empty or cut short',
        'plain.pth': r'holds a dict without tensors, not a state dict of tensors by name',
        '.': r' is a folder, not a file',
    }
    accepted = (
        'accepted: a .safetensors file, or a state dict of tensors saved with torch.save (.pth)'
    )
    for name, message in cases.items():
        path = tmp_path / name
        with pytest.raises(PretrainedWeightsError, match=message) as info:
            build_model('ghostnet_aspp_da', num_classes=3, pretrained_backbone=str(path))
        text = str(info.value)
        assert text.startswith(f'backbone weights {path}') and text.endswith(accepted), text
        assert '\n' not in text and 'weights_only' not in text, text
        assert len(text) - len(str(path)) < 250, text
    assert 'pwned' not in capsys.readouterr().out  # the pickle was never run
    # through `lightseg train`: one line, before the first epoch
    root = make_camvid(tmp_path / 'camvid', n=2, size=(48, 64), splits=('train',))
    argv = ['train', '--data', str(root), '--output-dir', str(tmp_path / 'run'), '--epochs', '1']
    argv += ['--set', 'data.dataset=camvid', '--set', 'data.val_split=null', '--device', 'cpu']
    argv += ['--set', f'model.pretrained_backbone={tmp_path / "cut.safetensors"}']
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'cut.safetensors: not a readable safetensors' in err, err


def test_a_huge_backbone_file_is_refused_from_its_size(tmp_path):
    from lightseg_ros.models import build_model, PretrainedWeightsError

    for name in ('huge.pth', 'huge.safetensors'):
        path = tmp_path / name
        with open(path, 'wb') as f:  # sparse: no disk written, nothing read
            f.truncate(3 << 30)
        with pytest.raises(PretrainedWeightsError) as info:
            build_model('ghostnet_aspp_da', num_classes=3, pretrained_backbone=str(path))
        assert str(info.value) == (
            f'backbone weights {path} is 3.0 GiB; at most 1 GiB is accepted (an ImageNet '
            'backbone is 10-30 MB)'
        )


def test_a_backbone_checkpoint_rezipped_with_compression_is_refused_unread(tmp_path):
    import zipfile

    from lightseg_ros.models import build_model, PretrainedWeightsError

    plain = tmp_path / 'plain.pth'
    torch.save({'w': torch.zeros(1 << 20)}, plain)  # 4 MB of zeros, stored as torch.save does
    packed = tmp_path / 'packed.pth'
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(packed, 'w', zipfile.ZIP_DEFLATED) as dst:
        for member in src.infolist():
            dst.writestr(member.filename, src.read(member))
    assert packed.stat().st_size < 100_000  # what it would inflate to is not the file's size
    with pytest.raises(PretrainedWeightsError, match='has compressed members, which torch.save'):
        build_model('ghostnet_aspp_da', num_classes=3, pretrained_backbone=str(packed))


def test_a_recipe_that_is_not_utf8_is_a_config_error(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_bytes(b'train: {output_dir: caf\xe9}\n')
    with pytest.raises(ConfigError, match=r'bad\.yaml: not UTF-8 text \(byte 0xe9 at offset 23\)'):
        load_config(bad)


def test_an_exponent_without_a_dot_is_a_number():
    cfg = load_config(None, ['optim.lr=1e-3', 'optim.weight_decay=5E-4'])
    assert cfg.optim.lr == pytest.approx(0.001) and cfg.optim.weight_decay == pytest.approx(5e-4)


@pytest.mark.parametrize(
    'argv, message',
    [
        (['--benchmark-iters', '-1'], '--benchmark-iters must be an integer >= 1, got -1'),
        (['--benchmark-iters', '0'], '--benchmark-iters must be an integer >= 1, got 0'),
        (['--stop-after-epochs', '-1'], '--stop-after-epochs must be an integer >= 0, got -1'),
        (['--lr', '-1'], 'optim.lr must be a number above 0, up to 10, got -1'),
        (['--seed', '-1'], 'train.seed must be an integer from 0 to'),
    ],
)
def test_bad_train_flags_end_in_one_line(argv, message, capsys):
    assert main(['train', *argv]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and message in err and 'Traceback' not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_without_cuda_is_one_line(capsys):
    assert main(['train', '--device', 'cuda']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'CUDA is not available' in err and 'train.device' in err


def test_an_unwritable_output_dir_is_named(tmp_path, capsys):
    afile = tmp_path / 'afile'
    afile.write_text('x')
    with pytest.raises(ConfigError, match=r'train\.output_dir .*afile/out: cannot write there'):
        check_output_dir(afile / 'out')
    check_output_dir(tmp_path / 'new' / 'run')  # a folder that can be made passes
    assert not (tmp_path / 'new').exists()  # and is not made by the check
    rc = main(['train', '--device', 'cpu', '--output-dir', str(afile / 'out')])
    err = capsys.readouterr().err
    assert rc == 2 and err.count('\n') == 1 and 'afile is not a folder' in err


def _checkpoint(path, **fields):
    ckpt = {
        'model': {},
        'optimizer': {},
        'scheduler': {},
        'epoch': 1,
        'best_miou': 0.5,
        'rng': [{}],
        'history': [],
        **fields,
    }
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize(
    'fields, message',
    [
        ({'epoch': 'one'}, r"field 'epoch' must be an integer >= 0 .*got 'one'"),
        ({'epoch': -5}, r"field 'epoch' must be an integer >= 0 .*got -5"),
        ({'rng': [1, 2]}, r"field 'rng' must be a list of each rank's RNG states"),
        ({'history': 'x'}, r"field 'history' must be a list of per-epoch records"),
        ({'best_miou': float('nan')}, r"field 'best_miou' must be a number from 0 to 1"),
    ],
)
def test_a_crafted_checkpoint_field_is_named(tmp_path, fields, message):
    path = _checkpoint(tmp_path / 'ck.pth', **fields)
    with pytest.raises(CheckpointError, match=message) as info:
        resume_state(path, None, None, None, None, amp=False)
    assert str(info.value).startswith(str(path))


def test_a_folder_to_resume_from_is_named_as_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match=r'is a folder; --resume takes a checkpoint file'):
        resume_state(tmp_path, None, None, None, None, amp=False)  # was "checkpoint not found"


def test_malformed_rng_states_are_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"ck\.pth: field 'rng' is not what"):
        _restore(tmp_path / 'ck.pth', 'rng', lambda: _set_rng_state({'python': 1}))
    state = np.random.get_state()
    _restore(tmp_path / 'ck.pth', 'rng', lambda: None)  # a sound field passes
    assert np.array_equal(np.random.get_state()[1], state[1])


def test_a_split_list_that_is_not_utf8_is_a_dataset_error(tmp_path):
    root = make_camvid(tmp_path, n=1, size=(48, 64), splits=('train',))
    (root / 'train.txt').write_bytes(b'seq_0000.png\ncaf\xe9.png\n')
    with pytest.raises(DatasetError, match=r'train\.txt: not UTF-8 text'):
        build_dataset('camvid', root, 'train')


def test_eval_of_weights_for_other_classes_is_one_line(tmp_path, capsys):
    root = make_folder(tmp_path / 'data', n=1, size=(32, 48))  # three classes
    argv = ['eval', '--model', 'ghostnet_aspp_da', '--dataset', 'folder', '--data', str(root)]
    assert main(argv + ['--no-progress', '--out', str(tmp_path / 'eval')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('lightseg eval: error: ') and err.count('\n') == 1
    assert 'predicts 11 classes but the folder dataset at' in err and 'has 3' in err
    assert not (tmp_path / 'eval').exists()


@pytest.mark.parametrize('name', ['runs/exp1 #baseline', '2024', '@runs', 'true', '[a]'])
def test_an_output_dir_flag_is_taken_as_written_not_as_yaml(name):
    """'runs/exp1 #baseline' lost its comment, '2024' was refused as a number, '@runs' as YAML."""
    from lightseg_ros.cli import build_parser
    from lightseg_ros.tools.train_cmd import config_from_args

    args = build_parser().parse_args(['train', '--output-dir', name, '--device', 'cpu'])
    cfg = config_from_args(args)
    assert cfg.train.output_dir == name and cfg.train.device == 'cpu'


def test_a_model_option_of_the_wrong_type_stops_before_training():
    """A truthy string for a bool switch trained the whole run, then no reader took its file."""
    from lightseg_ros.training.config import ConfigError, load_config
    from lightseg_ros.training.engine import build_train_model, DistInfo

    cfg = load_config(
        None,
        ['model.name=mlff_mobilenetv2', 'model.options.feature_enhancement=yes please'],
    )
    with pytest.raises(ConfigError, match=r"option 'feature_enhancement' must be a bool, got"):
        build_train_model(cfg, 3, DistInfo())


def test_a_recipe_in_a_top_level_folder_with_a_relative_data_root_is_one_line(tmp_path):
    from lightseg_ros.training.config import resolve_data_root

    # /workspace/my.yaml has no folder two levels up: the candidate raised IndexError
    with pytest.raises(ConfigError, match=r"dataset root 'no_such_data' not found \(tried"):
        resolve_data_root('no_such_data', '/')
    with pytest.raises(ConfigError, match=r"dataset root 'no_such_data' not found"):
        resolve_data_root('no_such_data', '/workspace')


def test_a_data_flag_that_is_a_symlink_loop_is_one_line(tmp_path, capsys):
    loop = tmp_path / 'loop'
    loop.symlink_to(loop)
    # resolve() raised RuntimeError ("Symlink loop") while the recipe was being put together
    assert main(['train', '--data', str(loop), '--print-config']) == 0
    assert f'root: {loop}' in capsys.readouterr().out
    from lightseg_ros.training.config import resolve_data_root

    with pytest.raises(ConfigError, match=r'dataset root .*loop not found'):
        resolve_data_root(str(loop))


@pytest.mark.parametrize(
    'override, message',
    [
        # '' validated on the training split; the folder layout read '' as images/ itself
        ("data.val_split=''", r'data\.val_split must be a split name, not blank, or null'),
        ("data.train_split=' '", r'data\.train_split must be a split name, not blank'),
        # the scheduler turned 1e308 epochs of warm-up into an int: OverflowError
        ('optim.warmup_epochs=1e308', r'optim\.warmup_epochs must be a number from 0 \(no'),
        # a zero loss: nothing trained, every epoch
        ('train.class_weights=[0, 0, 0]', r'train\.class_weights must be null or a list of .*at'),
    ],
)
def test_blank_splits_and_an_endless_warm_up_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_a_checkpoint_past_the_runs_epochs_is_refused(tmp_path):
    path = _checkpoint(tmp_path / 'ck.pth', epoch=150)
    # the epoch-150 weights were saved as model_final of a 100-epoch schedule
    with pytest.raises(CheckpointError, match=r'ck\.pth: it has 150 epochs done, more than '
                       r"this run's train\.epochs 100; resume with --epochs 150 or more"):
        resume_state(path, None, None, None, None, amp=False, epochs=100)


def test_a_folder_split_list_takes_names_with_spaces(tmp_path):
    root = make_folder(tmp_path / 'data', n=2)
    images, masks = root / 'images', root / 'masks'
    for i in range(2):
        (images / 'train' / f'img{i}.jpg').rename(images / f'my photo {i}.jpg')
        (masks / 'train' / f'img{i}.png').rename(masks / f'my photo {i}.png')
    (root / 'mine.txt').write_text('my photo 0.jpg\nmy photo 1\n')
    ds = build_dataset('folder', root, 'mine')  # was "image .../images/my.* ... not found"
    assert [p.name for p, _ in ds.samples] == ['my photo 0.jpg', 'my photo 1.jpg']


def test_a_classes_yaml_with_a_repeated_key_is_refused(tmp_path):
    path = tmp_path / 'classes.yaml'
    path.write_text('classes: [a, b, c]\nignore_index: 255\nclasses: [x, y]\n')
    # safe_load kept the second list in silence: 2 classes
    message = r'classes\.yaml: not valid YAML \(line 3\): key .classes. appears twice'
    with pytest.raises(DatasetError, match=message):
        read_classes_file(path)


def test_a_palette_mask_in_the_classes_colours_but_reindexed_is_refused(tmp_path):
    from synthetic_data import CLASS_COLORS

    root = make_folder(tmp_path / 'data', n=1)
    mask_path = root / 'masks' / 'train' / 'img0.png'
    ids = np.asarray(Image.open(mask_path))
    assert len(np.unique(ids)) > 1
    # an RGB mask a tool saved as palette PNG with its own index order: class 1's colour first
    order = [1, 2, 0]
    palette = [v for c in order for v in CLASS_COLORS[c]]
    remap = np.argsort(order).astype(np.uint8)  # class c is stored at index remap[c]
    im = Image.fromarray(remap[ids], mode='P')
    im.putpalette(palette)
    im.save(mask_path)
    ds = build_dataset('folder', root, 'train')
    with pytest.raises(DatasetError, match=r'img0\.png: palette mask whose index \d is drawn in '
                       r"class \d's colour .* Save the mask as RGB, or index its palette in "
                       r'classes\.yaml order'):
        ds[0]
    # the same indices under the classes' own colours in order is read by index, as before
    im = Image.fromarray(ids.astype(np.uint8), mode='P')
    im.putpalette([v for c in CLASS_COLORS for v in c])
    im.save(mask_path)
    assert np.array_equal(np.asarray(ds[0][1]), ids)
    # a palette that is no class's colours (Pillow's one black entry; a grey ramp) says nothing,
    # even where one entry happens to be a class's colour
    for palette in ([0, 0, 0], [v for i in range(256) for v in (i, i, i)]):
        im = Image.fromarray(ids.astype(np.uint8), mode='P')
        im.putpalette(palette)  # in memory: a PNG writer may re-index a one-entry palette
        ds.colors[1] = [0, 0, 0]  # a class drawn black, as Pillow's one entry is
        assert np.array_equal(ds._labels(im, mask_path), ids)


def test_a_random_scale_samples_labels_at_pixel_centres():
    from lightseg_ros.training.transforms import RandomScaleAspect
    from torchvision import tv_tensors

    ramp = torch.arange(9, dtype=torch.uint8).repeat(9, 1)
    image = tv_tensors.Image(ramp.expand(3, 9, 9).clone())
    mask = tv_tensors.Mask(ramp.clone())
    _, small = RandomScaleAspect((1 / 3, 1 / 3), aspect=0)(image, mask)
    # the centre of each of 3 output pixels is source column 1, 4, 7 (NEAREST took 0, 3, 6)
    assert small.shape == (3, 3)
    assert small[0].tolist() == [1, 4, 7]


def test_a_split_named_twice_is_refused(tmp_path):
    """``train+train`` trained each frame twice an epoch, unsaid."""
    root = make_camvid(tmp_path, n=2, size=(48, 64), splits=('train',))
    with pytest.raises(DatasetError, match=r"split 'train\+train' names 'train' twice"):
        build_dataset('camvid', root, 'train+train')
