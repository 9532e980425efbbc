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


#: module -> the distributions that may provide it (first installed one wins)
VERSION_OF: dict[str, tuple[str, ...]] = {
    "torch": ("torch",), "onnx": ("onnx",), "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "openvino": ("openvino",), "cv2": ("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
    "numpy": ("numpy",), "PIL": ("pillow",), "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu13"),
    "cuda-python": ("cuda-python", "cuda-bindings"), "pycuda": ("pycuda",),
}


def installed_version(module: str) -> str | None:
    """``module``'s version from the installed package metadata (it is not imported: torch and onnx stay out of
    ``sys.modules``); "installed" for a module without metadata (e.g. JetPack's apt-installed tensorrt); None when
    absent. tensorrt-stubs' bare folder does not count as TensorRT."""
    from importlib import metadata

    for d in VERSION_OF.get(module, (module,)):
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    if module == "tensorrt":
        from yolocls.runtime.tensorrt_python import tensorrt_available

        return "installed" if tensorrt_available() else None
    return "installed" if has_module(module) else None
