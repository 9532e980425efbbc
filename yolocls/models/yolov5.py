"""YOLOv5-cls (v7.0): the detection backbone layers 0..8 plus the Classify head, sizes n/s/m/l/x.

``self.model`` is an ``nn.Sequential`` of exactly YOLOv5's layers, so state_dict keys match official
checkpoints (``model.0.conv.weight`` ... ``model.9.linear.bias``) and weights load without renaming.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from yolocls.models.base import ClassifierBase
from yolocls.models.layers import C3, Classify, Conv, fuse_model
from yolocls.models.registry import ModelEntry, register_model
from yolocls.spec.preprocess import PreprocessConfig

# YOLOv5 v7.0 backbone (models/yolov5*.yaml, layers 0..8; SPPF at 9 is replaced by Classify):
# (block, repeats, out_channels, kernel, stride)
BACKBONE: tuple[tuple[str, int, int, int, int], ...] = (
    ("Conv", 1, 64, 6, 2),  # 0-P1/2 (padding 2)
    ("Conv", 1, 128, 3, 2),  # 1-P2/4
    ("C3", 3, 128, 1, 1),  # 2
    ("Conv", 1, 256, 3, 2),  # 3-P3/8
    ("C3", 6, 256, 1, 1),  # 4
    ("Conv", 1, 512, 3, 2),  # 5-P4/16
    ("C3", 9, 512, 1, 1),  # 6
    ("Conv", 1, 1024, 3, 2),  # 7-P5/32
    ("C3", 3, 1024, 1, 1),  # 8
)
HEAD_HIDDEN = 1280  # YOLOv5's Classify width (EfficientNet-B0's)


def make_divisible(x: float, divisor: int = 8) -> int:
    """YOLOv5's width rule: ceil(x / divisor) * divisor."""
    return int(math.ceil(x / divisor) * divisor)


def scale_depth(n: int, depth_multiple: float) -> int:
    """YOLOv5's depth rule: max(round(n * d), 1) for repeated blocks."""
    return max(round(n * depth_multiple), 1) if n > 1 else n


class YOLOv5ClassificationModel(ClassifierBase):
    """YOLOv5-cls classifier. ``forward(x[N,3,H,W] float32) -> logits [N, num_classes]`` (raw, no softmax).

    Args:
        num_classes: classifier outputs.
        depth_multiple, width_multiple: YOLOv5 size multiples (n 0.33/0.25 ... x 1.33/1.25).
        head_hidden: width of the head's 1x1 Conv (1280 in YOLOv5; small for the tiny test model).
        dropout: dropout probability before the Linear layer.
        width_divisor: channel rounding of the width rule (8 in YOLOv5; smaller for tiny models).
        in_channels: input image channels.
    """

    stride = 32  # total downsampling of the backbone (input sizes should be multiples of it)

    def __init__(
        self,
        num_classes: int = 1000,
        depth_multiple: float = 1.0,
        width_multiple: float = 1.0,
        head_hidden: int = HEAD_HIDDEN,
        dropout: float = 0.0,
        width_divisor: int = 8,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c1 = in_channels
        for block, n, c, k, s in BACKBONE:
            c2 = make_divisible(c * width_multiple, width_divisor)
            if block == "Conv":
                layers.append(Conv(c1, c2, k, s, p=2 if k == 6 else None))
            else:
                layers.append(C3(c1, c2, scale_depth(n, depth_multiple)))
            c1 = c2
        layers.append(Classify(c1, num_classes, hidden=head_hidden, dropout=dropout))
        self.model = nn.Sequential(*layers)
        self.feature_channels = c1

    @property
    def head(self) -> Classify:
        return self.model[-1]  # type: ignore[return-value]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """x[N,3,H,W] -> feature map [N, C, H/32, W/32] (output of backbone layer 8)."""
        for i in range(len(self.model) - 1):
            x = self.model[i](x)
        return x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map -> raw logits [N, num_classes]."""
        return self.head(x)

    def get_classifier(self) -> nn.Linear:
        return self.head.linear

    def reset_classifier(self, num_classes: int) -> None:
        """New randomly initialised Linear of ``num_classes`` outputs; names reset to "0".."n-1" if their count differs."""
        old = self.head.linear
        self.head.linear = nn.Linear(old.in_features, num_classes).to(device=old.weight.device, dtype=old.weight.dtype)
        if len(self.names) != num_classes:
            self.names = [str(i) for i in range(num_classes)]

    def fuse(self) -> YOLOv5ClassificationModel:
        """Fold every BatchNorm into its conv (inference/export speed). Changes state_dict keys; eval mode only."""
        fuse_model(self)
        return self


def _entry(size: str, depth: float, width: float, published: dict[str, Any]) -> ModelEntry:
    return ModelEntry(
        name=f"yolov5{size}-cls",
        family="yolov5",
        builder=YOLOv5ClassificationModel,
        kwargs={"depth_multiple": depth, "width_multiple": width},
        preprocess=PreprocessConfig(imgsz=224, crop="center"),
        published={
            **published,
            "imgsz": 224,
            "source": "ultralytics/yolov5 v7.0 README classification table (ImageNet, 90 epochs)",
        },
    )


# One row per size: depth/width multiples, then the README's numbers. params_m / flops_b are the README's
# (flops_b is YOLOv5's own 32-px-scaled thop count, see flops.py); cpu_onnx_ms: ONNX Runtime FP32 on a
# Colab Pro CPU; v100_trt_ms: TensorRT FP16 on a V100; both batch 1 at 224 px.
_PUBLISHED_KEYS = ("top1", "top5", "cpu_onnx_ms", "v100_trt_ms", "params_m", "flops_b")
_SIZES = (
    # size, depth, width, top1, top5, cpu_onnx_ms, v100_trt_ms, params_m, flops_b
    ("n", 0.33, 0.25, 64.6, 85.4, 3.3, 0.5, 2.5, 0.5),
    ("s", 0.33, 0.50, 71.5, 90.2, 6.6, 0.6, 5.4, 1.4),
    ("m", 0.67, 0.75, 75.9, 92.9, 15.5, 0.9, 12.9, 3.9),
    ("l", 1.0, 1.0, 78.0, 94.0, 26.9, 1.4, 26.5, 8.5),
    ("x", 1.33, 1.25, 79.0, 94.4, 54.3, 1.8, 48.1, 15.9),
)

for _size, _d, _w, *_numbers in _SIZES:
    register_model(_entry(_size, _d, _w, dict(zip(_PUBLISHED_KEYS, _numbers, strict=True))))
