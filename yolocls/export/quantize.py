"""INT8 post-training static quantization: an FP32 yolocls ONNX -> an explicitly quantized (Q/DQ) ONNX, gated.

The quantizer is ONNX Runtime's (:func:`onnxruntime.quantization.quantize_static`, QDQ format); this module only
feeds it and checks its result:

* **Calibration** on the user's images through OUR preprocessing (the model's :class:`PreprocessConfig`; the C++
  kernel when built, else the NumPy reference, :func:`yolocls.spec.preprocess.apply`), so the activation ranges
  are those the deployed model sees. With ``DIR/train`` the images come from it, else from anywhere under ``DIR``.
* **Scheme**: per-channel symmetric int8 weights, symmetric int8 activations (zero point 0, the form TensorRT's
  explicit quantization takes), Q/DQ around Conv and Gemm only, float32 inputs and outputs, biases kept float
  (TensorRT consumes no int32-bias DequantizeLinear). Weights use 7 bits (ORT's ``reduce_range``): x86 CPUs
  without VNNI multiply uint8 x int8 pairs into saturating int16 (``vpmaddubsw``); with 8-bit weights the
  digits model lost 7.9 points of val top-1 in ONNX Runtime's integer kernels and 6.5 in OpenVINO, with 7-bit
  weights none. ``keep_float`` can leave the first Conv / last Gemm unquantized (digits did not need it).
* **Two files, one quantization**: ``<stem>.int8.onnx`` (int8 activations; TensorRT 10/11 and the reference)
  and ``<stem>.int8-u8.onnx`` (:func:`to_u8_activations`: the same scales with uint8 activations, zero point
  128 - identical arithmetic). ONNX Runtime runs int8-activation Q/DQ as float Conv between Q/DQ (slower than
  FP32) and OpenVINO's kernels lose accuracy on it (digits -0.57 points); on the uint8 file both run integer
  kernels exactly (digits: the same top-1 as FP32) and faster than FP32, so the CPU backends take that one.
* **Gate**: top-1 agreement with the FP32 file on the calibration images and, where ``DIR`` has a val split,
  top-1 accuracy of both on it (ONNX Runtime runs both files: its Q/DQ evaluation is the reference semantics).
  The accuracy drop (val top-1 points; without a val split, the disagreement in points, its upper bound) above
  ``max_drop`` raises :class:`QuantizationRejected` and nothing is written. The numbers go into the metadata's
  ``quantization`` object (``scheme``, ``calib_images``, ``agreement``, ``top1_fp32``, ``top1_int8``, ...).

The file is written next to the FP32 one as ``<stem>.int8.onnx`` (:func:`yolocls.export.onnx.variant_path`).
"""

from __future__ import annotations

import copy
import logging
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.errors import DatasetError, ExportError, ImageError, InputError

LOGGER = logging.getLogger(__name__)

SCHEME = "qdq-s8s8-sym-perchannel-w7"  # weights int8 per output channel symmetric; activations int8 symmetric
SCHEME_U8 = "qdq-u8s8-zp128-perchannel-w7"  # the same numbers, activations as uint8 with zero point 128
QUANT_OPS = ("Conv", "Gemm")
DEFAULT_CALIB_IMAGES = 256
DEFAULT_MAX_DROP = 1.0  # points of top-1
MAX_VAL_IMAGES = 5000  # val images evaluated by the gate (a seeded sample of a larger split)
KEEP_FLOAT_CHOICES = ("none", "first", "last", "first+last")
_EVAL_BATCH = 16
_CALIB_BATCH = 8


