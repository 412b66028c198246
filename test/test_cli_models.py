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

import json
import os
from pathlib import Path
import subprocess
import sys
import time

from lightseg_ros.cli import main
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_models_json_lists_the_three_models_with_their_figures(capsys):
    assert main(['models', '--json']) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r['name']: r for r in data['models']}
    assert rows['deeplabv3plus_mobilenetv2']['params'] == 5_818_149
    assert abs(rows['deeplabv3plus_mobilenetv2']['gflops'] - 52.846) < 0.02 * 52.846
    assert abs(rows['ghostnet_aspp_da']['params'] - 2.78e6) < 0.05 * 2.78e6
    assert abs(rows['ghostnet_aspp_da']['gflops'] - 1.931) < 0.05 * 1.931
    assert abs(rows['mlff_mobilenetv2']['fp32_mb'] - 23.2) < 0.05 * 23.2


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name('lightseg')
    out = subprocess.run([str(exe), 'models'], capture_output=True, text=True, check=True).stdout
    assert 'ghostnet_aspp_da' in out and 'GFLOPs' in out


def test_colcon_build_succeeds(tmp_path):
    """The package builds as an ament_python package with colcon (as on a robot with ROS 2)."""
    colcon = Path(sys.executable).with_name('colcon')
    if not colcon.exists():
        pytest.fail(
            'colcon is not installed in this environment (pip install colcon-common-extensions)'
        )
    env = dict(os.environ, COLCON_HOME=str(tmp_path / 'colcon_home'))
    proc = subprocess.run(
        [
            str(colcon),
            '--log-base',
            str(tmp_path / 'log'),
            'build',
            '--base-paths',
            str(REPO),
            '--build-base',
            str(tmp_path / 'build'),
            '--install-base',
            str(tmp_path / 'install'),
            '--packages-select',
            'lightseg_ros',
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    share = tmp_path / 'install' / 'lightseg_ros' / 'share' / 'lightseg_ros'
    assert (share / 'package.xml').is_file()
    assert (tmp_path / 'install' / 'lightseg_ros' / 'lib' / 'lightseg_ros' / 'lightseg').is_file()
    # what `ros2 run lightseg_ros segment_node` and `ros2 launch lightseg_ros segment.launch.py`
    # need
    for script in ('segment_node', 'image_source'):
        assert (tmp_path / 'install' / 'lightseg_ros' / 'lib' / 'lightseg_ros' / script).is_file()
    for installed in ('launch/segment.launch.py', 'config/segment.yaml', 'config/lightseg.rviz'):
        assert (share / installed).is_file(), installed
    # the trained default weights travel with the installed package (the node loads them by
    # default)
    installed_weights = list(
        (tmp_path / 'install' / 'lightseg_ros').rglob('lightseg_ros/weights/*.safetensors')
    )
    assert {p.name for p in installed_weights} >= {'ghostnet_aspp_da.safetensors'}, (
        installed_weights
    )
    # every training recipe, each in its folder (a recipe names its _base_ by a relative path)
    recipes = sorted(p.relative_to(REPO) for p in (REPO / 'config' / 'train').rglob('*.yaml'))
    assert {r.parent.name for r in recipes} >= {'train', '_base_', 'cpu', 'gpu', 'holdout'}
    for recipe in recipes:
        assert (share / recipe).is_file(), recipe
    from lightseg_ros.training.config import load_config

    installed = load_config(share / 'config/train/gpu/camvid_mlff_mobilenetv2.yaml')
    in_repo = load_config(REPO / 'config/train/gpu/camvid_mlff_mobilenetv2.yaml')
    assert installed.config_dir != in_repo.config_dir
    installed.config_dir = in_repo.config_dir
    assert installed.to_dict() == in_repo.to_dict()


def test_ctrl_c_ends_a_command_with_one_line_and_130():
    import signal

    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name('lightseg')),
            'bench',
            '--device',
            'cpu',
            '--models',
            'ghostnet_aspp_da',
            '--backends',
            'torch',
            '--sizes',
            '64x96',
            '--iters',
            '1000000',  # runs until stopped
            '--rounds',
            '1',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background of a script has SIGINT ignored,
        # which the command would inherit and run on
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(8.0)  # past the imports and the peak measurement, into the timed calls
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # never left running (a no-op once it has ended)
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().splitlines()[-1] == 'lightseg: interrupted' and 'Traceback' not in err, err


@pytest.mark.parametrize(
    'argv',
    [
        ['bench', '--models', 'nosuch', '--sizes', '64x64', '--quiet'],
        ['eval', '--model', 'nosuch', '--data', 'no-such-dir'],
        ['demo', '--model', 'nosuch', '--frames', '2'],  # the node itself refuses the name
    ],
    ids=['bench', 'eval', 'demo'],
)
def test_an_unknown_model_name_is_one_line_that_lists_the_accepted_names(argv, tmp_path, capsys):
    if argv[0] == 'demo':
        argv = [*argv, '--out', str(tmp_path / 'demo')]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f'lightseg {argv[0]}: error: ')
    assert "unknown model 'nosuch'" in lines[0] and 'ghostnet_aspp_da' in lines[0]


def test_an_unknown_bench_backend_stops_before_measuring(capsys):
    assert main(['bench', '--backends', 'torch,tensorrtx', '--sizes', '64x64', '--quiet']) == 2
    err = capsys.readouterr().err.strip()
    expected = "unknown backend 'tensorrtx'; accepted: torch, onnxruntime or 'all'"
    assert err == f'lightseg bench: error: {expected}'


def test_only_input_errors_lose_their_traceback():
    from lightseg_ros.cli import input_error_line
    from lightseg_ros.models import UnknownModelError
    from lightseg_ros.ros.node_session import NodeStartError

    log = (
        'node exited with code 2 while waiting for its topics:\n'
        '[INFO] [1.0] [segment_node]: starting\n'
        '[ERROR] [2.0] [segment_node]: cannot start: parameter device: got  "tpu"\n'
    )
    assert input_error_line(NodeStartError(log)) == (
        'segment_node did not start: cannot start: parameter device: got "tpu"'
    )
    assert input_error_line(UnknownModelError('unknown\nmodel')) == 'unknown model'
    # a bug is not bad input: main() re-raises it with its traceback
    assert input_error_line(KeyError('x')) is None
    assert input_error_line(ValueError('x')) is None
