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
Models of another installed package (``lightseg_ros.models`` entry points).

Each case installs small distributions the way pip lays them out (a package folder and its
``.dist-info`` with ``entry_points.txt``) in a temporary folder put on ``PYTHONPATH``, and runs
the real ``lightseg`` commands in a subprocess, so discovery goes through ``importlib.metadata``.
"""

import json
import os
from pathlib import Path
import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image
import pytest
from synthetic_data import make_folder
import yaml

TINY_MODEL = """
import torch
from torch import nn
from lightseg_ros.models import register_model


class Tiny(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, num_classes, 1),
        )

    def forward(self, x):
        y = self.body(x)
        return nn.functional.interpolate(y, size=x.shape[-2:], mode='bilinear')


@register_model('tiny_plug', paper='a test plugin', output_strides=(2,),
                default_output_stride=2, description='two convolutions, from a plugin')
def tiny_plug(*, num_classes, output_stride=2, pretrained_backbone=False):
    return Tiny(num_classes)
"""


def install(site: Path, dist: str, module: str, source: str, entry: str | None = None) -> None:
    """Lay out a distribution as pip would: the module and a dist-info naming its entry point."""
    (site / f'{module}.py').write_text(textwrap.dedent(source))
    info = site / f'{dist}-0.1.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n')
    (info / 'entry_points.txt').write_text(
        f'[lightseg_ros.models]\n{entry or module} = {module}\n'
    )


def run_in(site: Path, script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a script in a fresh interpreter with ``site`` on its path (one torch import)."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get('PYTHONPATH', '')) if p)
    env = {**os.environ, 'PYTHONPATH': path, 'OMP_NUM_THREADS': '1'}
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def site(tmp_path):
    path = tmp_path / 'site'
    path.mkdir()
    return path


def test_a_plugin_model_is_listed_trained_exported_and_run_by_name(
    tmp_path, site, capsys, monkeypatch
):
    install(site, 'tiny-seg', 'tiny_seg_models', TINY_MODEL)
    root = make_folder(tmp_path / 'data', n=4)
    cfg = tmp_path / 'tiny.yaml'
    cfg.write_text(
        yaml.safe_dump(
            {
                'model': {'name': 'tiny_plug'},
                'data': {'dataset': 'folder', 'root': str(root), 'crop_size': [32, 32]},
                'augment': {'scale': [1.0, 1.0], 'blur': 0.0},
                'train': {
                    'epochs': 2,
                    'batch_size': 2,
                    'workers': 0,
                    'output_dir': str(tmp_path / 'run'),
                    'progress': False,
                },
            }
        )
    )
    Image.fromarray(np.full((40, 56, 3), 90, np.uint8)).save(tmp_path / 'frame.png')
    weights = tmp_path / 'run' / 'model_final.safetensors'
    # the real commands, in one interpreter: train, export and predict by the plugin's name
    done = run_in(
        site,
        f"""
        import json
        from lightseg_ros.cli import main
        from lightseg_ros.models import get_model_spec, list_models

        print(json.dumps([list_models(), get_model_spec('tiny_plug').description]))
        print('rc', main(['train', '--config', {str(cfg)!r}, '--device', 'cpu']))
        print('rc', main(['export', '--weights', {str(weights)!r}, '--onnx', 'tiny.onnx',
                    '--height', '32', '--width', '32']))
        print('rc', main(['predict', 'frame.png', '--weights', {str(weights)!r}, '--out', 'out',
                    '--device', 'cpu']))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    names, description = json.loads(next(line for line in lines if line.startswith('[[')))
    assert 'tiny_plug' in names and {'ghostnet_aspp_da', 'mlff_mobilenetv2'} <= set(names)
    assert description == 'two convolutions, from a plugin'
    codes = [line for line in lines if line.startswith('rc ')]
    assert codes == ['rc 0'] * 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert 'plugin' not in done.stderr  # no warning when every plugin loads
    assert (tmp_path / 'tiny.onnx').stat().st_size > 0
    labels = np.asarray(Image.open(tmp_path / 'out' / 'label' / 'frame.png'))
    assert labels.shape == (40, 56) and labels.max() < 3  # the folder's three classes

    # here, without the plugin installed, the same weights name what is missing in one line
    from lightseg_ros.cli import main

    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main(['predict', 'frame.png', '--weights', str(weights), '--out', 'out2']) != 0
    err = capsys.readouterr().err
    assert "model 'tiny_plug', which is not registered" in err and 'Traceback' not in err


def test_a_broken_or_clashing_plugin_is_one_line_and_the_rest_still_work(tmp_path, site):
    install(site, 'tiny-seg', 'tiny_seg_models', TINY_MODEL)
    install(site, 'broken-seg', 'broken_seg_models', 'import no_such_module_here\n', 'broken')
    install(
        site,
        'clash-seg',
        'clash_seg_models',
        """
        from lightseg_ros.models import register_model

        @register_model('clash_first', paper='x', output_strides=(8,),
                        default_output_stride=8, description='registered before the clash')
        def first(**kwargs):
            raise AssertionError('never built')

        @register_model('ghostnet_aspp_da', paper='x', output_strides=(8,),
                        default_output_stride=8, description='a second ghostnet')
        def clash(**kwargs):
            raise AssertionError('never built')
        """,
    )
    done = run_in(
        site,
        """
        import json, sys
        from lightseg_ros.cli import main
        from lightseg_ros.models import get_model_spec, list_models

        print(json.dumps([list_models(), get_model_spec('ghostnet_aspp_da').output_strides]))
        sys.stderr.write('-- bench --\\n')
        print('rc', main(['bench', '--models', 'from_broken', '--sizes', '64x64']))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names, strides = json.loads(done.stdout.splitlines()[0])
    assert 'tiny_plug' in names and 'lraspp_mobilenet_v3_large' in names
    assert 'clash_first' not in names  # a plugin that fails loads none of its models
    assert strides == [16, 32]  # the built-in ghostnet, not the clashing one
    warnings, bench = done.stderr.split('-- bench --\n')
    lines = warnings.strip().splitlines()
    assert len(lines) == 2, done.stderr
    broken = next(line for line in lines if "'broken'" in line)
    assert 'broken_seg_models from broken-seg 0.1' in broken
    assert "No module named 'no_such_module_here'" in broken
    clash = next(line for line in lines if "'clash_seg_models'" in line)
    assert "'ghostnet_aspp_da' is already registered" in clash
    assert all('the other models are available' in line for line in lines)

    # a model nobody registered: one line listing the models and the plugins that did not load
    assert done.stdout.strip().splitlines()[-1] == 'rc 2', done.stdout
    assert len(bench.strip().splitlines()) == 1, bench
    assert "unknown model 'from_broken'" in bench and 'tiny_plug' in bench
    assert "model plugin 'broken'" in bench and 'Traceback' not in bench