class QuantizationRejected(ExportError):
    """The INT8 model lost more accuracy than allowed; ``report`` holds the numbers. Nothing was written."""

    def __init__(self, message: str, report: QuantizationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class QuantizationReport:
    """The gate's numbers (fractions 0..1; ``drop_points`` in percentage points)."""

    scheme: str
    calib_images: int
    calib_source: str
    agreement: float  # top-1 agreement INT8 vs FP32 on the calibration images
    top1_fp32: float | None = None  # on the val split, when there is one
    top1_int8: float | None = None
    val_images: int = 0
    drop_points: float = 0.0
    max_drop: float = DEFAULT_MAX_DROP
    gate: str = "val top-1"  # or "calibration agreement" (no val split)
    keep_float: list[str] = field(default_factory=list)
    calibrate_method: str = "minmax"
    skipped_images: int = 0
    preprocess: str = "native"  # or "reference"

    def to_metadata(self) -> dict[str, Any]:
        """The metadata's ``quantization`` object (rounded, JSON-plain)."""
        d = asdict(self)
        for k in ("agreement", "top1_fp32", "top1_int8"):
            if d[k] is not None:
                d[k] = round(float(d[k]), 6)
        d["drop_points"] = round(float(d["drop_points"]), 4)
        return d

    def summary(self) -> str:
        """One line: what was measured, on how many images."""
        parts = [f"top-1 agreement with FP32 {self.agreement:.2%} on {self.calib_images} calibration images"]
        if self.top1_fp32 is not None and self.top1_int8 is not None:
            parts.append(f"val top-1 INT8 {self.top1_int8:.2%} vs FP32 {self.top1_fp32:.2%} on {self.val_images} "
                         f"images ({self.drop_points:+.2f} points drop)")
        return "; ".join(parts)


@dataclass
class QuantizeResult:
    """What :func:`quantize_onnx` produced (the INT8 file, its metadata and the gate's numbers)."""

    path: Path
    source: Path
    metadata: Any
    report: QuantizationReport
    seconds: float
    size_bytes: int
    timings: dict[str, float] = field(default_factory=dict)
    cpu_path: Path | None = None  # <stem>.int8-u8.onnx (uint8 activations) for ONNX Runtime / OpenVINO
    cpu_report: QuantizationReport | None = None

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


# ----------------------------------------------------------------------------------------------- arguments
def check_quantize_args(data: Any, calib_images: Any, max_drop: Any) -> None:
    """One-line :class:`InputError` for bad flags (before anything is exported)."""
    if data is None or (isinstance(data, str) and not data.strip()):
        raise InputError("--int8 needs calibration images: pass --data DIR (a folder of images, or a dataset with "
                         "train/ and val/)")
    if isinstance(calib_images, bool) or not isinstance(calib_images, int) or calib_images < 1:
        raise InputError(f"--calib-images must be an integer >= 1, got {calib_images!r}")
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or not np.isfinite(max_drop):
        raise InputError(f"--max-drop must be a number of top-1 points (e.g. 1.0), got {max_drop!r}")


def _resolve_data(data: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """(folder to draw calibration images from, val split folder or None) for ``--data``."""
    from yolocls.data.dataset import BUILTIN_DATASETS, find_split, resolve_dataset

    if isinstance(data, str) and data in BUILTIN_DATASETS:
        root = resolve_dataset(data)
    else:
        root = Path(data).expanduser()
        if not root.exists():
            raise DatasetError(f"--data {os.fspath(data)} not found: pass a folder of calibration images (a dataset "
                               "with train/ and val/ also gets a val top-1 check)")
        if not root.is_dir():
            raise DatasetError(f"--data {os.fspath(data)} is a file: pass a folder of calibration images")
    calib = root / "train" if (root / "train").is_dir() else root
    try:
        val: Path | None = find_split(root, "val")
    except DatasetError:
        val = None
    return calib, val


def _list_images(folder: Path, limit: int, seed: int = 0) -> list[Path]:
    from yolocls.data.io import is_image_file

    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
    if not files:
        raise DatasetError(f"no images found under {folder} for INT8 calibration; pass --data a folder of images")
    random.Random(seed).shuffle(files)  # a class-sorted tree still contributes every class
    return files[:limit]


def _preprocess(frames: list[np.ndarray], cfg: Any, native: bool) -> np.ndarray:
    from yolocls.spec.preprocess import apply

    return np.ascontiguousarray(apply(frames, cfg, bgr=True, dtype=np.float32, reference=not native))


def _load_batches(files: Sequence[Path], cfg: Any, batch: int, native: bool,
                  labels: Sequence[int] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Preprocessed ``[<=batch, 3, S, S]`` float32 batches and their labels (-1 without); unreadable files skipped."""
    from yolocls.data.io import imread

    frames: list[np.ndarray] = []
    labs: list[int] = []
    for i, p in enumerate(files):
        try:
            frames.append(imread(p))
        except ImageError as e:
            LOGGER.warning("int8: skipped %s", e)
            continue
        labs.append(labels[i] if labels is not None else -1)
        if len(frames) == batch:
            yield _preprocess(frames, cfg, native), np.asarray(labs)
            frames, labs = [], []
    if frames:
        yield _preprocess(frames, cfg, native), np.asarray(labs)


# ----------------------------------------------------------------------------------------------- graph
def _layer_names(model: Any) -> tuple[str | None, str | None]:
    """Names of the first Conv and the last Gemm/Conv node (the layers ``keep_float`` can leave unquantized)."""
    nodes = [n for n in model.graph.node if n.op_type in QUANT_OPS]
    if not nodes:
        return None, None
    return nodes[0].name, nodes[-1].name


def _nodes_to_exclude(model: Any, keep_float: str) -> list[str]:
    if keep_float not in KEEP_FLOAT_CHOICES:
        raise InputError(f"keep_float must be one of {', '.join(KEEP_FLOAT_CHOICES)}, got {keep_float!r}")
    first, last = _layer_names(model)
    out = []
    if keep_float in ("first", "first+last") and first:
        out.append(first)
    if keep_float in ("last", "first+last") and last and last != first:
        out.append(last)
    return out


class _QuietPreprocessingHint(logging.Filter):
    """ORT logs a 'consider pre-processing' hint on every run: our FP32 export is already simplified and BN-fused."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage() and "pre-process" not in record.getMessage()


def _session(model: str | bytes, threads: int | None = None) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def _static_batch(sess: Any) -> int | None:
    d = sess.get_inputs()[0].shape[0]
    return d if isinstance(d, int) and d > 0 else None


def _run(sess: Any, x: np.ndarray) -> np.ndarray:
    """Logits for ``x``, at the file's static batch when it has one (padding the last chunk)."""
    name = sess.get_inputs()[0].name
    fixed = _static_batch(sess)
    if fixed is None:
        return np.asarray(sess.run(None, {name: x})[0], dtype=np.float32)
    outs = []
    for i in range(0, len(x), fixed):
        chunk = x[i : i + fixed]
        n = len(chunk)
        if n < fixed:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - n, axis=0)])
        outs.append(np.asarray(sess.run(None, {name: chunk})[0], dtype=np.float32)[:n])
    return np.concatenate(outs)


