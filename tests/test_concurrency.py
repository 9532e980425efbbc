"""Runtimes shared by threads give single-threaded answers, and repeated inference does not grow memory.

- 8 threads share one backend: the OpenVINO backend (``runtime.load(..., backend="openvino")``), a bare
  ``_C.Runtime`` with ``num_requests=4``, and the ONNX Runtime backend. Each thread classifies its own images many
  times; every logit must equal the single-threaded run's exactly.
- Leak check: ``N_LEAK`` inferences after a warm-up grow the resident set (``/proc/self/statm``) by less than
  ``LEAK_BOUND_MB``. ``scripts/soak.py`` runs the long version.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from yolocls import _native
from yolocls.utils.torch_utils import calibrate_batchnorm

torch.set_num_threads(1)
IMGSZ = 32
N_THREADS = 8
ROUNDS = 6
N_LEAK = 1500
WARMUP = 300
LEAK_BOUND_MB = 3.0

needs_openvino = pytest.mark.skipif(not (_native.available() and _native.build_info().get("openvino")),
                                    reason="yolocls._C is not built with OpenVINO")


def rss_mb() -> float:
    """Resident set size of this process in MB (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def calibrated_tiny_onnx(path: Path, num_classes: int = 5) -> Path:
    """tiny-cls with BatchNorm statistics from random images (so logits depend on the input), exported to ONNX."""
    import yolocls
    from yolocls.export.onnx import export_onnx
    from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

    torch.manual_seed(0)
    m = yolocls.create_model("tiny-cls", num_classes=num_classes)
    m.preprocess = PreprocessConfig(imgsz=IMGSZ)
    rng = np.random.default_rng(0)
    x = preprocess_with([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(8)], m.preprocess)
    calibrate_batchnorm(m, x)
    export_onnx(m, path, imgsz=IMGSZ, simplify=False, verify=False)
    return path


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return calibrated_tiny_onnx(tmp_path_factory.mktemp("conc") / "tiny.onnx")


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Different sizes and contents per thread (uint8 BGR)."""
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (int(rng.integers(20, 90)), int(rng.integers(20, 90)), 3), dtype=np.uint8)
            for _ in range(N_THREADS * 3)]


def _ort_logits(be: Any) -> Callable[[list[np.ndarray]], np.ndarray]:
    return lambda frames: be.infer(be.preprocess(frames))


@pytest.fixture(params=["openvino-backend", "C.Runtime-4-requests", "onnxruntime"])
def logits_fn(request: pytest.FixtureRequest, onnx_path: Path) -> Iterator[Callable[[list[np.ndarray]], np.ndarray]]:
    from yolocls import runtime

    if request.param == "onnxruntime":
        be = runtime.load(onnx_path, backend="onnxruntime", threads=1)
        yield _ort_logits(be)
        be.close()
        return
    if not (_native.available() and _native.build_info().get("openvino")):
        pytest.skip("yolocls._C is not built with OpenVINO")
    if request.param == "openvino-backend":
        be = runtime.load(onnx_path, backend="openvino", threads=1)
        yield lambda frames: be.logits(frames)
        be.close()
    else:
        C = _native.load_extension()
        from yolocls.spec.preprocess import PreprocessConfig

        rt = C.Runtime(str(onnx_path), _native.native_config(PreprocessConfig(imgsz=IMGSZ)),
                       C.RuntimeOptions(backend=C.Backend.OPENVINO, threads=1, num_requests=4))
        yield lambda frames: rt.logits(frames, True)


def _run_threads(work: Callable[[int], None], n: int = N_THREADS) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def body(i: int) -> None:
        try:
            start.wait()  # all threads hit the runtime at once
            work(i)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


@pytest.mark.slow
def test_shared_runtime_matches_single_thread(logits_fn: Callable[[list[np.ndarray]], np.ndarray],
                                              images: list[np.ndarray]) -> None:
    # each thread: batches of 1 and 3 of its own images
    work_items = [[[images[3 * i]], images[3 * i:3 * i + 3]] for i in range(N_THREADS)]
    want = [[logits_fn(batch) for batch in items] for items in work_items]
    assert not np.allclose(want[0][0], want[1][0]), "logits must depend on the image for this test to mean anything"
    got: dict[int, list[list[np.ndarray]]] = {}

    def work(i: int) -> None:
        got[i] = [[logits_fn(batch) for batch in work_items[i]] for _ in range(ROUNDS)]

    _run_threads(work)
    for i in range(N_THREADS):
        for r in range(ROUNDS):
            for a, b in zip(got[i][r], want[i], strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"thread {i} round {r}")


@needs_openvino
def test_openvino_predict_topk_shared(onnx_path: Path, images: list[np.ndarray]) -> None:
    """The full C++ path (preprocess, infer, softmax, top-k) from 8 threads equals the single-threaded result."""
    from yolocls import runtime

    with runtime.load(onnx_path, backend="openvino", threads=1) as be:
        want = [be.predict(images[3 * i:3 * i + 3], topk=3) for i in range(N_THREADS)]
        got: dict[int, list[Any]] = {}

        def work(i: int) -> None:
            got[i] = [be.predict(images[3 * i:3 * i + 3], topk=3) for _ in range(ROUNDS)]

        _run_threads(work)
    for i in range(N_THREADS):
        assert all(r == want[i] for r in got[i]), i


@needs_openvino
def test_native_preprocess_shared_threads(images: list[np.ndarray]) -> None:
    from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

    cfg = PreprocessConfig(imgsz=IMGSZ)
    want = [preprocess_with([im], cfg) for im in images]
    got: dict[int, list[np.ndarray]] = {}

    def work(i: int) -> None:
        got[i] = [_native.preprocess([images[j]], cfg) for j in range(len(images)) for _ in range(2)]

    _run_threads(work)
    for i in range(N_THREADS):
        for j, a in enumerate(got[i]):
            np.testing.assert_allclose(a, want[j // 2], atol=1e-5)


def _leak_check(step: Callable[[int], Any]) -> float:
    for i in range(WARMUP):
        step(i)
    before = rss_mb()
    for i in range(N_LEAK):
        step(i)
    grown = rss_mb() - before
    print(f"RSS growth over {N_LEAK} inferences: {grown:+.2f} MB")
    return grown


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
@pytest.mark.slow
def test_no_leak_over_repeated_inference(backend: str, onnx_path: Path, images: list[np.ndarray]) -> None:
    from yolocls import runtime

    if backend == "openvino" and not (_native.available() and _native.build_info().get("openvino")):
        pytest.skip("yolocls._C is not built with OpenVINO")
    with runtime.load(onnx_path, backend=backend, threads=1) as be:
        grown = _leak_check(lambda i: be.predict(images[i % len(images)], topk=3))
    assert grown < LEAK_BOUND_MB, f"{backend}: RSS grew {grown:.2f} MB over {N_LEAK} inferences"


@needs_openvino
@pytest.mark.slow
def test_no_leak_runtime_create_destroy(onnx_path: Path) -> None:
    """Opening and dropping the C++ runtime repeatedly frees what it allocated (compiled model, requests)."""
    from yolocls import runtime

    def step(_: int) -> None:
        with runtime.load(onnx_path, backend="openvino", threads=1) as be:
            be.predict(np.zeros((8, 8, 3), np.uint8))

    for i in range(5):
        step(i)
    before = rss_mb()
    for i in range(40):
        step(i)
    grown = rss_mb() - before
    print(f"RSS growth over 40 runtime open/close cycles: {grown:+.2f} MB")
    assert grown < 10, grown


def test_leak_check_detects_a_leak() -> None:
    """The measurement itself works: 4 KB kept per step (6 MB over N_LEAK steps) is over the bound."""
    kept: list[bytearray] = []
    grown = _leak_check(lambda i: kept.append(bytearray(b"x" * 4096)))
    assert grown > LEAK_BOUND_MB, grown
