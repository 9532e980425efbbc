"""EfficientNet-B0..B3 baselines (Tan & Le, 2019) laid out exactly like torchvision's ``EfficientNet``.

Module names, nesting and tensor shapes equal torchvision's, so its ImageNet state_dicts (and the
``model.state_dict()`` of YOLOv5's ``efficientnet_b0.pt``) load with ``load_state_dict(strict=True)``:

- ``features.0``: stem ``[Conv 3x3 s2, BN, SiLU]`` (``features.0.0``, ``features.0.1``);
- ``features.1..7``: the 7 MBConv stages; block ``j`` of stage ``i`` is ``features.i.j.block.k`` with
  ``k`` = [expand 1x1 ``[conv, BN, SiLU]`` (absent when expand ratio is 1)], depthwise ``[conv, BN, SiLU]``,
  squeeze-excitation (``fc1``/``fc2``: 1x1 ``Conv2d`` with bias), project 1x1 ``[conv, BN]``;
- ``features.8``: head ``[Conv 1x1 to 4 x last channels, BN, SiLU]``;
- ``avgpool``, ``classifier.0`` (Dropout), ``classifier.1`` (Linear).

BatchNorm keeps PyTorch's defaults (eps 1e-5, momentum 0.1) as torchvision does for B0-B4 (it switches to
eps 1e-3 / momentum 0.01 only for B5-B7). torchvision itself is not a dependency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from yolocls.errors import InputError
from yolocls.models.base import ClassifierBase
from yolocls.models.registry import ModelEntry, register_model
from yolocls.spec.preprocess import PreprocessConfig

__all__ = [
    "EfficientNet",
    "MBConv",
    "SqueezeExcitation",
    "build_efficientnet",
    "drop_path",
    "identify_state_dict",
    "round_channels",
]


def round_channels(channels: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), bumped up one step if rounding lost > 10%.

    This is the rule of the reference TF implementation that torchvision follows; the scaled widths
    (and hence every tensor shape) depend on it.
    """
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth, per sample: zero whole rows of ``x[N, ...]`` with probability ``p`` and scale the
    survivors by ``1/(1-p)`` so the expectation is unchanged. Identity in eval mode or when ``p == 0``."""
    if not training or p == 0.0:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask.div_(keep) if keep > 0.0 else x * mask


class StochasticDepth(nn.Module):
    """Module form of :func:`drop_path` (no parameters; ``p`` is the drop probability)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def conv_bn_act(c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """``Sequential(Conv2d(no bias, same padding), BatchNorm2d[, SiLU])``: keys ``.0.weight`` and ``.1.*``."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention: ``x * sigmoid(fc2(silu(fc1(mean_hw(x)))))`` with 1x1-conv ``fc1``/``fc2`` (biased)."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class MBConv(nn.Module):
    """Inverted residual block: [expand 1x1], depthwise kxk, squeeze-excitation, project 1x1 (+ residual).

    The residual (with stochastic depth ``drop_prob``) is used when ``stride == 1`` and ``c_in == c_out``.
    """

    def __init__(self, c_in: int, c_out: int, expand_ratio: float, kernel: int, stride: int, drop_prob: float) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise InputError(f"MBConv stride must be 1 or 2, got {stride!r}")
        self.use_residual = stride == 1 and c_in == c_out
        hidden = round_channels(c_in * expand_ratio)
        layers: list[nn.Module] = []
        if hidden != c_in:
            layers.append(conv_bn_act(c_in, hidden, 1))
        layers.append(conv_bn_act(hidden, hidden, kernel, stride, groups=hidden))
        # the squeeze width follows the block's INPUT channels (c_in / 4), not the expanded width
        layers.append(SqueezeExcitation(hidden, max(1, c_in // 4)))
        layers.append(conv_bn_act(hidden, c_out, 1, act=False))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop_prob)
        self.out_channels = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        if self.use_residual:
            y = self.stochastic_depth(y) + x
        return y


@dataclass(frozen=True)
class StageSpec:
    """One row of the EfficientNet-B0 table: expand ratio, kernel, first stride, in/out channels, repeats."""

    expand_ratio: int
    kernel: int
    stride: int
    c_in: int
    c_out: int
    repeats: int


# EfficientNet-B0 (paper's Table 1); other sizes scale widths with round_channels and depths with ceil.
B0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 32, 16, 1),
    StageSpec(6, 3, 2, 16, 24, 2),
    StageSpec(6, 5, 2, 24, 40, 2),
    StageSpec(6, 3, 2, 40, 80, 3),
    StageSpec(6, 5, 1, 80, 112, 3),
    StageSpec(6, 5, 2, 112, 192, 4),
    StageSpec(6, 3, 1, 192, 320, 1),
)


class EfficientNet(ClassifierBase):
    """EfficientNet classifier: ``forward(x[N,3,H,W] float32) -> logits [N, num_classes]``.

    Args:
        width_mult: channel multiplier (B0 1.0, B1 1.0, B2 1.1, B3 1.2).
        depth_mult: block-count multiplier (B0 1.0, B1 1.1, B2 1.2, B3 1.4).
        num_classes: classifier outputs.
        dropout: dropout before the final Linear (B0/B1 0.2, B2/B3 0.3).
        stochastic_depth_prob: drop probability of the LAST block; block ``i`` of ``n`` uses ``p * i / n``.
        bn_eps, bn_momentum: BatchNorm settings (torchvision: defaults for B0-B4).
    """

    def __init__(
        self,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        num_classes: int = 1000,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if width_mult <= 0 or depth_mult <= 0:
            raise InputError(f"width_mult and depth_mult must be positive, got {width_mult!r}, {depth_mult!r}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        if not 0.0 <= stochastic_depth_prob < 1.0:
            raise InputError(f"stochastic_depth_prob must be in [0, 1), got {stochastic_depth_prob!r}")
        _check_num_classes(num_classes)

        stages = [
            StageSpec(
                s.expand_ratio,
                s.kernel,
                s.stride,
                round_channels(s.c_in * width_mult),
                round_channels(s.c_out * width_mult),
                int(math.ceil(s.repeats * depth_mult)),
            )
            for s in B0_STAGES
        ]
        total_blocks = sum(s.repeats for s in stages)
        features: list[nn.Module] = [conv_bn_act(3, stages[0].c_in, 3, stride=2)]
        block_id = 0
        for s in stages:
            blocks: list[nn.Module] = []
            for j in range(s.repeats):
                c_in, stride = (s.c_in, s.stride) if j == 0 else (s.c_out, 1)
                # deeper blocks are dropped more often: linear ramp from 0 to (almost) stochastic_depth_prob
                drop = stochastic_depth_prob * block_id / total_blocks
                blocks.append(MBConv(c_in, s.c_out, s.expand_ratio, s.kernel, stride, drop))
                block_id += 1
            features.append(nn.Sequential(*blocks))
        last = stages[-1].c_out
        self.num_features = 4 * last  # channels entering the classifier (1280 for B0)
        features.append(conv_bn_act(last, self.num_features, 1))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(self.num_features, num_classes))
        self._init_weights()
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps, m.momentum = bn_eps, bn_momentum

    def _init_weights(self) -> None:
        # torchvision's init: Kaiming-normal fan-out convs (gain sqrt(2)), zero conv biases, BN gamma=1 beta=0,
        # Linear uniform in +-1/sqrt(out_features) with zero bias
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                _init_linear(m)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x[N,3,H,W]`` -> feature map ``[N, num_features, H/32, W/32]``."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map -> raw logits ``[N, num_classes]`` (global average pool, dropout, Linear)."""
        return self.classifier(torch.flatten(self.avgpool(x), 1))

    def get_classifier(self) -> nn.Linear:
        head = self.classifier[1]
        assert isinstance(head, nn.Linear)
        return head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``classifier.1`` with a fresh ``Linear(num_features, num_classes)`` (torchvision's init)
        on the old layer's device and dtype; the dropout stays."""
        _check_num_classes(num_classes)
        old = self.get_classifier()
        new = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        _init_linear(new)
        self.classifier[1] = new


def _init_linear(m: nn.Linear) -> None:
    bound = 1.0 / math.sqrt(m.out_features)
    nn.init.uniform_(m.weight, -bound, bound)
    nn.init.zeros_(m.bias)


def _check_num_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")


def identify_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, int] | None:
    """Which registered EfficientNet a torchvision-layout state_dict belongs to: ``(name, num_classes)``, or ``None``.

    Matches the blocks per stage (``features.i.j``) and the head width (``features.8.0.weight``), which together
    tell B0..B3 apart (B1 and B2 share depth, not width); a strict load afterwards checks every shape.
    """
    head, fc = state_dict.get("features.8.0.weight"), state_dict.get("classifier.1.weight")
    if head is None or fc is None:
        return None
    repeats = [0] * len(B0_STAGES)
    for key in state_dict:
        parts = key.split(".")
        if len(parts) > 3 and parts[0] == "features" and parts[1].isdigit() and parts[2].isdigit():
            stage = int(parts[1])
            if 1 <= stage <= len(B0_STAGES):
                repeats[stage - 1] = max(repeats[stage - 1], int(parts[2]) + 1)
    for name, (w, d, _, _) in _SIZES.items():
        want = [int(math.ceil(s.repeats * d)) for s in B0_STAGES]
        if repeats == want and int(head.shape[0]) == 4 * round_channels(B0_STAGES[-1].c_out * w):
            return name, int(fc.shape[0])
    return None


def build_efficientnet(num_classes: int = 1000, **kwargs: Any) -> EfficientNet:
    """Registry builder: ``build_efficientnet(num_classes, width_mult=..., depth_mult=..., dropout=..., ...)``."""
    return EfficientNet(num_classes=num_classes, **kwargs)


# (width_mult, depth_mult, dropout) per size, as torchvision's efficientnet_b0..b3. Published numbers: ultralytics/
# yolov5 README (v7.0), "Classification Checkpoints" table (ImageNet-1k val at 224 px; batch-1 speeds on Colab Pro:
# ONNX Runtime FP32 CPU, TensorRT FP16 V100; YOLOv5's own FLOPs count at 224 px; 90 epochs on 4xA100 as h:mm).
# YOLOv5 trained all four at 224 px with its center-crop preprocessing (torchvision's B1-B3 weights used 240-300 px).
_SIZES: dict[str, tuple[float, float, float, dict[str, Any]]] = {
    "efficientnet_b0": (1.0, 1.0, 0.2, dict(top1=75.1, top5=92.4, params_m=5.3, flops_b=1.0, cpu_onnx_ms=12.5, v100_trt_ms=1.3, train_time="13:03")),
    "efficientnet_b1": (1.0, 1.1, 0.2, dict(top1=76.4, top5=93.2, params_m=7.8, flops_b=1.5, cpu_onnx_ms=14.9, v100_trt_ms=1.6, train_time="17:04")),
    "efficientnet_b2": (1.1, 1.2, 0.3, dict(top1=76.6, top5=93.4, params_m=9.1, flops_b=1.7, cpu_onnx_ms=15.9, v100_trt_ms=1.6, train_time="17:10")),
    "efficientnet_b3": (1.2, 1.4, 0.3, dict(top1=77.7, top5=94.0, params_m=12.2, flops_b=2.4, cpu_onnx_ms=18.9, v100_trt_ms=1.9, train_time="19:19")),
}  # fmt: skip

for _name, (_w, _d, _drop, _published) in _SIZES.items():
    register_model(
        ModelEntry(
            name=_name,
            family="efficientnet",
            builder=build_efficientnet,
            kwargs={"width_mult": _w, "depth_mult": _d, "dropout": _drop},
            preprocess=PreprocessConfig(imgsz=224, crop="center"),
            published={**_published, "imgsz": 224, "source": "ultralytics/yolov5 v7.0 README"},
        )
    )
