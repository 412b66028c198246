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
Hostile evaluation inputs: datasets ``lightseg eval`` and training's validation must score.

A split that mixes image sizes is scored at any ``--batch-size`` (it stopped in a traceback
when a batch could not be stacked).
"""

from __future__ import annotations

import json

from hostile_inputs import small_weights
from lightseg_ros.cli import main
from lightseg_ros.tools.eval_cmd import score_weights
from lightseg_ros.training.datasets import build_dataset
from lightseg_ros.training.evaluate import native_loader, size_batches
import pytest
from synthetic_data import make_folder


def test_batches_hold_one_image_size_each():
    a, b = (64, 96), (80, 96)
    assert size_batches([a, b, a, a, b], 2) == [[0, 2], [3], [1, 4]]
    assert size_batches([a, b, a], 1) == [[0], [2], [1]]
    assert size_batches([], 4) == []


@pytest.fixture(scope='module')
def mixed_sizes(tmp_path_factory):
    """Write a folder dataset whose val split holds 48x64 and 64x64 images, interleaved."""
    root = tmp_path_factory.mktemp('mixed')
    make_folder(root / 'a', n=3, size=(48, 64), seed=1)
    make_folder(root / 'b', n=2, size=(64, 64), seed=2)
    data = root / 'a'
    for i in range(2):
        for kind, ext in (('images', 'jpg'), ('masks', 'png')):
            source = root / 'b' / kind / 'val' / f'img{i}.{ext}'
            source.rename(data / kind / 'val' / f'img{i}b.{ext}')
    return data


def test_a_split_of_mixed_sizes_is_scored_alike_at_every_batch_size(
    mixed_sizes, tmp_path, capsys, one_torch_thread
):
    weights = small_weights(tmp_path / 'w.safetensors')
    ds = build_dataset('folder', mixed_sizes, 'val')
    ds.check('val')
    assert len(ds.image_sizes) == 2 and len(ds) == 5
    loader = native_loader(ds, 2, indices=[0, 1, 2, 3, 4])
    shapes = [tuple(images.shape) for images, _ in loader]
    assert sorted(s[0] for s in shapes) == [1, 2, 2] and all(len(s) == 4 for s in shapes)
    one, two, five = (
        score_weights(
            weights, mixed_sizes, dataset='folder', device='cpu', batch_size=b, progress=False
        )
        for b in (1, 2, 5)
    )
    assert one.images == two.images == five.images == 5
    assert one.scores.confusion == two.scores.confusion == five.scores.confusion
    out = tmp_path / 'eval'
    argv = ['eval', '--weights', str(weights), '--data', str(mixed_sizes), '--dataset', 'folder']
    argv += ['--batch-size', '2', '--device', 'cpu', '--no-progress', '--out', str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    assert 'Traceback' not in capsys.readouterr().err
    report = json.loads((out / 'metrics.json').read_text())
    assert report['images'] == 5 and report['confusion_matrix'] == one.scores.confusion


def test_a_validation_shard_is_batched_by_size(mixed_sizes):
    """Training's validation (eval.batch_size > 1) shards the split; each shard batches apart."""
    ds = build_dataset('folder', mixed_sizes, 'val')  # no check(): the sizes come from headers
    sizes = ds.sample_sizes()
    shard = [1, 3, 4]  # rank 1 of 2 processes would score positions 1, 3
    loader = native_loader(ds, 4, indices=shard)
    seen = [tuple(images.shape[-2:]) for images, _ in loader for _ in images]
    assert sorted(seen) == sorted(sizes[i] for i in shard)


def test_training_validation_scores_a_split_of_mixed_sizes(mixed_sizes, one_torch_thread):
    """eval.batch_size > 1 on a split of two sizes: validated, as with eval.batch_size 1."""
    from lightseg_ros.models import build_model
    from lightseg_ros.training.config import load_config
    from lightseg_ros.training.engine import DistInfo, validate
    from lightseg_ros.training.transforms import eval_transform

    ds = build_dataset('folder', mixed_sizes, 'val', eval_transform())
    ds.check('val')
    model = build_model('ghostnet_aspp_da', num_classes=3)
    scores = [
        validate(
            model, ds, load_config(None, [f'eval.batch_size={b}']), DistInfo(), amp=False
        ).confusion
        for b in (1, 4)
    ]
    assert scores[0] == scores[1] and sum(map(sum, scores[0])) == 3 * 48 * 64 + 2 * 64 * 64


def test_eval_scores_with_the_datasets_ignore_index_not_the_weights(tmp_path, one_torch_thread):
    """A dataset whose void is 3 (its classes.yaml ignore_index), not the weights' 255."""
    import numpy as np
    from PIL import Image

    data = make_folder(tmp_path / 'd', n=2)
    classes = data / 'classes.yaml'
    classes.write_text(classes.read_text().replace('ignore_index: 255', 'ignore_index: 3'))
    labelled = 0
    for path in (data / 'masks' / 'val').glob('*.png'):  # class 2's pixels made void
        mask = np.array(Image.open(path))
        mask[mask == 2] = 3
        Image.fromarray(mask).save(path)
        labelled += int((mask != 3).sum())
    weights = small_weights(tmp_path / 'w.safetensors')  # its own ignore index: 255
    score = score_weights(weights, data, dataset='folder', device='cpu', progress=False)
    confusion = score.scores.confusion
    # every labelled pixel counted, no void one (label 3 was out of range for the weights' 255)
    assert sum(confusion[2]) == 0 and sum(map(sum, confusion)) == labelled > 0
