"""Shared test fixtures. ../shared/fixtures (read-only) lies beside the clone; tests skip clearly without it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("YOLOCLS_FIXTURES", ROOT.parent / "shared" / "fixtures"))


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _has_cuda():
        skip = pytest.mark.skip(reason="needs an NVIDIA GPU (CUDA not available here)")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"test fixtures not found at {FIXTURES} (shared/ must lie beside the clone)")
    return FIXTURES


@pytest.fixture(scope="session")
def fixture_images(fixtures_dir: Path) -> list[Path]:
    return sorted((fixtures_dir / "images").iterdir())


@pytest.fixture()
def one_torch_thread() -> Iterator[None]:
    """Small models: one torch thread is as fast and does not fight the other processes on a 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def export_tiny_onnx(path: Path) -> Path:
    """A random-init tiny-cls (classes a, b, c; 32 px) exported to ``path`` with metadata (not verified)."""
    import torch

    from yolocls.export.onnx import export_onnx
    from yolocls.models import create_model

    torch.manual_seed(0)
    model = create_model("tiny-cls", num_classes=3, names=["a", "b", "c"]).eval()
    model.preprocess = model.preprocess.replace(imgsz=32)
    export_onnx(model, path, imgsz=32, verify=False)
    return path


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
