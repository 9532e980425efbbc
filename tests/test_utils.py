"""yolocls.utils: crash-safe writes, run folders, device strings, BatchNorm calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yolocls.errors import InputError
from yolocls.utils.files import atomic_open, atomic_write_text, increment_path
from yolocls.utils.torch_utils import calibrate_batchnorm, select_device


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "results.csv"
    atomic_write_text(p, "a\n")
    atomic_write_text(p, "b\n")
    assert p.read_text() == "b\n"
    assert sorted(x.name for x in p.parent.iterdir()) == ["results.csv"]


def test_atomic_open_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    p = tmp_path / "last.pt"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(p) as f:
        f.write(b"partial")
        raise RuntimeError("killed mid-write")
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["last.pt"]


def test_increment_path(tmp_path: Path) -> None:
    base = tmp_path / "exp"
    assert increment_path(base) == base
    base.mkdir()
    assert increment_path(base) == tmp_path / "exp2"
    (tmp_path / "exp2").mkdir()
    assert increment_path(base) == tmp_path / "exp3"
    assert increment_path(base, exist_ok=True) == base


@pytest.mark.parametrize("spec", ["cpu", "CPU", "", torch.device("cpu")])
def test_select_device_cpu(spec: object) -> None:
    if spec == "" and torch.cuda.is_available():
        pytest.skip("'' picks a GPU here")
    assert select_device(spec).type == "cpu"  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["gpu", "0,x", "cuda:a"])
def test_select_device_rejects_garbage(spec: str) -> None:
    with pytest.raises(InputError, match="invalid device"):
        select_device(spec)


def test_select_device_gpu_without_cuda_is_clear() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InputError, match="CUDA is not available"):
        select_device("0")


@pytest.mark.slow
def test_calibrate_batchnorm_sets_exact_batch_statistics() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4))
    x = np.random.default_rng(0).normal(size=(6, 3, 8, 8)).astype(np.float32)
    calibrate_batchnorm(model, x, passes=3)
    assert not model.training
    y = model[0](torch.from_numpy(x))
    torch.testing.assert_close(model[1].running_mean, y.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model[1].running_var, y.var(dim=(0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-6)
