"""TensorRT through its Python package: the fallback when the extension was built without TensorRT.

Device memory, streams, INT8 calibration buffers and the device facts come from one CUDA binding, picked at run
time (:func:`select_cuda_api`): ``cuda-python`` (the ``tensorrt`` extra) or ``pycuda`` (the ``pycuda`` extra);
never torch. The engine runs with the name-based API (``set_input_shape`` / ``set_tensor_address`` /
``execute_async_v3``, TensorRT >= 8.5); host staging buffers are pinned so copies are real DMA transfers.

Nothing here has run on a GPU in this project's CI (no GPU, no TensorRT): it is written against the TensorRT
10.x Python API (type-checked with tensorrt-stubs) and exercised by the ``tensorrt``-marked tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from yolocls.errors import BackendUnavailableError, InputError, MetadataError

if TYPE_CHECKING:
    from yolocls.metadata import ModelMetadata

TRT_INSTALL_HINT = (
    "pip install tensorrt (x86_64 with an NVIDIA driver) or use JetPack's python3-libnvinfer on Jetson; "
    "see README TensorRT section"
)
MIN_TRT = (8, 5)  # name-based tensors and enqueueV3


def import_tensorrt() -> ModuleType:
    """``import tensorrt`` with a one-line :class:`BackendUnavailableError` when it is missing or too old."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise BackendUnavailableError(f"TensorRT is not installed ({e}): {TRT_INSTALL_HINT}") from None
    except OSError as e:  # the wheel imports but cannot find libnvinfer / the CUDA driver
        raise BackendUnavailableError(f"TensorRT is installed but its libraries do not load ({e}): {TRT_INSTALL_HINT}") from None
    if not hasattr(trt, "Builder"):
        # A bare namespace package, e.g. the folder that tensorrt-stubs installs: type hints only, no library.
        raise BackendUnavailableError(f"TensorRT is not installed (only type stubs were found): {TRT_INSTALL_HINT}")
    if trt_version_tuple(trt.__version__)[:2] < MIN_TRT:
        raise BackendUnavailableError(f"TensorRT {trt.__version__} is too old; yolocls needs TensorRT >= 8.5")
    return trt


def tensorrt_available() -> bool:
    """True when the real ``tensorrt`` package imports (not just tensorrt-stubs' namespace folder)."""
    try:
        import_tensorrt()
    except BackendUnavailableError:
        return False
    return True


def trt_version_tuple(version: str) -> tuple[int, int, int]:
    """``"10.3.0.26"`` -> ``(10, 3, 0)`` (:func:`yolocls.spec.metadata.parse_trt_version`, the one parser)."""
    from yolocls.spec.metadata import parse_trt_version

    return parse_trt_version(version)


# ---------------------------------------------------------------------------------------------------------------
# CUDA bindings: the few calls the runner and the INT8 calibrator need, behind one small interface.
# ---------------------------------------------------------------------------------------------------------------

#: environment variable naming the binding to try first ("cuda-python" or "pycuda")
BINDING_ENV = "YOLOCLS_CUDA_BINDING"
CUDA_BINDING_HINT = (
    "pip install 'yolocls[tensorrt]' (cuda-python 12.x: CUDA 12 drivers, JetPack 6; cuda-python 13 needs a CUDA 13 "
    "driver) or pip install pycuda (builds against the local CUDA toolkit)"
)


