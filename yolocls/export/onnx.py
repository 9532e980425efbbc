"""PyTorch classifier -> ONNX file with yolocls metadata (optionally simplified, fp16, verified).

The file carries metadata_props ``yolocls`` (:class:`~yolocls.metadata.ModelMetadata` JSON: names, imgsz,
preprocessing, ...) plus the keys YOLOv5 and ultralytics read (``names``, ``stride``, ``task``, ``imgsz``,
``batch``), so any runtime can use it without the checkpoint. Nothing is written until the model is built,
checked and (by default) verified against PyTorch; the write itself is atomic, so a failed export never leaves a
partial or wrong file behind.

Variants get their own file names (:func:`variant_path`), so an FP16 export never replaces the FP32 file:
``best.fp16.onnx`` (FP16 weights, float32 I/O), ``best.fp16-io.onnx`` (float16 inputs/outputs),
``.norm`` (mean/std normalisation inside the graph: feed RGB scaled to 0-1) and ``.probs`` (softmax inside).
"""

from __future__ import annotations

import copy
import io
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolocls.errors import ExportError, InputError
from yolocls.export.verify import VerificationReport
from yolocls.spec.metadata import METADATA_KEY, ModelMetadata, class_names, metadata_from_props, read_model_info
from yolocls.spec.preprocess import PreprocessConfig

__all__ = ["ExportResult", "build_metadata", "check_opset", "export_onnx", "metadata_from_props", "probe_classifier",
           "read_metadata", "variant_path", "write_metadata"]

# torch's TorchScript exporter (dynamo=False) emits opsets 7..20; below 11 the ops that TensorRT and OpenVINO
# parse best (e.g. Gemm/Flatten semantics, Resize) are missing or different.
MIN_OPSET = 11
MAX_OPSET = 20
INPUT_NAME = "images"
OUTPUT_NAME = "output0"
_MAX_PROTO_BYTES = 2**31 - 1  # protobuf's limit for a single-file model


@dataclass
class ExportResult:
    """What :func:`export_onnx` produced.

    Attributes:
        path: the written ``.onnx`` file.
        metadata: the metadata stored in it.
        nodes_before, nodes_after: graph node counts before/after onnxsim (equal when not simplified).
        simplified: whether the onnxsim result was kept.
        verification: agreement with PyTorch (``None`` with ``verify=False``).
        seconds: wall time of the whole export, in seconds.
        size_bytes: file size.
        timings: seconds per stage (prepare, trace, simplify, fp16, verify, write).
    """

    path: Path
    metadata: ModelMetadata
    nodes_before: int
    nodes_after: int
    simplified: bool
    verification: VerificationReport | None
    seconds: float
    opset: int
    size_bytes: int
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    def __repr__(self) -> str:  # a summary: the metadata's class names alone can be 1,000 lines
        m, v = self.metadata, self.verification
        check = f", max_abs_diff={v.max_abs_diff:.2e}" if v is not None else ""
        return (f"ExportResult(path={str(self.path)!r}, model={m.model!r}, num_classes={m.num_classes}, "
                f"imgsz={m.imgsz}, opset={self.opset}, nodes={self.nodes_before}->{self.nodes_after}, "
                f"size_mb={self.size_mb:.2f}{check}, seconds={self.seconds:.1f})")


def check_opset(opset: Any) -> int:
    """``opset`` as an int in the supported range, else :class:`InputError`."""
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise InputError(f"opset must be an integer from {MIN_OPSET} to {MAX_OPSET}, got {opset!r} (17 is a safe choice)")
    return opset


def variant_path(path: str | Path, half: bool = False, half_io: bool = False, normalize_in_graph: bool = False,
                 softmax: bool = False, int8: bool = False) -> Path:
    """The file name of an export variant: ``best.onnx`` -> ``best.fp16.onnx``, ``best.fp16-io.norm.probs.onnx``...

    Tags, in this order: ``fp16`` (half) or ``fp16-io`` (half_io) or ``int8`` (INT8 Q/DQ, float32 I/O:
    :mod:`yolocls.export.quantize`), ``norm`` (normalize_in_graph), ``probs`` (softmax). A name that already
    ends with the tags is kept as it is; the plain FP32 export keeps ``path``.
    """
    path = Path(path)
    tags = (["fp16-io"] if half_io else ["fp16"] if half else ["int8"] if int8 else []) \
        + (["norm"] if normalize_in_graph else []) \
        + (["probs"] if softmax else [])
    if not tags:
        return path
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    tail = "." + ".".join(tags)
    if stem.endswith(tail):
        return path
    return path.with_name(stem + tail + path.suffix)


