"""`yolocls info`: the model zoo, a model's size and cost, an exported file's metadata, and this build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from yolocls._extras import EXTRAS, VERSION_OF, installed_version, missing_modules, require
from yolocls.cli._common import fail, print_json, save_json_file, user_errors
from yolocls.cli._options import Json, SaveJson, ZooModel, imgsz_option, weights_option


def _model_row(model: Any, imgsz: int | None) -> dict[str, Any]:
    from yolocls.models.flops import model_info

    size = imgsz or model.preprocess.imgsz
    info = model_info(model, imgsz=size)
    return {
        "name": model.model_name,
        "params": int(info["params"]),
        "gflops": round(float(info["gflops"]), 3),
        "gflops_true": round(float(info["gflops_true"]), 3),
        "num_classes": int(model.num_classes),
        "imgsz": int(size),
        "names": list(model.names),
        "preprocess": model.preprocess.to_dict(),
    }


def _file_info(path: Path, imgsz: int | None) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        require("train", "`yolocls info --weights` on a PyTorch checkpoint", ("torch",))
        from yolocls.models import load_model

        return {"file": str(path), "format": "pytorch", **_model_row(load_model(str(path)), imgsz)}
    if suffix in (".onnx", ".engine", ".plan"):
        from yolocls.spec.metadata import read_model_info

        found = read_model_info(path)  # the one reader: our metadata, YOLOv5's ONNX, or the engine's sidecar
        meta = found.metadata
        return {"file": str(path), "format": "onnx" if suffix == ".onnx" else "tensorrt", "name": meta.model,
                "num_classes": meta.num_classes, "imgsz": meta.imgsz, "metadata": found.source,
                "input_shape": [d if d is not None else "dynamic" for d in found.input_shape], **meta.to_dict()}
    raise fail(f"unknown model file type {suffix!r} for {path}: expected .pt, .onnx or .engine")


def _build_info() -> dict[str, Any]:
    import platform

    from yolocls import __version__, _native

    out: dict[str, Any] = {"yolocls": __version__, "python": platform.python_version(),
                           "machine": platform.machine(), "extension": _native.available()}
    if _native.available():
        out["extension_build"] = _native.build_info()
    for mod in VERSION_OF:  # versions from the installed metadata: torch and onnx stay unimported
        out[mod] = installed_version(mod)
    out["extras"] = ", ".join(f"{e} {'yes' if not missing_modules(e) else 'no'}" for e in EXTRAS)
    try:
        from yolocls.runtime import available_backends

        out["backends"] = available_backends()
    except ImportError:
        pass
    return out


def info(
    list_models: Annotated[bool, typer.Option("--list", help="List the zoo models.")] = False,
    model: ZooModel = None,
    weights: Annotated[Path | None, weights_option("A .pt, .onnx or .engine file.")] = None,
    num_classes: Annotated[int, typer.Option("--num-classes", min=1, help="Classes for --model.")] = 1000,
    imgsz: Annotated[int | None, imgsz_option("Image size for FLOPs (default: model's).")] = None,
    as_json: Json = False,
    save_json: SaveJson = None,
) -> None:
    """Show the model zoo, a model's parameters and FLOPs, a file's metadata, or this build's components."""
    _info(list_models, model, weights, num_classes, imgsz, as_json, save_json)


def _emit_json(obj: Any, as_json: bool, save_json: Path | None) -> bool:
    """--save-json writes ``obj``; --json prints it (and nothing else): True when the command is done."""
    if save_json is not None:
        save_json_file(obj, save_json)
        if not as_json:
            typer.echo(f"JSON: {save_json}")
    if as_json:
        print_json(obj)
    return as_json


