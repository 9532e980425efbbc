"""Train-time augmentation (YOLOv5 v7.0 classify recipe) in NumPy + OpenCV.

From a uint8 BGR image: RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3, bilinear) to imgsz x imgsz, horizontal
flip (p=0.5), colour jitter 0.4 (brightness, contrast, saturation in random order; no hue change), then the same
normalisation as the reference preprocessing (scale, mean/std, channel order from the PreprocessConfig), CHW float32.

The crop mode of the config (center/stretch/letterbox) is NOT used here: RandomResizedCrop replaces it, as in YOLOv5.
Randomness comes only from the ``numpy.random.Generator`` passed in (or owned by :class:`TrainAugment`), so
results are reproducible from a seed and DataLoader workers can be given different streams.
"""

from __future__ import annotations

import math

import numpy as np

from yolocls.errors import InputError
from yolocls.spec.preprocess import PreprocessConfig

# ITU-R BT.601 luma weights (as torchvision/PIL grayscale), in B, G, R order for BGR images
_LUMA_BGR = np.array([0.114, 0.587, 0.299], dtype=np.float32)


def random_resized_crop_box(height: int, width: int, rng: np.random.Generator,
                            scale: tuple[float, float] = (0.08, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop covering ``scale`` of the area with aspect (w/h) in ``ratio``.

    torchvision's algorithm: 10 tries of (area, log-uniform aspect); else a centre crop with the aspect clamped.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    h, w = max(1, min(h, height)), max(1, min(w, width))
    return (height - h) // 2, (width - w) // 2, h, w


def color_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.4) -> np.ndarray:
    """Random brightness/contrast/saturation (factors uniform in [1-x, 1+x], random order) on float32 BGR 0..255.

    Same definitions as torchvision's ColorJitter: brightness scales, contrast blends with the mean luma,
    saturation blends with the per-pixel luma; the result is clipped to 0..255 after each step. In-place safe.
    """
    ops = []
    if brightness > 0:
        ops.append(("b", rng.uniform(max(0.0, 1 - brightness), 1 + brightness)))
    if contrast > 0:
        ops.append(("c", rng.uniform(max(0.0, 1 - contrast), 1 + contrast)))
    if saturation > 0:
        ops.append(("s", rng.uniform(max(0.0, 1 - saturation), 1 + saturation)))
    order = rng.permutation(len(ops))
    img = image
    for k in order:
        kind, factor = ops[int(k)]
        f = np.float32(factor)
        if kind == "b":
            img *= f
        elif kind == "c":
            mean = np.float32((img @ _LUMA_BGR).mean())
            img *= f
            img += (1 - f) * mean
        else:
            gray = (img @ _LUMA_BGR)[..., None]
            img *= f
            img += (1 - f) * gray
        np.clip(img, 0.0, 255.0, out=img)
    return img


class TrainAugment:
    """Callable train transform: uint8 HxWx3 BGR -> float32 ``[3, imgsz, imgsz]`` normalised like the reference.

    Args:
        cfg: preprocessing settings (imgsz, scale, mean, std, channel_order); its crop mode is not used.
        scale, ratio: RandomResizedCrop area fraction and aspect range.
        hflip: probability of a horizontal flip.
        jitter: colour jitter strength for brightness, contrast and saturation (hue is never changed).
        seed: seed of the owned generator; :meth:`reseed` replaces it (one call per DataLoader worker).
    """

    def __init__(self, cfg: PreprocessConfig, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5, jitter: float = 0.4,
                 seed: int | None = 0) -> None:
        if not (0 < scale[0] <= scale[1] <= 1):
            raise InputError(f"crop scale must satisfy 0 < min <= max <= 1, got {scale}")
        if not (0 < ratio[0] <= ratio[1]):
            raise InputError(f"crop ratio must satisfy 0 < min <= max, got {ratio}")
        if not 0 <= hflip <= 1:
            raise InputError(f"hflip probability must be in [0, 1], got {hflip}")
        if jitter < 0:
            raise InputError(f"colour jitter must be >= 0, got {jitter}")
        self.cfg = cfg
        self.scale: tuple[float, float] = (float(scale[0]), float(scale[1]))
        self.ratio: tuple[float, float] = (float(ratio[0]), float(ratio[1]))
        self.hflip, self.jitter = float(hflip), float(jitter)
        self.rng = np.random.default_rng(seed)
        # normalisation folded into one multiply-add per channel: (x*scale - mean)/std = x*a + b
        mean = np.asarray(cfg.mean, dtype=np.float64)
        std = np.asarray(cfg.std, dtype=np.float64)
        self._a = (cfg.scale / std).astype(np.float32)
        self._b = (-mean / std).astype(np.float32)

    def reseed(self, seed: int) -> None:
        """Replace the generator (called in each DataLoader worker so workers draw different crops)."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        import cv2

        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"augment expects a uint8 HxWx3 array, got {getattr(image, 'shape', type(image))}")
        rng = self.rng if rng is None else rng
        s = self.cfg.imgsz
        h, w = image.shape[:2]
        top, left, ch, cw = random_resized_crop_box(h, w, rng, self.scale, self.ratio)
        crop = image[top:top + ch, left:left + cw]
        out = cv2.resize(crop, (s, s), interpolation=cv2.INTER_LINEAR)
        if out.ndim == 2:  # cv2 drops the channel axis only for 1-channel input; keep the shape safe anyway
            out = out[..., None].repeat(3, axis=2)
        if rng.random() < self.hflip:
            out = out[:, ::-1]
        img = out.astype(np.float32)
        if self.jitter > 0:
            img = color_jitter(img, rng, self.jitter, self.jitter, self.jitter)
        if self.cfg.channel_order == "RGB":  # input is BGR
            img = img[:, :, ::-1]
        chw = np.ascontiguousarray(img.transpose(2, 0, 1))
        chw *= self._a[:, None, None]
        chw += self._b[:, None, None]
        return chw
