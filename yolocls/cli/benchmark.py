"""`yolocls benchmark`: latency per stage and end to end on every backend here; table, JSON, markdown, plot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from yolocls.cli._common import print_json, user_errors
from yolocls.cli._options import (
    BackendName,
    Device,
    Json,
    Precision,
    SaveJson,
    Threads,
    Warmup,
    imgsz_option,
    resolve_device,
)


@user_errors
def benchmark(
    model: Annotated[list[str] | None, typer.Option("--model", help="Zoo models: a name, a comma list or 'all' "
                                                                    "(repeatable).")] = None,
    models: Annotated[list[str] | None, typer.Option("--models", hidden=True, help="The old name of --model.")
                      ] = None,
    weights: Annotated[list[Path] | None, typer.Option("--weights", help="A .pt or .onnx file (repeatable); an "
                                                       "INT8 Q/DQ or FP16 ONNX is measured at its precision.")
                       ] = None,
    imgsz: Annotated[int, imgsz_option("Model input size (px).")] = 224,
    batch: Annotated[str, typer.Option("--batch-size", "--batch", help="Batch sizes, e.g. 1,8.")] = "1",
    backend: Annotated[list[BackendName] | None, typer.Option("--backend", case_sensitive=False,
                                                              help="Backends to measure (repeatable) [default: "
                                                                   "all].")] = None,
    backends: Annotated[str | None, typer.Option("--backends", hidden=True, help="Comma list of backends (the old "
                                                                                 "spelling of --backend).")] = None,
    precision: Annotated[list[Precision] | None, typer.Option(
        "--precision", case_sensitive=False, help="fp32 [default], and OpenVINO inference hints bf16/fp16 as extra "
        "rows (repeatable; skipped with the reason on CPUs without those units). int8 is a file: pass the "
        ".int8.onnx with --weights.")] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Images for the top-1 agreement of "
                                                "reduced-precision rows with fp32 (default: 32 synthetic "
                                                "frames).")] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs per row at most.")] = 200,
    warmup: Warmup = 20,
    time_budget: Annotated[float, typer.Option("--time-budget", min=0.1,
                                               help="Seconds of timed runs per row before stopping early.")] = 8.0,
    threads: Threads = None,
    device: Device = "",
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Export cache (default ~/.cache/yolocls/bench).")
                         ] = None,
    json_out: Json = False,
    save_json: SaveJson = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write the tables as markdown.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a latency-vs-size PNG.")] = None,
    from_json: Annotated[Path | None, typer.Option("--from-json",
                                                   help="Render/plot a saved report instead of measuring.")] = None,
) -> None:
    """Measure preprocess / inference / postprocess and end-to-end latency (1280x720 BGR frame -> top-5)."""
    from yolocls.benchmark import report as br
    from yolocls.benchmark import runner as bm

    if from_json is not None:
        report = br.load_json(from_json)
    else:
        names = [*(model or []), *(models or [])]
        chosen = [b.value for b in backend or []] + (bm.parse_backends(backends) if backends else [])
        settings = bm.BenchmarkSettings(
            imgsz=imgsz, batches=bm.parse_batches(batch), backends=tuple(dict.fromkeys(chosen or bm.BACKEND_ORDER)),
            runs=runs, warmup=warmup, threads=threads, time_budget_s=time_budget,
            device=resolve_device(device, "torch" if "torch" in (chosen or bm.BACKEND_ORDER) else "onnxruntime"),
            cache_dir=str(cache_dir) if cache_dir else None,
            precisions=tuple(p.value for p in precision or [Precision.fp32]),
            agreement_images=str(images) if images else None)
        report = _measure(names, list(weights or []), settings, quiet=json_out)
    if save_json is not None:
        br.save_json(report, save_json)
    if json_out:  # the report alone on stdout (NaN as null, as in the saved file)
        print_json(br.to_jsonable(report))
    else:
        typer.echo(br.render_text(report))
        if save_json is not None:
            typer.echo(f"JSON: {save_json}")
    if markdown is not None:
        from yolocls.utils.files import atomic_write_text

        atomic_write_text(markdown, br.render_markdown(report))
        typer.echo(f"markdown: {markdown}", err=json_out)
    if plot is not None:
        br.plot_latency(report, plot)
        typer.echo(f"plot: {plot}", err=json_out)


def _measure(names: list[str], files: list[Path], settings: Any, quiet: bool = False) -> dict:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from yolocls.benchmark import report as br
    from yolocls.benchmark import runner as bm

    if not names and not files:
        raise typer.BadParameter("give --model NAME|a,b|all or --weights FILE", param_hint="--model")
    total = bm.expected_rows(names, files, settings)
    rows = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, console=Console(stderr=True), disable=quiet) as bar:
        task = bar.add_task("benchmark", total=total)

        def on_model(name: str) -> None:
            bar.update(task, description=f"{name}: export/load")

        for row in bm.iter_benchmark(names, files, settings, on_model=on_model):
            rows.append(row)
            done = "skipped" if row["status"] != "ok" else f"{row['stages']['end_to_end']['median_ms']:.1f} ms"
            bar.update(task, advance=1, description=f"{row['model']} {row['backend']} b{row['batch']}: {done}")
    return br.new_report(settings.to_dict(), rows)


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)
