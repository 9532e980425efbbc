"""Friendly access to the compiled extension ``yolocls._C`` (optional: the package works without it).

``available()`` says whether the extension imported; ``preprocess`` runs the C++ kernel with the settings of the
spec's :class:`~yolocls.spec.preprocess.PreprocessConfig` and returns exactly what the NumPy reference returns (to
1e-5). :func:`native_config` is the one conversion of that config to the extension's ``_C.PreprocessConfig`` (what
``_C.preprocess``, ``_C.Preprocessor`` and ``_C.Runtime`` take). Typed code imports ``_C`` itself after
:func:`load_extension` so that mypy checks each use against the generated stub ``yolocls/_C.pyi``.
Errors from the extension come back as yolocls errors: bad arrays -> :class:`~yolocls.errors.InputError`
(a ValueError), a component this build lacks -> :class:`~yolocls.errors.BackendUnavailableError`.

The CPU kernel picks its x86 code path when the library loads: AVX2+FMA when the CPU has it (else the portable
path ARM and old x86 run), F16C for float16 output. ``YOLOCLS_NO_AVX2=1`` / ``YOLOCLS_NO_F16C=1`` in the environment
before the import force the portable paths (tests compare both; results agree to 2e-6).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from yolocls.errors import BackendUnavailableError, InputError

if TYPE_CHECKING:  # the generated stub yolocls/_C.pyi types every use of the extension below
    from yolocls import _C as _CStub

_C: ModuleType | None = None
_IMPORT_ERROR: str | None = None


class SpecConfig(Protocol):
    """What :func:`native_config` reads: the spec's ``PreprocessConfig`` (its enums are ``str`` subclasses)."""

    @property
    def imgsz(self) -> int: ...
    @property
    def crop(self) -> str: ...
    @property
    def mean(self) -> Sequence[float]: ...
    @property
    def std(self) -> Sequence[float]: ...
    @property
    def scale(self) -> float: ...
    @property
    def channel_order(self) -> str: ...
    @property
    def pad_value(self) -> int: ...


def _load() -> ModuleType | None:
    global _C, _IMPORT_ERROR
    if _C is None and _IMPORT_ERROR is None:
        try:
            # _C links no inference engine: OpenVINO and TensorRT are modules it loads on first use (backend_status).
            from yolocls import _C as ext

            _C = ext
        except ImportError as e:
            _IMPORT_ERROR = str(e)
    return _C


def available() -> bool:
    """True when the compiled extension ``yolocls._C`` imports."""
    return _load() is not None


def load_extension() -> ModuleType:
    """The ``yolocls._C`` module, or :class:`BackendUnavailableError` with the reason and the fix.

    Typed code imports it after this check (``from yolocls import _C``) so that the stub types its uses.
    """
    ext = _load()
    if ext is None:
        raise BackendUnavailableError(
            f"the yolocls C++ extension is not built ({_IMPORT_ERROR}); reinstall with `pip install -e .` "
            "(needs cmake and a C++17 compiler)"
        )
    return ext


def build_info() -> dict[str, Any]:
    """What the extension contains: ``{"available", "version", "cuda", "openvino", "tensorrt", "*_version", ...}``."""
    if _load() is None:
        return {"available": False, "error": _IMPORT_ERROR, "cuda": False, "openvino": False, "tensorrt": False}
    from yolocls import _C as ext

    return {"available": True, **ext.build_info()}


def backend_status(name: str) -> dict[str, Any]:
    """Whether the extension's ``name`` backend module ("openvino", "tensorrt") was built and loads here.

    ``{"built": bool, "loadable": bool, "version": str | None, "error": str | None, ...}``; the first call loads the
    module (and its engine library), so it costs what the first use of that backend would.
    """
    if _load() is None:
        return {"name": name, "built": False, "loadable": False, "version": None,
                "error": f"the yolocls C++ extension is not built ({_IMPORT_ERROR})"}
    from yolocls import _C as ext

    return dict(ext.backend_status(name))


@contextlib.contextmanager
def native_errors() -> Iterator[None]:
    """Turn the extension's exceptions into yolocls errors (one-line messages kept)."""
    ext = _load()
    try:
        yield
    except BaseException as e:
        if ext is not None and isinstance(e, ext.InvalidArgument):
            raise InputError(str(e)) from None
        if ext is not None and isinstance(e, ext.Unavailable):
            raise BackendUnavailableError(str(e)) from None
        raise


def native_config(cfg: SpecConfig) -> _CStub.PreprocessConfig:
    """The one conversion from the spec's ``PreprocessConfig`` to the extension's (``_C.PreprocessConfig``).

    Enum values travel by their spec names and are parsed by the C++ library; a bad value is an InputError.
    """
    load_extension()
    from yolocls import _C

    with native_errors():
        return _C.PreprocessConfig(imgsz=int(cfg.imgsz), crop=_C.Crop(str(cfg.crop)), mean=_three(cfg.mean),
                                   std=_three(cfg.std), scale=float(cfg.scale),
                                   channel_order=_C.ChannelOrder(str(cfg.channel_order)), pad_value=int(cfg.pad_value))


def native_dtype(dtype: Any) -> _CStub.DType:
    """``np.float32``/``np.float16`` (anything ``np.dtype`` takes) as ``_C.DType``; other dtypes are an InputError."""
    load_extension()
    from yolocls import _C

    with native_errors():
        return _C.DType(np.dtype(dtype).name)


def _three(v: Sequence[float]) -> tuple[float, float, float]:
    if len(v) != 3:
        raise InputError(f"mean and std need 3 values each (one per channel), got {len(v)}")
    return float(v[0]), float(v[1]), float(v[2])


def preprocess(images: np.ndarray | Sequence[np.ndarray], cfg: SpecConfig, bgr: bool = True, dtype: Any = np.float32,
               out: np.ndarray | None = None) -> np.ndarray:
    """The spec'd preprocessing in C++ (single thread, GIL released).

    Args:
        images: one uint8 HxWx3 array (BGR when ``bgr``, else RGB; any row stride) or a list of them.
        cfg: the spec's ``PreprocessConfig`` (imgsz, crop, mean, std, scale, pad, channel order).
        dtype: ``np.float32`` or ``np.float16``.
        out: optional C-contiguous ``[N, 3, imgsz, imgsz]`` array of ``dtype`` to fill.
    Returns:
        ``[N, 3, imgsz, imgsz]`` array of ``dtype`` (``out`` when given).
    """
    config, dt = native_config(cfg), native_dtype(dtype)
    from yolocls import _C

    if isinstance(images, (list, tuple)):
        images = list(images)
    with native_errors():
        return _C.preprocess(images, config, bgr, dt, out)