def quantize_qdq(src: str | os.PathLike[str], dst: str | os.PathLike[str], batches: Sequence[np.ndarray],
                 keep_float: str = "none", method: str = "minmax", reduce_range: bool = True) -> None:
    """Run ONNX Runtime's ``quantize_static`` (QDQ, the scheme of :data:`SCHEME`) on ``src`` -> ``dst``.

    ``batches`` are preprocessed float32 ``[N, 3, S, S]`` arrays matching the file's input batch.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise InputError(f"calibration method must be one of {', '.join(methods)}, got {method!r}")
    model = onnx.load(str(src))
    input_name = model.graph.input[0].name
    exclude = _nodes_to_exclude(model, keep_float)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {input_name: x}

    extra = {
        "ActivationSymmetric": True,  # zero point 0: TensorRT's explicit quantization takes only this
        "WeightSymmetric": True,
        "QuantizeBias": False,  # float bias: TensorRT has no int32-bias DequantizeLinear
        "CalibTensorRangeSymmetric": False,
    }
    quiet = _QuietPreprocessingHint()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(QUANT_OPS), nodes_to_exclude=exclude, reduce_range=reduce_range,
                        calibrate_method=methods[method], extra_options=extra)
    except (InputError, ExportError):
        raise
    except Exception as e:  # noqa: BLE001 - the quantizer raises assorted types
        raise ExportError(f"ONNX Runtime's quantizer failed on {Path(src).name} ({type(e).__name__}: "
                          f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None
    finally:
        root.removeFilter(quiet)


# ----------------------------------------------------------------------------------------------- main entry
def quantize_onnx(
    onnx_path: str | os.PathLike[str],
    data: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    calib_images: int = DEFAULT_CALIB_IMAGES,
    max_drop: float = DEFAULT_MAX_DROP,
    keep_float: str = "none",
    method: str = "minmax",
    max_val_images: int = MAX_VAL_IMAGES,
    native: bool | None = None,
    seed: int = 0,
    cpu_variant: bool = True,
) -> QuantizeResult:
    """Quantize an FP32 yolocls ONNX to INT8 Q/DQ, check its accuracy, and write ``<stem>.int8.onnx``.

    Args:
        onnx_path: an FP32 file written by :func:`yolocls.export.onnx.export_onnx` (its metadata gives the
            preprocessing and class names).
        data: ``digits`` or a folder: a dataset root (calibration from ``train/``, the gate's accuracy on ``val/``
            or ``test/``) or any folder of images (calibration and agreement only).
        output: the INT8 file (default: :func:`variant_path` of ``onnx_path`` with ``int8``).
        calib_images: how many images calibrate (and measure agreement), a seeded sample.
        max_drop: largest allowed loss of top-1, in points; negative refuses every model (a test hook).
        keep_float: ``none`` | ``first`` | ``last`` | ``first+last``: layers left unquantized.
        method: ORT calibration method (``minmax``, ``percentile``, ``entropy``).
        max_val_images: at most this many val images (a seeded sample) for the accuracy check.
        native: preprocess with the C++ kernel (default: when the extension is built).
        cpu_variant: also write ``<stem>.int8-u8.onnx`` (:func:`to_u8_activations`: the same quantization with
            uint8 activations, what ONNX Runtime's and OpenVINO's x86 integer kernels run exactly and fast); it
            passes the same gate, measured on its own in ONNX Runtime.
    Raises:
        QuantizationRejected: the drop exceeds ``max_drop`` (nothing is written; ``.report`` has the numbers).
        InputError / DatasetError / ExportError: bad arguments, no images, a file the quantizer cannot handle.
    """
    t0 = time.perf_counter()
    check_quantize_args(data, calib_images, max_drop)
    from yolocls import _native
    from yolocls.data.dataset import scan_image_folder
    from yolocls.export.onnx import read_metadata, variant_path, write_metadata
    from yolocls.utils.files import atomic_write_bytes

    src = Path(onnx_path)
    meta = read_metadata(src)
    if meta.half or meta.input_dtype != "float32":
        raise InputError(f"{src.name} is an FP16 file; INT8 quantization starts from the FP32 export (no --half)")
    if is_qdq_onnx(src, meta):
        raise InputError(f"{src.name} is already quantized (Q/DQ); quantize the FP32 export instead")
    out = Path(output) if output is not None else variant_path(src, int8=True)
    if out.resolve() == src.resolve():
        raise InputError(f"the INT8 output {out} would replace the FP32 file; name it <stem>.int8.onnx")
    use_native = _native.available() if native is None else bool(native)
    cfg = meta.preprocess
    calib_dir, val_dir = _resolve_data(data)
    files = _list_images(calib_dir, calib_images, seed)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    fp32 = _session(str(src))
    fixed = _static_batch(fp32)
    calib_batch = fixed or _CALIB_BATCH
    calib = [x for x, _ in _load_batches(files, cfg, calib_batch, use_native)]
    n_calib = sum(len(x) for x in calib)
    if n_calib == 0:
        raise DatasetError(f"none of the {len(files)} calibration images under {calib_dir} could be read")
    if fixed is not None:  # a static-batch file takes whole batches only
        calib = [x if len(x) == fixed else np.concatenate([x, np.repeat(x[-1:], fixed - len(x), axis=0)])
                 for x in calib]
    timings["preprocess"] = time.perf_counter() - t

    import onnx

    with tempfile.TemporaryDirectory(prefix="yolocls-int8-", dir=out.parent if out.parent.is_dir() else None) as tmp:
        q_path = Path(tmp) / "int8.onnx"
        t = time.perf_counter()
        quantize_qdq(src, q_path, calib, keep_float=keep_float, method=method)
        timings["quantize"] = time.perf_counter() - t
        proto = onnx.load(str(q_path))

    t = time.perf_counter()
    u8_proto = copy.deepcopy(proto) if cpu_variant else None
    if u8_proto is not None:
        to_u8_activations(u8_proto)
    forms = {"int8": proto, **({"int8-u8": u8_proto} if u8_proto is not None else {})}
    sessions = {k: _session(v.SerializeToString()) for k, v in forms.items()}
    x_cal = np.concatenate(calib)[:n_calib]
    ref_cal = _run(fp32, x_cal).argmax(1)
    agree = {k: float(np.mean(ref_cal == _run(sess, x_cal).argmax(1))) for k, sess in sessions.items()}
    hits = {k: 0 for k in ("fp32", *sessions)}
    n_val = 0
    if val_dir is not None:
        samples, _ = scan_image_folder(val_dir, names=meta.names if _folders_are_names(val_dir, meta.names) else None)
        if len(samples) > max_val_images:
            samples = random.Random(seed).sample(samples, max_val_images)
        for x, y in _load_batches([p for p, _ in samples], cfg, fixed or _EVAL_BATCH, use_native,
                                  [c for _, c in samples]):
            hits["fp32"] += int(np.sum(_run(fp32, x).argmax(1) == y))
            for k, sess in sessions.items():
                hits[k] += int(np.sum(_run(sess, x).argmax(1) == y))
            n_val += len(y)
    reports = {}
    for k in sessions:
        r = QuantizationReport(scheme=SCHEME if k == "int8" else SCHEME_U8, calib_images=n_calib,
                               calib_source=f"{calib_dir.parent.name}/{calib_dir.name}", agreement=agree[k],
                               max_drop=float(max_drop), skipped_images=len(files) - n_calib,
                               keep_float=[] if keep_float == "none" else keep_float.split("+"),
                               calibrate_method=method, preprocess="native" if use_native else "reference")
        if n_val:
            r.top1_fp32, r.top1_int8, r.val_images = hits["fp32"] / n_val, hits[k] / n_val, n_val
            r.drop_points = 100.0 * (r.top1_fp32 - r.top1_int8)
        else:
            r.gate = "calibration agreement"
            r.drop_points = 100.0 * (1.0 - r.agreement)
        reports[k] = r
    timings["evaluate"] = time.perf_counter() - t
    for k, r in reports.items():  # the reference form first: its numbers are the ones a refusal names
        if r.drop_points > max_drop:
            raise QuantizationRejected(_rejection(r, out if k == "int8" else u8_variant_path(out)), r)

    blobs = {}
    for k, pr in forms.items():
        m = copy.deepcopy(meta)
        m.extra = {**meta.extra, "quantization": reports[k].to_metadata()}
        write_metadata(pr, m)  # float32 I/O and precision fields stay those of the FP32 file
        pr.doc_string = (pr.doc_string or "") + (" (INT8 Q/DQ)" if k == "int8" else " (INT8 Q/DQ, uint8 activations)")
        blobs[k] = pr.SerializeToString()
    t = time.perf_counter()
    u8_out = None
    if "int8-u8" in blobs:
        u8_out = u8_variant_path(out)
        atomic_write_bytes(u8_out, blobs["int8-u8"])
    atomic_write_bytes(out, blobs["int8"])
    timings["write"] = time.perf_counter() - t
    meta.extra = {**meta.extra, "quantization": reports["int8"].to_metadata()}
    return QuantizeResult(path=out, source=src, metadata=meta, report=reports["int8"],
                          seconds=time.perf_counter() - t0, size_bytes=len(blobs["int8"]), timings=timings,
                          cpu_path=u8_out, cpu_report=reports.get("int8-u8"))


def u8_variant_path(path: str | os.PathLike[str]) -> Path:
    """``best.int8.onnx`` -> ``best.int8-u8.onnx``: the same quantization with uint8 activations (CPU backends)."""
    p = Path(path)
    if ".int8." in p.name:
        return p.with_name(p.name.replace(".int8.", ".int8-u8.", 1))
    return p.with_name(p.stem + ".int8-u8" + p.suffix)


def _folders_are_names(val_dir: Path, names: Sequence[str]) -> bool:
    """Whether the val split's class folders are the model's class names (else they map by sorted order)."""
    classes = sorted(e.name for e in os.scandir(val_dir) if e.is_dir() and not e.name.startswith("."))
    return bool(classes) and set(classes) <= set(names)


def _rejection(r: QuantizationReport, out: Path) -> str:
    if r.top1_fp32 is not None and r.top1_int8 is not None:
        figures = (f"INT8 val top-1 {r.top1_int8:.2%} vs FP32 {r.top1_fp32:.2%} on {r.val_images} images: "
                   f"a drop of {r.drop_points:.2f} points")
    else:
        figures = (f"INT8 agrees with FP32 on {r.agreement:.2%} of {r.calib_images} images (no val split): up to "
                   f"{r.drop_points:.2f} points")
    return (f"{figures} exceeds --max-drop {r.max_drop:g}; {out.name} not written (calibrate on more or more "
            "typical images with --calib-images/--data, or allow more with --max-drop)")


def quantization_info(meta: Any) -> dict[str, Any] | None:
    """The metadata's ``quantization`` object when it is a well-formed one, else None."""
    q = getattr(meta, "extra", {}).get("quantization") if meta is not None else None
    return q if isinstance(q, dict) and isinstance(q.get("scheme"), str) else None


