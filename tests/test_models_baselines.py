"""ResNet and EfficientNet baselines: torchvision-identical state_dicts, exact parameter counts, the zoo interface.

The expectations (parameter counts, key names, shapes) were written from torchvision's source
(torchvision/models/resnet.py, efficientnet.py, ops/misc.py) and its published ``num_params``; the
EfficientNet-B2 shapes also agree with a published per-tensor listing of torchvision's efficientnet_b2.
Big models are built on the meta device (no memory, no init cost); forward passes use 64 px inputs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

from yolocls.errors import InputError
from yolocls.models import efficientnet, resnet
from yolocls.models.efficientnet import EfficientNet, drop_path, round_channels
from yolocls.models.registry import create_model, get_entry, list_models
from yolocls.models.resnet import ResNet

# torchvision's num_params at 1000 classes (its weights' metadata and documentation)
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
}
RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101"]
EFFICIENTNETS = ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # type: ignore[no-untyped-def]
    # 2 shared cores: with several busy processes, intra-op threads spin against each other (10x slower)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def meta_model(name: str, **kwargs: Any) -> Any:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- independent key listings (torchvision layout)

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet_keys(bottleneck: bool, layers: list[int]) -> set[str]:
    keys = {"conv1.weight", "fc.weight", "fc.bias"} | {f"bn1.{p}" for p in _BN}
    n_conv = 3 if bottleneck else 2
    for stage, n in enumerate(layers, start=1):
        for b in range(n):
            pre = f"layer{stage}.{b}."
            for c in range(1, n_conv + 1):
                keys.add(f"{pre}conv{c}.weight")
                keys |= {f"{pre}bn{c}.{p}" for p in _BN}
            # first block of a stage projects the shortcut, except ResNet-18/34's stride-1 first stage
            if b == 0 and (stage > 1 or bottleneck):
                keys.add(f"{pre}downsample.0.weight")
                keys |= {f"{pre}downsample.1.{p}" for p in _BN}
    return keys


def torchvision_efficientnet_keys(repeats: list[int]) -> set[str]:
    def conv_bn(pre: str) -> set[str]:
        return {f"{pre}.0.weight"} | {f"{pre}.1.{p}" for p in _BN}

    keys = conv_bn("features.0") | conv_bn("features.8") | {"classifier.1.weight", "classifier.1.bias"}
    for stage, n in enumerate(repeats, start=1):
        for b in range(n):
            pre = f"features.{stage}.{b}.block"
            convs = [0, 1, 3] if stage > 1 else [0, 2]  # stage 1 has expand ratio 1: no expand conv
            se = 2 if stage > 1 else 1
            for i in convs:
                keys |= conv_bn(f"{pre}.{i}")
            keys |= {f"{pre}.{se}.fc1.weight", f"{pre}.{se}.fc1.bias", f"{pre}.{se}.fc2.weight", f"{pre}.{se}.fc2.bias"}
    return keys


RESNET_LAYOUT = {
    "resnet18": (False, [2, 2, 2, 2]),
    "resnet34": (False, [3, 4, 6, 3]),
    "resnet50": (True, [3, 4, 6, 3]),
    "resnet101": (True, [3, 4, 23, 3]),
}
# blocks per stage: ceil(B0 repeats [1,2,2,3,3,4,1] * depth_mult)
EFFICIENTNET_REPEATS = {
    "efficientnet_b0": [1, 2, 2, 3, 3, 4, 1],
    "efficientnet_b1": [2, 3, 3, 4, 4, 5, 2],
    "efficientnet_b2": [2, 3, 3, 4, 4, 5, 2],
    "efficientnet_b3": [2, 3, 3, 5, 5, 6, 2],
}

# ---------------------------------------------------------------- registry


def test_sizes_are_registered_with_family_preprocess_and_published_numbers() -> None:
    assert list_models("resnet") == RESNETS
    assert list_models("efficientnet") == EFFICIENTNETS
    for name in RESNETS + EFFICIENTNETS:
        e = get_entry(name)
        assert e.preprocess.imgsz == 224 and e.preprocess.crop == "center"
        assert {"top1", "top5", "params_m", "flops_b", "cpu_onnx_ms", "v100_trt_ms"} <= set(e.published)
    assert get_entry("resnet50").published["top1"] == 76.8
    assert get_entry("efficientnet_b3").published["v100_trt_ms"] == 1.9


@pytest.mark.parametrize("name", RESNETS + EFFICIENTNETS)
@pytest.mark.slow
def test_parameter_count_equals_torchvision_and_published_table(name: str) -> None:
    model = meta_model(name)
    n = sum(p.numel() for p in model.parameters())
    assert n == TORCHVISION_PARAMS[name]
    # YOLOv5's README rounds the same models to 0.1 M
    assert round(n / 1e6, 1) == get_entry(name).published["params_m"]


# ---------------------------------------------------------------- torchvision state_dict layout


@pytest.mark.parametrize("name", RESNETS)
@pytest.mark.slow
def test_resnet_state_dict_keys_equal_torchvision(name: str) -> None:
    bottleneck, layers = RESNET_LAYOUT[name]
    assert set(meta_model(name).state_dict()) == torchvision_resnet_keys(bottleneck, layers)


@pytest.mark.parametrize("name", EFFICIENTNETS)
@pytest.mark.slow
def test_efficientnet_state_dict_keys_equal_torchvision(name: str) -> None:
    assert set(meta_model(name).state_dict()) == torchvision_efficientnet_keys(EFFICIENTNET_REPEATS[name])


def test_state_dict_sizes_match_known_torchvision_counts() -> None:
    assert len(meta_model("resnet18").state_dict()) == 122
    assert len(meta_model("resnet50").state_dict()) == 320
    assert len(list(meta_model("efficientnet_b2").parameters())) == 301


def test_resnet_key_shapes() -> None:
    r18, r34, r50, r101 = (shapes(meta_model(n)) for n in RESNETS)
    assert r18["conv1.weight"] == (64, 3, 7, 7)
    assert r18["bn1.num_batches_tracked"] == ()
    assert r18["layer1.0.conv1.weight"] == (64, 64, 3, 3)
    assert "layer1.0.downsample.0.weight" not in r18  # 64 -> 64 at stride 1: identity shortcut
    assert "layer1.0.conv3.weight" not in r18 and "layer2.2.conv1.weight" not in r18
    assert r18["layer2.0.conv1.weight"] == (128, 64, 3, 3)
    assert r18["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert r18["layer2.0.downsample.1.running_mean"] == (128,)
    assert r18["layer4.1.bn2.weight"] == (512,)
    assert r18["fc.weight"] == (1000, 512) and r18["fc.bias"] == (1000,)
    assert r34["layer3.5.conv2.weight"] == (256, 256, 3, 3) and "layer3.6.conv1.weight" not in r34
    assert r50["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert "layer1.1.downsample.0.weight" not in r50
    assert r50["layer1.0.conv1.weight"] == (64, 64, 1, 1)
    assert r50["layer1.0.conv3.weight"] == (256, 64, 1, 1)
    assert r50["layer1.1.conv1.weight"] == (64, 256, 1, 1)
    assert r50["layer2.0.conv2.weight"] == (128, 128, 3, 3)
    assert r50["layer2.0.downsample.0.weight"] == (512, 256, 1, 1)
    assert r50["layer4.2.bn3.weight"] == (2048,)
    assert r50["fc.weight"] == (1000, 2048)
    assert r101["layer3.22.conv3.weight"] == (1024, 256, 1, 1) and "layer3.23.conv1.weight" not in r101


def test_resnet_strides_follow_torchvision() -> None:
    r50 = meta_model("resnet50")
    assert r50.conv1.stride == (2, 2) and r50.conv1.padding == (3, 3)
    assert r50.layer2[0].conv1.stride == (1, 1) and r50.layer2[0].conv2.stride == (2, 2)  # v1.5: stride on 3x3
    assert r50.layer2[0].downsample[0].stride == (2, 2)
    r18 = meta_model("resnet18")
    assert r18.layer3[0].conv1.stride == (2, 2)


@pytest.mark.slow
def test_efficientnet_key_shapes() -> None:
    b0, b1, b2, b3 = (shapes(meta_model(n)) for n in EFFICIENTNETS)
    assert b0["features.0.0.weight"] == (32, 3, 3, 3)
    assert b0["features.1.0.block.0.0.weight"] == (32, 1, 3, 3)  # depthwise first: no expand in stage 1
    assert b0["features.1.0.block.1.fc1.weight"] == (8, 32, 1, 1)
    assert b0["features.1.0.block.1.fc1.bias"] == (8,)
    assert b0["features.1.0.block.1.fc2.weight"] == (32, 8, 1, 1)
    assert b0["features.1.0.block.2.0.weight"] == (16, 32, 1, 1)
    assert b0["features.1.0.block.2.1.running_var"] == (16,)
    assert "features.1.0.block.3.0.weight" not in b0 and "features.1.1.block.0.0.weight" not in b0
    assert b0["features.2.0.block.0.0.weight"] == (96, 16, 1, 1)
    assert b0["features.2.0.block.1.0.weight"] == (96, 1, 3, 3)
    assert b0["features.2.0.block.2.fc1.weight"] == (4, 96, 1, 1)  # squeeze = block input channels / 4
    assert b0["features.2.0.block.3.0.weight"] == (24, 96, 1, 1)
    assert b0["features.3.0.block.1.0.weight"] == (144, 1, 5, 5)
    assert b0["features.7.0.block.3.0.weight"] == (320, 1152, 1, 1)
    assert b0["features.8.0.weight"] == (1280, 320, 1, 1)
    assert b0["classifier.1.weight"] == (1000, 1280)
    assert b1["features.1.1.block.0.0.weight"] == (16, 1, 3, 3) and b1["features.8.0.weight"] == (1280, 320, 1, 1)
    # efficientnet_b2 (width 1.1): values from a published listing of torchvision's tensors
    assert b2["features.1.1.block.2.0.weight"] == (16, 16, 1, 1)
    assert b2["features.4.0.block.3.0.weight"] == (88, 288, 1, 1)
    assert b2["features.5.1.block.2.fc1.weight"] == (30, 720, 1, 1)
    assert b2["features.6.4.block.1.0.weight"] == (1248, 1, 5, 5)
    assert b2["features.7.1.block.0.0.weight"] == (2112, 352, 1, 1)
    assert b2["features.8.0.weight"] == (1408, 352, 1, 1)
    assert b2["classifier.1.weight"] == (1000, 1408)
    # efficientnet_b3 (width 1.2): 16*1.2 rounds down to 16 (< 90%), so it is bumped to 24
    assert b3["features.0.0.weight"] == (40, 3, 3, 3)
    assert b3["features.1.0.block.1.fc1.weight"] == (10, 40, 1, 1)
    assert b3["features.1.0.block.2.0.weight"] == (24, 40, 1, 1)
    assert b3["features.1.1.block.1.fc1.weight"] == (6, 24, 1, 1)
    assert b3["features.8.0.weight"] == (1536, 384, 1, 1)
    assert b3["classifier.1.weight"] == (1000, 1536)


def test_round_channels_follows_the_tf_rule() -> None:
    assert round_channels(32 * 1.1) == 32
    assert round_channels(16 * 1.2) == 24  # 16 would lose more than 10%
    assert round_channels(112 * 1.2) == 136
    assert round_channels(3) == 8  # never below the divisor


def test_efficientnet_hyperparameters_match_torchvision() -> None:
    b0, b3 = meta_model("efficientnet_b0"), meta_model("efficientnet_b3")
    bns = [m for m in b0.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-5 and m.momentum == 0.1 for m in bns)
    assert b0.classifier[0].p == 0.2 and b3.classifier[0].p == 0.3
    assert isinstance(b0.features[0][2], nn.SiLU) and isinstance(b0.features[8][2], nn.SiLU)
    assert len(b0.features[1][0].block[2]) == 2  # project conv + BN, no activation
    # stochastic depth ramps linearly over the 16 blocks of B0: block i gets 0.2 * i / 16
    probs = [m.stochastic_depth.p for stage in b0.features[1:8] for m in stage]
    assert probs == pytest.approx([0.2 * i / 16 for i in range(16)])
    assert b0.features[1][0].use_residual is False and b0.features[2][1].use_residual is True
    custom = meta_model("efficientnet_b0", bn_eps=1e-3, bn_momentum=0.01)
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in custom.modules() if isinstance(m, nn.BatchNorm2d))


# ---------------------------------------------------------------- running the models


@pytest.fixture(scope="module")
def small_models() -> dict[str, Any]:
    torch.manual_seed(0)
    return {
        "resnet18": create_model("resnet18", num_classes=7),
        "efficientnet_b0": create_model("efficientnet_b0", num_classes=7),
    }


@pytest.mark.parametrize("name,features", [("resnet18", 512), ("efficientnet_b0", 1280)])
def test_forward_shapes(small_models: dict[str, Any], name: str, features: int) -> None:
    model = small_models[name].eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        f = model.forward_features(x)
        y = model(x)
    assert f.shape == (2, features, 2, 2)
    assert y.shape == (2, 7) and y.dtype == torch.float32 and torch.isfinite(y).all()
    assert model.num_classes == 7 and model.names == [str(i) for i in range(7)]
    with torch.no_grad():
        assert model(torch.randn(1, 3, 50, 71)).shape == (1, 7)  # any size: global pooling


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
def test_eval_mode_is_deterministic_and_batch_independent(small_models: dict[str, Any], name: str) -> None:
    model = small_models[name].eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        a, b = model(x), model(x)
        single = model(x[1:2])
    assert torch.equal(a, b)
    torch.testing.assert_close(single, a[1:2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
@pytest.mark.slow
def test_state_dict_round_trip_strict(name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(1)
    src = create_model(name, num_classes=5)
    src.train()
    with torch.no_grad():  # move BN running stats away from their init so buffers are really compared
        src(torch.randn(4, 3, 64, 64))
    src.eval()
    dst = create_model(name, num_classes=5).eval()
    # a torchvision weights file is exactly this: a plain state_dict saved with torch.save
    torch.save(src.state_dict(), tmp_path / "weights.pth")
    missing_unexpected = dst.load_state_dict(torch.load(tmp_path / "weights.pth", weights_only=True), strict=True)
    assert not missing_unexpected.missing_keys and not missing_unexpected.unexpected_keys
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))
    wrong = create_model(name, num_classes=6)
    with pytest.raises(RuntimeError, match="size mismatch"):
        wrong.load_state_dict(src.state_dict(), strict=True)


def test_reset_classifier_resnet() -> None:
    model = create_model("resnet18", num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.get_classifier() is model.fc
    assert model.fc.in_features == 512 and tuple(model.fc.weight.shape) == (3, 512)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # backbone untouched
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 3)


def test_reset_classifier_efficientnet_uses_torchvision_init() -> None:
    model = create_model("efficientnet_b0", num_classes=10)
    model.reset_classifier(4)
    head = model.get_classifier()
    assert model.classifier[1] is head and model.num_classes == 4
    assert tuple(head.weight.shape) == (4, 1280)
    assert head.weight.abs().max() <= 1 / 4**0.5 and torch.count_nonzero(head.bias) == 0
    assert isinstance(model.classifier[0], nn.Dropout)
    assert set(model.state_dict()) == torchvision_efficientnet_keys(EFFICIENTNET_REPEATS["efficientnet_b0"])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
def test_reset_classifier_rejects_bad_class_counts(small_models: dict[str, Any], name: str, bad: object) -> None:
    model = small_models[name]
    with pytest.raises(InputError, match="num_classes"):
        model.reset_classifier(bad)
    assert model.num_classes == 7


def test_weight_init_follows_torchvision() -> None:
    torch.manual_seed(0)
    r = create_model("resnet18")
    # Kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (64 * 7 * 7))
    assert r.conv1.weight.std().item() == pytest.approx((2 / (64 * 49)) ** 0.5, rel=0.05)
    assert torch.all(r.bn1.weight == 1) and torch.all(r.layer1[0].bn2.bias == 0)
    assert r.fc.weight.abs().max() <= 1 / 512**0.5  # PyTorch's default Linear init, as torchvision
    e = create_model("efficientnet_b0")
    assert e.classifier[1].weight.abs().max() <= 1 / 1000**0.5 and torch.count_nonzero(e.classifier[1].bias) == 0
    se = e.features[2][0].block[2]
    assert torch.count_nonzero(se.fc1.bias) == 0 and torch.count_nonzero(se.fc2.bias) == 0
    assert se.fc2.weight.std().item() == pytest.approx((2 / 96) ** 0.5, rel=0.15)  # fan_out = 96 * 1 * 1


@pytest.mark.slow
def test_zero_init_residual_and_overrides_through_the_registry() -> None:
    r = meta_model("resnet34", zero_init_residual=True, dropout=0.1)
    assert r.drop.p == 0.1 and r.model_kwargs == {"zero_init_residual": True, "dropout": 0.1}
    r = create_model("resnet18", zero_init_residual=True)
    assert all(torch.all(b.bn2.weight == 0) for layer in (r.layer1, r.layer2, r.layer3, r.layer4) for b in layer)
    e = meta_model("efficientnet_b0", dropout=0.5)
    assert e.classifier[0].p == 0.5
    cfg = e.config()
    assert cfg == {"name": "efficientnet_b0", "num_classes": 1000, "kwargs": {"dropout": 0.5}}
    json.dumps(cfg)


def test_drop_path_drops_whole_samples_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    x = torch.ones(4000, 3, 2, 2)
    y = drop_path(x, 0.25, training=True)
    per_sample = y.flatten(1)
    assert torch.all(per_sample == per_sample[:, :1])  # a sample is kept or dropped as a whole
    assert per_sample[:, 0].unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert y.mean().item() == pytest.approx(1.0, abs=0.05)
    assert drop_path(x, 0.25, training=False) is x and drop_path(x, 0.0, training=True) is x


def test_efficientnet_train_mode_is_stochastic() -> None:
    torch.manual_seed(0)
    model = create_model("efficientnet_b0", num_classes=3, stochastic_depth_prob=0.5, dropout=0.5).train()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize(
    "build",
    [
        lambda: ResNet(block="wide"),
        lambda: ResNet(layers=(2, 2, 2)),
        lambda: ResNet(layers=(2, 0, 2, 2)),
        lambda: ResNet(num_classes=0),
        lambda: ResNet(dropout=1.0),
        lambda: EfficientNet(width_mult=0.0),
        lambda: EfficientNet(dropout=-0.1),
        lambda: EfficientNet(stochastic_depth_prob=1.0),
    ],
)
def test_bad_configs_raise_input_error(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        with torch.device("meta"):
            build()


def conv_linear_macs(model: nn.Module, imgsz: int) -> int:
    """Multiply-accumulates of every Conv2d and Linear for one image (meta tensors: shapes only)."""
    total = 0

    def count(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total += out.numel() * mod.in_channels // mod.groups * kh * kw
        elif isinstance(mod, nn.Linear):
            total += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.empty(1, 3, imgsz, imgsz, device="meta"))
    for h in handles:
        h.remove()
    return total


# torchvision's "_ops" (GMACs at 224 px) for weights evaluated at 224: checks strides and kernels, which
# parameter counts cannot see (efficientnet_b1..b3 are listed at 240-300 px there, so they are not compared)
@pytest.mark.parametrize(
    "name,gmacs",
    [("resnet18", 1.814), ("resnet34", 3.664), ("resnet50", 4.089), ("resnet101", 7.801), ("efficientnet_b0", 0.386)],
)
@pytest.mark.slow
def test_compute_at_224_equals_torchvision(name: str, gmacs: float) -> None:
    assert conv_linear_macs(meta_model(name), 224) / 1e9 == pytest.approx(gmacs, abs=0.0005)


@pytest.mark.parametrize("name", RESNETS + EFFICIENTNETS)
@pytest.mark.slow
def test_yolov5_style_flops_reproduce_the_published_table(name: str) -> None:
    from yolocls.models.flops import model_info

    model = meta_model(name)
    info = model_info(model, imgsz=224)  # counts on a copy
    # YOLOv5 counts torchvision models unfused (they have no fuse()), BN and pooling included, at 32 px x 49
    assert round(info["gflops"], 1) == get_entry(name).published["flops_b"]
    assert info["gflops_true"] == pytest.approx(2 * conv_linear_macs(model, 224) / 1e9)


@pytest.mark.parametrize("name", RESNETS + EFFICIENTNETS)
@pytest.mark.slow
def test_identify_state_dict_finds_size_and_class_count(name: str) -> None:
    family = resnet if name.startswith("resnet") else efficientnet
    other = efficientnet if family is resnet else resnet
    sd = meta_model(name, num_classes=17).state_dict()
    assert family.identify_state_dict(sd) == (name, 17)
    assert other.identify_state_dict(sd) is None


def test_identify_state_dict_rejects_unknown_layouts() -> None:
    sd = meta_model("resnet18").state_dict()
    assert resnet.identify_state_dict({k: v for k, v in sd.items() if not k.startswith("layer4.1.")}) is None
    assert resnet.identify_state_dict({"model.0.conv.weight": torch.zeros(1)}) is None
    b0 = meta_model("efficientnet_b0").state_dict()
    assert efficientnet.identify_state_dict({k: v for k, v in b0.items() if not k.startswith("features.6.3.")}) is None
