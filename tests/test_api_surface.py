"""The Python API's surface: subpackages reachable from ``import yolocls`` (without torch), one lazy-export helper,
``predict(images, topk=...)``, a short ``ExportResult`` repr, and the import contract in pyproject."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_subpackages_are_attributes_of_yolocls_without_importing_torch() -> None:
    out = _run(
        "import sys, yolocls\n"
        "assert 'torch' not in sys.modules, 'import yolocls imported torch'\n"
        "fns = [yolocls.runtime.load, yolocls.data.preprocess, yolocls.export.get_format,\n"
        "       yolocls.benchmark.run_benchmark, yolocls.errors.InputError]\n"
        "print(' '.join(f.__module__ for f in fns), 'torch' in sys.modules)\n")
    mods, torch_loaded = out.rsplit(" ", 1)
    got = mods.split()
    assert got[1] in ("yolocls.data.preprocess", "yolocls.spec.preprocess")  # the spec defines it, data re-exports
    assert [got[0], *got[2:]] == ["yolocls.runtime", "yolocls.export.formats", "yolocls.benchmark.runner",
                                  "yolocls.errors"]
    assert torch_loaded == "False"  # runtime/data/export/benchmark reached, torch still not imported


def test_unknown_attribute_is_an_attribute_error_naming_it() -> None:
    import yolocls

    with pytest.raises(AttributeError, match="'yolocls' has no attribute 'runtimes'"):
        yolocls.runtimes  # noqa: B018
    with pytest.raises(AttributeError, match="'yolocls.export' has no attribute 'export_tflite'"):
        yolocls.export.export_tflite  # noqa: B018
    assert "runtime" in dir(yolocls) and "export_onnx" in dir(yolocls.export)


def test_one_lazy_helper_serves_every_lazy_package() -> None:
    """No package hand-writes its own __getattr__ table: each one's __getattr__ is the helper's closure."""
    import importlib

    from yolocls import _lazy

    hand_written = []
    for path in sorted((ROOT / "yolocls").rglob("__init__.py")):
        text = path.read_text(encoding="utf-8")
        if "def __getattr__" in text:
            hand_written.append(str(path.relative_to(ROOT)))
    assert hand_written == []
    for name in ("yolocls", "yolocls.data", "yolocls.engine", "yolocls.export", "yolocls.benchmark"):
        mod = importlib.import_module(name)
        getter = vars(mod)["__getattr__"]
        assert getter.__module__ == _lazy.__name__, name


def test_lazy_names_are_cached_after_first_use() -> None:
    import yolocls.export

    vars(yolocls.export).pop("get_format", None)
    first = yolocls.export.get_format
    assert vars(yolocls.export)["get_format"] is first  # the second access is a plain attribute


def test_predict_takes_topk(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from conftest import export_tiny_onnx

    from yolocls import runtime
    from yolocls.runtime.base import Backend

    assert "topk" in inspect.signature(Backend.predict).parameters
    assert "topk_k" not in inspect.signature(Backend.predict).parameters
    onnx = export_tiny_onnx(tmp_path / "tiny.onnx")
    with runtime.load(onnx, backend="onnxruntime") as rt:
        top = rt.predict([np.zeros((40, 50, 3), np.uint8)], topk=2)
    assert len(top) == 1 and len(top[0]) == 2 and top[0][0].prob >= top[0][1].prob


def test_export_result_repr_is_a_short_summary(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import torch

    from yolocls.export.onnx import export_onnx
    from yolocls.models import create_model

    names = [f"class_{i:04d}" for i in range(300)]
    torch.manual_seed(0)
    model = create_model("tiny-cls", num_classes=len(names), names=names).eval()
    res = export_onnx(model, tmp_path / "m.onnx", imgsz=32, verify=False)
    text = repr(res)
    assert text.startswith("ExportResult(path=") and "num_classes=300" in text and "imgsz=32" in text
    assert "class_0000" not in text and len(text) < 300, text


def _contracts() -> dict[str, dict]:
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["source_modules"][0]: c for c in cfg["contracts"]}


def test_spec_contract_forbids_every_other_module_of_yolocls() -> None:
    """The leaf contract lists what it forbids: a new top-level module must be added there (or allowed here)."""
    allowed = {"errors", "_native", "_version", "spec"}  # what the spec may import, and itself
    tops = {p.stem if p.is_file() else p.name for p in (ROOT / "yolocls").iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").is_file())}
    forbidden = {m.removeprefix("yolocls.") for m in _contracts()["yolocls.spec"]["forbidden_modules"]}
    assert tops - allowed - forbidden == set(), "add the new module to the spec contract in pyproject.toml"
    assert "torch" in forbidden
    runtime = set(_contracts()["yolocls.runtime"]["forbidden_modules"])
    assert runtime == {"yolocls.export", "yolocls.engine", "yolocls.models", "torch"}


def test_import_contract_holds() -> None:
    import shutil

    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    p = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stdout[-3000:]
    assert "2 kept, 0 broken" in p.stdout


# -- the command line's one vocabulary (yolocls/cli/_options.py) --------------------------------------------------
def _commands() -> dict:
    import typer

    from yolocls.cli.app import app

    return typer.main.get_command(app).commands  # type: ignore[attr-defined]


def _option(cmd, name: str):  # noqa: ANN001, ANN202 - click objects
    return next((p for p in cmd.params if name in (*p.opts, *p.secondary_opts)), None)


def test_shared_options_mean_the_same_in_every_command() -> None:
    from yolocls.cli._options import BackendName, Precision

    cmds = _commands()
    seen = {"--device": 0, "--json": 0, "--precision": 0, "--backend": 0, "--imgsz": 0, "--weights": 0}
    for name, cmd in cmds.items():
        for flag in seen:
            p = _option(cmd, flag)
            if p is None or p.hidden:
                continue
            seen[flag] += 1
            if flag == "--device":
                assert p.default == "", f"{name}: --device must default to '' (auto)"
            if flag == "--json":
                assert p.is_flag, f"{name}: --json must be a flag (JSON on stdout)"
                assert _option(cmd, "--save-json") is not None, f"{name}: --json without --save-json"
            if flag in ("--precision", "--backend"):
                inner: Any = p.type_descriptor.annotation
                while typing.get_args(inner):  # list[Precision] | None -> Precision
                    inner = next(a for a in typing.get_args(inner) if a is not type(None))
                assert inner is (Precision if flag == "--precision" else BackendName), (name, flag, inner)
            if flag == "--imgsz":
                assert {"--img", "--img-size"} <= set(p.opts), f"{name}: --imgsz without YOLOv5's spellings"
    assert all(n >= 2 for n in seen.values()), seen  # each word is shared, not one command's own
    # the old spellings still parse but are not advertised
    for name, flag in (("build-engine", "--fp16"), ("infer", "--model"), ("benchmark", "--models"),
                       ("benchmark", "--backends")):
        p = _option(cmds[name], flag)
        assert p is not None and p.hidden, (name, flag)
    assert _option(cmds["build-engine"], "--half") is not None


def test_resolve_device_auto() -> None:
    from yolocls.cli._options import resolve_device

    assert resolve_device("cpu", "torch") == "cpu" and resolve_device(" 0 ") == "0"
    assert resolve_device("", "tensorrt") == "0" and resolve_device("", "openvino") == "cpu"
    torch = pytest.importorskip("torch")
    assert resolve_device("", "torch") == ("0" if torch.cuda.is_available() else "cpu")


def test_export_cli_reads_the_format_table() -> None:
    from yolocls.errors import InputError
    from yolocls.export.formats import FORMATS, check_options, parse_include

    help_text = _option(_commands()["export"], "--include").help
    assert all(f.description in help_text for f in FORMATS.values())
    check_options(parse_include("onnx,triton"), ["half_io"])  # both take float16 I/O
    with pytest.raises(InputError, match="--half-io does not apply to --include engine"):
        check_options(parse_include("onnx,engine"), ["half_io"])


@pytest.mark.parametrize("command", ["train", "val", "predict", "export", "infer", "info", "benchmark"])
def test_imgsz_is_capped_alike_in_every_command(command: str) -> None:
    """--imgsz above the metadata's MAX_IMGSZ is one line and exit 2 before any work, in every command."""
    from typer.testing import CliRunner

    from yolocls.cli.app import app
    from yolocls.spec.metadata import MAX_IMGSZ

    result = CliRunner().invoke(app, [command, "--imgsz", str(MAX_IMGSZ + 1), "--weights", "m.pt"])
    assert result.exit_code == 2, result.output
    assert f"invalid value '{MAX_IMGSZ + 1}' for --imgsz: must be an integer from " in result.output
    assert result.output.strip().endswith(f"to {MAX_IMGSZ}") and len(result.output.strip().splitlines()) == 1
