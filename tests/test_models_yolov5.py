"""YOLOv5-cls family: exact sizes, YOLOv5 state_dict layout, BN settings, fuse(), FLOPs, and the tiny variant."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from yolocls.models import create_model, get_entry, list_models
from yolocls.models.flops import count_macs, model_info
from yolocls.models.layers import C3, Classify, Conv, fuse_conv_bn
from yolocls.models.yolov5 import YOLOv5ClassificationModel, make_divisible, scale_depth

SIZES = "nsmlx"
PARAMS = {"n": 2_493_000, "s": 5_453_480, "m": 12_957_640, "l": 26_552_680, "x": 48_097_160}
GFLOPS_README = {"n": 0.5, "s": 1.4, "m": 3.9, "l": 8.5, "x": 15.9}
GFLOPS_TRUE = {"n": 0.357, "s": 1.271, "m": 3.755, "l": 8.371, "x": 15.794}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: one thread each


def _meta_model(size: str, **kw) -> YOLOv5ClassificationModel:
    # Shapes only (no memory, no init): building yolov5x-cls for real costs seconds on 2 cores.
    with torch.device("meta"):
        return create_model(f"yolov5{size}-cls", **kw)


def _calibrated(model: nn.Module, imgsz: int, seed: int = 0) -> nn.Module:
    """Give BatchNorms non-trivial statistics (random-init models output ~the head bias otherwise)."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 1.0
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
        model(torch.randn(4, 3, imgsz, imgsz, generator=g))
    return model.eval()


def test_width_and_depth_rules():
    assert [make_divisible(64 * w) for w in (0.25, 0.5, 0.75, 1.0, 1.25)] == [16, 32, 48, 64, 80]
    assert make_divisible(1024 * 0.33) == 344  # ceil, not round
    assert [scale_depth(9, d) for d in (0.33, 0.67, 1.0, 1.33)] == [3, 6, 9, 12]
    assert scale_depth(3, 0.01) == 1 and scale_depth(1, 1.33) == 1


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.slow
def test_exact_parameter_counts(size):
    model = _meta_model(size)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[size]
    assert model.num_classes == 1000
    # The README's "params (M)" is YOLOv5's summary of the BN-fused model (yolov5n-cls: 2,489,464)
    with torch.device("meta"):
        fused = sum(p.numel() for p in model.eval().fuse().parameters())
    assert round(fused / 1e6, 1) == get_entry(f"yolov5{size}-cls").published["params_m"]
    if size == "n":
        assert fused == 2_489_464


def test_registry_entries():
    assert list_models("yolov5") == [f"yolov5{s}-cls" for s in SIZES]
    e = get_entry("yolov5s-cls")
    assert e.kwargs == {"depth_multiple": 0.33, "width_multiple": 0.5}
    assert e.published["top1"] == 71.5 and e.published["v100_trt_ms"] == 0.6 and e.published["cpu_onnx_ms"] == 6.6
    assert e.preprocess.imgsz == 224 and e.preprocess.crop == "center"


def test_state_dict_keys_match_yolov5_layout():
    keys = list(create_model("yolov5n-cls", num_classes=7).state_dict())
    assert keys[0] == "model.0.conv.weight"
    for k in (
        "model.0.bn.running_var",
        "model.2.cv1.conv.weight",
        "model.2.m.0.cv1.conv.weight",
        "model.2.m.0.cv2.bn.num_batches_tracked",
        "model.4.m.1.cv2.conv.weight",
        "model.6.m.2.cv1.bn.bias",
        "model.8.cv3.conv.weight",
        "model.9.conv.conv.weight",
        "model.9.conv.bn.running_mean",
        "model.9.linear.weight",
    ):
        assert k in keys, k
    assert keys[-2:] == ["model.9.linear.weight", "model.9.linear.bias"]
    assert not any(k.startswith(("model.10.", "model.4.m.2.", "model.6.m.3.")) for k in keys)  # n: depths 1/2/3/1


def test_batchnorm_settings_like_yolov5():
    model = create_model("yolov5n-cls")
    bns = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    for name, m in bns:
        if name.startswith("model.9."):  # the head keeps PyTorch defaults (added after initialize_weights)
            assert (m.eps, m.momentum) == (1e-5, 0.1), name
        else:
            assert (m.eps, m.momentum) == (1e-3, 0.03), name
    assert isinstance(model.model[0], Conv) and model.model[0].conv.kernel_size == (6, 6)
    assert model.model[0].conv.padding == (2, 2) and model.model[0].conv.bias is None
    assert isinstance(model.model[8], C3) and isinstance(model.model[9], Classify)


def test_forward_features_head_and_shapes():
    model = create_model("yolov5n-cls", num_classes=5).eval()
    x = torch.randn(2, 3, 64, 64)
    f = model.forward_features(x)
    assert f.shape == (2, 256, 2, 2)
    logits = model.forward_head(f)
    assert logits.shape == (2, 5) and logits.dtype == torch.float32
    torch.testing.assert_close(model(x), logits)
    assert model.get_classifier() is model.model[9].linear and model.get_classifier().in_features == 1280


