"""INT8 calibration data for TensorRT 8.6 / 10.x: real images through the spec'd preprocessing.

Two parts, so the feeding logic is testable without TensorRT:

* :class:`CalibrationBatches` - plain Python: finds images under a folder (recursively), reads them as BGR,
  preprocesses them with the model's own settings (:func:`yolocls.spec.apply`: the C++ kernel when built)
  and yields float32 ``[B, 3, S, S]`` batches. Unreadable images are skipped and counted.
* :func:`make_entropy_calibrator` - builds the ``tensorrt.IInt8EntropyCalibrator2`` subclass only when
  TensorRT imports; it copies each batch into one device buffer and reads/writes the calibration cache.

TensorRT >= 11 has no calibrator (implicit INT8 was removed); :mod:`yolocls.export.tensorrt` refuses INT8 there.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolocls.errors import DatasetError, ImageError, InputError
from yolocls.spec import PreprocessConfig, apply
from yolocls.utils.files import atomic_write_bytes

if TYPE_CHECKING:
    from yolocls.runtime.tensorrt_python import CudaApi

LOGGER = logging.getLogger(__name__)


def list_calibration_images(folder: str | os.PathLike[str], limit: int, seed: int = 0) -> list[Path]:
    """Up to ``limit`` image files under ``folder`` (recursive).

    The pick is a seeded shuffle of the sorted list, so it is reproducible and an ImageFolder tree sorted by
    class still contributes every class when ``limit`` is smaller than the folder.
    """
    from yolocls.data.io import is_image_file

    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"calibration folder {root} does not exist or is not a folder")
    if limit < 1:
        raise InputError(f"--calib-images must be >= 1, got {limit}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))
    if not files:
        raise DatasetError(f"no images found under {root} for INT8 calibration; point --calib-data at a folder of images")
    random.Random(seed).shuffle(files)
    return files[:limit]


class CalibrationBatches:
    """Preprocessed calibration batches, float32 ``[batch_size, 3, imgsz, imgsz]`` C-contiguous.

    Only whole batches are produced (TensorRT's calibrator has a fixed batch size); ``batch_size`` is lowered
    to the number of images when there are fewer. Unreadable images are skipped (``skipped`` counts them).
    """

    def __init__(self, folder: str | os.PathLike[str], cfg: PreprocessConfig, batch_size: int = 8,
                 max_images: int = 500, seed: int = 0) -> None:
        if batch_size < 1:
            raise InputError(f"calibration batch size must be >= 1, got {batch_size}")
        self.cfg = cfg
        self.files = list_calibration_images(folder, max_images, seed)
        self.batch_size = min(int(batch_size), len(self.files))
        self.skipped = 0
        self.images_used = 0
        self._iter: Iterator[np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.batch_size, 3, self.cfg.imgsz, self.cfg.imgsz

    def __iter__(self) -> Iterator[np.ndarray]:
        from yolocls.data.io import imread

        self.skipped = self.images_used = 0
        pending: list[np.ndarray] = []
        for path in self.files:
            try:
                pending.append(imread(path))  # BGR uint8
            except ImageError as e:
                self.skipped += 1
                LOGGER.warning("calibration: skipped %s", e)
                continue
            if len(pending) == self.batch_size:
                batch = apply(pending, self.cfg, bgr=True, dtype=np.float32)  # C-contiguous [B, 3, S, S]
                self.images_used += len(pending)
                pending = []
                yield batch
        if pending:
            LOGGER.info("calibration: %d image(s) left over after whole batches of %d", len(pending), self.batch_size)

    def next_batch(self) -> np.ndarray | None:
        """The next batch, or None when the images are exhausted (what TensorRT's ``get_batch`` needs)."""
        if self._iter is None:
            self._iter = iter(self)
        return next(self._iter, None)

    def reset(self) -> None:
        self._iter = None


def read_calibration_cache(path: str | os.PathLike[str] | None) -> bytes | None:
    """The cache's bytes, or None when there is no path, no file or an empty file (then TensorRT calibrates)."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        return None
    data = p.read_bytes()
    return data or None


def write_calibration_cache(path: str | os.PathLike[str] | None, data: bytes) -> None:
    """Write the cache atomically (a crash never leaves a truncated cache that TensorRT would trust)."""
    if path is not None and data:
        atomic_write_bytes(path, bytes(data))


def make_entropy_calibrator(batches: CalibrationBatches | None, cache_path: str | os.PathLike[str] | None,
                            cuda: CudaApi) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` that feeds ``batches`` through one device buffer.

    Args:
        batches: the feeder, or None to calibrate from ``cache_path`` only (it must exist then).
        cache_path: calibration cache to read if present and to write after calibration.
        cuda: a :class:`yolocls.runtime.tensorrt_python.CudaApi` for the device buffer.

    Needs TensorRT 8.6 or 10.x (the calibrator API is gone in 11).
    """
    import tensorrt as trt

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11 needs the explicit base init
            self.batches = batches
            self.cache_path = cache_path
            self.device = cuda.malloc(int(np.prod(batches.shape)) * 4) if batches is not None else 0
            self.done = 0

        def get_batch_size(self) -> int:
            return batches.batch_size if batches is not None else 1

        def get_batch(self, names: list[str]) -> list[int]:
            batch = batches.next_batch() if batches is not None else None
            if batch is None:
                return []  # no more data: TensorRT computes the scales
            cuda.htod(self.device, batch)
            cuda.synchronize()  # the host batch is freed after this call returns
            self.done += 1
            return [int(self.device)] * len(names)

        def read_calibration_cache(self) -> bytes | None:
            return read_calibration_cache(self.cache_path)

        def write_calibration_cache(self, cache: Any) -> None:
            write_calibration_cache(self.cache_path, bytes(cache))

        def free(self) -> None:
            if self.device:
                cuda.free(self.device)
                self.device = 0

    return EntropyCalibrator()
