"""ImageFolder datasets: resolve a dataset argument, scan a split folder, and serve (tensor, label) pairs.

Layout: ``<root>/{train,val|test}/<class name>/**/<image>``. Classes are the sorted names of the sub-folders of a
split (hidden folders such as ``.ipynb_checkpoints`` are ignored); images are found recursively by extension.
Symlinked folders are followed, but each real folder is visited once, so symlink loops cannot hang a scan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from yolocls.data.io import MAX_PIXELS, ImageError, imread, is_image_file, verify_image
from yolocls.errors import DatasetError, InputError
from yolocls.spec import PreprocessConfig, apply

LOGGER = logging.getLogger(__name__)

BUILTIN_DATASETS = ("digits",)
#: What a built-in dataset trains well with when the user does not say otherwise (scripts/demo.sh's recipe for the
#: 8x8 digits: 32 px, no augmentation since a random resized crop of an 8x8 digit destroys it, Adam lr0 0.003).
BUILTIN_TRAIN_SETTINGS: dict[str, dict[str, Any]] = {
    "digits": {"imgsz": 32, "augment": False, "optimizer": "Adam", "lr0": 0.003},
}
#: A folder dataset may carry its own: ``<root>/yolocls.json`` = ``{"train": {"imgsz": 64, "augment": false}}``.
DATASET_SETTINGS_FILE = "yolocls.json"
TRAIN_SETTING_TYPES: dict[str, tuple[type, ...]] = {"imgsz": (int,), "augment": (bool,), "optimizer": (str,),
                                                    "lr0": (int, float)}
# asking for val/ takes test/ when a dataset has only that (as YOLOv5 does); asking for test/ means test/
SPLIT_ALIASES = {"train": ("train",), "val": ("val", "test"), "test": ("test",)}


def resolve_dataset(data: str | os.PathLike[str], splits: Sequence[str] = ("train", "val")) -> Path:
    """Dataset argument -> dataset root folder.

    Args:
        data: a built-in name (``digits``; written once under ``$YOLOCLS_DATASETS``) or a folder holding split
            sub-folders. Pass ``./digits`` to mean a local folder that happens to be called ``digits``.
        splits: the splits the caller needs (``val`` is satisfied by ``test`` and vice versa). Training needs
            ``("train", "val")``, validation only ``("val",)``.

    Raises:
        DatasetError: unknown name, missing folder, or a required split missing (the message names the fix).
    """
    if isinstance(data, str) and data in BUILTIN_DATASETS:
        from yolocls.data.digits import materialize_digits

        return materialize_digits()
    root = Path(data).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset {os.fspath(data)!r} not found: pass a folder with train/ and val/ "
                           f"sub-folders of class folders, or a built-in name ({', '.join(BUILTIN_DATASETS)})")
    if not root.is_dir():
        raise DatasetError(f"dataset {os.fspath(data)!r} is a file, not a folder: pass a folder with train/ and "
                           "val/ sub-folders of class folders")
    for split in splits:
        find_split(root, split)
    return root


def recommended_train_settings(data: str | os.PathLike[str]) -> dict[str, Any]:
    """The training settings a dataset recommends (``imgsz``, ``augment``, ``optimizer``, ``lr0``; any subset).

    Built-in datasets have theirs in :data:`BUILTIN_TRAIN_SETTINGS`; a folder may hold :data:`DATASET_SETTINGS_FILE`
    with a ``"train"`` object. A flag the user gives always wins over these.

    Raises:
        DatasetError: the settings file is not valid JSON or holds an unknown key or a value of the wrong type.
    """
    import json

    if isinstance(data, str) and data in BUILTIN_TRAIN_SETTINGS:
        return dict(BUILTIN_TRAIN_SETTINGS[data])
    f = Path(data).expanduser() / DATASET_SETTINGS_FILE
    if not f.is_file():
        return {}
    try:
        train = json.loads(f.read_text(encoding="utf-8")).get("train", {})
    except (OSError, ValueError, AttributeError) as e:
        raise DatasetError(f"cannot read {f}: {e}; expected {{\"train\": {{\"imgsz\": 64, \"augment\": false}}}}"
                           ) from None
    if not isinstance(train, dict):
        raise DatasetError(f"{f}: \"train\" must be an object of settings")
    for k, v in train.items():
        types = TRAIN_SETTING_TYPES.get(k)
        if types is None:
            raise DatasetError(f"{f}: unknown training setting {k!r} (known: {', '.join(TRAIN_SETTING_TYPES)})")
        if not isinstance(v, types) or (bool not in types and isinstance(v, bool)):
            raise DatasetError(f"{f}: {k} must be {' or '.join(t.__name__ for t in types)}, got {v!r}")
    return dict(train)


def find_split(root: str | os.PathLike[str], split: str) -> Path:
    """``<root>/<split>``; ``val`` falls back to ``test`` (a dataset with only ``test/``), ``test`` never falls back.

    Raises:
        DatasetError: no such split folder (the message lists what the folder holds).
    """
    if split not in SPLIT_ALIASES:
        raise DatasetError(f"unknown split {split!r}: use train, val or test")
    root = Path(root)
    for name in SPLIT_ALIASES[split]:
        if (root / name).is_dir():
            return root / name
    have = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    want = " or ".join(f"{n}/" for n in SPLIT_ALIASES[split])
    if split == "test" and "val" in have:
        raise DatasetError(f"dataset {root} has no test/ folder (it has: {', '.join(have)}); validate val/ with "
                           "--split val")
    raise DatasetError(f"dataset {root} has no {want} folder (it has: {', '.join(have) or 'no folders'}); "
                       f"expected {root}/{{train,val}}/<class>/<images>")


def _dir_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None  # dangling symlink
    return st.st_dev, st.st_ino


def _walk_images(folder: Path, seen: set[tuple[int, int]]) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, symlinks followed, every real folder visited once).

    ``seen`` holds the real folders already claimed (pre-seeded with the split folder and every class folder, so
    a link never pulls another class's images into this one); ``folder`` itself is always walked.
    """
    out: list[Path] = []
    stack = [folder]
    while stack:
        d = stack.pop()
        key = _dir_key(d)
        if key is None or (d is not folder and key in seen):
            continue  # dangling link, a loop, or a folder that belongs to another class / was already scanned
        seen.add(key)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as err:
            LOGGER.warning("cannot list %s: %s", d, err.strerror or err)
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():  # follows symlinks; loops are cut by `seen`
                    subdirs.append(Path(entry.path))
                elif is_image_file(entry.name) and entry.is_file():
                    out.append(Path(entry.path))
            except OSError:
                continue
        stack.extend(reversed(subdirs))
    return sorted(out)


