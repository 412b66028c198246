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

"""Datasets in every layout, their errors (naming the file), augmentation and run configs."""

from pathlib import Path

from lightseg_ros.training.config import ConfigError, load_config, resolve_data_root
from lightseg_ros.training.datasets import build_dataset, DatasetError, read_classes_file
from lightseg_ros.training.engine import lr_factor, SeededSampler
from lightseg_ros.training.transforms import eval_transform, train_transform
import numpy as np
from PIL import Image
import pytest
from synthetic_data import CLASS_COLORS, make_camvid, make_cityscapes, make_folder, make_voc
import torch


@pytest.mark.parametrize(
    'layout', ['camvid', 'voc', 'voc_aug', 'cityscapes', 'folder_yaml', 'folder_txt_rgb']
)
def test_each_layout_loads_with_its_classes(tmp_path, layout):
    if layout == 'camvid':
        ds = build_dataset('camvid', make_camvid(tmp_path, n=2), 'train')
        assert ds.num_classes == 11 and ds.ignore_index == 11 and ds.class_names[0] == 'sky'
    elif layout.startswith('voc'):
        aug = layout == 'voc_aug'
        ds = build_dataset(
            'voc', make_voc(tmp_path, n=2, aug=aug), 'train_aug' if aug else 'train'
        )
        assert ds.num_classes == 21 and ds.ignore_index == 255
        assert ds.samples[0][1].parent.name == (
            'SegmentationClassAug' if aug else 'SegmentationClass'
        )
    elif layout == 'cityscapes':
        ds = build_dataset('cityscapes', make_cityscapes(tmp_path), 'val')
        assert ds.num_classes == 19 and ds.ignore_index == 255 and ds.class_names[0] == 'road'
    else:
        rgb = layout.endswith('rgb')
        ds = build_dataset(
            'folder',
            make_folder(tmp_path, n=2, classes='txt' if rgb else 'yaml', rgb_masks=rgb),
            'val',
        )
        assert ds.class_names == ['background', 'box', 'disk'] and ds.colors[1] == [220, 40, 40]
    image, mask = ds[0]
    assert image.dtype == torch.uint8 and image.shape[0] == 3 and mask.shape == image.shape[1:]
    values = set(mask.unique().tolist()) - {ds.ignore_index}
    assert values and values <= {0, 1, 2}
    assert len(ds.colors) == ds.num_classes


def test_voc_root_may_be_the_devkit(tmp_path):
    make_voc(tmp_path / 'VOCdevkit' / 'VOC2012', n=1)
    assert len(build_dataset('voc', tmp_path / 'VOCdevkit', 'val')) == 1


def test_missing_mask_names_the_file(tmp_path):
    root = make_camvid(tmp_path, n=2)
    (root / 'trainannot' / 'seq_0001.png').unlink()
    with pytest.raises(DatasetError, match=r'mask file missing: .*trainannot/seq_0001\.png'):
        build_dataset('camvid', root, 'train')


def test_size_mismatch_names_both_files(tmp_path):
    root = make_folder(tmp_path, n=2)
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(root / 'masks' / 'train' / 'img1.png')
    ds = build_dataset('folder', root, 'train')
    ds[0]
    with pytest.raises(
        DatasetError,
        match=r'size mismatch: image .*img1\.jpg is 64x64 but mask .*img1\.png is 48x32',
    ):
        ds[1]


def test_out_of_range_label_names_the_file_and_values(tmp_path):
    root = make_camvid(tmp_path, n=2)
    mask = np.array(Image.open(root / 'trainannot' / 'seq_0000.png'))
    mask[5, 5], mask[6, 6] = 12, 200
    Image.fromarray(mask).save(root / 'trainannot' / 'seq_0000.png')
    ds = build_dataset('camvid', root, 'train')
    with pytest.raises(
        DatasetError, match=r'seq_0000\.png has label values \[12, 200\] outside \[0, 10\]'
    ):
        ds[0]


def test_unknown_mask_colour_and_bad_classes_file(tmp_path):
    root = make_folder(tmp_path, n=1, rgb_masks=True)
    Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(root / 'masks' / 'train' / 'img0.png')
    with pytest.raises(DatasetError, match=r'img0\.png: RGB mask has colours that match no class'):
        build_dataset('folder', root, 'train')[0]
    bad = tmp_path / 'classes.txt'
    bad.write_text('road 1 2\n')
    with pytest.raises(DatasetError, match=r'classes\.txt:1'):
        read_classes_file(bad)


def test_missing_split_and_unknown_dataset(tmp_path):
    make_folder(tmp_path, n=1)
    with pytest.raises(DatasetError, match="split 'test' not found"):
        build_dataset('folder', tmp_path, 'test')
    with pytest.raises(DatasetError, match="unknown dataset 'coco'"):
        build_dataset('coco', tmp_path, 'train')


