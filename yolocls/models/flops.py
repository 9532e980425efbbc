"""Parameter and FLOPs counting with forward hooks (no thop dependency).

Two numbers, because they differ and both get quoted:

* ``gflops`` -- YOLOv5's own figure (the README's "FLOPs@224"): 2 x thop-style MACs of the BN-fused model at a
  32x32 input, scaled by (imgsz/32)^2. It counts what thop counts (BatchNorm, pooling, LeakyReLU, ...) and, because
  the whole count is scaled, it over-counts the Linear layer and the global pool by (imgsz/32)^2.
* ``gflops_true`` -- 2 x MACs of every Conv and Linear at the real input size (what the hardware actually does,
  ignoring element-wise ops).

Counting runs on a deep copy; the caller's model is never modified.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

_Rule = Callable[[Any, torch.Tensor, torch.Tensor], float]


def _prod(xs: Any) -> float:
    return float(math.prod(int(v) for v in xs))


# --- thop 0.1.1's rules, re-expressed (MACs per call, batch included) --------------------------------------------
def _thop_conv(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    # thop: output numel * (in_channels // groups) * prod(kernel); the bias is not counted
    return y.numel() * (x.shape[1] // m.groups) * _prod(m.weight.shape[2:])


def _thop_norm(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    flops = 2.0 * x.numel()
    if getattr(m, "affine", False) or getattr(m, "elementwise_affine", False):
        flops *= 2
    return flops


def _thop_zero(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    return 0.0


def _thop_numel_in(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(x.numel())


def _thop_prelu(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    return 0.0 if m.training else float(x.numel())


def _thop_softmax(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    nf = x.shape[m.dim if m.dim is not None else -1]
    return float((x.numel() // nf) * (3 * nf - 1))


def _thop_avgpool(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(y.numel())


def _thop_adaptive_avgpool(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    kernel = _prod(x.shape[2:]) / _prod(y.shape[2:])
    return float(int((kernel + 1) * y.numel()))


def _thop_linear(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(m.in_features * y.numel())


def _thop_upsample(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    per = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}.get(m.mode, 0)
    return float(y.numel() * per)


# Exact types first (like thop); subclasses (e.g. a "same"-padded Conv2d) fall back to the nearest base below.
THOP_RULES: dict[type[nn.Module], _Rule] = {
    nn.Conv1d: _thop_conv,
    nn.Conv2d: _thop_conv,
    nn.Conv3d: _thop_conv,
    nn.ConvTranspose1d: _thop_conv,
    nn.ConvTranspose2d: _thop_conv,
    nn.ConvTranspose3d: _thop_conv,
    nn.BatchNorm1d: _thop_norm,
    nn.BatchNorm2d: _thop_norm,
    nn.BatchNorm3d: _thop_norm,
    nn.SyncBatchNorm: _thop_norm,
    nn.LayerNorm: _thop_norm,
    nn.GroupNorm: _thop_norm,
    nn.InstanceNorm1d: _thop_norm,
    nn.InstanceNorm2d: _thop_norm,
    nn.InstanceNorm3d: _thop_norm,
    nn.ReLU: _thop_zero,
    nn.ReLU6: _thop_zero,
    nn.LeakyReLU: _thop_numel_in,
    nn.PReLU: _thop_prelu,
    nn.Softmax: _thop_softmax,
    nn.MaxPool1d: _thop_zero,
    nn.MaxPool2d: _thop_zero,
    nn.MaxPool3d: _thop_zero,
    nn.AdaptiveMaxPool1d: _thop_zero,
    nn.AdaptiveMaxPool2d: _thop_zero,
    nn.AdaptiveMaxPool3d: _thop_zero,
    nn.AvgPool1d: _thop_avgpool,
    nn.AvgPool2d: _thop_avgpool,
    nn.AvgPool3d: _thop_avgpool,
    nn.AdaptiveAvgPool1d: _thop_adaptive_avgpool,
    nn.AdaptiveAvgPool2d: _thop_adaptive_avgpool,
    nn.AdaptiveAvgPool3d: _thop_adaptive_avgpool,
    nn.Linear: _thop_linear,
    nn.Dropout: _thop_zero,
    nn.Upsample: _thop_upsample,
}
# Modules thop has no rule for (SiLU, Sigmoid, Hardswish, Identity, ...) count zero, as in thop.


def _true_macs(m: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return x.numel() * (m.out_channels // m.groups) * _prod(m.kernel_size)
    if isinstance(m, nn.modules.conv._ConvNd):
        return y.numel() * (m.in_channels // m.groups) * _prod(m.kernel_size)
    if isinstance(m, nn.Linear):
        return float(m.in_features * y.numel())
    return 0.0


def _thop_rule(m: nn.Module) -> _Rule | None:
    rule = THOP_RULES.get(type(m))
    if rule is None:
        for base in type(m).__mro__[1:]:
            if base in THOP_RULES:
                return THOP_RULES[base]
    return rule


def count_macs(model: nn.Module, x: torch.Tensor, style: str = "true") -> float:
    """Multiply-accumulates of one forward pass of ``model`` on ``x`` (batch included).

    style ``"thop"``: thop 0.1.1's per-layer rules; ``"true"``: Conv/ConvTranspose/Linear MACs only.
    Every call of a module is counted (a shared module used twice counts twice). Runs under no_grad.
    """
    total = [0.0]
    hooks = []

    def add(rule: _Rule) -> Callable[..., None]:
        def hook(m: nn.Module, inp: tuple[Any, ...], out: Any) -> None:
            if inp and isinstance(inp[0], torch.Tensor) and isinstance(out, torch.Tensor):
                total[0] += rule(m, inp[0], out)

        return hook

    if style not in ("thop", "true"):
        raise ValueError(f"style must be 'thop' or 'true', got {style!r}")
    for m in model.modules():
        if style == "thop":
            rule = _thop_rule(m)
        else:
            rule = _true_macs if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) else None
        if rule is not None:
            hooks.append(m.register_forward_hook(add(rule)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def _input_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return int(m.in_channels)
    return 3


def model_info(model: nn.Module, imgsz: int = 224, fuse: bool = True) -> dict[str, Any]:
    """Size and cost of a classifier (any ``nn.Module`` taking ``[1, C, H, W]``).

    Returns:
        ``params`` (int, all parameters), ``trainable_params`` (int), ``gflops`` (float, YOLOv5/README style:
        2 x thop MACs of the BN-fused model at 32x32 (or the model's stride if larger) x (imgsz/32)^2),
        ``gflops_true`` (float, 2 x Conv+Linear MACs at imgsz x imgsz), ``imgsz`` (int).
        GFLOPs are 1e9 floating-point operations for one image.
    Args:
        fuse: call ``model.fuse()`` (on the copy) before the YOLOv5-style count when the model has one,
            as YOLOv5 does; models without ``fuse`` are counted with their BatchNorms (thop's rule).
    """
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    m = copy.deepcopy(model).eval()
    p = next(m.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    c = _input_channels(m)
    stride_attr = getattr(m, "stride", 32)  # YOLOv5 models keep a tensor of strides, ours an int
    if isinstance(stride_attr, torch.Tensor):
        stride_attr = stride_attr.max().item() if stride_attr.numel() else 32
    stride = max(int(stride_attr or 32), 32)
    true_macs = count_macs(m, torch.zeros(1, c, imgsz, imgsz, device=device, dtype=dtype), style="true")
    fuse_fn = getattr(m, "fuse", None)
    if fuse and callable(fuse_fn):
        fuse_fn()
    thop_macs = count_macs(m, torch.zeros(1, c, stride, stride, device=device, dtype=dtype), style="thop")
    return {
        "params": int(params),
        "trainable_params": int(trainable),
        "gflops": thop_macs * 2 / 1e9 * (imgsz / stride) ** 2,
        "gflops_true": true_macs * 2 / 1e9,
        "imgsz": int(imgsz),
    }
