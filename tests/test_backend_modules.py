"""Backends as run-time modules: `_C` and libyolocls_runtime link no engine; the OpenVINO module is opened on first
use and every way it can fail to load is one clear error (module missing, engine library missing, not a module),
through `_C`, `yolocls.runtime.load` and the CLI. Plus the runtime's own ONNX metadata reader (no ONNX library):
agreement with the Python reader and bounded refusal of damaged files. Subprocesses get fresh loader state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from yolocls import _native

pytestmark = pytest.mark.skipif(not _native.available(), reason="yolocls._C not built")

PKG = Path(_native.load_extension().__file__).parent


def _dynamic(path: Path) -> str:
    return subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_extension_and_runtime_link_no_engine() -> None:
    C = _native.load_extension()
    for lib in (Path(C.__file__), PKG / "libyolocls_runtime.so"):
        dyn = _dynamic(lib)
        for engine in ("openvino", "nvinfer", "cudart", "libcuda"):
            assert engine not in dyn, (lib.name, dyn)
        assert "RUNPATH" in dyn and "[$ORIGIN]" in dyn, dyn
    if (PKG / "libyolocls_openvino.so").is_file():
        assert "libopenvino.so." in _dynamic(PKG / "libyolocls_openvino.so")


def test_status_in_this_environment() -> None:
    C = _native.load_extension()
    info = C.build_info()
    assert Path(info["plugin_dir"]) == PKG
    ov = C.backend_status("openvino")
    assert ov["built"] == info["openvino"]
    if ov["built"]:
        assert ov["loadable"] and ov["error"] is None and ov["version"] == info["openvino_version"], ov
    trt = C.backend_status("tensorrt")
    assert trt["loadable"] is False and trt["error"], trt  # no TensorRT on any machine here
    with pytest.raises(C.InvalidArgument, match="unknown backend 'onnx'"):
        C.backend_status("onnx")


def _python(code: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=full, cwd=cwd)


# Makes `import openvino` and importlib's find_spec("openvino") fail, as on a machine without the openvino wheel.
HIDE_OPENVINO = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "openvino" or name.startswith("openvino."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _Hide())
"""


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_tensorrt import tiny_onnx

    return tiny_onnx(tmp_path_factory.mktemp("modules") / "tiny.onnx")


needs_openvino_module = pytest.mark.skipif(not (PKG / "libyolocls_openvino.so").is_file(),
                                           reason="this build has no OpenVINO module")


@needs_openvino_module
@pytest.mark.slow
def test_import_order_does_not_matter(onnx_model: Path) -> None:
    """_C alone, _C before openvino, openvino before _C: all run the OpenVINO backend."""
    run = f"rt = _C.Runtime({str(onnx_model)!r}); print(rt.classify([np.zeros((40, 50, 3), np.uint8)], 2))"
    for prelude in ("import numpy as np; from yolocls import _C",
                    "import numpy as np; from yolocls import _C; import openvino",
                    "import numpy as np; import openvino; from yolocls import _C"):
        p = _python(f"{prelude}\n{run}")
        assert p.returncode == 0, (prelude, p.stderr)


