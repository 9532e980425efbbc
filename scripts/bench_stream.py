"""Frames/s of the streaming API (yolocls.runtime.stream) against the sequential loop, on the same video.

Both loops decode the video with OpenCV (as `yolocls infer` does) and produce top-5 per frame at batch 1:

- sequential: ``for frame in video: backend.predict([frame])`` on a backend opened with the engine's own thread
  default (``--seq-threads``, default: all cores), the usual one-call-at-a-time loop;
- stream: ``Stream(backend, workers=W).imap(video)``, the backend opened with ``T`` threads per call, so decoding
  the next frame, preprocessing and up to W inferences overlap (configs ``WxT`` from ``--configs``).

Each repeat runs every loop once, interleaved, on a quiet process; the report gives per loop the median frames/s
over repeats with the spread (min-max), and the stream/sequential ratio (median of per-repeat ratios, with their
min-max). Not a test: numbers depend on the machine and its load (2-core machines here are shared).

    python scripts/bench_stream.py                                  # yolov5n-cls, synthetic 1280x720 MPEG-4 clip
    python scripts/bench_stream.py --video clip.mp4 --repeats 7 --json runs/bench/stream.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.benchmark.report import cpu_model


def synthetic_video(path: Path, frames: int, width: int, height: int, fps: int = 30, codec: str = "mp4v") -> Path:
    """A moving-pattern clip written by OpenCV's VideoWriter (``mp4v``: MPEG-4 in .mp4, what OpenCV's wheels can
    encode; ``MJPG``: motion JPEG in .avi, about twice as slow to decode)."""
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), fps, (width, height))
    if not w.isOpened():
        raise SystemExit(f"OpenCV cannot write {path} ({codec}); pass --video or another --codec")
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    base = np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    for i in range(frames):
        frame = np.roll(base, shift=(i * 7, i * 11), axis=(0, 1))
        cv2.putText(frame, str(i), (40, 120), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
        w.write(frame)
    w.release()
    return path


def decode(path: Path, limit: int) -> Iterator[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        n = 0
        while n < limit:
            ok, frame = cap.read()
            if not ok:
                return
            n += 1
            yield frame
    finally:
        cap.release()


def export_model(name: str, imgsz: int, out: Path) -> Path:
    """The zoo model ``name`` (random init: speed only) exported to ONNX with metadata, cached at ``out``."""
    if out.is_file():
        return out
    import torch

    from yolocls.export.onnx import export_onnx
    from yolocls.models import create_model

    torch.manual_seed(0)
    model = create_model(name).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(model, out, imgsz=imgsz, verify=False)
    return out


Loop = Callable[[], int]  # runs the whole video once, returns frames with a result


def sequential_loop(onnx: Path, backend: str, threads: int | None, video: Path, limit: int, k: int = 5
                    ) -> tuple[Loop, Callable[[], None]]:
    from yolocls.runtime import load

    be = load(onnx, backend=backend, threads=threads)

    def run() -> int:
        n = 0
        for frame in decode(video, limit):
            be.predict([frame], topk=k)
            n += 1
        return n

    return run, be.close


def stream_loop(onnx: Path, backend: str, workers: int, threads: int, video: Path, limit: int, k: int = 5,
                raw_runtime: bool = False) -> tuple[Loop, Callable[[], None]]:
    from yolocls.runtime import load
    from yolocls.runtime.stream import Stream

    be: Any
    if backend == "openvino":  # one request slot and one OpenVINO CPU stream per worker (threads: per call)
        from yolocls.runtime.openvino_backend import OpenVINOBackend

        be = OpenVINOBackend(onnx, threads=threads * workers if threads else None, num_requests=workers,
                             streams=workers)
    else:
        be = load(onnx, backend=backend, threads=threads)
    # raw_runtime: the C++ runtime object itself (_C.Runtime), without the Python backend class around it
    model: Any = be.runtime if raw_runtime else be

    return (lambda: _stream_frames(Stream(model, workers=workers, topk=k), video, limit)), be.close


def _stream_frames(stream: Any, video: Path, limit: int) -> int:
    """Run the video through ``stream`` (closed at the end); the number of frames, or the first frame's error."""
    n = 0
    with stream as s:
        for r in s.imap(decode(video, limit)):
            if not r.ok:
                raise RuntimeError(r.error)
            n += 1
    return n


