"""What ultralytics does with a classification ONNX file, rebuilt step by step for tests (no ultralytics import).

ultralytics needs torch + torchvision, and PyPI's torchvision does not import beside the CPU torch used here, so
the steps are written out from reading its source (ultralytics 8.x: ``nn/autobackend.py``,
``engine/predictor.py``, ``models/yolo/classify/predict.py``, ``data/augment.py``, ``engine/results.py``):

1. AutoBackend (ONNX Runtime): ``metadata = session.get_modelmeta().custom_metadata_map``; ``stride``/``batch``
   go through ``int()``, ``imgsz``/``names`` through ``ast.literal_eval``; ``task``/``stride``/``batch``/
   ``imgsz``/``names`` are required. ``dynamic`` = the output's batch axis is symbolic; ``fp16`` = the input
   type is ``tensor(float16)``.
2. BasePredictor.setup_model: the export's ``imgsz`` replaces the default (640) only when not ``dynamic``.
3. ClassificationPredictor: for non-PyTorch models ``classify_transforms(imgsz)``: torchvision ``Resize``
   (shortest side to imgsz, bilinear, PIL with antialias), ``CenterCrop(imgsz)``, ``ToTensor`` (RGB, /255),
   ``Normalize(mean=0, std=1)`` - i.e. no mean/std - applied to ``PIL.Image.fromarray(cv2.cvtColor(BGR2RGB))``;
   then ``.half()`` when ``fp16`` else ``.float()``.
4. postprocess: ``Results(probs=output row)``; ``probs.top1 = argmax``, ``top1conf`` = that value as is.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_IMGSZ = 640  # ultralytics' cfg default


def read_metadata(session: Any) -> dict[str, Any]:
    """Step 1: the metadata keys AutoBackend converts and requires (KeyError when one is missing)."""
    meta = dict(session.get_modelmeta().custom_metadata_map)
    for k, v in list(meta.items()):
        if k in {"stride", "batch", "channels"}:
            meta[k] = int(v)
        elif k in {"imgsz", "names", "kpt_shape", "kpt_names", "args", "end2end"} and isinstance(v, str):
            meta[k] = ast.literal_eval(v)
    return {k: meta[k] for k in ("stride", "task", "batch", "imgsz", "names")}


def _resize_shortest(im: Any, size: int) -> Any:
    """torchvision ``Resize(size)`` on a PIL image: short side -> size, long side int(size * long / short)."""
    from PIL import Image

    w, h = im.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    return im.resize((nw, nh), Image.BILINEAR)


def _center_crop(im: Any, size: int) -> Any:
    """torchvision ``CenterCrop(size)`` on a PIL image at least ``size`` on both sides."""
    w, h = im.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return im.crop((left, top, left + size, top + size))


def classify_transforms(bgr: np.ndarray, imgsz: int) -> np.ndarray:
    """Step 3 for one BGR uint8 image: CHW float32 in 0-1, RGB."""
    import cv2
    from PIL import Image

    im = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    im = _center_crop(_resize_shortest(im, imgsz), imgsz)
    x = np.asarray(im, dtype=np.float32) / 255.0
    return (x.transpose(2, 0, 1) - 0.0) / 1.0  # Normalize(DEFAULT_MEAN=0, DEFAULT_STD=1)


def predict(onnx_path: str | Path, frames: list[np.ndarray], imgsz: int | None = None) -> list[tuple[int, float, str]]:
    """ultralytics ``YOLO(onnx_path, task="classify").predict(frames)`` -> (top1, top1conf, name) per image."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = read_metadata(session)
    assert meta["task"] == "classify", meta["task"]
    dynamic = isinstance(session.get_outputs()[0].shape[0], str)
    fp16 = "float16" in session.get_inputs()[0].type
    size = imgsz if imgsz is not None else (DEFAULT_IMGSZ if dynamic else meta["imgsz"])
    size = size[0] if isinstance(size, (list, tuple)) else size  # square models
    names = {int(k): str(v) for k, v in meta["names"].items()}
    out = []
    for bgr in frames:  # ultralytics' default batch is 1
        x = classify_transforms(bgr, int(size))[None]
        x = x.astype(np.float16) if fp16 else x.astype(np.float32)
        y = session.run(None, {session.get_inputs()[0].name: x})[0]
        row = np.asarray(y[0], dtype=np.float32)
        top1 = int(row.argmax())
        out.append((top1, float(row[top1]), names[top1]))
    return out
