"""Writing files under real hostile conditions (issue 10, findings 9-11).

Disk full is a real 64 KiB tmpfs, read-only is that tmpfs remounted ``ro`` (both need root and ``mount``; the tests
skip cleanly without them), a parent that is a file and a 300-character name need nothing. Killing ``yolocls export``
in its write window uses a real subprocess and a real signal (the window is widened by a sleep between two real
writes to the temp file).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from yolocls.errors import FileWriteError, YoloclsError
from yolocls.utils import files as F


def _mount(args: list[str]) -> bool:
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (ENOSPC beyond that); unmounted afterwards."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]):
        pytest.skip("mounting a tmpfs is not permitted here (needs root)")
    try:
        yield mnt
    finally:
        _mount(["-o", "remount,rw", str(mnt)])
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=20)


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp"))


def _app() -> Any:
    from yolocls.cli.app import app

    return app


def _one_line(args: list[str]) -> str:
    """The command's error line (exit 2); only progress-bar redraws (\\r) may come before it, no traceback."""
    r = CliRunner().invoke(_app(), args)
    err = r.stderr.strip()
    assert r.exit_code == 2, (r.exit_code, err[-3000:], r.exception)
    assert "Traceback" not in err and "\n" not in err, err
    line = err.split("\r")[-1].strip()
    assert line.startswith("yolocls: error:"), err
    return line


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    import yolocls
    from yolocls.models.checkpoint import save_checkpoint
    from yolocls.spec.preprocess import PreprocessConfig

    torch.manual_seed(0)
    m = yolocls.create_model("tiny-cls", num_classes=3)
    m.names = ["a", "b", "c"]
    m.preprocess = PreprocessConfig(imgsz=32)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", m)


def _export_args(ckpt: Path, out: Path) -> list[str]:
    return ["export", "--weights", str(ckpt), "--output", str(out), "--no-simplify", "--no-verify", "--imgsz", "32"]


# ------------------------------------------------------------------------------------------------- finding 9
def test_disk_full_keeps_the_old_file_and_names_the_path(small_fs: Path) -> None:
    target = small_fs / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(FileWriteError) as e:
        F.atomic_write_bytes(target, b"x" * 200_000)
    assert e.value.errno == errno.ENOSPC and str(target) in str(e.value) and "no space left" in str(e.value)
    assert ".tmp" not in str(e.value) and "\n" not in str(e.value)
    assert target.read_bytes() == b"old" and _temps(small_fs) == []


@pytest.mark.slow
def test_export_on_full_and_read_only_disks_is_one_line(small_fs: Path, checkpoint: Path) -> None:
    pytest.importorskip("onnx")
    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * 40_000)  # the export (~100 KB) cannot fit in what is left
    err = _one_line(_export_args(checkpoint, small_fs / "x.onnx"))
    assert "no space left on device" in err and str(small_fs / "x.onnx") in err
    assert not (small_fs / "x.onnx").exists() and _temps(small_fs) == []
    filler.unlink()
    if not _mount(["-o", "remount,ro", str(small_fs)]):
        pytest.skip("remounting read-only is not permitted here")
    err = _one_line(_export_args(checkpoint, small_fs / "x.onnx"))
    assert "read-only file system" in err and str(small_fs / "x.onnx") in err


@pytest.mark.slow
def test_parent_is_a_file_and_name_too_long(tmp_path: Path, checkpoint: Path) -> None:
    pytest.importorskip("onnx")
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = _one_line(_export_args(checkpoint, afile / "sub" / "x.onnx"))
    assert f"{afile} is a file, not a folder" in err
    err = _one_line(_export_args(checkpoint, tmp_path / ("n" * 300 + ".onnx")))
    assert "file name too long" in err and "255" in err
    # a 250-byte name is legal: its temp name must not make it fail
    F.atomic_write_text(tmp_path / ("m" * 250), "ok")
    assert (tmp_path / ("m" * 250)).read_text() == "ok" and _temps(tmp_path) == []


def test_target_is_a_folder_names_the_target_not_the_temp(tmp_path: Path) -> None:
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(FileWriteError, match="it is a folder") as e:
        F.atomic_write_bytes(tmp_path / "dir.onnx", b"x")
    assert str(tmp_path / "dir.onnx") in str(e.value) and ".tmp" not in str(e.value)


