"""Offline training, in the style of torchvision's references/segmentation/train.py: plain functions
``get_datasets``, ``train_one_epoch``, ``evaluate`` (see :mod:`.evaluate`) and ``train``.

Recipe of both papers (Huo et al. 2023, MLFF; Liao et al. 2023, GhostNet + L-ASPP + DA): SGD with
momentum 0.9 and weight decay 1e-4, a linear warm-up then cosine decay 0.007 -> 0.0007 (stepped per
iteration here), batch 8. Mixed precision (autocast + GradScaler) on CUDA only. Several processes
through DistributedDataParallel when started by ``torchrun`` (nccl on CUDA, gloo on the CPU); only
rank 0 writes files.

Reproducibility and exact resume: the data order is a function of (seed, epoch) (DistributedSampler)
and each sample's augmentation runs under a seed derived from (seed, epoch, index), whatever the
worker; the checkpoint written after every epoch holds model, optimizer, scheduler, grad scaler,
epoch, best mIoU, the config, and the python/numpy/torch/CUDA RNG states of every rank. It is read
with ``torch.load(weights_only=True)``: it holds only tensors and plain Python values.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler, Subset

from .losses import build_loss
from ..models import WeightsMeta, build_model, get_model_spec, save_weights
from .config import resolve_data_root
from .datasets import SegmentationDataset, build_dataset
from .evaluate import evaluate
from .transforms import eval_transform, train_transform

__all__ = [
    "DistInfo", "setup_distributed", "SeededSampler", "get_datasets", "build_optimizer", "lr_factor",
    "train_one_epoch", "save_checkpoint", "load_checkpoint", "train", "benchmark_training",
]

CHECKPOINT_LAST = "checkpoint_last.pth"
CHECKPOINT_BEST = "checkpoint_best.pth"


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1) and pick the device."""
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank, world, local, dev)


class SeededSampler(Sampler):
    """Yields ``(index, sample_seed)`` in a (seed, epoch)-determined order, sharded over ranks.

    The dataset runs the sample's transform under ``sample_seed``, so augmentation does not depend
    on which worker (or how many) loads it. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, dataset: SegmentationDataset, *, seed: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True) -> None:
        self.inner = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.inner:
            yield index, (self.seed * 1_000_003 + self.epoch * 7_919 + index * 104_729) % (2**63 - 1)


def get_datasets(cfg: dict) -> tuple[SegmentationDataset, SegmentationDataset]:
    """The training set (with paper B's augmentation) and the validation set (native resolution)."""
    data, aug = cfg["data"], cfg["augment"]
    root = resolve_data_root(data["root"], cfg.get("_config_dir"))
    options = {"mask_dir": data.get("mask_dir")} if data["dataset"] == "voc" else {}
    probe = build_dataset(data["dataset"], root, data["val_split"], None, **options)
    tf = train_transform(data["crop_size"], probe.ignore_index, mean=data["mean"], std=data["std"], **aug)
    train_set = build_dataset(data["dataset"], root, data["train_split"], tf, **options)
    probe.transform = eval_transform(data["mean"], data["std"])
    return train_set, probe


def build_optimizer(model: nn.Module, optim: dict) -> torch.optim.SGD:
    """SGD with momentum; no weight decay on biases and normalisation parameters (1-D tensors)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": float(optim["weight_decay"])},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=float(optim["lr"]), momentum=float(optim["momentum"]),
                           nesterov=bool(optim["nesterov"]))


def lr_factor(step: int, total_steps: int, warmup_steps: int, *, base_lr: float, min_lr: float,
              warmup_factor: float) -> float:
    """Multiplier of ``base_lr`` at iteration ``step``: linear warm-up from ``warmup_factor``, then
    cosine from ``base_lr`` to ``min_lr`` at ``total_steps``."""
    if step < warmup_steps:
        return warmup_factor + (1 - warmup_factor) * step / warmup_steps
    t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return (min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * t))) / base_lr


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write atomically: a temporary file in the same folder, flushed, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def train_step(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, criterion: nn.Module,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, amp: bool) -> torch.Tensor:
    """One optimisation step (autocast forward, loss in fp32, scaled backward, optimizer step)."""
    with torch.autocast(images.device.type, dtype=torch.float16, enabled=amp):
        logits = model(images)
    loss = criterion(logits.float(), targets)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss


def train_one_epoch(model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler,
                    loader: DataLoader, device: torch.device, epoch: int, *, amp: bool = False,
                    progress: bool = False, writer: Any = None, world_size: int = 1,
                    max_iters: int | None = None) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss, last lr and throughput (images/s, all ranks)."""
    model.train()
    total_loss, seen, steps = 0.0, 0, 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=max_iters or len(loader), desc=f"epoch {epoch + 1}", dynamic_ncols=True, leave=False)
    start = time.perf_counter()
    for images, targets in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        loss = train_step(model, images, targets, criterion, optimizer, scaler, amp)
        scheduler.step()
        steps += 1
        seen += images.shape[0] * world_size
        total_loss += loss.item()
        lr = optimizer.param_groups[0]["lr"]
        ips = seen / (time.perf_counter() - start)
        if bar is not None:
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}", img_s=f"{ips:.1f}")
            bar.update()
        if writer is not None:
            step = scheduler.last_epoch
            writer.add_scalar("train/loss", loss.item(), step)
            writer.add_scalar("train/lr", lr, step)
            writer.add_scalar("train/images_per_s", ips, step)
        if max_iters is not None and steps >= max_iters:
            break
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    return {"loss": total_loss / max(1, steps), "lr": optimizer.param_groups[0]["lr"],
            "images_per_s": seen / max(elapsed, 1e-9), "seconds": elapsed, "iters": steps}


