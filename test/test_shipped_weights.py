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
The trained weights inside the package.

What a ``weights`` setting means, and who loads them by default.
"""

import json
from pathlib import Path

from lightseg_ros.classes import CAMVID_CLASSES
from lightseg_ros.cli import main
from lightseg_ros.models import (
    build_model,
    load_model,
    load_weights,
    resolve_weights,
    save_weights,
    shipped,
    shipped_models,
    shipped_weights,
    trained_weights,
    WeightsError,
    WeightsMeta,
)
from lightseg_ros.ros.node_config import ModelConfig, PARAMETERS, validate_change
from lightseg_ros.training.config import load_config
import pytest
from synthetic_data import make_camvid
import torch


def test_ghostnet_ships_and_every_shipped_file_is_a_compact_trained_camvid_model():
    assert 'ghostnet_aspp_da' in shipped_models()
    for name in shipped_models():
        path = shipped_weights(name)
        meta, state = load_weights(path)
        assert (
            meta.model == name
            and meta.dataset == 'camvid'
            and meta.class_names == list(CAMVID_CLASSES)
        )
        if meta.recipe.get('val_split', 'val') is None:  # final weights: train+val, no val score
            assert meta.val_miou is None and meta.recipe['train_split'] == 'train+val'
        else:
            assert meta.val_miou is not None and 0 < meta.val_miou <= 1
        assert meta.recipe.get('epochs_trained', 0) >= 1
        floats = [t for t in state.values() if t.is_floating_point()]
        assert floats and all(t.dtype == torch.float16 for t in floats)
        assert path.stat().st_size < 16e6
        model, _ = load_model(path, expect_model=name)
        assert all(p.dtype == torch.float32 for p in model.parameters())


REPO = Path(__file__).resolve().parents[1]
# each shipped file's recipe (README "Trained weights" names the same files)
RECIPES = {
    'ghostnet_aspp_da': 'config/train/final/camvid_ghostnet_aspp_da_cpu.yaml',
    'mlff_mobilenetv2': 'config/train/gpu/camvid_mlff_mobilenetv2.yaml',
    'deeplabv3plus_mobilenetv2': 'config/train/gpu/camvid_deeplabv3plus_mobilenetv2.yaml',
}


def test_every_shipped_file_records_the_recipe_the_readme_names():
    readme = (REPO / 'README.md').read_text()
    assert set(shipped_models()) == set(RECIPES)
    for name, config in RECIPES.items():
        assert config in readme, config
        cfg = load_config(REPO / config)
        recipe = load_weights(shipped_weights(name))[0].recipe
        assert recipe['optim'] == cfg['optim'] and recipe['augment'] == cfg['augment'], name
        assert (
            recipe['loss'] == cfg['train']['loss'] and recipe['epochs'] == cfg['train']['epochs']
        ), name
        assert recipe['batch_size'] == cfg['train']['batch_size'], name
        assert list(recipe['crop_size']) == list(cfg['data']['crop_size']), name


def test_a_weights_setting_means_shipped_random_or_a_path(tmp_path, monkeypatch):
    assert resolve_weights('', 'ghostnet_aspp_da') == shipped_weights('ghostnet_aspp_da')
    assert resolve_weights('default', 'ghostnet_aspp_da') == shipped_weights('ghostnet_aspp_da')
    assert resolve_weights('random', 'ghostnet_aspp_da') is None
    assert resolve_weights(str(tmp_path / 'w.safetensors'), None) == tmp_path / 'w.safetensors'
    monkeypatch.setattr(shipped, 'WEIGHTS_DIR', tmp_path)  # a package that ships nothing
    assert resolve_weights('', 'ghostnet_aspp_da') is None and shipped_models() == []
    with pytest.raises(
        WeightsError, match="no trained weights ship for 'mlff_mobilenetv2'.*nothing to score"
    ):
        trained_weights('', 'mlff_mobilenetv2')
    assert trained_weights('random', None) is None


def test_node_defaults_to_the_shipped_ghostnet(tmp_path, monkeypatch):
    from lightseg_ros.ros.segment_node import load_segmenter

    values = {p.name: p.default for p in PARAMETERS}
    assert values['model'] == 'ghostnet_aspp_da' and values['weights'] == ''
    values.update(device='cpu', backend='torch')
    seg = load_segmenter(ModelConfig.from_values(values))
    assert not seg.random_weights and seg.weights_path == str(shipped_weights('ghostnet_aspp_da'))
    seg = load_segmenter(ModelConfig.from_values({**values, 'weights': 'random'}))
    assert seg.random_weights and seg.model_name == 'ghostnet_aspp_da'
    for value in ('', 'default', 'random'):
        assert validate_change('weights', value) is None
    monkeypatch.setattr(shipped, 'WEIGHTS_DIR', tmp_path)
    assert load_segmenter(
        ModelConfig.from_values(values)
    ).random_weights  # none shipped: random, reported


def test_eval_scores_the_shipped_weights_by_default(tmp_path, capsys):
    data = make_camvid(tmp_path / 'camvid', n=2, size=(48, 64), splits=('val',))
    assert (
        main(['eval', '--data', str(data), '--out', str(tmp_path / 'eval'), '--no-progress']) == 0
    )
    report = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    assert report['weights'] == str(shipped_weights('ghostnet_aspp_da')) and report['images'] == 2
    capsys.readouterr()
    argv = ['eval', '--data', str(data), '--model', 'mlff_mobilenetv2']
    assert main([*argv, '--weights', str(shipped_weights('ghostnet_aspp_da'))]) == 2
    assert "not the requested 'mlff_mobilenetv2'" in capsys.readouterr().err


def test_export_half_writes_fp16_that_reloads_as_the_same_model(tmp_path, capsys):
    torch.manual_seed(0)
    src = save_weights(
        tmp_path / 'w.safetensors',
        build_model('ghostnet_aspp_da', num_classes=4),
        WeightsMeta(model='ghostnet_aspp_da', num_classes=4, val_miou=0.5),
    )
    out = tmp_path / 'half.safetensors'
    assert (
        main(
            [
                'export',
                '--weights',
                str(src),
                '--safetensors',
                str(out),
                '--half',
                '--height',
                '64',
                '--width',
                '96',
                '--min-agreement',
                '0.9',
            ]
        )
        == 0
    )
    assert 'fp16 tensors' in capsys.readouterr().out
    meta, state = load_weights(out)
    assert meta.val_miou == 0.5
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
    assert out.stat().st_size < 0.6 * src.stat().st_size
    assert main(['export', '--weights', str(src)]) == 2
    assert 'give --onnx PATH and/or --safetensors PATH' in capsys.readouterr().err


def test_models_table_says_which_models_ship_weights(capsys):
    assert main(['models', '--json']) == 0
    rows = {r['name']: r for r in json.loads(capsys.readouterr().out)['models']}
    for name, row in rows.items():
        assert (row['shipped_weights'] is not None) == (name in shipped_models())
    ghost = rows['ghostnet_aspp_da']['shipped_weights']
    assert ghost['val_miou'] > 0 if ghost['val_miou'] is not None else ghost['train_split']


def test_results_table_scores_and_times_each_weights_file(tmp_path, capsys):
    data = make_camvid(tmp_path / 'camvid', n=2, size=(48, 64), splits=('val',))
    out = tmp_path / 'results.json'
    assert (
        main(
            [
                'results',
                '--data',
                str(data),
                '--size',
                '48',
                '64',
                '--iters',
                '2',
                '--warmup',
                '1',
                '--json',
                str(out),
                '--quiet',
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())['rows']
    assert [r['model'] for r in rows] == shipped_models()
    ghost = rows[[r['model'] for r in rows].index('ghostnet_aspp_da')]
    assert (
        ghost['params'] > 2_000_000
        and ghost['latency_p50_ms'] > 0
        and len(ghost['per_class_iou']) == 11
    )
    assert f'{ghost["miou"]:.2f}' in text and '| model | sky | building |' in text
    # the ratio is the median of rounds alternating the file with the peer (2 iters: 2 rounds)
    low, high = ghost['ratio_to_peer_range']
    assert 0 < low <= ghost['ratio_to_peer'] <= high


def test_shipped_ghostnet_segments_the_built_in_street_scene():
    """
    The default weights are trained, not random.

    On the package's synthetic street scene (drawn in CamVid's classes, never seen in training)
    they find the sky, the road and a fair share of the rest. Measured with the shipped file (the
    final fit on train + val): pixel accuracy 0.72, sky IoU 0.84, road IoU 0.74, mIoU over the
    scene's classes 0.46 (the previous, train-only file: 0.63, 0.80, 0.76, 0.39); an untrained
    model (seed 0): 0.27, 0.0, 0.0 and 0.04.
    """
    from lightseg_ros.inference import Segmenter
    from lightseg_ros.sources.synthetic import road_scene
    import numpy as np

    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cpu', backend='torch')
    image, label = road_scene(480, 360, seed=0)
    mask = seg.segment(image).mask
    assert mask.shape == label.shape
    ious = {
        CAMVID_CLASSES[c]: ((mask == c) & (label == c)).sum() / ((mask == c) | (label == c)).sum()
        for c in np.unique(label)
    }
    assert (mask == label).mean() > 0.5
    assert ious['sky'] > 0.5 and ious['road'] > 0.6, ious
    assert np.mean(list(ious.values())) > 0.25, ious
