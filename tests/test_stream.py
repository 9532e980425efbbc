"""The streaming API (yolocls.runtime.stream): order, per-frame errors, bounded queue, policies, shutdown, the CLI.

Ordering and queueing are checked with controllable stages (random delays, gates); the backends (ONNX Runtime,
OpenVINO through the C++ runtime, a ``_C.Runtime`` given directly) with a tiny exported model, against the
sequential ``predict`` of the same backend. Every wait has a timeout, and every test checks the workers are joined.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from conftest import export_tiny_onnx
from typer.testing import CliRunner

from yolocls import runtime
from yolocls.errors import InputError
from yolocls.runtime.stream import Stream, StreamClosed, StreamFull, StreamResult, stream

WAIT = 20.0  # seconds: generous bound for anything that should take milliseconds (2 shared cores)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_onnx(tmp_path_factory.mktemp("stream") / "tiny.onnx")


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (int(rng.integers(20, 90)), int(rng.integers(20, 90)), 3), dtype=np.uint8)
            for _ in range(n)]


def _joined(s: Stream) -> bool:
    return all(not t.is_alive() for t in s._threads)


class Gate:
    """A stage that blocks until released; records how many frames are inside it at once."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.lock = threading.Lock()
        self.inside = 0
        self.max_inside = 0
        self.started: list[Any] = []

    def __call__(self, frame: Any) -> Any:
        with self.lock:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
            self.started.append(frame)
        try:
            assert self.open.wait(WAIT), "gate never opened"
            return frame
        finally:
            with self.lock:
                self.inside -= 1

    def wait_started(self, n: int) -> None:
        deadline = time.monotonic() + WAIT
        while len(self.started) < n:
            assert time.monotonic() < deadline, f"only {len(self.started)} of {n} frames started"
            time.sleep(0.002)


def test_results_in_submission_order_under_random_delays() -> None:
    rnd = random.Random(0)
    delays = [rnd.choice([0.0, 0.001, 0.004, 0.012]) for _ in range(120)]

    def slow_identity(frame: int) -> int:
        time.sleep(delays[frame])
        return frame * 10

    with Stream(slow_identity, workers=4, queue_size=3) as s:
        out: list[StreamResult] = []
        for i in range(120):
            s.submit(i, tag=f"t{i}")
            out += s.poll()
        s.close()
        out += list(s)
    assert [r.index for r in out] == list(range(120))
    assert [r.predictions for r in out] == [i * 10 for i in range(120)]
    assert [r.tag for r in out] == [f"t{i}" for i in range(120)]
    assert all(r.ok and r.error is None and r.timings["latency"] >= r.timings["queue"] >= 0 for r in out)
    assert _joined(s)


def test_imap_orders_and_overlaps() -> None:
    """Frames run on several workers at once, and imap still yields them in order."""
    gate = Gate()

    def release_when_two_inside() -> None:
        deadline = time.monotonic() + WAIT
        while gate.max_inside < 2 and time.monotonic() < deadline:
            time.sleep(0.002)
        gate.open.set()

    threading.Thread(target=release_when_two_inside, daemon=True).start()
    s = Stream(gate, workers=2)
    res = list(s.imap(((i, f"tag{i}") for i in range(10)), tagged=True))
    assert [(r.index, r.tag, r.predictions) for r in res] == [(i, f"tag{i}", i) for i in range(10)]
    assert gate.max_inside == 2
    assert s.closed and _joined(s)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backend_stream_matches_predict_and_isolates_bad_frames(tiny_onnx: Path, tmp_path: Path,
                                                                backend: str) -> None:
    if backend not in runtime.available_backends():
        pytest.skip(f"{backend} not available here")
    frames: list[Any] = _frames(12)
    bad_jpg = tmp_path / "bad.jpg"
    bad_jpg.write_bytes(b"not a jpeg")
    bad = {3: None, 5: np.zeros((16, 16), np.uint8), 7: np.zeros((16, 16, 3), np.float32),
           8: str(tmp_path / "missing.png"), 9: bad_jpg, 10: np.zeros((0, 16, 3), np.uint8)}
    submitted = [bad.get(i, f) for i, f in enumerate(frames)]
    with runtime.load(tiny_onnx, backend=backend, threads=1) as be:
        want = {i: be.predict([f], topk=2)[0] for i, f in enumerate(frames) if i not in bad}
        with Stream(be, workers=2, topk=2) as s:
            got = list(s.imap(submitted))
    assert [r.index for r in got] == list(range(12))
    for r in got:
        if r.index in bad:
            assert r.status == "error" and not r.predictions and r.exception is not None
            assert r.error is not None and r.error.startswith(f"frame {r.index}: ") and "\n" not in r.error
        else:
            assert r.ok, r.error
            assert [p.class_id for p in r.predictions] == [p.class_id for p in want[r.index]]
            np.testing.assert_allclose([p.prob for p in r.predictions], [p.prob for p in want[r.index]], atol=1e-5)
            assert r.predictions[0].name in ("a", "b", "c")
            assert {"preprocess", "inference", "latency"} <= set(r.timings)
    msgs = {r.index: r.error for r in got if not r.ok}
    assert "got None instead of an image" in str(msgs[3])
    assert "expected a uint8 HxWx3 BGR image, got a uint8 array of shape (16, 16)" in str(msgs[5])
    assert "float32 array" in str(msgs[7]) and "shape (0, 16, 3)" in str(msgs[10])
    assert "missing.png" in str(msgs[8]) and "bad.jpg" in str(msgs[9])