class CudaApi:
    """Device memory, pinned host memory, one stream and device facts on one GPU. Subclasses wrap one binding.

    Every method makes the device's primary context current on the calling thread first (TensorRT's runtime uses
    that same context), so an object made on one thread works from any other. :meth:`current` does the same for
    a block of TensorRT calls.
    """

    name = "none"

    def current(self) -> contextlib.AbstractContextManager[None]:
        """A ``with`` block during which this device's primary context is current on this thread."""
        raise NotImplementedError

    def malloc(self, nbytes: int) -> int:
        """Device allocation; returns the device pointer as an int."""
        raise NotImplementedError

    def free(self, ptr: int) -> None:
        raise NotImplementedError

    def pinned_empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A page-locked host array (kept alive by the API object until :meth:`close`)."""
        raise NotImplementedError

    def stream(self) -> int:
        """The stream handle (``cudaStream_t`` as int) all copies and ``execute_async_v3`` use."""
        raise NotImplementedError

    def htod(self, dst: int, src: np.ndarray) -> None:
        """Asynchronous host->device copy of the contiguous ``src`` on :meth:`stream`."""
        raise NotImplementedError

    def dtoh(self, dst: np.ndarray, src: int) -> None:
        """Asynchronous device->host copy into the contiguous ``dst`` on :meth:`stream`."""
        raise NotImplementedError

    def synchronize(self) -> None:
        raise NotImplementedError

    def device_facts(self) -> tuple[str, str]:
        """(GPU name, compute capability "major.minor") of this object's device."""
        raise NotImplementedError

    def close(self) -> None:
        """Free device and pinned buffers and the stream; release the context."""


def _nbytes(shape: tuple[int, ...], dtype: Any) -> tuple[np.dtype[Any], int, int]:
    dt = np.dtype(dtype)
    count = int(np.prod(shape))
    return dt, count, max(count * dt.itemsize, 1)


