"""The ``yolocls`` command: one typer app, one module per command group (each has ``register(app)``)."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="yolocls",
    help="YOLOv5-style image classifiers: train, validate, export and deploy with low latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules import torch/onnx inside their commands, so `yolocls --help` stays fast.
COMMAND_MODULES = ("train", "val", "predict", "export", "build_engine", "infer", "benchmark", "info")
for _name in COMMAND_MODULES:
    importlib.import_module(f"yolocls.cli.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