@user_errors
def _info(list_models: bool, model: str | None, weights: Path | None, num_classes: int, imgsz: int | None,
          as_json: bool, save_json: Path | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if sum(x is not None and x is not False for x in (list_models or None, model, weights)) > 1:
        raise fail("use only one of --list, --model and --weights")
    if list_models:
        _print_zoo(console, num_classes, imgsz, as_json, save_json)
        return
    if model is not None or weights is not None:
        if weights is not None:
            if not weights.exists():
                raise fail(f"weights file not found: {weights}")
            row = _file_info(weights, imgsz)
        else:
            require("train", "`yolocls info --model` (zoo models are built in PyTorch)", ("torch",),
                    hint="`yolocls info --weights M.onnx` reads an exported model without it")
            from yolocls.models import create_model

            row = _model_row(create_model(str(model), num_classes=num_classes), imgsz)
        if _emit_json(row, as_json, save_json):
            return
        table = Table(show_header=False)
        for k, v in row.items():
            if k in ("names",) and isinstance(v, list) and len(v) > 12:
                v = ", ".join(map(str, v[:12])) + f", ... ({len(v)} classes)"
            table.add_row(k, str(v))
        console.print(table)
        return
    data = _build_info()
    if _emit_json(data, as_json, save_json):
        return
    table = Table(title="yolocls build", show_header=False)
    build = data.get("extension_build") or {}
    for k, v in data.items():
        if k == "extension_build":
            for key, title in (("cuda", "CUDA kernel"), ("openvino", "OpenVINO module"),
                               ("tensorrt", "TensorRT module")):
                table.add_row(title, _component_row(build, key))
            table.add_row("modules folder", str(build["plugin_dir"]))
            continue
        table.add_row(k, str(v) if v is not None else "not installed")
    console.print(table)


def _component_row(build: dict[str, Any], key: str) -> str:
    """'loads (version)', 'built, does not load here: why', or 'not built' for one component of the extension."""
    if key == "cuda":
        if not build.get("cuda"):
            return "not built"
        return f"built (CUDA {build.get('cuda_version')}), {build['cuda_devices']} GPU(s) visible"
    version, error = build.get(f"{key}_version"), build.get(f"{key}_error")
    if version:
        return f"loads ({version})"
    if build.get(key):
        return f"built, does not load here: {error}"
    return "not built"


def _print_zoo(console: Any, num_classes: int, imgsz: int | None, as_json: bool, save_json: Path | None = None
               ) -> None:
    """Measured params/FLOPs (built on the meta device: no memory, ~7 s for the zoo) next to the published ones."""
    require("train", "`yolocls info --list` (the zoo table is measured in PyTorch)", ("torch",))
    import torch
    from rich import box
    from rich.table import Table

    from yolocls.models import create_model, get_entry, list_models, model_info

    rows: list[dict[str, Any]] = []
    for n in list_models():
        with torch.device("meta"):
            m = create_model(n, num_classes=num_classes)
        size = imgsz or m.preprocess.imgsz
        mi = model_info(m, imgsz=size)
        e = get_entry(n)
        rows.append({"name": n, "family": e.family, "imgsz": size, "params": int(mi["params"]),
                     "gflops": round(float(mi["gflops"]), 3), "gflops_true": round(float(mi["gflops_true"]), 3),
                     "published": e.published})
    if _emit_json(rows, as_json, save_json):
        return
    # never truncate a name or a number: drop the family column and print params in millions when the terminal is
    # narrow (80 columns fit), and let only the two-line headers wrap
    width = console.width
    full = width >= 100
    table = Table(title=f"yolocls model zoo ({num_classes} classes; GFLOPs at imgsz)", box=box.SIMPLE_HEAD)
    cols: list[tuple[str, str]] = [("model", "left")]
    if full:
        cols.append(("family", "left"))
    cols += [("imgsz", "right"), ("params" if full else "params\nM", "right"), ("pub.\nM", "right"),
             ("GFLOPs\nYOLOv5", "right"), ("pub.\nB", "right"), ("true\nGFLOPs", "right"), ("pub.\ntop-1", "right")]
    for col, justify in cols:
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        p = r["published"]
        params = f"{r['params']:,}" if full else f"{r['params'] / 1e6:.3f}"
        cells = [r["name"], *([r["family"]] if full else []), str(r["imgsz"]), params, str(p.get("params_m", "")),
                 f"{r['gflops']:.3f}", str(p.get("flops_b", "")), f"{r['gflops_true']:.3f}", str(p.get("top1", ""))]
        table.add_row(*cells)
    console.print(table)
    console.print("pub. = published: params (M), FLOPs@224 (B, YOLOv5's count), ImageNet top-1 (%). "
                  + ("" if full else "A terminal of >= 100 columns adds the family and exact params. ")
                  + "YOLOv5-style GFLOPs = 2 x thop MACs of the BN-fused model at 32 px scaled to imgsz (as YOLOv5 "
                  "reports); true GFLOPs = 2 x MACs of Conv and Linear at imgsz.")


def register(app: typer.Typer) -> None:
    app.command("info")(info)