def _ov_python(onnx: Path, streams: int, threads: int | None) -> tuple[Any, Any]:
    """OpenVINO's own Python API: the compiled model and the yolocls backend whose metadata/preprocessing it uses."""
    import openvino as ov

    from yolocls.runtime.openvino_backend import OpenVINOBackend

    cfg: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if streams == 1:
        cfg["PERFORMANCE_HINT"] = "LATENCY"  # what the yolocls OpenVINO backend sets (one stream)
    else:
        cfg["NUM_STREAMS"] = streams  # one CPU stream per worker: requests of different streams run in parallel
    if threads:
        cfg["INFERENCE_NUM_THREADS"] = threads * streams
    be = OpenVINOBackend(onnx, threads=1, num_requests=1)  # metadata + the C++ preprocessing kernel only
    return ov.Core().compile_model(str(onnx), "CPU", cfg), be


def _top(be: Any, logits: np.ndarray, k: int) -> list[Any]:
    from yolocls.runtime.base import Prediction, softmax, topk

    idx, val = topk(softmax(logits), k)
    return [Prediction(int(i), be.names[int(i)], float(p)) for i, p in zip(idx[0], val[0], strict=True)]


def ov_python_sequential(onnx: Path, threads: int | None, video: Path, limit: int, k: int = 5
                         ) -> tuple[Loop, Callable[[], None]]:
    compiled, be = _ov_python(onnx, 1, threads)
    req = compiled.create_infer_request()

    def run() -> int:
        n = 0
        for frame in decode(video, limit):
            req.infer({0: be.preprocess([frame])})
            _top(be, np.asarray(req.get_output_tensor(0).data), k)
            n += 1
        return n

    return run, be.close


