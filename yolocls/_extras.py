"""Which pip extra brings which optional library, and the one check every command and API entry point uses.

``pip install yolocls`` is the deployment runtime (NumPy, Pillow, typer, rich, tqdm). Everything else is an extra
(pyproject.toml ``[project.optional-dependencies]``); :func:`require` turns a missing one into
:class:`~yolocls.errors.ExtraMissingError`, which the CLI prints as one line with exit code 2::

    yolocls: error: `yolocls train` needs the [train] extra (torch not installed): pip install 'yolocls[train]'

Checks use ``importlib.util.find_spec``: nothing is imported, so a check costs microseconds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from yolocls.errors import ExtraMissingError

#: extra -> the import names of what it installs (pyproject.toml must agree; tests check that it does)
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "matplotlib", "sklearn", "cv2"),
    "export": ("onnx", "onnxsim", "onnxconverter_common", "onnxruntime"),
    "openvino": ("openvino",),
    "onnxruntime": ("onnxruntime",),
    "video": ("cv2",),
}


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (found on the path), without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package that fails to import, or a module without __spec__
        return False


def missing_modules(extra: str, modules: Sequence[str] | None = None) -> list[str]:
    """The modules of ``extra`` (or the given subset of them) that are not installed."""
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    return [m for m in (EXTRAS[extra] if modules is None else modules) if not has_module(m)]


def install_hint(extra: str) -> str:
    return f"pip install 'yolocls[{extra}]'"


def require(extra: str, feature: str, modules: Sequence[str] | None = None, hint: str = "") -> None:
    """Raise :class:`ExtraMissingError` when ``feature`` cannot run because ``extra`` is not installed.

    Args:
        extra: the pip extra that brings what is missing (a key of :data:`EXTRAS`).
        feature: what the user asked for, as they would name it (`` `yolocls train` ``, ``yolocls.create_model()``).
        modules: the modules this feature really imports (default: all of the extra's).
        hint: appended to the message (e.g. the torch-free command that does the same job).
    """
    missing = missing_modules(extra, modules)
    if missing:
        more = f"; {hint}" if hint else ""
        raise ExtraMissingError(f"{feature} needs the [{extra}] extra ({', '.join(missing)} not installed): "
                                f"{install_hint(extra)}{more}")