@pytest.mark.slow
def test_fresh_train_run_on_a_full_disk_leaves_no_run_folder(small_fs: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    os.environ.setdefault("YOLOCLS_DATASETS", str(tmp_path / "datasets"))
    project = small_fs / "runs"
    (project / "exp").mkdir(parents=True)  # an earlier run: this one would be exp2
    (small_fs / "filler").write_bytes(b"\0" * 56_000)
    err = _one_line(["train", "--model", "tiny-cls", "--data", "digits", "--epochs", "1", "--imgsz", "16",
                     "--batch-size", "256", "--workers", "0", "--no-plots", "--project", str(project),
                     "--device", "cpu"])
    assert "no space left on device" in err, err
    assert sorted(p.name for p in project.iterdir()) == ["exp"], list(project.rglob("*"))
    assert _temps(small_fs) == []


# ------------------------------------------------------------------------------------------------ finding 10
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temps_are_removed_by_the_next_writer_live_ones_kept(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getppid()
    stale_dead = tmp_path / f".model.onnx.{dead}.abcd_123.tmp"
    live_fresh = tmp_path / f".model.onnx.{live}.abcd_124.tmp"
    legacy_fresh = tmp_path / ".model.onnx.abcd_125.tmp"
    legacy_old = tmp_path / ".best.pt.abcd_126.tmp"
    live_old = tmp_path / f".last.pt.{live}.abcd_127.tmp"
    not_ours = tmp_path / ".model.onnx.swp"
    for p in (stale_dead, live_fresh, legacy_fresh, legacy_old, live_old, not_ours):
        p.write_bytes(b"x" * 100)
    old = time.time() - F.STALE_TEMP_SECONDS - 60
    for p in (legacy_old, live_old):
        os.utime(p, (old, old))
    code = f"from yolocls.utils.files import atomic_write_text; atomic_write_text({str(tmp_path / 'other.txt')!r}, 'x')"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # any writer, in a new process
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {live_fresh.name, legacy_fresh.name, not_ours.name, "other.txt"}, left


_SLOW_EXPORT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import yolocls.utils.files as F

    marker = Path(sys.argv[1])

    def slow_write_bytes(path, data):  # the real atomic writer, with its write window held open
        with F.atomic_open(path, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            marker.touch()
            time.sleep(120)
            f.write(data[len(data) // 2 :])

    F.atomic_write_bytes = slow_write_bytes
    from yolocls.cli.app import main
    sys.argv = ["yolocls", *sys.argv[2:]]
    main()
""")


def _start_slow_export(ckpt: Path, out: Path, marker: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_EXPORT, str(marker), *_export_args(ckpt, out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    t0 = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() - t0 > 120:
            proc.kill()
            raise AssertionError(f"export never reached its write window: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
    return proc


@pytest.mark.slow
def test_export_sigterm_in_the_write_window_removes_the_temp(tmp_path: Path, checkpoint: Path) -> None:
    pytest.importorskip("onnx")
    out = tmp_path / "out" / "m.onnx"
    proc = _start_slow_export(checkpoint, out, tmp_path / "ready")
    assert len(_temps(out.parent)) == 1
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (proc.returncode, err[-2000:])
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("yolocls")]
    assert lines == ["yolocls: terminated (SIGTERM); nothing partial was left behind"], err[-2000:]
    assert "Traceback" not in err
    assert _temps(out.parent) == [] and not out.exists()


@pytest.mark.slow
def test_export_sigkill_temp_is_cleaned_by_the_next_run(tmp_path: Path, checkpoint: Path) -> None:
    pytest.importorskip("onnx")
    out = tmp_path / "out" / "m.onnx"
    proc = _start_slow_export(checkpoint, out, tmp_path / "ready")
    proc.kill()  # SIGKILL: no handler runs, the temp stays behind
    proc.communicate(timeout=60)
    assert len(_temps(out.parent)) == 1
    r = CliRunner().invoke(_app(), _export_args(checkpoint, out))
    assert r.exit_code == 0, (r.stderr[-2000:], r.exception)
    assert out.is_file() and _temps(out.parent) == []


# ------------------------------------------------------------------------------------------------ finding 11
def test_errors_from_the_callers_own_code_pass_unchanged(tmp_path: Path) -> None:
    """Only OS errors of the temp file are renamed to the target: the caller's own OSError stays itself."""
    with pytest.raises(FileNotFoundError), F.atomic_open(tmp_path / "x.bin") as f:
        f.write(b"x")
        open(tmp_path / "missing.bin", "rb")  # noqa: SIM115 - the caller's own failing open
    assert _temps(tmp_path) == [] and not (tmp_path / "x.bin").exists()


def test_file_write_error_is_a_user_error_and_an_oserror() -> None:
    e = F.write_error(OSError(errno.EROFS, "Read-only file system"), "/x/y.onnx")
    assert isinstance(e, YoloclsError) and isinstance(e, OSError) and e.errno == errno.EROFS
    assert str(e) == "cannot write /x/y.onnx: read-only file system; write somewhere else"
