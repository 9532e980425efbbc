"""Image decoding: any file PIL can read -> uint8 HxWx3 BGR (OpenCV's layout), with bounded memory.

Why PIL and not ``cv2.imread``: PIL reads the header lazily, so the pixel count is known (and refused) before a
byte of pixel data is allocated, it tells a truncated file from a valid one, and it decodes JPEGs at 1/2, 1/4 or
1/8 scale (``draft``) so that a huge JPEG can still be read in bounded memory.

Conversions (chosen to agree with ``cv2.imread(path, cv2.IMREAD_COLOR)`` where OpenCV reads the file):
  * EXIF orientation is applied (``ImageOps.exif_transpose``), as OpenCV does by default;
  * alpha (RGBA, LA, PA, P with transparency) is DROPPED, not composited: OpenCV drops it too;
  * grayscale / 1-bit / palette / CMYK / YCbCr / LAB / HSV are converted to 3-channel colour;
  * 16-bit samples are scaled to 8 bits by ``v >> 8`` (OpenCV's rule); 32-bit int is treated as 16-bit data
    clipped to 0..65535; float images are taken as 0..1 when their maximum is <= 1, else clipped to 0..255.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from yolocls.errors import ImageError

LOGGER = logging.getLogger(__name__)

IMG_EXTENSIONS: tuple[str, ...] = (
    ".bmp", ".dng", ".jpeg", ".jpg", ".jpe", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".ppm", ".pgm",
    ".pbm", ".gif", ".jp2", ".tga", ".ico",
)
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".asf", ".avi", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ts", ".wmv", ".webm",
)
# .gif is read as an image (its first frame), not as a video.

#: Refuse to decode more pixels than this (50 MP: 150 MB as BGR uint8, ~0.4 GB peak while PIL converts; a 48 MP
#: camera photo still fits). JPEGs above it are decoded at a reduced scale (1/2, 1/4 or 1/8) when that brings
#: them under the limit. A classifier looks at 224 px, so nothing is lost but memory.
MAX_PIXELS = 50_000_000

_JPEG_MAGIC = b"\xff\xd8\xff"

# PIL's soft bomb limit (a warning above 89 MP) is replaced by MAX_PIXELS, enforced before decoding. Filtered once
# here, by message, because warnings.catch_warnings() is not thread-safe and verification runs in threads.
warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit", module=r"PIL\.")


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when the file name has an image extension (case-insensitive); the content is not checked."""
    return Path(path).suffix.lower() in IMG_EXTENSIONS


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a video extension (case-insensitive); the content is not checked."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _fail(path: str | os.PathLike[str], why: str) -> ImageError:
    return ImageError(f"cannot read image {os.fspath(path)}: {why}")


