"""`yolocls train`: train a classifier (YOLOv5 classify flags where they overlap). Multi-GPU: launch with torchrun."""

from __future__ import annotations

from typing import Annotated

import typer

from yolocls.cli._common import user_errors
from yolocls.cli._options import (
    Device,
    ExistOk,
    Name,
    Optimizer,
    Project,
    Workers,
    batch_size_option,
    imgsz_option,
    weights_option,
)


@user_errors
def train(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Zoo model to train from scratch (default "
                                                                "yolov5s-cls).")] = None,
    weights: Annotated[str | None, weights_option("Start from these weights (ours or an official YOLOv5 *-cls.pt); "
                                                  "the head is reset when the class count differs.",
                                                  "--pretrained")] = None,
    data: Annotated[str, typer.Option("--data", help="'digits' or a folder with train/ and val/ (or test/).")
                    ] = "digits",
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 10,
    batch_size: Annotated[int, batch_size_option("Total batch size over all processes.")] = 64,
    imgsz: Annotated[int | None, imgsz_option("Train/val image size (px) [default: the dataset's, else 224; "
                                              "digits: 32].")] = None,
    optimizer: Annotated[Optimizer | None, typer.Option("--optimizer", show_default=False, case_sensitive=False,
                                                        help="[default: the dataset's, else Adam]")] = None,
    lr0: Annotated[float | None, typer.Option("--lr0", show_default=False,
                                              help="Initial learning rate [default: the dataset's, else 0.001; "
                                                   "digits: 0.003].")] = None,
    lrf: Annotated[float, typer.Option("--lrf", help="Final LR as a fraction of lr0.")] = 0.01,
    momentum: Annotated[float, typer.Option("--momentum", help="SGD momentum / Adam beta1.")] = 0.9,
    decay: Annotated[float, typer.Option("--decay", "--weight-decay", help="Weight decay (not on BN and biases)."
                                         )] = 5e-5,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing")] = 0.1,
    cos_lr: Annotated[bool, typer.Option("--cos-lr/--no-cos-lr", help="Cosine LR decay instead of linear.")
                      ] = False,
    warmup_epochs: Annotated[float, typer.Option("--warmup-epochs", min=0.0)] = 0.0,
    dropout: Annotated[float | None, typer.Option("--dropout", help="Head dropout probability.")] = None,
    augment: Annotated[bool | None, typer.Option("--augment/--no-augment", show_default=False,
                                                 help="The train augmentation (random resized crop, flip, colour "
                                                      "jitter) [default: the dataset's, else on; digits: off].")
                       ] = None,
    ema: Annotated[bool, typer.Option("--ema/--no-ema", help="Keep an EMA of the weights (validated and saved).")
                   ] = True,
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA.")] = True,
    patience: Annotated[int, typer.Option("--patience", min=0, help="Stop after N epochs without a better top-1 "
                                                                    "(0: never).")] = 0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Device = "",
    workers: Workers = 2,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Keep decoded images in RAM.")] = False,
    project: Project = "runs/train",
    name: Name = "exp",
    exist_ok: ExistOk = False,
    resume: Annotated[bool, typer.Option("--resume", help="Resume a run: --resume (the newest last.pt under "
                                                          "--project) or --resume PATH/last.pt. May change "
                                                          "--epochs, --patience, --workers, --device, --cache, "
                                                          "--plots; other flags must match the run's.")] = False,
    resume_path: Annotated[str | None, typer.Argument(metavar="PATH", show_default=False,
                                                      help="The last.pt to continue (with --resume).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write results.png and "
                                                                    "confusion_matrix.png.")] = True,
) -> None:
    """Train a classifier; writes weights/last.pt, weights/best.pt, results.csv and plots to PROJECT/NAME."""
    if lr0 is not None and lr0 <= 0:
        raise typer.BadParameter("must be > 0", param_hint="--lr0")
    if not 0 <= label_smoothing < 1:
        raise typer.BadParameter("must be in [0, 1)", param_hint="--label-smoothing")
    if dropout is not None and not 0 <= dropout < 1:
        raise typer.BadParameter("must be in [0, 1)", param_hint="--dropout")

    if resume_path is not None and not resume:
        raise typer.BadParameter(f"unexpected argument {resume_path!r}; did you mean --resume {resume_path}?",
                                 param_hint="PATH")
    from yolocls._extras import require

    require("train", "`yolocls train`", ("torch", "matplotlib", "cv2"))
    from yolocls.engine.trainer import TrainConfig, Trainer

    cfg = TrainConfig(
        model=model if (model or weights) else "yolov5s-cls", pretrained=weights, data=data, epochs=epochs,
        batch_size=batch_size, imgsz=imgsz, optimizer=optimizer.value if optimizer else None, lr0=lr0, lrf=lrf,
        momentum=momentum,
        weight_decay=decay, cos_lr=cos_lr, warmup_epochs=warmup_epochs, label_smoothing=label_smoothing,
        dropout=dropout, ema=ema, amp=amp, patience=patience, seed=seed, workers=workers,
        device=device, cache=cache, augment=augment, project=project, name=name, exist_ok=exist_ok,
        resume=(resume_path or True) if resume else False, plots=plots,
    )
    result = Trainer(cfg, given=given_settings(ctx)).train()
    if result.interrupted:
        raise typer.Exit(130)


#: CLI parameter -> TrainConfig field, where the names differ
_FIELD_OF = {"weights": "pretrained", "decay": "weight_decay"}


def given_settings(ctx: typer.Context) -> list[str]:
    """The TrainConfig fields the user set on the command line (what a --resume must check against its run)."""
    out = []
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT"):
            out.append(_FIELD_OF.get(name, name))
    return out


def register(app: typer.Typer) -> None:
    app.command("train", help="Train a classifier (YOLOv5 classify recipe; DDP via torchrun).")(train)
