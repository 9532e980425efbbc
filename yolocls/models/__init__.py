"""Model zoo: YOLOv5-cls sizes, ResNet and EfficientNet baselines, a tiny test variant; checkpoint I/O.

Needs torch (the ``train`` extra): importing it without torch raises ExtraMissingError (an ImportError) naming the
extra, not a bare ModuleNotFoundError from deep inside.
"""

from yolocls._extras import require

require("train", "yolocls.models", ("torch",))

from yolocls.models.checkpoint import load_model, model_from_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402
from yolocls.models.flops import model_info  # noqa: E402
from yolocls.models.registry import create_model, get_entry, list_models  # noqa: E402

__all__ = [
    "create_model",
    "get_entry",
    "list_models",
    "load_model",
    "model_from_checkpoint",
    "model_info",
    "read_checkpoint",
    "save_checkpoint",
]