def test_augmentation_is_seeded_and_pads_gray_with_ignore(tmp_path):
    root = make_camvid(tmp_path, n=2)
    # jitter would tint the gray
    tf = train_transform(
        [64, 64],
        11,
        scale=[0.4, 0.4],
        aspect=0.0,
        blur=1.0,
        hflip=0.5,
        hue=0.0,
        saturation=0.0,
        value=0.0,
        mean=[0, 0, 0],
        std=[1, 1, 1],
    )
    ds = build_dataset('camvid', root, 'train', tf)
    a, b = ds[(0, 123)], ds[(0, 123)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    image, mask = a
    assert (
        image.shape == (3, 64, 64) and image.dtype == torch.float32 and mask.dtype == torch.int64
    )
    padded = mask == 11
    assert padded.float().mean() > 0.5  # a 0.4x image leaves most of the crop as padding
    # mask values are untouched by blur / jitter (still class ids), and the padding is gray
    assert set(mask.unique().tolist()) <= {0, 1, 2, 11}
    gray = (image * 255).round()[:, padded]
    assert (gray == 128).float().mean() > 0.8  # blur mixes the border of the image in
    assert not torch.equal(ds[(0, 124)][0], image)  # another seed, another augmentation
    jitter = build_dataset('camvid', root, 'train', train_transform([64, 64], 11))
    assert torch.equal(jitter[(1, 5)][0], jitter[(1, 5)][0])


def test_eval_transform_keeps_native_size(tmp_path):
    ds = build_dataset('cityscapes', make_cityscapes(tmp_path), 'train', eval_transform())
    image, mask = ds[0]
    assert image.shape == (3, 64, 128) and mask.shape == (64, 128)


def test_sampler_order_depends_on_epoch_and_shards_ranks(tmp_path):
    ds = build_dataset('camvid', make_camvid(tmp_path, n=6), 'train')
    s = SeededSampler(ds, seed=1)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    assert list(s) != e0
    s.set_epoch(0)
    assert list(s) == e0
    r0, r1 = (
        SeededSampler(ds, seed=1, rank=0, world_size=2),
        SeededSampler(ds, seed=1, rank=1, world_size=2),
    )
    assert sorted(i for i, _ in list(r0) + list(r1)) == list(range(6))


def test_lr_schedule_warms_up_then_cosine_to_min():
    kw = {'base_lr': 0.007, 'min_lr': 0.0007, 'warmup_factor': 0.1}
    assert lr_factor(0, 100, 10, **kw) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, **kw) == pytest.approx(1.0)
    assert lr_factor(100, 100, 10, **kw) * 0.007 == pytest.approx(0.0007)
    values = [lr_factor(s, 100, 10, **kw) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_config_files_and_overrides():
    repo = Path(__file__).resolve().parents[1]
    files = sorted((repo / 'config' / 'train').glob('*.yaml'))
    assert {f.stem for f in files} >= {
        f'{d}_{m}'
        for d in ('voc', 'camvid')
        for m in ('deeplabv3plus_mobilenetv2', 'mlff_mobilenetv2', 'ghostnet_aspp_da')
    }
    for f in files:
        cfg = load_config(f)
        assert cfg['optim']['lr'] == 0.007 and cfg['optim']['min_lr'] == 0.0007
        assert cfg['optim']['momentum'] == 0.9 and cfg['optim']['weight_decay'] == 1e-4
        assert cfg['train']['batch_size'] == 8 and cfg['train']['epochs'] == 200
        assert cfg['train']['loss'] == ('ce_dice' if 'mlff' in f.stem else 'ce')
        assert cfg['data']['crop_size'] == ([512, 512] if f.stem.startswith('voc') else [360, 480])
    cfg = load_config(
        repo / 'config/train/camvid_ghostnet_aspp_da.yaml',
        ['optim.lr=0.01', 'data.crop_size=[64, 96]', 'train.amp=false', 'model.options.foo=1'],
    )
    assert (
        cfg['optim']['lr'] == 0.01
        and cfg['data']['crop_size'] == [64, 96]
        and cfg['train']['amp'] is False
    )
    assert cfg['model']['options'] == {'foo': 1}
    with pytest.raises(ConfigError, match='unknown key'):
        load_config(None, ['optim.lrr=1'])
    with pytest.raises(ConfigError, match='key.sub=value'):
        load_config(None, ['optim.lr'])


def test_relative_data_root_resolves_against_the_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repo = Path(__file__).resolve().parents[1]
    assert resolve_data_root('config/train', None) == repo / 'config' / 'train'
    with pytest.raises(ConfigError, match='not found'):
        resolve_data_root('no/such/dir', None)


def test_camvid_splits_combine_and_select_drives(tmp_path):
    root = make_camvid(tmp_path / 'camvid', n=4)
    # rename to two drives as CamVid names frames: DRIVE_FRAME.png
    for split in ('train', 'val'):
        names = []
        for i, old in enumerate(sorted((root / split).glob('*.png'))):
            new = f'{"AAAA01" if i < 3 and split == "train" else "BBBB02"}_{i:05d}.png'
            old.rename(old.with_name(new))
            (root / f'{split}annot' / old.name).rename(root / f'{split}annot' / new)
            names.append(new)
        (root / f'{split}.txt').write_text('\n'.join(names) + '\n')
    assert len(build_dataset('camvid', root, 'train+val')) == 8
    held_out = build_dataset('camvid', root, 'train[AAAA01]')
    rest = build_dataset('camvid', root, 'train+val[-AAAA01]')
    assert len(held_out) == 3 and len(rest) == 5
    assert not {i.name for i, _ in held_out.samples} & {i.name for i, _ in rest.samples}
    with pytest.raises(
        DatasetError, match=r"names drives \['CCCC03'\].*has \['AAAA01', 'BBBB02'\]"
    ):
        build_dataset('camvid', root, 'train+val[CCCC03]')
    with pytest.raises(DatasetError, match='val.*not found'):
        build_dataset('camvid', root, 'train+vall')
    # an unclosed bracket was "image folder .../train[ not found"
    for bad in ('train[', 'train[AAAA01', 'tr ain', '../train'):
        with pytest.raises(DatasetError, match=r'is not a split name; expected names such as'):
            build_dataset('camvid', root, bad)


def test_recipes_inherit_from_their_base(tmp_path):
    base = tmp_path / 'base.yaml'
    base.write_text('data: {dataset: camvid, crop_size: [64, 64]}\noptim: {lr: 0.5}\n')
    (tmp_path / 'sub').mkdir()
    child = tmp_path / 'sub' / 'child.yaml'
    child.write_text('_base_: ../base.yaml\ndata: {crop_size: [32, 48]}\n')
    cfg = load_config(child, ['optim.momentum=0.5'])
    assert cfg['data']['dataset'] == 'camvid' and cfg['data']['crop_size'] == [32, 48]
    assert cfg['optim']['lr'] == 0.5 and cfg['optim']['momentum'] == 0.5 and '_base_' not in cfg
    loop = tmp_path / 'loop.yaml'
    loop.write_text('_base_: loop.yaml\n')
    with pytest.raises(ConfigError, match='loops'):
        load_config(loop)
    (tmp_path / 'orphan.yaml').write_text('_base_: nowhere.yaml\n')
    with pytest.raises(ConfigError, match='nowhere.yaml.*_base_ of'):
        load_config(tmp_path / 'orphan.yaml')
    repo = Path(__file__).resolve().parents[1]
    held_out = load_config(repo / 'config/train/holdout/camvid_ghostnet_aspp_da_cpu.yaml')
    assert (
        held_out['data']['val_split'] == 'train[0006R0]' and held_out['train']['loss'] == 'ce_dice'
    )


def test_predicted_probabilities_are_averaged_over_views():
    from lightseg_ros.models import build_model
    from lightseg_ros.training.evaluate import predict_probabilities

    model = build_model('ghostnet_aspp_da', num_classes=5).eval()
    x = torch.randn(2, 3, 64, 96)
    prob = predict_probabilities(model, x, scales=(1.0, 1.25), flip=True)  # four passes
    assert prob.shape == (2, 5, 64, 96)
    torch.testing.assert_close(prob.sum(1), torch.ones(2, 64, 96))
    one = predict_probabilities(model, x)
    torch.testing.assert_close(one, model(x).softmax(1))


def test_config_is_typed_and_reads_as_plain_sections():
    from lightseg_ros.training.config import OptimConfig, TrainConfig

    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(repo / 'config/train/camvid_mlff_mobilenetv2.yaml', ['train.epochs=3'])
    assert isinstance(cfg, TrainConfig) and isinstance(cfg.optim, OptimConfig)
    assert (
        cfg.train.epochs == 3
        and cfg['train']['epochs'] == 3
        and cfg.model.name == 'mlff_mobilenetv2'
    )
    plain = cfg.to_dict()
    assert (
        type(plain['optim']) is dict and plain['optim'] == dict(cfg.optim) and plain['_config_dir']
    )
    assert TrainConfig.from_dict(plain).to_dict() == plain
    assert TrainConfig().optim.lr == 0.007 and TrainConfig().data.crop_size == [512, 512]


@pytest.mark.parametrize(
    'text, overrides, message',
    [
        (
            'optim: {lrr: 0.1}\n',
            [],
            r'bad\.yaml: unknown key optim\.lrr; optim accepts: lr, min_lr, momentum',
        ),
        (
            'trian: {epochs: 1}\n',
            [],
            r"bad\.yaml: unknown section 'trian'; accepted: model, data, augment",
        ),
        ('train: {epochs: ten}\n', [], r"bad\.yaml: train\.epochs must be an integer, got 'ten'"),
        (
            'data: {crop_size: [64]}\n',
            [],
            r'data\.crop_size must be \[H, W\], two positive integers, got \[64\]',
        ),
        (
            'model: {name: segformer}\n',
            [],
            r"model\.name 'segformer' is not known; accepted: .*ghostnet_aspp_da",
        ),
        (
            'train: {loss: hinge}\n',
            [],
            r"train\.loss 'hinge' is not known; accepted: ce, dice, ce_dice, focal, ohem, "
            r'ohem_dice',
        ),
        (
            '',
            ['train.ohem_thresh=0'],
            r'train\.ohem_thresh must be a probability above 0, up to 1, got 0',
        ),
        (
            '',
            ['train.amp=maybe'],
            r"--set train\.amp=maybe: train\.amp must be a boolean \(true or false\), got 'maybe'",
        ),
        ('', ['optim.lr.x=1'], r'--set optim\.lr\.x=1: unknown key optim\.lr\.x'),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path, text, overrides, message):
    bad = tmp_path / 'bad.yaml'
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(bad if text else None, overrides)  # an empty recipe is an error of its own


def test_the_check_records_the_image_size_the_model_will_learn_at(tmp_path):
    ds = build_dataset('camvid', make_camvid(tmp_path, n=3, size=(48, 80)), 'train')
    assert ds.common_image_size() is None  # not known before the check
    ds.check('train')
    assert ds.common_image_size() == [48, 80]  # [H, W], as train_image_size in the weights


def test_a_base_file_error_names_the_base(tmp_path):
    (tmp_path / 'base.yaml').write_text('augment: {blurr: 0.1}\n')
    (tmp_path / 'child.yaml').write_text('_base_: base.yaml\n')
    with pytest.raises(ConfigError, match=r'base\.yaml: unknown key augment\.blurr'):
        load_config(tmp_path / 'child.yaml')


def test_print_config_shows_the_resolved_recipe(tmp_path, capsys):
    from lightseg_ros.cli import main
    import yaml

    repo = Path(__file__).resolve().parents[1]
    recipe = repo / 'config/train/holdout/camvid_ghostnet_aspp_da_cpu_0001TP.yaml'
    argv = ['train', '--config', str(recipe), '--data', str(tmp_path), '--epochs', '7']
    assert main([*argv, '--set', 'optim.lr=0.05', '--print-config']) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed['data']['root'] == str(tmp_path.resolve()) and printed['train']['epochs'] == 7
    assert printed['optim']['lr'] == 0.05 and printed['data']['val_split'] == 'train[0001TP]'
    assert printed['train']['eval_interval'] == 5  # from the base one level up
    assert printed['train']['loss'] == 'ce_dice'  # two levels up
    assert printed['data']['crop_size'] == [240, 320]  # three levels up
    assert '_base_' not in printed
    again = tmp_path / 'printed.yaml'
    again.write_text(yaml.safe_dump(printed))
    expected = load_config(
        recipe, ['train.epochs=7', 'optim.lr=0.05', f'data.root={tmp_path.resolve()}']
    )
    assert {k: v for k, v in load_config(again).to_dict().items() if k != '_config_dir'} == {
        k: v for k, v in expected.to_dict().items() if k != '_config_dir'
    }


def test_every_recipe_resolves_and_leaves_the_data_root_to_the_command_line():
    import yaml

    repo = Path(__file__).resolve().parents[1]
    recipes = sorted((repo / 'config' / 'train').rglob('*.yaml'))
    assert len(recipes) >= 17
    for f in recipes:
        raw = yaml.safe_load(f.read_text()) or {}
        assert 'root' not in (raw.get('data') or {}), f
        if f.parent.name != '_base_':
            cfg = load_config(f)
            assert cfg.data.root is None and cfg.model.name in f.stem, f
            assert cfg.train.output_dir.startswith('runs/'), f


def test_code_and_recipes_refer_to_no_document_outside_the_repository():
    repo = Path(__file__).resolve().parents[1]
    outside = ('REFERENCE' + '.md', '../' + 'shared')
    files = [
        *repo.glob('lightseg_ros/**/*.py'),
        *repo.glob('config/**/*.yaml'),
        *repo.glob('test/*.py'),
        *repo.glob('launch/*.py'),
        repo / 'setup.py',
    ]
    assert len(files) > 50
    found = [
        f'{f.relative_to(repo)}: {word}'
        for f in files
        for word in outside
        if word in f.read_text()
    ]
    assert not found, found


def test_dataset_check_names_every_bad_file_in_one_line(tmp_path):
    root = make_camvid(tmp_path, n=6)
    png = (root / 'train' / 'seq_0001.png').read_bytes()
    (root / 'train' / 'seq_0001.png').write_bytes(png[: len(png) // 2])  # a copy cut short
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(root / 'trainannot' / 'seq_0002.png')
    mask = np.array(Image.open(root / 'trainannot' / 'seq_0004.png'))
    mask[3, 3] = 40
    Image.fromarray(mask).save(root / 'trainannot' / 'seq_0004.png')
    build_dataset('camvid', root, 'val').check()  # a sound split passes
    ds = build_dataset('camvid', root, 'train')
    with pytest.raises(DatasetError) as info:
        ds.check("train_split 'train'")
    message = str(info.value)
    assert '\n' not in message and message.startswith(
        "camvid train_split 'train': 3 of 6 samples are unusable"
    )
    assert 'cannot read image' in message and 'train/seq_0001.png' in message
    assert 'size mismatch' in message and 'trainannot/seq_0002.png is 48x32' in message
    assert 'seq_0004.png has label values [40]' in message
    assert 'seq_0000' not in message and 'seq_0003' not in message


def test_a_data_loader_workers_error_is_told_in_one_line(tmp_path):
    from lightseg_ros.tools.train_cmd import one_line
    from torch.utils.data import DataLoader

    root = make_camvid(tmp_path, n=2)
    ds = build_dataset('camvid', root, 'train')
    (root / 'train' / 'seq_0001.png').write_bytes(b'not a png')  # broken after the run started
    with pytest.raises(DatasetError) as info:
        list(DataLoader(ds, batch_size=1, num_workers=1))
    assert 'Traceback' in str(info.value)  # what the worker sends back
    line = one_line(info.value)
    assert (
        line.startswith('camvid: cannot read image ')
        and 'seq_0001.png' in line
        and '\n' not in line
    )


def test_class_weights_from_the_checked_masks_by_hand(tmp_path):
    root = make_camvid(tmp_path / 'camvid', n=2, size=(8, 8), splits=('train',))
    a = np.zeros((8, 8), np.uint8)
    a[4:] = 1
    a[0, 0] = 11  # ignored: 31 pixels of class 0, 32 of class 1
    b = np.zeros((8, 8), np.uint8)  # 64 of class 0
    Image.fromarray(a).save(root / 'trainannot' / 'seq_0000.png')
    Image.fromarray(b).save(root / 'trainannot' / 'seq_0001.png')
    data = build_dataset('camvid', root, 'train', None)
    data.check()
    assert data.class_pixels.tolist() == [95, 32] + [0] * 9
    p = np.array([95, 32] + [0] * 9) / 127
    w = 1 / np.log(1.1 + p)
    assert data.class_weights(1.1) == pytest.approx(list(w * 11 / w.sum()), abs=1e-4)
    got = data.class_weights(1.02)
    assert sum(got) == pytest.approx(11, abs=1e-3) and got[0] < got[1] < got[2] == got[10]


def test_a_file_claiming_a_huge_image_is_one_dataset_error(tmp_path):
    """Pillow's decompression-bomb error is not an OSError: it is caught and named too."""
    from hostile_inputs import png_claiming

    root = make_camvid(tmp_path, n=2)
    (root / 'train' / 'seq_0001.png').write_bytes(png_claiming(100_000, 100_000))
    (root / 'trainannot' / 'seq_0000.png').write_bytes(png_claiming(100_000, 100_000))
    ds = build_dataset('camvid', root, 'train')
    with pytest.raises(DatasetError) as info:
        ds.check('split train')
    text = str(info.value)
    assert 'cannot read image' in text and 'train/seq_0001.png' in text
    assert 'cannot read mask' in text and 'trainannot/seq_0000.png' in text
    with pytest.raises(DatasetError, match=r'cannot read mask .*seq_0000\.png'):
        ds[0]
    with pytest.raises(DatasetError, match=r'cannot read image .*seq_0001\.png'):
        ds[1]


def test_16_bit_grey_images_keep_their_high_byte_as_predict_reads_them(tmp_path):
    """Pillow's convert('RGB') clipped 16-bit grey at 255: most of a frame came out white."""
    from lightseg_ros.sources.frames import read_image

    root = make_folder(tmp_path, n=1, size=(32, 48), classes='txt')
    grey = np.linspace(0, 65535, 32 * 48).astype(np.uint16).reshape(32, 48)
    (root / 'images' / 'val' / 'img0.jpg').unlink()
    path = root / 'images' / 'val' / 'img0.png'
    Image.fromarray(grey).save(path)  # mode I;16
    with Image.open(path) as im:
        assert im.mode.startswith('I;16')
    ds = build_dataset('folder', root, 'val')
    ds.check('val')
    image, _ = ds.load(0)
    expected = (grey >> 8).astype(np.uint8)
    assert np.array_equal(image.numpy(), np.stack([expected] * 3))
    assert np.array_equal(image.permute(1, 2, 0).numpy(), read_image(path))  # as predict sees it
    # a float image is refused by the check, naming the file and what is accepted
    Image.fromarray(grey.astype(np.float32)).save(path.with_suffix('.tif'))
    path.unlink()
    with pytest.raises(DatasetError, match=r'img0\.tif has floating-point pixels .*accepted: '):
        build_dataset('folder', root, 'val').check('val')


def test_16_bit_label_images_hold_class_ids(tmp_path):
    root = make_folder(tmp_path, n=1, size=(32, 48), classes='txt')
    mask_path = root / 'masks' / 'val' / 'img0.png'
    ids = np.asarray(Image.open(mask_path)).astype(np.uint16)
    ids[0, :4] = 255  # the ignore index
    Image.fromarray(ids).save(mask_path)  # mode I;16
    ds = build_dataset('folder', root, 'val')
    ds.check('val')
    assert np.array_equal(ds.load(0)[1].numpy(), ids)
    ids[1, 1] = 1000  # a 16-bit value beyond the classes: the error every bad label gets
    Image.fromarray(ids).save(mask_path)
    with pytest.raises(DatasetError, match=r'img0\.png has label values \[1000\] outside \[0, 2'):
        ds.load(0)
    Image.fromarray(ids.astype(np.float32)).save(mask_path.with_suffix('.tif'))
    mask_path.with_suffix('.tif').rename(mask_path)  # a float TIFF under the mask's name
    with pytest.raises(DatasetError, match=r'img0\.png has floating-point values \(Pillow mode F'):
        ds.load(0)


@pytest.mark.parametrize('cut', ['half', 'last 200 bytes'])
def test_a_truncated_jpeg_is_found_by_the_check_not_in_an_epoch(tmp_path, cut):
    """Pillow's verify() reads no JPEG data: the check looks for the end-of-image marker."""
    root = make_folder(tmp_path, n=3)
    path = root / 'images' / 'val' / 'img1.jpg'
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if cut == 'half' else data[:-200])
    ds = build_dataset('folder', root, 'val')
    with pytest.raises(DatasetError) as info:
        ds.check("val_split 'val'")
    message = str(info.value)
    assert message.startswith("folder val_split 'val': 1 of 3 samples are unusable: ")
    assert message.endswith(
        f'cannot read image {path}: truncated JPEG (the file ends before its end-of-image '
        'marker)'
    )


def test_jpegs_with_bytes_after_their_end_pass_the_check(tmp_path):
    root = make_folder(tmp_path, n=2)
    images = root / 'images' / 'train'
    # a camera's trailer after the end-of-image marker, longer than the tail read first
    with open(images / 'img0.jpg', 'ab') as f:
        f.write(bytes(100_000))
    with open(images / 'img1.jpg', 'ab') as f:  # a trailer that holds a start-of-scan marker
        f.write(b'\xff\xda\x00\x02' + bytes(50))
    build_dataset('folder', root, 'train').check('train')


def _with_orientation(image: np.ndarray, path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(image).save(path, exif=exif.tobytes())


@pytest.mark.parametrize('orientation', range(1, 9))
def test_images_are_trained_as_predict_reads_them_exif_orientation_applied(
    tmp_path, orientation
):
    """A phone's JPEG with Orientation=6 was trained on unrotated and predicted on rotated."""
    from lightseg_ros.sources.frames import read_image

    root = make_folder(tmp_path, n=1, size=(32, 48), classes='txt')
    (root / 'images' / 'val' / 'img0.jpg').unlink()
    stored = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    path = root / 'images' / 'val' / 'img0.png'
    _with_orientation(stored, path, orientation)
    upright = read_image(path)  # OpenCV, as `lightseg predict` and the demo read it
    height, width = upright.shape[:2]
    mask_path = root / 'masks' / 'val' / 'img0.png'
    mask = np.arange(height * width).reshape(height, width) % 3  # no symmetry to hide a rotation
    # a label map is not rotated, even where it carries an orientation of its own
    _with_orientation(mask.astype(np.uint8), mask_path, 6)
    ds = build_dataset('folder', root, 'val')
    ds.check('val')
    assert ds.common_image_size() == [height, width] and ds.sample_sizes() == [(height, width)]
    del ds._sizes  # from the headers again
    assert ds.sample_sizes() == [(height, width)]
    image, labels = ds.load(0)
    assert np.array_equal(image.permute(1, 2, 0).numpy(), upright)
    assert np.array_equal(labels.numpy(), mask)
    # the same read without check() (which keeps each orientation for load())
    image, _ = build_dataset('folder', root, 'val').load(0)
    assert np.array_equal(image.permute(1, 2, 0).numpy(), upright)
    note = ds.exif_note('validation')
    if orientation == 1:
        assert note is None
    else:  # a half turn or a mirror keeps the sizes: only this line can tell the user
        assert note.startswith('note: 1 validation image(s) carry an EXIF orientation')
        assert str(path) in note and 'masks must be drawn on the upright image' in note


def test_a_mask_drawn_on_the_unrotated_pixels_is_told_so(tmp_path):
    root = make_folder(tmp_path, n=1, size=(32, 48))
    path = root / 'images' / 'train' / 'img0.jpg'
    _with_orientation(np.asarray(Image.open(path)), path, 6)  # the mask stays 48x32 (WxH)
    ds = build_dataset('folder', root, 'train')
    expected = (
        f'size mismatch: image {path} is 32x48 once its EXIF orientation (6) rotates it, as '
        f'`lightseg predict` and the node read it, but mask {root}/masks/train/img0.png is '
        '48x32 (WxH): the size of the unrotated pixels'
    )
    with pytest.raises(DatasetError) as info:
        ds.check('train')
    assert str(info.value).endswith(expected) and '\n' not in str(info.value)
    with pytest.raises(DatasetError) as info:
        ds.load(0)
    assert str(info.value) == f'folder: {expected}'


@pytest.mark.parametrize('layout', ['sub-folder', 'split list', 'camvid', 'cityscapes'])
def test_an_empty_split_names_the_split_and_where_it_was_looked_for(tmp_path, layout):
    if layout == 'camvid':
        root = make_camvid(tmp_path, n=1, splits=('train',))
        (root / 'train.txt').write_text('')
        with pytest.raises(DatasetError, match=r"^camvid: split 'train\[0006R0\]' has no images "):
            build_dataset('camvid', root, 'train[0006R0]')
        (root / 'train.txt').unlink()
        (root / 'train' / 'seq_0000.png').unlink()
        with pytest.raises(DatasetError) as info:
            build_dataset('camvid', root, 'train')
        assert str(info.value) == f"camvid: split 'train' has no images (looked in {root}/train/)"
        return
    if layout == 'cityscapes':
        root = make_cityscapes(tmp_path)
        for image in (root / 'leftImg8bit' / 'val' / 'aachen').iterdir():
            image.unlink()
        with pytest.raises(DatasetError) as info:
            build_dataset('cityscapes', root, 'val')
        assert str(info.value) == (
            f"cityscapes: split 'val' has no images: no CITY/*_leftImg8bit.png in "
            f'{root}/leftImg8bit/val'
        )
        return
    root = make_folder(tmp_path, n=1)
    if layout == 'sub-folder':
        (root / 'images' / 'val' / 'img0.jpg').unlink()
        where = f"folder: split 'val' has no images in {root}/images/val; accepted: "
    else:
        (root / 'images' / 'val' / 'img0.jpg').rename(root / 'images' / 'img0.jpg')
        (root / 'images' / 'val').rmdir()
        (root / 'val.txt').write_text('# nothing yet\n')
        where = f"folder: split 'val': {root}/val.txt lists no images"
    with pytest.raises(DatasetError) as info:
        build_dataset('folder', root, 'val')
    assert str(info.value).startswith(where)


def test_an_rgb_mask_colour_of_no_class_lists_the_class_colours(tmp_path):
    root = make_folder(tmp_path, n=1, rgb_masks=True, classes='txt')
    mask_path = root / 'masks' / 'train' / 'img0.png'
    rgb = np.asarray(Image.open(mask_path)).copy()
    rgb[:2] = 255  # white, which marks 'ignore' in some tools
    Image.fromarray(rgb).save(mask_path)
    with pytest.raises(DatasetError) as info:
        build_dataset('folder', root, 'train').check('train')
    assert str(info.value).endswith(
        f'{mask_path}: RGB mask has colours that match no class: [(255, 255, 255)]; the '
        'classes.txt colours are background (40, 40, 40), box (220, 40, 40), disk (40, 200, 60)'
    )


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], 'big')
        chunks.append(data[pos:pos + 12 + length])
        pos += 12 + length
    return chunks


@pytest.mark.parametrize('exif', ['after the pixels', 'malformed'])
def test_a_png_exif_chunk_after_the_pixels_or_malformed_is_read_as_opencv_reads_it(
    tmp_path, exif
):
    """Pillow's getexif() decodes a PNG to reach an eXIf chunk after IDAT; the check does not."""
    import zlib

    from lightseg_ros.sources.frames import read_image

    root = make_folder(tmp_path, n=1, size=(32, 48), classes='txt')
    (root / 'images' / 'val' / 'img0.jpg').unlink()
    path = root / 'images' / 'val' / 'img0.png'
    _with_orientation(np.random.default_rng(2).integers(0, 256, (32, 48, 3), np.uint8), path, 6)
    chunks = _png_chunks(path.read_bytes())
    (chunk,) = [c for c in chunks if c[4:8] == b'eXIf']
    if exif == 'malformed':
        body = b'eXIf' + b'MM\x00\x2a\xff\xff\xff\xff' + bytes(8)
        chunk = chunk[:4] + body + zlib.crc32(body).to_bytes(4, 'big')
        chunk = (len(body) - 4).to_bytes(4, 'big') + chunk[4:]
    rest = [c for c in chunks if c[4:8] != b'eXIf']
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + b''.join(rest[:-1]) + chunk + rest[-1])
    upright = read_image(path)
    height, width = upright.shape[:2]
    assert (height, width) == ((48, 32) if exif == 'after the pixels' else (32, 48))
    Image.fromarray(np.zeros((height, width), np.uint8)).save(root / 'masks' / 'val' / 'img0.png')
    ds = build_dataset('folder', root, 'val')
    ds.check('val')
    assert ds.common_image_size() == [height, width]
    assert np.array_equal(ds.load(0)[0].permute(1, 2, 0).numpy(), upright)


@pytest.mark.parametrize('layout', ['sub-folder', 'split list'])
def test_two_images_of_one_stem_are_refused_not_trained_on_one_mask(tmp_path, layout):
    root = make_folder(tmp_path, n=2, size=(32, 48))
    images = root / 'images' / 'train'
    Image.open(images / 'img1.jpg').save(images / 'img1.png')
    if layout == 'split list':
        for folder in (images, root / 'masks' / 'train'):
            for f in folder.iterdir():
                f.rename(folder.parent / f.name)
            folder.rmdir()
        (root / 'train.txt').write_text('img0\nimg1\n')
        expected = "image 'img1' listed in"
    else:
        expected = "share the stem 'img1' and so the mask"
    with pytest.raises(DatasetError, match=expected) as info:
        build_dataset('folder', root, 'train')
    assert 'img1.jpg' in str(info.value) and 'img1.png' in str(info.value)
    if layout == 'split list':  # a name given with its extension is not ambiguous
        (root / 'train.txt').write_text('img0\nimg1.png\n')
        ds = build_dataset('folder', root, 'train')
        assert [image.name for image, _ in ds.samples] == ['img0.jpg', 'img1.png']


def test_mask_dir_outside_the_voc_layout_is_refused_not_ignored(tmp_path):
    from lightseg_ros.training.engine import get_datasets

    root = make_folder(tmp_path, n=2, size=(32, 48))
    cfg = load_config(
        None, ['data.dataset=folder', f'data.root={root}', 'data.mask_dir=labels']
    )
    with pytest.raises(ConfigError, match=r"data\.mask_dir \('labels'\) is read by the voc"):
        get_datasets(cfg)
    cfg = load_config(None, ['data.dataset=folder', f'data.root={root}'])
    train_set, val_set = get_datasets(cfg)
    assert len(train_set) == 2 and len(val_set) == 2


def test_a_classes_file_whose_ignore_index_is_a_class_is_refused(tmp_path):
    path = tmp_path / 'classes.yaml'
    path.write_text('classes: [background, road]\nignore_index: 0\n')
    with pytest.raises(DatasetError) as info:
        read_classes_file(path)
    assert str(info.value) == (
        f"{path}: the ignore index 0 is also class 0 ('background') of the 2 classes; the ignore "
        'index must be 2 or more'
    )
    text = tmp_path / 'classes.txt'  # 256 classes and the default 255: class c255 would be void
    text.write_text(''.join(f'c{i}\n' for i in range(256)))
    with pytest.raises(DatasetError, match=r"is also class 255 \('c255'\) .* in a classes\.yaml"):
        read_classes_file(text)
    path.write_text('classes: [background, road]\nignore_index: 2\n')
    assert read_classes_file(path)[2] == 2


def test_a_classes_file_with_a_byte_order_mark_or_a_yaml_boolean_name(tmp_path):
    text = tmp_path / 'classes.txt'
    text.write_bytes('background\nroad\n'.encode('utf-8-sig'))  # as Windows editors save it
    assert read_classes_file(text)[0] == ['background', 'road']
    path = tmp_path / 'classes.yaml'
    path.write_text('classes:\n  - {name: road}\n  - {name: off}\n')
    with pytest.raises(DatasetError, match=r'class 1 name reads as the boolean False in YAML'):
        read_classes_file(path)
    path.write_text("classes:\n  - {name: road}\n  - {name: 'off'}\n")
    assert read_classes_file(path)[0] == ['road', 'off']


def test_transparent_pixels_of_an_rgba_mask_are_unlabelled(tmp_path):
    root = make_folder(tmp_path, n=1, size=(8, 8), rgb_masks=True)
    rgba = np.zeros((8, 8, 4), np.uint8)  # transparent black everywhere: no class
    rgba[:4] = [*CLASS_COLORS[1], 255]  # the top half opaque, class 1 ('box')
    Image.fromarray(rgba, 'RGBA').save(root / 'masks' / 'train' / 'img0.png')
    data = build_dataset('folder', root, 'train', None)
    data.check()
    assert data.class_pixels.tolist() == [0, 32, 0]
    _, mask = data[0]
    mask = np.asarray(mask)
    assert (mask[:4] == 1).all() and (mask[4:] == 255).all()


def test_a_list_naming_two_images_of_one_stem_is_refused(tmp_path):
    root = make_folder(tmp_path, n=2, size=(32, 48))
    images = root / 'images'
    for folder in (images / 'train', root / 'masks' / 'train'):  # the flat layout + train.txt
        for f in folder.iterdir():
            f.rename(folder.parent / f.name)
        folder.rmdir()
    for name in ('a', 'b'):
        (images / name).mkdir()
        Image.open(images / 'img0.jpg').save(images / name / 'x.jpg')
    (root / 'train.txt').write_text('a/x.jpg\nb/x.jpg\n')
    with pytest.raises(DatasetError, match=r"share the stem 'x' and so the mask .*x\.png"):
        build_dataset('folder', root, 'train')
    (root / 'train.txt').write_text('img0\nimg0\n')
    with pytest.raises(DatasetError, match=r'img0\.jpg and .*img0\.jpg, which share the stem'):
        build_dataset('folder', root, 'train')


def test_8_bit_labels_are_augmented_as_uint8_and_come_out_as_int64_unchanged(tmp_path):
    from torchvision import tv_tensors

    root = make_camvid(tmp_path / 'camvid', n=1, size=(48, 64), splits=('train',))
    image, mask = build_dataset('camvid', root, 'train', None)[0]
    assert mask.dtype == torch.uint8  # an eighth of int64's memory through the augmentation
    transform = train_transform((40, 40), 11, scale=(1.5, 2.0), blur=0, hue=0)
    out = {}
    for dtype in (torch.uint8, torch.int64):
        torch.manual_seed(3)
        out[dtype] = transform(image, tv_tensors.Mask(mask.to(dtype)))
    assert out[torch.uint8][1].dtype == torch.int64
    assert torch.equal(out[torch.uint8][1], out[torch.int64][1])
    assert torch.equal(out[torch.uint8][0], out[torch.int64][0])
