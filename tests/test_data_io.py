"""Image decoding: every pixel format becomes uint8 HxWx3 BGR; bad files give one-line ImageErrors."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from yolocls.data.io import IMG_EXTENSIONS, VIDEO_EXTENSIONS, imread, is_image_file, verify_image
from yolocls.errors import ImageError, YoloclsError


def _check(a: np.ndarray, h: int, w: int) -> None:
    assert a.dtype == np.uint8 and a.shape == (h, w, 3) and a.flags.c_contiguous


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _one_line_naming(err: pytest.ExceptionInfo, path: Path) -> None:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg


# ---------------------------------------------------------------- real photographs (scikit-image samples)


def test_fixture_images_match_opencv(fixture_images: list[Path]) -> None:
    assert fixture_images, "fixture folder is empty"
    for p in fixture_images:
        a = imread(p)
        ref = cv2.imread(str(p), cv2.IMREAD_COLOR)
        assert a.shape == ref.shape, p
        # same libjpeg/libpng decoders underneath: identical pixels (allow 1 level for other JPEG builds)
        assert np.abs(a.astype(np.int16) - ref).max() <= 1, p
        assert verify_image(p) is None


def test_grayscale_fixture_becomes_three_equal_channels(photos_dir: Path) -> None:
    p = photos_dir / "camera.png"
    with Image.open(p) as im:
        assert im.mode == "L"
    a = imread(p)
    _check(a, 512, 512)
    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2])
    assert a.std() > 10  # a real photograph, not a blank


def test_bgr_order(tmp_path: Path) -> None:
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    rgb[..., 2] = 10
    Image.fromarray(rgb).save(tmp_path / "red.png")
    a = imread(tmp_path / "red.png")
    _check(a, 5, 7)
    assert (a[..., 2] == 200).all() and (a[..., 0] == 10).all() and (a[..., 1] == 0).all()


# ---------------------------------------------------------------- pixel formats


def test_rgba_drops_alpha_like_opencv(tmp_path: Path, rng: np.random.Generator) -> None:
    px = rng.integers(0, 256, (6, 9, 4), dtype=np.uint8)
    px[0, :, 3] = 0  # fully transparent row keeps its colour (alpha dropped, not composited)
    Image.fromarray(px, "RGBA").save(tmp_path / "a.png")
    a = imread(tmp_path / "a.png")
    _check(a, 6, 9)
    assert np.array_equal(a, px[..., 2::-1])
    assert np.array_equal(a, cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_COLOR))


def test_la_and_one_bit(tmp_path: Path, rng: np.random.Generator) -> None:
    g = rng.integers(0, 256, (4, 5), dtype=np.uint8)
    Image.fromarray(np.dstack([g, np.full_like(g, 7)]), "LA").save(tmp_path / "la.png")
    a = imread(tmp_path / "la.png")
    _check(a, 4, 5)
    assert np.array_equal(a, np.repeat(g[..., None], 3, axis=2))

    bits = rng.integers(0, 2, (8, 16)).astype(bool)
    Image.fromarray(bits).convert("1").save(tmp_path / "bw.png")
    b = imread(tmp_path / "bw.png")
    _check(b, 8, 16)
    assert set(np.unique(b)) <= {0, 255}
    assert np.array_equal(b[..., 0] == 255, bits)


def test_palette(tmp_path: Path) -> None:
    idx = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    im.save(tmp_path / "p.png")
    a = imread(tmp_path / "p.png")
    _check(a, 2, 3)
    bgr = {0: (0, 0, 255), 1: (0, 255, 0), 2: (255, 0, 0)}
    for (y, x), k in np.ndenumerate(idx):
        assert tuple(a[y, x]) == bgr[int(k)]


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"cmyk.{'jpg' if fmt == 'JPEG' else 'tif'}"
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(path, fmt)  # pure red
    a = imread(path)
    _check(a, 8, 16)
    b, g, r = (int(v) for v in a.reshape(-1, 3).mean(0))
    assert r > 230 and g < 25 and b < 25


def test_16bit_scaled_like_opencv(tmp_path: Path) -> None:
    v = np.array([[0, 255, 256, 4095], [32768, 40000, 65280, 65535]], np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")
    a = imread(tmp_path / "g16.png")
    _check(a, 2, 4)
    assert np.array_equal(a[..., 0], (v >> 8).astype(np.uint8))
    assert np.array_equal(a, cv2.imread(str(tmp_path / "g16.png"), cv2.IMREAD_COLOR))


def test_exif_orientation_applied(tmp_path: Path) -> None:
    rgb = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high: left half red, right half blue
    rgb[:, :20, 0] = 255
    rgb[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", quality=95, exif=exif)
    a = imread(tmp_path / "rot.jpg")
    _check(a, 40, 20)  # displayed upright: 20 wide, 40 high
    # after a clockwise turn the old left (red) is on top, the old right (blue) at the bottom
    assert a[5, 10, 2] > 200 and a[5, 10, 0] < 50
    assert a[35, 10, 0] > 200 and a[35, 10, 2] < 50
    ref = cv2.imread(str(tmp_path / "rot.jpg"), cv2.IMREAD_COLOR)  # OpenCV applies EXIF orientation too
    assert ref.shape == a.shape and np.abs(ref.astype(int) - a).max() <= 1


def test_one_pixel(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "1.png")
    a = imread(tmp_path / "1.png")
    _check(a, 1, 1)
    assert a.tolist() == [[[3, 2, 1]]]


# ---------------------------------------------------------------- bad files


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as e:
        imread(tmp_path / "nope.jpg")
    _one_line_naming(e, tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="it is a folder, not a file"):  # tmp_path's name holds "folder" too
        imread(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "a.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty file \(0 bytes\)") as e:
        imread(p)
    _one_line_naming(e, p)
    assert verify_image(p) is not None


def test_text_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("this is not an image\n" * 20)
    with pytest.raises(ImageError, match="not an image") as e:
        imread(p)
    _one_line_naming(e, p)
    assert isinstance(e.value, YoloclsError)
    assert verify_image(p) is not None


def test_truncated_jpeg_and_png(tmp_path: Path, rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for ext in ("jpg", "png"):
        full = tmp_path / f"full.{ext}"
        cv2.imwrite(str(full), img)
        data = full.read_bytes()
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageError) as e:
            imread(cut)
        _one_line_naming(e, cut)
        assert verify_image(full) is None
        assert verify_image(cut) is not None, ext


def test_jpeg_with_trailing_bytes_is_fine(tmp_path: Path, rng: np.random.Generator) -> None:
    p = tmp_path / "trail.jpg"
    cv2.imwrite(str(p), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    p.write_bytes(p.read_bytes() + b"\0" * 10)  # after the EOI marker: harmless, common from cameras
    assert verify_image(p) is None
    _check(imread(p), 16, 16)


def _huge_png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def test_huge_png_header_refused_without_allocating(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    p.write_bytes(_huge_png_header(20000, 20000))  # claims 1.2 GB of RGB, file is ~100 bytes
    t = time.perf_counter()
    with pytest.raises(ImageError, match="too large") as e:
        imread(p)
    assert time.perf_counter() - t < 1.0
    _one_line_naming(e, p)
    assert verify_image(p) is not None
    # and in a process whose address space cannot hold the decoded image at all: still a clean ImageError
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (900 << 20, 900 << 20))\n"
        "from yolocls.data.io import imread\n"
        "from yolocls.errors import ImageError\n"
        "try:\n    imread(sys.argv[1])\nexcept ImageError as e:\n    print('refused:', e)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused:" in r.stdout and "too large" in r.stdout


def test_pixel_limit_for_png_and_draft_for_jpeg(tmp_path: Path, rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    with pytest.raises(ImageError, match="too large"):
        imread(tmp_path / "a.png", max_pixels=40_000)
    # JPEG: decoded at a reduced DCT scale instead (1/2 brings 120k pixels under 40k: 200x150 = 30k)
    a = imread(tmp_path / "a.jpg", max_pixels=40_000)
    _check(a, 150, 200)
    with pytest.raises(ImageError, match="too large"):
        imread(tmp_path / "a.jpg", max_pixels=100)  # even 1/8 (50x38) is over 100 pixels


def test_huge_jpeg_header_bypasses_only_pils_bomb_check(tmp_path: Path, rng: np.random.Generator) -> None:
    """A JPEG claiming 20000x20000 (over PIL's own 179 MP hard limit) is decoded at a reduced DCT scale."""
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    struct.pack_into(">HH", data, sof + 5, 20000, 20000)  # height, width of the SOF0 segment
    p = tmp_path / "huge.jpg"
    p.write_bytes(bytes(data))
    t = time.perf_counter()
    a = imread(p, max_pixels=10_000_000)  # libjpeg fills the missing scan data; what matters is the size
    assert time.perf_counter() - t < 5.0
    _check(a, 2500, 2500)  # 1/8 scale: the first that fits 10 MP (the default 50 MP limit takes 1/4)
    with pytest.raises(ImageError, match="too large") as e:
        imread(p, max_pixels=1_000_000)  # 1/8 scale is still 6.25 MP
    _one_line_naming(e, p)


def test_extension_lists() -> None:
    assert ".jpg" in IMG_EXTENSIONS and ".png" in IMG_EXTENSIONS and ".mp4" in VIDEO_EXTENSIONS
    assert not set(IMG_EXTENSIONS) & set(VIDEO_EXTENSIONS)
    assert is_image_file("A.JPG") and not is_image_file("a.txt")


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL's TIFF parser warns about the damage it meets
@pytest.mark.parametrize("ext", ["jpg", "png", "bmp", "gif", "tif", "webp"])
def test_mangled_files_only_raise_image_error(tmp_path: Path, rng: np.random.Generator, ext: str) -> None:
    """Cut or corrupted bytes in any format: decoded (maybe garbled) or ImageError, never another exception."""
    src = tmp_path / f"src.{ext}"
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(src)
    data = src.read_bytes()
    p = tmp_path / f"m.{ext}"
    for trial in range(40):
        b = bytearray(data)
        if trial % 2:
            b = b[: int(rng.integers(1, len(b)))]
        else:
            for pos in rng.integers(0, min(len(b), 256), 4):  # the header region, where parsers are fragile
                b[pos] = int(rng.integers(0, 256))
        p.write_bytes(bytes(b))
        try:
            a = imread(p)
        except ImageError as e:
            assert "\n" not in str(e) and str(p) in str(e)
        else:
            assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
        reason = verify_image(p)
        assert reason is None or isinstance(reason, str)
