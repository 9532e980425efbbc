"""Data: image decoding, ImageFolder datasets, train augmentation, loaders, prediction sources.

``import yolocls.data`` stays light (NumPy only): the torch-based parts (datasets, loaders) and OpenCV/PIL-based
parts are imported on first use of their names.
"""

from __future__ import annotations

from yolocls._lazy import lazy_exports
from yolocls.spec.preprocess import PreprocessConfig as PreprocessConfig
from yolocls.spec.preprocess import preprocess as preprocess
from yolocls.spec.preprocess import preprocess_with as preprocess_with

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY,
                                             eager=("PreprocessConfig", "preprocess", "preprocess_with"))
