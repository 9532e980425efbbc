"""Streaming inference for robotics loops: submit frames as they arrive, get results back in submission order.

A :class:`Stream` owns a small pool of worker threads over one runtime backend. While one worker waits on an
inference (every backend releases the GIL there: ONNX Runtime, the C++ runtime behind OpenVINO/TensorRT), another
preprocesses the next frame and the caller decodes the one after, so decode, preprocessing and inference overlap
across the backend's request slots. Results come back strictly in submission order, whatever order the workers
finish in (a reorder buffer), each with the frame's id, the caller's tag, and either the top-k predictions or a
one-line error for that frame alone::

    from yolocls.runtime.stream import stream

    with stream("yolov5n-cls.onnx", workers=2, policy="drop_oldest") as s:
        for image in camera:                    # uint8 HxWx3 BGR arrays (or image paths)
            s.submit(image, tag=time.time())
            for r in s.poll():                  # the results ready so far, in order, never blocks
                if r.ok:
                    act(r.tag, r.predictions[0])
                else:
                    log(r.error)                # e.g. "frame 17: expected a uint8 HxWx3 image, got shape (480, 640)"

    # or, for a finite source (what `yolocls infer` does on a video):
    with stream(backend) as s:
        for r in s.imap(frames):
            ...

Queueing is bounded: at most ``queue_size`` frames wait for a worker (plus one running per worker). When the
queue is full, ``policy="block"`` (default: no frame is ever lost; the producer slows to the model's pace) makes
:meth:`Stream.submit` wait (``timeout`` -> :class:`StreamFull`); ``policy="drop_oldest"`` (what a control loop that
wants the freshest frame usually wants) removes the oldest waiting frame instead, whose result is delivered, in its
place in the order, with ``status="dropped"``. Every submitted frame gets exactly one result.

:meth:`Stream.close` (or leaving the ``with`` block) stops intake and either drains (``drain=True``, default: every
queued frame is processed) or cancels (queued frames come back with ``status="cancelled"``; frames already inside an
inference call finish, as an engine call cannot be interrupted). Leaving ``with`` on an exception cancels. Worker
threads are joined (with ``join_timeout``); results not yet read stay readable after close, in order.

This module imports no torch and no engine library itself.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.errors import InputError, YoloclsError
from yolocls.runtime.base import Backend, Prediction, softmax, topk

__all__ = ["POLICIES", "Stream", "StreamClosed", "StreamFull", "StreamResult", "load_for_stream", "stream"]

#: Queue policies of :class:`Stream` (``block`` is the default).
POLICIES = ("block", "drop_oldest")

#: One frame's processing: image -> (output, timings in ms). Built from a backend by :func:`backend_stage`.
Stage = Callable[[Any], "tuple[Any, dict[str, float]]"]


class StreamFull(YoloclsError):
    """``submit(..., timeout=t)`` under ``policy="block"`` found the queue still full after ``t`` seconds."""


class StreamClosed(YoloclsError):
    """``submit`` on a stream that was closed."""


@dataclass(frozen=True)
class StreamResult:
    """The outcome of one submitted frame.

    Attributes:
        index: the frame's id: its submission number, 0, 1, 2, ... (results come back in this order).
        tag: what the caller passed to :meth:`Stream.submit` (a timestamp, a camera frame number, ...).
        status: ``ok``, ``error`` (this frame failed, see ``error``), ``dropped`` (removed from a full queue by
            ``policy="drop_oldest"``) or ``cancelled`` (still queued when the stream was closed without draining).
        predictions: top-k :class:`~yolocls.runtime.base.Prediction` (most probable first) when ``ok``, else
            empty; for a custom stage, whatever it returned.
        error: one line naming the problem when ``status != "ok"``, else None.
        timings: milliseconds: ``queue`` (submit -> a worker took it), ``preprocess``, ``inference``,
            ``postprocess`` (those the stage reports) and ``latency`` (submit -> result ready).
        exception: the exception a failing frame raised (None otherwise), for callers that want the type.
    """

    index: int
    tag: Any
    status: str
    predictions: Any = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class _Item:
    index: int
    frame: Any
    tag: Any
    t_submit: float


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return msg if msg else type(e).__name__


def _check_image(frame: Any) -> np.ndarray:
    """The frame as a uint8 HxWx3 array (decoding a path), or an InputError naming what is wrong with it."""
    if frame is None:
        raise InputError("got None instead of an image (a failed camera/video read?); pass a uint8 HxWx3 BGR array")
    if isinstance(frame, (str, os.PathLike)):
        from yolocls.data.io import imread

        return imread(Path(frame))
    if not isinstance(frame, (np.ndarray, memoryview)):
        raise InputError(f"expected a uint8 HxWx3 BGR array or an image path, got {type(frame).__name__}")
    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"expected a uint8 HxWx3 BGR image, got a {a.dtype} array of shape {tuple(a.shape)}")
    return a


def _is_native_runtime(obj: Any) -> bool:
    """A ``yolocls._C.Runtime`` (or anything with its ``classify(images, k, bgr, return_timings=)``)."""
    return not isinstance(obj, Backend) and callable(getattr(obj, "classify", None)) and hasattr(obj, "num_classes")


def backend_stage(model: Any, k: int = 5, bgr: bool = True) -> tuple[Stage, bool]:
    """The per-frame function of a backend (or a ``_C.Runtime``) and whether several threads may call it at once.

    Unlike ``Backend.predict`` it keeps its timings per call (``predict`` stores them on the shared backend), and
    it takes one frame: ``frame -> ([Prediction, ...], {"preprocess": ms, "inference": ms, "postprocess": ms})``.
    """
    if _is_native_runtime(model):
        rt = model
        names = list(getattr(rt, "names", []) or [])

        def native(frame: Any) -> tuple[list[Prediction], dict[str, float]]:
            image = _check_image(frame)
            rows, t = rt.classify([image], k, bgr, return_timings=True)
            return [Prediction(int(i), names[i] if i < len(names) else str(i), float(p)) for i, p in rows[0]], dict(t)

        return native, True
    if not isinstance(model, Backend):
        raise InputError(f"stream needs a model path, a yolocls runtime backend, a _C.Runtime or a callable, "
                         f"got {type(model).__name__}")
    be = model
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    if isinstance(be, OpenVINOBackend) and be.metadata.output != "probs":
        # preprocessing straight into a request's input tensor, inference, softmax and top-k: one C++ call, no GIL
        def openvino(frame: Any) -> tuple[list[Prediction], dict[str, float]]:
            image = _check_image(frame)
            from yolocls import _native

            with _native.native_errors():
                rows, t = be.runtime.classify([image], k, bgr, return_timings=True)
            names = be.names
            return [Prediction(int(i), names[i] if i < len(names) else str(i), float(p)) for i, p in rows[0]], dict(t)

        return openvino, True

    # ONNX Runtime sessions, the C++ runtime (OpenVINO/TensorRT) and torch modules in eval mode may run concurrently;
    # the TensorRT Python runner (one execution context) and unknown subclasses get their inference serialised.
    concurrent = be.name in ("onnxruntime", "openvino", "torch") or (
        be.name == "tensorrt" and getattr(be, "impl", "") == "native")
    lock = None if concurrent else threading.Lock()

    def generic(frame: Any) -> tuple[list[Prediction], dict[str, float]]:
        image = _check_image(frame)
        t0 = time.perf_counter()
        batch = be.preprocess([image], bgr=bgr)
        t1 = time.perf_counter()
        if lock is None:
            logits = be.infer(batch)
        else:
            with lock:
                logits = be.infer(batch)
        t2 = time.perf_counter()
        idx, val = topk(softmax(logits), k)
        names = be.names
        preds = [Prediction(int(i), names[int(i)] if int(i) < len(names) else str(int(i)), float(p))
                 for i, p in zip(idx[0], val[0], strict=True)]
        t3 = time.perf_counter()
        return preds, {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}

    return generic, True


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InputError(f"{name} must be a positive integer, got {v!r}")
    return v


class Stream:
    """In-order streaming inference over a backend with a bounded queue (see the module docstring).

    Args:
        model: a :class:`~yolocls.runtime.base.Backend` (not closed by the stream), a ``yolocls._C.Runtime``, or a
            callable ``frame -> output`` (or ``-> (output, timings_ms)`` with ``stage_returns_timings=True``),
            which then runs on the workers as it is (it must be safe to call from several threads).
        workers: worker threads = frames processed at once; match the backend's request slots (2 for OpenVINO's
            default; ONNX Runtime sessions take concurrent calls). 2 on a 2-core machine.
        queue_size: frames that may wait for a worker (default: ``workers``).
        policy: ``block`` (default) or ``drop_oldest`` when the queue is full.
        topk: predictions per frame. bgr: frames are BGR (OpenCV's order); False for RGB.
        drain_on_close: what :meth:`close` does by default with queued frames (process them, or cancel them).
        join_timeout: seconds :meth:`close` waits for each worker thread (one running inference call).
    """

    def __init__(self, model: Any, workers: int = 2, queue_size: int | None = None, policy: str = "block",
                 topk: int = 5, bgr: bool = True, drain_on_close: bool = True, join_timeout: float = 60.0,
                 stage_returns_timings: bool = False) -> None:
        workers = _positive_int("workers", workers)
        queue_size = _positive_int("queue_size", workers if queue_size is None else queue_size)
        topk = _positive_int("topk", topk)
        if policy not in POLICIES:
            raise InputError(f"unknown stream policy {policy!r}; choose from {', '.join(POLICIES)}")
        if isinstance(model, Backend) or _is_native_runtime(model):
            self._stage, _ = backend_stage(model, topk, bgr)
        elif callable(model):
            fn = model
            if stage_returns_timings:
                self._stage = fn
            else:
                self._stage = lambda frame: (fn(frame), {})
        else:
            raise InputError(f"stream needs a model path, a yolocls runtime backend, a _C.Runtime or a callable, "
                             f"got {type(model).__name__}")
        self.model = model
        self.workers = workers
        self.queue_size = queue_size
        self.policy = policy
        self.drain_on_close = drain_on_close
        self.join_timeout = float(join_timeout)
        self._owned: Backend | None = None  # a backend stream() opened from a path: closed with the stream
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._done: dict[int, StreamResult] = {}  # reorder buffer: finished results not yet delivered
        self._next_in = 0    # id of the next submitted frame
        self._next_out = 0   # id of the next result to deliver
        self._running = 0
        self._closed = False
        self.dropped = 0
        self._threads = [threading.Thread(target=self._work, name=f"yolocls-stream-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    # -- producer side -------------------------------------------------------------------------------------------
    def submit(self, frame: Any, tag: Any = None, timeout: float | None = None) -> int:
        """Queue one frame (uint8 HxWx3 array or image path); returns its id. Never raises for a bad frame: that
        frame's result carries the error.

        Raises:
            StreamFull: ``policy="block"``, the queue stayed full for ``timeout`` seconds (None: wait as long as
                it takes; workers free the queue on their own, whether or not results are read).
            StreamClosed: the stream was closed.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, float(timeout))
        with self._cond:
            self._check_open()
            while len(self._queue) >= self.queue_size:
                if self.policy == "drop_oldest":
                    old = self._queue.popleft()
                    self._finish(old, "dropped", error=f"frame {old.index}: dropped unprocessed, the queue was "
                                                         f"full (policy drop_oldest, queue_size {self.queue_size})")
                    self.dropped += 1
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise StreamFull(f"the stream's queue stayed full ({self.queue_size} frames waiting) for "
                                     f"{timeout} s; raise the timeout, or use policy='drop_oldest'")
                self._cond.wait(left)
                self._check_open()
            index = self._next_in
            self._next_in += 1
            self._queue.append(_Item(index, frame, tag, time.perf_counter()))
            self._cond.notify_all()
            return index

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed("the stream is closed; open a new one to submit more frames")

    # -- consumer side -------------------------------------------------------------------------------------------
    def poll(self) -> list[StreamResult]:
        """The results ready now, in order (possibly none); never blocks."""
        out = []
        while (r := self._ready()) is not None:
            out.append(r)
        return out

    def _ready(self) -> StreamResult | None:
        """The next result in order if it is ready, else None (never blocks)."""
        with self._cond:
            return self._pop() if self._next_out in self._done else None

    def get(self, timeout: float | None = None) -> StreamResult | None:
        """The next result in order, waiting for it; None once the stream is closed and every result was read.

        Raises:
            TimeoutError: not ready within ``timeout`` seconds (None: wait; with nothing submitted and the stream
                open, that is until another thread submits or closes).
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, float(timeout))
        with self._cond:
            while self._next_out not in self._done:
                if self._closed and self._next_out >= self._next_in:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"no result within {timeout} s (frame {self._next_out} is still in the "
                                       f"stream)")
                self._cond.wait(left)
            return self._pop()

    def __iter__(self) -> Iterator[StreamResult]:
        """Results in order until the stream is closed and all are read (blocks while frames are in flight)."""
        while True:
            r = self.get()
            if r is None:
                return
            yield r

    def imap(self, frames: Iterable[Any], tagged: bool = False) -> Iterator[StreamResult]:
        """Submit every frame of ``frames`` (items ``(frame, tag)`` when ``tagged``) and yield results in order as
        they become ready; the stream is closed (drained) at the end. Pulling the next frame from ``frames``
        (decoding a video) overlaps the inference of the previous ones. Stopping early cancels what is queued."""
        finished = False
        try:
            for item in frames:
                frame, tag = item if tagged else (item, None)
                self.submit(frame, tag)
                while (r := self._ready()) is not None:  # one at a time: a consumer that stops loses nothing
                    yield r
            self.close(drain=True)
            yield from self
            finished = True
        finally:
            if not finished:
                self.close(drain=False)

    @property
    def pending(self) -> int:
        """Frames submitted whose result was not read yet (queued + running + ready)."""
        with self._cond:
            return self._next_in - self._next_out

    @property
    def closed(self) -> bool:
        return self._closed

    def _pop(self) -> StreamResult:
        r = self._done.pop(self._next_out)
        self._next_out += 1
        return r

    # -- workers -------------------------------------------------------------------------------------------------
    def _finish(self, item: _Item, status: str, output: Any = None, error: str | None = None,
                timings: dict[str, float] | None = None, exc: BaseException | None = None) -> None:
        """Store a result (caller holds the lock)."""
        t = dict(timings or {})
        t["latency"] = (time.perf_counter() - item.t_submit) * 1e3
        self._done[item.index] = StreamResult(item.index, item.tag, status, output if output is not None else [],
                                              error, t, exc)
        self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:  # closed and nothing left
                    return
                item = self._queue.popleft()
                self._running += 1
                self._cond.notify_all()  # a blocked submit may go on
            t0 = time.perf_counter()
            status, output, error, exc = "ok", None, None, None
            timings: dict[str, float] = {}
            try:
                output, timings = self._stage(item.frame)
            except Exception as e:  # noqa: BLE001 - one frame's failure is its result; the stream goes on
                status, error, exc = "error", f"frame {item.index}: {_one_line(e)}", e
            item.frame = None  # release the image now, not when the result is read
            timings = {"queue": (t0 - item.t_submit) * 1e3, **dict(timings or {})}
            with self._cond:
                self._running -= 1
                self._finish(item, status, output, error, timings, exc)

    # -- shutdown ------------------------------------------------------------------------------------------------
    def close(self, drain: bool | None = None) -> None:
        """Stop intake; process (``drain=True``) or cancel (``False``) queued frames; join the workers.

        ``None`` uses the constructor's ``drain_on_close``. Frames inside an inference call always finish. Safe to
        call twice. Unread results stay readable (:meth:`poll`, :meth:`get`, iteration) in order.
        """
        drain = self.drain_on_close if drain is None else drain
        with self._cond:
            self._closed = True
            if not drain:
                while self._queue:
                    item = self._queue.popleft()
                    self._finish(item, "cancelled", error=f"frame {item.index}: cancelled unprocessed, the stream "
                                                          "was closed without draining")
            self._cond.notify_all()
        me = threading.current_thread()
        deadline = time.monotonic() + self.join_timeout
        for t in self._threads:
            if t is not me:
                t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            warnings.warn(f"stream worker(s) {', '.join(alive)} still inside an inference call after "
                          f"{self.join_timeout:g} s; left running (daemon threads)", RuntimeWarning, stacklevel=2)
        elif self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(drain=False if exc_type is not None else None)


def load_for_stream(path: str | os.PathLike[str], workers: int = 2, backend: str | None = None, device: str = "cpu",
                    threads: int | None = None, **load_kwargs: Any) -> Backend:
    """:func:`yolocls.runtime.load` with CPU threads per call suited to ``workers`` calls at once.

    ONNX Runtime runs concurrent calls of one session in parallel, so with ``threads=None`` each call gets
    ``cores // workers`` threads (on 2 cores, two one-thread inferences side by side beat one two-thread inference
    at batch 1: 1.56x against 1.08x the sequential loop in scripts/bench_stream.py). The OpenVINO backend gets
    one CPU stream per worker (``streams=workers``; its LATENCY hint alone makes one stream whose requests take
    turns) sharing its threads. An explicit ``threads`` or ``streams`` is kept.
    """
    from yolocls.runtime import available_backends, load

    workers = _positive_int("workers", workers)
    path = Path(path)
    if threads is None:
        name = backend
        if name is None and path.suffix.lower() == ".onnx":
            cpu = str(device).strip().lower() == "cpu"
            if load_kwargs.get("precision") is not None:
                name = "openvino"  # the only backend with a precision (runtime.load picks it)
            else:
                name = "openvino" if cpu and "openvino" in available_backends() else "onnxruntime"
        if name == "onnxruntime":
            threads = max(1, (os.cpu_count() or 1) // workers)
    load_kwargs.setdefault("streams", workers)  # OpenVINO only; the other backends ignore it
    return load(path, backend=backend, device=device, threads=threads, **load_kwargs)


def stream(model: Any, workers: int = 2, queue_size: int | None = None, policy: str = "block", topk: int = 5,
           bgr: bool = True, drain_on_close: bool = True, backend: str | None = None, threads: int | None = None,
           device: str = "cpu", **load_kwargs: Any) -> Stream:
    """A :class:`Stream` over ``model``: a model file (opened with :func:`yolocls.runtime.load` and closed with
    the stream), a backend, a ``_C.Runtime`` or a callable.

    A file is opened by :func:`load_for_stream` (``threads`` per call: ``cores // workers`` on ONNX Runtime).
    """
    if isinstance(model, (str, os.PathLike)):
        be = load_for_stream(model, workers, backend=backend, device=device, threads=threads, **load_kwargs)
        try:
            s = Stream(be, workers=workers, queue_size=queue_size, policy=policy, topk=topk, bgr=bgr,
                       drain_on_close=drain_on_close)
        except BaseException:
            be.close()
            raise
        s._owned = be
        return s
    if backend is not None or threads is not None or load_kwargs:
        raise InputError("backend/threads/load options apply to a model file; this model is already loaded")
    return Stream(model, workers=workers, queue_size=queue_size, policy=policy, topk=topk, bgr=bgr,
                  drain_on_close=drain_on_close)