def _make_meta(cfg: dict, dataset: SegmentationDataset, output_stride: int, val_miou: float | None,
               epochs_done: int) -> WeightsMeta:
    return WeightsMeta(
        model=cfg["model"]["name"], num_classes=dataset.num_classes, class_names=dataset.class_names,
        colors=dataset.colors, mean=list(cfg["data"]["mean"]), std=list(cfg["data"]["std"]),
        input_size=list(cfg["data"]["input_size"]) if cfg["data"].get("input_size") else None,
        output_stride=output_stride,
        model_options=dict(cfg["model"]["options"] or {}), ignore_index=dataset.ignore_index,
        dataset=cfg["data"]["dataset"], val_miou=val_miou,
        recipe={"optim": cfg["optim"], "augment": cfg["augment"], "epochs": cfg["train"]["epochs"],
                "epochs_trained": epochs_done, "batch_size": cfg["train"]["batch_size"],
                "loss": cfg["train"]["loss"], "crop_size": cfg["data"]["crop_size"],
                "train_split": cfg["data"]["train_split"], "seed": cfg["train"]["seed"]},
    )


def _plain(obj: Any) -> Any:
    """The config as JSON-like primitives (so ``weights_only`` loading accepts it)."""
    return json.loads(json.dumps(obj))


def _validate(model: nn.Module, val_set: SegmentationDataset, cfg: dict, info: DistInfo, amp: bool):
    """Each rank scores its shard of the validation set; the confusion matrices are summed."""
    indices = list(range(info.rank, len(val_set), info.world_size))
    loader = DataLoader(Subset(val_set, indices), batch_size=int(cfg["eval"]["batch_size"]), shuffle=False,
                        num_workers=int(cfg["train"]["workers"]))
    cm = evaluate(_unwrap(model), loader, val_set.num_classes, val_set.ignore_index, device=info.device,
                  scales=cfg["eval"]["scales"], flip=bool(cfg["eval"]["flip"]), amp=amp,
                  progress=bool(cfg["train"]["progress"]) and info.main)
    if info.distributed:
        matrix = cm.matrix.to(info.device)
        dist.all_reduce(matrix)
        cm.matrix = matrix.cpu()
    return cm.compute()


