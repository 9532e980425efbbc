"""Inference runtimes: :func:`load` picks a backend by file type, every backend shares :class:`Backend`.

Default backend by suffix (``backend=`` picks another that can read the file):

- ``.pt`` / ``.pth``: ``torch``.
- ``.onnx``: ``openvino`` when the extension is built with OpenVINO and ``device="cpu"``, else ``onnxruntime``
  (CPU, or its CUDA provider with ``device="0"``).
- ``.xml`` (OpenVINO IR): ``openvino``; pass ``metadata``.
- ``.engine`` / ``.plan``: ``tensorrt`` (reads the ``<engine>.json`` sidecar).

Backends import their libraries only when chosen, so ``import yolocls.runtime`` is cheap.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

from yolocls.errors import BackendUnavailableError, InputError
from yolocls.metadata import ModelMetadata
from yolocls.runtime.base import Backend, Prediction, softmax, topk
from yolocls.runtime.stream import Stream, StreamResult  # the factory stays yolocls.runtime.stream.stream

__all__ = ["BACKENDS", "Backend", "Prediction", "Stream", "StreamResult", "available_backends", "load", "softmax",
           "topk"]

#: backend name -> file suffixes it runs
BACKENDS: dict[str, tuple[str, ...]] = {
    "torch": (".pt", ".pth"),
    "onnxruntime": (".onnx",),
    "openvino": (".onnx", ".xml"),  # .xml: OpenVINO IR (metadata must be given)
    "tensorrt": (".engine", ".plan"),
}
_HOW_TO_GET = {
    "torch": "pip install 'yolocls[train]'",
    "onnxruntime": "pip install 'yolocls[onnxruntime]' (onnxruntime-gpu for CUDA)",
    "openvino": "pip install 'yolocls[openvino]' (the extension's OpenVINO module needs that exact OpenVINO release)",
    "tensorrt": "install TensorRT on a machine with an NVIDIA GPU, or use the C++ runtime built with TensorRT",
}


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _native_backend(component: str) -> dict[str, Any]:
    """The extension's backend module ``component`` ("openvino", "tensorrt"): built? loadable here? why not?"""
    from yolocls import _native

    try:
        return _native.backend_status(component)
    except Exception as e:  # noqa: BLE001 - a half-built extension must not break backend discovery
        return {"built": False, "loadable": False, "error": str(e)}


def _is_available(name: str) -> bool:
    if name == "torch":
        return _has_module("torch")
    if name == "onnxruntime":
        return _has_module("onnxruntime")
    if name == "openvino":
        return bool(_native_backend("openvino")["loadable"])
    if name == "tensorrt":
        if not _has_module("yolocls.runtime.tensorrt_backend"):
            return False
        if _native_backend("tensorrt")["loadable"]:
            return True
        # find_spec("tensorrt") is not enough: tensorrt-stubs installs a bare namespace folder of that name.
        from yolocls.runtime.tensorrt_python import tensorrt_available

        return bool(tensorrt_available())
    return False


def available_backends() -> list[str]:
    """Names of the backends that can run here (libraries installed / compiled in), in :data:`BACKENDS` order."""
    return [name for name in BACKENDS if _is_available(name)]


def _require(name: str) -> None:
    if _is_available(name):
        return
    how = _HOW_TO_GET[name]
    if name == "openvino":  # the module was built but cannot load: its own message names the missing library
        status = _native_backend(name)
        if status.get("built") and status.get("error"):
            how = str(status["error"])
    raise BackendUnavailableError(f"backend {name!r} is not available here; to get it: {how} "
                                  f"(available: {', '.join(available_backends()) or 'none'})")


def _onnx_metadata(path: Path) -> ModelMetadata:
    """Metadata of an ONNX file for backends that do not read it themselves (OpenVINO); no onnx, no torch."""
    from yolocls.spec.metadata import read_onnx_metadata

    return read_onnx_metadata(path)  # the one reader: also accepts YOLOv5's own ONNX metadata


def _is_cpu(device: str | int | None) -> bool:
    return str(device if device is not None else "cpu").strip().lower() == "cpu"


