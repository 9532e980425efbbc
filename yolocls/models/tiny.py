"""``tiny-cls``: a YOLOv5-cls of a few thousand parameters, in the real registry, so tests train and export in seconds.

Same layer types, depth rule and state_dict layout as the real sizes; only the width (channels 4/4/4/8/16 via
width 1/64 rounded to multiples of 4) and the head width (32 instead of 1280) are shrunk. ~5.3k parameters at
10 classes. Works at any input of 32 px or more (stride 32).
"""

from __future__ import annotations

from yolocls.models.registry import ModelEntry, register_model
from yolocls.models.yolov5 import YOLOv5ClassificationModel
from yolocls.spec.preprocess import PreprocessConfig

TINY_KWARGS = {"depth_multiple": 0.33, "width_multiple": 1 / 64, "width_divisor": 4, "head_hidden": 32}

register_model(
    ModelEntry(
        name="tiny-cls",
        family="tiny",
        builder=YOLOv5ClassificationModel,
        kwargs=dict(TINY_KWARGS),
        preprocess=PreprocessConfig(imgsz=224, crop="center"),
        published={"note": "test-only model; not trained, no published numbers"},
    )
)
