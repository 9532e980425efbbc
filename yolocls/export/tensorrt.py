"""Build a TensorRT engine from a yolocls ONNX file with the TensorRT Python API.

Precision routes (chosen by :func:`select_precision_route` from the running TensorRT version):

* TensorRT 8.5 - 10.x: FP16 through ``BuilderFlag.FP16``; INT8 through ``BuilderFlag.INT8`` and an
  ``IInt8EntropyCalibrator2`` fed real images with the model's own preprocessing (:mod:`.calibration`).
* TensorRT >= 11 (weak typing and its flags removed): every network is strongly typed, so FP16 means building
  from an FP16 ONNX with float32 I/O (converted on the fly with :func:`yolocls.export.fp16.convert_to_fp16`
  when given an fp32 file); implicit INT8 is refused with the supported route (explicit Q/DQ quantization).
* An explicitly quantized ONNX (Q/DQ nodes, ``yolocls export --int8``) gives an INT8 engine on every version,
  without a calibrator: a strongly typed network on 11.x, the INT8 (+ FP16) builder flags before 11.

Everything up to :func:`build_engine`'s ``import tensorrt`` is pure Python (flag checks, the ONNX's input
shape read by :mod:`yolocls.spec.metadata`, the batch profile, the sidecar), so it is tested on machines
without TensorRT.
The engine is written raw (``trtexec`` and Triton load it); its metadata goes to the sidecar
``<engine>.json`` (:mod:`yolocls.runtime.sidecar`).
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolocls._extras import require
from yolocls.errors import ExportError, InputError
from yolocls.runtime.sidecar import file_sha256, write_sidecar
from yolocls.runtime.tensorrt_python import CudaApi, import_tensorrt, select_cuda_api
from yolocls.spec.metadata import BatchProfile, EngineFacts, ModelMetadata, parse_trt_version
from yolocls.utils.files import atomic_write_bytes

if TYPE_CHECKING:
    import tensorrt

LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 8  # dynamic-batch ONNX without --max-batch: room for small batches, tuned for batch 1
BUILDER_LEVELS = range(0, 6)
STRONG_TYPING_ONLY_MAJOR = 11  # TensorRT 11 removed BuilderFlag.FP16/INT8 and the INT8 calibrator


# ---------------------------------------------------------------------------------------------------------------
# Pure parts (no TensorRT): ONNX input, batch profile, precision route, flag checks, sidecar
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnnxInput:
    """What the builder needs to know about a classifier ONNX, read by :mod:`yolocls.spec.metadata`.

    ``shape`` is ``[N, C, H, W]`` with None for a symbolic (dynamic) axis; ``fp16`` says the graph holds float16
    initializers (an FP16 export), ``input_dtype`` is the graph input's element type name.
    """

    name: str
    shape: tuple[int | None, ...]
    input_dtype: str
    fp16: bool
    metadata: ModelMetadata
    qdq: bool = False  # explicitly quantized (Q/DQ nodes; `yolocls export --int8`): TensorRT builds INT8 from it

    @property
    def dynamic_batch(self) -> bool:
        return self.shape[0] is None

    @property
    def static_batch(self) -> int | None:
        return self.shape[0]


def inspect_onnx(path: str | os.PathLike[str]) -> OnnxInput:
    """Read the input name/shape/dtype, whether the weights are FP16, and the yolocls (or YOLOv5) metadata.

    Raises:
        InputError: the file is missing, unreadable, or not a single-input NCHW classifier.
        MetadataError: it has no yolocls or YOLOv5 metadata (class names).
    """
    from yolocls.errors import MetadataError
    from yolocls.spec.metadata import onnx_model_info
    from yolocls.spec.onnx import read_onnx_info

    p = Path(path)
    if not p.is_file():
        raise InputError(f"ONNX file {p} not found; export one with `yolocls export --include onnx`")
    try:
        info = read_onnx_info(p)
    except MetadataError as e:
        raise InputError(str(e)) from None
    inputs = info.inputs
    if len(inputs) != 1:
        raise InputError(f"{p.name} has {len(inputs)} inputs; a classifier ONNX has exactly one image input")
    if len(inputs[0].shape) != 4:
        raise InputError(f"{p.name}: input {inputs[0].name!r} has rank {len(inputs[0].shape)}; expected NCHW (rank 4)")
    dtype = inputs[0].dtype or "float32"
    if dtype == "float16":  # yolocls' engines and runtimes feed float32; TensorRT builds FP16 from fp32 I/O files
        raise InputError(f"{p.name} takes float16 inputs (export --half-io, for consumers that feed float16); "
                         "build engines from the float32-I/O FP16 file of `yolocls export --half` instead")
    model = onnx_model_info(info, p)  # the one reader: ours or YOLOv5's metadata, checked against the graph
    from yolocls.export.quantize import is_qdq_onnx

    return OnnxInput(model.input_name, model.input_shape, dtype, info.fp16_weights, model.metadata,
                     qdq=is_qdq_onnx(p, model.metadata))


def resolve_profile(shape: tuple[int | None, ...], min_batch: int | None = None, opt_batch: int | None = None,
                    max_batch: int | None = None, dla: bool = False) -> BatchProfile:
    """The batch profile from the flags and the ONNX input shape ``[N, C, H, W]`` (None = dynamic axis).

    Static batch B: the profile is (B, B, B); a flag asking for anything else is an InputError (the fix is a
    dynamic export). Dynamic batch: ``min`` defaults to 1, ``opt`` to ``min`` (kernels tuned for the latency
    case) and ``max`` to ``max(opt, 8)``; 1 <= min <= opt <= max must hold.

    ``dla`` (a ``--dla-core`` build): DLA runs no batch range (TensorRT requires min = opt = max for DLA), so a
    dynamic ONNX gets the static profile (B, B, B), B being the one batch size the flags name (1 when none);
    flags naming two different sizes are an InputError saying why.
    """
    if any(v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1)
           for v in (min_batch, opt_batch, max_batch)):
        raise InputError(f"batch sizes must be integers >= 1, got --min-batch {min_batch} --opt-batch {opt_batch} "
                         f"--max-batch {max_batch}")
    if any(d is None for d in shape[1:]):
        raise InputError(f"the ONNX input has dynamic channel/height/width {list(shape)}; export it with a fixed "
                         "--imgsz (only the batch axis may be dynamic)")
    static = shape[0]
    if static is not None:
        asked = {k: v for k, v in (("--min-batch", min_batch), ("--opt-batch", opt_batch), ("--max-batch", max_batch))
                 if v is not None and v != static and not (k == "--min-batch" and v == 1)}
        if asked:
            flags = ", ".join(f"{k} {v}" for k, v in asked.items())
            raise InputError(f"the ONNX has a static batch of {static} but {flags} was asked; re-export with "
                             f"--dynamic for a batch range, or drop the batch flags")
        return BatchProfile(static, static, static)
    if dla:
        return _dla_profile(min_batch, opt_batch, max_batch)
    lo = min_batch if min_batch is not None else 1
    opt = opt_batch if opt_batch is not None else lo
    hi = max_batch if max_batch is not None else max(opt, lo, DEFAULT_MAX_BATCH)
    if not lo <= opt <= hi:
        raise InputError(f"batch sizes must satisfy min <= opt <= max, got --min-batch {lo} --opt-batch {opt} "
                         f"--max-batch {hi}")
    return BatchProfile(lo, opt, hi)


def _dla_profile(min_batch: int | None, opt_batch: int | None, max_batch: int | None) -> BatchProfile:
    asked = {k: v for k, v in (("--min-batch", min_batch), ("--opt-batch", opt_batch), ("--max-batch", max_batch))
             if v is not None}
    sizes = sorted(set(asked.values()))
    if len(sizes) > 1:
        flags = " ".join(f"{k} {v}" for k, v in asked.items())
        raise InputError(f"DLA engines run one fixed batch size (TensorRT needs min = opt = max on DLA) but {flags} "
                         f"asks a range; pass one size (e.g. --opt-batch {max(sizes)}, smaller batches are padded "
                         "to it) or drop --dla-core to build a dynamic-batch GPU engine")
    batch = sizes[0] if sizes else 1
    return BatchProfile(batch, batch, batch)


@dataclass(frozen=True)
class PrecisionRoute:
    """How to get the asked precision out of one TensorRT version.

    ``builder_flags`` are ``BuilderFlag`` member names; ``strongly_typed`` sets the network creation flag;
    ``needs_fp16_onnx`` means the ONNX must be converted to FP16 (fp32 I/O) first; ``calibrator`` means an
    INT8 entropy calibrator must be attached; ``explicit_int8`` means the ONNX carries its own Q/DQ scales.
    """

    precision: str
    builder_flags: tuple[str, ...] = ()
    strongly_typed: bool = False
    needs_fp16_onnx: bool = False
    calibrator: bool = False
    explicit_int8: bool = False


def select_precision_route(trt_version: str | tuple[int, ...], fp16: bool = True, int8: bool = False,
                           onnx_fp16: bool = False, qdq: bool = False) -> PrecisionRoute:
    """The build recipe for ``fp16``/``int8`` on TensorRT ``trt_version`` for an ONNX whose weights are
    FP16 (``onnx_fp16``) or not, and that is explicitly quantized (``qdq``: Q/DQ nodes) or not.

    A Q/DQ ONNX always gives an INT8 engine (explicit quantization; ``int8`` is implied, no calibrator): on
    TensorRT >= 11 a strongly typed network (no precision flags exist; the float layers run as typed, FP32),
    before 11 the INT8 flag (which explicit quantization needs in a weakly typed network) plus FP16 with ``fp16``
    so the float layers between the Q/DQ pairs may run in FP16.

    Raises:
        InputError: implicit INT8 asked on TensorRT >= 11, or FP32 asked from an FP16 ONNX on TensorRT >= 11.
    """
    major = parse_trt_version(trt_version)[0]
    if qdq:
        if major >= STRONG_TYPING_ONLY_MAJOR:
            return PrecisionRoute("int8", strongly_typed=True, explicit_int8=True)
        return PrecisionRoute("int8", builder_flags=("INT8", "FP16") if fp16 else ("INT8",), explicit_int8=True)
    if major >= STRONG_TYPING_ONLY_MAJOR:
        if int8:
            raise InputError(
                f"TensorRT {major}.x removed implicit INT8 calibration (BuilderFlag.INT8 and the calibrator); "
                "build FP16 (the default), or make an explicitly quantized (Q/DQ) ONNX with `yolocls export "
                "--int8 --data DIR` and build that <stem>.int8.onnx, or use TensorRT 10.x for --int8"
            )
        if onnx_fp16:
            if not fp16:
                raise InputError("this ONNX holds FP16 weights and TensorRT 11 builds every network as typed, so "
                                 "--no-half cannot give FP32: pass an fp32 ONNX (export without --half)")
            return PrecisionRoute("fp16", strongly_typed=True)
        if fp16:
            return PrecisionRoute("fp16", strongly_typed=True, needs_fp16_onnx=True)
        return PrecisionRoute("fp32", strongly_typed=True)
    if int8:
        # FP16 stays on beside INT8 so layers without an INT8 kernel run in FP16 rather than FP32.
        flags = ("INT8", "FP16") if fp16 else ("INT8",)
        return PrecisionRoute("int8", builder_flags=flags, calibrator=True)
    if fp16 or onnx_fp16:
        return PrecisionRoute("fp16", builder_flags=("FP16",))
    return PrecisionRoute("fp32")


def validate_build_flags(
    onnx_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    fp16: bool = True,
    int8: bool = False,
    calib_data: str | os.PathLike[str] | None = None,
    calib_images: int = 500,
    calib_cache: str | os.PathLike[str] | None = None,
    workspace_gib: float = 4.0,
    dla_core: int | None = None,
    gpu_fallback: bool = False,
    builder_level: int | None = None,
    qdq: bool = False,
) -> Path:
    """Check the build flags against each other (no TensorRT needed); return the engine path.

    ``qdq``: the ONNX is explicitly quantized (:func:`yolocls.export.quantize.is_qdq_onnx`), so INT8 needs no
    calibration images (its scales are in the file) and calibration flags are refused.

    Raises:
        InputError: contradictory or out-of-range flags, with the fix in the message.
    """
    src = Path(onnx_path)
    if src.suffix.lower() != ".onnx":
        raise InputError(f"--onnx expects an .onnx file, got {src.name}")
    out = Path(output) if output is not None else src.with_suffix(".engine")
    if out.suffix.lower() in (".onnx", ".json"):
        raise InputError(f"--output {out.name} would overwrite a model or sidecar; name the engine *.engine or *.plan")
    if qdq and (calib_data is not None or calib_cache is not None):
        raise InputError(f"{src.name} is explicitly quantized (Q/DQ nodes: its INT8 scales are in the file); drop "
                         "--calib-data/--calib-cache")
    if int8 and not qdq:
        if calib_data is None and not read_cache_exists(calib_cache):
            raise InputError("--int8 needs calibration images (--calib-data DIR) or an existing --calib-cache FILE")
        if calib_data is not None and not Path(calib_data).is_dir():
            raise InputError(f"--calib-data {calib_data} is not a folder of images")
        if calib_images < 1:
            raise InputError(f"--calib-images must be >= 1, got {calib_images}")
    elif not int8 and (calib_data is not None or calib_cache is not None):
        raise InputError("--calib-data/--calib-cache only apply to --int8; add --int8 or drop them")
    if not workspace_gib > 0:
        raise InputError(f"--workspace must be > 0 GiB, got {workspace_gib}")
    if dla_core is not None:
        if dla_core < 0:
            raise InputError(f"--dla-core must be >= 0, got {dla_core}")
        if not (fp16 or int8 or qdq):
            raise InputError("DLA runs only FP16 or INT8 layers: drop --no-half or add --int8 for --dla-core")
    elif gpu_fallback:
        raise InputError("--gpu-fallback only applies with --dla-core N (layers DLA cannot run go to the GPU)")
    if builder_level is not None and builder_level not in BUILDER_LEVELS:
        raise InputError(f"--builder-level must be 0..5 (TensorRT's default is 3), got {builder_level}")
    return out


def read_cache_exists(path: str | os.PathLike[str] | None) -> bool:
    """True when ``path`` names a non-empty file (a calibration cache TensorRT can use instead of images)."""
    return path is not None and Path(path).is_file() and Path(path).stat().st_size > 0


def build_sidecar(
    metadata: ModelMetadata,
    *,
    engine_sha256: str,
    onnx_sha256: str,
    trt_version: str,
    gpu_name: str,
    compute_capability: str,
    route: PrecisionRoute,
    profile: BatchProfile,
    dynamic: bool,
    dla_core: int | None = None,
    gpu_fallback: bool = False,
    builder_level: int | None = None,
    build_seconds: float | None = None,
    calibration: dict[str, Any] | None = None,
) -> ModelMetadata:
    """The engine's :class:`ModelMetadata`: the ONNX's, plus the TensorRT facts the runtime checks."""
    meta = copy.deepcopy(metadata)
    meta.dynamic = dynamic
    meta.batch = profile.max if not dynamic else metadata.batch
    meta.engine = EngineFacts(
        tensorrt_version=str(trt_version), gpu_name=str(gpu_name), compute_capability=str(compute_capability),
        precision=route.precision, profile=BatchProfile(profile.min, profile.opt, profile.max),
        engine_sha256=engine_sha256, onnx_sha256=onnx_sha256, builder_flags=tuple(route.builder_flags),
        strongly_typed=route.strongly_typed, builder_level=builder_level, dla_core=dla_core,
        gpu_fallback=gpu_fallback if dla_core is not None else False,
        build_seconds=None if build_seconds is None else round(float(build_seconds), 3),
        calibration=calibration or None)
    return meta


@dataclass
class EngineResult:
    """What :func:`build_engine` produced."""

    engine: Path
    sidecar: Path
    precision: str
    profile: BatchProfile
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    build_seconds: float
    size_bytes: int
    metadata: ModelMetadata
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# TensorRT parts
# ---------------------------------------------------------------------------------------------------------------


def _progress_monitor() -> Any | None:
    """An ``IProgressMonitor`` (TensorRT >= 10) drawing TensorRT's build phases with rich; None before 10."""
    import tensorrt as trt

    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    class RichMonitor(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.lock = threading.Lock()  # TensorRT calls it from its own threads
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), transient=True)
            self.tasks: dict[str, Any] = {}
            self.progress.start()

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self.lock:
                indent = "  " if parent_phase else ""
                self.tasks[phase_name] = self.progress.add_task(indent + phase_name, total=num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self.lock:
                if phase_name in self.tasks:
                    self.progress.update(self.tasks[phase_name], completed=step + 1)
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            with self.lock:
                task = self.tasks.pop(phase_name, None)
                if task is not None:
                    self.progress.remove_task(task)

        def stop(self) -> None:
            self.progress.stop()

    return RichMonitor()


def _parse_onnx(network: tensorrt.INetworkDefinition, logger: tensorrt.ILogger, path: Path) -> None:
    import tensorrt as trt

    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):  # from file: resolves external data next to the model
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise ExportError(f"TensorRT's ONNX parser rejected {path.name}: {' | '.join(errors) or 'no details'}")


