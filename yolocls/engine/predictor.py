"""Prediction over a source (image, folder, glob, video) with any runtime backend: top-k per frame + timings.

Frames are classified one at a time (the latency path a camera pipeline takes); unreadable files are skipped
and counted by the source. Results can be saved as CSV or JSON under ``runs/predict/<name>``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.errors import InputError

SAVE_FORMATS = ("csv", "json")


@dataclass
class FramePrediction:
    """Top-k of one frame. ``timings`` are milliseconds for preprocess, inference and postprocess."""

    name: str
    index: int
    top: list[Any]  # list[yolocls.runtime.base.Prediction], most probable first
    timings: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.name, "index": self.index,
                "top": [{"class_id": p.class_id, "name": p.name, "prob": p.prob} for p in self.top],
                "ms": {k: round(v, 3) for k, v in self.timings.items()}}


@dataclass
class PredictResults:
    """All frames of a run plus what the source skipped; ``speed`` is the mean ms per frame per stage."""

    frames: list[FramePrediction] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    saved: Path | None = None
    backend: str = ""
    warmup: int = 0  # untimed runs before the first timed frame

    @property
    def speed(self) -> dict[str, float]:
        if not self.frames:
            return {}
        keys = self.frames[0].timings.keys()
        return {k: float(np.mean([f.timings.get(k, 0.0) for f in self.frames])) for k in keys}


def _open_backend(weights: Any, device: str, imgsz: int | None) -> Any:
    if isinstance(weights, (str, os.PathLike)):
        from yolocls import runtime

        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(2, "No such file", str(path))
        backend = runtime.load(path, device=device)
    else:
        backend = weights
    if imgsz is not None and imgsz != backend.metadata.preprocess.imgsz:
        if backend.name != "torch":
            raise InputError(f"{getattr(backend, 'path', 'this model')} takes {backend.metadata.preprocess.imgsz} px "
                             f"images; drop --imgsz {imgsz} or re-export at {imgsz}")
        backend.metadata.preprocess = backend.metadata.preprocess.replace(imgsz=int(imgsz))
    return backend


def iter_predictions(weights: Any, source: Any, topk: int = 5, imgsz: int | None = None, device: str = "cpu",
                     stats: dict[str, Any] | None = None, warmup: int = 1) -> Iterator[FramePrediction]:
    """Yield a :class:`FramePrediction` per decoded frame of ``source``.

    Args:
        weights: a model path for :func:`yolocls.runtime.load` (.pt/.onnx/.engine/...) or a Backend.
        source: image, folder, glob, video, or a list of those (see :func:`yolocls.data.sources.iter_source`).
        topk: classes per frame.
        imgsz: preprocessing size override (PyTorch weights only; exported models keep their size).
        stats: if given, filled with ``backend`` and ``source`` (the :class:`~yolocls.data.sources.Source`).
        warmup: untimed runs on the first frame before it is classified: a backend's first call pays one-off costs
            (allocations, kernel selection, lazy initialisation) that the next frames do not, so with one image
            its timings would be the cold start, not the latency. 0: report the cold first run.
    """
    from yolocls.data.sources import iter_source

    if topk < 1:
        raise InputError(f"topk must be >= 1, got {topk}")
    src = iter_source(source)  # fails early on a missing source
    backend = _open_backend(weights, device, imgsz)
    if stats is not None:
        stats["backend"], stats["source"] = backend, src
    if stats is not None:
        stats["warmup"] = 0
    for i, frame in enumerate(src):
        if i == 0:
            for _ in range(max(int(warmup), 0)):
                backend.predict([frame.image], topk=topk)
            if stats is not None:
                stats["warmup"] = max(int(warmup), 0)
        top = backend.predict([frame.image], topk=topk)[0]
        yield FramePrediction(frame.name, frame.index, top, dict(backend.timings))


def predict(weights: Any, source: Any, topk: int = 5, imgsz: int | None = None, device: str = "cpu",
            save: str | None = None, project: str | os.PathLike[str] = "runs/predict", name: str = "exp",
            exist_ok: bool = False, on_frame: Callable[[FramePrediction], None] | None = None,
            warmup: int = 1) -> PredictResults:
    """Classify every frame of ``source``; see :func:`iter_predictions` for the arguments.

    Args:
        save: ``"csv"`` or ``"json"`` to write the results to ``<project>/<name>/predictions.<fmt>``.
        on_frame: called with each result as it is produced (the CLI prints with it).

    Raises:
        ImageError: a single-image source that cannot be decoded (folders/globs skip such files instead).
    """
    from yolocls.errors import ImageError

    if save is not None and save not in SAVE_FORMATS:
        raise InputError(f"save format must be one of {', '.join(SAVE_FORMATS)}, got {save!r}")
    stats: dict[str, Any] = {}
    out = PredictResults()
    for fp in iter_predictions(weights, source, topk=topk, imgsz=imgsz, device=device, stats=stats, warmup=warmup):
        out.frames.append(fp)
        if on_frame is not None:
            on_frame(fp)
    src = stats.get("source")
    out.backend = str(getattr(stats.get("backend"), "name", ""))
    out.warmup = int(stats.get("warmup", 0))
    out.skipped = list(src.stats.skipped) if src is not None else []
    if not out.frames and out.skipped:
        path, reason = out.skipped[0]
        raise ImageError(reason if str(path) in reason else f"cannot read {path}: {reason}")
    if save is not None and out.frames:
        from yolocls.utils.files import atomic_write_text, increment_path

        run_dir = increment_path(Path(project) / name, exist_ok=exist_ok)
        run_dir.mkdir(parents=True, exist_ok=True)
        target = run_dir / f"predictions.{save}"
        atomic_write_text(target, _render(out.frames, save))
        out.saved = target
    return out


def _render(frames: list[FramePrediction], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([f.to_dict() for f in frames], indent=2) + "\n"
    buf = io.StringIO()
    k = max(len(f.top) for f in frames)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["source", "index"] + [c for i in range(1, k + 1) for c in (f"top{i}_id", f"top{i}_name",
                                                                             f"top{i}_prob")]
               + ["preprocess_ms", "inference_ms", "postprocess_ms"])
    for f in frames:
        cells: list[Any] = [f.name, f.index]
        for p in f.top:
            cells += [p.class_id, p.name, f"{p.prob:.6f}"]
        cells += [""] * (3 * (k - len(f.top)))
        cells += [f"{f.timings.get(s, 0.0):.3f}" for s in ("preprocess", "inference", "postprocess")]
        w.writerow(cells)
    return buf.getvalue()
