"""The reference preprocessing: the definition every other path (C++, CUDA, training) must match.

Spec (DESIGN.md): uint8 HxWx3 image (BGR unless ``bgr=False``), any row stride
  1. crop: ``center`` (side s=min(H,W), top=(H-s)//2, left=(W-s)//2), ``stretch`` (whole image)
     or ``letterbox`` (fit inside imgsz keeping aspect, centred, padded with 114);
  2. bilinear resize with half-pixel centres, no antialias:
     src = clamp((dst + 0.5) * in/out - 0.5, 0, in - 1), x0 = floor(src), x1 = min(x0 + 1, in - 1)
     (OpenCV INTER_LINEAR's definition; OpenCV rounds with fixed-point weights, so it differs by <= 1/255);
  3. BGR -> RGB, x * scale, (x - mean) / std per channel;
  4. HWC -> CHW, batch-first, float32 or float16.
This file is deliberately plain NumPy in float64 so that it reads like the spec.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from yolocls.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_MODES = ("center", "stretch", "letterbox")
LETTERBOX_PAD = 114


@dataclass(frozen=True)
class PreprocessConfig:
    """Preprocessing settings that travel with a model (checkpoint, ONNX metadata, engine sidecar).

    ``mean``/``std`` are per model-input channel (RGB order), applied after ``x * scale``.
    """

    imgsz: int = 224
    crop: str = "center"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0 / 255.0
    channel_order: str = "RGB"  # order of the model's input channels
    pad_value: int = LETTERBOX_PAD
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.imgsz, (int, np.integer)) or self.imgsz < 1:
            raise InputError(f"imgsz must be a positive integer, got {self.imgsz!r}")
        if self.crop not in CROP_MODES:
            raise InputError(f"crop must be one of {', '.join(CROP_MODES)}, got {self.crop!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise InputError("mean and std need 3 values each (one per channel)")
        if any(s == 0 for s in self.std):
            raise InputError("std values must be non-zero")
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise InputError(f"scale must be a finite number > 0 (1/255 for uint8 pixels), got {self.scale!r}")
        if self.channel_order not in ("RGB", "BGR"):
            raise InputError(f"channel_order must be RGB or BGR, got {self.channel_order!r}")
        object.__setattr__(self, "imgsz", int(self.imgsz))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        if not d["extra"]:
            d.pop("extra")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        known = {k: d[k] for k in ("imgsz", "crop", "mean", "std", "scale", "channel_order", "pad_value") if k in d}
        if "imgsz" in known and isinstance(known["imgsz"], (list, tuple)):
            known["imgsz"] = int(known["imgsz"][0])
        return cls(**known)

    def replace(self, **changes: Any) -> PreprocessConfig:
        d = asdict(self)
        d.update(changes)
        return PreprocessConfig(**d)


def crop_box(height: int, width: int, crop: str) -> tuple[int, int, int, int]:
    """Source region (top, left, h, w) that ``crop`` reads from an image of the given size."""
    if crop == "center":
        s = min(height, width)
        return (height - s) // 2, (width - s) // 2, s, s
    return 0, 0, height, width


def letterbox_size(height: int, width: int, imgsz: int) -> tuple[int, int, int, int]:
    """(new_h, new_w, top, left) of the resized image inside the imgsz x imgsz letterbox canvas.

    new = floor(side * r + 0.5) with r = min(imgsz/H, imgsz/W), at least 1 and at most imgsz.
    """
    r = min(imgsz / height, imgsz / width)
    nh = min(max(int(math.floor(height * r + 0.5)), 1), imgsz)
    nw = min(max(int(math.floor(width * r + 0.5)), 1), imgsz)
    return nh, nw, (imgsz - nh) // 2, (imgsz - nw) // 2


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (i0, i1) and weight of i1 for a half-pixel bilinear resize of one axis."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def resize_bilinear(region: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel bilinear resize of an HxWxC array, computed in float64 (no rounding)."""
    y0, y1, wy = _linear_taps(region.shape[0], out_h)
    x0, x1, wx = _linear_taps(region.shape[1], out_w)
    # Gather the sampled rows/columns while still uint8 (only 4 taps per output pixel are ever read), then widen.
    r0, r1 = region[y0], region[y1]
    p00, p01 = r0[:, x0].astype(np.float64), r0[:, x1].astype(np.float64)
    p10, p11 = r1[:, x0].astype(np.float64), r1[:, x1].astype(np.float64)
    wx = wx[None, :, None]
    top = p00 * (1 - wx) + p01 * wx
    bot = p10 * (1 - wx) + p11 * wx
    wy = wy[:, None, None]
    return top * (1 - wy) + bot * wy


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must be HxWx3, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image is empty (shape {image.shape})")
    return image