def to_u8_activations(model: Any) -> int:
    """Rewrite the activations' symmetric int8 Q/DQ (zero point 0) as uint8 with zero point 128, in place.

    Exactly the same arithmetic (``q_u8 = q_s8 + 128`` on the same scale, the same clamp), in the unsigned form
    ONNX Runtime's x86 integer kernels take (its QLinearConv runs u8 activations x s8 weights; with int8
    activations it keeps Conv in float between DequantizeLinear/QuantizeLinear). Weights stay int8 per channel.
    Returns the number of zero points rewritten.
    """
    from onnx import TensorProto, numpy_helper

    act_zps = {n.input[2] for n in model.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2}
    done = 0
    for i, init in enumerate(model.graph.initializer):
        if init.name in act_zps and init.data_type == TensorProto.INT8:
            zp = numpy_helper.to_array(init)
            if np.any(zp != 0):
                raise ExportError(f"activation zero point {init.name} is not 0; the file is not symmetric int8")
            model.graph.initializer[i].CopyFrom(
                numpy_helper.from_array(np.full(zp.shape, 128, dtype=np.uint8), init.name))
            done += 1
    return done


# ----------------------------------------------------------------------------------------------- CLI helpers
def check_export_int8_flags(int8: bool, data: str | None, calib_images: Any, max_drop: Any, half: bool,
                            formats: Sequence[str]) -> None:
    """``yolocls export`` flag checks for ``--int8`` (one-line :class:`InputError`, before anything is exported)."""
    if not int8:
        if data is not None:
            raise InputError("--data only applies to --int8 (the INT8 calibration images); add --int8 or drop it")
        return
    check_quantize_args(data, calib_images, max_drop)
    if half:
        raise InputError("--int8 quantizes the FP32 export; drop --half/--half-io (they are separate variants)")
    if "engine" in formats:
        raise InputError("--int8 with --include engine: export first, then build the INT8 engine from the Q/DQ "
                         "file with `yolocls build-engine --onnx <stem>.int8.onnx`")
    from yolocls._extras import require

    require("export", "`yolocls export --int8`", ("onnx", "onnxruntime"))
    _resolve_data(str(data))  # a missing folder is reported before the export


