"""The built-in ``digits`` dataset: scikit-learn's 1797 real 8x8 handwritten digits as an ImageFolder tree.

The data ships inside scikit-learn (no download). It is written once as
``<root>/digits/{train,val}/{0..9}/<index>.png`` (8-bit grayscale PNG, values 0..16 scaled to 0..255) with a
deterministic stratified 80/20 split: within each class, in the order scikit-learn stores them, every fifth sample
goes to ``val`` (1442 train / 355 val). No random generator is involved, so the split is the same everywhere.

The tree is built in a temporary folder beside the target and renamed into place, so a killed process never leaves
a half-written dataset; a marker file with the expected counts tells a complete tree from anything else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from yolocls.errors import DatasetError

LOGGER = logging.getLogger(__name__)

NAME = "digits"
MARKER = ".yolocls-dataset.json"
_FORMAT_VERSION = 1
VAL_EVERY = 5  # every 5th sample of each class goes to val: a stratified 80/20 split


def datasets_dir() -> Path:
    """Where built-in datasets live: ``$YOLOCLS_DATASETS`` or ``~/.cache/yolocls/datasets``."""
    env = os.environ.get("YOLOCLS_DATASETS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "yolocls" / "datasets"


def digits_split() -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """(images uint8 [1797, 8, 8], labels int [1797], {"train": [...], "val": [...]}) sample indices."""
    from yolocls._extras import require

    require("train", "the `digits` data set", ("sklearn",))
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    labels = np.asarray(d.target, dtype=np.int64)
    split: dict[str, list[int]] = {"train": [], "val": []}
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        for k, i in enumerate(idx):
            split["val" if k % VAL_EVERY == VAL_EVERY - 1 else "train"].append(int(i))
    return images, labels, {k: sorted(v) for k, v in split.items()}


def _is_complete(tree: Path) -> bool:
    """A tree is reusable when its marker is ours and the PNG counts match it."""
    try:
        meta = json.loads((tree / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if meta.get("name") != NAME or meta.get("version") != _FORMAT_VERSION:
        return False
    counts = meta.get("counts", {})
    for split in ("train", "val"):
        n = sum(1 for _ in (tree / split).glob("*/*.png")) if (tree / split).is_dir() else 0
        if n != counts.get(split, -1):
            return False
    return True


def _write_tree(tmp: Path) -> dict[str, int]:
    from PIL import Image

    images, labels, split = digits_split()
    for name, indices in split.items():
        for c in range(10):
            (tmp / name / str(c)).mkdir(parents=True, exist_ok=True)
        for i in indices:
            Image.fromarray(images[i], mode="L").save(tmp / name / str(int(labels[i])) / f"{i:04d}.png")
    counts = {k: len(v) for k, v in split.items()}
    (tmp / MARKER).write_text(json.dumps({"name": NAME, "version": _FORMAT_VERSION, "counts": counts,
                                          "source": "sklearn.datasets.load_digits"}), encoding="utf-8")
    return counts


def materialize_digits(root: str | os.PathLike[str] | None = None) -> Path:
    """Write (once) and return the ``digits`` ImageFolder tree ``<root>/digits`` (has ``train/`` and ``val/``).

    Args:
        root: parent folder; default :func:`datasets_dir` (``$YOLOCLS_DATASETS`` or ``~/.cache/yolocls/datasets``).

    Returns:
        Path of the dataset root, containing ``train/{0..9}`` (1442 PNGs) and ``val/{0..9}`` (355 PNGs).

    Safe against a killed process (atomic rename) and against several processes (e.g. DDP ranks) doing it at
    once: the first complete tree wins, the others discard theirs. An incomplete tree left by older code is rebuilt.
    """
    from yolocls.utils.files import apply_umask

    base = Path(root).expanduser() if root is not None else datasets_dir()
    target = base / NAME
    if _is_complete(target):
        return target
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}.tmp-", dir=base))
    except OSError as e:
        raise DatasetError(f"cannot write the digits dataset under {base}: {e.strerror or e}; "
                           "set YOLOCLS_DATASETS to a writable folder") from None
    try:
        counts = _write_tree(tmp)
        apply_umask(tmp, folder=True)  # mkdtemp made it 0700: the dataset is as readable as a mkdir'd folder
        LOGGER.info("wrote the digits dataset to %s (%d train, %d val images)", target, counts["train"],
                    counts["val"])
        if target.exists() and not _is_complete(target):
            # a foreign or broken tree under our name: move it aside first so the rename below can succeed
            stale = Path(tempfile.mkdtemp(prefix=f".{NAME}.stale-", dir=base))
            with contextlib.suppress(OSError):
                os.replace(target, stale / NAME)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, target)  # atomic; fails if another process just put a complete tree there
        except OSError:
            if not _is_complete(target):
                raise
    except OSError as e:
        raise DatasetError(f"cannot write the digits dataset under {base}: {e.strerror or e}; "
                           "set YOLOCLS_DATASETS to a writable folder") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
