#!/usr/bin/env python3
"""Validation data path: our loader and `yolocls val` against a YOLOv5-style classify val loader, same images.

Rows (one process, DataLoader with workers=0, the same batch size; medians over ``--repeats`` interleaved passes):

  decode cv2.imread          OpenCV decode alone (the floor of the YOLOv5-style loader)
  decode yolocls imread      our decoder alone (PIL, EXIF orientation, pixel limit)
  yolov5-style loader        cv2.imread -> centre crop -> cv2.resize INTER_LINEAR -> HWC->CHW, BGR->RGB ->
                             torch float /255 -> Normalize(ImageNet) in torch: YOLOv5 v7.0's classify val transforms
                             (CenterCrop, ToTensor, Normalize), written here from their description
  yolocls loader             ImageFolderDataset (imread + the spec's preprocessing as `yolocls val` runs it)
  yolocls loader, reference  the same with the float64 NumPy reference forced (yolocls.spec.reference)
  yolocls val                the whole `yolocls val` API call (scan, verify, load, inference, metrics) on a
                             freshly initialised yolov5n-cls checkpoint (2 classes) at --imgsz
  yolocls val, reference     the same with the reference forced in the dataset (what `val` ran before spec.apply)

Images: ``--images DIR`` (default ../shared/fixtures/images next to the repository when it exists) replicated to
``--num-images`` files in a temporary ImageFolder (val/{a,b}/...); without a folder, synthetic photo-like JPEGs
(500x375 gradients, discs, noise) are generated. The script runs with any yolocls on PYTHONPATH, so an older
checkout measures "before" (rows it cannot run are skipped). A benchmark, not a test: nothing here passes or fails.

    python3 scripts/bench_val_loader.py --repeats 5 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.benchmark.report import cpu_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = ROOT.parent / "shared" / "fixtures" / "images"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def synthetic_photos(n: int, seed: int = 0) -> list[np.ndarray]:
    """Photo-like BGR images, 500x375 (the size the issue quotes): smooth gradients, hard-edged discs, noise."""
    rng = np.random.default_rng(seed)
    h, w = 375, 500
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            fx, fy = rng.uniform(0.004, 0.04, size=2)
            img[..., c] = 127 + 100 * np.sin(xx * fx + c) * np.cos(yy * fy + i)
        for _ in range(5):
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(10, 120)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, size=3)
        img += rng.normal(0, 6, size=img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def make_image_folder(dst: Path, src: Path | None, n: int) -> tuple[Path, str]:
    """``dst/val/{a,b}/NNNN.ext`` with ``n`` images copied round-robin from ``src`` (or synthetic JPEGs)."""
    import cv2

    from yolocls.data.io import is_image_file

    files = sorted(p for p in src.iterdir() if is_image_file(p)) if src and src.is_dir() else []
    if files:
        kind = f"{len(files)} photos from {src} ({', '.join(p.name for p in files)}), copied to {n} files"
    else:
        photos = synthetic_photos(min(n, 8))
        files = []
        gen = dst / "_src"
        gen.mkdir(parents=True)
        for i, im in enumerate(photos):
            p = gen / f"synthetic{i}.jpg"
            cv2.imwrite(str(p), im, [cv2.IMWRITE_JPEG_QUALITY, 90])
            files.append(p)
        kind = f"{len(files)} synthetic 500x375 JPEGs (no image folder), copied to {n} files"
    for i in range(n):
        f = files[i % len(files)]
        d = dst / "val" / ("a" if i % 2 == 0 else "b")
        d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, d / f"{i:04d}{f.suffix.lower()}")
    return dst, kind


# --- a YOLOv5-style classify val loader (own code, following the transforms' documented behaviour) --------------
class Yolov5StyleValDataset:
    """(tensor [3,S,S] float32, label) per file: cv2.imread BGR, centre square crop + cv2.resize INTER_LINEAR,
    HWC->CHW with BGR->RGB, float /255, then (x - mean) / std in torch."""

    def __init__(self, samples: list[tuple[Path, int]], imgsz: int) -> None:
        import torch

        self.samples = samples
        self.imgsz = imgsz
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        import cv2
        import torch

        path, label = self.samples[i]
        im = cv2.imread(str(path))  # BGR uint8
        if im is None:
            raise OSError(f"OpenCV cannot read {path}")
        h, w = im.shape[:2]
        m = min(h, w)
        top, left = (h - m) // 2, (w - m) // 2
        im = cv2.resize(im[top:top + m, left:left + m], (self.imgsz, self.imgsz), interpolation=cv2.INTER_LINEAR)
        chw = np.ascontiguousarray(im.transpose(2, 0, 1)[::-1])  # HWC -> CHW, BGR -> RGB
        x = torch.from_numpy(chw).float() / 255.0
        x = x.sub_(self.mean).div_(self.std)
        return x, label


def _loader(dataset: Any, batch_size: int) -> Any:
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)


def _drain(loader: Any) -> int:
    n = 0
    for x, _ in loader:
        n += int(x.shape[0])
    return n


def _timed(fn: Callable[[], int]) -> float:
    """Images per second of one call of ``fn`` (which returns the number of images it handled)."""
    t0 = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES if DEFAULT_IMAGES.is_dir() else None,
                    help="folder of photos to replicate (default: ../shared/fixtures/images when present)")
    ap.add_argument("--synthetic", action="store_true", help="use generated photos even when --images exists")
    ap.add_argument("--num-images", type=int, default=200)
    ap.add_argument("--imgsz", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1: a fair, quiet count)")
    ap.add_argument("--model", default="yolov5n-cls", help="zoo model for the `yolocls val` row")
    ap.add_argument("--no-val", action="store_true", help="skip the `yolocls val` row (loaders only)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if args.num_images < 2 or args.repeats < 1 or args.imgsz < 8 or args.batch_size < 1:
        ap.error("need --num-images >= 2, --repeats >= 1, --imgsz >= 8, --batch-size >= 1")

    import cv2
    import torch

    import yolocls
    from yolocls.data.dataset import ImageFolderDataset, scan_image_folder
    from yolocls.data.io import imread

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    try:
        from yolocls import spec
    except ImportError:  # an older checkout ("before"): its dataset runs the reference, there is no switch
        spec = None  # type: ignore[assignment]
    try:
        from yolocls import _native

        native = _native.available()
    except ImportError:
        native = False

    tmp = Path(tempfile.mkdtemp(prefix="bench_val_loader_"))
    try:
        root, kind = make_image_folder(tmp, None if args.synthetic else args.images, args.num_images)
        split = root / "val"
        samples, _ = scan_image_folder(split)
        paths = [p for p, _ in samples]
        s = args.imgsz

        class ReferenceDataset(ImageFolderDataset):
            def transform(self, image: np.ndarray) -> np.ndarray:
                return spec.reference(image, self.preprocess)[0]

        def ours(reference: bool) -> Callable[[], int]:
            ds = (ReferenceDataset if reference else ImageFolderDataset)(split, s, augment=False, verify=False)
            return lambda: _drain(_loader(ds, args.batch_size))

        rows: dict[str, Callable[[], int]] = {
            "decode cv2.imread": lambda: sum(cv2.imread(str(p)) is not None for p in paths),
            "decode yolocls imread": lambda: sum(imread(p) is not None for p in paths),
            "yolov5-style loader": lambda: _drain(_loader(Yolov5StyleValDataset(samples, s), args.batch_size)),
            "yolocls loader": ours(reference=False),
        }
        if spec is not None:
            rows["yolocls loader, reference"] = ours(reference=True)

        ckpt = None
        if not args.no_val:
            from yolocls.engine.validator import validate
            from yolocls.models import create_model
            from yolocls.models.checkpoint import save_checkpoint

            model = create_model(args.model, num_classes=2, names=["a", "b"])
            if model.preprocess.imgsz != s:
                model.preprocess = model.preprocess.replace(imgsz=s)
            ckpt = save_checkpoint(tmp / "model.pt", model)

            def val() -> int:
                r = validate(ckpt, data=root, imgsz=s, batch_size=args.batch_size, workers=0, device="cpu",
                             progress=False)
                val.speed = r.speed  # type: ignore[attr-defined]
                return r.num_images

            rows["yolocls val"] = val
            if spec is not None:
                from yolocls.data.loader import build_dataloader

                def val_reference() -> int:  # what `yolocls val` did before spec.apply: the float64 reference
                    ds = ReferenceDataset(split, s, augment=False)
                    r = validate(ckpt, dataloader=build_dataloader(ds, args.batch_size, shuffle=False, workers=0),
                                 imgsz=s, device="cpu", progress=False)
                    return r.num_images

                rows["yolocls val, reference"] = val_reference

        for fn in rows.values():  # warm-up: imports, first decode, allocator, extension load
            fn()
        samples_per_row: dict[str, list[float]] = {k: [] for k in rows}
        for _ in range(args.repeats):  # interleaved so that load from other processes hits every row alike
            for name, fn in rows.items():
                samples_per_row[name].append(_timed(fn))

        base = statistics.median(samples_per_row["yolov5-style loader"])
        print(f"yolocls {yolocls.__version__} from {Path(yolocls.__file__).parent}; C++ extension: "
              f"{'built' if native else 'not built'}; spec package: {'yes' if spec is not None else 'no (before)'}")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
              f"({cpu_model()}), Python {platform.python_version()}, torch {torch.__version__}, "
              f"OpenCV {cv2.__version__}; threads {args.threads}")
        print(f"images: {kind}; imgsz {s}, batch {args.batch_size}, workers 0, {args.repeats} repeats (median)")
        print(f"{'row':28s} {'images/s':>10s} {'min':>9s} {'max':>9s} {'ms/image':>9s} {'vs yolov5-style':>16s}")
        results: dict[str, Any] = {}
        for name, vals in samples_per_row.items():
            med = statistics.median(vals)
            results[name] = {"images_per_s_median": med, "min": min(vals), "max": max(vals),
                             "ms_per_image": 1e3 / med, "ratio_vs_yolov5_style": med / base, "samples": vals}
            print(f"{name:28s} {med:10.1f} {min(vals):9.1f} {max(vals):9.1f} {1e3 / med:9.2f} {med / base:15.2f}x")
        print("(the val rows include inference; the ratio column compares every row with the yolov5-style loader)")
        for fast, ref in (("yolocls loader", "yolocls loader, reference"), ("yolocls val", "yolocls val, reference")):
            if ref in results:
                r = results[fast]["images_per_s_median"] / results[ref]["images_per_s_median"]
                results[fast]["ratio_vs_reference"] = r
                print(f"{fast}: {r:.2f}x the images/s of the same with the float64 reference (spec.reference)")
        if "yolocls val" in rows and hasattr(rows["yolocls val"], "speed"):
            sp = rows["yolocls val"].speed  # type: ignore[attr-defined]
            print("yolocls val, last pass, ms/image: " + ", ".join(f"{k} {v:.2f}" for k, v in sp.items()))
            results["yolocls val"]["speed_ms_per_image_last"] = sp
        if args.json:
            args.json.write_text(json.dumps({"images": kind, "imgsz": s, "batch_size": args.batch_size,
                                             "repeats": args.repeats, "native": native, "rows": results}, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0



if __name__ == "__main__":
    sys.exit(main())