def export_and_quantize(export: Any, onnx_path: str | os.PathLike[str], int8_path: str | os.PathLike[str],
                        data: str | os.PathLike[str], calib_images: int = DEFAULT_CALIB_IMAGES,
                        max_drop: float = DEFAULT_MAX_DROP, **kwargs: Any) -> tuple[Any, QuantizeResult]:
    """Run ``export(path) -> ExportResult`` into a temp folder beside ``onnx_path``, quantize the result to
    ``int8_path``, then move the FP32 file into place: when the gate refuses, nothing at all is written.
    """
    import shutil

    final_dir = Path(onnx_path).parent
    final_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".yolocls-export-", dir=final_dir))
    try:
        res = export(tmp / Path(onnx_path).name)
        q = quantize_onnx(res.path, data, output=int8_path, calib_images=calib_images, max_drop=max_drop, **kwargs)
        final = final_dir / res.path.name
        os.replace(res.path, final)
        res.path = final
        q.source = final
        return res, q
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- detection
# NodeProto.op_type is field 4 (tag byte 0x22), then the length, then the name: these exact bytes mark a node of that
# type. Searched in a memory map (no onnx import, bounded by the file), as a fallback for Q/DQ files not made here.
_QDQ_MARKERS = (b"\x22\x0eQuantizeLinear", b"\x22\x10DequantizeLinear")


def is_qdq_onnx(path: str | os.PathLike[str], metadata: Any = None) -> bool:
    """Whether an ONNX file is explicitly quantized: its yolocls metadata has a ``quantization`` object, or its
    graph holds QuantizeLinear/DequantizeLinear nodes. False for a missing or unreadable file (its reader says why).
    """
    if quantization_info(metadata) is not None:
        return True
    import mmap

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return any(mm.find(m) >= 0 for m in _QDQ_MARKERS)
    except (OSError, ValueError):  # missing, a folder, empty (mmap of 0 bytes)
        return False
