"""`yolocls export`: checkpoint -> ONNX (metadata, onnxsim, fp16, verified) and a Triton model repository."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from yolocls.cli._common import sigterm_as_interrupt, user_errors
from yolocls.cli._options import Device, batch_size_option, half_option, imgsz_option, weights_option
from yolocls.export.formats import FORMATS


def _load_weights(weights: str) -> tuple[Any, Path]:
    """The model to export and the default output stem: a checkpoint, or a zoo name (random weights, warned)."""
    path = Path(weights)
    if path.is_file():
        from yolocls import load_model

        return load_model(str(path)), path.with_suffix(".onnx")
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    from yolocls.errors import UnknownModelError
    from yolocls.models.registry import create_model, list_models

    if path.suffix == "" and weights in list_models():
        typer.echo(f"yolocls: warning: {weights!r} is not a file; exporting the zoo model with RANDOM weights "
                   "(fine for latency tests only)", err=True)
        return create_model(weights), Path(f"{weights}.onnx")
    if path.suffix == "":
        try:
            create_model(weights)  # an "unknown model" error suggests the nearest name
        except UnknownModelError as e:
            raise UnknownModelError(f"weights {weights!r} is neither a file nor a zoo model ({e})") from None
    raise FileNotFoundError(2, "No such file", str(path))


def _image_list(images: Path | None) -> list[Path] | None:
    if images is None:
        return None
    from yolocls.errors import InputError

    if images.is_file():
        return [images]
    if not images.is_dir():
        raise FileNotFoundError(2, "No such file", str(images))
    from yolocls.data.io import is_image_file

    files = sorted(p for p in images.iterdir() if is_image_file(p))[:16]
    if not files:
        raise InputError(f"no images in {images} for --verify-images")
    return files


def _variant_words(meta: Any) -> str:
    """What a variant file is, in words: precision, input type and scaling, output kind."""
    words = ["FP16 weights" if meta.half else "FP32",
             f"{meta.input_dtype} inputs/outputs",
             "input RGB 0-1 (mean/std in the graph)" if meta.normalized_in_graph else "input mean/std-normalised",
             "output probabilities" if meta.output == "probs" else "output logits"]
    return ", ".join(words)


@user_errors
def export(
    weights: Annotated[str, weights_option("Checkpoint (.pt, ours or an official YOLOv5 *-cls.pt), or a zoo model "
                                           "name for random weights.")],
    include: Annotated[str, typer.Option("--include", help="Comma-separated formats. " + "; ".join(
        f"{f.name}: {f.description}" for f in FORMATS.values()) + ".")] = "onnx",
    imgsz: Annotated[int | None, imgsz_option("Input size in px (default: the model's).")] = None,
    dynamic: Annotated[bool, typer.Option("--dynamic/--no-dynamic", help="Dynamic batch axis.")] = True,
    batch_size: Annotated[int, batch_size_option("Traced batch (the fixed batch with --no-dynamic).")] = 1,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset (11-20).")] = 17,
    simplify: Annotated[bool, typer.Option("--simplify/--no-simplify", help="Simplify with onnxsim.")] = True,
    half: Annotated[bool, half_option("FP16 weights, float32 inputs/outputs; writes its own file (best.fp16.onnx), "
                                      "the FP32 best.onnx is left alone.")] = False,
    half_io: Annotated[bool, typer.Option("--half-io", help="FP16 with float16 inputs/outputs (implies --half), for "
                                                            "consumers that feed float16 (YOLOv5's/ultralytics' "
                                                            "--half); writes best.fp16-io.onnx.")] = False,
    normalize_in_graph: Annotated[bool, typer.Option("--normalize-in-graph", help="Mean/std normalisation inside "
                                                     "the graph: the file takes RGB scaled to 0-1, as ultralytics "
                                                     "feeds non-PyTorch models (adds .norm to the name).")] = False,
    softmax: Annotated[bool, typer.Option("--softmax", help="Softmax inside the graph: output0 holds "
                                                            "probabilities, not logits (adds .probs to the "
                                                            "name).")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check against PyTorch in ONNX Runtime.")
                      ] = True,
    verify_images: Annotated[Path | None, typer.Option("--verify-images", help="Image file or folder for "
                                                       "--verify (default: synthetic images).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output .onnx (default: beside the "
                                                                          "weights).")] = None,
    triton_repo: Annotated[Path | None, typer.Option("--triton-repo", help="Triton model repository folder "
                                                     "(default: <output folder>/triton).")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Triton max_batch_size and the engine's "
                                                                      "largest batch.")] = 8,
    device: Device = "",
    int8: Annotated[bool, typer.Option("--int8", help="Also write INT8 Q/DQ files calibrated on --data, float32 "
                                                      "I/O: best.int8.onnx (TensorRT 8.6/10/11) and "
                                                      "best.int8-u8.onnx (ONNX Runtime, OpenVINO); refused when "
                                                      "top-1 drops more than --max-drop.")] = False,
    data: Annotated[str | None, typer.Option("--data", help="--int8 calibration images: a folder, or a dataset "
                                                            "(train/ calibrates, val/ checks top-1), or digits.")
                    ] = None,
    calib_images: Annotated[int, typer.Option("--calib-images", help="--int8: calibration images to use.")] = 256,
    max_drop: Annotated[float, typer.Option("--max-drop", help="--int8: largest allowed top-1 loss in points "
                                                               "(val split; else the disagreement with FP32).")
                        ] = 1.0,
) -> None:
    """Export a classifier to ONNX (with metadata, verified against PyTorch), a TensorRT engine, a Triton repository."""
    sigterm_as_interrupt()  # a kill mid-write removes the temp file and exits with one line, as Ctrl-C does
    from yolocls._extras import require
    from yolocls.errors import InputError

    require("train", "`yolocls export`", ("torch",))  # the model is traced in PyTorch
    require("export", "`yolocls export`", ("onnx", *(["onnxsim"] if simplify else []),
                                            *(["onnxconverter_common"] if half or half_io else []),
                                            *(["onnxruntime"] if verify else [])))
    from yolocls.export.formats import check_options, parse_include
    from yolocls.export.onnx import check_opset

    formats = parse_include(include)
    check_opset(opset)
    names = [f.name for f in formats]
    half = half or half_io
    check_options(formats, [opt for opt, given in (("half_io", half_io),) if given])
    from yolocls.export.quantize import check_export_int8_flags

    check_export_int8_flags(int8, data, calib_images, max_drop, half, names)
    if any(f.needs_gpu for f in formats):  # fail before the ONNX export when TensorRT cannot run here
        from yolocls.runtime.tensorrt_python import import_tensorrt

        import_tensorrt()
    if str(device).strip().lower() not in ("", "cpu"):
        from yolocls.utils.torch_utils import select_device

        select_device(device)  # validates; the ONNX export always traces on the CPU in fp32, engines build on GPU 0
    if output is not None and output.suffix.lower() != ".onnx":
        raise InputError(f"--output must end in .onnx, got {output}")

    from rich.console import Console

    console = Console(stderr=False)
    err = Console(stderr=True)
    model, default_out = _load_weights(weights)
    onnx_path = output or default_out
    images = _image_list(verify_images)

    import warnings

    from yolocls.export.onnx import export_onnx

    def run_export(path: Path) -> Any:
        return export_onnx(model, path, imgsz=imgsz, dynamic=dynamic, batch_size=batch_size, simplify=simplify,
                           half=half, opset=opset, verify=verify, images=images, half_io=half_io,
                           normalize_in_graph=normalize_in_graph, softmax=softmax)

    qres = None
    with err.status(f"exporting {onnx_path.name} ..."), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # res.warnings are printed below, once, as one line each
        if int8:  # INT8 Q/DQ beside the FP32 file; a refused accuracy gate leaves neither behind
            from yolocls.export.onnx import variant_path
            from yolocls.export.quantize import export_and_quantize

            int8_path = variant_path(onnx_path, int8=True, normalize_in_graph=normalize_in_graph, softmax=softmax)
            res, qres = export_and_quantize(run_export, onnx_path, int8_path, str(data), calib_images, max_drop)
        else:
            res = run_export(onnx_path)
    rows = [(str(res.path), f"{res.size_mb:.2f}", f"{res.nodes_before} -> {res.nodes_after}",
             f"{res.verification.max_abs_diff:.2e}" if res.verification else "-",
             f"{res.verification.top1_agreement:.0%}" if res.verification else "-", f"{res.seconds:.1f}")]
    if qres is not None:
        rows.append((str(qres.path), f"{qres.size_mb:.2f}", "Q/DQ int8", "-", f"{qres.report.agreement:.0%}",
                     f"{qres.seconds:.1f}"))
        if qres.cpu_path is not None and qres.cpu_report is not None:
            rows.append((str(qres.cpu_path), f"{qres.cpu_path.stat().st_size / 1e6:.2f}", "Q/DQ u8 act.", "-",
                         f"{qres.cpu_report.agreement:.0%}", "-"))
    engine_path = None
    if "engine" in names:
        from yolocls.export.tensorrt import build_engine

        er = build_engine(res.path, output=res.path.with_suffix(".engine"), fp16=half,
                          max_batch=max_batch if dynamic else None)
        engine_path = er.engine
        rows.append((str(er.engine), f"{er.size_bytes / 1e6:.2f}", "-", "-", "-", f"{er.build_seconds:.1f}"))
    if "triton" in names:
        import time

        from yolocls.export.triton import export_triton

        t0 = time.perf_counter()
        repo = triton_repo or res.path.parent / "triton"
        # With an engine, the repository serves it (tensorrt_plan); otherwise the ONNX file (onnxruntime_onnx).
        tr = export_triton(engine_path or res.path, repo, max_batch=max_batch)
        size = sum(p.stat().st_size for p in tr.model_dir.rglob("*") if p.is_file()) / 1e6
        rows.append((str(tr.model_dir) + "/", f"{size:.2f}", "-", "-", "-", f"{time.perf_counter() - t0:.1f}"))

    from rich.table import Table

    table = Table(title=f"yolocls export: {res.metadata.model}, {res.metadata.num_classes} classes, "
                        f"{res.metadata.imgsz}px, opset {res.opset}{', fp16' if half else ''}"
                        f"{', float16 I/O' if half_io else ''}{', normalised in graph' if normalize_in_graph else ''}"
                        f"{', probabilities' if softmax else ''}")
    table.add_column("file", overflow="fold")
    for col in ("MB", "nodes", "max diff", "top-1 agree", "s"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    if res.path != onnx_path:
        console.print(f"wrote {res.path}: {_variant_words(res.metadata)}; {onnx_path.name} (if any) is left as it "
                      "was", soft_wrap=True, highlight=False)
    if qres is not None:
        console.print(f"wrote {qres.path} (TensorRT) and {qres.cpu_path} (ONNX Runtime, OpenVINO): INT8 Q/DQ, "
                      f"float32 inputs/outputs; {qres.report.summary()}", soft_wrap=True, highlight=False)
    for w in res.warnings:
        print(f"yolocls: warning: {w}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