def resize_to_canvas(image: np.ndarray, imgsz: int, crop: str = "center", pad_value: int = LETTERBOX_PAD) -> np.ndarray:
    """Steps 1-2 of the spec: crop + resize to imgsz x imgsz x 3, float64 pixel values (0..255)."""
    image = _check_image(image)
    h, w = image.shape[:2]
    if crop not in CROP_MODES:
        raise InputError(f"crop must be one of {', '.join(CROP_MODES)}, got {crop!r}")
    if crop == "letterbox":
        nh, nw, top, left = letterbox_size(h, w, imgsz)
        canvas = np.full((imgsz, imgsz, 3), float(pad_value), dtype=np.float64)
        canvas[top : top + nh, left : left + nw] = resize_bilinear(image, nh, nw)
        return canvas
    top, left, ch, cw = crop_box(h, w, crop)
    return resize_bilinear(image[top : top + ch, left : left + cw], imgsz, imgsz)


def _triple(values: Sequence[float], what: str) -> tuple[float, float, float]:
    v = tuple(float(x) for x in values)
    if len(v) != 3:
        raise InputError(f"{what} needs 3 values (one per channel), got {len(v)}")
    return v[0], v[1], v[2]


def preprocess(
    image: np.ndarray | Sequence[np.ndarray],
    imgsz: int = 224,
    crop: str = "center",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    bgr: bool = True,
    dtype: Any = np.float32,
    scale: float = 1.0 / 255.0,
    pad_value: int = LETTERBOX_PAD,
    channel_order: str = "RGB",
) -> np.ndarray:
    """Reference preprocessing of one image (HxWx3 uint8) or a list of them.

    Args:
        image: uint8 array HxWx3 in BGR order (``bgr=True``, OpenCV's) or RGB, any strides; or a list.
        imgsz: output side in pixels.
        crop: ``center`` | ``stretch`` | ``letterbox``.
        mean, std: per model-input channel, applied to ``x * scale``.
        dtype: ``np.float32`` or ``np.float16``.
        channel_order: channel order the model expects (``RGB`` for every zoo model).

    Returns:
        Array ``[N, 3, imgsz, imgsz]`` of ``dtype`` (N=1 for a single image).
    """
    cfg = PreprocessConfig(imgsz=imgsz, crop=crop, mean=_triple(mean, "mean"), std=_triple(std, "std"), scale=scale,
                           channel_order=channel_order, pad_value=pad_value)  # validates
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise InputError(f"dtype must be float32 or float16, got {np.dtype(dtype)}")
    images = [image] if isinstance(image, np.ndarray) else list(image)
    if not images:
        raise InputError("no images given")
    out = np.empty((len(images), 3, cfg.imgsz, cfg.imgsz), dtype=dtype)
    mean_a = np.asarray(cfg.mean, dtype=np.float64)[:, None, None]
    std_a = np.asarray(cfg.std, dtype=np.float64)[:, None, None]
    for i, img in enumerate(images):
        canvas = resize_to_canvas(img, cfg.imgsz, cfg.crop, cfg.pad_value)  # HxWx3 in input order
        input_is_rgb = not bgr
        want_rgb = cfg.channel_order == "RGB"
        if input_is_rgb != want_rgb:
            canvas = canvas[:, :, ::-1]
        chw = canvas.transpose(2, 0, 1)
        out[i] = (chw * cfg.scale - mean_a) / std_a
    return out


def preprocess_with(image: np.ndarray | Sequence[np.ndarray], cfg: PreprocessConfig, bgr: bool = True,
                    dtype: Any = np.float32) -> np.ndarray:
    """:func:`preprocess` with the settings of a :class:`PreprocessConfig`."""
    return preprocess(image, cfg.imgsz, cfg.crop, cfg.mean, cfg.std, bgr=bgr, dtype=dtype, scale=cfg.scale,
                      pad_value=cfg.pad_value, channel_order=cfg.channel_order)
