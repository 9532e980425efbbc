"""The digits dataset, ImageFolder scanning, ImageFolderDataset, train augmentation and the DataLoader builder."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolocls.data import digits as digits_mod
from yolocls.data.augment import TrainAugment, color_jitter, random_resized_crop_box
from yolocls.data.dataset import ImageFolderDataset, find_split, resolve_dataset, scan_image_folder
from yolocls.data.digits import materialize_digits
from yolocls.data.io import imread
from yolocls.data.loader import build_dataloader
from yolocls.errors import DatasetError, InputError
from yolocls.spec import PreprocessConfig, apply, preprocess_with


def _write_images(folder: Path, n: int, rng: np.random.Generator, ext: str = "png", size=(12, 10)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"{i:03d}.{ext}"
        cv2.imwrite(str(p), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        out.append(p)
    return out


@pytest.fixture()
def tree(tmp_path: Path, rng: np.random.Generator) -> Path:
    """<tmp>/ds/{train,val}/{cat,dog}/ with a few small random images each."""
    root = tmp_path / "ds"
    for split, n in (("train", 4), ("val", 2)):
        for c in ("dog", "cat"):
            _write_images(root / split / c, n, rng)
    return root


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize_digits(tmp_path_factory.mktemp("datasets"))


# ---------------------------------------------------------------- digits


@pytest.mark.slow
def test_digits_tree(digits_root: Path) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    counts = {s: sorted((digits_root / s).glob("*/*.png")) for s in ("train", "val")}
    assert len(counts["train"]) == 1442 and len(counts["val"]) == 355
    assert len(counts["train"]) + len(counts["val"]) == 1797
    assert sorted(p.name for p in (digits_root / "train").iterdir()) == [str(c) for c in range(10)]
    for c in range(10):  # stratified: every class keeps its 80/20 share
        n = int((d.target == c).sum())
        assert len(list((digits_root / "val" / str(c)).glob("*.png"))) == n // 5
    # pixel values are the real data scaled 0..16 -> 0..255, and the label is the folder
    p = counts["val"][0]
    idx, label = int(p.stem), int(p.parent.name)
    assert d.target[idx] == label
    a = imread(p)
    assert a.shape == (8, 8, 3)
    assert np.array_equal(a[..., 0], np.rint(d.images[idx] * 255 / 16).astype(np.uint8))
    names_train = {p.name for p in counts["train"]}
    assert not names_train & {p.name for p in counts["val"]}  # disjoint splits


@pytest.mark.slow
def test_digits_reused_rebuilt_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLOCLS_DATASETS", str(tmp_path))
    # a process killed mid-write leaves no tree and no temp folder behind
    real_write = digits_mod._write_tree

    def dying_write(tmp: Path) -> dict[str, int]:
        (tmp / "train" / "0").mkdir(parents=True)
        (tmp / "train" / "0" / "0000.png").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(digits_mod, "_write_tree", dying_write)
    with pytest.raises(KeyboardInterrupt):
        materialize_digits()
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(digits_mod, "_write_tree", real_write)

    root = resolve_dataset("digits")  # the name resolves through $YOLOCLS_DATASETS
    assert root == tmp_path / "digits"
    marker = root / digits_mod.MARKER
    stamp = marker.stat().st_mtime_ns
    assert materialize_digits() == root and marker.stat().st_mtime_ns == stamp  # reused, not rewritten
    # a damaged tree (one image deleted) is detected by the count check and rebuilt
    next((root / "val" / "3").glob("*.png")).unlink()
    assert materialize_digits() == root
    assert len(list((root / "val").glob("*/*.png"))) == 355
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]  # no temp or stale folders left


@pytest.mark.slow
def test_digits_concurrent_writers(tmp_path: Path) -> None:
    """Two processes (e.g. DDP ranks) materialising at once: both get the same complete tree, nothing left over."""
    code = "import sys; from yolocls.data.digits import materialize_digits; print(materialize_digits(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1000:] for o in outs]
    assert {o[0].strip() for o in outs} == {str(tmp_path / "digits")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]
    assert len(list((tmp_path / "digits").glob("*/*/*.png"))) == 1797


@pytest.mark.slow
def test_import_is_light() -> None:
    code = ("import sys, yolocls.data as d; heavy = [m for m in ('torch', 'cv2', 'PIL', 'sklearn') "
            "if m in sys.modules]; print(heavy); assert d.PreprocessConfig and d.preprocess")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-1000:]
    assert r.stdout.strip() == "[]"
    r = subprocess.run([sys.executable, "-c", "import yolocls.data as d; print(d.ImageFolderDataset.__name__, "
                        "d.build_dataloader.__name__, d.iter_source.__name__, d.imread.__name__)"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["ImageFolderDataset", "build_dataloader", "iter_source", "imread"], r.stderr


def test_digits_unwritable_root(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatasetError, match="YOLOCLS_DATASETS"):
        materialize_digits(blocker / "sub")


# ---------------------------------------------------------------- resolving and scanning


def test_resolve_dataset_errors(tmp_path: Path, tree: Path) -> None:
    assert resolve_dataset(tree) == tree
    assert resolve_dataset(str(tree)) == tree
    with pytest.raises(DatasetError, match="not found") as e:
        resolve_dataset(tmp_path / "missing")
    assert "\n" not in str(e.value) and "digits" in str(e.value)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        resolve_dataset(tmp_path / "f.txt")
    only_train = tmp_path / "only_train"
    (only_train / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="val/ or test/"):
        resolve_dataset(only_train)
    assert resolve_dataset(only_train, splits=("train",)) == only_train


def test_find_split_fallback(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    assert find_split(tmp_path, "val") == tmp_path / "test"
    assert find_split(tmp_path, "test") == tmp_path / "test"
    (tmp_path / "test").rmdir()
    (tmp_path / "val").mkdir()
    with pytest.raises(DatasetError, match=r"no test/ folder \(it has: train, val\); validate val/ with --split val"):
        find_split(tmp_path, "test")  # asking for test/ never silently validates val/
    (tmp_path / "test").mkdir()
    assert find_split(tmp_path, "val") == tmp_path / "val"
    with pytest.raises(DatasetError):
        find_split(tmp_path / "nothing", "train")
    with pytest.raises(DatasetError, match="unknown split"):
        find_split(tmp_path, "dev")


def test_scan_classes_sorted_and_non_images_ignored(tree: Path, rng: np.random.Generator) -> None:
    train = tree / "train"
    (train / "cat" / "notes.txt").write_text("not an image")
    (train / ".ipynb_checkpoints").mkdir()  # hidden: not a class
    _write_images(train / "cat" / "nested", 1, rng, ext="jpg")  # found recursively
    samples, names = scan_image_folder(train)
    assert names == ["cat", "dog"]
    assert len(samples) == 9
    assert all(p.suffix in (".png", ".jpg") for p, _ in samples)
    assert [label for _, label in samples] == [0] * 5 + [1] * 4


def test_scan_empty_class_warned_and_kept(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tree / "train" / "emu").mkdir()
    with caplog.at_level(logging.WARNING, logger="yolocls"):
        samples, names = scan_image_folder(tree / "train")
    assert names == ["cat", "dog", "emu"]  # indices must not shift between splits
    assert "empty class" in caplog.text and "emu" in caplog.text
    assert len(samples) == 8


def test_scan_no_classes(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(DatasetError, match="no class folders"):
        scan_image_folder(tmp_path)
    _write_images(tmp_path, 2, rng)
    with pytest.raises(DatasetError, match="own sub-folder"):
        scan_image_folder(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        scan_image_folder(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        scan_image_folder(tmp_path)


def test_scan_with_train_names(tree: Path) -> None:
    samples, names = scan_image_folder(tree / "val", names=["ant", "cat", "dog"])
    assert names == ["ant", "cat", "dog"] and {label for _, label in samples} == {1, 2}
    with pytest.raises(DatasetError, match="not among"):
        scan_image_folder(tree / "val", names=["cat"])


def test_symlink_loop_does_not_hang(tree: Path) -> None:
    cat = tree / "train" / "cat"
    os.symlink(cat, cat / "loop")  # cat/loop -> cat
    os.symlink(tree / "train", cat / "up")  # cat/up -> train (contains cat again)
    result: list = []
    t = threading.Thread(target=lambda: result.append(scan_image_folder(tree / "train")), daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "scan_image_folder hangs on a symlink loop"
    samples, names = result[0]
    assert names == ["cat", "dog"]
    paths = [p for p, _ in samples]
    assert len(paths) == len({p.resolve() for p in paths}) == 8  # every real file once
    for p, label in samples:  # a link into another class never relabels that class's images
        assert p.resolve().parent.name == names[label]


# ---------------------------------------------------------------- ImageFolderDataset


def test_dataset_val_matches_reference_preprocessing(tree: Path) -> None:
    cfg = PreprocessConfig(imgsz=16, crop="center")
    ds = ImageFolderDataset(tree / "val", 16, augment=False, preprocess=cfg)
    assert len(ds) == 4 and ds.names == ["cat", "dog"] and ds.num_corrupt == 0
    for i in range(len(ds)):
        x, y = ds[i]
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (3, 16, 16)
        assert isinstance(y, int) and y == ds.samples[i][1]
        # the deployment preprocessing: exactly spec.apply (the kernel when built), the reference within 1e-5
        img = imread(ds.samples[i][0])
        assert np.array_equal(x.numpy(), apply(img, cfg)[0])
        np.testing.assert_allclose(x.numpy(), preprocess_with(img, cfg)[0], rtol=0, atol=1e-5)
    # imgsz argument wins over the config's
    assert ImageFolderDataset(tree / "val", 8, preprocess=cfg)[0][0].shape == (3, 8, 8)


def test_dataset_corrupt_files_counted_not_fatal(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    cat = tree / "train" / "cat"
    (cat / "text.jpg").write_text("not an image")
    data = (cat / "000.png").read_bytes()
    (cat / "cut.png").write_bytes(data[: len(data) // 2])
    (cat / "zero.png").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="yolocls"):
        ds = ImageFolderDataset(tree / "train", 8, augment=True)
    assert len(ds) == 8 and ds.num_corrupt == 3
    warnings = [r for r in caplog.records if "corrupt" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 3 corrupt" in warnings[0].getMessage()
    for i in range(len(ds)):
        assert ds[i][0].shape == (3, 8, 8)


def test_dataset_decode_time_corruption_replaced_and_warned_once(tree: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    ds = ImageFolderDataset(tree / "val", 8)
    bad = ds.samples[1][0]
    bad.write_bytes(b"garbage")  # breaks after the scan: found only when decoded
    with caplog.at_level(logging.WARNING, logger="yolocls"):
        x1, y1 = ds[1]
        x2, _ = ds[1]
    assert ds.num_corrupt == 1 and ds.corrupt[0][0] == bad
    assert y1 == ds.samples[2][1]  # replaced by the next sample
    assert torch.equal(x1, x2)
    assert sum("skipping corrupt" in r.getMessage() for r in caplog.records) == 1


def test_dataset_every_image_corrupt(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"junk")
    with pytest.raises(DatasetError, match=r"every image under .* is corrupt \(1 files; first: .*not an image"):
        ImageFolderDataset(tmp_path, 8)


def test_dataset_cache(tree: Path) -> None:
    plain = ImageFolderDataset(tree / "val", 8)
    cached = ImageFolderDataset(tree / "val", 8, cache=True)
    expected = [plain[i] for i in range(len(plain))]
    for p, _ in cached.samples:
        p.unlink()  # from now on only RAM can serve them
    for i, (x, y) in enumerate(expected):
        xc, yc = cached[i]
        assert torch.equal(x, xc) and y == yc
    assert cached.num_corrupt == 0
    with pytest.raises(IndexError):
        cached[len(cached)]


@pytest.mark.slow
def test_dataset_on_digits(digits_root: Path) -> None:
    tr = ImageFolderDataset(digits_root / "train", 16, augment=True,
                            augment_options={"scale": (0.5, 1.0), "hflip": 0.0, "jitter": 0.2})
    assert tr._transform is not None and tr._transform.scale == (0.5, 1.0) and tr._transform.hflip == 0.0
    x, _ = tr[0]
    assert x.shape == (3, 16, 16)
    with pytest.raises(InputError, match="unknown augment option"):
        ImageFolderDataset(digits_root / "val", 16, augment=True, augment_options={"flip": 0.0})
    va = ImageFolderDataset(digits_root / "val", 16, names=tr.names)
    assert len(tr) == 1442 and len(va) == 355 and tr.names == [str(c) for c in range(10)]
    assert va.class_counts() == [35, 36, 35, 36, 36, 36, 36, 35, 34, 36]


# ---------------------------------------------------------------- augmentation


def test_augment_shape_dtype_range_and_seed(photos_dir: Path) -> None:
    img = imread(photos_dir / "chelsea.png")
    cfg = PreprocessConfig(imgsz=32)
    lo = (0 - np.array(cfg.mean)) / np.array(cfg.std)
    hi = (1 - np.array(cfg.mean)) / np.array(cfg.std)
    a, b, c = TrainAugment(cfg, seed=1), TrainAugment(cfg, seed=1), TrainAugment(cfg, seed=2)
    outs = []
    for _ in range(5):
        x = a(img)
        assert x.dtype == np.float32 and x.shape == (3, 32, 32) and x.flags.c_contiguous
        assert (x.min(axis=(1, 2)) >= lo - 1e-5).all() and (x.max(axis=(1, 2)) <= hi + 1e-5).all()
        assert np.array_equal(x, b(img))  # same seed, same stream
        outs.append(x)
    assert not np.array_equal(outs[0], outs[1])  # the stream moves on
    assert not np.array_equal(outs[0], c(img))
    a.reseed(1)
    assert np.array_equal(a(img), outs[0])


def test_augment_identity_settings_match_reference(photos_dir: Path) -> None:
    """With the crop covering the whole square image and no flip/jitter, only resize + normalisation remain."""
    img = imread(photos_dir / "astronaut.png")  # 512x512
    cfg = PreprocessConfig(imgsz=64)
    aug = TrainAugment(cfg, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0, jitter=0.0)
    ref = preprocess_with(img, cfg)[0]
    # cv2's fixed-point bilinear vs the float reference: within 1 grey level, in normalised units
    assert np.abs(aug(img) - ref).max() <= 1.01 / 255 / min(cfg.std)
    flip = TrainAugment(cfg, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=1.0, jitter=0.0)
    assert np.abs(flip(img) - ref[:, :, ::-1]).max() <= 1.01 / 255 / min(cfg.std)
    bgr_cfg = cfg.replace(channel_order="BGR", mean=cfg.mean[::-1], std=cfg.std[::-1])
    bgr = TrainAugment(bgr_cfg, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0, jitter=0.0)
    assert np.abs(bgr(img) - ref[::-1]).max() <= 1.01 / 255 / min(cfg.std)


def test_random_resized_crop_box_bounds() -> None:
    rng = np.random.default_rng(0)
    fractions = []
    for h, w in [(100, 100), (30, 300), (300, 30), (1, 1), (7, 5)]:
        for _ in range(200):
            top, left, ch, cw = random_resized_crop_box(h, w, rng)
            assert 0 <= top and 0 <= left and 1 <= ch and 1 <= cw and top + ch <= h and left + cw <= w
            if (h, w) == (100, 100):
                fractions.append(ch * cw / 1e4)
                assert 3 / 4 - 0.05 <= cw / ch <= 4 / 3 + 0.05
    assert min(fractions) < 0.2 and max(fractions) > 0.8  # the whole 0.08..1 range is used


def test_color_jitter_keeps_gray_gray_and_range() -> None:
    rng = np.random.default_rng(0)
    gray = np.repeat(rng.uniform(0, 255, (8, 8, 1)).astype(np.float32), 3, axis=2)
    out = color_jitter(gray.copy(), rng)
    assert np.allclose(out[..., 0], out[..., 1], atol=1e-3) and np.allclose(out[..., 1], out[..., 2], atol=1e-3)
    colour = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    outs = [color_jitter(colour.copy(), rng) for _ in range(10)]
    assert all(o.min() >= 0 and o.max() <= 255 for o in outs)
    assert not all(np.allclose(o, colour) for o in outs)


def test_augment_rejects_bad_args() -> None:
    cfg = PreprocessConfig(imgsz=8)
    with pytest.raises(InputError):
        TrainAugment(cfg, scale=(0.5, 0.1))
    with pytest.raises(InputError):
        TrainAugment(cfg, hflip=2)
    with pytest.raises(InputError):
        TrainAugment(cfg)(np.zeros((4, 4), np.uint8))


# ---------------------------------------------------------------- loader


def test_loader_batches_and_determinism(tree: Path) -> None:
    ds = ImageFolderDataset(tree / "train", 8, augment=True)
    loader = build_dataloader(ds, batch_size=3, shuffle=True, workers=0, seed=5)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [3, 3, 2]
    x, y = batches[0]
    assert x.shape == (3, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    again = list(build_dataloader(ds, batch_size=3, shuffle=True, workers=0, seed=5))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again, strict=True))
    assert [len(b[1]) for b in build_dataloader(ds, 3, False, 0, drop_last=True)] == [3, 3]


def test_loader_workers_seeded_and_distinct(tree: Path) -> None:
    ds = ImageFolderDataset(tree / "train", 8, augment=True)
    # one image repeated: any difference between items comes from the augmentation stream
    ds.samples = [ds.samples[0]] * 8
    ds.targets = [ds.samples[0][1]] * 8

    def run() -> torch.Tensor:
        loader = build_dataloader(ds, batch_size=2, shuffle=False, workers=2, seed=3)
        assert loader.num_workers == min(2, os.cpu_count() or 1) and loader.persistent_workers
        return torch.cat([x for x, _ in loader])

    first, second = run(), run()
    assert torch.equal(first, second)  # reproducible from the seed
    flat = first.flatten(1)
    assert len({tuple(r.tolist()) for r in flat}) == len(flat)  # every item augmented differently


def test_loader_distributed(tree: Path, tmp_path: Path) -> None:
    import torch.distributed as dist

    ds = ImageFolderDataset(tree / "train", 8)
    with pytest.raises(InputError, match="process group"):
        build_dataloader(ds, 2, True, 0, distributed=True)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        loader = build_dataloader(ds, 2, True, 0, distributed=True, seed=1)
        assert isinstance(loader.sampler, torch.utils.data.DistributedSampler)
        loader.sampler.set_epoch(0)
        labels = torch.cat([y for _, y in loader])
        assert len(labels) == len(ds)
    finally:
        dist.destroy_process_group()


def test_loader_bad_args(tree: Path) -> None:
    ds = ImageFolderDataset(tree / "val", 8)
    with pytest.raises(InputError):
        build_dataloader(ds, 0, False, 0)
    with pytest.raises(InputError):
        build_dataloader(ds, 1, False, -1)
