"""The CUDA binding behind TensorRT's Python path: cuda-python or pycuda, picked at run time, never torch.

What runs on a CPU machine: the selection order, the one-line error naming both bindings when neither works, the
driver hint. The bindings themselves need a GPU (the ``tensorrt``-marked tests).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from yolocls.errors import BackendUnavailableError, InputError
from yolocls.runtime import tensorrt_python as tp


class _Block(importlib.abc.MetaPathFinder):
    """Makes the named top-level packages (and their submodules) unimportable, as if not installed."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)
        return None


@pytest.fixture()
def no_bindings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for mod in [m for m in sys.modules if m.split(".")[0] in ("cuda", "pycuda")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(sys, "meta_path", [_Block("cuda", "pycuda"), *sys.meta_path])
    monkeypatch.delenv(tp.BINDING_ENV, raising=False)
    yield


def test_neither_binding_is_one_clear_error(no_bindings: None) -> None:
    with pytest.raises(BackendUnavailableError) as e:
        tp.select_cuda_api()
    msg = str(e.value)
    assert "\n" not in msg
    assert "cuda-python: not installed" in msg and "pycuda: not installed" in msg
    assert "pip install 'yolocls[tensorrt]'" in msg and "pip install pycuda" in msg
    assert "torch" not in msg  # torch is no CUDA binding any more


def test_torch_is_not_a_binding() -> None:
    assert [c.name for c in tp.CUDA_APIS] == ["cuda-python", "pycuda"]


class _Fake(tp.CudaApi):
    """A stand-in binding for the selection logic only (it holds no memory and runs nothing)."""

    made: list[str] = []

    def __init__(self) -> None:
        _Fake.made.append(self.name)

    def current(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class _Missing(_Fake):
    name = "cuda-python"

    def __init__(self) -> None:
        raise ModuleNotFoundError("No module named 'cuda'", name="cuda")


class _OldDriver(_Fake):
    name = "cuda-python"

    def __init__(self) -> None:
        tp._check_cuda((35,), "cudaStreamCreate")


class _Works(_Fake):
    name = "pycuda"


class _AlsoWorks(_Fake):
    name = "cuda-python"


def test_first_working_binding_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tp.BINDING_ENV, raising=False)
    assert isinstance(tp.select_cuda_api(candidates=(_Missing, _Works)), _Works)
    assert isinstance(tp.select_cuda_api(candidates=(_AlsoWorks, _Works)), _AlsoWorks)


def test_prefer_and_environment_pick_the_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tp.BINDING_ENV, raising=False)
    assert isinstance(tp.select_cuda_api("pycuda", candidates=(_AlsoWorks, _Works)), _Works)
    monkeypatch.setenv(tp.BINDING_ENV, "pycuda")
    assert isinstance(tp.select_cuda_api(candidates=(_AlsoWorks, _Works)), _Works)
    monkeypatch.setenv(tp.BINDING_ENV, "torch")
    with pytest.raises(InputError, match="unknown CUDA binding 'torch'"):
        tp.select_cuda_api(candidates=(_AlsoWorks, _Works))


def test_driver_too_old_says_which_cuda_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tp.BINDING_ENV, raising=False)
    with pytest.raises(BackendUnavailableError) as e:
        tp.select_cuda_api(candidates=(_OldDriver,))
    assert "error 35" in str(e.value) and "cuda-python>=12.6,<13" in str(e.value)


def test_pinned_views_are_sized_like_numpy() -> None:
    dt, count, nbytes = tp._nbytes((2, 3, 4), np.float16)
    assert (dt, count, nbytes) == (np.dtype(np.float16), 24, 48)
    assert tp._nbytes((0,), np.float32)[2] == 1  # never a zero-byte allocation