def _fp16_onnx(src: Path, workdir: Path) -> Path:
    """An FP16 copy (fp32 I/O) of ``src`` in ``workdir`` for TensorRT 11's strongly typed FP16 build."""
    import onnx

    from yolocls.export.fp16 import convert_to_fp16

    model = onnx.load(str(src))
    out = workdir / (src.stem + "-fp16.onnx")
    onnx.save(convert_to_fp16(model), str(out))
    return out


def build_engine(
    onnx_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    fp16: bool = True,
    int8: bool = False,
    calib_data: str | os.PathLike[str] | None = None,
    calib_images: int = 500,
    calib_cache: str | os.PathLike[str] | None = None,
    min_batch: int | None = None,
    opt_batch: int | None = None,
    max_batch: int | None = None,
    workspace_gib: float = 4.0,
    timing_cache: str | os.PathLike[str] | None = None,
    dla_core: int | None = None,
    gpu_fallback: bool = False,
    builder_level: int | None = None,
    verbose: bool = False,
    progress: bool = True,
) -> EngineResult:
    """Build ``<onnx>.engine`` (or ``output``) and its sidecar ``<engine>.json``.

    Args:
        onnx_path: an ONNX exported by ``yolocls export`` (or YOLOv5's export, which carries names).
        fp16 / int8: precision; the route depends on the TensorRT version (see :func:`select_precision_route`).
        calib_data, calib_images, calib_cache: INT8 calibration images folder, how many to use, cache file.
        min_batch, opt_batch, max_batch: optimization profile for a dynamic-batch ONNX (min defaults to 1; with
            ``dla_core`` one fixed batch size, see :func:`resolve_profile`).
        workspace_gib: builder workspace memory pool limit in GiB.
        timing_cache: file to load tactic timings from and save them to (faster rebuilds).
        dla_core, gpu_fallback: run on a Jetson DLA core, optionally letting unsupported layers run on the GPU.
        builder_level: TensorRT builder optimization level 0..5 (TensorRT >= 8.6).
        verbose: TensorRT's verbose log; progress: draw build phases (TensorRT >= 10).
    Raises:
        InputError: contradictory flags or an ONNX that contradicts them (checked before TensorRT is needed).
        BackendUnavailableError: TensorRT or a CUDA binding is not installed.
        ExportError: TensorRT could not parse or build the model.
    """
    from yolocls.export.quantize import is_qdq_onnx

    out = validate_build_flags(onnx_path, output, fp16, int8, calib_data, calib_images, calib_cache, workspace_gib,
                               dla_core, gpu_fallback, builder_level, qdq=is_qdq_onnx(onnx_path))
    src = Path(onnx_path)
    info = inspect_onnx(src)
    profile = resolve_profile(info.shape, min_batch, opt_batch, max_batch, dla=dla_core is not None)
    trt_version = import_tensorrt().__version__
    route = select_precision_route(trt_version, fp16, int8, info.fp16, qdq=info.qdq)
    if route.needs_fp16_onnx:  # before the GPU is touched: the conversion needs onnx + onnxconverter-common
        require("export", f"an FP16 build on TensorRT {trt_version} from an fp32 ONNX",
                ("onnx", "onnxconverter_common"), hint="or export the ONNX with --half first")
    cuda = select_cuda_api()  # device buffers (INT8 calibration), GPU name and compute capability
    try:
        with cuda.current():  # TensorRT builds on the CUDA context current on this thread
            return _build(cuda, src, out, info, profile, route, calib_data=calib_data,
                          calib_images=calib_images, calib_cache=calib_cache, workspace_gib=workspace_gib,
                          timing_cache=timing_cache, dla_core=dla_core, gpu_fallback=gpu_fallback,
                          builder_level=builder_level, verbose=verbose, progress=progress)
    finally:
        cuda.close()


