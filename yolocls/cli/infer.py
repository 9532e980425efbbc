"""`yolocls infer`: run an exported model through a deployment runtime (OpenVINO/TensorRT via the C++ extension,
ONNX Runtime, PyTorch) on images, folders, globs or video, printing top-k and per-stage latency statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from yolocls.cli._common import fail, openvino_hint, user_errors
from yolocls.cli._options import (
    BackendName,
    Device,
    Precision,
    Threads,
    TopK,
    backend_option,
    imgsz_option,
    precision_option,
    resolve_device,
    weights_option,
)


@user_errors
def infer(
    weights: Annotated[Path | None, weights_option("Model file: .onnx, .engine or .pt (.xml: OpenVINO IR).")] = None,
    model: Annotated[Path | None, typer.Option("--model", hidden=True, help="The old name of --weights.")] = None,
    engine: Annotated[Path | None, typer.Option("--engine", help="A TensorRT engine (same as --weights X.engine).")
                      ] = None,
    source: Annotated[str, typer.Option("--source", help="Image, folder, glob ('dir/*.jpg') or video.")] = "",
    backend: Annotated[BackendName | None, backend_option("Default: by file type.")] = None,
    topk: TopK = 5,
    device: Device = "",
    threads: Threads = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs on the first frame.")] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the latency summary.")] = False,
    names: Annotated[str | None, typer.Option("--names", help="Class names for an ONNX without yolocls metadata: "
                                                              "'a,b,c' or a text file with one name per line.")
                     ] = None,
    imgsz: Annotated[int | None, imgsz_option("Input size for an ONNX without yolocls metadata (default: its "
                                              "static input size).", min=1)] = None,
    precision: Annotated[Precision | None, precision_option(
        "OpenVINO inference precision: fp32 (default), fp16 or bf16; reduced precision is faster and moves logits "
        "~1e-2. int8 is a property of the file (export --int8).")] = None,
) -> None:
    """Classify every frame with a deployment backend and report median/p90 latency per stage."""
    if weights is not None and model is not None:
        raise typer.BadParameter("--model is the old name of --weights: give one", param_hint="--weights")
    weights = weights if weights is not None else model
    if (weights is None) == (engine is None):
        raise typer.BadParameter("give exactly one of --weights and --engine", param_hint="--weights")
    if not source:
        raise typer.BadParameter("a source is required (image, folder, glob or video)", param_hint="--source")
    path = engine if engine is not None else weights
    assert path is not None
    if engine is not None and backend not in (None, BackendName.tensorrt):
        raise typer.BadParameter("--engine runs on the tensorrt backend", param_hint="--backend")
    hint = openvino_hint(precision)
    if hint is not None and (backend not in (None, BackendName.openvino)
                             or path.suffix.lower() not in (".onnx", ".xml")):
        raise typer.BadParameter("only the OpenVINO backend (an .onnx/.xml model) takes a precision",
                                 param_hint="--precision")
    backend_name = backend.value if backend is not None else None
    device = resolve_device(device, backend_name or _default_backend(path, hint))

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from yolocls import runtime
    from yolocls.data.sources import iter_source

    src = iter_source(source)  # fails early on a missing source
    metadata = _flag_metadata(path, names, imgsz) if (names is not None or imgsz is not None) else None
    streaming = _has_video(src.files)  # videos go through yolocls.runtime.stream (decode overlaps inference)
    if streaming:  # threads per call for STREAM_WORKERS calls at once (ONNX Runtime: cores // workers)
        from yolocls.runtime.stream import load_for_stream

        be = load_for_stream(path, STREAM_WORKERS, backend=backend_name, device=device, threads=threads,
                             metadata=metadata, precision=hint)
    else:
        be = runtime.load(path, backend=backend_name, device=device, threads=threads, metadata=metadata,
                          precision=hint)
    stages: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": [], "end-to-end": []}
    n = 0
    with be:
        if streaming:
            n = _infer_stream(be, src, topk, warmup, quiet, stages)
        for frame in src:  # images (a streamed source is already consumed)
            if n == 0:
                for _ in range(warmup):
                    be.predict([frame.image], topk=topk)
            top = be.predict([frame.image], topk=topk)[0]
            t = be.timings
            for k in ("preprocess", "inference", "postprocess"):
                stages[k].append(t.get(k, 0.0))
            stages["end-to-end"].append(sum(t.values()))
            n += 1
            if not quiet:
                tops = ", ".join(f"{p.class_id} {p.name} {p.prob:.3f}" for p in top)
                typer.echo(f"{frame.name}: {tops}  [{sum(t.values()):.2f} ms]")
    for p, reason in src.stats.skipped:
        typer.echo(f"skipped {p}: {reason}", err=True)
    if n == 0:
        raise fail(f"no frame of {source} could be read ({len(src.stats.skipped)} skipped)")
    typer.echo(f"{be.name} on {path.name}: {n} frame(s), batch 1, {len(src.stats.skipped)} skipped")
    table = Table(title="latency (ms)")
    for col in ("stage", "median", "p90", "mean"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for k, v in stages.items():
        a = np.asarray(v)
        table.add_row(k, f"{np.median(a):.3f}", f"{np.percentile(a, 90):.3f}", f"{a.mean():.3f}")
    Console().print(table)
    if src.stats.truncated_videos:
        typer.echo(f"{len(src.stats.truncated_videos)} video(s) ended early (truncated); stopped cleanly", err=True)


STREAM_WORKERS = 2  # frames in flight when streaming a video (= the OpenVINO backend's default request slots)


def _has_video(files: list[Path]) -> bool:
    from yolocls.data.io import is_video_file

    return any(is_video_file(f) for f in files)


def _infer_stream(be: Any, src: Any, topk: int, warmup: int, quiet: bool, stages: dict[str, list[float]]) -> int:
    """Every frame of ``src`` through a :class:`yolocls.runtime.stream.Stream` (block policy: no frame dropped),
    printed in order; end-to-end = submit to result. Returns the frames classified."""
    import itertools
    import time

    from yolocls.runtime.stream import Stream

    first = next(src, None)
    if first is None:
        return 0
    for _ in range(warmup):
        be.predict([first.image], topk=topk)
    n = 0
    t0 = time.perf_counter()
    with Stream(be, workers=STREAM_WORKERS, topk=topk) as s:
        for r in s.imap(((f.image, f.name) for f in itertools.chain([first], src)), tagged=True):
            if not r.ok:
                typer.echo(f"{r.tag}: {r.error}", err=True)
                continue
            for k in ("preprocess", "inference", "postprocess"):
                stages[k].append(r.timings.get(k, 0.0))
            stages["end-to-end"].append(r.timings["latency"])
            n += 1
            if not quiet:
                tops = ", ".join(f"{p.class_id} {p.name} {p.prob:.3f}" for p in r.predictions)
                typer.echo(f"{r.tag}: {tops}  [{r.timings['latency']:.2f} ms]")
    dt = time.perf_counter() - t0
    typer.echo(f"streamed: {STREAM_WORKERS} workers, {n / dt if dt > 0 else 0.0:.1f} frames/s (decoding the next "
               "frames overlaps inference; end-to-end = submit to result)")
    return n


def _default_backend(path: Path, precision: str | None) -> str | None:
    """The backend ``runtime.load`` would pick for ``path`` where auto device matters (torch, ONNX Runtime)."""
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        return "torch"
    if suffix in (".engine", ".plan"):
        return "tensorrt"
    if suffix == ".onnx" and precision is None:
        return "onnxruntime"  # the GPU when ONNX Runtime has its CUDA provider, else the CPU (OpenVINO first)
    return "openvino"


def _flag_metadata(path: Path, names: str | None, imgsz: int | None):  # -> ModelMetadata
    """Metadata from --names/--imgsz for a model file that lacks it (ImageNet preprocessing, centre crop)."""
    from yolocls.errors import InputError
    from yolocls.metadata import ModelMetadata
    from yolocls.spec.preprocess import PreprocessConfig

    if path.suffix.lower() != ".onnx" and path.suffix.lower() != ".xml":
        raise InputError("--names/--imgsz only apply to .onnx/.xml models without yolocls metadata")
    if names is None:
        raise InputError("--imgsz alone is not enough for a model without metadata: also pass --names a,b,c")
    p = Path(names)
    items = p.read_text(encoding="utf-8").splitlines() if p.is_file() else names.split(",")
    labels = [n.strip() for n in items if n.strip()]
    if not labels:
        raise InputError(f"--names {names!r} holds no class names")
    if imgsz is None and path.suffix.lower() == ".onnx":
        from yolocls.spec.onnx import read_onnx_info

        inputs = read_onnx_info(path).inputs  # the spec's ONNX parser (the graph's static input side)
        dims = inputs[0].shape[2:4] if len(inputs) == 1 else []
        imgsz = dims[0] if len(dims) == 2 and dims[0] == dims[1] and isinstance(dims[0], int) and dims[0] > 0 else None
    if imgsz is None:
        raise InputError(f"{path.name} has a dynamic input size: pass --imgsz")
    from yolocls.spec.metadata import MAX_IMGSZ

    if not 1 <= imgsz <= MAX_IMGSZ:
        raise InputError(f"{path.name}: input side {imgsz} is outside 1..{MAX_IMGSZ} pixels; pass --imgsz")
    return ModelMetadata(names=labels, preprocess=PreprocessConfig(imgsz=int(imgsz)), model=path.stem)


def register(app: typer.Typer) -> None:
    app.command("infer")(infer)
