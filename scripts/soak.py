#!/usr/bin/env python
"""Soak test: many inferences through one runtime; fail if the resident set keeps growing.

    python scripts/soak.py                          # 10,000 inferences, tiny model, OpenVINO (else ONNX Runtime)
    python scripts/soak.py --model m.onnx --backend onnxruntime -n 50000 --limit-mb 5

After ``--warmup`` untimed inferences (allocators and OpenVINO's caches settle), runs ``-n`` predictions on images
of varying sizes, samples RSS (``/proc/self/statm``) ten times, prints the growth in MB and exits 1 when it is
above ``--limit-mb`` (2 for a usage error).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def tiny_onnx(path: Path, imgsz: int = 32) -> Path:
    """A tiny-cls export with BatchNorm statistics from random images (outputs depend on the input)."""
    import numpy as np
    import torch

    import yolocls
    from yolocls.export.onnx import export_onnx
    from yolocls.spec.preprocess import PreprocessConfig, preprocess_with
    from yolocls.utils.torch_utils import calibrate_batchnorm

    torch.manual_seed(0)
    m = yolocls.create_model("tiny-cls", num_classes=10)
    m.preprocess = PreprocessConfig(imgsz=imgsz)
    rng = np.random.default_rng(0)
    x = preprocess_with([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(8)], m.preprocess)
    calibrate_batchnorm(m, x)
    export_onnx(m, path, imgsz=imgsz, simplify=False, verify=False)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model file (.onnx, .pt, .engine); default: a tiny exported model")
    ap.add_argument("--backend", help="torch, onnxruntime, openvino, tensorrt (default: openvino when built)")
    ap.add_argument("-n", "--num", type=int, default=10_000, help="inferences to measure (default 10000)")
    ap.add_argument("--warmup", type=int, default=500, help="inferences before the first RSS sample")
    ap.add_argument("--batch", type=int, default=1, help="images per inference")
    ap.add_argument("--limit-mb", type=float, default=5.0, help="fail above this RSS growth (default 5 MB)")
    ap.add_argument("--threads", type=int, default=1, help="inference threads")
    args = ap.parse_args(argv)
    if args.num < 10 or args.warmup < 0 or args.batch < 1:
        print("soak: error: -n must be >= 10, --warmup >= 0, --batch >= 1", file=sys.stderr)
        return 2

    import numpy as np

    from yolocls import _native, runtime
    from yolocls.errors import YoloclsError

    backend = args.backend
    if backend is None:
        backend = "openvino" if "openvino" in runtime.available_backends() else "onnxruntime"
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or tiny_onnx(Path(tmp) / "tiny.onnx")
        try:
            be = runtime.load(model, backend=backend, threads=args.threads)
        except (YoloclsError, FileNotFoundError) as e:
            print(f"soak: error: {e}", file=sys.stderr)
            return 2
        rng = np.random.default_rng(0)
        # a pool of frames of different sizes, so preprocessing buffers are resized over and over
        pool = [rng.integers(0, 256, (int(rng.integers(16, 400)), int(rng.integers(16, 400)), 3), dtype=np.uint8)
                for _ in range(32)]
        with be:
            for i in range(args.warmup):
                be.predict([pool[(i + j) % len(pool)] for j in range(args.batch)], topk=5)
            start = rss_mb()
            samples = [(0, start)]
            t0 = time.perf_counter()
            step = max(1, args.num // 10)
            for i in range(args.num):
                be.predict([pool[(i + j) % len(pool)] for j in range(args.batch)], topk=5)
                if (i + 1) % step == 0:
                    samples.append((i + 1, rss_mb()))
            elapsed = time.perf_counter() - t0
        grown = samples[-1][1] - start
        peak = max(s[1] for s in samples) - start
    ext = "built" if _native.available() else "not built"
    print(f"soak: {backend} on {Path(model).name}: {args.num} inferences (batch {args.batch}) in {elapsed:.1f} s "
          f"({elapsed / args.num * 1e3:.2f} ms each; extension {ext})")
    print("soak: RSS MB at " + ", ".join(f"{n}: {mb:.1f}" for n, mb in samples))
    print(f"soak: RSS growth {grown:+.2f} MB (peak {peak:+.2f} MB) after {args.warmup} warm-up inferences; "
          f"limit {args.limit_mb:g} MB")
    if grown > args.limit_mb:
        print(f"soak: FAIL: RSS grew {grown:.2f} MB > {args.limit_mb:g} MB", file=sys.stderr)
        return 1
    print("soak: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
