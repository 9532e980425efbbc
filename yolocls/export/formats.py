"""The export-format table: one row per format a model can be exported to.

The CLI (``yolocls export --include ...``) and the Python API read this table instead of branching on names,
so adding a format means adding a row and its exporter function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yolocls.errors import InputError

# Options every format understands (the ONNX export underlies all of them).
_ONNX_OPTIONS = frozenset({"imgsz", "dynamic", "batch_size", "opset", "simplify", "half", "verify",
                           "normalize_in_graph", "softmax"})
_HALF_IO = frozenset({"half_io"})  # float16 inputs/outputs: not for engines (yolocls' runtimes feed them float32)


@dataclass(frozen=True)
class ExportFormat:
    """One export target.

    Attributes:
        name: what ``--include`` takes.
        suffix: file suffix (or ``/`` for a folder) of what it writes.
        needs_gpu: whether producing it needs an NVIDIA GPU (TensorRT builds for the GPU it runs on).
        options: export options that apply to it.
        description: one line for help texts.
    """

    name: str
    suffix: str
    needs_gpu: bool
    options: frozenset[str]
    description: str


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", ".onnx", False, _ONNX_OPTIONS | _HALF_IO,
                     "ONNX with yolocls metadata (ONNX Runtime, OpenVINO, TensorRT's parser)"),
        ExportFormat("triton", "/", False, _ONNX_OPTIONS | _HALF_IO | {"max_batch", "instance_count"},
                     "Triton Inference Server model repository (onnxruntime_onnx or tensorrt_plan)"),
        # Built by yolocls.export.tensorrt.build_engine (the TensorRT work), from the ONNX file.
        ExportFormat("engine", ".engine", True, _ONNX_OPTIONS | {"workspace", "int8", "max_batch"},
                     "serialized TensorRT engine + <engine>.json sidecar (build on the target GPU)"),
    )
}


def get_format(name: str) -> ExportFormat:
    """The table row for ``name`` (case-insensitive); :class:`InputError` naming the valid ones otherwise."""
    key = str(name).strip().lower()
    if key not in FORMATS:
        raise InputError(f"unknown export format {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[key]


def parse_include(include: str | Iterable[str]) -> list[ExportFormat]:
    """Formats named by ``"onnx,triton"`` or ``["onnx", "triton"]``, in table order, without duplicates."""
    parts = include.split(",") if isinstance(include, str) else list(include)
    names = [p.strip() for p in parts if p and p.strip()]
    if not names:
        raise InputError(f"no export format given; choose from {', '.join(FORMATS)}")
    wanted = {get_format(n).name for n in names}
    return [f for f in FORMATS.values() if f.name in wanted]
