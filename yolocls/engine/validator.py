"""Validation: top-1/top-5, loss, per-class accuracy, confusion matrix and speed, for a torch model or any
:mod:`yolocls.runtime` backend (so an exported .onnx/.engine validates exactly like its PyTorch model).

Images go through the model's own :class:`~yolocls.spec.PreprocessConfig` (:func:`yolocls.spec.apply`: the
C++ kernel when built, else the NumPy reference it matches), which is what deployment does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from yolocls.engine.metrics import ConfusionMatrix, topk_correct
from yolocls.errors import DatasetError, InputError


@dataclass
class ValResults:
    """Results of one validation pass.

    Attributes:
        top1, top5: accuracy in [0, 1] (top-5 is top-k with k = min(5, classes)).
        loss: mean criterion value per image (plain cross-entropy unless the caller gave another).
        confusion: int64 ``[C, C]``, rows = true class, columns = predicted class.
        per_class: float64 ``[C]`` accuracy per true class (NaN for classes without images).
        speed: milliseconds per image for ``preprocess`` (waiting for decoded, preprocessed batches),
            ``inference`` and ``postprocess`` (loss, softmax/top-k, metric updates).
    """

    top1: float
    top5: float
    loss: float
    num_images: int
    names: list[str]
    confusion: np.ndarray
    per_class: np.ndarray
    speed: dict[str, float] = field(default_factory=dict)
    num_corrupt: int = 0
    backend: str = "torch"
    split_dir: str = ""  # the split folder that was validated (when validate() opened the dataset itself)

    @property
    def fitness(self) -> float:
        """What 'best model' means: top-1 accuracy."""
        return self.top1

    def to_dict(self) -> dict[str, Any]:
        return {
            "top1": self.top1, "top5": self.top5, "loss": self.loss, "num_images": self.num_images,
            "num_corrupt": self.num_corrupt, "backend": self.backend, "speed_ms_per_image": dict(self.speed),
            "split_dir": self.split_dir, "names": list(self.names), "confusion": self.confusion.tolist(),
            "per_class": {n: (None if np.isnan(a) else float(a)) for n, a in zip(self.names, self.per_class, strict=False)},
        }


def _open_model(model: Any, device: torch.device, precision: str | None = None) -> Any:
    """A path becomes a torch module (.pt) or a runtime backend (other suffixes); objects pass through."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.exists():
            raise FileNotFoundError(2, "No such file", str(path))
        if path.suffix == ".pt":
            if precision is not None:
                raise InputError(f"precision is an OpenVINO option; {path.name} runs in PyTorch: validate its .onnx "
                                 "export instead")
            from yolocls.models.checkpoint import load_model

            return load_model(path, device=device)
        from yolocls import runtime

        return runtime.load(path, device=str(device), precision=precision)
    if precision is not None:
        raise InputError("precision applies when the model is given as a path; pass it to the backend you built")
    return model


def _model_preprocess(model: Any) -> tuple[Any, list[str]]:
    if isinstance(model, nn.Module):
        return model.preprocess, list(getattr(model, "names", []))
    meta = getattr(model, "metadata", None)
    if meta is None:
        raise InputError(f"cannot validate a {type(model).__name__}: pass a torch model, a Backend or a model path")
    return meta.preprocess, list(meta.names)


def _infer_backend(backend: Any, batch: np.ndarray) -> np.ndarray:
    """Backend logits for a batch; a static-batch model gets fixed-size chunks (:func:`infer_in_batches`)."""
    from yolocls.runtime.base import infer_in_batches

    meta = backend.metadata
    if meta.dynamic:
        return np.asarray(backend.infer(batch), dtype=np.float32)
    return np.asarray(infer_in_batches(backend.infer, batch, int(meta.batch)), dtype=np.float32)