def _open(path: str | os.PathLike[str], max_pixels: int):  # -> PIL.Image.Image
    """Open lazily (header only) and enforce the pixel limit; JPEGs over it get a reduced-scale draft."""
    from PIL import Image, UnidentifiedImageError

    p = os.fspath(path)
    try:
        size = os.path.getsize(p)
    except FileNotFoundError:
        raise _fail(p, "file not found; check the path") from None
    except OSError as e:
        raise _fail(p, f"{e.strerror or e}") from None
    if os.path.isdir(p):
        raise _fail(p, "it is a folder, not a file")
    if size == 0:
        raise _fail(p, "empty file (0 bytes)")
    try:
        try:
            im = Image.open(p)
        except Image.DecompressionBombError:
            im = _open_huge_jpeg(p)
            if im is None:
                limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
                raise _fail(p, f"image is too large (over {limit / 1e6:.0f} MP); resize it first") from None
    except UnidentifiedImageError:
        raise _fail(p, "not an image (unrecognised or corrupt header)") from None
    except ImageError:
        raise
    except PermissionError:
        raise _fail(p, "permission denied") from None
    except Exception as e:  # noqa: BLE001 - malformed headers make PIL's parsers raise many types
        raise _fail(p, f"corrupt header ({type(e).__name__}: {e})") from None
    w, h = im.size
    if w < 1 or h < 1:
        im.close()
        raise _fail(p, f"invalid size {w}x{h}")
    if w * h > max_pixels:
        if im.format in ("JPEG", "MPO"):
            for scale in (2, 4, 8):
                if (w // scale) * (h // scale) <= max_pixels:
                    # draft picks the smallest DCT scale whose result is still >= the requested size
                    im.draft(im.mode, (-(-w // scale), -(-h // scale)))
                    LOGGER.info("%s: %dx%d JPEG decoded at 1/%d scale (over the %d MP limit)", p, w, h, scale,
                                max_pixels // 1_000_000)
                    break
        w2, h2 = im.size
        if w2 * h2 > max_pixels:
            im.close()
            raise _fail(p, f"image is too large ({w}x{h} = {w * h / 1e6:.0f} MP, limit {max_pixels / 1e6:.0f} MP); "
                           "resize it first")
    return im


def _open_huge_jpeg(p: str):  # -> PIL.Image.Image | None
    """Open a JPEG that PIL's bomb check refused, bypassing only that check (the header is still parsed)."""
    with open(p, "rb") as f:
        if f.read(3) != _JPEG_MAGIC:
            return None
    from PIL import JpegImagePlugin

    return JpegImagePlugin.JpegImageFile(p)


def _gray_to_bgr(gray: np.ndarray) -> np.ndarray:
    """uint8 HxW -> contiguous HxWx3 with the value in every channel (what cv2's GRAY2BGR gives)."""
    return np.repeat(gray[:, :, None], 3, axis=2)


def _to_bgr(im) -> np.ndarray:  # im: PIL.Image.Image (already loaded)
    """Any PIL mode -> contiguous uint8 HxWx3 BGR (NumPy only: images need no OpenCV)."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im)
        if mode == "F":
            a = a.astype(np.float32)
            finite_max = float(np.nanmax(a)) if a.size else 0.0
            a = np.nan_to_num(a * 255.0 if finite_max <= 1.0 else a, nan=0.0, posinf=255.0, neginf=0.0)
            gray = np.clip(a + 0.5, 0, 255).astype(np.uint8)
        else:
            if mode == "I":  # 32-bit container: take it as 16-bit data
                a = np.clip(a, 0, 65535)
            gray = (a.astype(np.uint16, copy=False) >> 8).astype(np.uint8)  # OpenCV's 16 -> 8 bit rule
        return _gray_to_bgr(gray)
    if mode in ("1", "L"):
        return _gray_to_bgr(np.asarray(im.convert("L")))
    if mode in ("LA", "La"):
        return _gray_to_bgr(np.asarray(im.getchannel(0)))
    if mode != "RGB":
        im = im.convert("RGB")  # drops alpha; palette, CMYK, YCbCr, LAB, HSV, RGBa -> RGB
    rgb = np.asarray(im)
    bgr = np.empty_like(rgb)  # one plane at a time: ~6x faster than a copy of the reversed-channel view
    bgr[:, :, 0], bgr[:, :, 1], bgr[:, :, 2] = rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]
    return bgr


def imread(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file.

    Args:
        path: image file (any format PIL reads: JPEG, PNG, BMP, TIFF, WebP, GIF (first frame), ...).
        max_pixels: refuse (``ImageError``) images with more pixels than this, checked from the header before
            any pixel memory is allocated; JPEGs over it are decoded at 1/2, 1/4 or 1/8 scale instead when that fits.

    Returns:
        uint8 array ``[H, W, 3]``, C-contiguous, channels in BGR order (OpenCV's), EXIF orientation applied.

    Raises:
        ImageError: missing, empty, truncated, corrupt, too large or not an image (one line naming the file).
    """
    from PIL import ImageOps

    im = _open(path, max_pixels)
    p = os.fspath(path)
    try:
        try:
            im.load()
        except MemoryError:
            raise _fail(p, "not enough memory to decode it") from None
        except Exception as e:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError, struct.error, ...
            why = " ".join(str(e).split()) or type(e).__name__
            if "truncated" in why.lower():
                raise _fail(p, "file is truncated (incomplete download or copy?)") from None
            raise _fail(p, f"corrupt image data ({why})") from None
        try:
            oriented = ImageOps.exif_transpose(im)
        except Exception as e:  # noqa: BLE001 - malformed EXIF must not make a good image unreadable
            LOGGER.debug("%s: ignoring malformed EXIF (%s)", p, e)
            oriented = im
        try:
            return _to_bgr(oriented)
        except (OSError, ValueError) as e:
            raise _fail(p, f"unsupported pixel format {oriented.mode!r} ({e})") from None
    finally:
        with contextlib.suppress(Exception):
            im.close()


def verify_image(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> str | None:
    """Cheap integrity check without decoding pixels; returns None when the file looks fine, else the reason.

    Reads the header (format, size, pixel limit) and runs PIL's ``verify`` (PNG: every chunk CRC). A JPEG that
    does not end with the EOI marker (usually a truncated download) is fully decoded to be sure, since trailing
    bytes after EOI are harmless and common.
    """
    p = os.fspath(path)
    try:
        im = _open(p, max_pixels)
    except ImageError as e:
        return str(e)
    try:
        fmt = im.format
        im.verify()
    except Exception as e:  # noqa: BLE001 - PIL raises many types for corrupt data
        return str(_fail(p, f"corrupt image data ({' '.join(str(e).split()) or type(e).__name__})"))
    finally:
        with contextlib.suppress(Exception):
            im.close()
    if fmt in ("JPEG", "MPO"):
        with open(p, "rb") as f:
            f.seek(-2, os.SEEK_END)
            if f.read(2) != b"\xff\xd9":
                try:
                    imread(p, max_pixels)
                except ImageError as e:
                    return str(e)
    return None