def train(cfg: dict, *, resume: str | Path | None = None, stop_after_epochs: int | None = None) -> dict[str, Any]:
    """Run (or resume) the training described by ``cfg``; returns a summary (rank 0 writes it to
    ``output_dir/summary.json``). ``stop_after_epochs`` ends this invocation early (time-sliced
    jobs); ``--resume`` continues it exactly."""
    tcfg, ocfg = cfg["train"], cfg["optim"]
    info = setup_distributed(tcfg["device"])
    seed = int(tcfg["seed"])
    random.seed(seed + info.rank)
    np.random.seed(seed + info.rank)
    torch.manual_seed(seed + info.rank)
    out_dir = Path(tcfg["output_dir"])

    train_set, val_set = get_datasets(cfg)
    mcfg = cfg["model"]
    output_stride = mcfg["output_stride"] or get_model_spec(mcfg["name"]).default_output_stride
    torch.manual_seed(seed)  # identical initial weights on every rank
    model = build_model(mcfg["name"], num_classes=train_set.num_classes, output_stride=output_stride,
                        pretrained_backbone=mcfg["pretrained_backbone"], **(mcfg["options"] or {}))
    torch.manual_seed(seed + info.rank)
    if info.distributed and tcfg["sync_bn"]:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(info.device)
    if info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick the fastest kernels once
    if info.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[info.device.index] if info.device.type == "cuda" else None)

    batch = int(tcfg["batch_size"])
    if batch % info.world_size:
        raise ValueError(f"train.batch_size {batch} (global) is not divisible by {info.world_size} processes")
    sampler = SeededSampler(train_set, seed=seed, rank=info.rank, world_size=info.world_size)
    workers = int(tcfg["workers"])
    # persistent workers: a GPU epoch of a small set (CamVid: 45 steps) lasts seconds, and re-forking the
    # workers every epoch would cost a noticeable share of it
    loader = DataLoader(train_set, batch_size=batch // info.world_size, sampler=sampler, drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=info.device.type == "cuda")
    if len(loader) == 0:
        raise ValueError(f"{len(train_set)} training images give no full batch of {batch}")
    weights = tcfg.get("class_weights")
    criterion = build_loss(tcfg["loss"], ignore_index=train_set.ignore_index,
                           class_weights=torch.tensor(weights, dtype=torch.float32, device=info.device)
                           if weights else None)
    optimizer = build_optimizer(model, ocfg)
    epochs = int(tcfg["epochs"])
    total = epochs * len(loader)
    warmup = int(round(float(ocfg["warmup_epochs"]) * len(loader)))
    base_lr, min_lr, wf = float(ocfg["lr"]), float(ocfg["min_lr"]), float(ocfg["warmup_factor"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, base_lr=base_lr, min_lr=min_lr, warmup_factor=wf))
    amp = bool(tcfg["amp"]) and info.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    start_epoch, best_miou, history = 0, -1.0, []
    if resume:
        ckpt = load_checkpoint(resume)
        _unwrap(model).load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if amp and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch, best_miou = int(ckpt["epoch"]), float(ckpt["best_miou"])
        history = list(ckpt.get("history", []))
        states = ckpt["rng"]
        _set_rng_state(states[info.rank] if info.rank < len(states) else states[0])

    writer = None
    if info.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(_plain(cfg), indent=2))
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=start_epoch * len(loader) or None)
        except ImportError:
            print("tensorboard is not installed; no TensorBoard logs (pip install tensorboard)")

    progress = bool(tcfg["progress"]) and info.main
    interval = int(tcfg["eval_interval"])
    last_epoch = epochs if stop_after_epochs is None else min(epochs, start_epoch + stop_after_epochs)
    val_miou = history[-1].get("val_miou") if history else None
    for epoch in range(start_epoch, last_epoch):
        sampler.set_epoch(epoch)
        stats = train_one_epoch(model, criterion, optimizer, scheduler, scaler, loader, info.device, epoch,
                                amp=amp, progress=progress, writer=writer, world_size=info.world_size)
        record = {"epoch": epoch + 1, **stats}
        scores = None
        if (interval and (epoch + 1) % interval == 0) or epoch + 1 == epochs:
            scores = _validate(model, val_set, cfg, info, amp)
            val_miou = scores.miou
            record.update(val_miou=scores.miou, val_pixel_accuracy=scores.pixel_accuracy)
        history.append(record)
        rng = _rng_state()
        if info.distributed:
            gathered: list[Any] = [None] * info.world_size
            dist.all_gather_object(gathered, rng)
        else:
            gathered = [rng]
        if info.main:
            if writer is not None:
                writer.add_scalar("epoch/train_loss", stats["loss"], epoch + 1)
                writer.add_scalar("epoch/images_per_s", stats["images_per_s"], epoch + 1)
                if scores is not None:
                    writer.add_scalar("val/miou", scores.miou, epoch + 1)
                    writer.add_scalar("val/pixel_accuracy", scores.pixel_accuracy, epoch + 1)
                writer.flush()
            is_best = scores is not None and scores.miou > best_miou
            if is_best:
                best_miou = scores.miou
            ckpt = {
                "model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if amp else {},
                "epoch": epoch + 1, "best_miou": best_miou, "config": _plain(cfg), "rng": gathered,
                "history": _plain(history),
            }
            save_checkpoint(ckpt, out_dir / CHECKPOINT_LAST)
            if is_best:
                save_checkpoint(ckpt, out_dir / CHECKPOINT_BEST)
                save_weights(out_dir / "model_best.safetensors", _unwrap(model),
                             _make_meta(cfg, train_set, output_stride, best_miou, epoch + 1))
            msg = f"epoch {epoch + 1}/{epochs}: loss {stats['loss']:.4f}, lr {stats['lr']:.2e}, " \
                  f"{stats['images_per_s']:.1f} img/s"
            if scores is not None:
                msg += f", val mIoU {scores.miou * 100:.2f}%, pixel acc. {scores.pixel_accuracy * 100:.2f}%"
            print(msg, flush=True)

    finished = last_epoch >= epochs
    ranks_agree = None
    if info.distributed:
        flat = torch.cat([p.detach().reshape(-1) for p in _unwrap(model).parameters()])
        ref = flat.clone()
        dist.broadcast(ref, 0)
        agree = torch.tensor([int(torch.equal(flat, ref))], device=info.device)
        dist.all_reduce(agree, op=dist.ReduceOp.MIN)
        ranks_agree = bool(agree.item())
    summary = {"epochs_done": last_epoch, "epochs": epochs, "finished": finished, "best_val_miou": best_miou,
               "final_val_miou": val_miou, "world_size": info.world_size, "ranks_agree": ranks_agree,
               "history": history, "output_dir": str(out_dir)}
    if info.main:
        if finished:
            path = save_weights(out_dir / "model_final.safetensors", _unwrap(model),
                                _make_meta(cfg, train_set, output_stride, val_miou, last_epoch))
            summary["weights"] = str(path)
        (out_dir / "summary.json").write_text(json.dumps(_plain(summary), indent=2))
        if writer is not None:
            writer.close()
    if info.distributed:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def _dataset_num_classes(cfg: dict) -> int:
    """Class count of the configured dataset without reading it (folder datasets: the classes file)."""
    known = {"camvid": 11, "voc": 21, "cityscapes": 19}
    name = cfg["data"]["dataset"]
    if name in known:
        return known[name]
    from .datasets import read_classes_file

    root = resolve_data_root(cfg["data"]["root"], cfg.get("_config_dir"))
    for f in ("classes.yaml", "classes.yml", "classes.txt"):
        if (root / f).is_file():
            return len(read_classes_file(root / f)[0])
    return 21


