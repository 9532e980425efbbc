"""Shared test fixtures.

Photographs: scikit-image's sample photos (chelsea, coffee, rocket, astronaut, camera), which ship inside the
scikit-image wheel (a [dev] dependency; no download), copied byte for byte into a session temp folder. The YOLOv5-made
checkpoint and reference logits used by a few cross-checks live only in ../shared/fixtures (or $YOLOCLS_FIXTURES);
those tests skip with a reason when it is absent, so a fresh clone runs everything else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the YOLOv5-made files (checkpoint, reference logits); YOLOCLS_FIXTURES=/nonexistent simulates a fresh clone
FIXTURES = Path(os.environ.get("YOLOCLS_FIXTURES", ROOT.parent / "shared" / "fixtures"))
# file name -> skimage.data loader; sizes as in ../shared/fixtures/README.md (H x W)
PHOTOS = {
    "astronaut.png": "astronaut",  # 512x512 RGB
    "camera.png": "camera",  # 512x512 grayscale
    "chelsea.png": "chelsea",  # 300x451 RGB, a cat
    "coffee.png": "coffee",  # 400x600 RGB
    "rocket.jpg": "rocket",  # 427x640 RGB, JPEG
}


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
    """../shared/fixtures: only for the cross-checks against the YOLOv5-made checkpoint and reference logits."""
    if not FIXTURES.is_dir():
        pytest.skip(f"test fixtures not found at {FIXTURES} (shared/ must lie beside the clone)")
    return FIXTURES


def write_photos(dest: Path) -> Path:
    """The five sample photos into ``dest`` (the files scikit-image ships, byte for byte: the same bytes as
    ../shared/fixtures/images). Raises ImportError without scikit-image."""
    import skimage.data
    from PIL import Image

    bundled = Path(skimage.data.__file__).parent
    dest.mkdir(parents=True, exist_ok=True)
    for name, loader in PHOTOS.items():
        if (bundled / name).is_file():
            (dest / name).write_bytes((bundled / name).read_bytes())
        else:  # a layout without the files beside the module: encode the loader's array in the same format
            Image.fromarray(getattr(skimage.data, loader)()).save(dest / name, quality=95)
    return dest


@pytest.fixture(scope="session")
def photos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the five real photographs (PNG and JPEG, RGB and grayscale), from scikit-image's sample data."""
    try:
        return write_photos(tmp_path_factory.mktemp("photos"))
    except ImportError:
        pytest.skip("scikit-image is not installed: pip install -e '.[dev]' (its sample photos are the test images)")


@pytest.fixture(scope="session")
def fixture_images(photos_dir: Path) -> list[Path]:
    return sorted(photos_dir.iterdir())


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
