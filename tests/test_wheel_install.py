"""The deployment install, tried as a robot would get it: `pip wheel .`, then a fresh virtualenv (no system
site-packages) that installs the wheel WITHOUT extras.

Checked for real: `from yolocls import _C` imports on its own; torch and onnx are never imported; the OpenVINO
backend, not yet installed, is one error naming the library and the extra; commands of missing extras exit 2 with
one line; after `pip install 'yolocls[openvino]'` the wheel's OpenVINO module finds the openvino wheel's library
(RUNPATH $ORIGIN/../openvino/libs) and `yolocls infer` gives the same top-k as this checkout's runtime.

Needs PyPI for the dependencies (CI reaches it); skips when the index cannot be reached. The wheel is built with the
`cpu` preset (the CUDA kernel is compiled by the main install); set YOLOCLS_TEST_WHEEL=path.whl to test a given one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")]


def _run(cmd: list[str], timeout: int = 1200, **kw: object) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def _pypi_reachable() -> bool:
    p = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "tqdm"], capture_output=True, text=True,
                       timeout=120)
    return p.returncode == 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("YOLOCLS_TEST_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "YOLOCLS_PRESET": "cpu"}
    _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(out)], env=env)
    (whl,) = out.glob("yolocls-*.whl")
    return whl


@pytest.fixture(scope="module")
def slim(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed without extras; returns its bin/ folder."""
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable: cannot install the wheel's dependencies into a fresh virtualenv")
    env_dir = tmp_path_factory.mktemp("venv") / "slim"
    venv.create(env_dir, with_pip=True, clear=True)
    bin_dir = env_dir / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)])
    return bin_dir


def _clean_env() -> dict[str, str]:
    """The environment of a fresh shell: nothing from this checkout on the path."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD")}


PROBE = """
import json, sys
from yolocls import _C
status = _C.backend_status("openvino")
print(json.dumps({"status": status, "file": _C.__file__,
                  "heavy": [m for m in ("torch", "onnx", "onnxruntime", "openvino", "cv2", "sklearn", "matplotlib")
                            if m in sys.modules]}))
"""


def test_slim_wheel_imports_alone_without_the_training_stack(slim: Path, tmp_path: Path) -> None:
    p = _run([str(slim / "python"), "-c", PROBE], cwd=tmp_path, env=_clean_env())
    out = json.loads(p.stdout)
    assert "site-packages" in out["file"], out
    assert out["heavy"] == [], out
    st = out["status"]
    assert st["built"] and not st["loadable"], st
    assert "libopenvino.so" in st["error"] and "pip install 'yolocls[openvino]'" in st["error"], st
    listed = _run([str(slim / "python"), "-m", "pip", "list", "--format=json"], env=_clean_env()).stdout
    names = {d["name"].lower() for d in json.loads(listed)}
    assert not names & {"torch", "onnx", "onnxsim", "openvino", "onnxruntime", "scikit-learn", "matplotlib"}, names


@pytest.mark.parametrize("argv,extra", [
    (["train", "--data", "digits"], "train"),
    (["export", "--weights", "x.pt"], "train"),  # a .pt export needs torch first
])
def test_slim_commands_of_missing_extras_exit_2(slim: Path, tmp_path: Path, argv: list[str], extra: str) -> None:
    p = subprocess.run([str(slim / "yolocls"), *argv], capture_output=True, text=True, cwd=tmp_path,
                       env=_clean_env(), timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yolocls: error:"), p.stderr
    assert f"pip install 'yolocls[{extra}]'" in lines[0], lines


def test_slim_build_engine_without_tensorrt_exits_2(slim: Path, tmp_path: Path) -> None:
    onnx_path = _tiny_onnx(tmp_path)
    p = subprocess.run([str(slim / "yolocls"), "build-engine", "--onnx", str(onnx_path)], capture_output=True,
                       text=True, cwd=tmp_path, env=_clean_env(), timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yolocls: error:") and "TensorRT" in lines[0], p.stderr


def _tiny_onnx(where: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_tensorrt import tiny_onnx

    return tiny_onnx(where / "tiny.onnx")


INFER = """
import sys
from yolocls.cli.app import main
sys.argv = ["yolocls", "infer", "--model", sys.argv[1], "--source", sys.argv[2], "--backend", "openvino",
            "--topk", "4"]
try:
    main()
except SystemExit as e:
    if e.code:
        raise
heavy = [m for m in ("torch", "onnx", "cv2", "sklearn", "matplotlib") if m in sys.modules]
assert not heavy, heavy
print("NO-HEAVY-MODULES")
"""


def test_wheel_with_openvino_extra_runs_infer(slim: Path, wheel: Path, tmp_path: Path) -> None:
    from PIL import Image

    from yolocls.runtime import load

    _run([str(slim / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[openvino]"], env=_clean_env())
    onnx_path = _tiny_onnx(tmp_path)
    rgb = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    image = tmp_path / "frame.png"
    Image.fromarray(rgb).save(image)

    p = _run([str(slim / "python"), "-c", INFER, str(onnx_path), str(image)], cwd=tmp_path, env=_clean_env())
    assert "NO-HEAVY-MODULES" in p.stdout, p.stdout
    line = next(x for x in p.stdout.splitlines() if x.startswith(str(image)))
    got = [(int(t.split()[0]), t.split()[1]) for t in line.split(":", 1)[1].split("[")[0].split(",")]

    with load(onnx_path, backend="onnxruntime") as rt:  # this checkout, another backend: the same answer
        want = [(pr.class_id, pr.name) for pr in rt.predict([np.ascontiguousarray(rgb[:, :, ::-1])], 4)[0]]
    assert got == want, (line, want)
