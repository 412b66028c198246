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
Offline training, in the style of torchvision's references/segmentation/train.py.

Plain functions build the data (``get_datasets``, ``build_loader``), the model and its
optimisation (``build_train_model``, ``build_criterion``, ``build_optimizer``,
``build_scheduler``), train one epoch (``train_one_epoch``), validate (``validate``, on
:mod:`.evaluate`) and checkpoint (``save_epoch``, ``resume_state``); ``train`` strings them
together.

Recipe of both papers (Huo et al. 2023, MLFF; Liao et al. 2023, GhostNet + L-ASPP + DA): SGD with
momentum 0.9 and weight decay 1e-4, a linear warm-up then cosine decay 0.007 -> 0.0007 (stepped per
iteration here), batch 8. Mixed precision (autocast + GradScaler) on CUDA only. Several processes
through DistributedDataParallel when started by ``torchrun`` (nccl on CUDA, gloo on the CPU); only
rank 0 writes files.

Reproducibility and exact resume: the data order is a function of (seed, epoch)
(DistributedSampler) and each sample's augmentation runs under a seed derived from (seed, epoch,
index), whatever the worker; the checkpoint written after every epoch holds model, optimizer,
scheduler, grad scaler, epoch, best mIoU, the config, and the python/numpy/torch/CUDA RNG states of
every rank. It is read with ``torch.load(weights_only=True)``: it holds only tensors and plain
Python values.

Errors for people: both datasets are checked before the first epoch
(:meth:`SegmentationDataset.check`), an unreadable checkpoint is a :class:`CheckpointError` naming
the file, and the temporary files of a checkpoint write that was killed are removed when the next
run starts in the same folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import random
import sys
import time
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from .aux_head import AuxiliaryHead
from .config import ConfigError, OptimConfig, resolve_data_root, TrainConfig
from .datasets import (
    build_dataset,
    DatasetError,
    seen_in_training,
    SegmentationDataset,
    shared_images,
)
from .evaluate import evaluate, native_loader
from .losses import build_loss, DistillationLoss
from .transforms import eval_transform, train_transform
from ..messages import shown_value
from ..metrics import SegmentationScores
from ..models import (
    build_model,
    get_model_spec,
    list_models,
    load_model,
    save_weights,
    WeightsError,
    WeightsMeta,
)
from ..models.backbones import torch_load_failure
from ..models.shipped import shipped_weights

__all__ = [
    'DistInfo',
    'setup_distributed',
    'seed_everything',
    'SeededSampler',
    'get_datasets',
    'build_loader',
    'build_train_model',
    'build_criterion',
    'build_optimizer',
    'build_scheduler',
    'build_ema',
    'Teacher',
    'build_teacher',
    'build_aux_head',
    'lr_factor',
    'train_step',
    'train_one_epoch',
    'validate',
    'TrainState',
    'save_epoch',
    'resume_state',
    'CheckpointError',
    'save_checkpoint',
    'load_checkpoint',
    'remove_stale_temp_files',
    'train',
    'benchmark_training',
]

CHECKPOINT_LAST = 'checkpoint_last.pth'
CHECKPOINT_BEST = 'checkpoint_best.pth'
CHECKPOINT_KEYS = ('model', 'optimizer', 'scheduler', 'epoch', 'best_miou', 'rng')


class CheckpointError(ValueError):
    """
    A training checkpoint is missing, unreadable or does not fit the run.

    The message names the file.
    """


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device('cpu')

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = 'auto') -> DistInfo:
    """
    Join the process group when started by ``torchrun`` and pick the device.

    ``torchrun`` sets ``WORLD_SIZE`` > 1.
    """
    use_cuda = torch.cuda.is_available() if device == 'auto' else device == 'cuda'
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank, local = int(os.environ.get('RANK', '0')), int(os.environ.get('LOCAL_RANK', '0'))
    dev = torch.device('cpu')
    if use_cuda:
        visible = torch.cuda.device_count()
        # a launcher that gives each process one GPU through CUDA_VISIBLE_DEVICES (SLURM's
        # --gpus-per-task=1) leaves one visible device whatever LOCAL_RANK says
        index = local if local < visible else 0 if visible == 1 else None
        if index is None:
            raise ConfigError(
                f'LOCAL_RANK is {local} but this process sees {visible} GPU(s); start at most '
                'one process per visible GPU (torchrun --nproc_per_node), or give each process '
                'one GPU with CUDA_VISIBLE_DEVICES'
            )
        dev = torch.device('cuda', index)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group('nccl' if use_cuda else 'gloo')
    return DistInfo(rank, world, local, dev)


class SeededSampler(Sampler):
    """
    Yields ``(index, sample_seed)`` in a (seed, epoch)-determined order, sharded over ranks.

    The dataset runs the sample's transform under ``sample_seed``, so augmentation does not depend
    on which worker (or how many) loads it. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        self.inner = DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed
        )
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.inner:
            yield (
                index,
                (self.seed * 1_000_003 + self.epoch * 7_919 + index * 104_729) % (2**63 - 1),
            )


def _typed(cfg: TrainConfig | Mapping[str, Any]) -> TrainConfig:
    return cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg)


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed python, numpy and torch; each rank differently (its own augmentation stream)."""
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed + rank)


# ---------------------------------------------------------------------------------------------
# data


def _data_source(cfg: TrainConfig) -> tuple[Path, dict[str, Any]]:
    """Return the dataset root the recipe names and the options its layout takes."""
    data = cfg.data
    if data.mask_dir is not None and data.dataset != 'voc':
        # read by the voc layout only: elsewhere it would be ignored, and the masks read from
        # another folder than the one the user named
        raise ConfigError(
            f'data.mask_dir ({data.mask_dir!r}) is read by the voc layout only; the '
            f'{data.dataset} layout finds its masks itself (README, dataset table): remove it'
        )
    options = {'mask_dir': data.mask_dir} if data.dataset == 'voc' else {}
    return resolve_data_root(data.root, cfg.config_dir), options


