"""The README's Python API snippet runs as written, and every flag of its command-line table exists.

The snippet is executed in a temporary folder where the files it names exist: ``runs/train/exp/weights/best.pt``
(a tiny-cls checkpoint, so export and verification take seconds) and ``cat.jpg`` (a fixture photograph, or a
synthetic image without the fixtures).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert m, f"README has no '## {title}' section"
    return m.group(1)


def _python_block() -> str:
    m = re.search(r"```python\n(.*?)```", _section("Python API"), flags=re.S)
    assert m, "README's Python API section has no python code block"
    return m.group(1)


def _make_files(tmp: Path, photo: Path) -> None:
    from PIL import Image

    from yolocls.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("tiny-cls", names=[f"class{i}" for i in range(10)])
    model.preprocess = model.preprocess.replace(imgsz=32)
    save_checkpoint(tmp / "runs/train/exp/weights/best.pt", model)
    Image.open(photo).convert("RGB").save(tmp / "cat.jpg")


@pytest.mark.slow
def test_python_api_snippet_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str], photos_dir: Path) -> None:
    code = _python_block()
    _make_files(tmp_path, photos_dir / "chelsea.png")
    monkeypatch.chdir(tmp_path)
    head, sep, tail = code.partition("from yolocls import _C")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(head, "README.md:python-api", "exec"), {"__name__": "readme"})  # noqa: S102
        out = capsys.readouterr().out
        assert "Prediction(class_id=" in out and (tmp_path / "best.onnx").is_file()
        assert (tmp_path / "best.fp16.onnx").is_file()  # the FP16 variant did not replace best.onnx
        from yolocls import _native

        if not sep:
            return
        if not _native.available():
            pytest.skip("the compiled extension is not built here: the README's _C lines were not run")
        exec(compile(head + sep + tail, "README.md:python-api", "exec"), {"__name__": "readme"})  # noqa: S102
    assert re.search(r"\[\[\(\d+, 0\.\d+", capsys.readouterr().out)  # rt.classify's [[(class_id, prob), ...]]


def _expand(flag: str) -> list[str]:
    """``--weights/--pretrained`` -> both; ``--min/opt/max-batch`` -> ``--min-batch``, ``--opt-batch``, ..."""
    parts = flag.split("/")
    if all(p.startswith("--") for p in parts):
        return parts
    head, _, suffix = parts[-1].partition("-")
    return [f"--{h.lstrip('-')}-{suffix}" for h in [*parts[:-1], head]]


def _table_commands() -> list[tuple[str, list[str]]]:
    rows = []
    for line in _section("Command line").splitlines():
        m = re.match(r"^\| `yolocls ([a-z-]+)(.*?)` \|", line)
        if m:
            flags = re.findall(r"--[a-z0-9][a-z0-9/-]*", m.group(2))
            rows.append((m.group(1), sorted({f for flag in flags for f in _expand(flag)})))
    return rows


@pytest.mark.slow
def test_cli_table_flags_exist_in_help() -> None:
    from yolocls.cli.app import app

    rows = _table_commands()
    assert {c for c, _ in rows} >= {"train", "val", "predict", "export", "build-engine", "infer", "benchmark", "info"}
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]  # the app's command group
    for cmd, flags in rows:
        command = commands.get(cmd)
        assert command is not None, f"README lists `yolocls {cmd}`, which is not a command"
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        missing = [f for f in flags if f not in known]
        assert not missing, f"README's `yolocls {cmd}` row names flags it does not have: {missing}"
        r = CliRunner().invoke(app, [cmd, "--help"], env={"COLUMNS": "240", "NO_COLOR": "1"},
                               terminal_width=240)
        assert r.exit_code == 0, r.output
        plain = re.sub(r"\x1b\[[0-9;]*m", "", r.output)
        for f in flags:
            assert f in plain, f"`yolocls {cmd} --help` does not show {f}"


def test_table_flag_expansion() -> None:
    assert _expand("--weights/--pretrained") == ["--weights", "--pretrained"]
    assert _expand("--min/opt/max-batch") == ["--min-batch", "--opt-batch", "--max-batch"]
