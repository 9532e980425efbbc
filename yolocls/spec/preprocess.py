"""The preprocessing spec: its settings, the NumPy reference (the definition) and one dispatching :func:`apply`.

Spec (DESIGN.md): uint8 HxWx3 image (BGR unless ``bgr=False``), any row stride
  1. crop: ``center`` (side s=min(H,W), top=(H-s)//2, left=(W-s)//2), ``stretch`` (whole image)
     or ``letterbox`` (fit inside imgsz keeping aspect, centred, padded with 114);
  2. bilinear resize with half-pixel centres, no antialias:
     src = clamp((dst + 0.5) * in/out - 0.5, 0, in - 1), x0 = floor(src), x1 = min(x0 + 1, in - 1)
     (OpenCV INTER_LINEAR's definition; OpenCV rounds with fixed-point weights, so it differs by <= 1/255);
  3. BGR -> RGB, x * scale, (x - mean) / std per channel;
  4. HWC -> CHW, batch-first, float32 or float16.

:func:`reference` is deliberately plain NumPy in float64 so that it reads like the spec; the C++ kernel
(``csrc/preprocess``) must match it to 1e-5 and the tests say so on random inputs. :func:`apply` is what every
caller uses: the C++ kernel when the extension is built (about 100x faster), else the reference.

This module is a leaf: it imports nothing of yolocls but :mod:`yolocls.errors` (the C++ kernel is reached lazily
inside :func:`apply`, through ``yolocls._native``, which itself imports only the errors and the extension).

Changing the spec (e.g. a new crop mode) touches this file, the C++ kernel (``csrc/preprocess``,
``csrc/include/yolocls/preprocess.hpp`` and the enum parsing there) and their tests, nothing else.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from yolocls.errors import InputError

__all__ = [
    "CHANNEL_ORDERS", "CROP_MODES", "IMAGENET_MEAN", "IMAGENET_STD", "LETTERBOX_PAD", "ChannelOrder", "Crop",
    "PreprocessConfig", "apply", "crop_box", "letterbox_size", "parse_channel_order", "parse_crop", "parse_enum",
    "preprocess", "preprocess_with", "reference", "resize_bilinear", "resize_to_canvas",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LETTERBOX_PAD = 114


class _StrEnum(str, enum.Enum):
    """A str-valued enum that prints, formats and JSON-encodes as its value (``enum.StrEnum`` is 3.11+)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Crop(_StrEnum):
    """How the source region is chosen before the resize (step 1 of the spec)."""

    CENTER = "center"  # the central square of side min(H, W) (YOLOv5 v7.0 val)
    STRETCH = "stretch"  # the whole image, aspect not kept
    LETTERBOX = "letterbox"  # the whole image fit inside, centred, padded with pad_value


class ChannelOrder(_StrEnum):
    """Channel order of the model's input tensor."""

    RGB = "RGB"
    BGR = "BGR"


CROP_MODES = tuple(c.value for c in Crop)
CHANNEL_ORDERS = tuple(c.value for c in ChannelOrder)

_E = TypeVar("_E", bound=_StrEnum)


