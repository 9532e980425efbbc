"""YOLOv5 v7.0 building blocks: Conv, Bottleneck, C3, Classify (same structure and state_dict names).

YOLOv5 builds its BatchNorms with PyTorch defaults and then ``initialize_weights`` sets eps=1e-3 and
momentum=0.03 on every BatchNorm of the *detection* model; the classification head is appended after that,
so its BatchNorm keeps eps=1e-5, momentum=0.1. We make those values explicit constructor arguments so the
same numbers come out without a post-hoc pass.
"""

from __future__ import annotations

import torch
from torch import nn

BN_EPS = 1e-3  # YOLOv5 initialize_weights()
BN_MOMENTUM = 0.03
HEAD_BN_EPS = 1e-5  # PyTorch defaults, kept by YOLOv5's Classify head
HEAD_BN_MOMENTUM = 0.1


def autopad(k: int, p: int | None = None, d: int = 1) -> int:
    """'same' padding for an odd kernel (k=6, s=2 -> 2 as in YOLOv5's stem)."""
    if d > 1:
        k = d * (k - 1) + 1
    return k // 2 if p is None else p


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Fold an eval-mode BatchNorm into the preceding Conv2d: returns a new Conv2d with bias.

    y = gamma * (W x + b - mean) / sqrt(var + eps) + beta  ==  (s W) x + (beta + s (b - mean)), s = gamma/sqrt(var+eps).
    Computed in float64 then cast back, so fused and unfused agree to float32 rounding.
    """
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    w = conv.weight.double()
    mean = bn.running_mean.double() if bn.running_mean is not None else torch.zeros_like(w[:, 0, 0, 0])
    var = bn.running_var.double() if bn.running_var is not None else torch.ones_like(w[:, 0, 0, 0])
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(mean)
    s = gamma / torch.sqrt(var + bn.eps)
    b = conv.bias.double() if conv.bias is not None else torch.zeros_like(mean)
    fused.weight.copy_((w * s.reshape(-1, 1, 1, 1)).to(fused.weight.dtype))
    fused.bias.copy_((beta + s * (b - mean)).to(fused.bias.dtype))  # type: ignore[union-attr]
    fused.weight.requires_grad_(conv.weight.requires_grad)
    return fused


class Conv(nn.Module):
    """Conv2d(no bias) -> BatchNorm2d -> SiLU.  x[N,c1,H,W] -> [N,c2,H/s,W/s]."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 1,
        s: int = 1,
        p: int | None = None,
        g: int = 1,
        d: int = 1,
        act: bool = True,
        bn_eps: float = BN_EPS,
        bn_momentum: float = BN_MOMENTUM,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c2, eps=bn_eps, momentum=bn_momentum)
        self.act: nn.Module = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @property
    def is_fused(self) -> bool:
        return not isinstance(self.bn, nn.BatchNorm2d)

    def fuse(self) -> Conv:
        """Fold the BatchNorm into the conv (inference only). state_dict loses ``bn.*`` and gains ``conv.bias``."""
        if not self.is_fused:
            self.conv = fuse_conv_bn(self.conv, self.bn)  # type: ignore[arg-type]
            self.bn = nn.Identity()
        return self


class Bottleneck(nn.Module):
    """1x1 Conv to c2*e channels, 3x3 Conv back to c2, residual add when shapes allow."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_, c2, 3, 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block: two 1x1 branches of c2*e channels, n Bottlenecks on the first, concat, 1x1 to c2."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class Classify(nn.Module):
    """YOLOv5 head: Conv 1x1 to ``hidden`` -> global average pool -> flatten -> Dropout -> Linear.

    x[N,c1,H,W] -> raw logits [N,c2]. ``hidden`` is 1280 in YOLOv5 (EfficientNet-B0's width).
    """

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, hidden: int = 1280, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = Conv(c1, hidden, k, s, bn_eps=HEAD_BN_EPS, bn_momentum=HEAD_BN_MOMENTUM)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=dropout)  # YOLOv5 uses inplace=True; out-of-place is the same maths, export-safe
        self.linear = nn.Linear(hidden, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))


def fuse_model(model: nn.Module) -> nn.Module:
    """Fuse every :class:`Conv` of ``model`` in place (call on an eval-mode model); returns ``model``."""
    for m in model.modules():
        if isinstance(m, Conv):
            m.fuse()
    return model
