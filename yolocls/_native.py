"""Friendly access to the compiled extension ``yolocls._C`` (optional: the package works without it).

Owner: the C++ runtime work. ``available()`` says whether the extension imported; ``preprocess`` wraps
``_C.preprocess`` with a :class:`~yolocls.data.preprocess.PreprocessConfig`.
"""

from __future__ import annotations

from typing import Any

_C: Any = None
_IMPORT_ERROR: str | None = None


def _load() -> Any:
    global _C, _IMPORT_ERROR
    if _C is None and _IMPORT_ERROR is None:
        try:
            from yolocls import _C as ext  # type: ignore[attr-defined]

            _C = ext
        except ImportError as e:
            _IMPORT_ERROR = str(e)
    return _C


def available() -> bool:
    return _load() is not None


def preprocess(images: Any, cfg: Any, bgr: bool = True) -> Any:  # replaced by the C++ runtime work
    raise NotImplementedError