class _InGraphPreprocess:
    """Builds a module ``softmax(model((x - mean) / std))`` (each part optional) for an export that takes 0-1 input."""

    @staticmethod
    def wrap(model: Any, mean: Sequence[float], std: Sequence[float], normalize: bool, softmax: bool) -> Any:
        import torch
        from torch import nn

        class InGraph(nn.Module):
            mean: torch.Tensor
            std: torch.Tensor

            def __init__(self) -> None:
                super().__init__()
                self.model = model
                self.normalize, self.softmax = normalize, softmax
                self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1))
                self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                if self.normalize:
                    x = (x - self.mean) / self.std
                y = self.model(x)
                return y.softmax(1) if self.softmax else y

        return InGraph().eval()


def _prepare(model: Any) -> Any:
    """A float32, CPU, eval-mode deepcopy of ``model``, BN-fused when it has ``fuse()`` (the original is untouched)."""
    m = copy.deepcopy(model).float().cpu().eval()
    fuse = getattr(m, "fuse", None)
    if callable(fuse):
        fused = fuse()
        m = fused if fused is not None else m
        m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def probe_classifier(model: Any, imgsz: int, batch: int = 2) -> int:
    """Number of classes of a module mapping ``[N,3,imgsz,imgsz]`` float32 to ``[N, C]`` logits.

    Raises:
        ExportError: the module fails on such an input or returns anything but an ``[N, C]`` tensor.
    """
    import torch

    kind = type(model).__name__
    x = torch.zeros(batch, 3, imgsz, imgsz)
    try:
        with torch.inference_mode():
            out = model(x)
    except Exception as e:  # noqa: BLE001 - any failure means "not an image classifier we can export"
        raise ExportError(f"{kind} failed on a [{batch},3,{imgsz},{imgsz}] input ({type(e).__name__}: {e}); "
                          "export needs a classifier taking RGB images") from None
    if not isinstance(out, torch.Tensor):
        raise ExportError(f"{kind} returned {type(out).__name__}, not a tensor; export needs a classifier "
                          "returning [N, num_classes] logits (wrap the model to return the logits only)")
    if out.ndim != 2 or out.shape[0] != batch or out.shape[1] < 1:
        raise ExportError(f"{kind} returned shape {list(out.shape)} for a batch of {batch}; export needs a "
                          "classifier returning [N, num_classes] logits")
    return int(out.shape[1])


def build_metadata(
    model: Any,
    num_classes: int,
    imgsz: int | None = None,
    names: Sequence[str] | None = None,
    preprocess: PreprocessConfig | dict[str, Any] | None = None,
    model_name: str | None = None,
    dynamic: bool = True,
    batch_size: int = 1,
    half: bool = False,
) -> ModelMetadata:
    """Metadata for an export: explicit arguments first, then the model's attributes, then defaults."""
    names = class_names((getattr(model, "names", None) or []) if names is None else names,
                        num_classes=num_classes, coerce=True)  # YOLOv5 modules carry {id: name}
    if len(names) != num_classes:
        raise InputError(f"{len(names)} class names given but the model outputs {num_classes} classes")
    if preprocess is None:
        preprocess = getattr(model, "preprocess", None)
    if isinstance(preprocess, dict):
        preprocess = PreprocessConfig.from_dict(preprocess)
    if not isinstance(preprocess, PreprocessConfig):
        preprocess = PreprocessConfig()
    if imgsz is not None:
        preprocess = preprocess.replace(imgsz=imgsz)
    stride = getattr(model, "stride", 32)
    try:
        stride = int(stride.max()) if hasattr(stride, "max") else int(stride)
    except (TypeError, ValueError):
        stride = 32
    name = model_name or getattr(model, "model_name", None) or type(model).__name__
    return ModelMetadata(names=names, preprocess=preprocess, model=str(name), stride=stride, input_name=INPUT_NAME,
                         output_name=OUTPUT_NAME, dynamic=bool(dynamic), batch=int(batch_size), half=bool(half))