def ov_python_stream(onnx: Path, workers: int, threads: int, video: Path, limit: int, k: int = 5
                     ) -> tuple[Loop, Callable[[], None]]:
    """The Stream over a custom stage: OpenVINO's Python API with one CPU stream + one infer request per worker."""
    import queue

    from yolocls.runtime.stream import Stream

    compiled, be = _ov_python(onnx, workers, threads)
    requests: queue.Queue[Any] = queue.Queue()
    for _ in range(workers):
        requests.put(compiled.create_infer_request())

    def stage(frame: np.ndarray) -> list[Any]:
        x = be.preprocess([frame])
        req = requests.get()
        try:
            req.infer({0: x})  # releases the GIL
            logits = np.array(req.get_output_tensor(0).data)
        finally:
            requests.put(req)
        return _top(be, logits, k)

    return (lambda: _stream_frames(Stream(stage, workers=workers), video, limit)), be.close


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="yolov5n-cls", help="zoo model to export (random init) when --onnx is not given")
    ap.add_argument("--onnx", type=Path, help="an exported .onnx to use instead")
    ap.add_argument("--imgsz", type=int, default=224)
    ap.add_argument("--video", type=Path, help="video file (default: a synthetic 1280x720 clip, --codec)")
    ap.add_argument("--frames", type=int, default=150, help="frames per run (synthetic clip length)")
    ap.add_argument("--size", default="1280x720", help="synthetic clip WxH")
    ap.add_argument("--codec", default="mp4v", choices=["mp4v", "MJPG"], help="synthetic clip codec")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backends", default="onnxruntime,openvino,cpp,ov-python",
                    help="onnxruntime, openvino (the yolocls backend class: C++ runtime, an OpenVINO stream per worker), cpp "
                         "(a _C.Runtime given directly) and ov-python (OpenVINO's Python API as a custom stage, one "
                         "CPU stream per worker)")
    ap.add_argument("--configs", default="2x1,2x2,3x1", help="stream configs WORKERSxTHREADS_PER_CALL")
    ap.add_argument("--seq-threads", default="0,1", help="sequential loop's thread counts (0 = engine default)")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)

    from yolocls import runtime

    cache = Path(tempfile.gettempdir()) / "yolocls_bench_stream"
    onnx = args.onnx or export_model(args.model, args.imgsz, cache / f"{args.model}-{args.imgsz}.onnx")
    if args.video:
        video = args.video
    else:
        wd, hd = (int(v) for v in args.size.lower().split("x"))
        ext = "avi" if args.codec == "MJPG" else "mp4"
        video = cache / f"synthetic_{wd}x{hd}_{args.frames}_{args.codec}.{ext}"
        if not video.is_file():
            synthetic_video(video, args.frames, wd, hd, codec=args.codec)
    have = runtime.available_backends()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    configs = [tuple(int(v) for v in c.lower().split("x")) for c in args.configs.split(",") if c.strip()]
    seq_threads = [int(v) for v in args.seq_threads.split(",") if v.strip()]

    loops: dict[str, tuple[Loop, Callable[[], None]]] = {}
    baseline: dict[str, str] = {}
    for b in backends:
        engine = "openvino" if b in ("cpp", "ov-python") else b
        if engine not in have:
            print(f"skip {b}: backend not available here ({', '.join(have)})", file=sys.stderr)
            continue
        if b == "ov-python":
            for t in seq_threads:
                name = f"{b} sequential threads={t or 'default'}"
                loops[name] = ov_python_sequential(onnx, t or None, video, args.frames)
                baseline.setdefault(b, name)
            for w, t in configs:
                loops[f"{b} stream {w}x{t}"] = ov_python_stream(onnx, w, t, video, args.frames)
            continue
        if b != "cpp":
            for t in seq_threads:
                name = f"{b} sequential threads={t or 'default'}"
                loops[name] = sequential_loop(onnx, engine, t or None, video, args.frames)
                baseline.setdefault(b, name)
        else:
            baseline[b] = baseline.get("openvino", "")
        for w, t in configs:
            loops[f"{b} stream {w}x{t}"] = stream_loop(onnx, engine, w, t, video, args.frames, raw_runtime=b == "cpp")

    for run, _ in loops.values():  # warm-up (first inferences, decoder)
        run()
    fps: dict[str, list[float]] = {k: [] for k in loops}
    for _ in range(args.repeats):
        for name, (run, _) in loops.items():
            t0 = time.perf_counter()
            n = run()
            fps[name].append(n / (time.perf_counter() - t0))
    for _, close in loops.values():
        close()

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "cpu_model": cpu_model(), "load_avg": os.getloadavg()},
        "model": str(onnx.name), "video": str(video), "frames": args.frames, "repeats": args.repeats, "loops": {}}
    print(f"{onnx.name} on {video.name}: {args.frames} frames, batch 1, top-5, {args.repeats} repeats; "
          f"{report['machine']['cpu_model']} ({os.cpu_count()} CPUs), load {os.getloadavg()[0]:.2f}")
    print(f"{'loop':42s} {'fps median':>10s} {'min-max':>15s} {'vs seq':>7s} {'ratio min-max':>14s}")
    for name, xs in fps.items():
        b = name.split()[0]
        base = baseline.get(b) or ""
        row: dict[str, Any] = {"fps": spread(xs)}
        ratio_txt = rng_txt = ""
        if base and base != name and base in fps:
            ratios = [a / c for a, c in zip(xs, fps[base], strict=True)]
            row["ratio_vs"] = base
            row["ratio"] = spread(ratios)
            ratio_txt = f"{statistics.median(ratios):.2f}x"
            rng_txt = f"{min(ratios):.2f}-{max(ratios):.2f}"
        report["loops"][name] = row
        s = row["fps"]
        print(f"{name:42s} {s['median']:10.1f} {s['min']:7.1f}-{s['max']:<7.1f} {ratio_txt:>7s} {rng_txt:>14s}")
    print("ratios: per-repeat stream fps / the first sequential loop of the same engine (its default threads)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0



if __name__ == "__main__":
    sys.exit(main())
