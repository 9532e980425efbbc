"""OpenVINO backend: runs an ``.onnx`` (or OpenVINO IR ``.xml``) through the C++ runtime (``yolocls._C.Runtime``).

OpenVINO reads the ONNX file directly and compiles it for the CPU with the LATENCY hint. Preprocessing, inference,
softmax and top-k run in C++ with the GIL released; one backend may be shared by several Python threads
(``num_requests`` inferences run concurrently, further callers wait for a free request).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from yolocls import _native
from yolocls.errors import BackendUnavailableError, InputError, MetadataError
from yolocls.metadata import ModelMetadata
from yolocls.runtime.base import Backend, Prediction

#: Accepted ``precision`` values (OpenVINO ``INFERENCE_PRECISION_HINT``; ``default`` leaves it to OpenVINO).
PRECISIONS = ("f32", "bf16", "f16", "default")


def _metadata_of(path: Path) -> ModelMetadata:
    if path.suffix.lower() != ".onnx":
        raise MetadataError(f"{path.name}: give the model's metadata (ModelMetadata) for non-ONNX files")
    from yolocls.spec.metadata import read_onnx_metadata

    return read_onnx_metadata(path)  # the one reader: ours or YOLOv5's metadata


class OpenVINOBackend(Backend):
    """A model compiled by OpenVINO inside the C++ runtime.

    Args:
        path: ``.onnx`` file (or OpenVINO IR ``.xml``).
        metadata: names and preprocessing; default: read from the ONNX file's yolocls metadata.
        threads: OpenVINO inference threads (default: OpenVINO's choice).
        num_requests: concurrent inference requests for multi-threaded callers (default 2, or ``streams``).
        streams: OpenVINO CPU streams (default: the LATENCY hint's one stream, on which concurrent requests take
            turns); ``n`` lets ``n`` requests run side by side on ``threads / n`` cores each, which is what
            :mod:`yolocls.runtime.stream` asks for (one stream per worker).
        preprocess_threads: threads of the C++ preprocessing pool (default 1: the caller's thread).
        device: OpenVINO device name (``CPU``).
        precision: inference precision, one of :data:`PRECISIONS`: ``f32`` (default, matches ONNX Runtime),
            ``bf16``/``f16`` (faster where the hardware has them; logits move ~1e-2, so measure the accuracy cost
            with ``yolocls val --precision``) or ``default`` (OpenVINO's own choice: bf16 on AVX512-BF16/AMX CPUs).
    """

    name = "openvino"

    def __init__(self, path: str | Path, metadata: ModelMetadata | None = None, threads: int | None = None,
                 num_requests: int | None = None, preprocess_threads: int = 1, device: str = "CPU",
                 precision: str = "f32", streams: int | None = None) -> None:
        _native.load_extension()  # BackendUnavailableError naming the fix when the extension is not built
        from yolocls import _C as C  # typed by the generated stub yolocls/_C.pyi
        status = _native.backend_status("openvino")
        if not status["loadable"]:
            raise BackendUnavailableError(str(status["error"]))
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(2, "No such file", str(path))
        for name, v in (("threads", threads), ("num_requests", num_requests), ("streams", streams)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if metadata is None:
            metadata = _metadata_of(path)
        super().__init__(path, metadata)
        self.precision = precision
        self._rt: C.Runtime | None = None
        try:
            with _native.native_errors():
                options = C.RuntimeOptions(backend=C.Backend.OPENVINO, device=device, threads=threads or 0,
                                           preprocess_threads=preprocess_threads, num_requests=num_requests or 0,
                                           streams=streams or 0,
                                           precision=C.Precision(precision))
                rt = C.Runtime(str(path), _native.native_config(metadata.preprocess), options)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if precision != "f32":  # most likely the device lacks that precision, not a bad file
                raise InputError(f"OpenVINO cannot run {path.name} at precision {precision} on {device} ({first}); "
                                 "use precision='f32'") from None
            raise MetadataError(f"OpenVINO cannot run {path.name} ({first}); re-export it") from None
        if metadata.names and rt.num_classes != len(metadata.names):
            raise MetadataError(f"{path.name}: metadata has {len(metadata.names)} class names but the model outputs "
                                f"{rt.num_classes} classes; re-export it")
        self._rt = rt

    @property
    def runtime(self) -> Any:
        """The underlying ``yolocls._C.Runtime`` (InputError once the backend is closed)."""
        if self._rt is None:
            raise InputError(f"the OpenVINO backend for {self.path.name} is closed; load the model again")
        return self._rt

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``[N, C]`` float32 for a preprocessed ``[N, 3, S, S]`` float32 batch."""
        batch = np.asarray(batch)
        s = self.metadata.imgsz
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.shape[2:] != (s, s) or batch.shape[0] < 1:
            raise InputError(f"expected a [N, 3, {s}, {s}] batch, got shape {list(batch.shape)}")
        with _native.native_errors():
            return self._as_logits(self.runtime.infer(np.ascontiguousarray(batch, dtype=np.float32)))

    def logits(self, images: Any, bgr: bool = True) -> np.ndarray:
        """Logits ``[N, C]`` of uint8 HxWx3 images (or paths): preprocessing + inference in one C++ call."""
        frames, _ = self._load_images(images)
        with _native.native_errors():
            return self._as_logits(self.runtime.logits(frames, bgr))

    def predict(self, images: Any, topk: int = 5, bgr: bool = True) -> list[list[Prediction]]:
        """Top-k predictions per image; preprocessing, inference, softmax and top-k run in C++ without the GIL.

        A model with softmax in its graph (``output: probs``) is ranked on its own probabilities (the C++
        ``classify`` would apply softmax a second time): C++ preprocessing and inference, top-k here.
        """
        if self.metadata.output == "probs":
            return super().predict(images, topk=topk, bgr=bgr)
        frames, _ = self._load_images(images)
        with _native.native_errors():
            results, timings = self.runtime.classify(frames, topk, bgr, return_timings=True)
        names = self.names
        self.timings = dict(timings)
        return [[Prediction(int(i), names[i] if i < len(names) else str(i), float(p)) for i, p in row]
                for row in results]

    def close(self) -> None:
        self._rt = None
