"""Check an exported ONNX file against the PyTorch model it came from, on the same preprocessed images.

Both sides get the same batch from the spec'd preprocessing (:func:`yolocls.spec.apply`) with the
model's own settings, made from real images (the given ones) or, without any, from deterministic synthetic
images with texture and edges. The PyTorch side runs in float32 on CPU.

Pass criteria:
- fp32 file: ``max |onnx - torch| <= 1e-4 * (max - min of the torch logits)``.
- fp16 file: no top-1 changes (except between classes whose fp32 logits tie within 1e-3 of the logit range)
  and ``max |onnx - torch| <= 5e-2`` of the logit range.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolocls.errors import ExportError, VerificationError
from yolocls.spec import PreprocessConfig, apply

FP32_REL_TOL = 1e-4
FP16_REL_TOL = 5e-2
FP16_TIE_TOL = 1e-3


@dataclass
class VerificationReport:
    """Agreement between an exported file and PyTorch.

    Attributes:
        batch_sizes: batch sizes that were run.
        num_images: distinct images used.
        images: ``"given"`` or ``"synthetic"``.
        max_abs_diff: largest absolute logit difference over all batches.
        max_rel_diff: ``max_abs_diff`` divided by the PyTorch logit range (max - min).
        logit_range: max - min of the PyTorch logits.
        top1_agreement: fraction of rows whose argmax matches (1.0 = all).
        half: whether the file was checked as an fp16 export.
    """

    batch_sizes: list[int]
    num_images: int
    images: str
    max_abs_diff: float
    max_rel_diff: float
    logit_range: float
    top1_agreement: float
    half: bool
    passed: bool = True
    details: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def synthetic_images(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """``n`` deterministic BGR uint8 images of different sizes and aspect ratios with gradients, discs and noise.

    Smooth regions and edges excite convolution filters the way photographs do (flat random noise does not).
    """
    rng = np.random.default_rng(seed)
    sizes = [(300, 451), (256, 256), (480, 320), (240, 360), (512, 384)]
    out = []
    for i in range(n):
        h, w = sizes[i % len(sizes)]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            fx, fy = rng.uniform(0.005, 0.05, size=2)
            img[..., c] = 127 + 100 * np.sin(xx * fx + c) * np.cos(yy * fy + i)
        for _ in range(4):  # filled discs give sharp edges
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(10, max(11, min(h, w) // 3))
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, size=3)
        img += rng.normal(0, 8, size=img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def _read_image(path: str | Path) -> np.ndarray:
    from yolocls.data.io import imread  # BGR uint8, grayscale expanded; ImageError for undecodable files

    return imread(path)


def load_images(images: Sequence[str | Path | np.ndarray] | None, n: int) -> tuple[list[np.ndarray], str]:
    """``n`` BGR uint8 images: the given ones (paths or arrays, cycled if fewer than ``n``) or synthetic ones."""
    if not images:
        return synthetic_images(n), "synthetic"
    frames = [im if isinstance(im, np.ndarray) else _read_image(im) for im in images]
    return [frames[i % len(frames)] for i in range(max(n, len(frames)))], "given"


def _torch_logits(model: Any, batch: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = model(torch.from_numpy(batch))
    return out.float().numpy()


def compare_logits(ref: np.ndarray, got: np.ndarray, half: bool) -> dict[str, Any]:
    """Differences between reference (PyTorch) and exported logits ``[N, C]``; ``ok`` says whether they pass."""
    if ref.shape != got.shape:
        return {"ok": False, "reason": f"output shape {got.shape} != PyTorch's {ref.shape}"}
    diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    rng = float(ref.max() - ref.min())
    scale = rng if rng > 0 else 1.0
    max_abs = float(diff.max()) if diff.size else 0.0
    a_ref, a_got = ref.argmax(1), got.argmax(1)
    agree = a_ref == a_got
    # A flip between classes that PyTorch itself scores as a tie is not a real change of the answer.
    rows = np.arange(len(ref))
    margin = ref[rows, a_ref] - ref[rows, a_got]
    real_flips = int(np.sum(~agree & (margin > FP16_TIE_TOL * scale)))
    rel = max_abs / scale
    if half:
        ok = real_flips == 0 and rel <= FP16_REL_TOL
        reason = "" if ok else (f"{real_flips} top-1 change(s)" if real_flips else f"relative diff {rel:.2e} > {FP16_REL_TOL}")
    else:
        ok = rel <= FP32_REL_TOL
        reason = "" if ok else f"relative diff {rel:.2e} > {FP32_REL_TOL}"
    return {"ok": ok, "reason": reason, "max_abs_diff": max_abs, "max_rel_diff": rel, "logit_range": rng,
            "top1_agree": int(agree.sum()), "rows": int(len(ref))}


def verify_onnx(
    onnx_path: str | Path | bytes,
    model: Any,
    preprocess: PreprocessConfig,
    images: Sequence[str | Path | np.ndarray] | None = None,
    half: bool = False,
    dynamic: bool = True,
    batch_size: int = 1,
    input_name: str = "images",
    providers: Sequence[str] | None = None,
) -> VerificationReport:
    """Run ``onnx_path`` in ONNX Runtime and ``model`` in PyTorch (fp32, CPU) on the same batches and compare.

    Args:
        onnx_path: the exported file, or its serialized bytes (checked before it is written).
        model: the PyTorch classifier (not modified: a float32 eval-mode copy is run).
        preprocess: preprocessing settings of the model (imgsz, crop, mean, std).
        images: real images (paths or BGR uint8 arrays); synthetic ones when ``None``/empty.
        half: the file is an fp16 export (looser criteria, see the module docstring).
        dynamic: run batch 1 and batch 3; otherwise the static ``batch_size`` only.
    Returns:
        A :class:`VerificationReport`.
    Raises:
        VerificationError: outputs differ beyond tolerance (the message carries the figures).
    """
    import onnxruntime as ort

    batch_sizes = [1, 3] if dynamic else [int(batch_size)]
    frames, kind = load_images(images, max(batch_sizes))
    ref_model = copy.deepcopy(model).float().cpu().eval()
    try:
        src = onnx_path if isinstance(onnx_path, bytes) else str(onnx_path)
        sess = ort.InferenceSession(src, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
        raise ExportError(f"ONNX Runtime cannot load the exported model ({e})") from None
    details = []
    refs, gots = [], []
    # a float16-I/O file (export_onnx(half_io=True)) is fed float16 and read back as float32
    in_type = np.float16 if sess.get_inputs()[0].type == "tensor(float16)" else np.float32
    x_all = apply(frames, preprocess)  # once for every batch size (the C++ kernel when built)
    for bs in batch_sizes:
        # Every image goes through at the file's own batch size; the extra dynamic check (batch 3) runs once,
        # on the first images (rows are independent).
        starts = [0] if dynamic and bs > 1 else range(0, len(frames), bs)
        for start in starts:
            x = x_all[start : start + bs]
            if len(x) < bs:  # a fixed batch that does not divide the image count: wrap around
                x = np.concatenate([x, x_all[: bs - len(x)]])
            x = np.ascontiguousarray(x)
            ref = _torch_logits(ref_model, x)
            try:
                got = np.asarray(sess.run(None, {input_name: x.astype(in_type, copy=False)})[0], dtype=np.float32)
            except Exception as e:  # noqa: BLE001
                raise VerificationError(f"ONNX Runtime failed on a batch of {bs} ({e})") from None
            d = compare_logits(ref, got, half)
            d["batch"] = bs
            details.append(d)
            if "max_abs_diff" in d:
                refs.append(ref)
                gots.append(got)
    bad = [d for d in details if not d["ok"]]
    if refs:
        overall = compare_logits(np.concatenate(refs), np.concatenate(gots), half)
    else:
        overall = {"max_abs_diff": float("nan"), "max_rel_diff": float("nan"), "logit_range": float("nan"),
                   "top1_agree": 0, "rows": 1}
    report = VerificationReport(
        batch_sizes=batch_sizes, num_images=len({id(f) for f in frames}), images=kind,
        max_abs_diff=overall["max_abs_diff"], max_rel_diff=overall["max_rel_diff"],
        logit_range=overall["logit_range"], top1_agreement=overall["top1_agree"] / max(overall["rows"], 1),
        half=half, passed=not bad, details=details,
    )
    if bad:
        d = bad[0]
        raise VerificationError(
            f"the exported model does not match PyTorch at batch {d['batch']}: {d['reason']} "
            f"(max abs diff {report.max_abs_diff:.3g}, top-1 agreement {report.top1_agreement:.0%}); "
            "report this model, or export with --no-verify (verify=False) to keep the file anyway"
        )
    return report
