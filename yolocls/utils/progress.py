"""Progress for loops: tqdm bars on a terminal, plain lines elsewhere (CI logs, ``| tee``, files).

A bar redrawn with carriage returns piles up into one enormous line when stderr is not a terminal, so there each
loop prints at most one line per :data:`LINE_INTERVAL` seconds (a long epoch still shows it is alive), and the
caller prints its own one-line summary when the loop ends.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

#: Seconds between two plain progress lines of one loop when stderr is not a terminal.
LINE_INTERVAL = 60.0


def is_terminal(stream: Any = None) -> bool:
    """Whether ``stream`` (default stderr, where the bars go) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class PlainProgress:
    """tqdm's little interface used here (iterate, ``update``, ``set_postfix_str``, ``close``) as plain lines."""

    def __init__(self, iterable: Iterable[Any] | None, total: int | None, desc: str,
                 interval: float = LINE_INTERVAL) -> None:
        self.iterable, self.total, self.desc, self.interval = iterable, total, desc, float(interval)
        self.n = 0
        self.postfix = ""
        self._last = time.monotonic()

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None
        for item in self.iterable:
            yield item
            self.update(1)

    def __len__(self) -> int:
        return int(self.total or 0)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.interval and (self.total is None or self.n < self.total):
            self._last = now
            total = f"/{self.total}" if self.total else ""
            extra = f", {self.postfix}" if self.postfix else ""
            print(f"  {self.desc}: {self.n}{total} batches{extra}", file=sys.stderr, flush=True)

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s

    def close(self) -> None:
        pass


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "") -> Any:
    """A tqdm bar when stderr is a terminal, else :class:`PlainProgress` (``YOLOCLS_PROGRESS=lines|bars`` forces
    one)."""
    forced = os.environ.get("YOLOCLS_PROGRESS", "").strip().lower()
    if forced == "lines" or (forced != "bars" and not is_terminal()):
        return PlainProgress(iterable, total, desc)
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=0.5)
