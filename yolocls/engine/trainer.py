"""The training loop (YOLOv5 classify recipe): optimizer groups, LR schedule, EMA, AMP, checkpoints, resume, DDP.

Outputs of a run in ``<project>/<name>`` (incremented as exp, exp2, ... unless ``exist_ok``):
  weights/last.pt   model + EMA + optimizer + scheduler + epoch + updates (everything a resume needs)
  weights/best.pt   model + EMA of the epoch with the best EMA top-1 (no optimizer state)
  results.csv       one row per epoch, rewritten atomically each epoch
  results.png, confusion_matrix.png (of the best epoch)

Epochs are counted from 1 everywhere a user reads them (progress, messages, results.csv, plots,
:attr:`TrainResults.best_epoch`); only the checkpoints' ``epoch`` field keeps YOLOv5's 0-based index of the last
finished epoch. "val/loss" is plain cross-entropy (the same as ``yolocls val``); "train/loss" is the training
criterion, cross-entropy with ``label_smoothing``.

Short runs: BatchNorm's running statistics (momentum 0.03 in YOLOv5's layers) still carry their initial values
after a few dozen optimiser steps (0.97^k: 22% after 50 steps, 5% after 100), so while a run has made fewer than
:data:`PRECISE_BN_STEPS` steps they are recomputed on up to :data:`PRECISE_BN_IMAGES` training images (without
augmentation) before each validation ("precise BN"); otherwise a small dataset validates at chance with weights that
already classify it. Past that the running statistics have settled, and recomputing them measured worse: on `digits`
(23 steps an epoch, 10 epochs) precise BN until 500 steps ended at top-1 0.952 (best 0.966), until 100 at 0.994.

Reproducibility: every epoch re-seeds the global RNGs, the loader's generator and the augmentation from
(seed, epoch, rank), so epoch ``e`` sees the same shuffling and augmentation whether the run got there in one go
or through a resume. A run of 4 epochs and a run stopped after 2 then resumed to 4 give the same results.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from yolocls.engine import distributed as D
from yolocls.engine.ema import ModelEMA
from yolocls.errors import CheckpointError, InputError

OPTIMIZERS = ("SGD", "Adam", "AdamW")
RESULT_KEYS = ("epoch", "train/loss", "val/loss", "metrics/accuracy_top1", "metrics/accuracy_top5", "lr")
#: Below this many optimiser steps BatchNorm statistics are recomputed before validating (see the module doc).
PRECISE_BN_STEPS = 100
#: Training images (no augmentation) the recomputation averages over.
PRECISE_BN_IMAGES = 2048
#: Fewer optimiser steps than this in a whole run draws a warning (a model from scratch learns little in so few).
FEW_STEPS = 100
#: Settings a dataset may recommend (None in :class:`TrainConfig`) and what applies when it does not.
FALLBACK_SETTINGS: dict[str, Any] = {"imgsz": 224, "augment": True, "optimizer": "Adam", "lr0": 1e-3}
#: What ``--resume`` may change; any other setting given with a value unlike the checkpoint's run is refused.
RESUME_MAY_CHANGE = ("epochs", "patience", "workers", "device", "cache", "plots", "progress")
_FLAG_OF = {"pretrained": "--weights", "weight_decay": "--decay"}


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in checkpoints as ``train_args``).

    ``model`` is a zoo name (random init); ``pretrained`` is a checkpoint (ours or an official YOLOv5 ``*-cls.pt``)
    whose head is re-initialised when the dataset's class count differs. ``resume`` is a ``last.pt`` path, or True
    for the newest ``last.pt`` under ``project``. ``batch_size`` is the total over all DDP processes.
    ``augment`` turns the YOLOv5 train augmentation (random resized crop, flip, colour jitter) on or off.
    ``warmup_epochs`` ramps the LR linearly from 0 per iteration; ``patience`` stops after that many epochs
    without a better top-1 (0: never). ``imgsz``, ``augment``, ``optimizer`` and ``lr0`` left at None take the
    dataset's recommendation (:func:`yolocls.data.dataset.recommended_train_settings`; ``digits``: 32 px, no
    augmentation, Adam 0.003), else :data:`FALLBACK_SETTINGS` (224 px, augmentation, Adam 1e-3).
    """

    model: str | None = "yolov5s-cls"
    pretrained: str | None = None
    data: str = "digits"
    epochs: int = 10
    batch_size: int = 64
    imgsz: int | None = None
    optimizer: str | None = None
    lr0: float | None = None
    lrf: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-5
    cos_lr: bool = False
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.1
    dropout: float | None = None
    ema: bool = True
    amp: bool = True
    grad_clip: float = 10.0
    patience: int = 0
    seed: int = 0
    workers: int = 2
    device: str = ""
    cache: bool = False
    augment: bool | None = None
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False
    resume: bool | str = False
    plots: bool = True
    progress: bool = True

    def resolved(self) -> TrainConfig:
        """A copy whose None settings are filled from the dataset's recommendation, then :data:`FALLBACK_SETTINGS`."""
        unset = [k for k in FALLBACK_SETTINGS if getattr(self, k) is None]
        if not unset:
            return self
        from yolocls.data.dataset import recommended_train_settings

        rec = recommended_train_settings(self.data)
        return TrainConfig(**{**asdict(self), **{k: rec.get(k, FALLBACK_SETTINGS[k]) for k in unset}})

    def check(self) -> None:
        """Raise :class:`InputError` (one line) for values that cannot work (on a :meth:`resolved` config)."""
        def bad(msg: str) -> None:
            raise InputError(msg)

        if self.model is None and self.pretrained is None:
            bad("give a model name (--model) or pretrained weights (--weights)")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            bad(f"epochs must be >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad(f"batch size must be >= 1, got {self.batch_size!r}")
        if not isinstance(self.imgsz, int) or self.imgsz < 8:
            bad(f"imgsz must be an integer >= 8, got {self.imgsz!r}")
        if str(self.optimizer).lower() not in {o.lower() for o in OPTIMIZERS}:
            bad(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.lr0 is None or not self.lr0 > 0 or not 0 < self.lrf <= 1:
            bad(f"need lr0 > 0 and 0 < lrf <= 1, got lr0={self.lr0} lrf={self.lrf}")
        if not 0 <= self.label_smoothing < 1:
            bad(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.warmup_epochs < 0 or self.workers < 0 or self.patience < 0 or self.weight_decay < 0:
            bad("warmup epochs, workers, patience and weight decay must be >= 0")
        if self.grad_clip <= 0:
            bad(f"grad clip must be > 0, got {self.grad_clip}")


@dataclass
class TrainResults:
    """What a run produced. ``rows`` are the results.csv rows; identical on every DDP rank. ``best_epoch`` counts
    from 1 (0: no epoch finished, so there is no best model yet)."""

    save_dir: Path
    last: Path
    best: Path
    best_fitness: float
    best_epoch: int
    epochs_completed: int
    rows: list[dict[str, float]] = field(default_factory=list)
    train_images_per_second: float = 0.0
    train_seconds: float = 0.0
    interrupted: bool = False
    stopped_early: bool = False


class LinearOrCosine:
    """LR multiplier per epoch: linear 1 -> lrf or half-cosine 1 -> lrf over ``epochs`` (YOLOv5's ``lf``).

    A class, not a lambda, so LambdaLR's state_dict (which stores callable objects' __dict__) round-trips.
    """

    def __init__(self, epochs: int, lrf: float, cosine: bool) -> None:
        self.epochs, self.lrf, self.cosine = int(epochs), float(lrf), bool(cosine)

    def __call__(self, epoch: int) -> float:
        x = min(epoch, self.epochs) / self.epochs
        if self.cosine:
            return ((1 - math.cos(x * math.pi)) / 2) * (self.lrf - 1) + 1
        return (1 - x) * (1.0 - self.lrf) + self.lrf


def build_optimizer(model: nn.Module, name: str, lr: float, momentum: float, decay: float) -> torch.optim.Optimizer:
    """Optimizer with 3 parameter groups (YOLOv5's): norm-layer weights and biases without weight decay,
    every other weight with ``decay``. Adam/AdamW use betas (momentum, 0.999); SGD uses Nesterov momentum.
    """
    norm_types = tuple(v for k, v in vars(nn).items() if "Norm" in k and isinstance(v, type))
    g_norm: list[nn.Parameter] = []
    g_weight: list[nn.Parameter] = []
    g_bias: list[nn.Parameter] = []
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if pname == "bias":
                g_bias.append(p)
            elif isinstance(module, norm_types):
                g_norm.append(p)
            else:
                g_weight.append(p)
    key = name.lower()
    if key == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(g_norm, lr=lr, betas=(momentum, 0.999))
    elif key == "adamw":
        opt = torch.optim.AdamW(g_norm, lr=lr, betas=(momentum, 0.999), weight_decay=0.0)
    elif key == "sgd":
        opt = torch.optim.SGD(g_norm, lr=lr, momentum=momentum, nesterov=True)
    else:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    opt.add_param_group({"params": g_weight, "weight_decay": decay})
    opt.add_param_group({"params": g_bias, "weight_decay": 0.0})
    return opt


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    seed = int(seed) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (int(seed) * 1_000_003 + epoch * 7919 + rank * 104_729) % (2**31)


def _reseed_data(loader: Any, seed: int, epoch: int) -> None:
    """Make epoch ``epoch``'s shuffling and augmentation a function of (seed, epoch) only."""
    sampler: Any = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)  # DistributedSampler shuffles from (seed, epoch)
    gen = getattr(loader, "generator", None)
    if isinstance(gen, torch.Generator):
        gen.manual_seed(seed)
    ds: Any = getattr(loader, "dataset", None)
    if hasattr(ds, "set_epoch"):
        ds.set_epoch(epoch)
    if hasattr(ds, "reseed"):
        ds.reseed(seed)  # the main-process augmentation stream; workers are seeded by their init function


def _flag_name(field_name: str) -> str:
    return _FLAG_OF.get(field_name, "--" + field_name.replace("_", "-"))


def _as_flag(field_name: str, value: Any) -> str:
    """How a setting reads on the command line: ``--imgsz 32``, ``--no-augment``."""
    flag = _flag_name(field_name)
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    return f"{flag} {value}"


def find_last_checkpoint(project: str | Path) -> Path:
    """The most recently written ``*/weights/last.pt`` under ``project``."""
    found = sorted(Path(project).glob("*/weights/last.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise CheckpointError(f"no run to resume: no */weights/last.pt under {project}; pass --resume PATH")
    return found[-1]


def _remove_stale_temp_files(save_dir: Path) -> None:
    """Delete the temp files of atomic writes that a killed run left (``.last.pt.<random>.tmp``, ...).

    They never replace the real files (the rename is what publishes a write), but each can be as large as a
    checkpoint, and a run killed repeatedly would pile them up.
    """
    import contextlib

    for folder, targets in ((save_dir / "weights", ("last.pt", "best.pt")), (save_dir, ("results.csv",))):
        for target in targets:
            for tmp in folder.glob(f".{target}.*.tmp"):
                with contextlib.suppress(OSError):  # another rank may have removed it already
                    tmp.unlink()


def write_results_csv(path: Path, rows: list[dict[str, float]]) -> None:
    from yolocls.utils.files import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RESULT_KEYS)
    for r in rows:
        w.writerow([int(r["epoch"])] + [f"{r[k]:.6g}" for k in RESULT_KEYS[1:]])
    atomic_write_text(path, buf.getvalue())


class Trainer:
    """Train a classifier. ``Trainer(TrainConfig(...)).train() -> TrainResults``.

    ``callbacks`` maps an event name to functions called as ``fn(trainer)``: ``on_batch_end`` (after each
    optimizer step; ``trainer.epoch``/``trainer.batch`` are current), ``on_epoch_end`` (after the checkpoints of an
    epoch are saved; ``trainer.rows`` is current) and ``on_train_end``.
    :meth:`request_stop` (also bound to SIGINT) finishes the current batch, saves last.pt and returns.

    Resuming (``cfg.resume``) continues the checkpoint's run with its settings; ``given`` names the settings the
    user set for this call (the CLI passes the flags on its command line; default: the fields of ``cfg`` that
    differ from :class:`TrainConfig`'s defaults). Of those, :data:`RESUME_MAY_CHANGE` apply (``epochs``: train
    on to a new total, the LR schedule stretched to it) and any other whose value differs from the run's is
    refused with one :class:`InputError` naming them.
    """

    def __init__(self, cfg: TrainConfig | None = None, callbacks: dict[str, list[Callable[[Trainer], Any]]] | None = None,
                 given: Iterable[str] | None = None, **overrides: Any) -> None:
        cfg = cfg if cfg is not None else TrainConfig()
        if overrides:
            known = {f.name for f in fields(TrainConfig)}
            unknown = sorted(set(overrides) - known)
            if unknown:
                raise InputError(f"unknown training option(s): {', '.join(unknown)}")
            cfg = TrainConfig(**{**asdict(cfg), **overrides})
        self.cfg = cfg
        if given is None:
            defaults = TrainConfig()
            given = [f.name for f in fields(TrainConfig) if getattr(cfg, f.name) != getattr(defaults, f.name)]
        self.given = set(given) - {"resume"}
        self.callbacks = callbacks or {}
        self.epoch = -1
        self.batch = -1
        self.rows: list[dict[str, float]] = []
        self._stop = False
        self.save_dir: Path | None = None

    def request_stop(self) -> None:
        """Stop after the current batch (or before the next epoch), saving last.pt."""
        self._stop = True

    def _fire(self, event: str) -> None:
        for fn in self.callbacks.get(event, []):
            fn(self)

    # -- setup ----------------------------------------------------------------------------------------------------

    def _load_resume(self) -> dict[str, Any]:
        from yolocls.models.checkpoint import read_checkpoint

        resume = self.cfg.resume
        path = find_last_checkpoint(self.cfg.project) if resume is True or resume == "True" else Path(str(resume))
        if not path.is_file():
            raise CheckpointError(f"cannot resume: {path} is not a file; pass the run's weights/last.pt")
        ckpt = read_checkpoint(path)
        args = ckpt.get("train_args")
        if not isinstance(args, dict) or ckpt.get("optimizer") is None:
            raise CheckpointError(f"cannot resume from {path}: it has no training state (use a last.pt, "
                                  "or start a new run with --weights to fine-tune it)")
        known = {f.name for f in fields(TrainConfig)}
        restored = {k: v for k, v in args.items() if k in known}
        differ = sorted(k for k in self.given & set(restored)
                        if k not in RESUME_MAY_CHANGE and getattr(self.cfg, k) != restored[k])
        if differ:
            theirs = " ".join(_as_flag(k, restored[k]) for k in differ)
            may = ", ".join(_FLAG_OF.get(k, "--" + k.replace("_", "-")) for k in RESUME_MAY_CHANGE if k != "progress")
            raise InputError(f"cannot change {', '.join(_flag_name(k) for k in differ)} when resuming {path}: its run "
                             f"used {theirs}; a resume may change only {may}. To train on with other settings, "
                             f"start a new run from it: --weights {path}")
        keep = {"device": self.cfg.device, "workers": self.cfg.workers, "progress": self.cfg.progress}
        keep.update({k: getattr(self.cfg, k) for k in self.given & set(RESUME_MAY_CHANGE)})
        self.cfg = TrainConfig(**{**restored, **keep, "resume": str(path)})
        self.save_dir = path.parent.parent
        _remove_stale_temp_files(self.save_dir)
        ckpt["_path"] = path
        return ckpt

    def _build_model(self, num_classes: int, names: list[str], device: torch.device) -> Any:
        from yolocls.models import create_model

        cfg = self.cfg
        kwargs = {} if cfg.dropout is None else {"dropout": cfg.dropout}
        if cfg.pretrained:
            from yolocls.models.checkpoint import load_model

            model = load_model(cfg.pretrained, device="cpu")
            model = model.float()
            if model.num_classes != num_classes:
                model.reset_classifier(num_classes)
        else:
            model = create_model(str(cfg.model), num_classes=num_classes, names=names, **kwargs)
        model.names = list(names)
        model.preprocess = model.preprocess.replace(imgsz=cfg.imgsz)
        for p in model.parameters():
            p.requires_grad_(True)
        return model.to(device).train()

    # -- the loop ---------------------------------------------------------------------------------------------------

    def train(self) -> TrainResults:
        from yolocls.utils.torch_utils import select_device

        resume_ckpt = self._load_resume() if self.cfg.resume else None
        cfg = self.cfg = self.cfg.resolved()
        cfg.check()
        if cfg.model and not cfg.pretrained:
            from yolocls.models.registry import get_entry

            get_entry(cfg.model)  # unknown names fail before any data work
        device = select_device(cfg.device)
        local_rank = D.dist_info().local_rank
        if device.type == "cuda" and local_rank >= 0 and str(cfg.device).strip().lower() in ("", "cuda"):
            # under torchrun with the default device each process takes the GPU of its local rank
            if local_rank >= torch.cuda.device_count():
                raise InputError(f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                                 "lower --nproc_per_node")
            device = torch.device(f"cuda:{local_rank}")
        info = D.init_distributed(device)
        self._new_run_dir: Path | None = None
        try:
            return self._train(cfg, device, info, resume_ckpt)
        except BaseException:
            if self._new_run_dir is not None:  # a fresh run that failed before writing anything leaves no exp2/
                from yolocls.utils.files import remove_if_empty

                remove_if_empty(self._new_run_dir)
            raise
        finally:
            D.cleanup_distributed()

    def _train(self, cfg: TrainConfig, device: torch.device, info: D.DistInfo,
               resume_ckpt: dict[str, Any] | None) -> TrainResults:
        from yolocls.data.dataset import ImageFolderDataset, find_split, resolve_dataset, scan_image_folder
        from yolocls.data.loader import build_dataloader
        from yolocls.engine.validator import validate
        from yolocls.utils.files import increment_path, make_run_dir, remove_stale_temps
        from yolocls.utils.torch_utils import recompute_batchnorm

        main = info.is_main
        seed_everything(cfg.seed + info.rank)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True

        # data (rank 0 materialises a built-in dataset first)
        with D.main_process_first():
            root = resolve_dataset(cfg.data)
            train_dir, val_dir = find_split(root, "train"), find_split(root, "val")
        _, names = scan_image_folder(train_dir)  # class list without decoding anything
        model = self._build_model(len(names), names, device)
        imgsz = int(cfg.imgsz or FALLBACK_SETTINGS["imgsz"])
        train_ds = ImageFolderDataset(train_dir, imgsz, augment=bool(cfg.augment), preprocess=model.preprocess,
                                      cache=cfg.cache, names=names)
        val_ds = ImageFolderDataset(val_dir, imgsz, augment=False, preprocess=model.preprocess,
                                    cache=cfg.cache, names=names) if main else None

        # run folder (after the data and model are known to work): decided on rank 0, shared with the others
        if self.save_dir is None:
            self.save_dir = increment_path(Path(cfg.project) / cfg.name, exist_ok=cfg.exist_ok) if main else None
            self.save_dir = D.broadcast_object(self.save_dir)
        save_dir = Path(self.save_dir)  # type: ignore[arg-type]
        wdir = save_dir / "weights"
        last, best = wdir / "last.pt", wdir / "best.pt"
        if main:
            if resume_ckpt is None and not save_dir.exists():
                self._new_run_dir = save_dir
            make_run_dir(wdir)
            for run in save_dir.parent.iterdir():  # temp files that killed runs left beside their outputs
                if run.is_dir():
                    remove_stale_temps(run)
                    remove_stale_temps(run / "weights")

        world = info.world_size
        if cfg.batch_size % world:
            raise InputError(f"batch size {cfg.batch_size} must be a multiple of the {world} DDP processes")
        bs = cfg.batch_size // world
        train_loader = build_dataloader(train_ds, bs, shuffle=True, workers=cfg.workers,
                                        distributed=info.enabled, seed=cfg.seed)
        val_loader = build_dataloader(val_ds, bs * 2, shuffle=False, workers=cfg.workers) if val_ds else None
        nb = len(train_loader)
        if nb == 0:
            raise InputError(f"the training set has fewer images than one batch ({bs}); lower --batch-size")

        optimizer = build_optimizer(model, str(cfg.optimizer), float(cfg.lr0 or FALLBACK_SETTINGS["lr0"]),
                                    cfg.momentum, cfg.weight_decay)
        lf = LinearOrCosine(cfg.epochs, cfg.lrf, cfg.cos_lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf)
        ema = ModelEMA(model) if (cfg.ema and main) else None
        use_amp = cfg.amp and device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

        start_epoch, best_fitness, best_epoch = 0, 0.0, -1
        self.rows = []
        if resume_ckpt is not None:
            start_epoch, best_fitness, best_epoch = self._restore(resume_ckpt, model, ema, optimizer, scheduler,
                                                                  scaler)
            if start_epoch >= cfg.epochs:
                raise InputError(f"{resume_ckpt['_path']} already finished {start_epoch} epoch(s); to train on, "
                                 f"resume with more: --epochs {start_epoch + max(cfg.epochs // 2, 1)} (or start a "
                                 "new run with --weights)")
            if lf.epochs != cfg.epochs:  # --epochs changed: the schedule stretches to the new total from here on
                lf.epochs = cfg.epochs
                for g, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                    g["lr"] = base * lf(start_epoch)
                scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]  # type: ignore[attr-defined]

        train_model: nn.Module = model
        if info.enabled:
            train_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)

        nw = max(round(cfg.warmup_epochs * nb), 1) if cfg.warmup_epochs > 0 else 0
        total_steps = nb * cfg.epochs
        bn_loader = None
        if main:
            n_params = sum(p.numel() for p in model.parameters())
            print(f"yolocls train: {model.model_name} ({n_params:,} params), {len(train_ds)} train / "
                  f"{len(val_ds) if val_ds else 0} val images, {len(names)} classes, imgsz {imgsz}, "
                  f"{'' if cfg.augment else 'no '}augmentation, {world} process(es) on {device}, {cfg.optimizer} "
                  f"lr0 {cfg.lr0}, {cfg.epochs} epochs x {nb} steps -> {save_dir}")
            if getattr(train_ds, "num_corrupt", 0):
                print(f"yolocls train: skipped {train_ds.num_corrupt} corrupt training image(s)")
            if (start_epoch + 1) * nb < PRECISE_BN_STEPS:
                # BN statistics (momentum 0.03) do not settle in so few steps: recompute them before validating
                n_bn = min(len(train_ds), PRECISE_BN_IMAGES)
                print(f"yolocls train: BatchNorm statistics are recomputed on {n_bn} training images before each "
                      f"validation until {PRECISE_BN_STEPS} optimiser steps (precise BN)")
                bn_ds = ImageFolderDataset(train_dir, imgsz, augment=False, preprocess=model.preprocess,
                                           cache=cfg.cache, names=names)
                bn_subset = torch.utils.data.Subset(bn_ds, range(n_bn)) if n_bn < len(bn_ds) else bn_ds
                bn_loader = build_dataloader(bn_subset, bs * 2, shuffle=False, workers=cfg.workers)
            if total_steps < FEW_STEPS:
                smaller = 2 ** max(int(math.log2(max(len(train_ds) // 4, 1))), 0)  # >= 4 steps an epoch
                hint = (f"lower --batch-size (e.g. {smaller}) or raise --epochs"
                        if bs * 4 > len(train_ds) else "raise --epochs")
                print(f"yolocls train: warning: only {total_steps} optimiser step(s) in all ({len(train_ds)} "
                      f"images, batch {cfg.batch_size}, {cfg.epochs} epochs); a model from scratch learns little in "
                      f"so few: {hint}")

        prev_handler = self._install_sigint()
        t_train = 0.0
        n_seen = 0
        interrupted = stopped_early = False
        epoch = start_epoch - 1
        best_val = None
        try:
            for epoch in range(start_epoch, cfg.epochs):
                if D.any_rank(self._stop, device):
                    interrupted = True
                    if main:
                        held = f"epochs 1-{epoch}" if epoch > 1 else ("epoch 1" if epoch == 1 else "no finished epoch")
                        print(f"yolocls train: interrupted before epoch {epoch + 1}; {last} holds {held} "
                              "(continue with --resume)")
                    epoch -= 1  # this epoch never started
                    break
                self.epoch = epoch
                es = _epoch_seed(cfg.seed, epoch, info.rank)
                seed_everything(es)
                if cfg.workers > 0 and epoch > start_epoch:
                    # fresh workers every epoch, seeded from (seed, epoch): persistent workers would carry their
                    # augmentation streams across epochs, so a resumed run would see different crops
                    del train_loader
                    train_loader = build_dataloader(train_ds, bs, shuffle=True, workers=cfg.workers,
                                                    distributed=info.enabled, seed=cfg.seed)
                _reseed_data(train_loader, es, epoch)
                train_model.train()
                tloss_sum, tloss_n = 0.0, 0
                t0 = time.perf_counter()
                pbar = self._progress(train_loader, epoch, main)
                for i, (images, labels) in enumerate(pbar):
                    ni = i + nb * epoch
                    if ni < nw:  # linear warmup of every group from 0 to its scheduled LR
                        for g in optimizer.param_groups:
                            g["lr"] = g["initial_lr"] * lf(epoch) * (ni + 1) / nw
                    images = images.to(device, non_blocking=True)
                    labels = labels.to(device, non_blocking=True)
                    with torch.autocast(device_type=device.type, enabled=use_amp):
                        loss = criterion(train_model(images), labels)
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), max_norm=cfg.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    if ema is not None:
                        ema.update(model)
                    tloss_sum += float(loss.detach()) * images.shape[0]
                    tloss_n += images.shape[0]
                    if main and hasattr(pbar, "set_postfix_str"):
                        dt = time.perf_counter() - t0
                        pbar.set_postfix_str(f"loss {tloss_sum / tloss_n:.4f} lr {optimizer.param_groups[0]['lr']:.2e}"
                                             f" {tloss_n * world / max(dt, 1e-9):.0f} img/s")
                    self.batch = i
                    self._fire("on_batch_end")
                    stop_now = D.any_rank(self._stop, device) if info.enabled else self._stop
                    if stop_now:
                        interrupted = True
                        break
                if hasattr(pbar, "close"):
                    pbar.close()
                t_train += time.perf_counter() - t0
                n_seen += tloss_n * world
                lr_now = optimizer.param_groups[0]["lr"]
                train_loss = D.all_reduce_mean(tloss_sum / max(tloss_n, 1), device)
                if interrupted:  # mid-epoch: keep the weights, resume restarts this epoch
                    if main:
                        self._save(last, model, ema, optimizer, scheduler, scaler, epoch - 1, best_fitness,
                                   best_epoch, with_optimizer=True)
                        print(f"yolocls train: interrupted in epoch {epoch + 1}; saved {last} "
                              f"(resume restarts epoch {epoch + 1})")
                    epoch -= 1
                    break
                scheduler.step()

                row: dict[str, float] | None = None
                if main:
                    assert val_loader is not None
                    eval_model = ema.ema if ema is not None else model
                    if bn_loader is not None and (epoch + 1) * nb < PRECISE_BN_STEPS:
                        recompute_batchnorm(eval_model, bn_loader, device)
                    # val/loss: plain cross-entropy (no label smoothing), the same number `yolocls val` prints
                    vr = validate(eval_model, dataloader=val_loader, device=device, progress=False, names=names)
                    row = {"epoch": epoch + 1, "train/loss": train_loss, "val/loss": vr.loss,
                           "metrics/accuracy_top1": vr.top1, "metrics/accuracy_top5": vr.top5, "lr": lr_now}
                    self.rows.append(row)
                    if vr.top1 > best_fitness or best_epoch < 0:
                        best_fitness, best_epoch, best_val = vr.top1, epoch, vr
                    self._save(last, model, ema, optimizer, scheduler, scaler, epoch, best_fitness, best_epoch,
                               with_optimizer=True)
                    if best_epoch == epoch:
                        self._save(best, model, ema, optimizer, scheduler, scaler, epoch, best_fitness, best_epoch,
                                   with_optimizer=False)
                    write_results_csv(save_dir / "results.csv", self.rows)
                    if cfg.progress:
                        print(f"  epoch {epoch + 1}/{cfg.epochs}: train loss {train_loss:.4f}  val loss "
                              f"{vr.loss:.4f}  top1 {vr.top1:.4f}  top5 {vr.top5:.4f}  "
                              f"({time.perf_counter() - t0:.1f} s)", flush=True)
                # every rank sees rank 0's row, best and stop decision
                shared = D.broadcast_object((self.rows, best_fitness, best_epoch))
                self.rows, best_fitness, best_epoch = shared
                self._fire("on_epoch_end")
                if cfg.patience and epoch - best_epoch >= cfg.patience:
                    stopped_early = True
                    if main:
                        print(f"yolocls train: no top-1 improvement for {cfg.patience} epochs; stopping early")
                    break
        finally:
            self._restore_sigint(prev_handler)

        if main and cfg.plots and self.rows:
            from yolocls.engine.plots import plot_confusion_matrix, plot_results

            plot_results(self.rows, save_dir / "results.png", best_epoch=best_epoch + 1, num_classes=len(names),
                         label_smoothing=cfg.label_smoothing)
            if best_val is None and best.is_file():
                best_val = validate(best, dataloader=val_loader, device=device, progress=False, names=names)
            if best_val is not None:
                plot_confusion_matrix(best_val.confusion, names, save_dir / "confusion_matrix.png")
        ips = n_seen / t_train if t_train > 0 else 0.0
        if main:
            best_text = (f"best top-1 {best_fitness:.4f} at epoch {best_epoch + 1}" if best_epoch >= 0
                         else "no epoch finished, so no best model yet")
            print(f"yolocls train: {epoch + 1 - start_epoch} epoch(s) in {t_train:.1f} s ({ips:.0f} training "
                  f"images/s); {best_text}; results in {save_dir}")
        self._fire("on_train_end")
        return TrainResults(save_dir=save_dir, last=last, best=best, best_fitness=best_fitness,
                            best_epoch=best_epoch + 1, epochs_completed=epoch + 1, rows=list(self.rows),
                            train_images_per_second=ips, train_seconds=t_train, interrupted=interrupted,
                            stopped_early=stopped_early)

    # -- helpers ----------------------------------------------------------------------------------------------------

    def _progress(self, loader: Any, epoch: int, main: bool) -> Any:
        if not (main and self.cfg.progress):
            return loader
        from yolocls.utils.progress import progress

        return progress(loader, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", total=len(loader))

    def _save(self, path: Path, model: nn.Module, ema: ModelEMA | None, optimizer: torch.optim.Optimizer,
              scheduler: Any, scaler: torch.amp.GradScaler, epoch: int, best_fitness: float, best_epoch: int,
              with_optimizer: bool) -> None:
        from yolocls.models.checkpoint import save_checkpoint

        if ema is not None:
            ema.update_attr(model)
        extra: dict[str, Any] = {"best_epoch": best_epoch, "results": list(self.rows)}
        if with_optimizer:
            extra["scaler"] = scaler.state_dict()
        save_checkpoint(path, model, ema=ema.ema if ema is not None else None,
                        optimizer=optimizer if with_optimizer else None,
                        scheduler=scheduler if with_optimizer else None, epoch=epoch, best_fitness=best_fitness,
                        updates=ema.updates if ema is not None else 0, train_args=asdict(self.cfg), extra=extra)

    def _restore(self, ckpt: dict[str, Any], model: nn.Module, ema: ModelEMA | None,
                 optimizer: torch.optim.Optimizer, scheduler: Any, scaler: torch.amp.GradScaler
                 ) -> tuple[int, float, int]:
        """Load weights, EMA, optimizer, scheduler and counters of a last.pt; returns (start_epoch, best, best_epoch)."""
        from yolocls.models.checkpoint import model_from_checkpoint

        src = model_from_checkpoint(ckpt, use_ema=False)
        model.load_state_dict(src.state_dict())
        if ema is not None:
            ema_src = model_from_checkpoint(ckpt, use_ema=True)
            ema.ema.load_state_dict(ema_src.state_dict())
            ema.updates = int(ckpt.get("updates") or 0)
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scheduler") is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        extra = ckpt.get("extra") or {}
        if extra.get("scaler"):
            scaler.load_state_dict(extra["scaler"])
        self.rows = [dict(r) for r in extra.get("results", [])]
        epoch = int(ckpt.get("epoch", -1))
        if self.rows and int(self.rows[-1]["epoch"]) == epoch:  # rows of an older version counted from 0
            for r in self.rows:
                r["epoch"] = int(r["epoch"]) + 1
        best = float(ckpt.get("best_fitness") or 0.0)
        if D.dist_info().is_main:
            print(f"yolocls train: resuming {ckpt['_path']} after epoch {epoch + 1}: epochs {epoch + 2}-"
                  f"{self.cfg.epochs} (EMA updates {ema.updates if ema else 0})")
        return epoch + 1, best, int(extra.get("best_epoch", -1))

    def _install_sigint(self) -> dict[int, Any] | None:
        """SIGINT (Ctrl-C) and SIGTERM (torchrun's agent, batch schedulers) finish the batch and save last.pt;
        a second signal aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            return None
        trainer = self

        def handler(signum: int, frame: Any) -> None:
            if trainer._stop:  # second signal: give up immediately
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                raise SystemExit(128 + signum)
            trainer._stop = True
            print(f"\nyolocls train: {signal.Signals(signum).name}: stopping after this batch (again to abort)",
                  flush=True)

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_sigint(prev: dict[int, Any] | None) -> None:
        for sig, old in (prev or {}).items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, old)


def train(cfg: TrainConfig | None = None, **kwargs: Any) -> TrainResults:
    """Train with a :class:`TrainConfig` and/or its fields as keyword arguments; see :class:`Trainer`."""
    return Trainer(cfg, **kwargs).train()