def get_datasets(
    cfg: TrainConfig,
) -> tuple[SegmentationDataset, SegmentationDataset | None]:
    """
    Return the training set and the validation set (None where ``data.val_split`` is null).

    The training set with paper B's augmentation, the validation set at native resolution.
    """
    cfg = _typed(cfg)
    data = cfg.data
    root, options = _data_source(cfg)
    probe = build_dataset(data.dataset, root, data.val_split or data.train_split, None, **options)
    tf = train_transform(
        data.crop_size, probe.ignore_index, mean=data.mean, std=data.std, **cfg.augment.to_dict()
    )
    train_set = build_dataset(data.dataset, root, data.train_split, tf, **options)
    if data.val_split is None:
        return train_set, None
    probe.transform = eval_transform(data.mean, data.std)
    return train_set, probe


def check_batch(cfg: TrainConfig, info: DistInfo) -> None:
    """
    Raise :class:`ConfigError` where the global batch does not split into processes of 2 or more.

    Batch normalisation in training needs two samples per process: with one, the models' image
    pooling branches (a 1x1 map) stop in PyTorch's "Expected more than 1 value per channel".
    """
    batch, world = cfg.train.batch_size, info.world_size
    if batch % world:
        raise ConfigError(
            f'train.batch_size {batch} (global) is not divisible by {world} processes'
        )
    if batch // world < 2:
        share = f' over {world} processes gives {batch // world} per process' if world > 1 else ''
        raise ConfigError(
            f'train.batch_size {batch}{share}: batch normalisation needs at least 2 images per '
            f'process; use --batch-size {2 * world} or more'
        )
    if cfg.train.sync_bn and world > 1 and info.device.type != 'cuda':
        raise ConfigError(
            "train.sync_bn needs CUDA processes (PyTorch's SyncBatchNorm runs on GPUs only); "
            'set train.sync_bn=false for CPU processes'
        )


def stop_together(info: DistInfo, error: BaseException | None) -> None:
    """
    Under torchrun, stop every process where one of them failed a check; else raise ``error``.

    Without it, a process whose check passed runs on into the first collective operation and
    dies there in a connection-closed traceback after the failed one has printed its line. Every
    process calls this at the same point (it is a collective operation).
    """
    if info.distributed:
        failed = torch.tensor([0 if error is None else 1], device=info.device)
        dist.all_reduce(failed, op=dist.ReduceOp.MAX)
        if error is None and failed.item():
            error = ConfigError(
                f'process {info.rank} stops: another process failed its checks (its line says '
                'why)'
            )
    if error is not None:
        raise error


def build_loader(
    train_set: SegmentationDataset, cfg: TrainConfig, info: DistInfo
) -> tuple[SeededSampler, DataLoader]:
    """Return this rank's share of each global batch, in a (seed, epoch)-determined order."""
    batch, workers = cfg.train.batch_size, cfg.train.workers
    check_batch(cfg, info)
    sampler = SeededSampler(
        train_set, seed=cfg.train.seed, rank=info.rank, world_size=info.world_size
    )
    # persistent workers: a GPU epoch of a small set (CamVid: 45 steps) lasts seconds, and
    # re-forking the workers every epoch would cost a noticeable share of it
    loader = DataLoader(
        train_set,
        batch_size=batch // info.world_size,
        sampler=sampler,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=info.device.type == 'cuda',
        # the loader draws its workers' base seed from this generator, not from torch's global
        # one: persistent workers draw it once, at the first epoch a process runs, so a resumed
        # run would otherwise shift the global stream that dropout uses
        generator=torch.Generator().manual_seed(cfg.train.seed + info.rank),
    )
    if len(loader) == 0:
        raise ConfigError(
            f'train.batch_size {batch}: the {len(train_set)} images of split '
            f'{cfg.data.train_split!r} give no full batch'
        )
    return sampler, loader


# ---------------------------------------------------------------------------------------------
# model and optimisation


def build_train_model(cfg: TrainConfig, num_classes: int, info: DistInfo) -> tuple[nn.Module, int]:
    """
    Return the model on its device and its output stride.

    SyncBatchNorm and DistributedDataParallel where asked for, with the same initial weights on
    every rank.
    """
    mcfg, seed = cfg.model, cfg.train.seed
    output_stride = mcfg.output_stride or get_model_spec(mcfg.name).default_output_stride
    torch.manual_seed(seed)  # identical initial weights on every rank
    try:
        model = build_model(
            mcfg.name,
            num_classes=num_classes,
            output_stride=output_stride,
            pretrained_backbone=mcfg.pretrained_backbone,
            **(mcfg.options or {}),
        )
    except (
        ValueError
    ) as exc:  # unknown option or output stride: a recipe problem, said in one line
        raise ConfigError(str(exc)) from None
    torch.manual_seed(seed + info.rank)
    if info.distributed and cfg.train.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(info.device)
    if info.device.type == 'cuda':
        torch.backends.cudnn.benchmark = (
            True  # fixed crop size: let cuDNN pick the fastest kernels once
        )
    if info.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[info.device.index] if info.device.type == 'cuda' else None
        )
    return model, output_stride


def _class_weights_from_data(cfg: TrainConfig, train_set: SegmentationDataset) -> str:
    """
    Set ``train.class_weights`` from the checked training split where ``class_weight_c`` asks.

    Returns a line saying what was set ('' where nothing was).
    """
    c = cfg.train.class_weight_c
    if c is None:
        return ''
    if cfg.train.class_weights:
        raise ConfigError(
            'train.class_weights and train.class_weight_c are both set: give the weights, or c '
            'to compute them from the training split, not both'
        )
    cfg.train.class_weights = train_set.class_weights(c)
    shown = ', '.join(f'{w:.2f}' for w in cfg.train.class_weights)
    return f'class weights 1/ln({c:g} + p) from {len(train_set)} training masks: [{shown}]'


def build_criterion(cfg: TrainConfig, ignore_index: int, device: torch.device) -> nn.Module:
    """Build ``train.loss``, weighted by ``train.class_weights`` where given."""
    weights = cfg.train.class_weights
    return build_loss(
        cfg.train.loss,
        ignore_index=ignore_index,
        class_weights=torch.tensor(weights, dtype=torch.float32, device=device)
        if weights
        else None,
        ohem_thresh=cfg.train.ohem_thresh,
        ohem_min_kept=cfg.train.ohem_min_kept,
    )


