"""Model zoo: YOLOv5-cls sizes, ResNet and EfficientNet baselines, a tiny test variant; checkpoint I/O."""

from yolocls.models.checkpoint import load_model, model_from_checkpoint, read_checkpoint, save_checkpoint
from yolocls.models.flops import model_info
from yolocls.models.registry import create_model, get_entry, list_models

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
