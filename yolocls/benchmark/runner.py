"""Latency benchmark of zoo models / weight files on every backend this machine can run.

Each (model, backend, batch) row times ``Backend.predict`` -- the product's own path from uint8 1280x720 BGR
frames to top-5 -- per stage (preprocess, inference, postprocess, from ``Backend.timings``) and end to end.
Exports a backend needs (ONNX, TensorRT engines) are made on the fly and cached by a hash of the source
weights, so a second run starts measuring at once. Backends that cannot run here become ``skipped`` rows with
the reason, never an error.

Precision: a row's ``precision`` is the file's (``int8`` for a Q/DQ ONNX from ``yolocls export --int8``,
``fp16`` for an FP16 export, else ``fp32``) or, for OpenVINO rows of an fp32 model, the inference hint asked with
``precisions`` (``bf16``, ``fp16``; skipped with the reason where the CPU has no such units). Every reduced-precision
row carries ``vs_fp32``: its top-1 agreement with the fp32 model (the same source, or the FP32 file an INT8/FP16
file was made from: ``best.int8.onnx`` -> ``best.onnx``) on the same images, and the speed ratio of the two.

Use :func:`run_benchmark` (or :func:`iter_benchmark` to show progress) and render with
:mod:`yolocls.benchmark.report`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolocls._extras import require
from yolocls.benchmark.report import NOT_AVAILABLE, images_per_second, latency_stats, new_report
from yolocls.errors import InputError, YoloclsError

BACKEND_ORDER = ("torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # the CLI's Precision words (yolocls.cli._options.Precision)
RUNTIME_HINTS = {"fp16": "f16", "bf16": "bf16"}  # OpenVINO inference-precision hints a row can ask for
#: CPU flags (/proc/cpuinfo) that give OpenVINO native units for a hint; without them it computes in fp32
HINT_CPU_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}
AGREEMENT_IMAGES = 32  # synthetic frames for the top-1 agreement when no --images folder is given
FRAME_HW = (720, 1280)  # a 720p camera frame
EXCLUDED_FROM_ALL = ("tiny",)  # model families left out of --models all (test-only)


@dataclass
class BenchmarkSettings:
    """What to measure.

    Attributes:
        imgsz: model input side in pixels.
        batches: batch sizes (frames per ``predict`` call).
        backends: backend names, in :data:`BACKEND_ORDER` order when printed.
        runs: timed ``predict`` calls per row at most (the time budget may stop earlier).
        warmup: untimed calls first (also capped at a quarter of the time budget).
        threads: CPU inference threads for ONNX Runtime / OpenVINO / torch (None: each library's default).
        device: ``cpu`` or a CUDA device (``0``) for torch / ONNX Runtime; TensorRT always uses the GPU.
        time_budget_s: seconds of timed runs per row before it stops (at least ``min_runs`` runs).
        min_runs: timed runs a row always gets.
        cache_dir: where exports are cached (default ``$YOLOCLS_CACHE`` or ``~/.cache/yolocls/bench``).
        frame_hw: (height, width) of the synthetic BGR frames.
        seed: seed for random-init zoo weights and the frames (weights matter for the cache key only).
        precisions: ``fp32`` and/or OpenVINO inference hints ``bf16``/``fp16`` (extra OpenVINO rows of fp32
            models). ``int8`` is a property of a model file (benchmark the ``.int8.onnx``), not a setting.
        agreement_images: a folder of images for the top-1 agreement of reduced-precision rows with fp32 (default:
            :data:`AGREEMENT_IMAGES` synthetic frames).
    """

    imgsz: int = 224
    batches: tuple[int, ...] = (1,)
    backends: tuple[str, ...] = BACKEND_ORDER
    runs: int = 200
    warmup: int = 20
    threads: int | None = None
    device: str = "cpu"
    time_budget_s: float = 8.0
    min_runs: int = 5
    cache_dir: str | None = None
    frame_hw: tuple[int, int] = FRAME_HW
    seed: int = 0
    precisions: tuple[str, ...] = ("fp32",)
    agreement_images: str | None = None

    def __post_init__(self) -> None:
        def positive(name: str, v: Any) -> None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")

        positive("imgsz", self.imgsz)
        positive("runs", self.runs)
        positive("min_runs", self.min_runs)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise InputError(f"warmup must be an integer >= 0, got {self.warmup!r}")
        if self.threads is not None:
            positive("threads", self.threads)
        self.batches = tuple(int(b) for b in self.batches)
        if not self.batches:
            raise InputError("give at least one batch size, e.g. --batch 1")
        for b in self.batches:
            positive("batch", b)
        self.backends = tuple(parse_backends(",".join(self.backends)))
        if not self.time_budget_s > 0:
            raise InputError(f"time budget must be > 0 seconds, got {self.time_budget_s!r}")
        self.device = str(self.device).strip().lower() or "cpu"
        self.precisions = tuple(dict.fromkeys(str(getattr(p, "value", p)).strip().lower() for p in self.precisions))
        for p in self.precisions:
            if p == "int8":
                raise InputError("int8 is the precision of a model file, not a runtime setting: benchmark an INT8 "
                                 "Q/DQ ONNX (yolocls export --int8 writes <stem>.int8.onnx) with --weights")
            if p not in PRECISIONS:
                raise InputError(f"unknown precision {p!r}; choose from fp32, fp16, bf16")
        if not self.precisions:
            self.precisions = ("fp32",)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frame"] = f"{self.frame_hw[1]}x{self.frame_hw[0]} uint8 BGR"
        d["cache_dir"] = str(cache_dir(self.cache_dir))
        return d


def parse_backends(text: str) -> list[str]:
    """``"torch,onnxruntime"`` -> names (``all`` = every backend); unknown names raise InputError."""
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not names or names == ["all"]:
        return list(BACKEND_ORDER)
    aliases = {"ort": "onnxruntime", "onnx": "onnxruntime", "ov": "openvino", "trt": "tensorrt", "pytorch": "torch"}
    out = []
    for n in names:
        n = aliases.get(n, n)
        if n not in BACKEND_ORDER:
            raise InputError(f"unknown backend {n!r}; choose from {', '.join(BACKEND_ORDER)}")
        if n not in out:
            out.append(n)
    return out


def parse_batches(text: str) -> tuple[int, ...]:
    """``"1,8"`` -> (1, 8); raises InputError on anything but positive integers."""
    try:
        out = tuple(int(t) for t in str(text).split(",") if t.strip())
    except ValueError:
        raise InputError(f"batch sizes must be comma-separated positive integers, got {text!r}") from None
    if not out or any(b < 1 for b in out):
        raise InputError(f"batch sizes must be comma-separated positive integers, got {text!r}")
    return out


def resolve_models(models: Sequence[str]) -> list[str]:
    """Expand ``all`` (every zoo model except test-only ones) and comma lists; unknown names raise."""
    if not any(str(m).strip(", ") for m in models):
        return []
    require("train", "benchmarking zoo models (they are built in PyTorch)", ("torch",),
            hint="`yolocls benchmark --weights M.onnx` measures an exported model without it")
    from yolocls.models import get_entry, list_models

    out: list[str] = []
    for item in models:
        for name in (t.strip() for t in str(item).split(",")):
            if not name:
                continue
            names = ([n for n in list_models() if get_entry(n).family not in EXCLUDED_FROM_ALL]
                     if name.lower() == "all" else [get_entry(name).name])
            out += [n for n in names if n not in out]
    return out


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The export cache folder: ``path``, else ``$YOLOCLS_CACHE/bench``, else ``~/.cache/yolocls/bench``."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get("YOLOCLS_CACHE")
    return Path(env).expanduser() / "bench" if env else Path.home() / ".cache" / "yolocls" / "bench"


def make_frames(n: int, height: int = FRAME_HW[0], width: int = FRAME_HW[1], seed: int = 0) -> list[np.ndarray]:
    """``n`` distinct uint8 ``height x width x 3`` BGR frames (smooth gradients plus noise, like a camera)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(n):
        base = np.stack([(xx * (0.1 + 0.05 * c) + yy * 0.07 + 40 * i + 60 * c) % 256 for c in range(3)], axis=2)
        noise = rng.normal(0, 12, size=(height, width, 3)).astype(np.float32)
        frames.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return frames


# ----------------------------------------------------------------------------------------------- sources
@dataclass
class ModelSource:
    """A model to benchmark: a zoo model (random weights, seeded) or a weight file."""

    name: str
    digest: str  # sha256 of the weights: the export cache key
    module: Any = None  # torch nn.Module in eval mode (None for an .onnx source)
    onnx_path: Path | None = None  # set for an .onnx source
    params_m: float | None = None
    gflops: float | None = None
    gflops_true: float | None = None
    published: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"  # of the weights: int8 (Q/DQ ONNX), fp16 (FP16 export) or fp32
    base: str = ""  # the fp32 model it compares with: best.int8.onnx -> best (default: name)

    def __post_init__(self) -> None:
        self.base = self.base or self.name


_VARIANT_TAGS = (".int8", ".fp16-io", ".fp16")  # yolocls.export.onnx.variant_path's precision tags


def base_name(stem: str) -> str:
    """The FP32 file's stem of an export variant: ``best.int8`` -> ``best``, ``best.fp16.norm`` -> ``best.norm``."""
    for tag in _VARIANT_TAGS:
        if tag + "." in stem + ".":
            i = (stem + ".").index(tag + ".")
            return stem[:i] + stem[i + len(tag):]
    return stem


def onnx_precision(path: str | os.PathLike[str]) -> str:
    """``int8`` for a Q/DQ ONNX (``quantization`` in yolocls' metadata, or DequantizeLinear nodes), ``fp16`` for
    FP16 weights, else ``fp32``. Reads the file with the spec's ONNX reader (no onnx import)."""
    import json
    import mmap

    from yolocls.spec.onnx import read_onnx_info

    info = read_onnx_info(path)
    try:
        meta = json.loads(info.props.get("yolocls", "{}"))
    except ValueError:
        meta = {}
    if isinstance(meta, dict) and meta.get("quantization"):
        return "int8"
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        # NodeProto.op_type (field 4, length-delimited) = "DequantizeLinear": the Q/DQ form's signature
        if m.find(b'"\x10DequantizeLinear') >= 0:
            return "int8"
    return "fp16" if info.fp16_weights else "fp32"


def _digest_module(module: Any) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _with_cost(src: ModelSource, imgsz: int) -> ModelSource:
    from yolocls.models.flops import model_info

    info = model_info(src.module, imgsz=imgsz)
    src.params_m = info["params"] / 1e6
    src.gflops = float(info["gflops"])
    src.gflops_true = float(info["gflops_true"])
    return src


def zoo_source(name: str, imgsz: int = 224, seed: int = 0) -> ModelSource:
    """A zoo model with seeded random weights (fine for speed), with params and FLOPs at ``imgsz``."""
    import torch

    from yolocls.models import create_model, get_entry

    entry = get_entry(name)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = create_model(entry.name).eval()
    src = ModelSource(name=entry.name, digest=_digest_module(module), module=module,
                      published={k: v for k, v in entry.published.items() if k != "source"})
    return _with_cost(src, imgsz)


def file_source(path: str | os.PathLike[str], imgsz: int = 224) -> ModelSource:
    """A ``.pt`` checkpoint or an ``.onnx`` export to benchmark (an ONNX file cannot run on ``torch``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        require("train", "benchmarking a PyTorch checkpoint", ("torch",),
                hint="export it to ONNX elsewhere and benchmark the .onnx")
        from yolocls.models import load_model

        module = load_model(str(path), device="cpu").float().eval()
        src = ModelSource(name=str(getattr(module, "model_name", None) or path.stem), digest=_digest_file(path),
                          module=module)
        return _with_cost(src, imgsz)
    if suffix == ".onnx":
        from yolocls.spec.onnx import read_onnx_info

        params_m = read_onnx_info(path).parameter_count / 1e6  # our reader: no onnx import
        return ModelSource(name=path.stem, digest=_digest_file(path), onnx_path=path, params_m=params_m,
                           precision=onnx_precision(path), base=base_name(path.stem))
    raise InputError(f"--weights must be a .pt checkpoint or an .onnx export, got {path.name!r}")


# ----------------------------------------------------------------------------------------------- exports
def onnx_for(src: ModelSource, imgsz: int, cache: Path) -> Path:
    """The source's ONNX export at ``imgsz`` (dynamic batch, simplified), made once and cached by weight hash."""
    if src.onnx_path is not None:
        return src.onnx_path
    from yolocls import __version__

    require("export", f"benchmarking {src.name} on an ONNX backend (it is exported first)", ("onnx", "onnxsim"))
    from yolocls.export.onnx import export_onnx

    key = hashlib.sha256(f"{src.digest}|{imgsz}|opset17|dynamic|{__version__}".encode()).hexdigest()[:16]
    path = cache / f"{src.name}-{imgsz}-{key}.onnx"
    if not path.is_file():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation/simplifier chatter is not a result
            export_onnx(src.module, path, imgsz=imgsz, dynamic=True, simplify=True, verify=False,
                        model_name=src.name)
    return path


def engine_for(onnx_path: Path, max_batch: int, cache: Path) -> Path:
    """A TensorRT FP16 engine for ``onnx_path`` (batch 1..max_batch), cached per ONNX file, TensorRT and GPU."""
    from yolocls.export.tensorrt import build_engine

    trt_ver, gpu = "native", "gpu"
    try:
        import tensorrt

        trt_ver = tensorrt.__version__
    except ImportError:
        pass
    try:
        from yolocls.runtime.tensorrt_python import select_cuda_api

        cuda = select_cuda_api()
        try:
            gpu = cuda.device_facts()[0]
        finally:
            cuda.close()
    except Exception:  # noqa: BLE001 - only part of a cache key
        pass
    key = hashlib.sha256(f"{onnx_path.name}|{max_batch}|{trt_ver}|{gpu}|fp16".encode()).hexdigest()[:16]
    path = cache / f"{onnx_path.stem}-b{max_batch}-{key}.engine"
    if not (path.is_file() and Path(str(path) + ".json").is_file()):
        build_engine(onnx_path, output=path, fp16=True, min_batch=1, opt_batch=max_batch, max_batch=max_batch,
                     progress=False)
    return path


# ----------------------------------------------------------------------------------------------- backends
def _is_cpu(device: str) -> bool:
    return str(device).strip().lower() == "cpu"


def skip_reason(backend: str, device: str = "cpu", src: ModelSource | None = None) -> str | None:
    """Why ``backend`` cannot be measured here on ``device`` (None when it can)."""
    from yolocls.runtime import available_backends

    avail = available_backends()
    if backend == "torch" and backend in avail and src is not None and src.module is None:
        return "needs a .pt checkpoint or a zoo model (the source is an ONNX file)"
    if backend not in avail:
        if backend == "tensorrt":
            return f"{NOT_AVAILABLE} (no TensorRT library, or the extension was built without it)"
        if backend == "openvino":
            from yolocls import _native

            why = getattr(_native, "_IMPORT_ERROR", None)
            return (f"{NOT_AVAILABLE} (the compiled extension with OpenVINO is not importable"
                    f"{': ' + str(why) if why else ''})")
        if backend == "torch":
            return f"{NOT_AVAILABLE} (the PyTorch baseline needs the [train] extra: pip install 'yolocls[train]')"
        return f"{NOT_AVAILABLE} (pip install 'yolocls[{backend}]')"
    if backend == "openvino" and not _is_cpu(device):
        return "runs on the CPU only; benchmark it with --device cpu"
    if backend == "tensorrt":
        why = _no_gpu_reason()
        if why is not None:
            return f"{NOT_AVAILABLE} ({why})"
    if backend == "torch" and not _is_cpu(device):
        import torch

        if not torch.cuda.is_available():
            return f"device {device!r} is not available here (no CUDA GPU); use --device cpu"
    if backend == "onnxruntime" and not _is_cpu(device):
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return "the GPU needs onnxruntime-gpu (CUDAExecutionProvider); pip install onnxruntime-gpu"
    return None


def _no_gpu_reason() -> str | None:
    """Why TensorRT cannot reach a GPU here (None when it can): the extension's CUDA, else a CUDA binding."""
    from yolocls.runtime.tensorrt_backend import native_tensorrt

    ext = native_tensorrt()
    if ext is not None:
        return None if ext.build_info()["cuda_devices"] > 0 else "no NVIDIA GPU"
    from yolocls.runtime.tensorrt_python import select_cuda_api

    try:
        select_cuda_api().close()
    except YoloclsError as e:
        return str(e)
    return None


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("flags", "features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def hint_skip_reason(precision: str, backend: str, src: ModelSource) -> str | None:
    """Why an OpenVINO ``precision`` hint row (bf16/fp16) is not measured for ``src`` (None when it is)."""
    if backend != "openvino":
        return f"{precision} is an OpenVINO inference hint; {backend} runs the file's own precision"
    if src.precision != "fp32":
        return f"the file is already {src.precision}"
    if not hint_supported(precision):
        flags = HINT_CPU_FLAGS[precision]
        return (f"this CPU has no {precision} units ({' or '.join(flags)}; OpenVINO's OPTIMIZATION_CAPABILITIES "
                f"lack {precision.upper()}): OpenVINO would compute in fp32, so a {precision} row would measure fp32 "
                "under another name")
    return None


def hint_supported(precision: str) -> bool:
    """Whether OpenVINO's CPU plugin runs ``precision`` (bf16/fp16) natively here: its OPTIMIZATION_CAPABILITIES
    when the openvino package is installed, else the CPU flags of :data:`HINT_CPU_FLAGS`."""
    try:
        import openvino as ov

        return precision.upper() in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no openvino package (the C++ backend needs none), or no CPU plugin
        return bool(cpu_flags() & set(HINT_CPU_FLAGS[precision]))


def row_device(backend: str, device: str) -> str:
    """Where the backend runs: TensorRT on the GPU, OpenVINO on the CPU, the others on ``device``."""
    if backend == "tensorrt":
        return "0" if _is_cpu(device) else device
    return "cpu" if backend == "openvino" else device


def open_backend(backend: str, src: ModelSource, settings: BenchmarkSettings, cache: Path,
                 precision: str = "fp32") -> Any:
    """A :class:`yolocls.runtime.Backend` for ``src`` on ``backend``, exporting what it needs first; ``precision``
    ``bf16``/``fp16`` asks OpenVINO for that inference precision (:data:`RUNTIME_HINTS`)."""
    from yolocls.runtime import load

    if precision in RUNTIME_HINTS:
        return load(onnx_for(src, settings.imgsz, cache), backend="openvino", device="cpu",
                    threads=settings.threads, precision=RUNTIME_HINTS[precision])

    if backend == "torch":
        import torch

        from yolocls.runtime.torch_backend import TorchBackend

        if settings.threads:
            torch.set_num_threads(settings.threads)
        return TorchBackend(src.module, device=settings.device)
    onnx_path = onnx_for(src, settings.imgsz, cache)
    if backend == "tensorrt":
        return load(engine_for(onnx_path, max(settings.batches), cache), backend="tensorrt")
    return load(onnx_path, backend=backend, device=row_device(backend, settings.device), threads=settings.threads)


def measure(backend: Any, frames: Sequence[np.ndarray], runs: int, warmup: int, time_budget_s: float,
            min_runs: int = 5) -> dict[str, Any]:
    """Time ``backend.predict(frames, topk=5)``; see :func:`measure_interleaved` (this is one backend of it)."""
    res = measure_interleaved({"b": backend}, frames, runs, warmup, time_budget_s, min_runs)["b"]
    if isinstance(res, BaseException):
        raise res
    return res


def measure_interleaved(backends: dict[str, Any], frames: Sequence[np.ndarray], runs: int, warmup: int,
                        time_budget_s: float, min_runs: int = 5, chunk: int = 5) -> dict[str, Any]:
    """Time ``predict(frames, topk=5)`` of several backends in alternating chunks of ``chunk`` calls.

    Interleaving gives every backend the same share of whatever else the machine is doing, so their
    numbers compare fairly on a busy machine. A backend stops after ``runs`` timed calls, or once it has
    spent ``time_budget_s`` seconds in timed calls (after at least ``min_runs``). Warmup stops after a quarter
    of the budget.

    Returns per name either an exception (the backend failed) or ``stages`` (latency stats per stage, ms per
    call: preprocess, inference, postprocess from ``Backend.timings``, end_to_end), ``runs`` and ``budget_hit``.
    """
    frames = list(frames)
    out: dict[str, Any] = {}
    for name, bk in backends.items():
        t_end = time.perf_counter() + time_budget_s / 4
        try:
            for i in range(warmup):
                bk.predict(frames, topk=5)
                if i >= 1 and time.perf_counter() > t_end:
                    break
        except Exception as e:  # noqa: BLE001 - the caller records it in the backend's row
            out[name] = e
    live = [n for n in backends if n not in out]
    samples: dict[str, dict[str, list[float]]] = {
        n: {s: [] for s in ("preprocess", "inference", "postprocess", "end_to_end")} for n in live}
    spent = dict.fromkeys(live, 0.0)
    hit = dict.fromkeys(live, False)
    rnd = 0
    while live:
        order = live if rnd % 2 == 0 else live[::-1]
        rnd += 1
        for name in list(order):
            bk, smp = backends[name], samples[name]
            try:
                for _ in range(chunk):
                    t0 = time.perf_counter()
                    bk.predict(frames, topk=5)
                    dt = time.perf_counter() - t0
                    spent[name] += dt
                    smp["end_to_end"].append(dt * 1e3)
                    for stage in ("preprocess", "inference", "postprocess"):
                        if stage in bk.timings:
                            smp[stage].append(float(bk.timings[stage]))
                    n = len(smp["end_to_end"])
                    if n >= runs or (n >= min_runs and spent[name] > time_budget_s):
                        hit[name] = n < runs
                        live.remove(name)
                        break
            except Exception as e:  # noqa: BLE001 - the caller records it in the backend's row
                out[name] = e
                live.remove(name)
    for name, smp in samples.items():
        if name not in out:
            out[name] = {"stages": {k: latency_stats(v) for k, v in smp.items() if v},
                         "runs": len(smp["end_to_end"]), "budget_hit": hit[name]}
    return out


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, YoloclsError) else f"{type(e).__name__}: {text[:300]}"


def _base_row(src: ModelSource, backend: str, settings: BenchmarkSettings, batch: int, precision: str = "fp32"
              ) -> dict[str, Any]:
    prec = src.precision if precision == "fp32" else precision
    return {"model": src.name, "base": src.base, "backend": backend, "precision": prec, "vs_fp32": None,
            "device": row_device(backend, settings.device), "batch": batch,
            "imgsz": settings.imgsz, "params_m": src.params_m, "gflops": src.gflops, "gflops_true": src.gflops_true,
            "published": dict(src.published), "status": "ok", "reason": None, "runs": 0,
            "warmup": settings.warmup, "budget_hit": False, "stages": {}, "images_per_s": float("nan")}


def _row_kinds(settings: BenchmarkSettings, file_precision: str = "fp32") -> list[tuple[str, str]]:
    """(backend, precision) pairs in table order: each backend at the file's precision, then OpenVINO's hint rows
    (for an fp32 model only: an INT8/FP16 file runs at its own precision)."""
    out = []
    for backend in settings.backends:
        out.append((backend, "fp32"))
        if file_precision == "fp32" and backend == "openvino":
            out += [(backend, p) for p in settings.precisions if p != "fp32"]
    return out


def _label(backend: str, precision: str) -> str:
    return backend if precision == "fp32" else f"{backend} {precision}"


def top1_of(backend: Any, images: Sequence[np.ndarray]) -> np.ndarray:
    """Top-1 class ids of ``images`` (one ``predict`` per image: every batch profile takes it)."""
    return np.array([backend.predict([im], topk=1)[0][0].class_id for im in images], dtype=np.int64)


def iter_source_rows(src: ModelSource, settings: BenchmarkSettings, frames: Sequence[np.ndarray],
                     agreement: Sequence[np.ndarray] = (), top1: dict[tuple[str, str, str], np.ndarray] | None = None
                     ) -> Iterator[dict[str, Any]]:
    """Rows for one source: every (backend, precision) x batch, skipped/failed ones with the reason.

    With ``agreement`` images, the top-1 ids of every opened backend on them go into ``top1`` under
    ``(src.base, backend, row precision)`` (for :func:`add_vs_fp32`).
    """
    cache = cache_dir(settings.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    opened: dict[str, Any] = {}
    kinds = _row_kinds(settings, src.precision)
    for backend, prec in kinds:
        label = _label(backend, prec)
        reason = skip_reason(backend, settings.device, src)
        if reason is None and prec != "fp32":
            reason = hint_skip_reason(prec, backend, src)
        if reason is not None:
            for b in settings.batches:
                rows[label, b] = {**_base_row(src, backend, settings, b, prec), "status": "skipped", "reason": reason}
            continue
        try:
            opened[label] = open_backend(backend, src, settings, cache, prec)
        except Exception as e:  # noqa: BLE001 - one backend failing on one model must not end the whole run
            for b in settings.batches:
                rows[label, b] = {**_base_row(src, backend, settings, b, prec), "status": "failed",
                                  "reason": _one_line(e)}
    kind_of = {_label(b, p): (b, p) for b, p in kinds}
    try:
        if agreement and top1 is not None:
            for label, bk in list(opened.items()):
                backend, prec = kind_of[label]
                try:
                    top1[src.base, backend, src.precision if prec == "fp32" else prec] = top1_of(bk, agreement)
                except Exception as e:  # noqa: BLE001 - the row records it
                    bk.close()
                    del opened[label]
                    for b in settings.batches:
                        rows[label, b] = {**_base_row(src, backend, settings, b, prec), "status": "failed",
                                          "reason": _one_line(e)}
        for b in settings.batches:
            results = measure_interleaved(opened, frames[:b], settings.runs, settings.warmup,
                                          settings.time_budget_s, settings.min_runs) if opened else {}
            for label, res in results.items():
                backend, prec = kind_of[label]
                row = _base_row(src, backend, settings, b, prec)
                if isinstance(res, BaseException):
                    row.update(status="failed", reason=_one_line(res))
                else:
                    row.update(res)
                    row["images_per_s"] = images_per_second(res["stages"]["end_to_end"]["median_ms"], b)
                rows[label, b] = row
            for backend, prec in kinds:  # in the asked order, batch by batch
                if (_label(backend, prec), b) in rows:
                    yield rows.pop((_label(backend, prec), b))
    finally:
        for bk in opened.values():
            bk.close()


def add_vs_fp32(rows: Sequence[dict[str, Any]], top1: dict[tuple[str, str, str], np.ndarray],
                images: str) -> None:
    """Fill ``vs_fp32`` of every measured reduced-precision row: top-1 agreement with the fp32 model of the same
    base on the same images (the same backend when it was measured, else another) and the speed ratio."""
    for r in rows:
        if r.get("precision", "fp32") == "fp32" or r.get("status") != "ok":
            continue
        mine = top1.get((r["base"], r["backend"], r["precision"]))
        ref_backend = next((b for b in (r["backend"], *BACKEND_ORDER) if (r["base"], b, "fp32") in top1), None)
        if mine is None or ref_backend is None:
            continue
        ref = top1[r["base"], ref_backend, "fp32"]
        speedup = None
        twin = next((q for q in rows if q.get("base") == r["base"] and q.get("backend") == ref_backend
                     and q.get("precision") == "fp32" and q.get("batch") == r["batch"] and q.get("status") == "ok"),
                    None)
        if twin is not None:
            mine_ms = r["stages"]["end_to_end"]["median_ms"]
            speedup = float(twin["stages"]["end_to_end"]["median_ms"] / mine_ms) if mine_ms > 0 else None
        r["vs_fp32"] = {"top1_agreement": float(np.mean(mine == ref)), "images": int(ref.size),
                        "fp32_classes": int(np.unique(ref).size),
                        "reference": f"{r['base']} fp32 on {ref_backend}", "images_from": images,
                        "speedup_e2e": speedup}


def agreement_frames(settings: BenchmarkSettings) -> tuple[list[np.ndarray], str]:
    """The images reduced-precision rows are compared on: ``settings.agreement_images`` (up to 256, decoded BGR)
    or :data:`AGREEMENT_IMAGES` synthetic frames; and a description of them."""
    if settings.agreement_images:
        from yolocls.data.io import imread, is_image_file

        folder = Path(settings.agreement_images)
        if not folder.is_dir():
            raise FileNotFoundError(2, "No such folder", str(folder))
        files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))[:256]
        if not files:
            raise InputError(f"no images under {folder} for the top-1 agreement (--images)")
        return [imread(f) for f in files], f"{len(files)} images from {folder}"
    frames = make_frames(AGREEMENT_IMAGES, *settings.frame_hw, seed=settings.seed + 1)
    return frames, f"{AGREEMENT_IMAGES} synthetic frames"


