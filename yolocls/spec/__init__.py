"""The spec: what a model expects of its input, in one leaf package that imports nothing of yolocls but the errors.

* :mod:`yolocls.spec.preprocess` - :class:`PreprocessConfig`, the crop/channel-order enums, the NumPy reference
  (the definition) and :func:`apply` (the C++ kernel when built, else the reference): what every caller uses.
* :mod:`yolocls.spec.metadata` - the model metadata reader (ONNX, engines, checkpoints).
"""

from __future__ import annotations

# --- preprocessing (yolocls/spec/preprocess.py) ---------------------------------------------------------------
from yolocls.spec.preprocess import (
    CHANNEL_ORDERS,
    CROP_MODES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LETTERBOX_PAD,
    ChannelOrder,
    Crop,
    PreprocessConfig,
    apply,
    crop_box,
    letterbox_size,
    parse_channel_order,
    parse_crop,
    parse_enum,
    preprocess_with,
    reference,
    resize_bilinear,
    resize_to_canvas,
)

__all__ = [
    "CHANNEL_ORDERS", "CROP_MODES", "IMAGENET_MEAN", "IMAGENET_STD", "LETTERBOX_PAD", "ChannelOrder", "Crop",
    "PreprocessConfig", "apply", "crop_box", "letterbox_size", "parse_channel_order", "parse_crop", "parse_enum",
    "preprocess_with", "reference", "resize_bilinear", "resize_to_canvas",
]  # not the function `preprocess` (the reference with keyword settings): that name is the module here

# --- metadata (yolocls/spec/metadata.py; owned by the metadata work: add its imports and names below) -------------
from yolocls.spec.metadata import (  # noqa: E402 - after the preprocessing block on purpose (one edit per owner)
    METADATA_KEY,
    BatchProfile,
    EngineFacts,
    ModelInfo,
    ModelMetadata,
    class_names,
    metadata_from_checkpoint,
    parse_trt_version,
    read_model_info,
    read_sidecar,
)

__all__ += [
    "METADATA_KEY", "BatchProfile", "EngineFacts", "ModelInfo", "ModelMetadata", "class_names",
    "metadata_from_checkpoint", "parse_trt_version", "read_model_info", "read_sidecar",
]