def build_optimizer(model: nn.Module, optim: OptimConfig | Mapping[str, Any]) -> torch.optim.SGD:
    """SGD with momentum; no weight decay on biases and normalisation parameters (1-D tensors)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [
        {'params': decay, 'weight_decay': float(optim['weight_decay'])},
        {'params': no_decay, 'weight_decay': 0.0},
    ]
    return torch.optim.SGD(
        groups,
        lr=float(optim['lr']),
        momentum=float(optim['momentum']),
        nesterov=bool(optim['nesterov']),
    )


def lr_factor(
    step: int,
    total_steps: int,
    warmup_steps: int,
    *,
    base_lr: float,
    min_lr: float,
    warmup_factor: float,
) -> float:
    """
    Return the multiplier of ``base_lr`` at iteration ``step``.

    Linear warm-up from ``warmup_factor``, then cosine from ``base_lr`` to ``min_lr`` at
    ``total_steps``.
    """
    if step < warmup_steps:
        return warmup_factor + (1 - warmup_factor) * step / warmup_steps
    t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return (min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * t))) / base_lr


def build_scheduler(
    optimizer: torch.optim.Optimizer, optim: OptimConfig, *, steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up then cosine (:func:`lr_factor`), stepped every iteration."""
    total = epochs * steps_per_epoch
    warmup = int(round(float(optim.warmup_epochs) * steps_per_epoch))
    base_lr, min_lr, wf = float(optim.lr), float(optim.min_lr), float(optim.warmup_factor)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step, total, warmup, base_lr=base_lr, min_lr=min_lr, warmup_factor=wf
        ),
    )


def _ema_update(decay: float) -> Any:
    """
    Return an ``AveragedModel`` update that moves each average toward the weights by ``1 - d``.

    ``d`` warms up as ``min(decay, (1 + n) / (10 + n))`` over the first updates ``n`` (so that
    the random initial weights are soon forgotten); integer buffers (batch norm's step count) are
    copied. torch's ``get_ema_multi_avg_fn`` has no warm-up, hence this function.
    """

    def update(averages: list[torch.Tensor], current: list[torch.Tensor], n: Any) -> None:
        n = int(n)
        d = min(decay, (1 + n) / (10 + n))
        for avg, cur in zip(averages, current):
            if avg.is_floating_point():
                avg.lerp_(cur, 1 - d)
            else:
                avg.copy_(cur)

    return update


def build_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """Return the weights' moving average (batch norm statistics included), or None if off."""
    if not decay:
        return None
    return AveragedModel(_unwrap(model), multi_avg_fn=_ema_update(decay), use_buffers=True)


@dataclass
class Teacher:
    """A frozen trained model whose soft labels the student learns from, and the term's weight."""

    model: nn.Module
    loss: DistillationLoss
    weight: float
    source: str
    meta: WeightsMeta


def build_aux_head(
    cfg: TrainConfig, model: nn.Module, num_classes: int, info: DistInfo
) -> nn.Module | None:
    """
    Return the training-only auxiliary head (``train.aux_weight`` > 0), else None.

    On ``model``'s backbone, on the run's device; SyncBatchNorm and DistributedDataParallel as
    the model has them, so every rank keeps the same head.
    """
    if cfg.train.aux_weight <= 0:
        return None
    aux: nn.Module = AuxiliaryHead(_unwrap(model), num_classes).to(info.device)
    if info.distributed:
        if cfg.train.sync_bn:
            aux = nn.SyncBatchNorm.convert_sync_batchnorm(aux)
        aux = nn.parallel.DistributedDataParallel(
            aux, device_ids=[info.device.index] if info.device.type == 'cuda' else None
        )
    return aux


def build_teacher(
    cfg: TrainConfig, dataset: SegmentationDataset, device: torch.device
) -> Teacher | None:
    """
    Load ``distill.teacher`` (frozen, eval mode, on ``device``), or None when distillation is off.

    A :class:`ConfigError` naming the file when it cannot be read, or when its classes or input
    normalisation differ from the data's (its soft labels would then mean other things).
    """
    spec = cfg.distill.teacher
    if not spec:
        return None
    path = shipped_weights(spec) if spec in list_models() else Path(spec).expanduser()
    if path is None:
        raise ConfigError(f'distill.teacher {spec!r}: no trained weights ship for that model')
    try:
        model, meta = load_model(path)
    except WeightsError as exc:
        raise ConfigError(f'distill.teacher: {exc}') from None
    names = dataset.class_names
    if meta.num_classes != dataset.num_classes or list(meta.class_names) != list(names):
        theirs, ours = ', '.join(meta.class_names), ', '.join(names)
        raise ConfigError(
            f'distill.teacher {path}: its {meta.num_classes} classes ({theirs}) are not the '
            f"data's {dataset.num_classes} ({ours})"
        )
    data = cfg.data
    if not (np.allclose(meta.mean, data.mean) and np.allclose(meta.std, data.std)):
        raise ConfigError(
            f'distill.teacher {path}: it was trained with mean {meta.mean} / std {meta.std}, '
            f'the data is normalised with {list(data.mean)} / {list(data.std)}'
        )
    model.to(device).eval().requires_grad_(False)
    loss = DistillationLoss(cfg.distill.temperature, dataset.ignore_index)
    return Teacher(model, loss, float(cfg.distill.weight), f'{path} ({meta.model})', meta)


def teacher_saw_validation(
    teacher: Teacher, cfg: TrainConfig, val_set: SegmentationDataset | None
) -> str | None:
    """
    One warning line where the teacher was trained on images of the validation split, else None.

    The student then learns, through the teacher's soft labels, what the teacher learned from the
    images it is scored on, and its validation scores are optimistic: on the held-out-drive
    protocol the teacher must be a model of the same fold.
    """
    if val_set is None:
        return None
    data = cfg.data
    root, options = _data_source(cfg)
    seen = seen_in_training(teacher.meta, val_set, data.dataset, root, **options)
    if not seen:
        return None
    return (
        f'warning: the teacher was trained on {seen} of the {len(val_set)} images of '
        f'val_split {data.val_split!r} (its train_split {teacher.meta.recipe["train_split"]!r}): '
        'through its soft labels the student learns from them, so validation scores are '
        'optimistic; distil from a teacher that never saw the validation split'
    )


# ---------------------------------------------------------------------------------------------
# one epoch, validation


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _deployed(model: nn.Module, ema: AveragedModel | None) -> nn.Module:
    """Return the weights a run saves and selects on: the average when there is one."""
    return ema.module if ema is not None else _unwrap(model)


