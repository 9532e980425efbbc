"""Benchmark preprocessing of one camera frame (default 1280x720 BGR -> 1x3x224x224 float32).

Compares, in one process and one run (median of --iters calls after --warmup):
  usual cv2+NumPy   crop, cv2.resize, cvtColor, /255, normalise in HWC, transpose (what most repos do)
  careful cv2+NumPy crop, cv2.resize, in-place float32 arithmetic on the CHW view, preallocated output
  PIL               crop, Image.resize(BILINEAR), NumPy normalise
  reference NumPy   yolocls.data.preprocess (float64, the definition; slow by design)
  _C 1 thread       yolocls._C.preprocess into a preallocated output
  _C N threads      yolocls._C.Preprocessor(N)
  CUDA              yolocls._C.preprocess_cuda on a device frame (when a GPU, torch CUDA and the CUDA build exist)

Usage: python scripts/bench_preprocess.py [--width 1280 --height 720 --imgsz 224 --iters 300 --threads 2 --repeat 5]
       python scripts/bench_preprocess.py --cuda-only --width 1920 --height 1080   (GPU kernel only)
Run it on a quiet machine: other processes on 2 cores change these numbers by 2-3x. --repeat N measures every row
N times (interleaved) and prints the range of the medians and of the ratios, which is what to report from a busy box.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def median_ms(fn: Callable[[], object], iters: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def center_crop(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return img[top : top + s, left : left + s]


def usual_cv2(img: np.ndarray, imgsz: int) -> np.ndarray:
    import cv2

    x = cv2.resize(center_crop(img), (imgsz, imgsz), interpolation=cv2.INTER_LINEAR)
    x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB)
    x = x.astype(np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def make_careful_cv2(imgsz: int) -> Callable[[np.ndarray], np.ndarray]:
    import cv2

    out = np.empty((1, 3, imgsz, imgsz), dtype=np.float32)
    scale = (1.0 / (255.0 * STD)).astype(np.float32)
    bias = (-MEAN / STD).astype(np.float32)

    def run(img: np.ndarray) -> np.ndarray:
        x = cv2.resize(center_crop(img), (imgsz, imgsz), interpolation=cv2.INTER_LINEAR)
        for k in range(3):  # BGR -> RGB by plane index; one multiply-add per plane, in place
            plane = out[0, k]
            np.multiply(x[:, :, 2 - k], scale[k], out=plane, casting="unsafe")
            plane += bias[k]
        return out

    return run


def pil_pipeline(img: np.ndarray, imgsz: int) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(center_crop(img)[:, :, ::-1]))
    x = np.asarray(pil.resize((imgsz, imgsz), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def cuda_rows(img: np.ndarray, imgsz: int, iters: int, warmup: int) -> list[tuple[str, float]]:
    try:
        import torch
    except ImportError:
        return []
    from yolocls import _native

    if not torch.cuda.is_available() or not _native.available() or not _native.build_info().get("cuda"):
        return []
    C = _native.load_extension()
    src = torch.from_numpy(img).cuda()
    dst = torch.empty((3, imgsz, imgsz), dtype=torch.float32, device="cuda")
    stream = torch.cuda.current_stream().cuda_stream
    h, w = img.shape[:2]

    def launch() -> None:
        C.preprocess_cuda(src.data_ptr(), h, w, src.stride(0), dst.data_ptr(), C.PreprocessConfig(imgsz=imgsz),
                          stream=stream)

    def kernel_only() -> None:
        launch()
        torch.cuda.synchronize()

    def with_upload() -> None:  # host frame -> device -> kernel
        src.copy_(torch.from_numpy(img), non_blocking=False)
        launch()
        torch.cuda.synchronize()

    rows = [("CUDA kernel (device frame, sync)", median_ms(kernel_only, iters, warmup)),
            ("CUDA upload + kernel (pageable)", median_ms(with_upload, iters, warmup))]
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(warmup):
        launch()
    start.record()
    for _ in range(iters):
        launch()
    end.record()
    torch.cuda.synchronize()
    rows.append(("CUDA kernel (events, mean)", start.elapsed_time(end) / iters))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--imgsz", type=int, default=224)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2, help="threads for the multi-threaded _C row")
    ap.add_argument("--cuda-only", action="store_true", help="only the CUDA kernel rows")
    ap.add_argument("--repeat", type=int, default=1, help="measure every CPU row this many times; print ranges")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    S, it, wu = args.imgsz, args.iters, args.warmup
    cases: list[tuple[str, Callable[[], object], int, int]] = []  # name, fn, iters, warmup
    if not args.cuda_only:
        cases.append(("usual cv2+NumPy", lambda: usual_cv2(img, S), it, wu))
        careful = make_careful_cv2(S)
        cases.append(("careful cv2+NumPy", lambda: careful(img), it, wu))
        cases.append(("PIL", lambda: pil_pipeline(img, S), max(it // 10, 5), 2))
        from yolocls.spec.preprocess import preprocess

        cases.append(("reference NumPy (float64)", lambda: preprocess(img, S), max(it // 10, 5), 2))
        from yolocls import _native

        if _native.available():
            C = _native.load_extension()
            cfg = C.PreprocessConfig(imgsz=S)
            out = np.empty((1, 3, S, S), dtype=np.float32)
            cases.append(("_C.preprocess 1 thread", lambda: C.preprocess(img, cfg, out=out), it, wu))
            pre = C.Preprocessor(args.threads)
            cases.append((f"_C.Preprocessor {args.threads} threads", lambda: pre(img, cfg, out=out), it, wu))
            out16 = np.empty((1, 3, S, S), dtype=np.float16)
            cases.append(("_C.preprocess 1 thread fp16",
                          lambda: C.preprocess(img, cfg, dtype=C.DType.FLOAT16, out=out16), it, wu))
        else:
            print("yolocls._C is not built: native rows skipped")
    runs: list[dict[str, float]] = []
    for _ in range(max(1, args.repeat)):
        runs.append({name: median_ms(fn, n, w) for name, fn, n, w in cases})
    cuda = cuda_rows(img, S, it, wu)
    if not cases and not cuda:
        print("nothing to benchmark (no CUDA)")
        return
    print(f"{args.width}x{args.height} uint8 BGR -> 1x3x{S}x{S}, median of {it} calls"
          + (f", {len(runs)} repeats: min..max of the medians and of the per-repeat ratios" if len(runs) > 1 else ""))
    print(f"{'pipeline':36s} {'ms':>17s} {'vs usual':>13s} {'vs careful':>13s}")

    def span(values: list[float], fmt: str, suffix: str = "") -> str:
        lo, hi = min(values), max(values)
        return f"{lo:{fmt}}{suffix}" if len(values) == 1 else f"{lo:{fmt}}..{hi:{fmt}}{suffix}"

    for name, *_ in cases:
        t = [r[name] for r in runs]
        r1 = span([r["usual cv2+NumPy"] / r[name] for r in runs], ".1f", "x") if "usual cv2+NumPy" in runs[0] else ""
        r2 = (span([r["careful cv2+NumPy"] / r[name] for r in runs], ".1f", "x")
              if "careful cv2+NumPy" in runs[0] else "")
        print(f"{name:36s} {span(t, '.4f'):>17s} {r1:>13s} {r2:>13s}")
    for name, t in cuda:
        print(f"{name:36s} {t:17.4f}")


if __name__ == "__main__":
    main()