def test_native_runtime_object(tiny_onnx: Path) -> None:
    """A yolocls._C.Runtime given directly (the C++ runtime; it releases the GIL in classify)."""
    if "openvino" not in runtime.available_backends():
        pytest.skip("the extension's OpenVINO module is not available here")
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    with OpenVINOBackend(tiny_onnx, threads=1, num_requests=2) as be:
        rt = cast(OpenVINOBackend, be).runtime  # the _C.Runtime itself, used without the Python backend around it
        frames = _frames(6, seed=1)
        want = [be.predict([f], topk=3)[0] for f in frames]
    with stream(rt, workers=2, topk=3) as s:
        got = list(s.imap([*frames[:3], None, *frames[3:]]))
    assert [r.status for r in got] == ["ok"] * 3 + ["error"] + ["ok"] * 3
    ok = [r for r in got if r.ok]
    assert [[p.class_id for p in r.predictions] for r in ok] == [[p.class_id for p in w] for w in want]


def test_stream_from_path_owns_its_backend(tiny_onnx: Path) -> None:
    s = stream(tiny_onnx, backend="onnxruntime", workers=2, topk=1)
    be: Any = s._owned
    assert be is not None and be.name == "onnxruntime"
    res = list(s.imap(_frames(4)))
    assert [r.index for r in res] == [0, 1, 2, 3] and all(r.ok for r in res)
    assert s._owned is None and be.session is None  # closed with the stream
    with pytest.raises(InputError, match="apply to a model file"):
        stream(lambda f: f, threads=2)