def benchmark_training(cfg: dict, iters: int = 10, warmup: int = 3) -> dict[str, Any]:
    """Training-step throughput (forward, loss, backward, SGD step) on random batches of
    ``train.batch_size`` x ``data.crop_size``; data loading is excluded. Needs no dataset."""
    tcfg, mcfg = cfg["train"], cfg["model"]
    info = setup_distributed(tcfg["device"])
    torch.manual_seed(int(tcfg["seed"]))
    num_classes = _dataset_num_classes(cfg)
    model = build_model(mcfg["name"], num_classes=num_classes, output_stride=mcfg["output_stride"],
                        **(mcfg["options"] or {})).to(info.device).train()
    criterion = build_loss(tcfg["loss"], ignore_index=255)
    optimizer = build_optimizer(model, cfg["optim"])
    amp = bool(tcfg["amp"]) and info.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    b, (h, w) = int(tcfg["batch_size"]), cfg["data"]["crop_size"]
    x = torch.randn(b, 3, h, w, device=info.device)
    y = torch.randint(0, num_classes, (b, h, w), device=info.device)
    times = []
    for i in range(warmup + iters):
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        train_step(model, x, y, criterion, optimizer, scaler, amp)
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    median = float(np.median(times))  # robust to other processes stealing the CPU now and then
    return {"model": mcfg["name"], "device": str(info.device), "threads": torch.get_num_threads(),
            "batch_size": b, "crop_size": [h, w], "iters": iters, "warmup": warmup, "amp": amp,
            "num_classes": num_classes, "seconds_per_iter": round(mean, 4),
            "median_seconds_per_iter": round(median, 4), "images_per_s": round(b / mean, 3),
            "images_per_s_median": round(b / median, 3)}
