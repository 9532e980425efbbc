"""ONNX Runtime backend: runs an exported ``.onnx`` (fp32, fp16 with fp32 I/O, or float16 I/O) on CPU or CUDA.

A float16-input file (``export --half-io``) is fed float16 (the preprocessed batch is cast), its float16 output is
read back as float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.errors import BackendUnavailableError, InputError, MetadataError
from yolocls.metadata import ModelMetadata
from yolocls.runtime.base import Backend, infer_in_batches
from yolocls.spec.metadata import check_interface, onnx_model_info
from yolocls.spec.onnx import read_onnx_info

_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _ort_dtype(ort_type: str) -> str:
    """ORT's ``tensor(float)`` -> ``float32`` (the names :func:`check_interface` uses)."""
    inner = ort_type[len("tensor("):-1] if ort_type.startswith("tensor(") and ort_type.endswith(")") else ort_type
    return {"float": "float32", "double": "float64"}.get(inner, inner)


class OnnxRuntimeBackend(Backend):
    """An ONNX model in an ``onnxruntime.InferenceSession``.

    Args:
        path: the ``.onnx`` file.
        metadata: names/preprocessing; default: read from the file (yolocls metadata, else YOLOv5's ``names``).
        providers: ORT execution providers (default: CPU only, so results do not depend on what is installed).
        threads: intra-op threads (default: ORT's choice, one per core).
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, metadata: ModelMetadata | None = None,
                 providers: Sequence[str] | None = None, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendUnavailableError(f"onnxruntime is not installed ({e}); pip install onnxruntime") from None
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(2, "No such file", str(path))
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        providers = list(providers or ["CPUExecutionProvider"])
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            raise BackendUnavailableError(f"ONNX Runtime provider(s) {', '.join(missing)} not available here "
                                          f"(have {', '.join(ort.get_available_providers())})")
        # our own reader first: garbage, truncation and metadata that contradicts the graph get one clear message
        # before ONNX Runtime parses the file (its custom_metadata_map also raises UnicodeDecodeError on bad UTF-8)
        info = read_onnx_info(path)
        if len(info.inputs) != 1:
            raise InputError(f"{path.name} has {len(info.inputs)} inputs; a classifier has one image input")
        metadata = onnx_model_info(info, path, metadata=metadata).metadata  # the one reader, checked vs the graph
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT's Fail/InvalidGraph/... exceptions
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise MetadataError(f"{path.name} is not a loadable ONNX model ({msg}); re-export it") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise InputError(f"{path.name} has {len(inputs)} inputs; a classifier has one image input")
        self._input = inputs[0]
        self._output_name = self.session.get_outputs()[0].name
        out_shape = self.session.get_outputs()[0].shape
        check_interface(path.name, metadata, list(self._input.shape),  # [] = rank unknown: checked at run time
                        list(out_shape) if out_shape else None, _ort_dtype(self._input.type))
        super().__init__(path, metadata)
        shape = self._input.shape
        self._fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        self._dtype = _NP_TYPES.get(self._input.type, np.float32)

    @property
    def input_shape(self) -> list[Any]:
        """The model input's shape as ORT reports it (strings for dynamic axes)."""
        return list(self._input.shape)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``[N, C]`` float32 for a preprocessed ``[N, 3, S, S]`` batch (any N, even for fixed-batch files)."""
        batch = np.asarray(batch)
        s = self.metadata.imgsz
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.shape[2:] != (s, s):
            raise InputError(f"expected a [N, 3, {s}, {s}] batch, got shape {list(batch.shape)}")
        x = np.ascontiguousarray(batch, dtype=self._dtype)
        n = x.shape[0]
        fb = self._fixed_batch
        if fb is None or fb == n:
            return self._as_logits(self._run(x))
        return self._as_logits(infer_in_batches(self._run, x, fb))  # a fixed-batch file: chunks of its batch

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.session is None:
            raise self._closed_error()
        try:
            out = np.asarray(self.session.run([self._output_name], {self._input.name: x})[0])
        except Exception as e:  # noqa: BLE001 - ORT's Fail/InvalidArgument/RuntimeException for a bad graph
            msg = " ".join(str(e).split())[:200] or type(e).__name__
            raise MetadataError(f"{self.path.name}: ONNX Runtime cannot run the model ({msg}); re-export it") from None
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise MetadataError(f"{self.path.name}: the model returned shape {list(out.shape)} for a batch of "
                                f"{x.shape[0]}; a classifier returns [N, num_classes] logits")
        return out.astype(np.float32, copy=False)

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]
