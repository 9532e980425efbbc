"""The slim install resolves on a Jetson (JetPack 6: aarch64, glibc 2.35, Python 3.10) from binary wheels only.

``pip install --dry-run --report`` with ``--platform``/``--python-version``/``--implementation``/``--only-binary``
(pip requires ``--only-binary=:all:`` and a ``--target`` with those) resolves the core dependencies read from
pyproject.toml plus ``[onnxruntime]`` and ``[tensorrt]`` (the CUDA binding; TensorRT itself is JetPack's), and the
report proves every package has a wheel and nothing pulls torch or a CUDA 13 package.

pip does not widen ``--platform manylinux_2_35_aarch64`` to older glibc tags by itself, so every tag a JetPack 6
system accepts (manylinux_2_17 ... manylinux_2_35 and manylinux2014) is passed. Needs PyPI: skipped when pip cannot
reach its index; runs in CI.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
JETPACK6_GLIBC = 35  # Ubuntu 22.04 (L4T r36)
PLATFORMS = [f"manylinux_2_{v}_aarch64" for v in range(JETPACK6_GLIBC, 16, -1)] + ["manylinux2014_aarch64"]
NETWORK_ERRORS = re.compile(r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|"
                            r"Network is unreachable|Could not fetch URL|ProxyError|timed out|Connection refused")
CUDA13 = re.compile(r"^(nvidia-.*-cu13|cuda-bindings|cuda-python|cuda-toolkit|nvidia-cuda-runtime)$")


def _requirements(extras: tuple[str, ...]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for e in extras:
        reqs += project["optional-dependencies"][e]
    return reqs


def _resolve(reqs: list[str], tmp_path: Path) -> list[dict]:
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
           str(report), "--only-binary=:all:", *[a for p in PLATFORMS for a in ("--platform", p)],
           "--python-version", "3.10", "--implementation", "cp", "--target", str(tmp_path / "target"),
           "--timeout", "30", "--retries", "1", *reqs]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("pip took over 10 minutes to reach its index; no network here?")
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        if NETWORK_ERRORS.search(out) and "No matching distribution" not in out:
            pytest.skip(f"the package index is unreachable: {NETWORK_ERRORS.search(out).group(0)}")  # type: ignore[union-attr]
        pytest.fail(f"the Jetson install does not resolve from wheels:\n{out[-4000:]}")
    return json.loads(report.read_text(encoding="utf-8"))["install"]


@pytest.mark.network
@pytest.mark.slow
def test_jetpack6_slim_install_resolves_from_wheels(tmp_path: Path) -> None:
    installs = _resolve(_requirements(("onnxruntime", "tensorrt")), tmp_path)
    names = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in installs}
    for wanted in ("numpy", "pillow", "typer", "rich", "tqdm", "onnxruntime", "cuda-python"):
        assert wanted in names, sorted(names)
    for heavy in ("torch", "torchvision", "onnx", "onnxsim", "opencv-python-headless", "scikit-learn", "matplotlib"):
        assert heavy not in names, f"the Jetson install pulls {heavy}"
    cuda13 = {n: v for n, v in names.items() if (CUDA13.match(n) and v.split(".")[0] == "13") or n.endswith("-cu13")}
    assert not cuda13, f"CUDA 13 packages cannot run on JetPack 6's CUDA 12.6 driver: {cuda13}"
    for i in installs:  # binary wheels only, each for this platform or pure Python
        url = i["download_info"]["url"]
        fname = url.rsplit("/", 1)[-1]
        assert fname.endswith(".whl"), url
        py, abi, plat = fname[:-4].split("-")[-3:]
        assert plat == "any" or "aarch64" in plat, fname
        assert py in ("py3", "py2.py3", "cp310") or (abi == "abi3" and py.startswith("cp3")), fname
