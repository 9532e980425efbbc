"""A tiny dataset of real photographs for training tests: 3 classes (cat, coffee, rocket), random crops of the
sample photos (conftest's ``photos_dir``: scikit-image's), written as an ImageFolder tree. Seeded: the same files
every time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = {"cat": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg"}


def make_photo_dataset(root: Path, photos: Path, n_train: int = 20, n_val: int = 5, size: int = 96,
                       seed: int = 0) -> Path:
    """``root/{train,val}/{cat,coffee,rocket}/*.jpg``: ``n_train``/``n_val`` crops per class (30-90 % of the
    photo's shorter side, anywhere in it, half of them mirrored), resized to ``size`` px. Returns ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, file in CLASSES.items():
        photo = Image.open(photos / file).convert("RGB")
        w, h = photo.size
        for split, n in (("train", n_train), ("val", n_val)):
            out = root / split / name
            out.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                side = int(min(w, h) * rng.uniform(0.3, 0.9))
                x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
                crop = photo.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.BILINEAR)
                if rng.random() < 0.5:
                    crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                crop.save(out / f"{i:03d}.jpg", quality=90)
    return root