def iter_benchmark(models: Sequence[str] = (), weights: Sequence[str | os.PathLike[str]] = (),
                   settings: BenchmarkSettings | None = None,
                   on_model: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """Benchmark rows one at a time (for progress bars); see :func:`run_benchmark`."""
    settings = settings or BenchmarkSettings()
    names = resolve_models(models)
    if not names and not weights:
        raise InputError("nothing to benchmark: give --model NAME, --models a,b|all or --weights FILE")
    frames = make_frames(max(settings.batches), *settings.frame_hw, seed=settings.seed)
    items: list[str | Path] = [*names, *[Path(w) for w in weights]]
    reduced = any(p != "fp32" for p in settings.precisions) or any(
        Path(w).suffix.lower() == ".onnx" and Path(w).is_file() and onnx_precision(w) != "fp32" for w in weights)
    agreement, described = agreement_frames(settings) if reduced else ([], "")
    top1: dict[tuple[str, str, str], np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    for item in items:
        if on_model is not None:
            on_model(str(item))
        src = (file_source(item, settings.imgsz) if isinstance(item, Path)
               else zoo_source(item, settings.imgsz, settings.seed))
        for row in iter_source_rows(src, settings, frames, agreement, top1):
            rows.append(row)
            yield row
        src.module = None  # free the big models as we go
    if reduced:  # the rows already yielded are completed in place (an INT8 file may come before its FP32 one)
        add_vs_fp32(rows, top1, described)


def run_benchmark(models: Sequence[str] = (), weights: Sequence[str | os.PathLike[str]] = (),
                  settings: BenchmarkSettings | None = None) -> dict[str, Any]:
    """Measure every (model, backend, batch) and return the report dict (see :mod:`.report`).

    Args:
        models: zoo names, comma lists or ``all``.
        weights: ``.pt`` / ``.onnx`` files.
        settings: :class:`BenchmarkSettings` (defaults: 224 px, batch 1, every backend, CPU).
    """
    settings = settings or BenchmarkSettings()
    rows = list(iter_benchmark(models, weights, settings))
    return new_report(settings.to_dict(), rows)


def expected_rows(models: Sequence[str], weights: Sequence[Any], settings: BenchmarkSettings) -> int:
    """How many rows :func:`iter_benchmark` yields (for a progress bar's total)."""
    def precision(w: Any) -> str:
        return onnx_precision(w) if Path(w).suffix.lower() == ".onnx" and Path(w).is_file() else "fp32"

    kinds = len(resolve_models(models)) * len(_row_kinds(settings)) + sum(
        len(_row_kinds(settings, precision(w))) for w in weights)
    return kinds * len(settings.batches)