def parse_enum(kind: type[_E], value: Any, what: str) -> _E:
    """``value`` (a member or its string) as a member of ``kind``; :class:`InputError` naming the choices otherwise.

    The one place where the spec's words become enums (config fields, metadata, CLI options).
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    choices = ", ".join(m.value for m in kind)
    raise InputError(f"{what} must be one of {choices}, got {value!r}")


def parse_crop(value: Any) -> Crop:
    """``"center"`` | ``"stretch"`` | ``"letterbox"`` (or a :class:`Crop`) -> :class:`Crop`."""
    return parse_enum(Crop, value, "crop")


def parse_channel_order(value: Any) -> ChannelOrder:
    """``"RGB"`` | ``"BGR"`` (or a :class:`ChannelOrder`) -> :class:`ChannelOrder`."""
    return parse_enum(ChannelOrder, value, "channel_order")


@dataclass(frozen=True, init=False)
class PreprocessConfig:
    """Preprocessing settings that travel with a model (checkpoint, ONNX metadata, engine sidecar).

    ``crop`` and ``channel_order`` accept the enum or its string and are stored as the enum (which still compares
    equal to the string). ``mean``/``std`` are per model-input channel (RGB order), applied after ``x * scale``.
    Every value is checked here: a bad one is one :class:`InputError` naming the field and what it must be.
    """

    imgsz: int
    crop: Crop
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float
    channel_order: ChannelOrder  # order of the model's input channels
    pad_value: int  # letterbox padding, a uint8 pixel value

    def __init__(self, imgsz: int = 224, crop: Crop | str = Crop.CENTER, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, scale: float = 1.0 / 255.0,
                 channel_order: ChannelOrder | str = ChannelOrder.RGB, pad_value: int = LETTERBOX_PAD) -> None:
        if isinstance(imgsz, bool) or not isinstance(imgsz, (int, np.integer)) or imgsz < 1:
            raise InputError(f"imgsz must be a positive integer, got {imgsz!r}")
        mean_t, std_t = _triple(mean, "mean"), _triple(std, "std")
        if any(v == 0 for v in std_t):
            raise InputError("std values must be non-zero")
        if not all(math.isfinite(v) for v in (*mean_t, *std_t)):
            raise InputError("mean and std values must be finite numbers")
        if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)) or not math.isfinite(scale) \
                or scale <= 0:
            raise InputError(f"scale must be a finite number > 0 (1/255 for uint8 pixels), got {scale!r}")
        if isinstance(pad_value, bool) or not isinstance(pad_value, (int, np.integer)) or not 0 <= pad_value <= 255:
            raise InputError(f"pad_value must be an integer in 0..255 (a uint8 pixel value), got {pad_value!r}")
        object.__setattr__(self, "imgsz", int(imgsz))
        object.__setattr__(self, "crop", parse_crop(crop))
        object.__setattr__(self, "mean", mean_t)
        object.__setattr__(self, "std", std_t)
        object.__setattr__(self, "scale", float(scale))
        object.__setattr__(self, "channel_order", parse_channel_order(channel_order))
        object.__setattr__(self, "pad_value", int(pad_value))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``{"imgsz", "crop", "mean", "std", "scale", "channel_order", "pad_value"}``."""
        return {"imgsz": self.imgsz, "crop": self.crop.value, "mean": list(self.mean), "std": list(self.std),
                "scale": self.scale, "channel_order": self.channel_order.value, "pad_value": self.pad_value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        """The known keys of ``d`` (others are ignored); ``imgsz`` may be ``[S, S]``."""
        known = {k: d[k] for k in ("imgsz", "crop", "mean", "std", "scale", "channel_order", "pad_value") if k in d}
        if "imgsz" in known and isinstance(known["imgsz"], (list, tuple)) and known["imgsz"]:
            known["imgsz"] = known["imgsz"][0]
        return cls(**known)

    def replace(self, **changes: Any) -> PreprocessConfig:
        d = asdict(self)
        d.update(changes)
        return PreprocessConfig(**d)


def crop_box(height: int, width: int, crop: Crop | str) -> tuple[int, int, int, int]:
    """Source region (top, left, h, w) that ``crop`` reads from an image of the given size."""
    if parse_crop(crop) is Crop.CENTER:
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


def resize_to_canvas(image: np.ndarray, imgsz: int, crop: Crop | str = Crop.CENTER,
                     pad_value: int = LETTERBOX_PAD) -> np.ndarray:
    """Steps 1-2 of the spec: crop + resize to imgsz x imgsz x 3, float64 pixel values (0..255)."""
    image = _check_image(image)
    mode = parse_crop(crop)
    h, w = image.shape[:2]
    if mode is Crop.LETTERBOX:
        nh, nw, top, left = letterbox_size(h, w, imgsz)
        canvas = np.full((imgsz, imgsz, 3), float(pad_value), dtype=np.float64)
        canvas[top : top + nh, left : left + nw] = resize_bilinear(image, nh, nw)
        return canvas
    top, left, ch, cw = crop_box(h, w, mode)
    return resize_bilinear(image[top : top + ch, left : left + cw], imgsz, imgsz)


def _triple(values: Any, what: str) -> tuple[float, float, float]:
    try:
        v = tuple(float(x) for x in values)
    except (TypeError, ValueError):
        raise InputError(f"{what} needs 3 numbers (one per channel), got {values!r}") from None
    if len(v) != 3:
        raise InputError(f"{what} needs 3 values (one per channel), got {len(v)}")
    return v[0], v[1], v[2]


def _as_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        out = list(images) if images.ndim == 4 else [images]  # an NxHxWx3 batch is N images
    else:
        out = list(images)
    if not out:
        raise InputError("no images given")
    return out


def _check_dtype(dtype: Any) -> np.dtype[Any]:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise InputError(f"dtype must be float32 or float16, got {dt}")
    return dt


def _check_out(out: np.ndarray | None, n: int, imgsz: int, dt: np.dtype[Any]) -> np.ndarray:
    shape = (n, 3, imgsz, imgsz)
    if out is None:
        return np.empty(shape, dtype=dt)
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dt or not out.flags.c_contiguous \
            or not out.flags.writeable:
        got = f"{out.dtype} {list(out.shape)}" if isinstance(out, np.ndarray) else type(out).__name__
        raise InputError(f"out must be a writable C-contiguous {dt} array of shape {list(shape)}, got {got}")
    return out


def reference(images: np.ndarray | Sequence[np.ndarray], cfg: PreprocessConfig, bgr: bool = True,
              dtype: Any = np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """The definition: NumPy float64 preprocessing of one uint8 HxWx3 image or a list of them.

    Args:
        images: one uint8 HxWx3 array in BGR order (``bgr=True``, OpenCV's) or RGB, any strides; a list of them
            or an NxHxWx3 array.
        cfg: the model's settings.
        dtype: ``np.float32`` or ``np.float16``.
        out: optional C-contiguous ``[N, 3, imgsz, imgsz]`` array of ``dtype`` to fill.

    Returns:
        Array ``[N, 3, imgsz, imgsz]`` of ``dtype`` (N=1 for a single image; ``out`` when given).
    """
    dt = _check_dtype(dtype)
    frames = _as_list(images)
    result = _check_out(out, len(frames), cfg.imgsz, dt)
    mean_a = np.asarray(cfg.mean, dtype=np.float64)[:, None, None]
    std_a = np.asarray(cfg.std, dtype=np.float64)[:, None, None]
    swap = (not bgr) != (cfg.channel_order is ChannelOrder.RGB)  # input order differs from the model's
    for i, img in enumerate(frames):
        canvas = resize_to_canvas(img, cfg.imgsz, cfg.crop, cfg.pad_value)  # HxWx3 in input order
        if swap:
            canvas = canvas[:, :, ::-1]
        result[i] = (canvas.transpose(2, 0, 1) * cfg.scale - mean_a) / std_a
    return result


def apply(images: np.ndarray | Sequence[np.ndarray], cfg: PreprocessConfig, bgr: bool = True,
          dtype: Any = np.float32, out: np.ndarray | None = None, *, reference: bool = False) -> np.ndarray:
    """The spec'd preprocessing, fast: the C++ kernel when ``yolocls._C`` is built, else the NumPy reference.

    Same arguments and result as :func:`reference` (they agree to 1e-5 in float32, one ulp in float16).
    ``reference=True`` forces the NumPy definition (tests, debugging).
    """
    frames = _as_list(images)
    if not reference:
        from yolocls import _native  # lazy: the spec stays a leaf; _native imports only the errors and _C

        if _native.available():
            return _native.preprocess(frames, cfg, bgr=bgr, dtype=dtype, out=out)
    return _reference(frames, cfg, bgr=bgr, dtype=dtype, out=out)


_reference = reference  # apply's keyword shadows the function's name inside it


def preprocess(
    image: np.ndarray | Sequence[np.ndarray],
    imgsz: int = 224,
    crop: Crop | str = Crop.CENTER,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    bgr: bool = True,
    dtype: Any = np.float32,
    scale: float = 1.0 / 255.0,
    pad_value: int = LETTERBOX_PAD,
    channel_order: ChannelOrder | str = ChannelOrder.RGB,
) -> np.ndarray:
    """:func:`reference` with the settings as arguments (what a :class:`PreprocessConfig` holds)."""
    cfg = PreprocessConfig(imgsz=imgsz, crop=crop, mean=mean, std=std, scale=scale, channel_order=channel_order,
                           pad_value=pad_value)
    return reference(image, cfg, bgr=bgr, dtype=dtype)


preprocess_with = reference  # the reference with a config, under the name callers have used since the start
