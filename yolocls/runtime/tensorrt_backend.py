"""``TensorRTBackend``: runs a serialized TensorRT engine (``.engine`` / ``.plan``) built by ``yolocls build-engine``.

Two implementations behind one class:

* ``native`` - the compiled extension's ``yolocls._C.Runtime`` when it was built with TensorRT (C++: one execution
  context + stream + pinned buffers per worker, optional CUDA graphs); the C++ side checks the GPU itself.
* ``python`` - :class:`yolocls.runtime.tensorrt_python.TensorRTPythonRunner` on the ``tensorrt`` package and a
  CUDA binding (cuda-python or pycuda), with the sidecar's runner settings (its DLA core).

Either way the sidecar ``<engine>.json`` is read and validated first, and an engine built for another TensorRT
version or GPU is refused with :class:`~yolocls.errors.EngineMismatchError` before TensorRT deserializes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from yolocls.errors import BackendUnavailableError, InputError
from yolocls.metadata import ModelMetadata
from yolocls.runtime.base import Backend
from yolocls.runtime.sidecar import check_engine_compatible, check_tensorrt_version, read_sidecar

IMPLEMENTATIONS = ("auto", "native", "python")


def native_tensorrt() -> Any | None:
    """The ``yolocls._C`` module when it was compiled with TensorRT, else None."""
    from yolocls import _native

    ext = _native._load()
    if ext is None:
        return None
    try:
        status = _native.backend_status("tensorrt")
    except Exception:  # noqa: BLE001 - a broken extension means: use the Python path
        return None
    # Built and loadable here (its module found libnvinfer); else the Python TensorRT path.
    return ext if status["loadable"] else None


class TensorRTBackend(Backend):
    """A TensorRT engine with its sidecar metadata.

    Args:
        path: the engine file; its sidecar ``<path>.json`` must exist (``yolocls build-engine`` writes both).
        metadata: override the sidecar's metadata (the TensorRT facts are still checked from the sidecar).
        impl: ``auto`` (native when compiled with TensorRT, else python), ``native`` or ``python``.
        num_requests: concurrent execution contexts for the native implementation (0 = its default).
        verbose: TensorRT's verbose log (python implementation).
        cuda_graph: capture a CUDA graph per fixed batch size (native implementation).
        cuda_preprocess: preprocess on the GPU straight into the input binding (native, CUDA build).
    Raises:
        MetadataError: missing/garbage sidecar, or a sidecar for other engine bytes.
        EngineMismatchError: engine built with another TensorRT version or for another GPU.
        BackendUnavailableError: neither the extension nor the ``tensorrt`` package can run it here.
    """

    name = "tensorrt"

    def __init__(self, path: str | Path, metadata: ModelMetadata | None = None, impl: str = "auto",
                 num_requests: int = 0, verbose: bool = False, cuda_graph: bool = False,
                 cuda_preprocess: bool = True) -> None:
        path = Path(path)
        if impl not in IMPLEMENTATIONS:
            raise InputError(f"impl must be one of {', '.join(IMPLEMENTATIONS)}, got {impl!r}")
        if not path.is_file():
            raise InputError(f"engine file {path} not found; build one with `yolocls build-engine --onnx model.onnx`")
        sidecar = read_sidecar(path)  # before any TensorRT call: a clear error beats a deserialization failure
        super().__init__(path, metadata or sidecar)
        self.sidecar = sidecar
        self._native: Any = None
        self._runner: Any = None
        ext = native_tensorrt() if impl in ("auto", "native") else None
        if impl == "native" and ext is None:
            from yolocls import _native

            reason = _native.backend_status("tensorrt").get("error") or "the extension's TensorRT module does not load"
            raise BackendUnavailableError(f"{reason}; or use impl='python'")
        if ext is not None:
            # The C++ backend checks the GPU against the sidecar itself; the library version is known here.
            from yolocls import _native

            trt_version = str(_native.backend_status("tensorrt").get("version") or "")
            if trt_version:
                check_tensorrt_version(sidecar, trt_version, engine=path)
            options = ext.RuntimeOptions(backend=ext.Backend.TENSORRT, num_requests=num_requests,
                                         cuda_graph=cuda_graph, cuda_preprocess=cuda_preprocess)
            self._native = ext.Runtime(str(path), _native.native_config(self.metadata.preprocess), options)
            self.impl = "native"
            return
        from yolocls.runtime.tensorrt_python import (
            TensorRTPythonRunner,
            import_tensorrt,
            runner_settings,
            select_cuda_api,
        )

        settings = runner_settings(sidecar)  # a malformed sidecar is refused before TensorRT or the GPU is touched
        trt = import_tensorrt()
        cuda = select_cuda_api()
        try:
            gpu_name, cc = cuda.device_facts()
            check_engine_compatible(sidecar, trt.__version__, gpu_name, cc, engine=path)
            self._runner = TensorRTPythonRunner(path, cuda=cuda, verbose=verbose, settings=settings)
        except BaseException:
            cuda.close()
            raise
        self.impl = "python"

    @property
    def max_batch(self) -> int:
        """Largest batch one engine call takes (bigger inputs are split)."""
        assert self.sidecar.engine is not None  # read_sidecar refuses a sidecar without the engine's facts
        return self.sidecar.engine.profile.max

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``[N, num_classes]`` float32 for a preprocessed float32 ``[N, 3, S, S]`` batch."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        s = self.metadata.imgsz
        if x.ndim != 4 or x.shape[1:] != (3, s, s) or x.shape[0] < 1:
            raise InputError(f"batch must be float32 [N, 3, {s}, {s}] with N >= 1, got {list(x.shape)}")
        if self._native is not None:
            return self._as_logits(np.asarray(self._native.infer(x), dtype=np.float32))
        return self._as_logits(np.asarray(self._runner.infer(x), dtype=np.float32))

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        self._native = None