def test_load_for_stream_threads_per_call(tiny_onnx: Path) -> None:
    """ONNX Runtime: cores // workers threads per call (concurrent calls run in parallel); explicit threads kept."""
    import os

    from yolocls.runtime.stream import load_for_stream

    with load_for_stream(tiny_onnx, workers=2, backend="onnxruntime") as be:
        assert cast(Any, be).session.get_session_options().intra_op_num_threads == max(1, (os.cpu_count() or 1) // 2)
    with load_for_stream(tiny_onnx, workers=1, backend="onnxruntime", threads=3) as be:
        assert cast(Any, be).session.get_session_options().intra_op_num_threads == 3


def test_block_policy_bounds_the_queue() -> None:
    gate = Gate()
    s = Stream(gate, workers=2, queue_size=3)
    try:
        for i in range(2):
            s.submit(i)
        gate.wait_started(2)  # both workers busy
        for i in range(2, 5):
            s.submit(i, timeout=1.0)  # fills the queue: 3 waiting
        t0 = time.monotonic()
        with pytest.raises(StreamFull, match="queue stayed full .3 frames waiting. for 0.2 s; raise the timeout"):
            s.submit(5, timeout=0.2)
        assert 0.15 < time.monotonic() - t0 < WAIT
        assert len(s._queue) == 3 and gate.max_inside == 2 and s.pending == 5

        # a blocked submit goes on as soon as a worker frees a queue place
        done = threading.Event()

        def blocked_submit() -> None:
            s.submit(5)
            done.set()

        threading.Thread(target=blocked_submit, daemon=True).start()
        assert not done.wait(0.2)
        gate.open.set()
        assert done.wait(WAIT)
    finally:
        gate.open.set()
        s.close()
    assert [r.predictions for r in s] == list(range(6))
    assert _joined(s)


def test_drop_oldest_keeps_the_freshest_frames() -> None:
    gate = Gate()
    s = Stream(gate, workers=1, queue_size=2, policy="drop_oldest")
    s.submit(0)
    gate.wait_started(1)
    for i in range(1, 8):
        s.submit(i, tag=i, timeout=0)  # never blocks, never raises
        assert len(s._queue) <= 2
    gate.open.set()
    s.close()
    res = list(s)
    assert [r.index for r in res] == list(range(8))
    assert [r.status for r in res] == ["ok"] + ["dropped"] * 5 + ["ok", "ok"]
    assert [r.predictions for r in res if r.ok] == [0, 6, 7]
    assert s.dropped == 5
    assert "dropped unprocessed, the queue was full (policy drop_oldest, queue_size 2)" in str(res[1].error)
    assert _joined(s)


def test_close_without_drain_cancels_queued_frames_and_finishes_running_ones() -> None:
    gate = Gate()
    s = Stream(gate, workers=2, queue_size=4)
    for i in range(6):
        s.submit(i)
    gate.wait_started(2)
    threading.Timer(0.1, gate.open.set).start()  # the running frames finish a little after close() starts
    t0 = time.monotonic()
    s.close(drain=False)
    assert time.monotonic() - t0 < WAIT and _joined(s)
    res = list(s)
    assert [r.index for r in res] == list(range(6))
    assert [r.status for r in res] == ["ok", "ok"] + ["cancelled"] * 4
    assert "cancelled unprocessed" in str(res[2].error)
    with pytest.raises(StreamClosed, match="the stream is closed"):
        s.submit(6)
    s.close()  # twice is fine
    assert s.get(timeout=0) is None


def test_close_drains_by_default_and_with_exits_cleanly() -> None:
    def slow(frame: int) -> int:
        time.sleep(0.003)
        return frame

    with Stream(slow, workers=2, queue_size=8) as s:
        for i in range(10):
            s.submit(i)
    assert [r.status for r in s] == ["ok"] * 10 and _joined(s)

    gate = Gate()
    with pytest.raises(KeyboardInterrupt):  # an exception inside `with` cancels what is queued
        with Stream(gate, workers=1, queue_size=4) as s2:
            for i in range(4):
                s2.submit(i)
            gate.wait_started(1)
            threading.Timer(0.05, gate.open.set).start()
            raise KeyboardInterrupt
    assert [r.status for r in s2] == ["ok"] + ["cancelled"] * 3 and _joined(s2)


def test_breaking_out_of_imap_closes_the_stream() -> None:
    s = Stream(lambda f: f, workers=2)
    for r in s.imap(range(1000)):
        if r.index == 5:
            break
    assert s.closed and _joined(s)
    rest = list(s)  # what was still in the stream: in order from frame 6, none lost
    assert [r.index for r in rest] == list(range(6, s._next_in))


def test_stuck_worker_does_not_hang_close() -> None:
    gate = Gate()
    s = Stream(gate, workers=1, join_timeout=0.2)
    s.submit(0)
    gate.wait_started(1)
    t0 = time.monotonic()
    with pytest.warns(RuntimeWarning, match="still inside an inference call after 0.2 s"):
        s.close(drain=False)
    assert time.monotonic() - t0 < 5
    with pytest.raises(TimeoutError, match="frame 0 is still in the stream"):
        s.get(timeout=0.05)
    gate.open.set()
    r = s.get(timeout=WAIT)
    assert r is not None and r.ok and s.get(timeout=WAIT) is None
    s._threads[0].join(WAIT)
    assert _joined(s)


def test_failing_stage_is_that_frames_error() -> None:
    def stage(frame: int) -> int:
        if frame == 2:
            raise RuntimeError("sensor glitch\non two lines")
        return frame

    with Stream(stage, workers=2) as s:
        res = list(s.imap(range(5)))
    assert [r.status for r in res] == ["ok", "ok", "error", "ok", "ok"]
    assert res[2].error == "frame 2: sensor glitch on two lines" and isinstance(res[2].exception, RuntimeError)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"workers": 0}, "workers must be a positive integer"),
    ({"queue_size": 0}, "queue_size must be a positive integer"),
    ({"policy": "newest"}, "unknown stream policy 'newest'; choose from block, drop_oldest"),
    ({"topk": True}, "topk must be a positive integer"),
])
def test_bad_arguments(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        Stream(lambda f: f, **kwargs)
    with pytest.raises(InputError, match="got int"):
        Stream(3)


def test_stream_module_imports_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, yolocls.runtime.stream as s; s.backend_stage; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def _video(path: Path, n: int) -> Path:
    cv2 = pytest.importorskip("cv2")
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(n):
        w.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    w.release()
    return path


def test_cli_infer_video_streams_in_order(tiny_onnx: Path, tmp_path: Path) -> None:
    from yolocls.cli.app import app

    video = _video(tmp_path / "clip.avi", 9)
    res = CliRunner().invoke(app, ["infer", "--model", str(tiny_onnx), "--source", str(video), "--topk", "2",
                                   "--backend", "onnxruntime"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith(str(video))]
    assert [ln.split(": ", 1)[0] for ln in lines] == [f"{video}:{i}" for i in range(9)]
    for ln in lines:
        tops = ln.split(": ", 1)[1].rsplit("  [", 1)[0].split(", ")
        assert len(tops) == 2 and all(t.split()[1] in ("a", "b", "c") for t in tops)
    assert "9 frame(s)" in res.output and "streamed" in res.output and "frames/s" in res.output