def train_step(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    amp: bool,
    teacher: Teacher | None = None,
    aux: nn.Module | None = None,
    aux_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """
    One optimisation step (autocast forward, loss in fp32, scaled backward, optimizer step).

    Returns the loss and, with a ``teacher``, the distillation term included in it. With an
    ``aux`` head, ``aux_weight`` x ``criterion`` on its logits is part of the loss.
    """
    with torch.autocast(images.device.type, dtype=torch.float16, enabled=amp):
        logits = model(images)
        aux_logits = aux(logits.shape[-2:]) if aux is not None else None
        if teacher is not None:
            with torch.no_grad():
                soft = teacher.model(images)
    loss = criterion(logits.float(), targets)
    if aux_logits is not None:
        loss = loss + aux_weight * criterion(aux_logits.float(), targets)
    term = None
    if teacher is not None:
        term = teacher.loss(logits.float(), soft.float(), targets)
        loss = loss + teacher.weight * term
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss, term


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    loader: DataLoader,
    device: torch.device,
    epoch: int,
    *,
    amp: bool = False,
    progress: bool = False,
    writer: Any = None,
    world_size: int = 1,
    max_iters: int | None = None,
    ema: AveragedModel | None = None,
    teacher: Teacher | None = None,
    aux: nn.Module | None = None,
    aux_weight: float = 0.0,
) -> dict[str, float]:
    """
    Make one pass over ``loader``, updating ``ema`` (the weights' average) after every step.

    Returns mean loss (and mean distillation term with a ``teacher``), last lr and throughput
    (images/s, all ranks).
    """
    model.train()
    if aux is not None:
        aux.train()
    total_loss, total_term, seen, steps = 0.0, 0.0, 0, 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=max_iters or len(loader),
            desc=f'epoch {epoch + 1}',
            dynamic_ncols=True,
            leave=False,
            disable=None,  # off when stderr is not a terminal: logs keep only the epoch lines
        )
    start = time.perf_counter()
    for images, targets in loader:
        images, targets = (
            images.to(device, non_blocking=True),
            targets.to(device, non_blocking=True),
        )
        loss, term = train_step(
            model, images, targets, criterion, optimizer, scaler, amp, teacher, aux, aux_weight
        )
        if term is not None:
            total_term += term.detach()  # read once per epoch: no extra device sync per step
        scheduler.step()
        if ema is not None:
            ema.update_parameters(_unwrap(model))
        steps += 1
        seen += images.shape[0] * world_size
        total_loss += loss.item()
        lr = optimizer.param_groups[0]['lr']
        ips = seen / (time.perf_counter() - start)
        if bar is not None:
            bar.set_postfix(loss=f'{loss.item():.4f}', lr=f'{lr:.2e}', img_s=f'{ips:.1f}')
            bar.update()
        if writer is not None:
            step = scheduler.last_epoch
            writer.add_scalar('train/loss', loss.item(), step)
            writer.add_scalar('train/lr', lr, step)
            writer.add_scalar('train/images_per_s', ips, step)
        if max_iters is not None and steps >= max_iters:
            break
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    stats = {
        'loss': total_loss / max(1, steps),
        'lr': optimizer.param_groups[0]['lr'],
        'images_per_s': seen / max(elapsed, 1e-9),
        'seconds': elapsed,
        'iters': steps,
    }
    if teacher is not None:
        stats['distill_loss'] = float(total_term) / max(1, steps)
    return stats


def validate(
    model: nn.Module, val_set: SegmentationDataset, cfg: TrainConfig, info: DistInfo, amp: bool
) -> SegmentationScores:
    """Each rank scores its shard of the validation set; the confusion matrices are summed."""
    indices = list(range(info.rank, len(val_set), info.world_size))
    # eval.batch_size > 1 batches the images of each size apart: the split is at native size
    loader = native_loader(val_set, cfg.eval.batch_size, cfg.train.workers, indices)
    cm = evaluate(
        _unwrap(model),
        loader,
        val_set.num_classes,
        val_set.ignore_index,
        device=info.device,
        scales=cfg.eval.scales,
        flip=cfg.eval.flip,
        amp=amp,
        progress=cfg.train.progress and info.main,
    )
    if info.distributed:
        matrix = cm.matrix.to(info.device)
        dist.all_reduce(matrix)
        cm.matrix = matrix.cpu()
    return cm.compute()


# ---------------------------------------------------------------------------------------------
# checkpoints


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        'python': random.getstate(),
        'numpy': [
            np_state[0],
            np_state[1].tolist(),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        'torch': torch.get_rng_state(),
        # this process's own GPU only (setup_distributed made it current): the states of every
        # visible GPU could not be put back where fewer are visible (an 8-GPU node's run resumed
        # with CUDA_VISIBLE_DEVICES=0 or on a 1-GPU box), and the other GPUs are not this rank's
        'cuda': [torch.cuda.get_rng_state()] if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state['numpy']
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state['torch'])
    cuda = state['cuda']
    if cuda and torch.cuda.is_available():
        # one state (this format), or one per GPU the saving process saw (older checkpoints):
        # the one of the GPU now current where there is one, else the first
        here = torch.cuda.current_device()
        torch.cuda.set_rng_state(cuda[here] if len(cuda) > 1 and here < len(cuda) else cuda[0])


def _gather_rng_states(info: DistInfo) -> list[Any]:
    """Every rank's RNG states, in rank order (on every rank)."""
    rng = _rng_state()
    if not info.distributed:
        return [rng]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, rng)
    return gathered


