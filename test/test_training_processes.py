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
Training's batch, processes and resume rules, and eval on a dataset that names classes otherwise.

Each misuse ends in one line before any training time is spent; the process-group case runs two
real gloo processes.
"""

from __future__ import annotations

from pathlib import Path

from lightseg_ros.cli import main
from lightseg_ros.tools.eval_cmd import class_names_warning
from lightseg_ros.training.config import ConfigError, load_config
from lightseg_ros.training.engine import (
    check_batch,
    CheckpointError,
    DistInfo,
    resume_state,
    stop_together,
)
import pytest
from synthetic_data import make_folder
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

CPU = torch.device('cpu')


def _cfg(**train):
    return load_config(None, [f'train.{k}={v}' for k, v in train.items()])


@pytest.mark.parametrize(
    'batch, world, sync_bn, message',
    [
        (1, 1, False, r'train\.batch_size 1: batch normalisation needs at least 2 images per '
                      r'process; use --batch-size 2 or more'),
        (2, 2, False, r'train\.batch_size 2 over 2 processes gives 1 per process: .*'
                      r'use --batch-size 4 or more'),
        (6, 4, False, r'not divisible by 4 processes'),
        (4, 2, True, r'train\.sync_bn needs CUDA processes .*set train\.sync_bn=false'),
    ],
)
def test_batches_and_processes_that_cannot_train_are_one_line(batch, world, sync_bn, message):
    cfg = _cfg(batch_size=batch, sync_bn=str(sync_bn).lower())
    with pytest.raises(ConfigError, match=message):
        check_batch(cfg, DistInfo(0, world, 0, CPU))
    check_batch(_cfg(batch_size=2 * world), DistInfo(0, world, 0, CPU))  # a sound one passes
    check_batch(_cfg(batch_size=4, sync_bn='true'), DistInfo(0, 1, 0, CPU))  # one process: unused


def test_a_batch_of_one_stops_before_the_first_epoch(tmp_path, capsys):
    root = make_folder(tmp_path / 'data', n=2)
    rc = main(['train', '--data', str(root), '--set', 'data.dataset=folder', '--batch-size', '1',
               '--output-dir', str(tmp_path / 'run'), '--device', 'cpu'])
    err = capsys.readouterr().err
    assert rc == 2 and err.count('\n') == 1, err
    assert 'batch normalisation needs at least 2 images per process' in err
    assert not (tmp_path / 'run').exists()  # stopped before anything was written


def _rank(rank: int, world: int, init: str, out: str) -> None:
    dist.init_process_group('gloo', init_method=f'file://{init}', rank=rank, world_size=world)
    try:
        stop_together(
            DistInfo(rank, world, rank, CPU), ConfigError('my check failed') if rank == 0 else None
        )
        said = 'went on'
    except ConfigError as exc:
        said = str(exc)
    # a second round where every check passed: nobody stops
    stop_together(DistInfo(rank, world, rank, CPU), None)
    Path(out, f'rank{rank}.txt').write_text(said)
    dist.destroy_process_group()


def test_when_one_process_fails_its_checks_every_process_stops_in_one_line(tmp_path):
    mp.spawn(_rank, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    assert (tmp_path / 'rank0.txt').read_text() == 'my check failed'
    assert (tmp_path / 'rank1.txt').read_text() == (
        'process 1 stops: another process failed its checks (its line says why)'
    )


class _Run:
    """A model, optimiser, schedule and scaler small enough to checkpoint in a test."""

    def __init__(self):
        self.model = torch.nn.Conv2d(3, 2, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1.0)
        self.scaler = torch.amp.GradScaler('cuda', enabled=False)

    def save(self, path: Path, *, batch: int, processes: int) -> Path:
        torch.save(
            {
                'model': self.model.state_dict(),
                'optimizer': self.optimizer.state_dict(),
                'scheduler': self.scheduler.state_dict(),
                'epoch': 3,
                'best_miou': 0.25,
                'rng': [{}] * processes,
                'history': [],
                'config': {'train': {'batch_size': batch}},
            },
            path,
        )
        return path

    def resume(self, path: Path, **kwargs):
        return resume_state(
            path, self.model, self.optimizer, self.scheduler, self.scaler, amp=False, **kwargs
        )


def test_resuming_with_another_batch_size_is_refused_and_another_process_count_said(
    tmp_path, capsys, monkeypatch
):
    run = _Run()
    path = run.save(tmp_path / 'ck.pth', batch=8, processes=2)
    with pytest.raises(
        CheckpointError,
        match=r'ck\.pth: it was trained with train\.batch_size 8 \(global\), this run has 4; '
        r'resume with --batch-size 8',
    ):
        run.resume(path, batch_size=4, world_size=2)
    # the same batch on one process instead of two: resumed, with one line saying what changed
    monkeypatch.setattr('lightseg_ros.training.engine._set_rng_state', lambda state: None)
    assert run.resume(path, batch_size=8, world_size=1).epoch == 3
    out = capsys.readouterr().out
    assert out.count('\n') == 1 and 'resuming on 1 process(es) a run saved by 2' in out
    assert 'not bit-exact' in out
    run.resume(path, batch_size=8, world_size=2)
    assert capsys.readouterr().out == ''  # the same layout: nothing to say


def test_a_dataset_naming_its_classes_otherwise_is_a_warning_naming_the_first():
    line = class_names_warning('w.safetensors', ['sky', 'road', 'tree'], 'folder',
                               ['Sky', 'car', 'person'])
    assert line == (
        'warning: 2 of the 3 class names of the folder dataset differ from those w.safetensors '
        "was trained on (class 1 is 'car' there, 'road' in the weights); scores go by class "
        'index, under the names of the weights'
    )
    assert class_names_warning('w', ['Sky', 'road'], 'camvid', ['sky', 'Road']) is None
