"""`yolocls infer`: run an exported model through a deployment runtime (OpenVINO/TensorRT via the C++ extension,
ONNX Runtime, PyTorch) on images, folders, globs or video, printing top-k and per-stage latency statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolocls.cli._common import fail, user_errors

BACKEND_NAMES = ("torch", "onnxruntime", "openvino", "tensorrt")


@user_errors
def infer(
    model: Annotated[Path | None, typer.Option("--model", "--weights", help="Model file: .onnx, .engine or .pt.")] = None,
    engine: Annotated[Path | None, typer.Option("--engine", help="A TensorRT engine (same as --model X.engine).")] = None,
    source: Annotated[str, typer.Option("--source", help="Image, folder, glob ('dir/*.jpg') or video.")] = "",
    backend: Annotated[str | None, typer.Option("--backend", help="torch, onnxruntime, openvino or tensorrt "
                                                                  "(default: by file type).")] = None,
    topk: Annotated[int, typer.Option("--topk", min=1, help="Classes to print per frame.")] = 5,
    device: Annotated[str, typer.Option("--device", help="cpu or a CUDA device (0) for torch/ONNX Runtime.")] = "cpu",
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU inference threads.")] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs on the first frame.")] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the latency summary.")] = False,
) -> None:
    """Classify every frame with a deployment backend and report median/p90 latency per stage."""
    if (model is None) == (engine is None):
        raise typer.BadParameter("give exactly one of --model and --engine", param_hint="--model")
    if not source:
        raise typer.BadParameter("a source is required (image, folder, glob or video)", param_hint="--source")
    if backend is not None and backend not in BACKEND_NAMES:
        raise typer.BadParameter(f"choose from {', '.join(BACKEND_NAMES)}", param_hint="--backend")
    path = engine if engine is not None else model
    assert path is not None
    if engine is not None and backend not in (None, "tensorrt"):
        raise typer.BadParameter("--engine runs on the tensorrt backend", param_hint="--backend")

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from yolocls import runtime
    from yolocls.data.sources import iter_source

    src = iter_source(source)  # fails early on a missing source
    be = runtime.load(path, backend=backend, device=device, threads=threads)
    stages: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": [], "end-to-end": []}
    n = 0
    with be:
        for frame in src:
            if n == 0:
                for _ in range(warmup):
                    be.predict([frame.image], topk_k=topk)
            top = be.predict([frame.image], topk_k=topk)[0]
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


def register(app: typer.Typer) -> None:
    app.command("infer")(infer)