def scan_image_folder(split_dir: str | os.PathLike[str],
                      names: Sequence[str] | None = None) -> tuple[list[tuple[Path, int]], list[str]]:
    """List the samples of one split.

    Args:
        split_dir: folder of class folders.
        names: class list to map folders onto (e.g. the train split's, so val labels match); folders not in it
            are an error. Default: the sorted sub-folder names of ``split_dir``.

    Returns:
        ``(samples, names)``: ``samples`` is a list of ``(image path, class index)`` sorted by class then path;
        files without an image extension are ignored. Empty class folders are kept in ``names`` (indices must
        not shift) and warned about.

    Raises:
        DatasetError: missing folder, no class folders, class folders unknown to ``names``, or no images at all.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DatasetError(f"dataset split {split_dir} not found or not a folder; check the path")
    classes = sorted(e.name for e in os.scandir(split_dir) if not e.name.startswith(".") and e.is_dir())
    if not classes:
        with os.scandir(split_dir) as entries:  # closed even when any() stops early (ResourceWarning otherwise)
            loose = any(is_image_file(e.name) for e in entries)
        hint = " (images lie directly in it: put each class in its own sub-folder)" if loose else ""
        raise DatasetError(f"no class folders in {split_dir}{hint}; expected {split_dir}/<class>/<images>")
    if names is None:
        names = classes
    else:
        names = list(names)
        unknown = [c for c in classes if c not in names]
        if unknown:
            raise DatasetError(f"{split_dir} has class folders {unknown[:5]} that are not among the model's "
                               f"{len(names)} classes; use the same class folders in every split")
    index = {n: i for i, n in enumerate(names)}
    samples: list[tuple[Path, int]] = []
    empty = []
    seen = {k for k in (_dir_key(p) for p in [split_dir, *(split_dir / c for c in classes)]) if k is not None}
    for c in classes:
        files = _walk_images(split_dir / c, seen)
        if not files:
            empty.append(c)
        samples.extend((f, index[c]) for f in files)
    if empty:
        LOGGER.warning("%s: %d empty class folder(s) with no images: %s", split_dir, len(empty),
                       ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else ""))
    if not samples:
        raise DatasetError(f"no images found under {split_dir}: its class folders hold no .jpg/.png/.bmp/.webp/... "
                           "files")
    return samples, list(names)


def verify_samples(samples: Sequence[tuple[Path, int]], workers: int | None = None,
                   max_pixels: int = MAX_PIXELS) -> tuple[list[tuple[Path, int]], list[tuple[Path, str]]]:
    """Split samples into (good, corrupt) with a cheap header/CRC check (:func:`yolocls.data.io.verify_image`).

    Runs in a thread pool (mostly file I/O). ``corrupt`` holds ``(path, reason)``.
    """
    if workers is None:
        workers = min(8, (os.cpu_count() or 1) * 2)
    paths = [p for p, _ in samples]
    if workers > 1 and len(paths) > 64:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            reasons = list(pool.map(lambda p: verify_image(p, max_pixels), paths, chunksize=64))
    else:
        reasons = [verify_image(p, max_pixels) for p in paths]
    good = [s for s, r in zip(samples, reasons, strict=True) if r is None]
    bad = [(s[0], r) for s, r in zip(samples, reasons, strict=True) if r is not None]
    return good, bad


class ImageFolderDataset(Dataset):
    """A torch-compatible map-style dataset over one split folder.

    Items are ``(image, label)``: ``image`` a float32 tensor ``[3, imgsz, imgsz]`` and ``label`` an int.
    ``augment=False`` applies exactly the spec'd preprocessing (:func:`yolocls.spec.apply`: the C++ kernel when
    built, which matches the NumPy reference to 1e-5) so validation sees what deployment sees; ``augment=True``
    applies :class:`yolocls.data.augment.TrainAugment` with the same normalisation.

    Args:
        split_dir: folder of class folders (see :func:`find_split`).
        imgsz: output side in pixels (overrides ``preprocess.imgsz``).
        augment: train augmentation on/off.
        preprocess: normalisation/crop settings (default: ImageNet mean/std, center crop).
        cache: decode every image once up front and keep the uint8 arrays in RAM (DataLoader workers created by
            fork share them).
        names: class list to map folders onto (pass the train split's names for val).
        verify: check every file's header at scan time; corrupt files are dropped, counted in ``num_corrupt`` and
            reported in ONE warning. Files that still fail to decode later are replaced by another sample, counted
            (in the process that met them) and warned about once per file; never fatal.
        seed: seed of the augmentation generator (workers reseed it, see :mod:`yolocls.data.loader`).
        augment_options: keyword arguments of :class:`~yolocls.data.augment.TrainAugment` (``scale``, ``ratio``,
            ``hflip``, ``jitter``), e.g. ``{"scale": (0.5, 1.0), "hflip": 0.0}`` for tiny images or digits.

    Attributes:
        samples: ``[(path, label), ...]`` of the usable images. names: class names, index = label.
        num_corrupt: corrupt files seen so far (scan time + decode time in this process).
        corrupt: ``[(path, reason), ...]`` of those files.
    """

    def __init__(self, split_dir: str | os.PathLike[str], imgsz: int, augment: bool = False,
                 preprocess: PreprocessConfig | None = None, cache: bool = False,
                 names: Sequence[str] | None = None, verify: bool = True, seed: int | None = 0,
                 augment_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.root = Path(split_dir)
        cfg = preprocess if preprocess is not None else PreprocessConfig(imgsz=imgsz)
        self.preprocess = cfg if cfg.imgsz == imgsz else cfg.replace(imgsz=imgsz)
        self.imgsz = self.preprocess.imgsz
        self.augment = bool(augment)
        samples, self.names = scan_image_folder(self.root, names)
        self.corrupt: list[tuple[Path, str]] = []
        if verify:
            samples, self.corrupt = verify_samples(samples)
            if self.corrupt:
                LOGGER.warning("%s: skipped %d corrupt image(s) (first: %s)", self.root, len(self.corrupt),
                               self.corrupt[0][1])
            if not samples:
                raise DatasetError(f"every image under {self.root} is corrupt ({len(self.corrupt)} files; first: "
                                   f"{self.corrupt[0][1]})")
        self.samples: list[tuple[Path, int]] = samples
        self.targets = [label for _, label in samples]
        self._warned: set[str] = set()
        self._transform = None
        if self.augment:
            from yolocls.data.augment import TrainAugment

            options = dict(augment_options or {})
            unknown = sorted(set(options) - {"scale", "ratio", "hflip", "jitter"})
            if unknown:
                raise InputError(f"unknown augment option(s) {', '.join(unknown)}: use scale, ratio, hflip, jitter")
            self._transform = TrainAugment(self.preprocess, seed=seed, **options)
        self._cache: list[np.ndarray | None] | None = None
        if cache:
            self._fill_cache()

    @property
    def num_corrupt(self) -> int:
        return len(self.corrupt)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.samples)

    def reseed(self, seed: int) -> None:
        """New augmentation stream (DataLoader workers call this with their own seed)."""
        if self._transform is not None:
            self._transform.reseed(seed)

    def _fill_cache(self) -> None:
        def load(p: Path) -> np.ndarray | None:
            try:
                return imread(p)
            except ImageError:
                return None

        workers = min(8, (os.cpu_count() or 1) * 2)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            cache = list(pool.map(load, [p for p, _ in self.samples], chunksize=32))
        self._cache = cache
        nbytes = sum(a.nbytes for a in cache if a is not None)
        LOGGER.info("%s: cached %d images in RAM (%.1f MB)", self.root, len(cache), nbytes / 1e6)

    def load_image(self, i: int) -> np.ndarray:
        """Decoded uint8 HxWx3 BGR image of sample ``i`` (from the RAM cache when enabled).

        Raises:
            ImageError: the file cannot be decoded.
        """
        if self._cache is not None:
            im = self._cache[i]
            if im is None:
                raise ImageError(f"cannot read image {self.samples[i][0]}: failed to decode while caching")
            return im
        return imread(self.samples[i][0])

    def _note_corrupt(self, i: int, err: ImageError) -> None:
        path = self.samples[i][0]
        key = os.fspath(path)
        if key not in self._warned:
            self._warned.add(key)
            self.corrupt.append((path, str(err)))
            LOGGER.warning("skipping corrupt image: %s (another sample is used instead)", err)

    def transform(self, image: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 BGR -> float32 ``[3, imgsz, imgsz]`` (augmentation or the spec'd preprocessing)."""
        if self._transform is not None:
            return self._transform(image)
        return apply(image, self.preprocess, bgr=True, dtype=np.float32)[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        n = len(self.samples)
        if not -n <= i < n:
            raise IndexError(f"sample index {i} out of range for {n} samples")
        i %= n
        # a file that fails now (changed on disk, or decodes badly past the header check) is replaced by the
        # next one; after a full lap every file failed, which verify=True at scan time makes impossible
        for k in range(n):
            j = (i + k) % n
            try:
                image = self.load_image(j)
            except ImageError as e:
                self._note_corrupt(j, e)
                continue
            return torch.from_numpy(self.transform(image)), self.samples[j][1]
        raise DatasetError(f"no image under {self.root} could be decoded")

    def __repr__(self) -> str:
        return (f"ImageFolderDataset({self.root}, {len(self)} images, {len(self.names)} classes, "
                f"imgsz={self.imgsz}, augment={self.augment})")

    def class_counts(self) -> list[int]:
        """Number of usable images per class, index = label."""
        counts = [0] * len(self.names)
        for t in self.targets:
            counts[t] += 1
        return counts
