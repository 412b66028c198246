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
End-to-end training on generated data.

Overfitting, exact resume, 2-process DDP, eval and export.
"""

from dataclasses import replace
import json
import os
from pathlib import Path
import re
import subprocess
import sys

from lightseg_ros.cli import main
from lightseg_ros.inference.export import check_onnx, export_onnx, ExportError
from lightseg_ros.models import build_model, load_model, save_weights, WeightsMeta
from lightseg_ros.training.engine import (
    _ema_update,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
import numpy as np
from PIL import Image
import pytest
from synthetic_data import make_camvid, make_folder
import torch
import yaml

NO_AUG = {
    'scale': [1.0, 1.0],
    'aspect': 0.0,
    'blur': 0.0,
    'hue': 0.0,
    'saturation': 0.0,
    'value': 0.0,
}


def write_config(
    path: Path,
    root: Path,
    out: Path,
    *,
    dataset: str = 'camvid',
    epochs: int = 4,
    augment=None,
    lr: float = 0.05,
    workers: int = 0,
    batch: int = 4,
    eval_interval: int = 0,
) -> Path:
    cfg = {
        'model': {'name': 'ghostnet_aspp_da'},
        'data': {'dataset': dataset, 'root': str(root), 'crop_size': [64, 64], 'val_split': 'val'},
        'augment': augment if augment is not None else {'scale': [0.75, 1.5], 'blur': 0.5},
        'optim': {'lr': lr, 'min_lr': lr / 10, 'warmup_epochs': 1},
        'train': {
            'epochs': epochs,
            'batch_size': batch,
            'workers': workers,
            'output_dir': str(out),
            'progress': False,
            'eval_interval': eval_interval,
        },
        'eval': {'batch_size': 8},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def final_state(out: Path) -> dict:
    return load_model(out / 'model_final.safetensors')[0].state_dict()


@pytest.fixture(scope='module')
def overfit_run(tmp_path_factory):
    """ghostnet_aspp_da trained on 8 generated 64x64 images (validated on the same images)."""
    tmp = tmp_path_factory.mktemp('overfit')
    root = make_camvid(tmp / 'camvid', n=8, splits=('train',))
    cfg = write_config(
        tmp / 'cfg.yaml',
        root,
        tmp / 'run',
        epochs=50,
        augment=dict(NO_AUG),
        lr=0.1,
        eval_interval=25,
    )
    assert main(['train', '--config', str(cfg), '--set', 'data.val_split=train']) == 0
    return tmp, root


def test_overfits_a_tiny_set(overfit_run):
    tmp, _ = overfit_run
    summary = json.loads((tmp / 'run' / 'summary.json').read_text())
    assert summary['finished'] and summary['final_val_miou'] > 0.9, summary['history'][-1]
    model, meta = load_model(tmp / 'run' / 'model_final.safetensors')
    assert meta.model == 'ghostnet_aspp_da' and meta.dataset == 'camvid' and meta.num_classes == 11
    assert meta.class_names[0] == 'sky' and meta.ignore_index == 11 and meta.val_miou > 0.9
    assert meta.recipe['optim']['momentum'] == 0.9 and meta.recipe['crop_size'] == [64, 64]
    assert meta.input_size is None  # the deployed model sees camera images at their own size
    assert meta.train_image_size == [64, 64]  # the scale it learned at: the node's cap follows
    assert (tmp / 'run' / 'model_best.safetensors').is_file()
    assert any((tmp / 'run' / 'tensorboard').iterdir())
    ckpt = load_checkpoint(tmp / 'run' / 'checkpoint_last.pth')  # weights_only=True
    assert ckpt['epoch'] == 50 and set(ckpt) >= {
        'model',
        'optimizer',
        'scheduler',
        'rng',
        'config',
    }


def test_eval_writes_json_and_charts(overfit_run, capsys):
    tmp, root = overfit_run
    out = tmp / 'eval'
    assert (
        main(
            [
                'eval',
                '--weights',
                str(tmp / 'run' / 'model_final.safetensors'),
                '--data',
                str(root),
                '--split',
                'train',
                '--out',
                str(out),
                '--flip',
                '--scales',
                '1',
                '1.25',
                '--no-progress',
                '--json',
            ]
        )
        == 0
    )
    report = json.loads((out / 'metrics.json').read_text())
    assert report['miou'] > 0.9 and report['flip'] and report['scales'] == [1.0, 1.25]
    # --json: stdout is the report alone (pipes into jq), the text report went to stderr
    printed = capsys.readouterr()
    assert json.loads(printed.out) == report and 'mIoU' in printed.err
    assert (
        set(report['per_class_iou']) == set(report['class_names'])
        and report['per_class_iou']['road'] is None
    )
    assert len(report['confusion_matrix']) == 11 and report['images'] == 8
    for png in ('per_class_iou.png', 'confusion_matrix.png'):
        assert (out / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_eval_without_matplotlib_writes_the_json_and_one_line(overfit_run, capsys, monkeypatch):
    import sys

    tmp, root = overfit_run
    out = tmp / 'eval_no_charts'
    monkeypatch.setitem(sys.modules, 'matplotlib', None)  # import matplotlib raises ImportError
    args = ['eval', '--weights', str(tmp / 'run' / 'model_final.safetensors'), '--data']
    assert main([*args, str(root), '--split', 'train', '--out', str(out), '--no-progress']) == 0
    err = capsys.readouterr().err
    assert 'charts left out: matplotlib is not installed' in err and 'Traceback' not in err
    assert json.loads((out / 'metrics.json').read_text())['images'] == 8
    assert not (out / 'per_class_iou.png').exists()


def test_export_matches_onnxruntime(overfit_run, capsys):
    tmp, _ = overfit_run
    onnx_path = tmp / 'model.onnx'
    assert (
        main(
            [
                'export',
                '--weights',
                str(tmp / 'run' / 'model_final.safetensors'),
                '--onnx',
                str(onnx_path),
                '--height',
                '64',
                '--width',
                '96',
            ]
        )
        == 0
    )
    assert 'onnxruntime vs PyTorch at 64x96, 40x72, 96x64: max abs diff' in (
        capsys.readouterr().out
    )
    square = tmp / 'square.onnx'
    weights = str(tmp / 'run' / 'model_final.safetensors')
    args = ['export', '--weights', weights, '--onnx', str(square)]
    assert main(args + ['--height', '64', '--width', '64']) == 0
    # a square size transposed is itself: checked once
    assert 'onnxruntime vs PyTorch at 64x64, 40x56: max abs diff' in capsys.readouterr().out
    model, _ = load_model(tmp / 'run' / 'model_final.safetensors')
    diff = check_onnx(model, onnx_path, sizes=[(64, 96), (96, 64), (72, 120)], batch=2)
    assert diff < 1e-3
    with pytest.raises(ExportError, match='differ'):
        check_onnx(
            build_model('ghostnet_aspp_da', num_classes=11).eval(), onnx_path, sizes=[(64, 64)]
        )


@pytest.mark.parametrize('name', ['mlff_mobilenetv2', 'deeplabv3plus_mobilenetv2'])
def test_every_model_exports_with_dynamic_size(tmp_path, name):
    model = build_model(name, num_classes=3).eval()
    path = export_onnx(model, tmp_path / f'{name}.onnx', input_size=(64, 64))
    assert check_onnx(model, path, sizes=[(64, 64), (80, 112)]) < 1e-3


@pytest.mark.parametrize('ema_decay, aux_weight', [(0.0, 0.0), (0.9, 0.4)])
def test_resumed_run_equals_uninterrupted_run(tmp_path, ema_decay, aux_weight):
    root = make_camvid(tmp_path / 'camvid', n=8, splits=('train', 'val'))
    full = write_config(
        tmp_path / 'full.yaml', root, tmp_path / 'full', epochs=3, workers=1, eval_interval=1
    )
    part = write_config(
        tmp_path / 'part.yaml', root, tmp_path / 'part', epochs=3, workers=1, eval_interval=1
    )
    # full augmentation (scale, aspect, blur, HSV jitter, flip) and dropout: every RNG matters;
    # with a weight average and an auxiliary head, the average and the head are state too
    sets = ['--set', 'augment.hue=0.1', '--set', f'train.ema_decay={ema_decay}']
    # bit for bit on the CPU: cuDNN's kernels do not sum in a fixed order (on a GPU machine
    # 'auto' took CUDA and the resumed run's weights differed in the last bits)
    sets += ['--set', 'train.device=cpu']
    sets += ['--set', f'train.aux_weight={aux_weight}']
    assert main(['train', '--config', str(full), *sets]) == 0
    assert main(['train', '--config', str(part), *sets, '--stop-after-epochs', '1']) == 0
    assert not (tmp_path / 'part' / 'model_final.safetensors').exists()
    assert load_checkpoint(tmp_path / 'part' / 'checkpoint_last.pth')['epoch'] == 1
    assert main(['train', '--config', str(part), *sets, '--resume', 'auto']) == 0
    a, b = final_state(tmp_path / 'full'), final_state(tmp_path / 'part')
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    ha = json.loads((tmp_path / 'full' / 'summary.json').read_text())['history']
    hb = json.loads((tmp_path / 'part' / 'summary.json').read_text())['history']
    assert [h['loss'] for h in ha] == pytest.approx([h['loss'] for h in hb], abs=1e-6)
    assert [h['val_miou'] for h in ha] == pytest.approx([h['val_miou'] for h in hb], abs=1e-6)
    # TensorBoard: the resumed run's curves hold every step, as the uninterrupted run's do (the
    # purge on resuming removed the last step done)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def steps(run):
        events = EventAccumulator(str(tmp_path / run / 'tensorboard'))
        events.Reload()
        return sorted({e.step for e in events.Scalars('train/loss')})

    assert steps('part') == steps('full') and len(steps('full')) > 3


def test_weight_average_warms_up_and_copies_integer_buffers():
    update = _ema_update(0.99)
    avg, cur = [torch.zeros(3), torch.tensor(5)], [torch.ones(3), torch.tensor(9)]
    update(avg, cur, torch.tensor(0))  # first update: d = 1/10, the average moves 90% of the way
    torch.testing.assert_close(avg[0], torch.full((3,), 0.9))
    assert avg[1].item() == 9  # batch norm's step count is copied, not averaged
    update(avg, [torch.full((3,), 2.0), torch.tensor(10)], torch.tensor(10_000))  # d = 0.99 now
    torch.testing.assert_close(avg[0], torch.full((3,), 0.9 * 0.99 + 2.0 * 0.01))


def test_a_run_with_a_weight_average_scores_both_and_saves_the_average(tmp_path, capsys):
    root = make_camvid(tmp_path / 'camvid', n=8, splits=('train', 'val'))
    cfg = write_config(tmp_path / 'c.yaml', root, tmp_path / 'run', epochs=3, eval_interval=1)
    argv = ['train', '--config', str(cfg), '--set', 'train.ema_decay=0.5']
    argv += ['--set', 'train.progress=true']
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert 'the trained weights:' in out
    assert '\r' not in err and 'it/s' not in err  # no progress bar in a log: stderr is no terminal
    history = json.loads((tmp_path / 'run' / 'summary.json').read_text())['history']
    assert all('val_miou_raw' in h and 'val_miou' in h for h in history)
    ckpt = load_checkpoint(tmp_path / 'run' / 'checkpoint_last.pth')
    final, meta = load_model(tmp_path / 'run' / 'model_final.safetensors')
    assert meta.recipe['ema_decay'] == 0.5
    averaged = {
        k.removeprefix('module.'): v for k, v in ckpt['ema'].items() if k.startswith('module.')
    }
    weight = next(k for k in averaged if k.endswith('weight') and averaged[k].ndim == 4)
    torch.testing.assert_close(final.state_dict()[weight], averaged[weight])
    assert not torch.equal(averaged[weight], ckpt['model'][weight])  # not the trained weights


def test_a_fixed_schedule_without_validation_fits_every_frame_and_says_so(tmp_path, capsys):
    # final weights: every labelled frame trains, no split is held out, no checkpoint is "best"
    root = make_camvid(tmp_path / 'camvid', n=4, splits=('train',))
    cfg = write_config(tmp_path / 'c.yaml', root, tmp_path / 'run', epochs=2, eval_interval=1)
    argv = ['train', '--config', str(cfg), '--set', 'data.val_split=null']
    assert main([*argv, '--set', 'train.class_weight_c=1.1']) == 0
    out = capsys.readouterr().out
    assert 'checked 4 training and no validation samples' in out and 'val mIoU' not in out
    assert 'class weights 1/ln(1.1 + p) from 4 training masks: [' in out
    summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
    assert summary['finished'] and summary['best_val_miou'] is None
    assert not (tmp_path / 'run' / 'model_best.safetensors').exists()
    _, meta = load_model(tmp_path / 'run' / 'model_final.safetensors')
    assert meta.val_miou is None and meta.recipe['val_split'] is None
    assert meta.recipe['train_split'] == 'train' and meta.recipe['class_weight_c'] == 1.1
    weights = meta.recipe['class_weights']
    assert len(weights) == 11 and sum(weights) == pytest.approx(11, abs=1e-3)
    # the weights, or c to compute them: not both
    both = ['--set', 'train.class_weight_c=1.1', '--set', f'train.class_weights={weights}']
    assert main([*argv, *both]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'class_weights and train.class_weight_c are both set' in err


def test_an_auxiliary_head_trains_but_stays_out_of_the_weights_file(tmp_path, capsys):
    root = make_camvid(tmp_path / 'camvid', n=4, splits=('train', 'val'))
    cfg = write_config(tmp_path / 'c.yaml', root, tmp_path / 'run', epochs=2)
    argv = ['train', '--config', str(cfg)]
    assert main([*argv, '--set', 'train.aux_weight=0.4', '--stop-after-epochs', '1']) == 0
    assert "auxiliary head on backbone level 'c4' (weight 0.4" in capsys.readouterr().out
    ckpt = load_checkpoint(tmp_path / 'run' / 'checkpoint_last.pth')
    assert ckpt['aux'] and all(k.startswith('head.') for k in ckpt['aux'])
    # resuming without the head it was started with is refused in one line
    assert main([*argv, '--resume', 'auto']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'trained with an auxiliary head' in err
    assert main([*argv, '--set', 'train.aux_weight=0.4', '--resume', 'auto']) == 0
    final, meta = load_model(tmp_path / 'run' / 'model_final.safetensors')
    plain = build_model('ghostnet_aspp_da', num_classes=11)
    assert set(final.state_dict()) == set(plain.state_dict())  # the deployed model, unchanged
    assert meta.recipe['aux_weight'] == 0.4


def test_a_student_distilled_from_a_trained_teacher_moves_toward_it(overfit_run, capsys):
    tmp, root = overfit_run
    teacher = tmp / 'run' / 'model_final.safetensors'
    cfg = write_config(
        tmp / 'student.yaml', root, tmp / 'student', epochs=8, augment=dict(NO_AUG), lr=0.1
    )
    sets = ['--set', f'distill.teacher={teacher}', '--set', 'distill.weight=5']
    assert main(['train', '--config', str(cfg), '--set', 'data.val_split=train', *sets]) == 0
    assert f'distilling from {teacher} (ghostnet_aspp_da)' in capsys.readouterr().out
    history = json.loads((tmp / 'student' / 'summary.json').read_text())['history']
    terms = [h['distill_loss'] for h in history]
    assert terms[-1] < 0.5 * terms[0], (
        terms
    )  # the student's class distributions near the teacher's
    meta = load_model(tmp / 'student' / 'model_final.safetensors')[1]
    assert meta.recipe['distill']['teacher'] == str(teacher)
    assert meta.recipe['distill']['weight'] == 5


def test_a_teacher_trained_on_the_validation_images_is_named_in_a_warning(
    overfit_run, tmp_path, capsys
):
    tmp, _ = overfit_run
    model, meta = load_model(tmp / 'run' / 'model_final.safetensors')
    root = make_camvid(tmp_path / 'camvid', n=4, splits=('train', 'val'))
    cfg = write_config(tmp_path / 'c.yaml', root, tmp_path / 'run', epochs=1, augment=dict(NO_AUG))
    for split, warned in (('val', False), ('train+val', True)):
        teacher = tmp_path / f'teacher_{split}.safetensors'
        save_weights(teacher, model, replace(meta, recipe={**meta.recipe, 'train_split': split}))
        sets = ['--set', 'data.val_split=train', '--set', f'distill.teacher={teacher}']
        assert main(['train', '--config', str(cfg), *sets]) == 0
        err = capsys.readouterr().err
        line = (
            "warning: the teacher was trained on 4 of the 4 images of val_split 'train' "
            "(its train_split 'train+val')"
        )
        assert ('warning: the teacher' in err) is warned, err
        assert not warned or line in err, err
        # validating on the training split: said once, whatever the teacher
        assert err.count(
            "warning: 4 of the 4 validation images (val_split 'train') are also training images "
            "(train_split 'train')"
        ) == 1, err
    # held-out validation: no such line
    assert main(['train', '--config', str(cfg)]) == 0
    assert 'are also training images' not in capsys.readouterr().err


def test_a_teacher_that_cannot_teach_stops_the_run_in_one_line(overfit_run, tmp_path, capsys):
    _, root = overfit_run
    cfg = write_config(tmp_path / 'c.yaml', root, tmp_path / 'run', epochs=1)
    args = ['train', '--config', str(cfg), '--set', 'data.val_split=train', '--set']
    missing = tmp_path / 'none.safetensors'
    assert main([*args, f'distill.teacher={missing}']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'distill.teacher' in err and str(missing) in err
    other = tmp_path / 'three_classes.safetensors'
    save_weights(
        other,
        build_model('ghostnet_aspp_da', num_classes=3),
        WeightsMeta(model='ghostnet_aspp_da', num_classes=3, class_names=['a', 'b', 'c']),
    )
    assert main([*args, f'distill.teacher={other}']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and f'distill.teacher {other}: its 3 classes (a, b, c)' in err
    assert "are not the data's 11 (sky, building," in err and 'Traceback' not in err
    assert not (tmp_path / 'run' / 'checkpoint_last.pth').exists()


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = save_checkpoint({'epoch': 1, 'w': torch.ones(3)}, tmp_path / 'checkpoint_last.pth')

    def killed(obj, f, *a, **k):
        f.write(b'partial')
        raise KeyboardInterrupt  # killed in the middle of writing

    monkeypatch.setattr(torch, 'save', killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'epoch': 2, 'w': torch.zeros(3)}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)['epoch'] == 1


def test_two_process_gloo_ddp_ranks_agree(tmp_path):
    root = make_folder(tmp_path / 'folder', n=4)
    cfg = write_config(
        tmp_path / 'ddp.yaml', root, tmp_path / 'ddp', dataset='folder', epochs=2, batch=4
    )
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'torch.distributed.run',
            '--standalone',
            '--nproc_per_node',
            '2',
            '-m',
            'lightseg_ros.cli',
            'train',
            '--config',
            str(cfg),
            '--device',
            'cpu',
            '--set',
            'train.ema_decay=0.9',  # the average's buffers are shared from rank 0 too
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / 'ddp' / 'summary.json').read_text())
    assert summary['world_size'] == 2 and summary['ranks_agree'] is True and summary['finished']
    model, meta = load_model(tmp_path / 'ddp' / 'model_final.safetensors')
    assert meta.class_names == ['background', 'box', 'disk'] and meta.dataset == 'folder'
    assert len(load_checkpoint(tmp_path / 'ddp' / 'checkpoint_last.pth')['rng']) == 2


def test_benchmark_reports_throughput(tmp_path, capsys):
    assert (
        main(
            [
                'train',
                '--config',
                str(
                    Path(__file__).resolve().parents[1]
                    / 'config/train/camvid_ghostnet_aspp_da.yaml'
                ),
                '--set',
                'data.crop_size=[32,32]',
                '--batch-size',
                '2',
                '--benchmark-iters',
                '2',
                '--benchmark-warmup',
                '1',
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result['num_classes'] == 11 and result['batch_size'] == 2 and result['images_per_s'] > 0


def test_errors_for_people_stop_before_training_in_one_line(tmp_path, capsys):
    root = make_camvid(tmp_path / 'camvid', n=4, splits=('train', 'val'))
    mask = root / 'valannot' / 'seq_0002.png'
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    cfg = write_config(tmp_path / 'cfg.yaml', root, tmp_path / 'run', epochs=1)
    assert main(['train', '--config', str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith(
        "lightseg train: error: camvid val_split 'val': 1 of 4"
    )
    assert str(mask) in err and 'Traceback' not in err
    assert not (tmp_path / 'run').exists()  # stopped before the first epoch wrote anything
    bad = tmp_path / 'bad.yaml'
    bad.write_text('optim: {lr: fast}\n')
    assert main(['train', '--config', str(bad)]) == 2
    assert (
        capsys.readouterr().err
        == f"lightseg train: error: {bad}: optim.lr must be a number, got 'fast'\n"
    )
    assert (
        main(
            [
                'eval',
                '--model',
                'ghostnet_aspp_da',
                '--data',
                str(root),
                '--no-progress',
                '--out',
                str(tmp_path / 'eval'),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and str(mask) in err and 'size mismatch' in err


def test_a_corrupt_checkpoint_is_named_and_never_loaded_unsafely(tmp_path, capsys):
    root = make_camvid(tmp_path / 'camvid', n=4, splits=('train', 'val'))
    cfg = write_config(tmp_path / 'cfg.yaml', root, tmp_path / 'run', epochs=1)
    (tmp_path / 'run').mkdir()
    last = tmp_path / 'run' / 'checkpoint_last.pth'
    save_checkpoint({'epoch': 1, 'w': torch.ones(1000)}, last)
    last.write_bytes(last.read_bytes()[:300])  # killed mid-copy
    unsafe = tmp_path / 'unsafe.pth'
    torch.save({'epoch': 1, 'obj': Path('x')}, unsafe)  # an object weights_only refuses
    partial = tmp_path / 'partial.pth'
    torch.save({'epoch': 1}, partial)
    for path, why in [
        (last, 'not a readable training checkpoint'),
        (unsafe, 'a Python object (pathlib.PosixPath) besides tensors'),
        (partial, 'not a lightseg training checkpoint (no model, optimizer'),
    ]:
        if path != partial:
            with pytest.raises(CheckpointError, match=re.escape(why)):
                load_checkpoint(path)
        resume = 'auto' if path == last else str(path)
        assert main(['train', '--config', str(cfg), '--resume', resume]) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and f'error: {path}: ' in err and why.split(' (')[0] in err
        assert 'weights_only' not in err and 'Traceback' not in err


def test_stale_temp_files_of_a_killed_write_are_removed_at_the_next_start(tmp_path, capsys):
    root = make_camvid(tmp_path / 'camvid', n=4, splits=('train', 'val'))
    run = tmp_path / 'run'
    run.mkdir()
    # above Linux's largest pid: its writer is gone
    stale = run / '.checkpoint_last.pth.4194305.tmp'
    stale.write_bytes(b'partial')
    alive = run / f'.checkpoint_best.pth.{os.getppid()}.tmp'  # a process still writing: left alone
    alive.write_bytes(b'partial')
    cfg = write_config(tmp_path / 'cfg.yaml', root, run, epochs=1, batch=2)
    assert main(['train', '--config', str(cfg), '--set', 'data.crop_size=[32,32]']) == 0
    assert not stale.exists() and alive.exists()
    assert f'removed {stale}' in capsys.readouterr().out
    assert load_checkpoint(run / 'checkpoint_last.pth')['epoch'] == 1
    assert not list(run.glob(f'.checkpoint_*.{os.getpid()}.tmp'))


def test_resuming_with_a_changed_recipe_says_what_changed(tmp_path, capsys):
    root = make_camvid(tmp_path / 'camvid', n=4, size=(48, 64), splits=('train', 'val'))
    cfg = write_config(tmp_path / 'c.yaml', root, tmp_path / 'run', epochs=3, batch=2)
    args = ['train', '--config', str(cfg), '--set', 'train.device=cpu']
    assert main([*args, '--stop-after-epochs', '1']) == 0
    assert main([*args, '--stop-after-epochs', '2', '--resume', 'auto']) == 0
    assert 'differs from the one it recorded' not in capsys.readouterr().err  # the same recipe
    assert main([*args, '--resume', 'auto', '--lr', '0.5', '--set', 'train.loss=dice']) == 0
    err = capsys.readouterr().err
    assert (
        f"warning: resuming {tmp_path / 'run'} with a recipe that differs from the one it "
        'recorded: optim.lr 0.05 -> 0.5, train.loss ' in err
    ), err
    previous = json.loads((tmp_path / 'run' / 'config.previous.json').read_text())
    assert previous['optim']['lr'] == 0.05
