"""Prediction sources: one image, a folder, a glob pattern, a video file, or a list of those -> decoded frames.

Unreadable images and videos are skipped with a warning and counted in :class:`SourceStats`; a video that ends
early (truncated file) stops cleanly after the frames that could be read. A source that does not exist, or that
matches no image or video, raises :class:`yolocls.errors.InputError` before anything is decoded.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yolocls.data.io import ImageError, imread, is_image_file, is_video_file
from yolocls.errors import InputError

LOGGER = logging.getLogger(__name__)

_GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Frame:
    """One decoded image.

    Attributes:
        name: the file path for an image, ``"<video path>:<frame number>"`` for a video frame.
        index: position in the whole source (0, 1, 2, ... over every yielded frame).
        image: uint8 ``[H, W, 3]`` BGR.
        path: the file it came from.
        frame: frame number inside the video (0-based), None for an image.
    """

    name: str
    index: int
    image: np.ndarray
    path: Path
    frame: int | None = None


@dataclass
class SourceStats:
    """What an iteration met so far. ``skipped`` lists ``(path, reason)`` of unreadable files."""

    images: int = 0
    videos: int = 0
    frames: int = 0  # video frames yielded
    skipped: list[tuple[str, str]] = field(default_factory=list)
    truncated_videos: list[str] = field(default_factory=list)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    @property
    def total(self) -> int:
        """Frames yielded (images + video frames)."""
        return self.images + self.frames


def _expand_one(src: str | os.PathLike[str], recursive: bool) -> list[Path]:
    s = os.fspath(src)
    p = Path(s).expanduser()
    if p.is_dir():
        it = p.rglob("*") if recursive else p.iterdir()
        files = sorted(f for f in it if f.is_file() and not f.name.startswith(".")
                       and (is_image_file(f) or is_video_file(f)))
        if not files:
            raise InputError(f"no images or videos in folder {s}; supported: .jpg, .png, ... and .mp4, .avi, ...")
        return files
    if p.is_file():
        return [p]  # an explicit file is tried whatever its extension
    if any(c in s for c in _GLOB_CHARS):
        files = sorted(Path(f) for f in glob.glob(os.path.expanduser(s), recursive=True)
                       if os.path.isfile(f) and (is_image_file(f) or is_video_file(f)))
        if not files:
            raise InputError(f"no images or videos match {s!r}; check the pattern (quote it so the shell "
                             "does not expand it)")
        return files
    raise InputError(f"source {s} not found: pass an image, a video, a folder or a glob pattern like 'dir/*.jpg'")


class Source:
    """Iterator of :class:`Frame` over images, folders, globs and videos; ``stats`` counts what was read/skipped.

    Args:
        source: an image or video file, a folder (its images and videos, sorted by name), a glob pattern
            (``**`` allowed), or a list of those.
        recursive: also read sub-folders of folder sources.
        video_stride: keep every n-th video frame (1 = all).

    Raises:
        InputError: at construction, when a source does not exist or matches nothing.
    """

    def __init__(self, source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], recursive: bool = False,
                 video_stride: int = 1) -> None:
        if video_stride < 1:
            raise InputError(f"video stride must be >= 1, got {video_stride}")
        sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
        if not sources:
            raise InputError("no source given: pass an image, a video, a folder or a glob pattern")
        self.files: list[Path] = [f for s in sources for f in _expand_one(s, recursive)]
        self.video_stride = video_stride
        self.stats = SourceStats()
        self._it = self._generate()

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        return next(self._it)

    def __len__(self) -> int:
        """Number of files (a video counts once, whatever its frame count)."""
        return len(self.files)

    def _skip(self, path: Path, reason: str) -> None:
        self.stats.skipped.append((os.fspath(path), reason))
        # in_stats: callers (the CLI) print stats.skipped themselves, so their log handler can drop this record
        LOGGER.warning("skipping %s", reason, extra={"in_stats": True})

    def _generate(self) -> Iterator[Frame]:
        index = 0
        for path in self.files:
            if is_video_file(path):
                for frame in self._read_video(path, index):
                    index += 1
                    yield frame
                continue
            try:
                image = imread(path)
            except ImageError as e:
                self._skip(path, str(e))
                continue
            self.stats.images += 1
            yield Frame(os.fspath(path), index, image, path, None)
            index += 1

    def _read_video(self, path: Path, start_index: int) -> Iterator[Frame]:
        from yolocls._extras import require

        require("video", f"reading the video {path.name}", ("cv2",))
        import cv2

        cap = cv2.VideoCapture(os.fspath(path))
        try:
            if not cap.isOpened():
                self._skip(path, f"cannot open video {path}: unsupported codec or not a video")
                return
            declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.stats.videos += 1
            n_read = 0
            index = start_index
            while True:
                ok, image = cap.read()
                if not ok or image is None:
                    break
                n_read += 1
                frame_no = n_read - 1
                if frame_no % self.video_stride:
                    continue
                if image.ndim == 2:
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                elif image.shape[2] == 4:
                    image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
                self.stats.frames += 1
                yield Frame(f"{os.fspath(path)}:{frame_no}", index, image, path, frame_no)
                index += 1
            if n_read == 0:
                self.stats.videos -= 1
                self._skip(path, f"cannot read video {path}: no decodable frames")
            elif declared > 0 and n_read < declared:
                self.stats.truncated_videos.append(os.fspath(path))
                LOGGER.warning("video %s ended after %d of %d frames (truncated file?)", path, n_read, declared)
        finally:
            cap.release()


def iter_source(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], recursive: bool = False,
                video_stride: int = 1) -> Source:
    """Frames of an image / folder / glob / video source (see :class:`Source`); ``.stats`` has the counts.

    Example::

        src = iter_source("images/")
        for frame in src:
            print(frame.name, frame.image.shape)   # uint8 HxWx3 BGR
        print(src.stats.images, src.stats.num_skipped)
    """
    return Source(source, recursive=recursive, video_stride=video_stride)
