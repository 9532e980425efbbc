"""`yolocls benchmark`: latency per stage and end to end on every backend here; table, JSON, markdown, plot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolocls.cli._common import user_errors


@user_errors
def benchmark(
    model: Annotated[list[str] | None, typer.Option("--model", help="A zoo model (repeatable).")] = None,
    weights: Annotated[list[Path] | None, typer.Option("--weights", help="A .pt or .onnx file (repeatable).")] = None,
    models: Annotated[str | None, typer.Option("--models", help="Comma list of zoo models, or 'all'.")] = None,
    imgsz: Annotated[int, typer.Option("--imgsz", min=8, help="Model input size (px).")] = 224,
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, e.g. 1,8.")] = "1",
    backends: Annotated[str, typer.Option("--backends", help="torch,onnxruntime,openvino,tensorrt or all.")] = "all",
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs per row at most.")] = 200,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 20,
    time_budget: Annotated[float, typer.Option("--time-budget", min=0.1,
                                               help="Seconds of timed runs per row before stopping early.")] = 8.0,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads (default: library's).")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or a CUDA device (0).")] = "cpu",
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Export cache (default ~/.cache/yolocls/bench).")
                         ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write the tables as markdown.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a latency-vs-size PNG.")] = None,
    from_json: Annotated[Path | None, typer.Option("--from-json",
                                                   help="Render/plot a saved report instead of measuring.")] = None,
) -> None:
    """Measure preprocess / inference / postprocess and end-to-end latency (1280x720 BGR frame -> top-5)."""
    from yolocls.benchmark import report as br

    if from_json is not None:
        report = br.load_json(from_json)
    else:
        report = _measure(model, weights, models, imgsz, batch, backends, runs, warmup, time_budget, threads, device,
                          cache_dir)
    typer.echo(br.render_text(report))
    if json_out is not None:
        br.save_json(report, json_out)
        typer.echo(f"JSON: {json_out}")
    if markdown is not None:
        from yolocls.utils.files import atomic_write_text

        atomic_write_text(markdown, br.render_markdown(report))
        typer.echo(f"markdown: {markdown}")
    if plot is not None:
        br.plot_latency(report, plot)
        typer.echo(f"plot: {plot}")


def _measure(model: list[str] | None, weights: list[Path] | None, models: str | None, imgsz: int, batch: str,
             backends: str, runs: int, warmup: int, time_budget: float, threads: int | None, device: str,
             cache_dir: Path | None) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from yolocls.benchmark import report as br
    from yolocls.benchmark import runner as bm

    names = [*(model or []), *([models] if models else [])]
    files = list(weights or [])
    if not names and not files:
        raise typer.BadParameter("give --model NAME, --models a,b|all or --weights FILE", param_hint="--model")
    settings = bm.BenchmarkSettings(imgsz=imgsz, batches=bm.parse_batches(batch),
                                    backends=tuple(bm.parse_backends(backends)), runs=runs, warmup=warmup,
                                    threads=threads, device=device, time_budget_s=time_budget,
                                    cache_dir=str(cache_dir) if cache_dir else None)
    total = bm.expected_rows(names, files, settings)
    rows = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
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
