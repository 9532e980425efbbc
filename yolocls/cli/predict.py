"""`yolocls predict`: top-k classes for images, folders, globs or videos, with per-stage timings."""

from __future__ import annotations

from typing import Annotated

import typer

from yolocls.cli._common import user_errors
from yolocls.cli._options import Device, ExistOk, Name, Project, SaveFormat, TopK, imgsz_option, weights_option


@user_errors
def predict(
    weights: Annotated[str, weights_option("A .pt, .onnx or .engine model.")],
    source: Annotated[str, typer.Option("--source", help="Image, folder, glob ('dir/*.jpg') or video.")],
    topk: TopK = 5,
    imgsz: Annotated[int | None, imgsz_option("Image size (PyTorch weights only; default: the model's).")] = None,
    device: Device = "",
    save: Annotated[SaveFormat | None, typer.Option("--save", help="Also write the results to "
                                                                   "PROJECT/NAME/predictions.<csv|json>.")] = None,
    project: Project = "runs/predict",
    name: Name = "exp",
    exist_ok: ExistOk = False,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs on the first frame first (0: time "
                                                                "the cold start).")] = 1,
) -> None:
    """Print the top-k classes (with names and probabilities) and timings for every image or frame."""
    from yolocls._extras import require

    require("train", "`yolocls predict`", ("torch",),
            hint="`yolocls infer --model M.onnx` runs exported models without it")
    from yolocls.engine.predictor import FramePrediction
    from yolocls.engine.predictor import predict as run_predict
    from yolocls.utils.torch_utils import select_device

    def show(fp: FramePrediction) -> None:
        tops = ", ".join(f"{p.name} {p.prob:.3f}" for p in fp.top)
        t = fp.timings
        typer.echo(f"{fp.index} {fp.name}: {tops}  ({t.get('preprocess', 0):.1f} ms pre, "
                   f"{t.get('inference', 0):.1f} ms inference, {t.get('postprocess', 0):.1f} ms post)")

    dev = str(select_device(device))
    res = run_predict(weights, source, topk=topk, imgsz=imgsz, device=dev, save=save.value if save else None,
                      project=project, name=name, exist_ok=exist_ok, on_frame=show, warmup=warmup)
    sp = res.speed
    warm = f" after {res.warmup} warm-up run(s)" if res.warmup else ", cold start included (--warmup 0)"
    typer.echo(f"{len(res.frames)} frame(s) with {res.backend}{warm}: {sp.get('preprocess', 0):.2f} ms preprocess, "
               f"{sp.get('inference', 0):.2f} ms inference, {sp.get('postprocess', 0):.2f} ms postprocess per frame")
    for path, reason in res.skipped:
        typer.echo(f"skipped {path}: {reason}", err=True)
    if res.saved is not None:
        typer.echo(f"results saved to {res.saved}")


def register(app: typer.Typer) -> None:
    app.command("predict", help="Top-k classes for images, folders, globs or videos.")(predict)
