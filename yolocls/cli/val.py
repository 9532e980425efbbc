"""`yolocls val`: accuracy and speed of a .pt, .onnx or .engine model on an ImageFolder split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from yolocls.cli._common import openvino_hint, print_json, save_json_file, user_errors
from yolocls.cli._options import (
    Device,
    ExistOk,
    Json,
    Name,
    Precision,
    Project,
    SaveJson,
    Split,
    Workers,
    batch_size_option,
    half_option,
    imgsz_option,
    precision_option,
    weights_option,
)


@user_errors
def val(
    weights: Annotated[str, weights_option("A .pt, .onnx or .engine model.")],
    data: Annotated[str, typer.Option("--data", help="'digits' or a folder with val/ (or test/).")] = "digits",
    split: Annotated[Split, typer.Option("--split", help="Which split folder to validate on.")] = Split.val,
    imgsz: Annotated[int | None, imgsz_option("Image size (default: the model's).")] = None,
    batch_size: Annotated[int, batch_size_option("Images per batch.")] = 32,
    device: Device = "",
    workers: Workers = 0,
    half: Annotated[bool, half_option("FP16 autocast (PyTorch on CUDA).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Per-class accuracy.")] = False,
    json_out: Json = False,
    save_json: SaveJson = None,
    precision: Annotated[Precision | None, precision_option(
        "OpenVINO inference precision for an .onnx: fp32, fp16 or bf16 (measures the accuracy cost); int8 is a "
        "property of the file (export --int8).")] = None,
    project: Project = "runs/val",
    name: Name = "exp",
    exist_ok: ExistOk = False,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Save confusion_matrix.png and .csv to "
                                                                    "PROJECT/NAME.")] = True,
) -> None:
    """Validate a model: top-1/top-5 accuracy, loss (plain cross-entropy), confusion matrix and speed per image."""
    hint = openvino_hint(precision)
    from yolocls._extras import require

    require("train", "`yolocls val`", ("torch", "cv2", *(("matplotlib",) if plots else ())))
    from yolocls.engine.validator import validate

    r = validate(weights, data, split=split.value, imgsz=imgsz, batch_size=batch_size, workers=workers,
                 device=device, half=half, progress=not json_out, precision=hint)
    saved = _save_confusion(r, project, name, exist_ok) if plots else None
    result = {"weights": weights, **r.to_dict(), "saved": str(saved) if saved else None}
    if save_json is not None:
        save_json_file(result, save_json)
    if json_out:
        print_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{weights} on {r.split_dir or data} ({r.backend})")
    for col in ("images", "top1", "top5", "loss", "preprocess ms/img", "inference ms/img", "postprocess ms/img"):
        table.add_column(col, justify="right")
    table.add_row(str(r.num_images), f"{r.top1:.4f}", f"{r.top5:.4f}", f"{r.loss:.4f}",
                  *(f"{r.speed[k]:.3f}" for k in ("preprocess", "inference", "postprocess")))
    console = Console()
    console.print(table)
    if verbose:
        per = Table(title="per-class accuracy")
        per.add_column("class")
        per.add_column("images", justify="right")
        per.add_column("top1", justify="right")
        support = r.confusion.sum(axis=1)
        for name, n, acc in zip(r.names, support, r.per_class, strict=False):
            per.add_row(name, str(int(n)), "-" if n == 0 else f"{acc:.4f}")
        console.print(per)
    _print_confusion(console, r)
    if saved is not None:
        typer.echo(f"confusion matrix saved to {saved / 'confusion_matrix.png'} and confusion_matrix.csv")
    if r.num_corrupt:
        typer.echo(f"skipped {r.num_corrupt} corrupt image(s)", err=True)
    if save_json is not None:
        typer.echo(f"JSON: {save_json}")


#: Up to this many classes the confusion matrix is printed as a table (it is always saved).
PRINT_CONFUSION_MAX = 20


def _print_confusion(console: Any, r: Any) -> None:
    from rich.table import Table

    n = len(r.names)
    if n > PRINT_CONFUSION_MAX:
        return
    cm = Table(title="confusion matrix (rows: true class, columns: predicted; counts)")
    cm.add_column("true \\ predicted")
    for name in r.names:
        cm.add_column(str(name), justify="right")
    for name, row in zip(r.names, r.confusion, strict=False):
        cm.add_row(str(name), *(str(int(v)) for v in row))
    console.print(cm)


def _save_confusion(r: Any, project: str, name: str, exist_ok: bool) -> Path:
    """PROJECT/NAME/confusion_matrix.png (counts and rates) and confusion_matrix.csv (counts)."""
    import csv
    import io

    from yolocls.engine.plots import plot_confusion_matrix
    from yolocls.utils.files import atomic_write_text, increment_path, make_run_dir

    out = make_run_dir(increment_path(Path(project) / name, exist_ok=exist_ok))
    plot_confusion_matrix(r.confusion, r.names, out / "confusion_matrix.png")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["true\\predicted", *r.names])
    for n, row in zip(r.names, r.confusion, strict=False):
        w.writerow([n, *(int(v) for v in row)])
    atomic_write_text(out / "confusion_matrix.csv", buf.getvalue())
    return out


def register(app: typer.Typer) -> None:
    app.command("val", help="Validate a .pt/.onnx/.engine model: top-1/top-5 and speed.")(val)
