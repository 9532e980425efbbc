"""Data: image decoding, ImageFolder datasets, train augmentation, loaders, prediction sources.

``import yolocls.data`` stays light (NumPy only): the torch-based parts (datasets, loaders) and OpenCV/PIL-based
parts are imported on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

from yolocls.data.preprocess import PreprocessConfig, preprocess, preprocess_with

# name -> module that defines it (imported lazily by __getattr__)
_LAZY = {
    "imread": "yolocls.data.io",
    "verify_image": "yolocls.data.io",
    "IMG_EXTENSIONS": "yolocls.data.io",
    "VIDEO_EXTENSIONS": "yolocls.data.io",
    "materialize_digits": "yolocls.data.digits",
    "resolve_dataset": "yolocls.data.dataset",
    "find_split": "yolocls.data.dataset",
    "scan_image_folder": "yolocls.data.dataset",
    "ImageFolderDataset": "yolocls.data.dataset",
    "TrainAugment": "yolocls.data.augment",
    "build_dataloader": "yolocls.data.loader",
    "iter_source": "yolocls.data.sources",
    "Frame": "yolocls.data.sources",
    "SourceStats": "yolocls.data.sources",
}

__all__ = ["PreprocessConfig", "preprocess", "preprocess_with", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yolocls.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # next access skips __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