def _temp_name(path: Path, pid: int) -> Path:
    return path.with_name(f'.{path.name}.{pid}.tmp')


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """
    Write atomically: a temporary file in the same folder, flushed, then ``os.replace``.

    An interrupted write removes its temporary file (a killed process leaves it for
    :func:`remove_stale_temp_files`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, os.getpid())
    try:
        with open(tmp, 'wb') as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temp_files(out_dir: str | Path) -> list[Path]:
    """
    Remove the temporary checkpoint files in ``out_dir`` whose writing process is gone.

    Those of a run killed while writing; returns what was removed.
    """
    removed = []
    for name in (CHECKPOINT_LAST, CHECKPOINT_BEST):
        for tmp in Path(out_dir).glob(f'.{name}.*.tmp'):
            start, end = len(name) + 2, -len('.tmp')
            pid = tmp.name[start:end]
            if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def _load_failure(exc: BaseException) -> str:
    """Why torch.load failed, in a few words; never torch's advice to load unsafely."""
    return torch_load_failure(exc, 'a PyTorch checkpoint')


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """
    Read a training checkpoint without unpickling arbitrary objects (``weights_only=True``).

    :class:`CheckpointError` naming the file where it is missing or unreadable.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f'{path} is a folder; --resume takes a checkpoint file (a run folder holds '
            "checkpoint_last.pth) or 'auto' (output_dir's checkpoint_last.pth)"
        )
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path}')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except (
        Exception
    ) as exc:  # torch raises many kinds (zip, pickle, EOF, runtime) for a damaged file
        raise CheckpointError(
            f'{path}: not a readable training checkpoint: {_load_failure(exc)}; resume from '
            f'another checkpoint or start afresh'
        ) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'{path}: not a lightseg training checkpoint (it holds a {type(ckpt).__name__})'
        )
    return ckpt


@dataclass
class TrainState:
    """Where a run stands between epochs: what a checkpoint restores besides the tensors."""

    epoch: int = 0  # epochs completed
    best_miou: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_val_miou(self) -> float | None:
        return self.history[-1].get('val_miou') if self.history else None


def resume_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    *,
    amp: bool,
    rank: int = 0,
    ema: AveragedModel | None = None,
    aux: nn.Module | None = None,
    batch_size: int | None = None,
    world_size: int = 1,
    epochs: int | None = None,
) -> TrainState:
    """
    Load a checkpoint into the run's objects and this rank's RNGs; returns the run's state.

    A checkpoint without an average (``train.ema_decay`` was 0) starts ``ema`` afresh.
    ``batch_size`` (global) must be the checkpoint's: the learning-rate schedule counts steps, and
    another batch size would make it jump. A checkpoint past ``epochs`` (the run's
    ``train.epochs``) is refused: its weights would be saved as the shorter schedule's. Another
    number of processes (``world_size``) keeps the batch; the first process then says that the
    run is no longer bit-exact (and, where the frames do not split evenly, that an epoch's step
    count and so the schedule's end may move a little).
    """
    ckpt = load_checkpoint(path)
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(
            f'{path}: not a lightseg training checkpoint (no {", ".join(missing)})'
        )
    epoch, best_miou, history = _checked_fields(path, ckpt)
    if epochs is not None and epoch > epochs:
        raise CheckpointError(
            f"{path}: it has {epoch} epochs done, more than this run's train.epochs {epochs}; "
            f'resume with --epochs {epoch} or more, or start afresh in another output_dir'
        )
    saved_train = (ckpt.get('config') or {}).get('train') or {}
    saved_batch = saved_train.get('batch_size')
    if batch_size is not None and isinstance(saved_batch, int) and saved_batch != batch_size:
        raise CheckpointError(
            f'{path}: it was trained with train.batch_size {saved_batch} (global), this run has '
            f'{batch_size}; resume with --batch-size {saved_batch} (the learning-rate schedule '
            'counts steps of that batch)'
        )
    if rank == 0 and len(ckpt['rng']) != world_size:
        print(
            f'resuming on {world_size} process(es) a run saved by {len(ckpt["rng"])}: the same '
            "global batch, but not bit-exact (each process's share of a batch and its random "
            'streams change; where the frames do not split evenly between processes, an epoch '
            'can count a step more or fewer, which moves the learning-rate schedule slightly)',
            flush=True,
        )
    if (aux is None) != ('aux' not in ckpt):
        had = 'with' if 'aux' in ckpt else 'without'
        raise CheckpointError(
            f'{path}: it was trained {had} an auxiliary head (train.aux_weight); resume with '
            'the setting it was started with'
        )
    try:
        _unwrap(model).load_state_dict(ckpt['model'])
        if aux is not None:
            _unwrap(aux).load_state_dict(ckpt['aux'])
        optimizer.load_state_dict(ckpt['optimizer'])
    except (RuntimeError, ValueError, KeyError):
        trained = (ckpt.get('config') or {}).get('model', {}).get('name', 'another model')
        raise CheckpointError(
            f"{path}: its weights do not fit this run's model (the checkpoint trained "
            f'{trained}; the number of classes or the model options may differ too)'
        ) from None
    _restore(path, 'scheduler', lambda: scheduler.load_state_dict(ckpt['scheduler']))
    if amp and ckpt.get('scaler'):
        _restore(path, 'scaler', lambda: scaler.load_state_dict(ckpt['scaler']))
    if ema is not None and ckpt.get('ema'):
        _restore(path, 'ema', lambda: ema.load_state_dict(ckpt['ema']))
    states = ckpt['rng']
    _restore(
        path, 'rng', lambda: _set_rng_state(states[rank] if rank < len(states) else states[0])
    )
    return TrainState(epoch, best_miou, history)


def _field_error(path: str | Path, name: str, accepted: str, value: Any) -> CheckpointError:
    return CheckpointError(
        f'{path}: field {name!r} must be {accepted}, got {shown_value(value)}; resume from '
        'another checkpoint or start afresh'
    )


def _checked_fields(path: str | Path, ckpt: dict[str, Any]) -> tuple[int, float, list]:
    """Return a checkpoint's (epoch, best_miou, history), each checked; else CheckpointError."""
    epoch, best, history = ckpt['epoch'], ckpt['best_miou'], ckpt.get('history', [])
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise _field_error(path, 'epoch', 'an integer >= 0 (epochs completed)', epoch)
    if (
        isinstance(best, bool)
        or not isinstance(best, (int, float))
        or not (best == -1 or 0 <= best <= 1)
    ):
        raise _field_error(path, 'best_miou', 'a number from 0 to 1, or -1 (none yet)', best)
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise _field_error(path, 'history', 'a list of per-epoch records (mappings)', history)
    rng = ckpt['rng']
    if not isinstance(rng, list) or not rng or not all(isinstance(r, dict) for r in rng):
        raise _field_error(path, 'rng', "a list of each rank's RNG states (mappings)", rng)
    return epoch, float(best), list(history)


def _restore(path: str | Path, name: str, load: Callable[[], Any]) -> None:
    """Run ``load`` (restoring the checkpoint's field ``name``); a malformed field is named."""
    try:
        load()
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError):
        raise CheckpointError(
            f'{path}: field {name!r} is not what a lightseg training checkpoint holds; resume '
            'from another checkpoint or start afresh'
        ) from None


