"""PyTorch backend: a checkpoint (``.pt``) or an in-memory ``nn.Module``, the reference the exports are checked against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from yolocls.errors import InputError
from yolocls.metadata import ModelMetadata
from yolocls.runtime.base import Backend


def metadata_from_module(model: Any, num_classes: int | None = None) -> ModelMetadata:
    """Metadata from a module's ``names``/``preprocess``/``model_name`` attributes (defaults for missing ones)."""
    from yolocls.spec.metadata import class_names
    from yolocls.spec.preprocess import PreprocessConfig

    names = class_names(getattr(model, "names", None) or [], num_classes=num_classes, coerce=True)
    pp = getattr(model, "preprocess", None)
    if isinstance(pp, dict):
        pp = PreprocessConfig.from_dict(pp)
    if not isinstance(pp, PreprocessConfig):
        pp = PreprocessConfig()
    return ModelMetadata(names=names, preprocess=pp,
                         model=str(getattr(model, "model_name", None) or type(model).__name__))


class TorchBackend(Backend):
    """A PyTorch classifier in eval mode.

    Args:
        path_or_model: a checkpoint path (loaded with :func:`yolocls.load_model`) or an ``nn.Module`` (used as
            is, switched to eval mode; pass ``metadata`` when it has no ``names``/``preprocess``).
        device: ``cpu``, ``0``, ``cuda:0``, ... (YOLOv5-style, see :func:`yolocls.utils.torch_utils.select_device`).
        half: run in float16 (CUDA only).
        metadata: overrides the metadata taken from the model.
    """

    name = "torch"

    def __init__(self, path_or_model: str | Path | Any, device: str = "cpu", half: bool = False,
                 metadata: ModelMetadata | None = None) -> None:
        import torch

        from yolocls.utils.torch_utils import select_device

        self.device = select_device(device)
        if half and self.device.type == "cpu":
            raise InputError("half precision needs a CUDA device; use --device 0 or drop --half")
        if isinstance(path_or_model, torch.nn.Module):
            model, path = path_or_model, Path(getattr(path_or_model, "model_name", None) or "<module>")
        else:
            path = Path(path_or_model)
            if not path.is_file():
                raise FileNotFoundError(2, "No such file", str(path))
            from yolocls.models import load_model  # the torch backend's exception to the import contract

            model = load_model(str(path), device="cpu")
        model = model.to(self.device).eval()
        model = model.half() if half else model.float()
        self.model: Any = model
        self.half = half
        super().__init__(path, metadata if metadata is not None else metadata_from_module(model))

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``[N, C]`` float32 for a preprocessed ``[N, 3, S, S]`` float batch."""
        import torch

        if self.model is None:
            raise self._closed_error()
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise InputError(f"expected a [N, 3, H, W] batch, got shape {list(batch.shape)}")
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        if self.half:
            x = x.half()
        with torch.inference_mode():
            out = self.model(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            raise InputError(f"model returned {type(out).__name__}, expected [N, num_classes] logits")
        logits = out.float().cpu().numpy()
        if not self.metadata.names:  # a foreign module without names: class ids, now that C is known
            self.metadata.names = [str(i) for i in range(logits.shape[1])]
        return logits

    def close(self) -> None:
        self.model = None
