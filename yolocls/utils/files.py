"""Crash-safe file writing: write a temp file in the same folder, fsync, then rename over the target.

Temp files are named ``.<name>.<pid>.<random>.tmp`` beside the target. A writer killed in its write window leaves
one behind (never a partial target: the rename is what publishes a write); the next atomic write into that
folder (any command, once per folder per process) removes those that are stale by :func:`remove_stale_temps`'
rule: the writer pid in the name is not a live process on this machine, or the file has not been modified for
:data:`STALE_TEMP_SECONDS` (a pid reused by another process, temp names without a pid from older versions).

The temp file is created private (``mkstemp``: mode 0600) and given the mode a plain ``open()`` would have given
(0666 minus the umask: 0644 under umask 022) before it is renamed into place, so a Triton container, a teammate or a
web server can read what yolocls writes as readily as any other file; folders made with ``mkdtemp`` get
0777 minus the umask the same way (:func:`apply_umask`).

Operating-system errors while writing (disk full, read-only file system, a name too long, a parent that is a
file, no permission) become :class:`~yolocls.errors.FileWriteError`: one line naming the path the caller asked
for (not the temp file) and what to do about it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from yolocls.errors import FileWriteError

#: A temp file whose writer pid is alive but that has not changed for this long is taken as abandoned.
STALE_TEMP_SECONDS = 3600
_TEMP_RE = re.compile(r"^\..+?\.(?:(\d{1,10})\.)?[A-Za-z0-9_]{8}\.tmp$")
_swept: set[str] = set()
#: errnos that are the user's situation (not a yolocls bug): the CLI prints them as one line, exit 2
USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR,
                         errno.EACCES, errno.EPERM, errno.EFBIG, errno.ELOOP})
_MAX_TEMP_STEM = 200  # bytes of the target name kept in its temp name (255 - room for .<pid>.<random>.tmp)


def describe_os_error(e: OSError, path: str | os.PathLike[str], action: str = "write") -> str:
    """One line for an ``OSError`` met while writing ``path``: what happened, to which path, and the fix."""
    p = os.fspath(path)
    code = e.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on device" if code == errno.ENOSPC else "disk quota exceeded"
        return f"cannot {action} {p}: {what}; free some space or write somewhere else"
    if code == errno.EROFS:
        return f"cannot {action} {p}: read-only file system; write somewhere else"
    if code == errno.ENAMETOOLONG:
        longest = max((len(part) for part in Path(p).parts), default=0)
        return (f"cannot {action} {p[:80]}{'...' if len(p) > 80 else ''}: file name too long (a part of "
                f"{longest} characters; most file systems allow 255); choose a shorter name")
    if code in (errno.ENOTDIR, errno.EEXIST):
        parent = next((q for q in (Path(p), *Path(p).parents) if _exists(q)), None)
        if parent is not None and not parent.is_dir():
            return f"cannot {action} {p}: {parent} is a file, not a folder; choose another path"
    if code == errno.EISDIR:
        return f"cannot {action} {p}: it is a folder; give a file path"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot {action} {p}: permission denied; check the folder's permissions or write somewhere else"
    reason = e.strerror or type(e).__name__
    return f"cannot {action} {p}: {reason}"


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:
        return False


def write_error(e: OSError, path: str | os.PathLike[str], action: str = "write") -> FileWriteError:
    """The :class:`FileWriteError` for ``e`` (keeps its errno and names ``path``)."""
    return FileWriteError(e.errno or 0, describe_os_error(e, path, action), os.fspath(path))


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``/proc/self/status``); elsewhere by
    setting and restoring it (a tiny window in which another thread's new file would get mode bits from 0)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike[str] | int, folder: bool = False) -> None:
    """Give ``path`` (or an open file descriptor) the mode a plain ``open()``/``mkdir()`` would have given it:
    0666 (0777 for a folder) minus the umask. ``mkstemp``/``mkdtemp`` create 0600/0700 whatever the umask."""
    mode = (0o777 if folder else 0o666) & ~current_umask()
    if isinstance(path, int):
        os.fchmod(path, mode)
    else:
        os.chmod(path, mode)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's process), or cannot tell: keep the file
    return True


def remove_stale_temps(folder: str | os.PathLike[str], now: float | None = None) -> list[Path]:
    """Delete the abandoned temp files of atomic writes in ``folder``; returns the removed paths.

    Only names of our own pattern ``.<name>[.<pid>].<8 chars>.tmp`` that are regular files are considered, and
    only those whose pid is not a live process on this machine, or that were last modified over
    :data:`STALE_TEMP_SECONDS` ago. A live writer's temp file is never touched. Errors are ignored (best effort).
    """
    removed: list[Path] = []
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False):
                continue
            pid = int(m.group(1)) if m.group(1) else 0
            stale = now - st.st_mtime > STALE_TEMP_SECONDS or (pid > 0 and pid != os.getpid() and not _pid_alive(pid))
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _sweep_once(folder: Path) -> None:
    key = os.fspath(folder.resolve()) if folder.exists() else os.fspath(folder)
    if key not in _swept:
        _swept.add(key)
        remove_stale_temps(folder)


def _ensure_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        is_dir = path.is_dir()
    except OSError as e:  # is_dir() raises ENAMETOOLONG itself
        raise write_error(e, path) from None
    if is_dir:
        raise write_error(IsADirectoryError(errno.EISDIR, "Is a directory"), path)


class _RecordingFile:
    """The temp file, remembering the OSError of a failed write: torch.save turns ENOSPC into a RuntimeError."""

    def __init__(self, f: IO[Any]) -> None:
        self._f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._f)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on clean exit it is fsynced and renamed onto ``path``.

    A crash (or exception) at any point leaves either the old file or the new one, never a partial file.

    Raises:
        FileWriteError: the OS refused the write (disk full, read-only, name too long, parent is a file, no
            permission); the message names ``path``. Errors raised by the caller's own code pass unchanged.
    """
    path = Path(path)
    _ensure_parent(path)
    _sweep_once(path.parent)
    stem = path.name
    if len(stem.encode()) > _MAX_TEMP_STEM:  # a legal 255-byte name must not fail only for the temp's suffix
        stem = stem.encode()[:_MAX_TEMP_STEM].decode("utf-8", "ignore")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(e, path) from None
    try:
        apply_umask(fd)  # mkstemp's 0600 -> what open() would give (0644 under umask 022)
    except OSError:
        pass  # a file system without modes (some FUSE/SMB mounts): keep what it gave
    try:
        with os.fdopen(fd, mode, **kwargs) as raw:
            f = _RecordingFile(raw)
            try:
                yield f  # type: ignore[misc]
            except OSError as e:
                # a write to our temp file (no filename, or the temp's) is ours to name; others are the caller's
                if (e is f.error or e.filename in (None, tmp)) and not isinstance(e, FileWriteError):
                    raise write_error(e, path) from None
                raise
            except Exception:
                if f.error is not None:  # the caller's library wrapped our write error into its own
                    raise write_error(f.error, path) from None
                raise
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                raise write_error(e, path) from None
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise write_error(e, path) from None
        with contextlib.suppress(OSError):  # make the rename durable
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def make_run_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder ``path`` (and its parents) for a run's outputs; FileWriteError naming it on failure."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(e, p, "create the folder") from None
    return p


def remove_if_empty(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and the folders inside it when they hold no files (a run that failed before writing)."""
    p = Path(path)
    if not p.is_dir():
        return
    for sub in sorted((q for q in p.rglob("*") if q.is_dir()), key=lambda q: len(q.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        p.rmdir()


def increment_path(path: str | os.PathLike[str], exist_ok: bool = False) -> Path:
    """runs/train/exp -> runs/train/exp2, exp3, ... (YOLOv5's convention) unless ``exist_ok``."""
    path = Path(path)
    if exist_ok or not path.exists():
        return path
    n = 2
    while Path(f"{path}{n}").exists():
        n += 1
    return Path(f"{path}{n}")
