"""yolocls: YOLOv5-style image classifiers from training to low-latency edge deployment.

Heavy libraries (torch, onnx, openvino) are imported lazily so that ``import yolocls`` and the CLI's
``--help`` stay fast.
"""

from __future__ import annotations

from typing import Any

from yolocls._lazy import lazy_exports
from yolocls._version import __version__ as __version__

# `import yolocls; yolocls.runtime.load(...)`: the subpackages are imported on first attribute access (none of them
# at `import yolocls`; yolocls.models and yolocls.engine import torch when reached).
__getattr__, __dir__, __all__ = lazy_exports(
    __name__, {},
    submodules=("benchmark", "data", "engine", "errors", "export", "metadata", "models", "runtime", "spec", "utils"),
    eager=("__version__", "create_model", "list_models", "load_model"))


def _models(api: str) -> Any:
    """``yolocls.models`` (it needs torch: a missing [train] extra is one ExtraMissingError naming ``api``)."""
    from yolocls._extras import require

    require("train", f"yolocls.{api}()", ("torch",))
    import yolocls.models

    return yolocls.models


def create_model(name: str, num_classes: int = 1000, **kwargs: Any) -> Any:
    """Build a zoo model with random weights (see :func:`yolocls.models.create_model`)."""
    return _models("create_model").create_model(name, num_classes=num_classes, **kwargs)


def list_models(family: str | None = None) -> list[str]:
    """Names of the zoo models, optionally of one family (``yolov5``, ``resnet``, ``efficientnet``, ``tiny``)."""
    return list(_models("list_models").list_models(family))


def load_model(path: str, device: str = "cpu") -> Any:
    """Load a yolocls checkpoint or an official YOLOv5 ``*-cls.pt`` as an eval-mode module with ``.names``."""
    return _models("load_model").load_model(path, device=device)