def write_metadata(model_proto: Any, metadata: ModelMetadata) -> None:
    """Set metadata_props ``yolocls`` (JSON) and the YOLOv5/ultralytics keys on an ``onnx.ModelProto`` in place.

    Keys other tools left (onnxsim's ``onnxsim.*`` statistics) are dropped; the producer is yolocls.
    """
    from yolocls.export.simplify import is_simplifier_prop

    props = {METADATA_KEY: metadata.to_json(), **metadata.compat_props()}
    keep = [p for p in model_proto.metadata_props if p.key not in props and not is_simplifier_prop(p.key)]
    del model_proto.metadata_props[:]
    for p in keep:
        model_proto.metadata_props.add(key=p.key, value=p.value)
    for k, v in props.items():
        model_proto.metadata_props.add(key=k, value=v)
    model_proto.producer_name = "yolocls"
    model_proto.producer_version = metadata.version


def read_metadata(path: str | Path) -> ModelMetadata:
    """The :class:`ModelMetadata` stored in an ONNX file by :func:`export_onnx`, checked against its graph.

    The one reader (:func:`yolocls.spec.metadata.read_model_info`, our ``yolocls`` entry only): needs neither
    ``onnx`` nor torch.

    Raises:
        FileNotFoundError: no such file.
        MetadataError: the file is not a readable ONNX model, has no (or malformed) yolocls metadata, or its
            metadata contradicts the graph.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    return read_model_info(path, allow_yolov5=False).metadata


def _torch_export(model: Any, x: Any, opset: int, dynamic: bool) -> bytes:
    import torch

    buf = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        # dynamo=False on purpose (DESIGN.md): the dynamo exporter needs onnxscript, ignores the requested opset
        # and is ~4x slower; torch warns that the TorchScript exporter is deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            # The TorchScript exporter writes to file-like objects too (the stubs only name paths).
            torch.onnx.export(
                model, (x,), buf,  # type: ignore[arg-type]
                dynamo=False, opset_version=opset, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes=axes, do_constant_folding=True, export_params=True,
            )
        except Exception as e:  # noqa: BLE001 - torch.onnx raises many types for unsupported ops
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ExportError(f"torch.onnx.export failed at opset {opset}: {first}; try another --opset") from None
    return buf.getvalue()


def export_onnx(
    model: Any,
    path: str | Path,
    imgsz: int | None = None,
    dynamic: bool = True,
    batch_size: int = 1,
    simplify: bool = True,
    half: bool = False,
    names: Sequence[str] | None = None,
    preprocess: PreprocessConfig | dict[str, Any] | None = None,
    opset: int = 17,
    verify: bool = True,
    model_name: str | None = None,
    images: Sequence[str | Path | Any] | None = None,
    half_io: bool = False,
    normalize_in_graph: bool = False,
    softmax: bool = False,
) -> ExportResult:
    """Export a PyTorch classifier to ONNX with yolocls metadata.

    Args:
        model: any ``nn.Module`` mapping ``[N,3,H,W]`` float32 to ``[N,C]`` logits. Zoo models carry
            ``names``/``preprocess``/``model_name``; for others pass ``names``/``preprocess`` (defaults: class
            ids as names, ImageNet preprocessing). The module itself is not modified.
        path: output ``.onnx`` file (folders are created; an existing file is replaced atomically). Variants
            write their own name beside it (:func:`variant_path`: ``best.onnx`` + ``half`` -> ``best.fp16.onnx``);
            ``ExportResult.path`` is the file written.
        imgsz: input side in pixels (default: the model's preprocessing imgsz, else 224).
        dynamic: dynamic batch axis on input ``images`` and output ``output0``; else a fixed ``batch_size``.
        batch_size: batch of the traced input (the fixed batch when not dynamic).
        simplify: run onnxsim (kept only if it succeeds and does not grow the graph).
        half: FP16 weights/arithmetic with float32 inputs/outputs (what yolocls' runtimes and TensorRT take).
        opset: ONNX opset, ``MIN_OPSET``..``MAX_OPSET``.
        verify: compare with PyTorch in ONNX Runtime (batch 1 and 3 when dynamic) before writing.
        model_name: name stored in the metadata (default: the model's ``model_name`` or class name).
        images: real images (paths or BGR uint8 arrays) for verification; synthetic ones when omitted.
        half_io: FP16 with float16 inputs and outputs, for consumers that feed float16 (YOLOv5's and
            ultralytics' ``--half``); implies ``half``.
        normalize_in_graph: mean/std normalisation inside the graph: the file takes RGB scaled to 0-1 (what
            ultralytics feeds non-PyTorch models); the metadata's ``preprocess`` then has mean 0, std 1.
        softmax: softmax inside the graph: the output is probabilities (ultralytics and Triton's
            classification extension show the output values as confidences).
    Returns:
        :class:`ExportResult`.
    Raises:
        InputError: bad option values. ExportError: not a classifier, or the exporter failed.
        VerificationError: the export does not match PyTorch (nothing is written).
    """
    import onnx
    import torch

    t0 = time.perf_counter()
    opset = check_opset(opset)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 8):
        raise InputError(f"imgsz must be an integer >= 8 pixels, got {imgsz!r}")
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"expected a torch.nn.Module classifier, got {type(model).__name__}")
    for flag, v in (("half", half), ("half_io", half_io), ("normalize_in_graph", normalize_in_graph),
                    ("softmax", softmax)):
        if not isinstance(v, bool):
            raise InputError(f"{flag} must be True or False, got {v!r}")
    half = half or half_io
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise InputError(f"ONNX output path must end in .onnx, got {path}")
    path = variant_path(path, half, half_io, normalize_in_graph, softmax)

    t_prep = time.perf_counter()
    net = _prepare(model)
    size = imgsz
    if size is None:
        pp = preprocess if preprocess is not None else getattr(model, "preprocess", None)
        size = (pp.get("imgsz") if isinstance(pp, dict) else getattr(pp, "imgsz", None)) or 224
        size = int(size[0] if isinstance(size, (list, tuple)) else size)
    num_classes = probe_classifier(net, size, batch=max(batch_size, 2) if dynamic else batch_size)
    meta = build_metadata(model, num_classes, size, names, preprocess, model_name, dynamic, batch_size, half)
    ref_model = model  # what verification runs in PyTorch, on the batch the file takes
    if normalize_in_graph or softmax:
        pp = meta.preprocess
        net = _InGraphPreprocess.wrap(net, pp.mean, pp.std, normalize_in_graph, softmax)
        ref_model = _InGraphPreprocess.wrap(model, pp.mean, pp.std, normalize_in_graph, softmax)
        if normalize_in_graph:
            meta.normalized_in_graph = True
            meta.graph_normalization = {"mean": list(pp.mean), "std": list(pp.std)}
            meta.preprocess = pp.replace(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        if softmax:
            meta.output = "probs"
    if half_io:
        meta.input_dtype = "float16"

    timings: dict[str, float] = {"prepare": time.perf_counter() - t_prep}
    t = time.perf_counter()
    data = _torch_export(net, torch.zeros(batch_size, 3, size, size), opset, dynamic)
    proto = onnx.load_from_string(data)
    timings["trace"] = time.perf_counter() - t
    notes: list[str] = []
    nodes_before = nodes_after = len(proto.graph.node)
    simplified = False
    if simplify:
        from yolocls.export.simplify import simplify_onnx

        t = time.perf_counter()
        res = simplify_onnx(proto, warn=False)
        if res.message:
            notes.append(res.message)
            warnings.warn(res.message, stacklevel=2)
        proto, nodes_before, nodes_after, simplified = res.model, res.nodes_before, res.nodes_after, res.simplified
        timings["simplify"] = time.perf_counter() - t
    if half:
        from yolocls.export.fp16 import convert_to_fp16

        t = time.perf_counter()
        proto = convert_to_fp16(proto, keep_io_types=not half_io)
        timings["fp16"] = time.perf_counter() - t
    write_metadata(proto, meta)
    proto.doc_string = f"yolocls {meta.model} classifier, {meta.num_classes} classes, {size}x{size}"
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"the exported graph fails onnx.checker ({str(e).splitlines()[0]})") from None
    blob = proto.SerializeToString()
    if len(blob) > _MAX_PROTO_BYTES:
        raise ExportError("the model is over 2 GB, which a single-file ONNX cannot hold")

    report = None
    if verify:
        from yolocls.export.verify import verify_onnx

        t = time.perf_counter()
        report = verify_onnx(blob, ref_model, meta.preprocess, images=images, half=half, dynamic=dynamic,
                             batch_size=batch_size, input_name=INPUT_NAME)
        timings["verify"] = time.perf_counter() - t

    from yolocls.utils.files import atomic_write_bytes

    t = time.perf_counter()
    atomic_write_bytes(path, blob)
    timings["write"] = time.perf_counter() - t
    return ExportResult(path=path, metadata=meta, nodes_before=nodes_before, nodes_after=nodes_after,
                        simplified=simplified, verification=report, seconds=time.perf_counter() - t0, opset=opset,
                        size_bytes=len(blob), warnings=notes, timings=timings)
