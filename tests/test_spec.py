"""yolocls.spec (preprocessing): the config and its enums, the reference, apply's dispatch, and the leaf rule."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import yolocls.spec
import yolocls.spec as spec
from yolocls import _native
from yolocls.errors import InputError
from yolocls.spec import ChannelOrder, Crop, PreprocessConfig, apply, parse_channel_order, parse_crop, reference

SPEC_DIR = Path(spec.__file__).parent


# --- enums ----------------------------------------------------------------------------------------------------
def test_enums_are_strings_that_print_as_their_value() -> None:
    assert [c.value for c in Crop] == ["center", "stretch", "letterbox"] == list(spec.CROP_MODES)
    assert [c.value for c in ChannelOrder] == ["RGB", "BGR"] == list(spec.CHANNEL_ORDERS)
    assert Crop.LETTERBOX == "letterbox" and isinstance(Crop.CENTER, str)
    assert str(Crop.STRETCH) == "stretch" and f"{Crop.CENTER}" == "center" and f"{ChannelOrder.BGR:>4}" == " BGR"
    assert json.dumps({"crop": Crop.LETTERBOX}) == '{"crop": "letterbox"}'


def test_parsing_in_one_place() -> None:
    assert parse_crop("stretch") is Crop.STRETCH and parse_crop(Crop.CENTER) is Crop.CENTER
    assert parse_channel_order("BGR") is ChannelOrder.BGR
    for bad in ("Center", "centre", "", None, 1):
        with pytest.raises(InputError, match=r"^crop must be one of center, stretch, letterbox, got "):
            parse_crop(bad)
    with pytest.raises(InputError, match=r"^channel_order must be one of RGB, BGR, got 'rgb'$"):
        parse_channel_order("rgb")


# --- PreprocessConfig -------------------------------------------------------------------------------------------
def test_config_stores_enums_and_round_trips_through_plain_json() -> None:
    cfg = PreprocessConfig(imgsz=96, crop="letterbox", channel_order="BGR", mean=[0.1, 0.2, 0.3], std=(1, 2, 3),
                           pad_value=0)
    assert cfg.crop is Crop.LETTERBOX and cfg.channel_order is ChannelOrder.BGR
    assert cfg.mean == (0.1, 0.2, 0.3) and cfg.std == (1.0, 2.0, 3.0) and isinstance(cfg.std[0], float)
    d = cfg.to_dict()
    assert type(d["crop"]) is str and type(d["channel_order"]) is str  # plain JSON for metadata and C++
    assert d == {"imgsz": 96, "crop": "letterbox", "mean": [0.1, 0.2, 0.3], "std": [1.0, 2.0, 3.0],
                 "scale": 1 / 255, "channel_order": "BGR", "pad_value": 0}
    assert PreprocessConfig.from_dict(json.loads(json.dumps(d))) == cfg
    assert PreprocessConfig.from_dict({"imgsz": [64, 64], "unknown": 1}) == PreprocessConfig(imgsz=64)
    assert PreprocessConfig(crop=Crop.STRETCH) == PreprocessConfig(crop="stretch")
    assert hash(PreprocessConfig(crop=Crop.STRETCH)) == hash(PreprocessConfig(crop="stretch"))
    assert cfg.replace(imgsz=32).imgsz == 32 and cfg.replace(imgsz=32).crop is Crop.LETTERBOX
    assert dataclasses.replace(cfg, crop="center").crop is Crop.CENTER
    assert "extra" not in {f.name for f in dataclasses.fields(PreprocessConfig)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.imgsz = 1  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"imgsz": 0}, r"^imgsz must be a positive integer, got 0$"),
    ({"imgsz": 2.5}, r"^imgsz must be a positive integer"),
    ({"imgsz": True}, r"^imgsz must be a positive integer"),
    ({"crop": "fit"}, r"^crop must be one of center, stretch, letterbox, got 'fit'$"),
    ({"channel_order": "GBR"}, r"^channel_order must be one of RGB, BGR"),
    ({"mean": (0.5, 0.5)}, r"^mean needs 3 values \(one per channel\), got 2$"),
    ({"mean": "abc"}, r"^mean needs 3 numbers"),
    ({"std": (1, 0, 1)}, r"^std values must be non-zero$"),
    ({"std": (1, float("nan"), 1)}, r"^mean and std values must be finite numbers$"),
    ({"scale": 0}, r"^scale must be a finite number > 0"),
    ({"scale": float("inf")}, r"^scale must be a finite number > 0"),
    ({"pad_value": 256}, r"^pad_value must be an integer in 0\.\.255"),
    ({"pad_value": 1.5}, r"^pad_value must be an integer in 0\.\.255"),
])
def test_config_rejects_bad_values_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as e:
        PreprocessConfig(**kwargs)
    assert "\n" not in str(e.value)


# --- the reference (the definition) --------------------------------------------------------------------------------
def test_reference_by_hand_on_a_2x2_image() -> None:
    """Exact values of the definition: 2x2 -> 1x1 centre crop averages the four pixels; BGR -> RGB; mean/std."""
    img = np.array([[[0, 10, 20], [40, 50, 60]], [[80, 90, 100], [120, 130, 140]]], np.uint8)  # BGR
    cfg = PreprocessConfig(imgsz=1, mean=(0, 0, 0), std=(1, 1, 1), scale=1.0)
    # src = (0 + 0.5) * 2 - 0.5 = 0.5 on both axes: the mean of the 4 pixels, channels reversed
    np.testing.assert_array_equal(reference(img, cfg)[0, :, 0, 0], [80, 70, 60])
    np.testing.assert_array_equal(reference(img, cfg, bgr=False)[0, :, 0, 0], [60, 70, 80])
    bgr_model = cfg.replace(channel_order="BGR")
    np.testing.assert_array_equal(reference(img, bgr_model)[0, :, 0, 0], [60, 70, 80])
    norm = PreprocessConfig(imgsz=1, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    want = (np.array([80, 70, 60]) / 255 - np.array([0.5, 0.25, 0.0])) / np.array([0.5, 0.25, 2.0])
    np.testing.assert_allclose(reference(img, norm)[0, :, 0, 0], want, rtol=1e-6)


def test_reference_letterbox_pads_and_out_is_filled() -> None:
    img = np.full((10, 40, 3), 200, np.uint8)
    cfg = PreprocessConfig(imgsz=8, crop="letterbox", mean=(0, 0, 0), std=(1, 1, 1), scale=1.0, pad_value=7)
    out = np.full((1, 3, 8, 8), -1, np.float32)
    got = reference(img, cfg, out=out)
    assert got is out
    # 10x40 fits as 2x8, rows 3..4; the rest is the pad value
    np.testing.assert_array_equal(out[0, :, 3:5, :], 200)
    assert (out[0, :, :3] == 7).all() and (out[0, :, 5:] == 7).all()


# --- apply: one entry point, kernel when built, reference otherwise -----------------------------------------------
def _case(rng: np.random.Generator) -> tuple[list[np.ndarray], PreprocessConfig, bool]:
    images = []
    for _ in range(int(rng.integers(1, 4))):
        h, w = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        img = rng.integers(0, 256, (h, w + 5, 3), dtype=np.uint8)[:, : w]  # padded rows (a strided view)
        images.append(img)
    cfg = PreprocessConfig(imgsz=int(rng.choice([1, 17, 64])), crop=str(rng.choice(spec.CROP_MODES)),
                           channel_order=str(rng.choice(spec.CHANNEL_ORDERS)), mean=tuple(rng.uniform(0, 1, 3)),
                           std=tuple(rng.uniform(0.1, 1, 3)), pad_value=int(rng.integers(0, 256)))
    return images, cfg, bool(rng.integers(0, 2))


@pytest.mark.parametrize("seed", range(12))
def test_apply_matches_reference(seed: int) -> None:
    images, cfg, bgr = _case(np.random.default_rng(seed))
    got = apply(images, cfg, bgr=bgr)
    want = reference(images, cfg, bgr=bgr)
    assert got.shape == want.shape == (len(images), 3, cfg.imgsz, cfg.imgsz) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(apply(images, cfg, bgr=bgr, reference=True), want)  # forced: the definition


@pytest.mark.parametrize("crop", spec.CROP_MODES)
def test_apply_matches_reference_at_the_validation_size(rng: np.random.Generator, crop: str) -> None:
    """The case `yolocls val` runs: a 500x375 photo-sized image to 224, float32 and float16."""
    img = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
    cfg = PreprocessConfig(imgsz=224, crop=crop)
    want = reference(img, cfg)
    np.testing.assert_allclose(apply(img, cfg), want, rtol=0, atol=1e-5)
    half = apply(img, cfg, dtype=np.float16)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), want, rtol=0, atol=2e-3)  # half ulp at |x| <= 2.7


def test_a_4d_array_is_a_batch_on_both_paths(rng: np.random.Generator) -> None:
    batch = rng.integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    cfg = PreprocessConfig(imgsz=8)
    want = reference(list(batch), cfg)
    assert want.shape == (3, 3, 8, 8)
    np.testing.assert_array_equal(reference(batch, cfg), want)
    np.testing.assert_allclose(apply(batch, cfg), want, rtol=0, atol=1e-5)


@pytest.mark.skipif(not _native.available(), reason="yolocls._C is not built")
def test_apply_uses_the_kernel_when_built(rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
    cfg = PreprocessConfig(imgsz=64)
    np.testing.assert_array_equal(apply(img, cfg), _native.preprocess(img, cfg))  # bit for bit: the same code
    out = np.empty((2, 3, 64, 64), np.float16)
    assert apply([img, img[::-1]], cfg, dtype=np.float16, out=out) is out
    np.testing.assert_array_equal(out[0].view(np.uint16), _native.preprocess(img, cfg, dtype=np.float16)[0].view(np.uint16))


def test_apply_falls_back_to_the_reference_without_the_extension(monkeypatch: pytest.MonkeyPatch,
                                                                   rng: np.random.Generator) -> None:
    calls = []
    monkeypatch.setattr(_native, "available", lambda: False)
    monkeypatch.setattr(_native, "preprocess", lambda *a, **k: calls.append(a))
    img = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    cfg = PreprocessConfig(imgsz=16, crop="stretch")
    np.testing.assert_array_equal(apply(img, cfg), reference(img, cfg))
    out = np.empty((1, 3, 16, 16), np.float16)
    assert apply(img, cfg, dtype=np.float16, out=out) is out and not calls


@pytest.mark.parametrize("force_reference", [False, True])
@pytest.mark.parametrize(("images", "kwargs", "message"), [
    (np.zeros((4, 4, 3), np.float32), {}, "uint8"),
    (np.zeros((4, 4), np.uint8), {}, "HxWx3"),
    (np.zeros((0, 4, 3), np.uint8), {}, "empty"),
    ([], {}, "no images"),
    (np.zeros((4, 4, 3), np.uint8), {"dtype": np.float64}, "float32 or float16"),
    (np.zeros((4, 4, 3), np.uint8), {"out": np.empty((1, 3, 8, 8), np.float32)}, "out"),
    (np.zeros((4, 4, 3), np.uint8), {"out": np.empty((2, 3, 16, 16), np.float32)}, "out"),
    (np.zeros((4, 4, 3), np.uint8), {"out": np.empty((1, 3, 16, 16), np.float16)}, "out"),
])
def test_apply_bad_input_is_an_input_error(images, kwargs: dict, message: str, force_reference: bool) -> None:
    with pytest.raises(InputError, match=message):
        apply(images, PreprocessConfig(imgsz=16), reference=force_reference, **kwargs)


# --- the leaf rule --------------------------------------------------------------------------------------------------
def test_spec_preprocess_imports_only_the_errors() -> None:
    """Module-level imports of yolocls.spec.preprocess: the standard library, NumPy and yolocls.errors; the kernel
    is reached lazily inside apply() through yolocls._native (itself only the errors and the extension)."""
    tree = ast.parse((SPEC_DIR / "preprocess.py").read_text())
    top, lazy = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("yolocls"):
            names = {f"{node.module}.{a.name}" if node.module == "yolocls" else node.module for a in node.names}
            (top if node in tree.body else lazy).update(names)
        elif isinstance(node, ast.Import):
            assert all(not a.name.startswith("yolocls") or a.name == "yolocls.errors" for a in node.names)
    assert top == {"yolocls.errors"} and lazy == {"yolocls._native"}


def test_importing_the_spec_loads_nothing_else_of_yolocls() -> None:
    code = ("import sys, yolocls\n"
            "before = set(sys.modules)\n"  # what the top-level package loads for everyone
            "import numpy as np, yolocls.spec\n"
            "p = sys.modules['yolocls.spec.preprocess']\n"
            "p.reference(np.zeros((4, 4, 3), np.uint8), p.PreprocessConfig(imgsz=2))\n"
            "print(' '.join(sorted(m for m in set(sys.modules) - before if m.startswith('yolocls') "
            "or m in ('torch', 'cv2', 'PIL'))))")
    mods = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    others = [m for m in mods if m != "yolocls.errors" and not m.startswith("yolocls.spec")]
    assert not others, f"importing yolocls.spec also imported {others}"


def test_one_definition_data_reexports_it() -> None:
    import importlib.util

    from yolocls import data

    assert importlib.util.find_spec("yolocls.data.preprocess") is None  # the spec is defined in yolocls.spec only
    assert data.PreprocessConfig is PreprocessConfig and data.preprocess_with is reference
    assert data.preprocess is sys.modules["yolocls.spec.preprocess"].preprocess
    assert yolocls.spec.preprocess is sys.modules["yolocls.spec.preprocess"]  # the module, not a function


@pytest.mark.skipif(not _native.available(), reason="yolocls._C not built")
def test_spec_enums_and_the_kernel_enums_name_the_same_values() -> None:
    """The Python spec's enums and the C++ ones (made from one table per enum in yolocls/preprocess.hpp) list the same
    spec names, so a crop mode added to one and not the other fails here."""
    C = _native.load_extension()
    from yolocls.spec.preprocess import ChannelOrder, Crop

    for py_enum, c_enum in ((Crop, C.Crop), (ChannelOrder, C.ChannelOrder)):
        assert sorted(m.value for m in py_enum) == sorted(str(v) for v in c_enum.__members__.values())
        for m in py_enum:
            assert str(c_enum(m.value)) == m.value and c_enum(m.value).name == m.value.upper()
    assert sorted(str(v) for v in C.DType.__members__.values()) == ["float16", "float32"]
    with pytest.raises(ValueError, match=r"unknown crop 'fill' \(expected center, stretch or letterbox\)"):
        C.Crop("fill")
