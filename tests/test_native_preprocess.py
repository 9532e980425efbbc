"""The compiled preprocessing (yolocls._C) against the NumPy reference: random sizes, crops, strides, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from yolocls import _native
from yolocls.errors import InputError
from yolocls.spec.preprocess import PreprocessConfig, preprocess, resize_to_canvas

pytestmark = pytest.mark.skipif(not _native.available(), reason="yolocls._C is not built")

CROPS = ("center", "stretch", "letterbox")


@pytest.fixture(scope="module")
def C():
    return _native.load_extension()


def _pre(fn, images, imgsz: int = 224, crop: str = "center", *, bgr: bool = True, dtype=np.float32, out=None, **cfg):
    """``fn`` (``_C.preprocess`` or a ``_C.Preprocessor``) with the spec's settings as keywords, as the bound types:
    one ``_C.PreprocessConfig`` (enums parsed from their spec names by the C++ library) and a ``_C.DType``."""
    return fn(images, _config(imgsz=imgsz, crop=crop, **cfg), bgr=bgr, dtype=_dtype(dtype), out=out)


def _config(crop: str = "center", channel_order: str = "RGB", **cfg):
    C = _native.load_extension()
    return C.PreprocessConfig(crop=C.Crop(crop), channel_order=C.ChannelOrder(channel_order), **cfg)


def _dtype(dtype):
    return _native.load_extension().DType(np.dtype(dtype).name)


def _rand_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _assert_half_close(got: np.ndarray, want: np.ndarray) -> None:
    # C++ rounds via float32 (1e-5 from the exact value), the reference straight from float64: at most one
    # half-precision ulp apart, or 1e-5 near zero where half ulps are tinier than float32's error.
    tol = np.maximum(np.spacing(np.abs(want)).astype(np.float32), 1e-5)
    assert np.all(np.abs(got.astype(np.float32) - want.astype(np.float32)) <= tol)


def _random_case(seed: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 701)), int(rng.integers(1, 901))
    kw = dict(
        imgsz=int(rng.choice([1, 7, 32, 64, 97, 224, 320])),
        crop=str(rng.choice(CROPS)),
        bgr=bool(rng.integers(0, 2)),
        channel_order=str(rng.choice(["RGB", "BGR"])),
        mean=tuple(rng.uniform(0, 1, 3)),
        std=tuple(rng.uniform(0.1, 1, 3)),
    )
    return _rand_image(rng, h, w), kw


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference_random(C, seed: int) -> None:
    img, kw = _random_case(seed)
    got = _pre(C.preprocess, img, **kw)
    want = preprocess(img, **kw)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{img.shape} {kw}")


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (2, 2), (3, 700), (700, 3), (720, 1280), (1080, 1920)])
@pytest.mark.parametrize("crop", CROPS)
def test_edge_sizes(C, rng, shape, crop: str) -> None:
    img = _rand_image(rng, *shape)
    for imgsz in (1, 224):
        np.testing.assert_allclose(_pre(C.preprocess, img, imgsz, crop), preprocess(img, imgsz, crop), rtol=0, atol=1e-5)


@pytest.mark.parametrize("crop", CROPS)
def test_float16_within_one_ulp(C, rng, crop: str) -> None:
    img = _rand_image(rng, 333, 517)
    got = _pre(C.preprocess, img, 96, crop, dtype=np.float16)
    want = preprocess(img, 96, crop, dtype=np.float16)
    assert got.dtype == np.float16
    _assert_half_close(got, want)
    # bit-exact: the same float32 values as the float32 output, rounded to nearest even like NumPy
    f32 = _pre(C.preprocess, img, 96, crop)
    np.testing.assert_array_equal(got.view(np.uint16), f32.astype(np.float16).view(np.uint16))


def test_portable_half_conversion_matches_numpy(tmp_path) -> None:
    """The non-F16C float->half path (ARM, old x86) rounds like NumPy, incl. subnormals, overflow and ties."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from yolocls import _native\n"
        "C = _native.load_extension()\n"
        "rng = np.random.default_rng(1)\n"
        "img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)\n"
        # scale/mean/std chosen so outputs span half subnormals, normals and values beyond 65504 (inf)
        "for scale, std in ((1e-7, 1.0), (1.0 / 255, 0.229), (300.0, 0.5), (1.0, 1.0)):\n"
        "    cfg = C.PreprocessConfig(imgsz=64, crop=C.Crop.STRETCH, mean=(0, 0, 0), std=(std,) * 3, scale=scale)\n"
        "    a = C.preprocess(img, cfg, dtype=C.DType.FLOAT32)\n"
        "    h = C.preprocess(img, cfg, dtype=C.DType.FLOAT16)\n"
        "    assert (h.view(np.uint16) == a.astype(np.float16).view(np.uint16)).all(), scale\n"
        "print('ok')\n"
    )
    env = {**__import__("os").environ, "YOLOCLS_NO_F16C": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_portable_path_matches_avx2_path_and_reference(C, tmp_path) -> None:
    """YOLOCLS_NO_AVX2=1 forces the portable kernel (ARM, old x86): both kernels agree with the reference and each
    other on the shapes that exercise the AVX2 path's vector body, its scalar tail and the width-1 fallback."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from yolocls import _native\n"
        "from yolocls.spec.preprocess import preprocess\n"
        "C = _native.load_extension()\n"
        "rng = np.random.default_rng(3)\n"
        "outs = []\n"
        "for h, w, s, crop in ((720, 1280, 224, 'center'), (37, 1, 16, 'stretch'), (40, 2, 24, 'letterbox'),\n"
        "                      (33, 17, 64, 'stretch'), (96, 96, 224, 'center'), (500, 331, 97, 'letterbox'),\n"
        "                      (300, 2000, 32, 'stretch')):\n"
        "    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)\n"
        "    for bgr, order in ((True, 'RGB'), (False, 'RGB'), (True, 'BGR')):\n"
        "        cfg = C.PreprocessConfig(imgsz=s, crop=C.Crop(crop), channel_order=C.ChannelOrder(order))\n"
        "        got = C.preprocess(img, cfg, bgr=bgr)\n"
        "        want = preprocess(img, s, crop, bgr=bgr, channel_order=order)\n"
        "        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f'{h}x{w} {s} {crop}')\n"
        "        outs.append(got)\n"
        "np.save(sys.argv[1], np.concatenate([o.ravel() for o in outs]))\n"
    )
    results = {}
    for name, extra in (("default", {}), ("portable", {"YOLOCLS_NO_AVX2": "1"})):
        path = tmp_path / f"{name}.npy"
        env = {k: v for k, v in os.environ.items() if k != "YOLOCLS_NO_AVX2"} | extra
        out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        results[name] = np.load(path)
    np.testing.assert_allclose(results["default"], results["portable"], rtol=0, atol=2e-6)


def test_strided_views_match(C, rng) -> None:
    wide = _rand_image(rng, 300, 700)
    views = {
        "padded rows": wide[:, 50:450],  # row stride 2100 bytes, 400 pixels wide: used without copying
        "pixel step 2": wide[:, ::2],
        "negative rows": wide[::-1],
        "negative cols": wide[:, ::-1],
        "channel reversed": wide[:, :, ::-1],
        "transposed": wide.transpose(1, 0, 2),
        "fortran": np.asfortranarray(wide),
    }
    for name, v in views.items():
        for crop in CROPS:
            np.testing.assert_allclose(_pre(C.preprocess, v, 128, crop), preprocess(v, 128, crop), rtol=0, atol=1e-5,
                                       err_msg=f"{name} {crop}")


def test_buffer_protocol_objects(C, rng) -> None:
    img = _rand_image(rng, 40, 60)
    want = preprocess(img, 32)
    np.testing.assert_allclose(_pre(C.preprocess, memoryview(img), 32), want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(_pre(C.preprocess, [memoryview(img[:, 5:])], 32), preprocess(img[:, 5:], 32), atol=1e-5)
    with pytest.raises(ValueError):
        _pre(C.preprocess, memoryview(b"abc"))  # 1-D bytes


def test_single_row_with_odd_stride(C, rng) -> None:
    img = _rand_image(rng, 5, 40)[2:3]  # one row: its stride says nothing
    np.testing.assert_allclose(_pre(C.preprocess, img, 16, "stretch"), preprocess(img, 16, "stretch"), rtol=0, atol=1e-5)


def test_batch_of_mixed_sizes_and_out(C, rng) -> None:
    imgs = [_rand_image(rng, h, w) for h, w in [(100, 200), (31, 17), (480, 640), (1, 1)]]
    want = preprocess(imgs, 64, "letterbox")
    out = np.full((4, 3, 64, 64), np.nan, dtype=np.float32)
    got = _pre(C.preprocess, imgs, 64, "letterbox", out=out)
    assert got is out
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(_pre(C.preprocess, tuple(imgs), 64, "letterbox"), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("threads", [2, 3])
def test_thread_pool_matches_single_thread(C, rng, threads: int) -> None:
    pre = C.Preprocessor(threads)
    assert pre.threads == threads
    single = _rand_image(rng, 720, 1280)
    batch = [_rand_image(rng, 200 + 10 * i, 300 - 7 * i) for i in range(5)]
    for images in (single, batch):
        for crop in CROPS:
            np.testing.assert_array_equal(_pre(pre, images, 224, crop), _pre(C.preprocess, images, 224, crop))


def test_one_preprocessor_shared_by_threads(C, rng) -> None:
    import threading

    pre = C.Preprocessor(2)
    imgs = [_rand_image(rng, 300 + 17 * i, 500 - 13 * i) for i in range(4)]
    want = [_pre(C.preprocess, im, 128) for im in imgs]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for j in range(10):
                i = (k + j) % len(imgs)
                np.testing.assert_array_equal(_pre(pre, imgs[i], 128), want[i])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_native_wrapper_uses_config(rng) -> None:
    cfg = PreprocessConfig(imgsz=48, crop="letterbox", mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7), pad_value=0)
    img = _rand_image(rng, 90, 40)
    for bgr in (True, False):
        want = preprocess(img, 48, "letterbox", cfg.mean, cfg.std, bgr=bgr, pad_value=0)
        np.testing.assert_allclose(_native.preprocess(img, cfg, bgr=bgr), want, rtol=0, atol=1e-5)
    assert _native.preprocess([img, img], cfg, dtype=np.float16).dtype == np.float16


def test_reference_matches_opencv_inter_linear(rng) -> None:
    cv2 = pytest.importorskip("cv2")
    for h, w, out in [(720, 1280, 224), (100, 60, 224), (224, 224, 224), (33, 1000, 50)]:
        img = _rand_image(rng, h, w)
        ref = resize_to_canvas(img, out, "stretch")
        ocv = cv2.resize(img, (out, out), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        # OpenCV rounds through 11-bit fixed-point weights and a uint8 result: within one grey level.
        assert np.abs(ref - ocv).max() <= 1.0, (h, w, out)


BAD_IMAGES = {
    "float32": np.zeros((8, 8, 3), np.float32),
    "uint16": np.zeros((8, 8, 3), np.uint16),
    "int8": np.zeros((8, 8, 3), np.int8),
    "2-D": np.zeros((8, 8), np.uint8),
    "4-D": np.zeros((1, 8, 8, 3), np.uint8),
    "1 channel": np.zeros((8, 8, 1), np.uint8),
    "4 channels": np.zeros((8, 8, 4), np.uint8),
    "empty rows": np.zeros((0, 8, 3), np.uint8),
    "empty cols": np.zeros((8, 0, 3), np.uint8),
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_bad_arrays_raise_value_error(C, name: str) -> None:
    with pytest.raises(ValueError):
        _pre(C.preprocess, BAD_IMAGES[name])
    with pytest.raises(InputError):
        _native.preprocess(BAD_IMAGES[name], PreprocessConfig())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"out": np.zeros((1, 3, 224, 223), np.float32)},
        {"out": np.zeros((2, 3, 224, 224), np.float32)},
        {"out": np.zeros((1, 3, 224, 224), np.float64)},
        {"out": np.zeros((1, 3, 224, 224), np.float16)},
        {"out": np.zeros((1, 3, 224, 448), np.float32)[..., ::2]},
        {"out": [[0.0]]},
        {"dtype": np.float64},
        {"dtype": np.uint8},
        {"crop": "middle"},
        {"imgsz": 0},
        {"std": (0.2, 0.0, 0.2)},
        {"mean": (0.1, 0.2)},
        {"channel_order": "GBR"},
        {"pad_value": 300},
    ],
)
def test_bad_arguments_raise_value_error(C, rng, kwargs) -> None:
    with pytest.raises(ValueError):
        _pre(C.preprocess, _rand_image(rng, 10, 10), **kwargs)


def test_bad_lists_raise_value_error(C) -> None:
    good = np.zeros((8, 8, 3), np.uint8)
    for images in ([], [good, "not an image"], [good, np.zeros((8, 8), np.uint8)], "image.jpg", 3):
        with pytest.raises(ValueError):
            _pre(C.preprocess, images)


def test_read_only_input_and_no_mutation(C, rng) -> None:
    img = _rand_image(rng, 50, 70)
    img.flags.writeable = False
    before = img.copy()
    _pre(C.preprocess, img, 32)
    np.testing.assert_array_equal(img, before)


def test_softmax_topk_match_numpy(C, rng) -> None:
    from yolocls.runtime.base import softmax, topk

    logits = rng.normal(0, 5, (4, 37)).astype(np.float32)
    logits[1, 3] = logits[1, 5]  # a tie: the lower id first
    np.testing.assert_allclose(C.softmax(logits), softmax(logits), rtol=1e-5, atol=1e-7)
    idx, val = topk(softmax(logits), 5)
    got = C.topk(C.softmax(logits), 5)
    assert [[c for c, _ in row] for row in got] == idx.tolist()
    np.testing.assert_allclose([[p for _, p in row] for row in got], val, rtol=1e-5)
    assert len(C.topk(C.softmax(logits), 100)[0]) == 37


def test_build_info() -> None:
    info = _native.build_info()
    assert info["available"] is True
    for key in ("version", "cuda", "openvino", "tensorrt", "cuda_version", "openvino_version", "tensorrt_version"):
        assert key in info
    if info["openvino"]:
        import openvino

        assert info["openvino_version"].startswith(openvino.__version__.split("-")[0])
    assert isinstance(info["cuda_devices"], int)


def test_cuda_preprocess_unavailable_is_clear(C) -> None:
    if C.build_info()["cuda_devices"] > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="no data"):
        C.preprocess_cuda(0, 10, 10, 30, 0)
    with pytest.raises(RuntimeError, match="CUDA") as e:  # never touches the (fake) pointers without a device
        C.preprocess_cuda(1, 10, 10, 30, 1)
    assert isinstance(e.value, C.Unavailable)


def test_cuda_frames_unavailable_is_clear(C, rng) -> None:
    """Host frames -> CUDA (the TensorRT Runtime path): argument errors first, then a clear Unavailable."""
    if C.build_info()["cuda_devices"] > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError):
        C.preprocess_cuda_frames([_rand_image(rng, 8, 8)], 0)  # null output pointer
    with pytest.raises(ValueError):
        bad = C.PreprocessConfig()
        bad.imgsz = 0  # past the constructor's check: the C++ call validates again
        C.preprocess_cuda_frames([_rand_image(rng, 8, 8)], 1, bad)
    with pytest.raises(RuntimeError, match="CUDA") as e:  # never touches the (fake) pointer without a device
        C.preprocess_cuda_frames([_rand_image(rng, 8, 8)], 1)
    assert isinstance(e.value, C.Unavailable)


@pytest.mark.cuda
@pytest.mark.parametrize("crop", CROPS)
def test_cuda_frames_match_reference(C, rng, crop: str) -> None:
    """The upload-the-read-region path matches the reference for a batch of host frames (incl. strided views)."""
    torch = pytest.importorskip("torch")
    if not C.build_info()["cuda"] or not torch.cuda.is_available():
        pytest.skip("needs the CUDA build and a GPU")
    wide = _rand_image(rng, 300, 700)
    frames = [_rand_image(rng, 720, 1280), wide[:, 50:450], _rand_image(rng, 97, 33), wide[::2]]
    stream = torch.cuda.current_stream().cuda_stream
    for dtype, tdtype in ((np.float32, torch.float32), (np.float16, torch.float16)):
        dst = torch.empty((len(frames), 3, 96, 96), dtype=tdtype, device="cuda")
        C.preprocess_cuda_frames(frames, dst.data_ptr(), _config(imgsz=96, crop=crop), dtype=_dtype(dtype), stream=stream)
        got = dst.cpu().numpy()
        want = preprocess(frames, 96, crop, dtype=dtype)
        if dtype is np.float32:
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        else:
            _assert_half_close(got, want)


@pytest.mark.cuda
@pytest.mark.parametrize("seed", range(12))
def test_cuda_matches_reference(C, seed: int) -> None:
    torch = pytest.importorskip("torch")
    if not C.build_info()["cuda"]:
        pytest.skip("built without CUDA")
    img, kw = _random_case(seed)
    bgr = kw.pop("bgr")
    src = torch.from_numpy(img).cuda()
    for dtype, tdtype in ((np.float32, torch.float32), (np.float16, torch.float16)):
        dst = torch.empty((3, kw["imgsz"], kw["imgsz"]), dtype=tdtype, device="cuda")
        C.preprocess_cuda(src.data_ptr(), img.shape[0], img.shape[1], src.stride(0), dst.data_ptr(), _config(**kw),
                          bgr=bgr, dtype=_dtype(dtype), stream=torch.cuda.current_stream().cuda_stream)
        torch.cuda.synchronize()
        want = preprocess(img, bgr=bgr, dtype=dtype, **kw)[0]
        got = dst.cpu().numpy()
        if dtype is np.float32:
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        else:
            _assert_half_close(got, want)


@pytest.mark.cuda
def test_cuda_padded_rows(C, rng) -> None:
    torch = pytest.importorskip("torch")
    wide = _rand_image(rng, 300, 700)
    src = torch.from_numpy(wide).cuda()[:, 50:450]  # device view with a 2100-byte row stride
    dst = torch.empty((3, 224, 224), dtype=torch.float32, device="cuda")
    C.preprocess_cuda(src.data_ptr(), 300, 400, src.stride(0), dst.data_ptr(), _config(crop="letterbox"))
    torch.cuda.synchronize()
    np.testing.assert_allclose(dst.cpu().numpy(), preprocess(wide[:, 50:450], crop="letterbox")[0], atol=1e-5)


def test_cpp_metadata_reader_matches_python(C) -> None:
    import json

    from yolocls.metadata import ModelMetadata

    cfg = PreprocessConfig(imgsz=160, crop="letterbox", mean=(0.5, 0.25, 0.125), std=(0.2, 0.3, 0.4),
                           channel_order="BGR", pad_value=0)
    names = ["cat", 'say "hi"', "naïve/ünïcode ✓", "tab\there", "back\\slash", "😀"]
    meta = ModelMetadata(names=names, preprocess=cfg, model="yolov5n-cls")
    d = C.parse_metadata(meta.to_json())
    assert d["names"] == names and d["model"] == "yolov5n-cls" and d["imgsz"] == 160
    assert d["crop"] == "letterbox" and d["channel_order"] == "BGR" and d["pad_value"] == 0
    np.testing.assert_allclose(d["mean"], cfg.mean, rtol=1e-6)
    np.testing.assert_allclose(d["std"], cfg.std, rtol=1e-6)
    assert abs(d["scale"] - cfg.scale) < 1e-9
    # other writers: names as {"0": ...}, imgsz as an int, ensure_ascii escapes, no preprocess block
    other = json.dumps({"names": {"1": "b", "0": "a", "10": "k"}, "imgsz": 64})
    d = C.parse_metadata(other)
    assert d["names"] == ["a", "b", "k"] and d["imgsz"] == 64 and d["crop"] == "center"
    for bad in ("", "{", "[1, 2]", '{"names": ["a"]}', '{"names": "a", "imgsz": 3}', '{"names": [], "imgsz": 0}',
                '{"names": [], "imgsz": 8, "task": "detect"}', '{"names": [], "imgsz": 8} trailing',
                '{"names": [], "imgsz": 8, "preprocess": {"crop": "zoom"}}'):
        with pytest.raises(RuntimeError):
            C.parse_metadata(bad)


def test_bad_scale_topk_and_huge_views_are_value_errors() -> None:
    """Regressions from the reliability battery: each raises ValueError with a message, never an internal error."""
    C = pytest.importorskip("yolocls._C")
    img = np.zeros((8, 8, 3), np.uint8)
    for scale in (0.0, -1.0):
        with pytest.raises(ValueError, match="scale"):
            _pre(C.preprocess, img, imgsz=8, scale=scale)
        with pytest.raises(ValueError, match="scale"):
            preprocess(img, 8, scale=scale)
    with pytest.raises(ValueError, match="k must be"):
        C.topk(np.ones((1, 4), np.float32), -1)
    view = np.lib.stride_tricks.as_strided(np.zeros(3, np.uint8), (100000, 100000, 3), (0, 0, 1))
    with pytest.raises(ValueError, match="too large to copy"):
        _pre(C.preprocess, view, imgsz=8)
