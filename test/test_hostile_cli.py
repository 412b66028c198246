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
Hostile command-line values, files and output paths: one line naming the bad thing, exit code 2.

Every case here ends at parse time or after a few milliseconds of work, so the file runs in
seconds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
from lightseg_ros.cli import input_error_line, main
from lightseg_ros.evaluation.make_bag import make_bag
from lightseg_ros.inference import export as export_mod
from lightseg_ros.inference.image_codec import jpeg_ends
from lightseg_ros.sources.bags import AtomicBagWriter, BagError, image_message, IMAGE_TYPE
import numpy as np
import pytest
import torch

CUDA = torch.cuda.is_available()


def run_cli(argv: list[str], capfd) -> tuple[int, str]:
    """Exit code and stderr (file descriptor 2: libjpeg's and libgomp's lines too)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    return code, capfd.readouterr().err


def the_error(err: str, prog: str) -> str:
    """Return the one error line of ``err``; usage lines argparse prints above it are allowed."""
    assert 'Traceback' not in err, err
    errors = [ln for ln in err.splitlines() if ': error: ' in ln]
    assert len(errors) == 1, err
    assert errors[0].startswith(f'lightseg {prog}: error: '), err
    others = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(('usage:', ' '))]
    assert others == errors, err  # nothing else: no warning from a library, no skipped line
    return errors[0]


def write_png(path: Path, h: int = 48, w: int = 64) -> Path:
    rgb = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(path), rgb)
    return path


@pytest.fixture
def image_dir(tmp_path) -> Path:
    folder = tmp_path / 'images'
    folder.mkdir()
    write_png(folder / 'a.png')
    return folder


DEVICE_COMMANDS = {
    'bench': ['bench', '--models', 'none'],
    'eval': ['eval', '--data', 'nowhere'],
    'results': ['results', '--data', 'nowhere'],
    'predict': ['predict', 'nothing.png'],
    'bag-eval': ['bag-eval', 'nobag', '--image-topic', '/cam'],
}


@pytest.mark.parametrize('command', sorted(DEVICE_COMMANDS))
@pytest.mark.parametrize(
    'device, words',
    [
        ('banana', "invalid device 'banana'; accepted: auto, cpu, cuda, cuda:N"),
        ('cuda:7', "device 'cuda:7' requested but"),
        pytest.param(
            'cuda',
            "device 'cuda' requested but CUDA is not available",
            marks=pytest.mark.skipif(CUDA, reason='CUDA is available here'),
        ),
    ],
)
def test_a_device_this_machine_lacks_is_refused_by_every_command(command, device, words, capfd):
    code, err = run_cli([*DEVICE_COMMANDS[command], '--device', device], capfd)
    line = the_error(err, command)
    assert code == 2 and 'argument --device: ' in line and words in line, err


BAD_NUMBERS = [
    ('eval', ['--data', 'd', '--scales', '0'], '--scales', 'in (0, 4]'),
    ('eval', ['--data', 'd', '--scales', '-1'], '--scales', 'in (0, 4]'),
    ('eval', ['--data', 'd', '--scales', '1', 'nan'], '--scales', 'in (0, 4]'),
    ('eval', ['--data', 'd', '--batch-size', '0'], '--batch-size', '>= 1'),
    ('eval', ['--data', 'd', '--workers', '-1'], '--workers', 'in [0, 256]'),
    ('eval', ['--data', 'd', '--max-images', '-1'], '--max-images', '>= 0'),
    ('bench', ['--sizes', '0x0'], '--sizes', 'each side in [16, 4096]'),
    ('bench', ['--sizes=-5x5'], '--sizes', 'each side in [16, 4096]'),
    ('bench', ['--sizes', '64'], '--sizes', 'HxW'),
    ('bench', ['--sizes', '64x64x64'], '--sizes', 'HxW'),
    ('bench', ['--sizes', '360x480,100000x100000'], '--sizes', "got '100000x100000'"),
    ('bench', ['--sizes', '4096x4096'], '--sizes', 'at most 4194304 pixels'),
    ('bench', ['--iters', '0'], '--iters', '>= 1'),
    ('bench', ['--iters', '-1'], '--iters', '>= 1'),
    ('bench', ['--warmup', '-3'], '--warmup', '>= 0'),
    ('bench', ['--models', 'none', '--frames', '0x0'], '--frames', 'each side in [16, 16384]'),
    ('bench', ['--frames-threads', '0'], '--frames-threads', 'in [1, 256]'),
    ('results', ['--data', 'd', '--size', '0', '0'], '--size', 'in [16, 4096]'),
    ('results', ['--data', 'd', '--size', '-5', '5'], '--size', 'in [16, 4096]'),
    ('results', ['--data', 'd', '--size', '4096', '4096'], '--size', 'at most 4194304 pixels'),
    ('results', ['--data', 'd', '--iters', '-1'], '--iters', '>= 0'),
    ('results', ['--data', 'd', '--rounds', '0'], '--rounds', '>= 1'),
    ('make-bag', ['i', '--out', 'o', '--fps', 'nan'], '--fps', 'in (0, 1000]'),
    ('make-bag', ['i', '--out', 'o', '--fps', 'inf'], '--fps', 'in (0, 1000]'),
    ('make-bag', ['i', '--out', 'o', '--limit', '-1'], '--limit', '>= 0'),
    ('bag-eval', ['b', '--image-topic', '/c', '--rate', 'nan'], '--rate', "or 'max'"),
    ('predict', ['x.png', '--cpu-threads', '1000000000'], '--cpu-threads', 'in [0, 256]'),
    ('predict', ['x.png', '--cpu-threads', '-1'], '--cpu-threads', 'in [0, 256]'),
    ('export', ['--weights', 'w', '--height', '-5', '--width', '64'], '--height', '[16, 4096]'),
    ('export', ['--weights', 'w', '--height', '64', '--width', '100000'], '--width', '4096]'),
    ('export', ['--weights', 'w', '--opset', '1'], '--opset', 'in [9, 20]'),
    ('export', ['--weights', 'w', '--opset', '999'], '--opset', 'in [9, 20]'),
    ('export', ['--weights', 'w', '--tolerance', '-1'], '--tolerance', '>= 0'),
    ('export', ['--weights', 'w', '--min-agreement', '2'], '--min-agreement', 'in [0, 1]'),
    # the tools that publish frames: the image source's ranges, and a count that ends
    ('demo', ['--rate', '0'], '--rate', 'in [0.1, 1000]'),
    ('demo', ['--frames', '0'], '--frames', 'in [1, 1000000]'),
    ('demo', ['--width', '100000'], '--width', 'in [16, 8192]'),
    ('demo', ['--cpu-threads', '-1'], '--cpu-threads', 'in [0, 256]'),
    ('node-latency', ['--frames', '0'], '--frames', 'in [1, 1000000]'),
    ('node-latency', ['--feed-hz', '0'], '--feed-hz', 'in [0.1, 1000]'),
    ('node-latency', ['--feed-frames', '0'], '--feed-frames', 'in [1, 1000000]'),
    ('node-latency', ['--height', '0'], '--height', 'in [16, 8192]'),
    ('node-latency', ['--startup-timeout', '-1'], '--startup-timeout', '> 0'),
    ('node-latency', ['--cpu-threads', '-1'], '--cpu-threads', 'in [0, 256]'),
    ('dds-check', ['--rate', '-1'], '--rate', 'in [0.1, 1000]'),
    ('dds-check', ['--frames', '-1'], '--frames', 'in [1, 1000000]'),
    ('dds-check', ['--width', '0'], '--width', 'in [16, 8192]'),
    ('models', ['--height', '0'], '--height', 'in [16, 4096]'),
    ('models', ['--height', '-5'], '--height', 'in [16, 4096]'),
    ('models', ['--width', '100000'], '--width', 'in [16, 4096]'),
    ('models', ['--height', '4096', '--width', '4096'], '--height/--width', '4194304 pixels'),
    ('models', ['--num-classes', '0'], '--num-classes', 'in [1, 1024]'),
    ('models', ['--num-classes', '100000'], '--num-classes', 'in [1, 1024]'),
    ('predict', ['x.png', '--alpha', 'abc'], '--alpha', "in [0, 1], got 'abc'"),
    ('predict', ['x.png', '--alpha', '1.5'], '--alpha', 'in [0, 1]'),
]


@pytest.mark.parametrize(
    'command, args, option, accepted', BAD_NUMBERS, ids=[' '.join(c[1]) for c in BAD_NUMBERS]
)
def test_a_number_out_of_range_is_refused_naming_the_option_and_the_range(
    command, args, option, accepted, capfd
):
    code, err = run_cli([command, *args], capfd)
    line = the_error(err, command)
    assert code == 2 and f'argument {option}' in line and accepted in line, err


@pytest.mark.parametrize(
    'argv, option',
    [
        (['make-bag', 'i', '--out', 'o', '--image-topic', 'bad topic!'], '--image-topic'),
        (['make-bag', 'i', '--out', 'o', '--label-topic', ''], '--label-topic'),
        (['bag-eval', 'b', '--image-topic', '/a//b'], '--image-topic'),
        (['bag-eval', 'b', '--image-topic', '/c', '--label-topic', '9lives'], '--label-topic'),
    ],
)
def test_a_topic_name_ros_refuses_is_refused_before_anything_is_written(argv, option, capfd):
    code, err = run_cli(argv, capfd)
    line = the_error(err, argv[0])
    assert code == 2 and f'argument {option}' in line and 'not a valid ROS topic name' in line, err


@pytest.mark.parametrize(
    'argv, words',
    [
        (
            ['bench', '--models', 'none', '--node', '--node-model', 'yolo'],
            "unknown model 'yolo'; accepted models: deeplabv3plus_mobilenetv2",
        ),
        (
            ['bench', '--models', 'none', '--node', '--node-backend', 'trt'],
            "argument --node-backend: unknown backend 'trt'; accepted: auto, torch, onnxruntime",
        ),
        (
            ['results', '--data', 'nowhere', '--backend', 'trt'],
            "argument --backend: unknown backend 'trt'; accepted: auto, torch, onnxruntime",
        ),
        (
            ['eval', '--data', 'nowhere', '--mask-dir', 'SegmentationClassAug'],
            '--mask-dir is for voc (SegmentationClass or SegmentationClassAug); the dataset is '
            'camvid',
        ),
        (
            ['bench', '--models', 'none', '--frames', '480x640', '--node-model',
             'lraspp_mobilenet_v3_large'],
            "no trained weights ship for 'lraspp_mobilenet_v3_large', and --frames runs a model "
            'on its shipped weights; accepted: deeplabv3plus_mobilenetv2',
        ),
        (
            ['node-latency', '--model', 'yolo', '--dds-transport', 'default', 'shm'],
            "unknown model 'yolo'; accepted models: deeplabv3plus_mobilenetv2",
        ),
    ],
    ids=[
        'bench --node-model',
        'bench --node-backend',
        'results --backend',
        'eval --mask-dir',
        'bench --frames --node-model without weights',
        'node-latency --model',
    ],
)
def test_an_option_is_checked_before_the_run_not_after_it(argv, words, capfd):
    """
    These were found only after the measurement or the scoring, or silently ignored.

    --data nowhere: had the scoring run first, its error (no such folder) would be the line.
    """
    code, err = run_cli(argv, capfd)
    line = the_error(err, argv[0])
    assert code == 2 and words in line, err


def test_make_bag_refuses_one_topic_for_images_and_labels(image_dir, tmp_path):
    from lightseg_ros.evaluation.make_bag import make_bag
    from lightseg_ros.sources.bags import BagError

    with pytest.raises(BagError, match='both /cam; give them two names'):
        make_bag(image_dir, image_dir, tmp_path / 'bag', image_topic='/cam', label_topic='/cam')
    assert not (tmp_path / 'bag').exists()


def test_an_export_that_fails_its_check_writes_nothing_and_never_replaces_its_source(
    tmp_path, capfd
):
    import torch

    from lightseg_ros.models import build_model, save_weights, WeightsMeta

    model = build_model('ghostnet_aspp_da', num_classes=3)
    with torch.no_grad():  # beyond fp16's largest number (65504): inf in a --half export
        next(p for p in model.parameters() if p.dim() == 4).fill_(1e6)
    meta = WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c'])
    weights = save_weights(tmp_path / 'w.safetensors', model, meta)
    source = weights.read_bytes()
    out = tmp_path / 'out.safetensors'
    out.write_bytes(b'the previous export')
    argv = ['export', '--weights', str(weights), '--height', '64', '--width', '64', '--half']
    code, err = run_cli(argv + ['--safetensors', str(out)], capfd)
    line = the_error(err, 'export')
    assert code == 2 and 'was not written' in line and "beyond fp16's range" in line, err
    # the file was written to a temporary name and removed: the path holds what it held
    assert out.read_bytes() == b'the previous export'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.safetensors', 'w.safetensors']
    code, err = run_cli(argv + ['--safetensors', str(weights)], capfd)
    line = the_error(err, 'export')
    assert code == 2 and 'names the --weights file itself' in line, err
    assert weights.read_bytes() == source
    # --onnx at the weights' path replaced them with the ONNX file, and said it wrote it
    code, err = run_cli(argv + ['--onnx', str(weights), '--static'], capfd)
    line = the_error(err, 'export')
    assert code == 2 and '--onnx names the --weights file itself' in line, err
    assert weights.read_bytes() == source
    code, err = run_cli(argv + ['--onnx', str(out), '--safetensors', str(out)], capfd)
    assert code == 2 and 'name the same file' in the_error(err, 'export'), err
    # --height alone was ignored without a word
    code, err = run_cli(argv[:3] + ['--height', '64', '--safetensors', str(out)], capfd)
    assert code == 2 and 'give --height and --width together' in the_error(err, 'export'), err
    assert out.read_bytes() == b'the previous export'


def test_a_file_name_that_is_not_utf8_is_skipped_in_one_line(tmp_path, capfd):
    """The binding of OpenCV crashed the process (SIGSEGV, no message) on such a name."""
    import os

    folder = tmp_path / 'frames'
    folder.mkdir()
    write_png(folder / 'good.png')
    odd = os.fsdecode(bytes(folder) + b'/odd\xff.png')
    Path(odd).write_bytes((folder / 'good.png').read_bytes())
    argv = ['predict', str(folder), '--device', 'cpu', '--out', str(tmp_path / 'o')]
    code, err = run_cli(argv, capfd)
    assert code == 0, err
    skipped = [line for line in err.splitlines() if 'not valid UTF-8' in line]
    assert len(skipped) == 1 and "odd\\udcff.png'" in skipped[0], err
    assert sorted(p.name for p in (tmp_path / 'o' / 'label').iterdir()) == ['good.png']
    code, err = run_cli(['make-bag', str(folder), '--out', str(tmp_path / 'b.mcap')], capfd)
    assert code == 2 and 'not valid UTF-8; rename it' in the_error(err, 'make-bag'), err


def test_a_path_the_system_refuses_is_one_line_naming_it(tmp_path, capfd):
    long = str(tmp_path / ('a' * 300))  # a name over 255 bytes: OSError from Path.is_file()
    code, err = run_cli(['eval', '--data', str(tmp_path), '--weights', long + '.x'], capfd)
    line = the_error(err, 'eval')
    assert code == 2 and line.endswith(f'{long}.x: File name too long'), err
    assert 'Traceback' not in err


def test_an_onnx_export_that_fails_its_check_leaves_the_path_as_it_was(
    tmp_path, capfd, monkeypatch
):
    """The ONNX file was written at its path, then checked: a failed check left it there."""
    from lightseg_ros.models import build_model, save_weights, WeightsMeta

    meta = WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c'])
    weights = save_weights(
        tmp_path / 'w.safetensors', build_model('ghostnet_aspp_da', num_classes=3), meta
    )
    out = tmp_path / 'net.onnx'
    out.write_bytes(b'the previous export')
    checked = []

    def differs(model, path, **kwargs):  # onnxruntime disagreeing with PyTorch, as a bug would
        checked.append(Path(path))
        assert Path(path).stat().st_size > 1000  # the real export, under another name
        raise export_mod.ExportError(f'{path}: onnxruntime and PyTorch differ by 0.5')

    monkeypatch.setattr(export_mod, 'check_onnx', differs)
    argv = ['export', '--weights', str(weights), '--height', '64', '--width', '64']
    code, err = run_cli(argv + ['--onnx', str(out)], capfd)
    line = the_error(err, 'export')
    assert code == 2 and f'{out}: onnxruntime and PyTorch differ by 0.5 ({out} was not' in line
    assert checked and checked[0] != out and checked[0].parent == out.parent
    assert out.read_bytes() == b'the previous export'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['net.onnx', 'w.safetensors']
    # and one that passes replaces it
    monkeypatch.undo()
    code, err = run_cli(argv + ['--onnx', str(out)], capfd)
    assert code == 0 and out.stat().st_size > 1000, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['net.onnx', 'w.safetensors']


def test_export_size_above_the_network_pixels_is_one_line(tmp_path, capfd):
    from lightseg_ros.models import build_model, save_weights, WeightsMeta

    weights = save_weights(
        tmp_path / 'w.safetensors',
        build_model('ghostnet_aspp_da', num_classes=3),
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c']),
    )
    code, err = run_cli(
        ['export', '--weights', str(weights), '--onnx', str(tmp_path / 'x.onnx')]
        + ['--height', '4096', '--width', '4096'],
        capfd,
    )
    line = the_error(err, 'export')
    assert code == 2 and '--height/--width' in line and '4194304 pixels' in line, err
    assert not list(tmp_path.glob('x.onnx*'))


def test_predict_refuses_a_model_the_weights_file_does_not_hold(tmp_path, capfd):
    from lightseg_ros.models import build_model, save_weights, WeightsMeta

    weights = save_weights(
        tmp_path / 'g.safetensors',
        build_model('ghostnet_aspp_da', num_classes=3),
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c']),
    )
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    out = tmp_path / 'out'
    argv = ['predict', str(image), '--out', str(out), '--weights', str(weights)]
    code, err = run_cli([*argv, '--model', 'mlff_mobilenetv2'], capfd)  # it ran ghostnet, silently
    assert code == 2 and the_error(err, 'predict') == (
        f"lightseg predict: error: {weights} holds weights for 'ghostnet_aspp_da', not the "
        "requested 'mlff_mobilenetv2'; give one of --model and --weights"
    )
    assert not out.exists()
    code, err = run_cli([*argv, '--model', 'ghostnet_aspp_da', '--cpu-threads', '1'], capfd)
    assert code == 0, err  # the model the file holds, named as well


def test_an_onnx_export_without_the_onnx_package_is_one_line(tmp_path, capfd, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, 'onnx', None)  # a robot's rosdep install has no onnx
    code, err = run_cli(
        ['export', '--weights', 'unread.safetensors', '--onnx', str(tmp_path / 'x.onnx')], capfd
    )
    assert code == 2 and the_error(err, 'export') == (
        'lightseg export: error: --onnx needs the onnx and onnxruntime packages; onnx cannot be '
        'imported (pip install onnx)'
    ), err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    'argv, option',
    [
        (['bench', '--models', 'none', '--out', '{dir}'], '--out'),
        (['bag-eval', 'b', '--image-topic', '/c', '--json', '{dir}'], '--json'),
        (['results', '--data', 'd', '--json', '{dir}'], '--json'),
        (['results', '--data', 'd', '--markdown', '{dir}'], '--markdown'),
        (['export', '--weights', 'w', '--onnx', '{dir}'], '--onnx'),
        (['export', '--weights', 'w', '--safetensors', '{dir}'], '--safetensors'),
        (['eval', '--data', 'd', '--out', '{file}'], '--out'),
        (['predict', 'x.png', '--out', '{file}'], '--out'),
        (['demo', '--out', '{file}'], '--out'),
        (['make-bag', 'i', '--out', '{file}'], '--out'),
        (['bag-eval', 'b', '--image-topic', '/c', '--record', '{file}'], '--record'),
        (['node-latency', '--json', '{dir}'], '--json'),
        (['dds-check', '--json', '{dir}'], '--json'),
    ],
)
def test_an_output_path_of_the_wrong_kind_is_refused(argv, option, tmp_path, capfd):
    folder, file = tmp_path / 'folder', tmp_path / 'afile'
    folder.mkdir()
    file.write_text('x')
    argv = [a.format(dir=folder, file=file) for a in argv]
    code, err = run_cli(argv, capfd)
    line = the_error(err, argv[0])
    assert code == 2 and f'argument {option}' in line, err
    if option in ('--out', '--record') and argv[0] != 'bench':  # a folder
        assert f"'{file}' exists and is not a folder; expected a folder" in line, err
    else:
        assert f"'{folder}' is a folder; expected the path of a file to write" in line, err


def test_export_error_is_an_input_error_and_a_failed_export_leaves_no_temporary_file(
    tmp_path, monkeypatch
):
    assert input_error_line(export_mod.ExportError('x.onnx: differ by 1')) == 'x.onnx: differ by 1'
    model = torch.nn.Conv2d(3, 2, 1)
    folder = tmp_path / 'out'
    folder.mkdir()
    with pytest.raises(export_mod.ExportError, match='is a folder'):
        export_mod.export_onnx(model, folder, input_size=(16, 16))

    def fails(model, args, f, **kwargs):
        Path(f).write_bytes(b'partial')
        raise torch.onnx.errors.OnnxExporterError('expand is not implemented for opset 9')

    monkeypatch.setattr(torch.onnx, 'export', fails)
    with pytest.raises(export_mod.ExportError, match='cannot export .* at opset 9: expand'):
        export_mod.export_onnx(model, tmp_path / 'x.onnx', input_size=(16, 16), opset=9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out']


def test_make_bag_refuses_fps_that_cannot_stamp_frames_and_a_negative_limit(image_dir, tmp_path):
    for fps in (float('nan'), float('inf'), 0.0, 1e12):
        with pytest.raises(BagError, match=r'fps must be in \(0, 1000\]'):
            make_bag(image_dir, None, tmp_path / 'bag', fps=fps)
    with pytest.raises(BagError, match='limit must be a whole number >= 0'):
        make_bag(image_dir, None, tmp_path / 'bag', limit=-1)
    assert not (tmp_path / 'bag').exists()


def write_label_bag(path: Path, labels: dict[int, np.ndarray]) -> Path:
    """Three 48x64 frames stamped 1, 2, 3 on /cam; ``labels`` by stamp on /lab."""
    with AtomicBagWriter(path) as w:
        for stamp in (1, 2, 3):
            rgb = np.full((48, 64, 3), 40 * stamp, np.uint8)
            w.write('/cam', image_message(w.store, rgb, 'rgb8', stamp, 'c'), IMAGE_TYPE, stamp)
        for stamp, label in labels.items():
            w.write('/lab', image_message(w.store, label, 'mono8', stamp, 'c'), IMAGE_TYPE, stamp)
    return path


@pytest.mark.parametrize(
    'labels, words',
    [
        (
            {s: np.zeros((10, 10), np.uint8) for s in (1, 2, 3)},
            'no frame could be scored: 3 labels on /lab skipped as label_size_mismatch',
        ),
        (
            {s + 100: np.zeros((48, 64), np.uint8) for s in (1, 2, 3)},
            'no frame could be scored: none of the 3 frames has a label on /lab with its header '
            'stamp',
        ),
        (
            {s: np.full((48, 64), 200, np.uint8) for s in (1, 2, 3)},
            'label at stamp 1 has class ids [200] outside [0, 10] that are not the ignore index '
            '255',
        ),
    ],
    ids=['wrong_size', 'no_stamp_matches', 'not_class_ids'],
)
def test_bag_eval_that_scores_nothing_or_meets_foreign_ids_exits_2(
    labels, words, tmp_path, capfd, one_torch_thread
):
    bag = write_label_bag(tmp_path / 'bag', labels)
    argv = ['bag-eval', str(bag), '--image-topic', '/cam', '--label-topic', '/lab']
    code, err = run_cli(argv + ['--model', 'ghostnet_aspp_da', '--weights', 'random'], capfd)
    line = the_error(err, 'bag-eval')
    assert code == 2 and words in line, err


def test_bag_eval_still_scores_good_labels(tmp_path, capfd, one_torch_thread):
    label = np.zeros((48, 64), np.uint8)
    label[:, 32:] = 1
    label[0, 0] = 255  # the ignore index is accepted
    bag = write_label_bag(tmp_path / 'bag', {1: label, 2: label})
    argv = ['bag-eval', str(bag), '--image-topic', '/cam', '--label-topic', '/lab']
    code, err = run_cli(argv + ['--model', 'ghostnet_aspp_da', '--weights', 'random'], capfd)
    assert code == 0 and 'error' not in err, err


def jpeg_bytes(progressive: bool) -> bytes:
    rgb = (np.random.default_rng(1).random((40, 56, 3)) * 255).astype(np.uint8)
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive), cv2.IMWRITE_JPEG_RST_INTERVAL, 2]
    return cv2.imencode('.jpg', rgb, flags)[1].tobytes()


@pytest.mark.parametrize('progressive', [False, True])
def test_a_jpeg_is_complete_only_up_to_its_end_of_image_marker(progressive):
    data = jpeg_bytes(progressive)
    assert jpeg_ends(data) and jpeg_ends(data + b'trailer \xff\xda\x00')
    assert not any(jpeg_ends(data[:n]) for n in (3, 200, len(data) // 2, len(data) - 1))
    assert jpeg_ends(b'\x89PNG')  # not a JPEG: left to the decoder


def test_predict_refuses_a_truncated_jpeg_alone_and_skips_it_in_a_folder(
    tmp_path, capfd, one_torch_thread
):
    folder = tmp_path / 'in'
    folder.mkdir()
    data = jpeg_bytes(False)
    (folder / 'cut.jpg').write_bytes(data[: len(data) * 2 // 3])
    common = ['--model', 'ghostnet_aspp_da', '--weights', 'random', '--cpu-threads', '1']
    code, err = run_cli(
        ['predict', str(folder / 'cut.jpg'), '--out', str(tmp_path / 'o1'), *common], capfd
    )
    # as for any single file that holds no frame (test_predict.py): the file's line, then the end
    assert code == 2 and 'Traceback' not in err and 'Premature end' not in err, err
    assert err.strip().splitlines() == [
        f'lightseg predict: skipped: cannot read image {folder / "cut.jpg"}: truncated JPEG (the '
        'file ends before its end-of-image marker)',
        err.strip().splitlines()[-1],
    ] and err.strip().splitlines()[-1].startswith('lightseg predict: error: no frame could be')
    write_png(folder / 'good.png')
    code, err = run_cli(['predict', str(folder), '--out', str(tmp_path / 'o2'), *common], capfd)
    assert code == 0 and 'Premature end' not in err, err
    assert f'lightseg predict: skipped: cannot read image {folder / "cut.jpg"}: truncated' in err
    assert (tmp_path / 'o2' / 'label' / 'good.png').is_file()


def test_an_output_file_in_a_folder_nothing_can_be_written_in_is_refused_before_the_work(
    tmp_path, capfd
):
    """``results --json /proc/x.json`` scored every model, then failed its write in a traceback."""
    code, err = run_cli(['results', '--data', str(tmp_path), '--json', '/proc/x.json'], capfd)
    line = the_error(err, 'results')
    assert code == 2 and "argument --json: cannot write a file in '/proc'" in line, err
    from lightseg_ros.cli import build_parser

    argv = ['results', '--data', 'd', '--json', str(tmp_path / 'r.json')]
    args = build_parser().parse_args(argv)
    assert args.json == str(tmp_path / 'r.json')
    assert not list(tmp_path.iterdir())  # the probe file written there is gone


def test_an_output_dir_with_a_character_beyond_the_basic_plane_is_taken_as_written(
    tmp_path, capfd
):
    """An emoji in --output-dir came back from JSON-in-YAML as two lone surrogates: a traceback."""
    import yaml

    out = tmp_path / 'runs' / 'exp \U0001f600'
    argv = ['train', '--print-config', '--data', str(tmp_path), '--output-dir', str(out)]
    assert main(argv) == 0
    assert yaml.safe_load(capfd.readouterr().out)['train']['output_dir'] == str(out)


@pytest.mark.parametrize('out', ['/proc', '/proc/lightseg-out'])
def test_an_output_folder_nothing_can_be_written_in_is_refused_before_the_work(
    out, tmp_path, capfd
):
    """``eval --out /proc/x`` scored the whole split, then failed writing its report."""
    code, err = run_cli(['eval', '--data', str(tmp_path), '--out', out], capfd)
    line = the_error(err, 'eval')
    assert code == 2 and "argument --out: cannot write a file in '/proc'" in line, err


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """``lightseg models | head -1`` ended in a BrokenPipeError traceback."""
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.pop('PYTHONUNBUFFERED', None)  # a pipe's stdout block-buffered, as in a user's shell
    proc = subprocess.Popen(
        [sys.executable, '-m', 'lightseg_ros.cli', 'models', '--height', '16', '--width', '16'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == '', err
