"""ResNet-18/34/50/101 baselines (He et al., 2015) laid out exactly like torchvision's ``ResNet``.

Module names, nesting and tensor shapes equal torchvision's, so a torchvision ImageNet state_dict (or the
``model.state_dict()`` of a YOLOv5 ``resnet50.pt``) loads with ``load_state_dict(strict=True)``:
``conv1, bn1, relu, maxpool, layer1..layer4[i].{conv1,bn1,conv2,bn2[,conv3,bn3],downsample.0/.1}, avgpool, fc``.
Weight init also follows torchvision (Kaiming-normal fan-out convs, BN gamma=1 beta=0, default Linear init).
torchvision itself is not a dependency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from yolocls.errors import InputError
from yolocls.models.base import ClassifierBase
from yolocls.models.registry import ModelEntry, register_model
from yolocls.spec.preprocess import PreprocessConfig

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "build_resnet", "identify_state_dict"]


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Conv2d:
    # "same" padding for odd kernels; no bias because a BatchNorm always follows
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual (ResNet-18/34). Output channels = ``planes``."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        # stride sits on the first 3x3 (torchvision's choice, also used by its weights)
        self.conv1 = _conv(c_in, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def residual_bn(self) -> nn.BatchNorm2d:
        """The last BN of the residual branch (zeroed by ``zero_init_residual``)."""
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a residual (ResNet-50/101). Output channels = ``4 * planes``."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.conv1 = _conv(c_in, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        # stride on the 3x3, not the first 1x1 ("ResNet v1.5", what torchvision's weights were trained with)
        self.conv2 = _conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv(planes, c_out, 1)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def residual_bn(self) -> nn.BatchNorm2d:
        """The last BN of the residual branch (zeroed by ``zero_init_residual``)."""
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


_BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(ClassifierBase):
    """ResNet classifier: ``forward(x[N,3,H,W] float32) -> logits [N, num_classes]``.

    Args:
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50/101/152).
        layers: number of blocks in each of the 4 stages, e.g. ``(3, 4, 6, 3)``.
        num_classes: classifier outputs.
        dropout: dropout before ``fc`` (torchvision has none, hence 0.0; it has no parameters, so
            state_dict keys do not change).
        zero_init_residual: start each residual branch at zero (last BN gamma = 0), as torchvision's option.
    Any input size works (global average pooling); the feature map has stride 32.
    """

    def __init__(
        self,
        block: str = "basic",
        layers: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 1000,
        dropout: float = 0.0,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if block not in _BLOCKS:
            raise InputError(f"ResNet block must be one of {', '.join(_BLOCKS)}, got {block!r}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise InputError(f"ResNet layers must be 4 positive block counts, got {list(layers)!r}")
        _check_num_classes(num_classes)
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        block_cls = _BLOCKS[block]

        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        n1, n2, n3, n4 = (int(n) for n in layers)
        self.layer1, c = _make_stage(block_cls, 64, 64, n1, stride=1)  # stride 1: the maxpool already halved
        self.layer2, c = _make_stage(block_cls, c, 128, n2, stride=2)
        self.layer3, c = _make_stage(block_cls, c, 256, n3, stride=2)
        self.layer4, c = _make_stage(block_cls, c, 512, n4, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.drop = nn.Dropout(p=dropout)
        self.fc = nn.Linear(c, num_classes)
        self.num_features = c  # channels entering the classifier
        _init_weights(self, zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x[N,3,H,W]`` -> feature map ``[N, 512*expansion, H/32, W/32]``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map -> raw logits ``[N, num_classes]`` (global average pool, dropout, fc)."""
        return self.fc(self.drop(torch.flatten(self.avgpool(x), 1)))

    def get_classifier(self) -> nn.Linear:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` with a fresh ``Linear(num_features, num_classes)`` (PyTorch's default init,
        as torchvision's ResNet) on the old layer's device and dtype."""
        _check_num_classes(num_classes)
        old = self.fc
        self.fc = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)


def _make_stage(
    block_cls: type[BasicBlock] | type[Bottleneck], c_in: int, planes: int, n: int, stride: int
) -> tuple[nn.Sequential, int]:
    c_out = planes * block_cls.expansion
    downsample = None
    if stride != 1 or c_in != c_out:
        # projection shortcut: keys downsample.0 (1x1 conv) and downsample.1 (BN), as torchvision
        downsample = nn.Sequential(_conv(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))
    blocks: list[nn.Module] = [block_cls(c_in, planes, stride, downsample)]
    blocks += [block_cls(c_out, planes) for _ in range(n - 1)]
    return nn.Sequential(*blocks), c_out


def _init_weights(model: nn.Module, zero_init_residual: bool) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                nn.init.zeros_(m.residual_bn().weight)


def _check_num_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")


def identify_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, int] | None:
    """Which registered ResNet a torchvision-layout state_dict belongs to: ``(name, num_classes)``, or ``None``.

    Reads only key names and the ``fc`` shape (block type from ``conv3``, depth from the block indices), so
    a checkpoint importer can pick the size before ``create_model(name, num_classes)`` + a strict load
    (which then checks every shape).
    """
    if "conv1.weight" not in state_dict or "fc.weight" not in state_dict:
        return None
    block = "bottleneck" if "layer1.0.conv3.weight" in state_dict else "basic"
    depth = [0, 0, 0, 0]
    for key in state_dict:
        head, _, rest = key.partition(".")
        if head in ("layer1", "layer2", "layer3", "layer4") and rest.split(".", 1)[0].isdigit():
            i = int(head[-1]) - 1
            depth[i] = max(depth[i], int(rest.split(".", 1)[0]) + 1)
    for name, (b, layers, _) in _SIZES.items():
        if b == block and tuple(depth) == layers:
            return name, int(state_dict["fc.weight"].shape[0])
    return None


def build_resnet(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """Registry builder: ``build_resnet(num_classes, block=..., layers=..., dropout=..., zero_init_residual=...)``."""
    return ResNet(num_classes=num_classes, **kwargs)


# Published numbers: ultralytics/yolov5 README (v7.0), "Classification Checkpoints" table. Accuracy is ImageNet-1k
# val at 224 px; speeds are batch 1 on Colab Pro (ONNX Runtime FP32 CPU, TensorRT FP16 V100); FLOPs are YOLOv5's
# own count at 224 px. Training time is 90 epochs on 4xA100, as h:mm.
_SIZES: dict[str, tuple[str, tuple[int, int, int, int], dict[str, Any]]] = {
    "resnet18": ("basic", (2, 2, 2, 2), dict(top1=70.3, top5=89.5, params_m=11.7, flops_b=3.7, cpu_onnx_ms=11.2, v100_trt_ms=0.5, train_time="6:47")),
    "resnet34": ("basic", (3, 4, 6, 3), dict(top1=73.9, top5=91.8, params_m=21.8, flops_b=7.4, cpu_onnx_ms=20.6, v100_trt_ms=0.9, train_time="8:33")),
    "resnet50": ("bottleneck", (3, 4, 6, 3), dict(top1=76.8, top5=93.4, params_m=25.6, flops_b=8.5, cpu_onnx_ms=23.4, v100_trt_ms=1.0, train_time="11:10")),
    "resnet101": ("bottleneck", (3, 4, 23, 3), dict(top1=78.5, top5=94.3, params_m=44.5, flops_b=15.9, cpu_onnx_ms=42.1, v100_trt_ms=1.9, train_time="17:10")),
}  # fmt: skip

for _name, (_block, _layers, _published) in _SIZES.items():
    register_model(
        ModelEntry(
            name=_name,
            family="resnet",
            builder=build_resnet,
            kwargs={"block": _block, "layers": _layers},
            preprocess=PreprocessConfig(imgsz=224, crop="center"),
            published={**_published, "imgsz": 224, "source": "ultralytics/yolov5 v7.0 README"},
        )
    )
