"""The ``yolocls`` command: one typer app, one module per command group (each has ``register(app)``)."""

from __future__ import annotations

import importlib

import typer

from yolocls.cli._common import OneLineErrors

# rich_markup_mode=None: click's plain help, where a flag reads `--cos-lr / --no-cos-lr` (rich's panels print every
# flag as `--cos-lr <bool>`, which reads as taking a value) and lines wrap at the terminal's width without boxes.
app = typer.Typer(
    cls=OneLineErrors,
    rich_markup_mode=None,
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


def _log_warnings_once() -> None:
    """Library warnings as ``yolocls: warning: ...`` lines on stderr, except those the commands print themselves.

    Without a handler Python's last-resort handler would print every skipped file a second time beside the
    command's own ``skipped ...`` line.
    """
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("yolocls: warning: %(message)s"))
    handler.addFilter(lambda record: not getattr(record, "in_stats", False))
    handler.setLevel(logging.WARNING)
    logging.getLogger("yolocls").addHandler(handler)


def main() -> None:
    _log_warnings_once()
    app()


if __name__ == "__main__":
    main()