def validate(model: Any, data: str | os.PathLike[str] | None = None, *, dataloader: Any = None,
             split: str = "val", imgsz: int | None = None, batch_size: int = 32, workers: int = 0,
             device: str | torch.device = "cpu", criterion: nn.Module | None = None,
             names: list[str] | None = None, half: bool = False, progress: bool = True,
             precision: str | None = None) -> ValResults:
    """Validate a classifier on an ImageFolder split.

    Args:
        model: a torch classifier (ClassifierBase), a :class:`yolocls.runtime.base.Backend`, or a path
            (``.pt`` -> torch; ``.onnx``/``.engine``/... -> :func:`yolocls.runtime.load`).
        data: dataset (``digits`` or a folder with ``val/``|``test/``); ignored when ``dataloader`` is given.
        dataloader: batches of (float32 ``[B,3,S,S]`` preprocessed images, int64 ``[B]`` labels).
        imgsz: override of the model's preprocessing size (exported models only accept their own size).
        criterion: loss on (logits, labels); plain cross-entropy by default.
        names: class list to map dataset folders onto (default: the dataset's sorted folder names).
        half: fp16 autocast for torch models on CUDA.
        precision: OpenVINO inference precision for an ``.onnx`` path (``f32``|``bf16``|``f16``|``default``), to
            measure what a reduced precision costs in accuracy; None = the backend's default (f32).

    Returns:
        :class:`ValResults`.
    """
    from yolocls.utils.torch_utils import select_device

    device = select_device(device)
    model = _open_model(model, device, precision)
    is_torch = isinstance(model, nn.Module)
    pp, model_names = _model_preprocess(model)
    if imgsz is not None and imgsz != pp.imgsz:
        if not is_torch and getattr(model, "name", "") != "torch":
            raise InputError(f"this exported model takes {pp.imgsz} px images; drop --imgsz {imgsz} or re-export "
                             f"at {imgsz}")
        pp = pp.replace(imgsz=int(imgsz))

    num_corrupt = 0
    split_dir = ""
    if dataloader is None:
        if data is None:
            raise InputError("validate needs data (a dataset name or folder) or a dataloader")
        from yolocls.data.dataset import ImageFolderDataset, find_split, resolve_dataset
        from yolocls.data.loader import build_dataloader

        root = resolve_dataset(data, splits=(split,))
        folder = find_split(root, split)
        split_dir = str(folder)
        val_ds = ImageFolderDataset(folder, pp.imgsz, augment=False, preprocess=pp, names=names)
        dataloader = build_dataloader(val_ds, batch_size, shuffle=False, workers=workers)
    ds = getattr(dataloader, "dataset", None)
    ds_names = list(getattr(ds, "names", None) or names or model_names)
    nc_model = len(model_names) if model_names else (model.num_classes if is_torch else len(ds_names))
    if len(ds_names) != nc_model:
        raise DatasetError(f"the dataset has {len(ds_names)} classes but the model predicts {nc_model}; "
                           "validate on the dataset the model was trained on")
    cm = ConfusionMatrix(len(ds_names))
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()

    was_training = is_torch and model.training
    if is_torch:
        model.eval()
        model_device = next(model.parameters()).device
    n = correct1 = correct5 = 0
    loss_sum = 0.0
    t_pre = t_inf = t_post = 0.0
    it = iter(dataloader)
    bar = None
    if progress:
        from yolocls.utils.progress import progress as progress_bar

        bar = progress_bar(total=len(dataloader), desc="val")
    try:
        with torch.inference_mode():
            while True:
                t0 = time.perf_counter()
                try:
                    images, labels = next(it)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                if is_torch:
                    x = images.to(model_device, non_blocking=True)
                    with torch.autocast(device_type=model_device.type,
                                        enabled=half and model_device.type == "cuda"):
                        logits = model(x).float()
                    if model_device.type == "cuda":
                        torch.cuda.synchronize(model_device)
                    logits = logits.cpu()
                else:
                    logits = torch.from_numpy(_infer_backend(model, np.ascontiguousarray(images.numpy())))
                t2 = time.perf_counter()
                labels = labels.long()
                loss_sum += float(criterion(logits, labels)) * labels.shape[0]
                c1, c5 = topk_correct(logits, labels, (1, 5))
                correct1 += c1
                correct5 += c5
                cm.update(logits.argmax(1), labels)
                n += labels.shape[0]
                t3 = time.perf_counter()
                t_pre += t1 - t0
                t_inf += t2 - t1
                t_post += t3 - t2
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if was_training:
            model.train()
    if n == 0:
        raise DatasetError("the validation set is empty")
    num_corrupt = int(getattr(ds, "num_corrupt", 0) or 0)
    per = 1e3 / n
    return ValResults(
        top1=correct1 / n, top5=correct5 / n, loss=loss_sum / n, num_images=n, names=ds_names,
        confusion=cm.matrix, per_class=cm.per_class_accuracy(),
        speed={"preprocess": t_pre * per, "inference": t_inf * per, "postprocess": t_post * per},
        num_corrupt=num_corrupt, backend="torch" if is_torch else str(getattr(model, "name", "backend")),
        split_dir=split_dir,
    )
