"""The export-format table: one row per format a model can be exported to.

``yolocls export --include ...`` reads it: the ``--include`` help lists the rows' descriptions, a format that
``needs_gpu`` makes the command check for TensorRT before the ONNX export, and an option given for a format whose
``options`` lack it is refused in one line (:func:`check_options`). Adding a format means adding a row and its
exporter step in the CLI.
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
        needs_gpu: whether producing it needs an NVIDIA GPU (TensorRT builds for the GPU it runs on).
        options: export options that apply to it.
        description: one line for help texts.
    """

    name: str
    needs_gpu: bool
    options: frozenset[str]
    description: str


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", False, _ONNX_OPTIONS | _HALF_IO,
                     "ONNX with yolocls metadata, for ONNX Runtime, OpenVINO and TensorRT's parser"),
        ExportFormat("triton", False, _ONNX_OPTIONS | _HALF_IO | {"max_batch", "instance_count"},
                     "a Triton Inference Server model repository: onnxruntime_onnx, or tensorrt_plan with engine"),
        # Built by yolocls.export.tensorrt.build_engine (the TensorRT work), from the ONNX file.
        ExportFormat("engine", True, _ONNX_OPTIONS | {"workspace", "int8", "max_batch"},
                     "a TensorRT engine + <engine>.json sidecar, built on this GPU for this GPU"),
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


#: why a format does not take an option, where the generic "does not apply" would leave the user guessing
_WHY_NOT = {
    ("engine", "half_io"): "its float16 inputs are not what yolocls' engines take: build the engine from --half "
                           "alone (FP16 weights, float32 inputs/outputs)",
}


def check_options(formats: Iterable[ExportFormat], given: Iterable[str]) -> None:
    """:class:`InputError` for the first option in ``given`` that one of ``formats`` does not take."""
    for opt in given:
        for f in formats:
            if opt not in f.options:
                flag = "--" + opt.replace("_", "-")
                why = _WHY_NOT.get((f.name, opt), f"drop it or export {f.name} separately")
                raise InputError(f"{flag} does not apply to --include {f.name} ({f.description}): {why}")
