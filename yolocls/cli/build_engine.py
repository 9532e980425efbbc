"""`yolocls build-engine`: a TensorRT engine (+ sidecar ``<engine>.json``) from an ONNX exported by yolocls.

Flags are checked against each other and against the ONNX's input shape before TensorRT is imported, so a
mistake is reported in one line even on a machine without TensorRT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolocls.cli._common import user_errors
from yolocls.cli._options import half_option


def register(app: typer.Typer) -> None:
    app.command("build-engine", help="Build a TensorRT engine (FP16/INT8, batch profile) from a yolocls ONNX.")(
        build_engine_cmd
    )


@user_errors
def build_engine_cmd(
    onnx: Annotated[Path, typer.Option("--onnx", help="ONNX file exported by `yolocls export`.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Engine path (default: <onnx>.engine).")] = None,
    half: Annotated[bool, half_option("FP16 kernels (TensorRT 11: FP16 ONNX, strongly typed).")] = True,
    fp16: Annotated[bool | None, typer.Option("--fp16/--no-fp16", hidden=True,
                                              help="The old name of --half/--no-half.")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="INT8 with entropy calibration (TensorRT 8.6/10.x only); a Q/DQ ONNX (export --int8) builds INT8 on any version without it.")] = False,
    calib_data: Annotated[Path | None, typer.Option("--calib-data", help="Folder of calibration images (for --int8).")] = None,
    calib_images: Annotated[int, typer.Option("--calib-images", help="How many calibration images to use.")] = 500,
    calib_cache: Annotated[Path | None, typer.Option("--calib-cache", help="Calibration cache to reuse / write.")] = None,
    min_batch: Annotated[int | None, typer.Option("--min-batch", help="Smallest batch (dynamic-batch ONNX; default 1).")] = None,
    opt_batch: Annotated[int | None, typer.Option("--opt-batch", help="Batch TensorRT tunes for (default: --min-batch).")] = None,
    max_batch: Annotated[int | None, typer.Option("--max-batch", help="Largest batch (default: 8 for a dynamic ONNX).")] = None,
    workspace: Annotated[float, typer.Option("--workspace", help="Builder workspace limit in GiB.")] = 4.0,
    timing_cache: Annotated[Path | None, typer.Option("--timing-cache", help="Timing cache file to load and save.")] = None,
    dla_core: Annotated[int | None, typer.Option("--dla-core", help="Jetson DLA core to build for (one fixed batch size: --opt-batch N, default 1).")] = None,
    gpu_fallback: Annotated[bool, typer.Option("--gpu-fallback", help="With --dla-core: run unsupported layers on GPU.")] = False,
    builder_level: Annotated[int | None, typer.Option("--builder-level", help="Builder optimization level 0-5 (default 3).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="TensorRT's verbose log.")] = False,
) -> None:
    from yolocls.export.quantize import is_qdq_onnx
    from yolocls.export.tensorrt import build_engine, inspect_onnx, resolve_profile, validate_build_flags

    if fp16 is not None:  # --fp16/--no-fp16: the old spelling (the --half of export and val is the one word now)
        half = fp16

    # Everything that needs no TensorRT first: a contradiction is reported here, on any machine.
    validate_build_flags(onnx, output, half, int8, calib_data, calib_images, calib_cache, workspace, dla_core,
                         gpu_fallback, builder_level, qdq=is_qdq_onnx(onnx))
    resolve_profile(inspect_onnx(onnx).shape, min_batch, opt_batch, max_batch, dla=dla_core is not None)
    result = build_engine(onnx, output, fp16=half, int8=int8, calib_data=calib_data, calib_images=calib_images,
                          calib_cache=calib_cache, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch,
                          workspace_gib=workspace, timing_cache=timing_cache, dla_core=dla_core,
                          gpu_fallback=gpu_fallback, builder_level=builder_level, verbose=verbose)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="TensorRT engine", show_header=False)
    p = result.profile
    for k, v in (
        ("engine", f"{result.engine} ({result.size_bytes / 1e6:.1f} MB)"),
        ("sidecar", str(result.sidecar)),
        ("precision", result.precision),
        ("batch profile", f"min {p.min} / opt {p.opt} / max {p.max}"),
        ("TensorRT", result.tensorrt_version),
        ("GPU", f"{result.gpu_name} (compute capability {result.compute_capability})"),
        ("build time", f"{result.build_seconds:.1f} s"),
    ):
        table.add_row(k, v)
    console = Console()
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