def _load_onnx(path: Path, backend: str, device: str, threads: int | None,
               metadata: ModelMetadata | None, precision: str | None = None, streams: int | None = None) -> Backend:
    if backend == "openvino":
        if not _is_cpu(device):
            raise InputError("the OpenVINO backend runs on the CPU here; use --device cpu, or an engine on the GPU")
        from yolocls.runtime.openvino_backend import OpenVINOBackend

        if metadata is None and path.suffix.lower() == ".onnx":
            metadata = _onnx_metadata(path)  # also accepts YOLOv5's own ONNX metadata
        return OpenVINOBackend(path, metadata, threads=threads, precision=precision or "f32", streams=streams)
    from yolocls.runtime.onnxruntime_backend import OnnxRuntimeBackend

    providers = ["CPUExecutionProvider"]
    if not _is_cpu(device):
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailableError(f"device {device!r} needs onnxruntime-gpu (CUDAExecutionProvider); "
                                          "pip install onnxruntime-gpu, or use --device cpu")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return OnnxRuntimeBackend(path, metadata=metadata, providers=providers, threads=threads)


def load(path: str | Path, backend: str | None = None, device: str = "cpu", threads: int | None = None,
         metadata: ModelMetadata | None = None, precision: str | None = None, streams: int | None = None) -> Backend:
    """Open a model file with the right backend.

    Args:
        path: ``.pt`` checkpoint, ``.onnx`` export or TensorRT ``.engine``/``.plan`` (with its ``.json`` sidecar).
        backend: ``torch`` | ``onnxruntime`` | ``openvino`` | ``tensorrt``; default by suffix (module docstring).
        device: ``cpu`` or a CUDA device (``0``, ``cuda:0``) for torch and ONNX Runtime; engines run on the GPU.
        threads: CPU inference threads for ONNX Runtime / OpenVINO (default: the library's choice).
        metadata: names and preprocessing for an ONNX file without yolocls metadata.
        precision: OpenVINO inference precision (``f32`` | ``bf16`` | ``f16`` | ``default``); None = f32. Only the
            OpenVINO backend takes it: given with no backend, an ``.onnx`` file goes to OpenVINO.
        streams: OpenVINO CPU streams, i.e. how many concurrent ``predict`` calls really run side by side (default:
            one stream, the LATENCY hint's); the other backends ignore it (ONNX Runtime runs concurrent calls of
            one session in parallel anyway). :mod:`yolocls.runtime.stream` sets one per worker.
    Returns:
        A :class:`Backend`; use ``predict(images)`` or ``infer(batch)``, and ``close()`` (or ``with``).
    Raises:
        FileNotFoundError: no such file. InputError: unknown suffix/backend or a backend that cannot read the file.
        BackendUnavailableError: the backend's library is not installed or not compiled in (says how to get it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    known = sorted({s for sfx in BACKENDS.values() for s in sfx})
    if backend is not None:
        backend = str(backend).strip().lower()
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if suffix not in known:
        raise InputError(f"cannot tell the model type of {path.name!r}: use one of {', '.join(known)}")
    if backend is not None and suffix not in BACKENDS[backend]:
        raise InputError(f"backend {backend!r} cannot run {suffix} files (it runs {', '.join(BACKENDS[backend])})")
    if precision is not None:
        if backend is None and suffix in BACKENDS["openvino"]:
            backend = "openvino"  # the only backend with a precision choice
        if backend != "openvino":
            raise InputError(f"precision is an OpenVINO option; {path.name} runs on "
                             f"{backend or 'another backend'}: drop precision or use an .onnx with backend openvino")
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))

    if suffix in BACKENDS["torch"]:
        _require("torch")
        from yolocls.runtime.torch_backend import TorchBackend

        return TorchBackend(path, device=device, metadata=metadata)
    if suffix in BACKENDS["tensorrt"]:
        _require("tensorrt")
        from yolocls.runtime.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(path, metadata=metadata)
    # .onnx / .xml
    if suffix == ".xml":
        backend = "openvino"
    if backend is None:
        auto = "openvino" if _is_cpu(device) and _is_available("openvino") else "onnxruntime"
        try:
            _require(auto)
            return _load_onnx(path, auto, device, threads, metadata, streams=streams)
        except BackendUnavailableError as e:
            if auto != "openvino":
                raise
            warnings.warn(f"OpenVINO backend failed ({e}); using ONNX Runtime", stacklevel=2)
            _require("onnxruntime")
            return _load_onnx(path, "onnxruntime", device, threads, metadata)
    _require(backend)
    return _load_onnx(path, backend, device, threads, metadata, precision, streams)