def _make_meta(
    cfg: TrainConfig,
    dataset: SegmentationDataset,
    output_stride: int,
    val_miou: float | None,
    epochs_done: int,
) -> WeightsMeta:
    data, loop = cfg.data, cfg.train
    return WeightsMeta(
        model=cfg.model.name,
        num_classes=dataset.num_classes,
        class_names=dataset.class_names,
        colors=dataset.colors,
        mean=list(data.mean),
        std=list(data.std),
        input_size=list(data.input_size) if data.input_size else None,
        # the scale the model learned objects at (crops keep the images' scale)
        train_image_size=dataset.common_image_size(),
        output_stride=output_stride,
        model_options=dict(cfg.model.options or {}),
        ignore_index=dataset.ignore_index,
        dataset=data.dataset,
        val_miou=val_miou,
        recipe={
            'optim': cfg.optim.to_dict(),
            'augment': cfg.augment.to_dict(),
            'epochs': loop.epochs,
            'epochs_trained': epochs_done,
            'batch_size': loop.batch_size,
            'loss': loop.loss,
            'class_weights': loop.class_weights,
            'class_weight_c': loop.class_weight_c,  # the weights above came from the data
            'ema_decay': loop.ema_decay,
            'aux_weight': loop.aux_weight,
            'distill': cfg.distill.to_dict() if cfg.distill.teacher else None,
            'crop_size': data.crop_size,
            'train_split': data.train_split,
            'val_split': data.val_split,  # null: fit on train_split with a fixed schedule
            'seed': loop.seed,
        },
    )


#: recipe keys that may change between a run and its resumption without changing what it trains
_RESUME_FREE = {
    '_config_dir',
    'data.root',
    'train.output_dir',
    'train.device',
    'train.workers',
    'train.progress',
}


def _flat(tree: Any, prefix: str = '') -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f'{prefix}.{key}' if prefix else str(key)))
    return out


def _say_recipe_changes(out_dir: Path, recipe: dict) -> None:
    """
    Warn, in one line, where a resumed run's recipe differs from the one its folder recorded.

    The checkpoint's optimiser and learning-rate schedule go on as saved, so such a run mixes the
    two recipes. The recorded one is kept as ``config.previous.json``.
    """
    try:
        before = json.loads((out_dir / 'config.json').read_text())
    except (OSError, ValueError):  # none recorded (an older run), or unreadable: nothing to say
        return
    old, new = _flat(before), _flat(recipe)
    changed = [
        f'{k} {shown_value(old.get(k))} -> {shown_value(new.get(k))}'
        for k in sorted(set(old) | set(new))
        if k not in _RESUME_FREE and old.get(k) != new.get(k)
    ]
    if not changed:
        return
    (out_dir / 'config.previous.json').write_text(json.dumps(before, indent=2))
    more = f' and {len(changed) - 4} more' if len(changed) > 4 else ''
    print(
        f'warning: resuming {out_dir} with a recipe that differs from the one it recorded: '
        f'{", ".join(changed[:4])}{more}; the checkpoint\'s optimiser and learning-rate schedule '
        'go on as saved, so the run mixes both (the recorded recipe is now config.previous.json)',
        file=sys.stderr,
        flush=True,
    )


def _plain(obj: Any) -> Any:
    """JSON-like primitives (so ``weights_only`` loading accepts them)."""
    return json.loads(json.dumps(obj))


def save_epoch(
    out_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    *,
    amp: bool,
    cfg: TrainConfig,
    state: TrainState,
    rng: list[Any],
    is_best: bool,
    meta: WeightsMeta | None = None,
    ema: AveragedModel | None = None,
    aux: nn.Module | None = None,
) -> None:
    """
    Write ``checkpoint_last.pth``.

    At a new best also ``checkpoint_best.pth`` and ``model_best.safetensors`` (the averaged
    weights when ``ema`` is given).
    """
    ckpt = {
        'model': _unwrap(model).state_dict(),
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
        'scaler': scaler.state_dict() if amp else {},
        'epoch': state.epoch,
        'best_miou': state.best_miou,
        'config': _plain(cfg.to_dict()),
        'rng': rng,
        'history': _plain(state.history),
    }
    if ema is not None:
        ckpt['ema'] = ema.state_dict()
    if aux is not None:  # training-only: never in the .safetensors files
        ckpt['aux'] = _unwrap(aux).state_dict()
    save_checkpoint(ckpt, out_dir / CHECKPOINT_LAST)
    if is_best:
        save_checkpoint(ckpt, out_dir / CHECKPOINT_BEST)
        save_weights(out_dir / 'model_best.safetensors', _deployed(model, ema), meta)


# ---------------------------------------------------------------------------------------------
# the run


def _open_writer(out_dir: Path, purge_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print('tensorboard is not installed; no TensorBoard logs (pip install tensorboard)')
        return None
    return SummaryWriter(str(out_dir / 'tensorboard'), purge_step=purge_step)


def _log_epoch(
    writer: Any, epoch: int, stats: dict[str, float], scores: SegmentationScores | None
) -> None:
    if writer is None:
        return
    writer.add_scalar('epoch/train_loss', stats['loss'], epoch)
    writer.add_scalar('epoch/images_per_s', stats['images_per_s'], epoch)
    if scores is not None:
        writer.add_scalar('val/miou', scores.miou, epoch)
        writer.add_scalar('val/pixel_accuracy', scores.pixel_accuracy, epoch)
    writer.flush()


def _epoch_line(
    epoch: int,
    epochs: int,
    stats: dict[str, float],
    scores: SegmentationScores | None,
    raw: SegmentationScores | None = None,
) -> str:
    msg = (
        f'epoch {epoch}/{epochs}: loss {stats["loss"]:.4f}, lr {stats["lr"]:.2e}, '
        f'{stats["images_per_s"]:.1f} img/s'
    )
    if scores is not None:
        msg += (
            f', val mIoU {scores.miou * 100:.2f}%, pixel acc. {scores.pixel_accuracy * 100:.2f}%'
        )
    if raw is not None:
        msg += f' (averaged weights; the trained weights: {raw.miou * 100:.2f}%)'
    return msg


def _share_rank0_buffers(
    model: nn.Module, ema: AveragedModel | None, aux: nn.Module | None
) -> None:
    """
    Give every rank rank 0's buffers: the BatchNorm statistics rank 0 saves.

    DDP hands rank 0's buffers to the others at the start of each forward pass, and each rank's
    pass then moves them by its own batch, so after an epoch's last step the ranks hold different
    running statistics (and averages of them). Without this, each rank scored its share of the
    validation set with its own statistics, not those of the file rank 0 writes.
    """
    modules = [_unwrap(model)]
    if ema is not None:  # its module's buffers: n_averaged is on the CPU, which NCCL cannot send,
        modules.append(ema.module)  # and it is the same on every rank
    if aux is not None:
        modules.append(_unwrap(aux))
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)