def _build(cuda: CudaApi, src: Path, out: Path, info: OnnxInput, profile: BatchProfile,
           route: PrecisionRoute, *, calib_data: str | os.PathLike[str] | None, calib_images: int,
           calib_cache: str | os.PathLike[str] | None, workspace_gib: float,
           timing_cache: str | os.PathLike[str] | None, dla_core: int | None, gpu_fallback: bool,
           builder_level: int | None, verbose: bool, progress: bool) -> EngineResult:
    import tensorrt as trt

    notes: list[str] = []
    gpu_name, cc = cuda.device_facts()
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = parse_trt_version(trt.__version__)[0]
    flags = 0
    if major < 10:  # explicit batch is implicit (and the flag deprecated) from TensorRT 10 on
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if route.strongly_typed:  # required for FP16-from-ONNX before 11, accepted and ignored on 11
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    calibrator = None
    monitor = None
    with tempfile.TemporaryDirectory(prefix="yolocls-trt-") as tmp:
        model_file = src
        if route.needs_fp16_onnx:
            model_file = _fp16_onnx(src, Path(tmp))
            notes.append("converted the fp32 ONNX to FP16 (fp32 I/O) for TensorRT's strongly typed build")
        _parse_onnx(network, logger, model_file)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
        for name in route.builder_flags:
            config.set_flag(getattr(trt.BuilderFlag, name))
        chw = (int(info.shape[1] or 0), int(info.shape[2] or 0), int(info.shape[3] or 0))
        input_name = network.get_input(0).name
        if info.dynamic_batch:
            prof = builder.create_optimization_profile()
            lo, mid, hi = profile.shapes(chw)
            prof.set_shape(input_name, trt.Dims(list(lo)), trt.Dims(list(mid)), trt.Dims(list(hi)))
            config.add_optimization_profile(prof)
        batches = None
        if route.calibrator:
            from yolocls.export.calibration import CalibrationBatches, make_entropy_calibrator

            if calib_data is not None:
                batches = CalibrationBatches(calib_data, info.metadata.preprocess, batch_size=profile.opt,
                                             max_images=calib_images)
            calibrator = make_entropy_calibrator(batches, calib_cache, cuda)
            config.int8_calibrator = calibrator
            if info.dynamic_batch:  # calibration runs at one fixed shape
                cal = builder.create_optimization_profile()
                shape = trt.Dims([batches.batch_size if batches else profile.opt, *chw])
                cal.set_shape(input_name, shape, shape, shape)
                config.set_calibration_profile(cal)
        timing = None
        if timing_cache is not None:
            blob = Path(timing_cache).read_bytes() if Path(timing_cache).is_file() else b""
            timing = config.create_timing_cache(blob)
            if not config.set_timing_cache(timing, False):
                notes.append(f"timing cache {timing_cache} is from another GPU/TensorRT: started a new one")
                timing = config.create_timing_cache(b"")
                config.set_timing_cache(timing, False)
        if dla_core is not None:
            if builder.num_DLA_cores <= dla_core:
                raise InputError(f"--dla-core {dla_core} but this device has {builder.num_DLA_cores} DLA core(s) "
                                 "(DLA exists on Jetson AGX/NX Orin and Xavier only)")
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = dla_core
            if gpu_fallback:
                config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        if builder_level is not None:
            if not hasattr(config, "builder_optimization_level"):
                raise InputError(f"--builder-level needs TensorRT >= 8.6 (running {trt.__version__})")
            config.builder_optimization_level = builder_level
        if progress and not verbose:
            monitor = _progress_monitor()
            if monitor is not None:
                config.progress_monitor = monitor
        t0 = time.perf_counter()
        try:
            serialized = builder.build_serialized_network(network, config)
        finally:
            if monitor is not None:
                monitor.stop()
            if calibrator is not None:
                calibrator.free()
        build_seconds = time.perf_counter() - t0
    if serialized is None:
        raise ExportError("TensorRT failed to build the engine; rerun with --verbose to see TensorRT's log")
    data = bytes(memoryview(serialized))
    atomic_write_bytes(out, data)
    if timing is not None and timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    calibration: dict[str, Any] | None = None
    if batches is not None:
        calibration = {"images": batches.images_used, "skipped": batches.skipped, "batch": batches.batch_size}
    elif route.calibrator:
        calibration = {"cache": os.fspath(calib_cache) if calib_cache is not None else None}
    elif route.explicit_int8:  # the scales came with the ONNX (Q/DQ nodes), e.g. from `yolocls export --int8`
        calibration = {"explicit_qdq": True}
    # A dynamic ONNX built with one batch size (min = opt = max, as every DLA build) is a fixed-batch engine.
    fixed = profile.min == profile.max
    meta = build_sidecar(info.metadata, engine_sha256=file_sha256(out), onnx_sha256=file_sha256(src),
                         trt_version=trt.__version__, gpu_name=gpu_name, compute_capability=cc, route=route,
                         profile=profile, dynamic=info.dynamic_batch and not fixed, dla_core=dla_core,
                         gpu_fallback=gpu_fallback,
                         builder_level=builder_level, build_seconds=build_seconds, calibration=calibration)
    side = write_sidecar(out, meta)
    return EngineResult(out, side, route.precision, profile, trt.__version__, gpu_name, cc, build_seconds, len(data),
                        meta, notes)