def test_reset_classifier():
    model = create_model("yolov5n-cls", names=["a", "b", "c"])
    conv_w = model.model[9].conv.conv.weight.clone()
    model.reset_classifier(4)
    assert model.num_classes == 4 and model.names == ["0", "1", "2", "3"]
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 4)
    assert "model.9.linear.weight" in model.state_dict()
    torch.testing.assert_close(model.model[9].conv.conv.weight, conv_w)  # only the Linear is replaced
    assert model.config() == {"name": "yolov5n-cls", "num_classes": 4, "kwargs": {}}


def test_dropout_kwarg_and_config():
    model = create_model("yolov5s-cls", num_classes=3, dropout=0.2)
    assert model.model[9].drop.p == 0.2
    assert model.config() == {"name": "yolov5s-cls", "num_classes": 3, "kwargs": {"dropout": 0.2}}


def test_fuse_is_equivalent():
    torch.manual_seed(0)
    model = _calibrated(create_model("yolov5n-cls", num_classes=10), 64)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        fused = copy.deepcopy(model).fuse()
        out = fused(x)
    assert ref.std() > 1e-3  # calibrated: the output depends on the input, not just the bias
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert "model.0.conv.bias" in fused.state_dict() and "model.0.bn.weight" not in fused.state_dict()
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_fuse_conv_bn_function_with_groups_and_bias():
    torch.manual_seed(1)
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=True)
    bn = nn.BatchNorm2d(8, eps=1e-3)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.5, 0.5)
    bn.eval()
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(fuse_conv_bn(conv, bn)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.slow
def test_flops_both_styles(size):
    info = model_info(_meta_model(size), imgsz=224)  # hook counting only needs shapes
    assert info["params"] == PARAMS[size]
    assert round(info["gflops"], 1) == GFLOPS_README[size] == get_entry(f"yolov5{size}-cls").published["flops_b"]
    assert round(info["gflops_true"], 3) == GFLOPS_TRUE[size]


def test_flops_on_a_real_model_do_not_mutate_it():
    model = create_model("yolov5n-cls")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    info = model_info(model, imgsz=224)
    assert round(info["gflops"], 3) == 0.481 and round(info["gflops_true"], 3) == 0.357
    assert model.training and not any(getattr(m, "is_fused", False) for m in model.modules())
    assert list(model.state_dict()) == list(before)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # no BN statistics updated, nothing fused
    # true FLOPs scale with the input area for a fully convolutional backbone (+ the constant Linear)
    assert model_info(_meta_model("n"), imgsz=448)["gflops_true"] > 3.9 * info["gflops_true"]


def test_flops_generic_modules_depthwise_and_unfused():
    # a torchvision-like block: conv (no fuse()), BN, ReLU, depthwise conv, pool, linear
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )
    x = torch.zeros(1, 3, 32, 32)
    conv1 = 16 * 16 * 8 * 3 * 9
    dw = 16 * 16 * 8 * 1 * 9
    assert count_macs(model, x, style="true") == conv1 + dw + 8 * 4
    bn = 4 * 8 * 16 * 16  # thop: 2 ops per element, x2 for the affine part
    pool = (256 + 1) * 8
    assert count_macs(model, x, style="thop") == conv1 + bn + dw + pool + 8 * 4
    info = model_info(model, imgsz=64)
    assert info["gflops_true"] == pytest.approx(2 * (4 * (conv1 + dw) + 32) / 1e9)
    assert info["gflops"] == pytest.approx(2 * (conv1 + bn + dw + pool + 32) / 1e9 * 4)


def test_tiny_variant():
    assert "tiny-cls" in list_models("tiny")
    torch.manual_seed(0)
    model = create_model("tiny-cls", num_classes=10)
    n = sum(p.numel() for p in model.parameters())
    assert 1_000 < n < 10_000, n
    assert isinstance(model, YOLOv5ClassificationModel) and model.get_classifier().in_features == 32
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model_info(model, imgsz=32)["gflops_true"] < 1e-3
    # it trains: a few Adam steps fit one small batch
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 10
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "efficientnet_b0", "efficientnet_b3"])
@pytest.mark.slow
def test_flops_reproduce_readme_for_baselines(name):
    # YOLOv5 counted torchvision models unfused (BN included, SiLU/Sigmoid free); same hooks, same rounding
    if name not in list_models():
        pytest.skip(f"{name} is not registered")
    with torch.device("meta"):
        model = create_model(name)
    info = model_info(model, imgsz=224)
    assert round(info["gflops"], 1) == get_entry(name).published["flops_b"]
    assert info["gflops_true"] < info["gflops"]