def _check_cuda(result: Any, what: str) -> Any:
    """cuda-python returns ``(err, *values)``; raise on an error code, return the value(s)."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        hint = ""
        if int(err) == 35:  # cudaErrorInsufficientDriver
            hint = (f": the driver is older than cuda-python {_dist_version('cuda-python') or '?'} expects; "
                    "on CUDA 12 drivers (JetPack 6) install cuda-python>=12.6,<13")
        raise RuntimeError(f"CUDA {what} failed with error {int(err)} ({err}){hint}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _dist_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class CudaPythonApi(CudaApi):
    """``cuda-python`` (the ``tensorrt`` extra): ``cuda.bindings.runtime`` (>= 12.6) or the older ``cuda.cudart``.

    The runtime API works on the device's primary context; :meth:`current` selects the device on this thread, which
    since CUDA 12 (cuda-python >= 12.6 here) also makes that primary context current on it immediately.
    """

    name = "cuda-python"

    def __init__(self, device: int = 0) -> None:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart  # older cuda-python layout
        self.rt = cudart
        self.device = int(device)
        self._pinned: list[int] = []
        self._stream: Any = None
        _check_cuda(cudart.cudaSetDevice(self.device), "cudaSetDevice")
        self._stream = _check_cuda(cudart.cudaStreamCreate(), "cudaStreamCreate")

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        _check_cuda(self.rt.cudaSetDevice(self.device), "cudaSetDevice")
        yield

    def malloc(self, nbytes: int) -> int:
        with self.current():
            return int(_check_cuda(self.rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))

    def free(self, ptr: int) -> None:
        with self.current():
            _check_cuda(self.rt.cudaFree(ptr), "cudaFree")

    def pinned_empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        dt, count, nbytes = _nbytes(shape, dtype)
        with self.current():
            ptr = int(_check_cuda(self.rt.cudaMallocHost(nbytes), "cudaMallocHost"))
        self._pinned.append(ptr)
        buf = (ctypes.c_byte * nbytes).from_address(ptr)
        return np.frombuffer(memoryview(buf), dtype=dt, count=count).reshape(shape)

    def stream(self) -> int:
        return int(self._stream)

    def htod(self, dst: int, src: np.ndarray) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        with self.current():
            _check_cuda(self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, self._stream),
                        "cudaMemcpyAsync")

    def dtoh(self, dst: np.ndarray, src: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        with self.current():
            _check_cuda(self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, self._stream),
                        "cudaMemcpyAsync")

    def synchronize(self) -> None:
        with self.current():
            _check_cuda(self.rt.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def device_facts(self) -> tuple[str, str]:
        prop = _check_cuda(self.rt.cudaGetDeviceProperties(self.device), "cudaGetDeviceProperties")
        name = prop.name.split(b"\0", 1)[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
        return name, f"{prop.major}.{prop.minor}"

    def close(self) -> None:
        with self.current():
            for ptr in self._pinned:
                self.rt.cudaFreeHost(ptr)
            self._pinned.clear()
            if self._stream is not None:
                self.rt.cudaStreamDestroy(self._stream)
                self._stream = None


class PycudaApi(CudaApi):
    """``pycuda`` (the ``pycuda`` extra; builds against the local CUDA toolkit) on the device's primary context.

    Not ``pycuda.autoinit``: its context is a separate one, current only on the thread that imported it. The
    primary context is the one TensorRT's runtime uses, and it is pushed around every call, from any thread.
    """

    name = "pycuda"

    def __init__(self, device: int = 0) -> None:
        import pycuda.driver as cuda

        cuda.init()
        self.cuda = cuda
        self._dev = cuda.Device(int(device))
        self._ctx = self._dev.retain_primary_context()
        self._allocs: dict[int, Any] = {}
        self._pinned: list[np.ndarray] = []
        with self.current():
            self._stream = cuda.Stream()

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        self._ctx.push()
        try:
            yield
        finally:
            self.cuda.Context.pop()

    def malloc(self, nbytes: int) -> int:
        with self.current():
            a = self.cuda.mem_alloc(max(int(nbytes), 1))
        self._allocs[int(a)] = a
        return int(a)

    def free(self, ptr: int) -> None:
        a = self._allocs.pop(ptr, None)
        if a is not None:
            with self.current():
                a.free()

    def pinned_empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        with self.current():
            arr: np.ndarray = self.cuda.pagelocked_empty(shape, dtype)
        self._pinned.append(arr)
        return arr

    def stream(self) -> int:
        return int(self._stream.handle)

    def htod(self, dst: int, src: np.ndarray) -> None:
        with self.current():
            self.cuda.memcpy_htod_async(dst, src, self._stream)

    def dtoh(self, dst: np.ndarray, src: int) -> None:
        with self.current():
            self.cuda.memcpy_dtoh_async(dst, src, self._stream)

    def synchronize(self) -> None:
        with self.current():
            self._stream.synchronize()

    def device_facts(self) -> tuple[str, str]:
        major, minor = self._dev.compute_capability()
        return str(self._dev.name()), f"{major}.{minor}"

    def close(self) -> None:
        if self._ctx is None:
            return
        with self.current():
            for a in self._allocs.values():
                a.free()
            self._allocs.clear()
            for arr in self._pinned:
                host: Any = arr.base  # the HostAllocation behind pagelocked_empty
                host.free()
            self._pinned.clear()
            self._stream = None
        self._ctx.detach()  # releases the primary context retained above
        self._ctx = None


#: the bindings, in the order tried (``$YOLOCLS_CUDA_BINDING`` or ``prefer`` moves one to the front)
CUDA_APIS: tuple[type[CudaApi], ...] = (CudaPythonApi, PycudaApi)


def select_cuda_api(prefer: str | None = None, candidates: tuple[type[CudaApi], ...] | None = None) -> CudaApi:
    """The first CUDA binding that imports and reaches the GPU.

    Args:
        prefer: a binding name to try first ("cuda-python" or "pycuda"); default ``$YOLOCLS_CUDA_BINDING``.
        candidates: the binding classes to try (default :data:`CUDA_APIS`).
    Raises:
        BackendUnavailableError: no binding works here: one line naming both bindings, why each failed and how to
            install one.
    """
    apis = CUDA_APIS if candidates is None else candidates
    prefer = prefer if prefer is not None else os.environ.get(BINDING_ENV) or None
    if prefer is not None and prefer not in {c.name for c in apis}:
        raise InputError(f"unknown CUDA binding {prefer!r} (from {BINDING_ENV} or prefer=); "
                         f"choose from {', '.join(c.name for c in apis)}")
    order = sorted(apis, key=lambda c: c.name != prefer)
    reasons = []
    for cls in order:
        try:
            return cls()
        except ImportError as e:
            reasons.append(f"{cls.name}: not installed ({e.name or e})")
        except Exception as e:  # noqa: BLE001 - missing driver, no device, driver too old: try the next binding
            reasons.append(f"{cls.name}: {type(e).__name__}: {' '.join(str(e).split())}")
    raise BackendUnavailableError(
        "TensorRT's Python path needs a CUDA binding and none works here (" + "; ".join(reasons) + "): "
        + CUDA_BINDING_HINT
    )


# ---------------------------------------------------------------------------------------------------------------
# The engine runner
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnerSettings:
    """What the runner sets on TensorRT before deserialising an engine, from the engine's sidecar.

    ``dla_core``: the Jetson DLA core the engine was built for (``IRuntime.DLA_core`` must name it before
    ``deserialize_cuda_engine``); None for a GPU engine.
    """

    dla_core: int | None = None


def runner_settings(sidecar: ModelMetadata) -> RunnerSettings:
    """The :class:`RunnerSettings` a sidecar (``<engine>.json``, written by ``yolocls build-engine``) asks for.

    Raises:
        MetadataError: the metadata holds no engine facts (``dla`` itself is checked when the sidecar is read).
    """
    if sidecar.engine is None:
        raise MetadataError("engine metadata holds no TensorRT facts (tensorrt_version, profile, ...); rebuild the "
                            "engine with yolocls build-engine")
    return RunnerSettings(dla_core=sidecar.engine.dla_core)  # checked when the sidecar was read


def check_linear_io(engine: str | os.PathLike[str], tensor: str, role: str, format_name: str,
                    description: str = "") -> None:
    """Refuse an engine I/O tensor whose format is not TensorRT's ``LINEAR`` (dense row-major NCHW).

    The runner copies dense ``[N, C, H, W]`` / ``[N, classes]`` arrays: a vectorised (CHW4, HWC8, ...) or DLA
    (padded rows) layout, as ``trtexec --inputIOFormats`` or a builder's allowed formats make, would be fed and read
    wrongly without any error. The C++ backend refuses the same engines with the same message.

    Raises:
        InputError: the format is not LINEAR, naming the tensor and its format.
    """
    name = format_name.rsplit(".", 1)[-1]
    if name == "LINEAR":
        return
    detail = f" ({description})" if description else ""
    raise InputError(f"engine {os.fspath(engine)}: {role} tensor {tensor!r} has format {name}{detail}, but yolocls "
                     "only reads linear (row-major NCHW) I/O; rebuild it without custom I/O formats (yolocls "
                     "build-engine, or trtexec without --inputIOFormats/--outputIOFormats)")


def _dims(d: Any) -> tuple[int, ...]:
    """A TensorRT ``Dims`` as a tuple of ints (``Dims`` indexes but does not iterate in every version)."""
    return tuple(int(d[i]) for i in range(len(d)))


class TensorRTPythonRunner:
    """One engine, one execution context, one stream, device buffers and pinned host buffers for the max batch.

    Thread safety: ``infer`` may be called from any thread (every CUDA and TensorRT call runs with the device's
    primary context made current on the calling thread, see :class:`CudaApi`); it holds a lock (one context cannot
    run two batches at once), so use one runner per worker thread for parallel inference.

    ``settings`` (from :func:`runner_settings` of the engine's sidecar) says what to set before deserialising,
    e.g. the DLA core of a DLA engine.
    """

    def __init__(self, engine_path: str | Path, cuda: CudaApi | None = None, verbose: bool = False,
                 settings: RunnerSettings | None = None) -> None:
        import_tensorrt()  # one-line error when missing
        import tensorrt as trt

        self.settings = settings or RunnerSettings()
        self.cuda = cuda or select_cuda_api()
        self._lock = threading.Lock()
        self._ptrs: list[int] = []
        self.logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
        with self.cuda.current():  # TensorRT allocates on the context current on this thread
            self._open(engine_path)

    def _open(self, engine_path: str | Path) -> None:
        import tensorrt as trt

        self.runtime = trt.Runtime(self.logger)
        if self.settings.dla_core is not None:  # a DLA engine deserializes only on a runtime set to its core
            if self.settings.dla_core >= self.runtime.num_DLA_cores:
                raise InputError(f"{engine_path} was built for DLA core {self.settings.dla_core} but this device has "
                                 f"{self.runtime.num_DLA_cores} DLA core(s); rebuild it with --dla-core N below that "
                                 "or without --dla-core")
            self.runtime.DLA_core = self.settings.dla_core
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise InputError(f"TensorRT could not deserialize {engine_path} (corrupt file or built by another TensorRT)")
        self.context = self.engine.create_execution_context()
        inputs: list[str] = []
        outputs: list[str] = []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            (inputs if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else outputs).append(name)
        if len(inputs) != 1 or len(outputs) != 1:
            raise InputError(f"expected a classifier engine with 1 input and 1 output, got inputs {inputs}, outputs {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        for name, role in ((self.input_name, "input"), (self.output_name, "output")):
            check_linear_io(engine_path, name, role, str(self.engine.get_tensor_format(name).name),
                            str(self.engine.get_tensor_format_desc(name)))
        self.input_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self.input_name)))
        self.output_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self.output_name)))
        in_shape = _dims(self.engine.get_tensor_shape(self.input_name))
        if in_shape[0] == -1:  # dynamic batch: the range comes from optimization profile 0
            pmin, _, pmax = self.engine.get_tensor_profile_shape(self.input_name, 0)
            self.min_batch, self.max_batch = int(pmin[0]), int(pmax[0])
            chw = _dims(pmax)[1:]
        else:
            self.min_batch = self.max_batch = int(in_shape[0])
            chw = in_shape[1:]
        self.chw: tuple[int, ...] = chw
        self.context.set_input_shape(self.input_name, trt.Dims([self.max_batch, *chw]))
        out_shape = _dims(self.context.get_tensor_shape(self.output_name))
        self.num_classes = int(np.prod(out_shape[1:]))
        self.h_in = self.cuda.pinned_empty((self.max_batch, *chw), self.input_dtype)
        self.h_out = self.cuda.pinned_empty((self.max_batch, self.num_classes), self.output_dtype)
        self.d_in = self._malloc(self.h_in.nbytes)
        self.d_out = self._malloc(self.h_out.nbytes)
        # The addresses never change, so they are set once (TensorRT keeps them per context).
        if not (self.context.set_tensor_address(self.input_name, self.d_in)
                and self.context.set_tensor_address(self.output_name, self.d_out)):
            raise RuntimeError("TensorRT refused the device buffer addresses")

    def _malloc(self, nbytes: int) -> int:
        ptr = self.cuda.malloc(nbytes)
        self._ptrs.append(ptr)
        return ptr

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``[N, num_classes]`` float32 for a ``[N, C, H, W]`` float batch.

        N above the profile's max runs in chunks; a chunk below the profile's min (a static-batch engine) is
        padded with copies of its last image and the padding's outputs are dropped.
        """
        x = np.asarray(batch)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.chw:
            raise InputError(f"engine input must be [N, {', '.join(map(str, self.chw))}], got {list(x.shape)}")
        n = int(x.shape[0])
        if n == 0:
            raise InputError("empty batch")
        from yolocls.runtime.base import infer_in_batches

        with self._lock:
            return infer_in_batches(self._run, x, self.max_batch, self.min_batch).astype(np.float32, copy=False)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        import tensorrt as trt

        m = chunk.shape[0]
        host_in = self.h_in[:m]
        np.copyto(host_in, chunk, casting="same_kind")
        with self.cuda.current():  # whichever thread calls: the engine's context must be current
            if not self.context.set_input_shape(self.input_name, trt.Dims([m, *self.chw])):
                raise InputError(f"batch {m} is outside the engine's profile [{self.min_batch}, {self.max_batch}]")
            self.cuda.htod(self.d_in, host_in)
            if not self.context.execute_async_v3(self.cuda.stream()):
                raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
            host_out = self.h_out[:m]
            self.cuda.dtoh(host_out, self.d_out)
            self.cuda.synchronize()
        return host_out.astype(np.float32, copy=True)

    def device_facts(self) -> tuple[str, str]:
        return self.cuda.device_facts()

    def close(self) -> None:
        with self.cuda.current():  # TensorRT objects are destroyed on their context
            for attr in ("context", "engine", "runtime"):
                if hasattr(self, attr):
                    delattr(self, attr)
            for ptr in self._ptrs:
                self.cuda.free(ptr)
            self._ptrs.clear()
        self.cuda.close()