def _ranks_agree(model: nn.Module, info: DistInfo) -> bool:
    """Whether every rank ends with rank 0's parameters and buffers (DDP kept them in step)."""
    module = _unwrap(model)
    tensors = [*module.parameters(), *(b for b in module.buffers() if b.is_floating_point())]
    flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
    ref = flat.clone()
    dist.broadcast(ref, 0)
    agree = torch.tensor([int(torch.equal(flat, ref))], device=info.device)
    dist.all_reduce(agree, op=dist.ReduceOp.MIN)
    return bool(agree.item())


def _output_dir_error(out_dir: Path, why: BaseException | str) -> ConfigError:
    reason = why if isinstance(why, str) else (getattr(why, 'strerror', None) or str(why))
    return ConfigError(
        f'train.output_dir {out_dir}: cannot write there ({reason}); pass --output-dir with a '
        'writable folder'
    )


def check_output_dir(out_dir: str | Path) -> None:
    """
    Raise :class:`ConfigError` where ``out_dir`` cannot be made or written to; creates nothing.

    The nearest existing folder on its path must be a writable folder.
    """
    out_dir = Path(out_dir).absolute()
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise _output_dir_error(out_dir, f'{existing} is not a folder')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _output_dir_error(out_dir, f'{existing} is not writable')


def train(
    cfg: TrainConfig | Mapping[str, Any],
    *,
    resume: str | Path | None = None,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """
    Run (or resume) the training described by ``cfg``; returns a summary.

    Rank 0 writes it to ``output_dir/summary.json``. ``stop_after_epochs`` ends this invocation
    early (time-sliced jobs); ``resume`` continues it exactly.
    """
    cfg = _typed(cfg)
    info = setup_distributed(cfg.train.device)
    seed_everything(cfg.train.seed, info.rank)
    out_dir = Path(cfg.train.output_dir)
    epochs = cfg.train.epochs
    failure = None
    try:
        check_output_dir(out_dir)
        check_batch(cfg, info)
        train_set, val_set = get_datasets(cfg)
        weights = cfg.train.class_weights
        if weights is not None and len(weights) != train_set.num_classes:
            raise ConfigError(
                f'train.class_weights has {len(weights)} entries; the dataset has '
                f'{train_set.num_classes} classes (one weight each, or null)'
            )
        checked = time.perf_counter()
        train_set.check(f'train_split {cfg.data.train_split!r}')
        if val_set is not None:
            val_set.check(f'val_split {cfg.data.val_split!r}')
        weights_from_data = _class_weights_from_data(cfg, train_set)
    except (ConfigError, DatasetError) as exc:
        failure = exc
    stop_together(info, failure)
    if info.main:
        validation = (
            f'{len(val_set)} validation samples'
            if val_set is not None
            else 'no validation samples (data.val_split is null: a fixed schedule)'
        )
        print(
            f'checked {len(train_set)} training and {validation} '
            f'({time.perf_counter() - checked:.1f} s)',
            flush=True,
        )
        for ds, what in ((train_set, 'training'), (val_set, 'validation')):
            note = ds.exif_note(what) if ds is not None else None
            if note:
                print(note, flush=True)
    if weights_from_data and info.main:
        print(weights_from_data, flush=True)
    model, output_stride = build_train_model(cfg, train_set.num_classes, info)
    sampler, loader = build_loader(train_set, cfg, info)
    criterion = build_criterion(cfg, train_set.ignore_index, info.device)
    ema = build_ema(model, cfg.train.ema_decay)
    # after the average's copy of the model, which would otherwise copy the head's hook too
    aux = build_aux_head(cfg, model, train_set.num_classes, info)
    trained = model if aux is None else nn.ModuleList([_unwrap(model), _unwrap(aux)])
    optimizer = build_optimizer(trained, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, steps_per_epoch=len(loader), epochs=epochs)
    amp = cfg.train.amp and info.device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    if aux is not None and info.main:
        print(
            f'auxiliary head on backbone level {_unwrap(aux).level!r} '
            f'(weight {cfg.train.aux_weight:g}, training only)',
            flush=True,
        )
    teacher = build_teacher(cfg, train_set, info.device)
    if teacher is not None and info.main:
        print(f'distilling from {teacher.source}', flush=True)
        leak = teacher_saw_validation(teacher, cfg, val_set)
        if leak:
            print(leak, file=sys.stderr, flush=True)
    state = (
        resume_state(
            resume,
            model,
            optimizer,
            scheduler,
            scaler,
            amp=amp,
            rank=info.rank,
            ema=ema,
            aux=aux,
            batch_size=cfg.train.batch_size,
            world_size=info.world_size,
            epochs=cfg.train.epochs,
        )
        if resume
        else TrainState()
    )
    overlap = shared_images(train_set, val_set) if info.main and val_set is not None else 0
    if overlap:  # after every check that can stop the run: an error stays its one line
        print(
            f'warning: {overlap} of the {len(val_set)} validation images '
            f'(val_split {cfg.data.val_split!r}) are also training images (train_split '
            f"{cfg.data.train_split!r}): 'val mIoU' then measures fit, not images the model "
            'never saw, and the best checkpoint is picked on it',
            file=sys.stderr,
            flush=True,
        )

    writer = None
    failure = None
    if info.main:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            recipe = _plain(cfg.to_dict())
            if resume:
                _say_recipe_changes(out_dir, recipe)
            (out_dir / 'config.json').write_text(json.dumps(recipe, indent=2))
        except OSError as exc:
            failure = _output_dir_error(out_dir, exc)
    stop_together(info, failure)  # only the first process writes: the others wait for its word
    if info.main:
        for stale in remove_stale_temp_files(out_dir):
            print(f'removed {stale}, left by a checkpoint write that was killed', flush=True)
        # steps run 1..N (the scheduler's count after each): what a resume repeats starts at the
        # step after the last one done (purging from that step itself lost one point)
        writer = _open_writer(out_dir, state.epoch * len(loader) + 1 if state.epoch else None)

    interval = cfg.train.eval_interval
    last_epoch = (
        epochs if stop_after_epochs is None else min(epochs, state.epoch + stop_after_epochs)
    )
    val_miou = state.last_val_miou
    for epoch in range(state.epoch, last_epoch):
        sampler.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            criterion,
            optimizer,
            scheduler,
            scaler,
            loader,
            info.device,
            epoch,
            amp=amp,
            progress=cfg.train.progress and info.main,
            writer=writer,
            world_size=info.world_size,
            ema=ema,
            teacher=teacher,
            aux=aux,
            aux_weight=cfg.train.aux_weight,
        )
        record = {'epoch': epoch + 1, **stats}
        if info.distributed:
            _share_rank0_buffers(model, ema, aux)
        scores = raw = None
        due = (interval and (epoch + 1) % interval == 0) or epoch + 1 == epochs
        if due and val_set is not None:
            scores = validate(_deployed(model, ema), val_set, cfg, info, amp)
            val_miou = scores.miou
            record.update(val_miou=scores.miou, val_pixel_accuracy=scores.pixel_accuracy)
            if ema is not None:  # the lever's effect, measured on the same run
                raw = validate(model, val_set, cfg, info, amp)
                record.update(val_miou_raw=raw.miou)
        state.history.append(record)
        state.epoch = epoch + 1
        rng = _gather_rng_states(info)
        if info.main:
            _log_epoch(writer, epoch + 1, stats, scores)
            is_best = scores is not None and scores.miou > state.best_miou
            if is_best:
                state.best_miou = scores.miou
            meta = (
                _make_meta(cfg, train_set, output_stride, state.best_miou, epoch + 1)
                if is_best
                else None
            )
            save_epoch(
                out_dir,
                model,
                optimizer,
                scheduler,
                scaler,
                amp=amp,
                cfg=cfg,
                state=state,
                rng=rng,
                is_best=is_best,
                meta=meta,
                ema=ema,
                aux=aux,
            )
            print(_epoch_line(epoch + 1, epochs, stats, scores, raw), flush=True)

    finished = last_epoch >= epochs
    ranks_agree = _ranks_agree(model, info) if info.distributed else None
    summary = {
        'epochs_done': last_epoch,
        'epochs': epochs,
        'finished': finished,
        'best_val_miou': state.best_miou if state.best_miou >= 0 else None,
        'final_val_miou': val_miou,
        'world_size': info.world_size,
        'ranks_agree': ranks_agree,
        'history': state.history,
        'output_dir': str(out_dir),
    }
    if info.main:
        if finished:
            path = save_weights(
                out_dir / 'model_final.safetensors',
                _deployed(model, ema),
                _make_meta(cfg, train_set, output_stride, val_miou, last_epoch),
            )
            summary['weights'] = str(path)
        (out_dir / 'summary.json').write_text(json.dumps(_plain(summary), indent=2))
        if writer is not None:
            writer.close()
    if info.distributed:
        dist.barrier()
        dist.destroy_process_group()
    return summary


