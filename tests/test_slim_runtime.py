"""The deployment side without the training stack: the real CLI entry point in a subprocess where torch, onnx,
onnxsim, onnxconverter-common, scikit-learn, matplotlib and OpenCV cannot be imported (a ``sys.meta_path`` finder
raises ModuleNotFoundError for them, as on a robot with ``pip install yolocls[onnxruntime]``).

`infer` (ONNX Runtime and OpenVINO), `info` and `benchmark` run on a real exported ONNX; `build-engine` without
TensorRT and every command whose extra is missing exit 2 with one line naming the extra; the Python API
(``runtime.load``, ``imread``, ``preprocess``) works and ``create_model`` names the extra. At the end ``torch`` and
``onnx`` are not in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import export_tiny_onnx

from yolocls._extras import EXTRAS

pytestmark = pytest.mark.slow  # the `slim` fixture runs every command in subprocesses with the extras blocked

BLOCKED = ("torch", "torchvision", "onnx", "onnxsim", "onnxconverter_common", "sklearn", "matplotlib", "cv2")

RUNNER = textwrap.dedent('''
    import contextlib, importlib.abc, io, json, sys

    BLOCKED = set(sys.argv[2].split(","))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by the test)", name=fullname)
            return None

    sys.meta_path.insert(0, Block())
    job = json.loads(open(sys.argv[1]).read())
    from yolocls.cli.app import main  # the console-script entry point

    results = []
    for argv in job["commands"]:
        out, err = io.StringIO(), io.StringIO()
        sys.argv = ["yolocls", *argv]
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        results.append({"argv": argv, "rc": code, "out": out.getvalue(), "err": err.getvalue()})

    import yolocls
    from yolocls import runtime
    from yolocls.data import imread, preprocess
    from yolocls.errors import ExtraMissingError

    api = {}
    img = imread(job["image"])
    api["preprocess_shape"] = list(preprocess(img, imgsz=32).shape)
    with runtime.load(job["onnx"], backend="onnxruntime") as rt:
        api["top"] = [p.name for p in rt.predict([img], topk=2)[0]]
    for name, call in (("create_model", lambda: yolocls.create_model("tiny-cls")),
                       ("load_model", lambda: yolocls.load_model(job["onnx"]))):
        try:
            call()
            api[name] = "no error"
        except ExtraMissingError as e:
            api[name] = str(e)
    api["backends"] = runtime.available_backends()
    loaded = sorted({m.split(".")[0] for m in sys.modules} & BLOCKED)
    print("RESULT " + json.dumps({"commands": results, "api": api, "loaded": loaded}))
''')


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_onnx(tmp_path_factory.mktemp("slim") / "tiny.onnx")


@pytest.fixture(scope="module")
def slim(tiny_onnx: Path, fixture_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every command and the API calls, run once in one blocked subprocess."""
    tmp = tmp_path_factory.mktemp("slim-run")
    video = tmp / "clip.mp4"
    video.write_bytes(b"\0" * 64)  # only its extension matters: reading it needs OpenCV, which is blocked
    images = str(fixture_images[0].parent)
    onnx = str(tiny_onnx)
    commands = {
        "infer_ort": ["infer", "--model", onnx, "--source", images, "--backend", "onnxruntime", "--topk", "2"],
        "infer_auto": ["infer", "--model", onnx, "--source", images, "-q"],
        "infer_video": ["infer", "--model", onnx, "--source", str(video)],
        "info_onnx": ["info", "--weights", onnx, "--json"],
        "info_build": ["info", "--json"],
        "benchmark": ["benchmark", "--weights", onnx, "--imgsz", "32", "--backends", "torch,onnxruntime",
                      "--runs", "3", "--warmup", "0", "--time-budget", "0.2", "--cache-dir", str(tmp / "cache")],
        "build_engine": ["build-engine", "--onnx", onnx, "--output", str(tmp / "tiny.engine")],
        "train": ["train", "--model", "tiny-cls", "--epochs", "1"],
        "val": ["val", "--weights", onnx],
        "predict": ["predict", "--weights", onnx, "--source", images],
        "export": ["export", "--weights", "tiny-cls"],
        "info_list": ["info", "--list"],
        "info_model": ["info", "--model", "yolov5n-cls"],
        "benchmark_zoo": ["benchmark", "--model", "yolov5n-cls"],
    }
    if "openvino" in __import__("yolocls.runtime", fromlist=["x"]).available_backends():
        commands["infer_openvino"] = ["infer", "--model", onnx, "--source", images, "--backend", "openvino", "-q"]
    job = tmp / "job.json"
    job.write_text(json.dumps({"commands": list(commands.values()), "onnx": onnx, "image": str(fixture_images[0])}))
    script = tmp / "runner.py"
    script.write_text(RUNNER)
    proc = subprocess.run([sys.executable, str(script), str(job), ",".join(BLOCKED)], capture_output=True,
                          text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(lines[-1][len("RESULT "):])
    res["by_name"] = dict(zip(commands, res["commands"], strict=True))
    return res


def _one_error_line(r: dict[str, Any]) -> str:
    assert r["rc"] == 2, r
    assert "Traceback" not in r["err"] + r["out"], r
    lines = [ln for ln in r["err"].splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("yolocls: error: "), r
    return lines[0]


def test_torch_and_onnx_never_imported(slim: dict[str, Any]) -> None:
    assert slim["loaded"] == [], f"imported although blocked: {slim['loaded']}"


@pytest.mark.parametrize("name", ["infer_ort", "infer_auto", "infer_openvino"])
def test_infer_runs_without_training_stack(slim: dict[str, Any], name: str, fixture_images: list[Path]) -> None:
    if name not in slim["by_name"]:
        pytest.skip("the extension here has no OpenVINO backend")
    r = slim["by_name"][name]
    assert r["rc"] == 0, r
    assert f"{len(fixture_images)} frame(s)" in r["out"] and "end-to-end" in r["out"]


def test_info_reads_onnx_and_build_without_torch(slim: dict[str, Any]) -> None:
    r = slim["by_name"]["info_onnx"]
    assert r["rc"] == 0, r
    assert json.loads(r["out"])["names"] == ["a", "b", "c"]
    r = slim["by_name"]["info_build"]
    assert r["rc"] == 0, r
    build = json.loads(r["out"])
    assert "train no" in build["extras"] and "onnxruntime" in build["backends"] and "torch" not in build["backends"]


def test_benchmark_skips_torch_rows_with_the_extra(slim: dict[str, Any]) -> None:
    r = slim["by_name"]["benchmark"]
    assert r["rc"] == 0, r
    assert "yolocls[train]" in r["out"]  # the skipped PyTorch row says what to install
    assert "onnxruntime" in r["out"]


def test_build_engine_without_tensorrt_is_one_line(slim: dict[str, Any]) -> None:
    line = _one_error_line(slim["by_name"]["build_engine"])
    assert "TensorRT" in line


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("train", "`yolocls train` needs the [train] extra"),
        ("val", "`yolocls val` needs the [train] extra"),
        ("predict", "`yolocls infer --model M.onnx`"),
        ("export", "`yolocls export` needs the [train] extra"),
        ("info_list", "`yolocls info --list`"),
        ("info_model", "`yolocls info --weights M.onnx`"),
        ("benchmark_zoo", "benchmarking zoo models"),
        ("infer_video", "needs the [video] extra"),
    ],
)
def test_missing_extra_is_one_line_naming_it(slim: dict[str, Any], name: str, needle: str) -> None:
    line = _one_error_line(slim["by_name"][name])
    assert needle in line
    extra = "video" if name == "infer_video" else "train"
    assert f"pip install 'yolocls[{extra}]'" in line


