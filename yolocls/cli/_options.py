"""The command line's vocabulary: every option two commands share is defined here once, with its choices as string
enums (typer checks them and lists them in ``--help``; a wrong value is the one-line usage error).

The words are YOLOv5's where they overlap (``--weights``, ``--imgsz``/``--img``/``--img-size``, ``--batch-size``,
``--device ''`` = auto, ``--half``, ``--workers``, ``--project``/``--name``/``--exist-ok``). The rules:

- ``--weights FILE`` is a model file (.pt, .onnx, .engine); ``--model NAME`` is a zoo model name.
- ``--json`` prints the command's result as JSON on stdout (a flag, nothing else on stdout); ``--save-json FILE``
  writes the same JSON to a file.
- ``--device`` defaults to ``''`` (auto) everywhere: see :func:`resolve_device`.
- ``--half`` is FP16 (export: FP16 weights; build-engine: FP16 kernels; val: FP16 autocast in PyTorch).
- ``--precision`` is one of :class:`Precision`; what each value means depends on where it runs (its docstring).

Commands take these as ``Annotated`` aliases (``device: Device = ""``) or, where the help text must say something
command-specific, as the option factories below (``imgsz: Annotated[int | None, imgsz_option("...")] = None``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer


class BackendName(str, Enum):
    """An inference backend (``yolocls.runtime.BACKENDS``)."""

    torch = "torch"
    onnxruntime = "onnxruntime"
    openvino = "openvino"
    tensorrt = "tensorrt"


class Precision(str, Enum):
    """Numeric precision, one word for every command.

    - ``fp32``: float32 (the reference).
    - ``fp16``: float16. A file property (``export --half`` writes ``<stem>.fp16.onnx``; ``build-engine --half``
      builds FP16 kernels); as an OpenVINO inference hint (``infer/val --precision fp16``) it needs CPU FP16 support
      (AVX512-FP16/AMX-FP16), else OpenVINO computes in float32.
    - ``bf16``: bfloat16, OpenVINO's CPU inference hint only (``--precision bf16``; native on AVX512-BF16/AMX CPUs).
    - ``int8``: an INT8 model: a Q/DQ ONNX (``export --int8``, ``<stem>.int8.onnx``) or a TensorRT INT8 engine
      (``build-engine --int8``). A property of the file, never a runtime hint.
    """

    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"
    int8 = "int8"


#: Precision -> OpenVINO's INFERENCE_PRECISION_HINT word (yolocls.runtime.openvino_backend.PRECISIONS)
OPENVINO_HINT = {Precision.fp32: "f32", Precision.fp16: "f16", Precision.bf16: "bf16"}


class Split(str, Enum):
    """A dataset split to validate on."""

    val = "val"
    test = "test"


class Optimizer(str, Enum):
    """Training optimizers (YOLOv5's names)."""

    SGD = "SGD"
    Adam = "Adam"
    AdamW = "AdamW"


class SaveFormat(str, Enum):
    """File format of saved predictions."""

    csv = "csv"
    json = "json"


# -- options every command spells the same way --------------------------------------------------------------------
DEVICE_HELP = ("'' (auto: a CUDA GPU when the backend can use one here, else the CPU), cpu, 0, 0,1 ... "
               "TensorRT always runs on a GPU, OpenVINO on the CPU.")
Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (nothing else there).")]
SaveJson = Annotated[Path | None, typer.Option("--save-json", help="Also write the result as JSON to this file.")]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="CPU inference threads (default: the "
                                                                       "library's).")]
TopK = Annotated[int, typer.Option("--topk", min=1, help="Classes to show per image.")]
Workers = Annotated[int, typer.Option("--workers", min=0, help="Dataloader workers (per process).")]
Project = Annotated[str, typer.Option("--project", help="Runs folder.")]
Name = Annotated[str, typer.Option("--name", help="Run name inside --project.")]
ExistOk = Annotated[bool, typer.Option("--exist-ok/--no-exist-ok", help="Reuse project/name instead of "
                                                                         "incrementing.")]
Plots = Annotated[bool, typer.Option("--plots/--no-plots", help="Write the plots.")]
Warmup = Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")]
ZooModel = Annotated[str | None, typer.Option("--model", help="A zoo model name, e.g. yolov5s-cls.")]


def imgsz_option(help: str, min: int = 8) -> Any:
    """``--imgsz`` (YOLOv5's ``--img``/``--img-size`` too): the model's input side in pixels, at most the metadata's
    limit (``MAX_IMGSZ``: a 4096x4096 float32 image is 192 MiB), for every command alike."""
    from yolocls.spec.metadata import MAX_IMGSZ

    return typer.Option("--imgsz", "--img", "--img-size", min=min, max=MAX_IMGSZ, show_default=False, help=help)


def weights_option(help: str, *aliases: str) -> Any:
    """``--weights FILE``: a model file."""
    return typer.Option("--weights", *aliases, help=help)


def half_option(help: str) -> Any:
    """``--half/--no-half``: FP16."""
    return typer.Option("--half/--no-half", help=help)


def batch_size_option(help: str, *aliases: str) -> Any:
    return typer.Option("--batch-size", *aliases, min=1, help=help)


def precision_option(help: str) -> Any:
    return typer.Option("--precision", help=help, case_sensitive=False)


def backend_option(help: str) -> Any:
    return typer.Option("--backend", help=help, case_sensitive=False)


# -- device ---------------------------------------------------------------------------------------------------------
def resolve_device(device: str, backend: str | None = None) -> str:
    """The device a command runs on: ``device`` itself unless it is ``''`` (auto).

    Auto picks a CUDA GPU only where the backend can use one here: PyTorch with CUDA (``torch``; torch is imported
    only for it), ONNX Runtime with its CUDA provider (``onnxruntime``); TensorRT always runs on GPU ``0``; OpenVINO
    and anything else run on the ``cpu``.
    """
    d = str(device).strip().lower()
    if d:
        return d
    if backend == "tensorrt":
        return "0"
    if backend == "torch":
        try:
            import torch
        except ImportError:
            return "cpu"
        return "0" if torch.cuda.is_available() else "cpu"
    if backend == "onnxruntime":
        try:
            import onnxruntime as ort
        except ImportError:
            return "cpu"
        return "0" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
    return "cpu"