# ---------------------------------------------------------------------------------------------
# throughput


def _dataset_num_classes(cfg: TrainConfig) -> int:
    """
    Return the class count of the configured dataset without reading it.

    Folder datasets: the classes file.
    """
    known = {'camvid': 11, 'voc': 21, 'cityscapes': 19}
    name = cfg.data.dataset
    if name in known:
        return known[name]
    from .datasets import read_classes_file

    root = resolve_data_root(cfg.data.root, cfg.config_dir)
    for f in ('classes.yaml', 'classes.yml', 'classes.txt'):
        if (root / f).is_file():
            return len(read_classes_file(root / f)[0])
    return 21


def benchmark_training(
    cfg: TrainConfig | Mapping[str, Any], iters: int = 10, warmup: int = 3
) -> dict[str, Any]:
    """
    Measure training-step throughput (forward, loss, backward, SGD step) on random batches.

    Batches of ``train.batch_size`` x ``data.crop_size``; data loading is excluded. Needs no
    dataset.
    """
    cfg = _typed(cfg)
    loop, mcfg = cfg.train, cfg.model
    info = setup_distributed(loop.device)
    torch.manual_seed(loop.seed)
    num_classes = _dataset_num_classes(cfg)
    try:
        model = build_model(
            mcfg.name,
            num_classes=num_classes,
            output_stride=mcfg.output_stride,
            **(mcfg.options or {}),
        )
    except ValueError as exc:  # an option or output stride the model does not take
        raise ConfigError(str(exc)) from None
    model = model.to(info.device).train()
    criterion = build_loss(loop.loss, ignore_index=255)
    optimizer = build_optimizer(model, cfg.optim)
    amp = loop.amp and info.device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    b, (h, w) = loop.batch_size, cfg.data.crop_size
    x = torch.randn(b, 3, h, w, device=info.device)
    y = torch.randint(0, num_classes, (b, h, w), device=info.device)
    times = []
    for i in range(warmup + iters):
        if info.device.type == 'cuda':
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        train_step(model, x, y, criterion, optimizer, scaler, amp)
        if info.device.type == 'cuda':
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    median = float(np.median(times))  # robust to other processes stealing the CPU now and then
    return {
        'model': mcfg.name,
        'device': str(info.device),
        'threads': torch.get_num_threads(),
        'batch_size': b,
        'crop_size': [h, w],
        'iters': iters,
        'warmup': warmup,
        'amp': amp,
        'num_classes': num_classes,
        'seconds_per_iter': round(mean, 4),
        'median_seconds_per_iter': round(median, 4),
        'images_per_s': round(b / mean, 3),
        'images_per_s_median': round(b / median, 3),
    }