def test_python_api_without_training_stack(slim: dict[str, Any]) -> None:
    api = slim["api"]
    assert api["preprocess_shape"] == [1, 3, 32, 32]
    assert len(api["top"]) == 2 and set(api["top"]) <= {"a", "b", "c"}
    for name in ("create_model", "load_model"):
        assert f"yolocls.{name}() needs the [train] extra (torch not installed): pip install 'yolocls[train]'" \
            == api[name]


def test_extras_table_matches_pyproject() -> None:
    """Every extra require() names exists in pyproject.toml, and brings the modules it is checked by."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    dist_of = {"torch": "torch", "matplotlib": "matplotlib", "sklearn": "scikit-learn",
               "cv2": "opencv-python-headless", "onnx": "onnx", "onnxsim": "onnxsim",
               "onnxconverter_common": "onnxconverter-common", "onnxruntime": "onnxruntime", "openvino": "openvino"}
    for extra, modules in EXTRAS.items():
        assert extra in extras, extra
        names = {r.split("=")[0].split(">")[0].split("<")[0].strip() for r in extras[extra]}
        for m in modules:
            assert dist_of[m] in names, (extra, m)
    core = " ".join(project["dependencies"])
    for heavy in ("torch", "onnx", "opencv", "scikit-learn", "matplotlib", "openvino"):
        assert heavy not in core, heavy
    assert extras["all"] == ["yolocls[train,export,openvino,onnxruntime]"]
