"""The one interface every inference backend implements, picked by file type in :func:`yolocls.runtime.load`.

A backend owns a model and its :class:`~yolocls.metadata.ModelMetadata`; ``infer`` maps a preprocessed
NCHW float32 batch to logits, ``predict`` goes from frames (uint8 BGR arrays or paths) to top-k.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from yolocls.errors import InputError
from yolocls.metadata import ModelMetadata


class Prediction(NamedTuple):
    class_id: int
    name: str
    prob: float


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``[N, C]`` logits in float32 (numerically stable)."""
    z = logits.astype(np.float32, copy=False)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def probs_to_logits(probs: np.ndarray) -> np.ndarray:
    """Log-probabilities of ``[N, C]`` probabilities: logits whose softmax gives the probabilities back.

    For models with softmax inside the graph (metadata ``output: probs``), so that ``infer`` returns logits for
    every model (top-k, softmax and cross-entropy stay right). Zeros (float underflow) map to log(float32 tiny).
    """
    p = np.asarray(probs, dtype=np.float32)
    return np.log(np.maximum(p, np.finfo(np.float32).tiny))


def topk(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries per row, sorted descending (ties: lower id first)."""
    k = max(1, min(int(k), probs.shape[1]))
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(probs, idx, axis=1)


_top_k = topk  # predict()'s argument is called topk


def infer_in_batches(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, max_batch: int,
                     min_batch: int | None = None) -> np.ndarray:
    """``run(chunk)`` over the rows of ``x`` for a model that takes only some batch sizes; outputs in row order.

    Chunks hold at most ``max_batch`` rows; a chunk under ``min_batch`` rows (default ``max_batch``: a fixed
    batch) is padded with copies of its last row and the padding's outputs are dropped. Copies of a real image
    keep the padding inside the range a reduced-precision (fp16/INT8) model was built for. The one splitter of
    fixed-batch ONNX files, TensorRT profiles and validation.
    """
    lo = max_batch if min_batch is None else min_batch
    if not 1 <= lo <= max_batch:
        raise InputError(f"batch limits must satisfy 1 <= min <= max, got min {lo}, max {max_batch}")
    n = int(x.shape[0])
    if n == 0:
        raise InputError("empty batch")
    if lo <= n <= max_batch:
        return np.asarray(run(x))
    outs = []
    for start in range(0, n, max_batch):
        chunk = x[start : start + max_batch]
        m = chunk.shape[0]
        if m < lo:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], lo - m, axis=0)])
        outs.append(np.asarray(run(chunk))[:m])
    return np.concatenate(outs)


class Backend(ABC):
    """Base class of inference backends.

    Attributes:
        name: backend name (``torch``, ``onnxruntime``, ``openvino``, ``tensorrt``).
        metadata: names and preprocessing settings of the model.
        timings: milliseconds of the last ``predict`` call per stage: preprocess, inference, postprocess.
    """

    name: str = "base"

    def __init__(self, path: str | Path, metadata: ModelMetadata) -> None:
        self.path = Path(path)
        self.metadata = metadata
        self.timings: dict[str, float] = {}

    @property
    def names(self) -> list[str]:
        return self.metadata.names

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``[N, num_classes]`` float32 for a preprocessed ``[N, 3, S, S]`` float32 batch.

        For a model with softmax in its graph (``metadata.output == "probs"``) these are its log-probabilities
        (:meth:`_as_logits`), so softmax of them gives the model's own probabilities back.
        """

    def _as_logits(self, out: np.ndarray) -> np.ndarray:
        """The model's raw output as float32 logits (log-probabilities when the graph ends in softmax)."""
        if self.metadata.output == "probs":
            return probs_to_logits(out)
        return np.asarray(out, dtype=np.float32)

    def preprocess(self, images: Sequence[np.ndarray], bgr: bool = True) -> np.ndarray:
        """The spec'd preprocessing with this model's settings: the compiled kernel when built, else NumPy."""
        from yolocls.spec.preprocess import apply

        return apply(list(images), self.metadata.preprocess, bgr=bgr)

    def _load_images(self, images: Any) -> tuple[list[np.ndarray], bool]:
        from yolocls.data.io import imread

        if isinstance(images, memoryview):  # a buffer of one HxWx3 image or an NxHxWx3 batch, as _C takes it
            images = np.asarray(images)
            if images.ndim == 4:
                images = list(images)
        if isinstance(images, (str, Path)) or (isinstance(images, np.ndarray) and images.ndim == 3):
            images = [images]
        out = []
        for im in images:
            if isinstance(im, (str, Path)):
                out.append(imread(im))  # BGR
            elif isinstance(im, (np.ndarray, memoryview)):
                out.append(np.asarray(im))
            else:
                raise InputError(f"expected a uint8 HxWx3 array or an image path, got {type(im).__name__}")
        if not out:
            raise InputError("no images given")
        return out, True

    def predict(self, images: Any, topk: int = 5, bgr: bool = True) -> list[list[Prediction]]:
        """Top-k predictions per image.

        Args:
            images: one uint8 HxWx3 array (BGR unless ``bgr=False``) or path, or a list of them.
            topk: how many classes to return per image.
        Returns:
            One list of :class:`Prediction` (class_id, name, prob) per image, most probable first.
        """
        frames, _ = self._load_images(images)
        t0 = time.perf_counter()
        batch = self.preprocess(frames, bgr=bgr)
        t1 = time.perf_counter()
        logits = self.infer(batch)
        t2 = time.perf_counter()
        idx, val = _top_k(softmax(logits), topk)
        names = self.names
        result = [
            [Prediction(int(i), names[int(i)] if int(i) < len(names) else str(int(i)), float(p)) for i, p in zip(r, v, strict=True)]
            for r, v in zip(idx, val, strict=True)
        ]
        t3 = time.perf_counter()
        self.timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}
        return result

    def _closed_error(self) -> InputError:
        """The error every backend raises when used after :meth:`close`."""
        return InputError(f"{self.path.name}: this backend was closed; open the model again with runtime.load")

    def close(self) -> None:  # noqa: B027 - optional hook: most backends free everything on garbage collection
        """Release the backend's resources (sessions, engines, device memory)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
