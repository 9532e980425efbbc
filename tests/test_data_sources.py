"""Prediction sources: single images, folders, globs, videos (whole and truncated), bad files skipped and counted."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolocls.data.sources import Frame, Source, iter_source
from yolocls.errors import InputError, YoloclsError

VIDEO_FRAMES = 12


def _write_video(path: Path, rng: np.random.Generator, n: int = VIDEO_FRAMES) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    frames = []
    for i in range(n):
        f = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        f[:8, :8] = i * 20  # a block whose grey level identifies the frame through JPEG loss
        writer.write(f)
        frames.append(f)
    writer.release()
    return frames


@pytest.fixture()
def media(tmp_path: Path, rng: np.random.Generator) -> Path:
    """<tmp>/m/: b.png (10x12), a.jpg (8x8), c.avi (12 frames), notes.txt, sub/d.png."""
    d = tmp_path / "m"
    (d / "sub").mkdir(parents=True)
    cv2.imwrite(str(d / "b.png"), rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    cv2.imwrite(str(d / "a.jpg"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    cv2.imwrite(str(d / "sub" / "d.png"), rng.integers(0, 256, (5, 5, 3), dtype=np.uint8))
    (d / "notes.txt").write_text("not media")
    _write_video(d / "c.avi", rng)
    return d


def test_single_image(photos_dir: Path) -> None:
    p = photos_dir / "camera.png"
    src = iter_source(p)
    frames = list(src)
    assert len(frames) == 1
    f = frames[0]
    assert isinstance(f, Frame) and f.name == str(p) and f.index == 0 and f.frame is None and f.path == p
    assert f.image.dtype == np.uint8 and f.image.shape == (512, 512, 3)
    assert src.stats.images == 1 and src.stats.num_skipped == 0 and src.stats.total == 1


def test_folder_sorted_with_video(media: Path) -> None:
    src = iter_source(media)
    assert [p.name for p in src.files] == ["a.jpg", "b.png", "c.avi"]  # sorted, .txt and sub/ ignored
    frames = list(src)
    assert [f.index for f in frames] == list(range(2 + VIDEO_FRAMES))
    assert frames[0].image.shape == (8, 8, 3) and frames[1].image.shape == (10, 12, 3)
    video = frames[2:]
    assert [f.name for f in video] == [f"{media / 'c.avi'}:{i}" for i in range(VIDEO_FRAMES)]
    assert [f.frame for f in video] == list(range(VIDEO_FRAMES))
    for i, f in enumerate(video):
        assert f.image.shape == (24, 32, 3) and f.image.dtype == np.uint8
        assert abs(float(f.image[2:6, 2:6].mean()) - i * 20) < 12  # frames come in order
    assert (src.stats.images, src.stats.videos, src.stats.frames, src.stats.total) == (2, 1, VIDEO_FRAMES, 14)
    assert not src.stats.truncated_videos


def test_recursive_and_list(media: Path) -> None:
    assert [p.name for p in iter_source(media, recursive=True).files] == ["a.jpg", "b.png", "c.avi", "d.png"]
    src = iter_source([media / "b.png", media / "a.jpg"])
    assert [f.name for f in src] == [str(media / "b.png"), str(media / "a.jpg")]


def test_glob(media: Path) -> None:
    assert [p.name for p in iter_source(str(media / "*.png")).files] == ["b.png"]
    assert [p.name for p in iter_source(str(media / "**" / "*.png")).files] == ["b.png", "d.png"]
    with pytest.raises(InputError, match="no images or videos match"):
        iter_source(str(media / "*.bmp"))


def test_missing_source_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as e:
        iter_source(tmp_path / "nope.jpg")
    assert isinstance(e.value, YoloclsError) and "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images or videos in folder"):
        iter_source(tmp_path / "empty")
    with pytest.raises(InputError):
        iter_source([])


def test_unreadable_images_skipped_and_counted(media: Path, caplog: pytest.LogCaptureFixture) -> None:
    (media / "bad.jpg").write_text("not an image")
    (media / "zero.png").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="yolocls"):
        src = iter_source(str(media / "*.*g"))
        names = [Path(f.name).name for f in src]
    assert names == ["a.jpg", "b.png"]
    assert src.stats.num_skipped == 2 and src.stats.images == 2
    assert sorted(Path(p).name for p, _ in src.stats.skipped) == ["bad.jpg", "zero.png"]
    assert sum("skipping" in r.getMessage() for r in caplog.records) == 2


def test_truncated_video_stops_cleanly(tmp_path: Path, rng: np.random.Generator,
                                       caplog: pytest.LogCaptureFixture) -> None:
    full = tmp_path / "v.avi"
    _write_video(full, rng)
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="yolocls"):
        src = iter_source(cut)
        frames = list(src)
    assert 0 < len(frames) < VIDEO_FRAMES
    assert src.stats.frames == len(frames) and src.stats.videos == 1
    assert src.stats.truncated_videos == [str(cut)]
    assert f"ended after {len(frames)} of {VIDEO_FRAMES}" in caplog.text
    for i, f in enumerate(frames[:-1]):  # the last one may be half-decoded; the earlier ones are intact
        assert abs(float(f.image[2:6, 2:6].mean()) - i * 20) < 12


def test_unreadable_video_skipped(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"garbage" * 100)
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((4, 4, 3), np.uint8))
    src = iter_source(tmp_path)
    frames = list(src)
    assert len(frames) == 1 and src.stats.images == 1 and src.stats.videos == 0
    assert src.stats.num_skipped == 1 and src.stats.skipped[0][0] == str(tmp_path / "junk.mp4")


def test_video_stride_and_iterator_protocol(media: Path) -> None:
    src = Source(media / "c.avi", video_stride=5)
    assert iter(src) is src and len(src) == 1
    first = next(src)
    assert first.frame == 0
    assert [f.frame for f in src] == [5, 10]
    with pytest.raises(InputError):
        Source(media, video_stride=0)


def test_unicode_and_space_names(tmp_path: Path, rng: np.random.Generator) -> None:
    d = tmp_path / "fotos de gatos ü"
    d.mkdir()
    img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    assert cv2.imencode(".png", img)[1].tofile(str(d / "gato número 1.png")) is None
    _write_video(d / "vídeo 1.avi", rng, n=3)
    src = iter_source(d)
    frames = list(src)
    assert [Path(f.path).name for f in frames] == ["gato número 1.png"] + ["vídeo 1.avi"] * 3
    assert np.array_equal(frames[0].image, img)
    assert src.stats.total == 4 and src.stats.num_skipped == 0