@needs_openvino_module
def test_missing_engine_library_names_it_and_the_extra(onnx_model: Path, tmp_path: Path) -> None:
    """The module is there, libopenvino is not findable: one error with the library's name and the fix."""
    code = HIDE_OPENVINO + f"""
import json
from yolocls import _C
st = _C.backend_status("openvino")
try:
    _C.Runtime({str(onnx_model)!r})
    raised = None
except _C.Unavailable as e:
    raised = str(e)
from yolocls.runtime import available_backends
print(json.dumps({{"status": st, "raised": raised, "available": available_backends()}}))
"""
    # LD_LIBRARY_PATH cleared, and the module copied away from site-packages (its RUNPATH reaches nothing there).
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    shutil.copy(PKG / "libyolocls_openvino.so", plugin_dir)
    env = {"LD_LIBRARY_PATH": "", "YOLOCLS_PLUGIN_DIR": str(plugin_dir)}
    p = _python(code, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    st = out["status"]
    assert st["built"] and not st["loadable"], st
    msg = "the OpenVINO backend needs libopenvino.so."
    assert st["error"].startswith(msg) and "pip install 'yolocls[openvino]'" in st["error"], st
    assert out["raised"] == st["error"]
    assert "openvino" not in out["available"]


@needs_openvino_module
@pytest.mark.slow
def test_cli_without_engine_library_is_one_line(onnx_model: Path, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    shutil.copy(PKG / "libyolocls_openvino.so", plugin_dir)
    from PIL import Image

    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    code = HIDE_OPENVINO + (
        "import sys\nfrom yolocls.cli.app import main\n"
        f"sys.argv = ['yolocls', 'infer', '--model', {str(onnx_model)!r}, '--source', {str(tmp_path / 'a.png')!r},"
        " '--backend', 'openvino']\nmain()\n")
    p = _python(code, env={"LD_LIBRARY_PATH": "", "YOLOCLS_PLUGIN_DIR": str(plugin_dir)}, cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yolocls: error:"), p.stderr
    assert "libopenvino.so." in lines[0] and "yolocls[openvino]" in lines[0], lines


@pytest.mark.parametrize("content,match", [
    (None, "backend module .*libyolocls_openvino.so is missing"),
    (b"not an ELF file at all", "cannot load the OpenVINO backend module"),
])
def test_module_missing_or_damaged(tmp_path: Path, content: bytes | None, match: str) -> None:
    if content is not None:
        (tmp_path / "libyolocls_openvino.so").write_bytes(content)
    code = ("import json\nfrom yolocls import _C\nprint(json.dumps(_C.backend_status('openvino')))")
    p = _python(code, env={"YOLOCLS_PLUGIN_DIR": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    import re

    if st["built"]:
        assert not st["loadable"] and re.search(match, st["error"]), st
    else:
        assert "has no OpenVINO backend" in st["error"]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_module_of_another_kind_is_refused(tmp_path: Path) -> None:
    """A shared library without our entry point (e.g. a stale or foreign file under our name)."""
    src = tmp_path / "x.c"
    src.write_text("int something(void) { return 1; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "libyolocls_openvino.so"), str(src)], check=True)
    p = _python("import json\nfrom yolocls import _C\nprint(json.dumps(_C.backend_status('openvino')))",
                env={"YOLOCLS_PLUGIN_DIR": str(tmp_path)})
    st = json.loads(p.stdout)
    if st["built"]:
        assert "is not a yolocls backend module" in st["error"], st


# ----------------------------------------------------------------------------------- the C++ ONNX metadata reader


def test_cpp_reader_matches_python_reader(onnx_model: Path) -> None:
    from yolocls.export.onnx import read_metadata

    C = _native.load_extension()
    got = C.read_metadata(str(onnx_model))
    want = read_metadata(onnx_model)
    assert got["names"] == want.names and got["imgsz"] == want.imgsz
    assert got["crop"] == want.preprocess.crop


def test_cpp_reader_refuses_damaged_files(onnx_model: Path, tmp_path: Path) -> None:
    """Every truncation and a few hundred byte flips: a clean RuntimeError or a valid read, never a crash."""
    C = _native.load_extension()
    data = onnx_model.read_bytes()
    bad = tmp_path / "bad.onnx"
    rng = np.random.default_rng(0)
    outcomes = {"error": 0, "ok": 0}
    cuts = list(range(0, len(data), max(1, len(data) // 300)))
    flips = []
    for _ in range(300):
        b = bytearray(data)
        for i in rng.integers(0, len(b), size=int(rng.integers(1, 8))):
            b[int(i)] = int(rng.integers(0, 256))
        flips.append(bytes(b))
    for blob in [data[:c] for c in cuts] + flips:
        bad.write_bytes(blob)
        try:
            C.read_metadata(str(bad))
            outcomes["ok"] += 1
        except RuntimeError as e:
            assert "\n" not in str(e) and len(str(e)) < 600, str(e)
            outcomes["error"] += 1
    assert outcomes["error"] >= len(cuts) - 1  # a cut file never reads (the metadata comes last)
    bad.write_bytes(b"")
    with pytest.raises(RuntimeError, match="not an ONNX model"):
        C.read_metadata(str(bad))
    (tmp_path / "plain.onnx").write_bytes(b"\x0a\xff\xff\xff\xff\x0f")  # a field longer than the file
    with pytest.raises(RuntimeError, match="runs past the end"):
        C.read_metadata(str(tmp_path / "plain.onnx"))
