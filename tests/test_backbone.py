"""Backbones (timm's conventions) on both sides, parity-checked: ``num_classes=0``,
``forward_features``, ``reset_classifier`` and ``build(..., features_only=True)``; and
torchvision's FX feature extractor on the torch models.

Building a model is most of a case's cost (VGG's and Inception's classifiers hold tens of
millions of weights in each framework), and CI's default run has about 30 seconds for
all of this, so it checks a few cheap cases (DEFAULT_RUN: LeNet in 1D and 2D, SqueezeNet
in 2D, NiN in 1D), and ``-m heavy`` every family: one representative each
(REPRESENTATIVES), in 1D and 2D, float64, every feature level.
"""
from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity import compare_modules
from parity.report import format_report

# One small model per family, with builder overrides that keep it small, and the input size.
REPRESENTATIVES: dict[str, tuple[str, dict, int]] = {
    "lenet": ("lenet5", {}, 32),
    "alexnet": ("alexnet_bn", {}, 63),
    "zfnet": ("zfnet_bn", {}, 75),
    "vgg": ("vgg11", {"width": 0.125}, 32),
    "nin": ("nin", {}, 67),
    "googlenet": ("googlenet_d2l", {}, 32),
    "inception": ("inception_v3", {}, 75),
    "resnet": ("resnet18_d2l", {}, 32),
    "densenet": ("densenet_d2l", {}, 32),
    "squeezenet": ("squeezenet1_1", {}, 32),
    "mobilenet": ("mobilenet_v3_small", {}, 32),
    "shufflenet": ("shufflenet_v2_x0_5", {}, 32),
    "mnasnet": ("mnasnet0_5", {}, 32),
    "efficientnet": ("efficientnet_b0", {}, 32),
}
# (family, dims) cases of the default run; every other case is marked heavy.
DEFAULT_RUN = {("lenet", 1), ("lenet", 2), ("squeezenet", 2), ("nin", 1)}


# The CI budget (20 minutes on 2 cores): builds and compares a model per family; run with -m heavy.
pytestmark = pytest.mark.heavy


def _kwargs(family: str, dims: int, **overrides) -> tuple[str, dict, tuple[int, ...]]:
    name, extra, size = REPRESENTATIVES[family]
    info = zoo.get(name)
    return name, info.build_kwargs(dims, size, **extra, **overrides), info.input_shape(dims, batch=2, size=size)


def _cases(default_run: set) -> list:
    return [pytest.param(family, dims, id=f"{family}-{dims}d",
                         marks=[] if (family, dims) in default_run else [pytest.mark.heavy])
            for family in REPRESENTATIVES for dims in (1, 2)]


def _families(default_run: set) -> list:
    return [pytest.param(f, marks=[] if f in default_run else [pytest.mark.heavy]) for f in REPRESENTATIVES]


def test_every_family_has_a_representative():
    assert set(REPRESENTATIVES) == set(zoo.families())


@pytest.mark.parametrize("family,dims", _cases(DEFAULT_RUN))
def test_features_only_parity(family, dims):
    """Every feature level of both sides' features_only models: outputs, gradients, BN statistics."""
    name, kw, shape = _kwargs(family, dims)
    t = torch_impl.build(name, features_only=True, **kw)
    p = paddle_impl.build(name, features_only=True, **kw)
    assert t.feature_info == p.feature_info
    report = compare_modules(t, p, input_shape=shape, dtype="float64", steps=0, name=name, dims=dims)
    assert report.ok, "\n" + format_report(report)
    assert f"in eval mode the model returns {len(t.feature_info)} tensors; every one is compared" in report.notes


@pytest.mark.parametrize("family,dims", _cases({("lenet", 2)}))
def test_pooled_features_parity(family, dims):
    """``num_classes=0`` on both sides: the pooled features, through the same checks."""
    name, kw, shape = _kwargs(family, dims, num_classes=0)
    t, p = torch_impl.build(name, **kw), paddle_impl.build(name, **kw)
    report = compare_modules(t, p, input_shape=shape, dtype="float64", steps=0, name=name, dims=dims)
    assert report.ok, "\n" + format_report(report)


@pytest.mark.parametrize("family", _families({"lenet"}))
def test_backbone_api_torch(family):
    """forward_features is the body; features_only's levels have the stated channels, end with
    forward_features' map and shrink by the stated reductions; num_classes=0 and
    reset_classifier give num_features features or fresh logits."""
    name, kw, shape = _kwargs(family, 2)
    model = torch_impl.build(name, **kw).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        body = model.forward_features(x)
        assert torch.equal(model.forward_head(body), model(x))
        features = torch_impl.features.FeatureNet(model, None, name).eval()(x)
    assert torch.equal(features[-1], body)
    sides = [f.shape[-1] for f in features]
    for level, f in zip(model.feature_info, features):
        assert f.shape[1] == level.num_chs, (level, f.shape)
    assert sides == sorted(sides, reverse=True)
    reductions = model.feature_info.reduction()
    assert reductions == sorted(reductions)
    model.reset_classifier(7)
    assert model(x).shape == (2, 7)
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)
    assert torch_impl.build(name, **{**kw, "num_classes": 0}).eval()(x).shape == (2, model.num_features)


@pytest.mark.parametrize("family", _families({"lenet", "squeezenet"}))
def test_backbone_api_paddle(family):
    """The same on the paddle side."""
    name, kw, shape = _kwargs(family, 2)
    model = paddle_impl.build(name, **kw)
    model.eval()
    x = paddle.randn(list(shape))
    body = model.forward_features(x)
    np.testing.assert_array_equal(model.forward_head(body).numpy(), model(x).numpy())
    features = paddle_impl.features.FeatureNet(model, None, name)
    features.eval()
    maps = features(x)
    np.testing.assert_array_equal(maps[-1].numpy(), body.numpy())
    assert [f.shape[1] for f in maps] == model.feature_info.channels()
    model.reset_classifier(7)
    assert model(x).shape == [2, 7]
    model.reset_classifier(0)
    assert model(x).shape == [2, model.num_features]


def test_out_indices_pick_and_prune():
    """out_indices choose levels (negative from the end); stages past the deepest are left out."""
    model = torch_impl.build("lenet5", features_only=True, out_indices=(0, -2))
    assert model.feature_info.module_name() == ["features.c1_act", "features.c3_act"]
    assert model.feature_info.channels() == [6, 16] and model.feature_info.reduction() == [1, 2]
    assert "features_c5" not in dict(model.named_children())
    maps = model(torch.randn(2, 1, 32, 32))
    assert [tuple(m.shape) for m in maps] == [(2, 6, 28, 28), (2, 16, 10, 10)]


@pytest.mark.parametrize("build", [torch_impl.build, paddle_impl.build], ids=["torch", "paddle"])
def test_backbone_errors_name_the_problem(build):
    with pytest.raises(ValueError, match=r"lenet5, which has 3 feature levels \(0: features.c1_act \(6 ch, /1\)"):
        build("lenet5", features_only=True, out_indices=(3,))
    with pytest.raises(ValueError, match="from shallow to deep"):
        build("lenet5", features_only=True, out_indices=(1, 0))
    with pytest.raises(ValueError, match="pass features_only=True too"):
        build("lenet5", out_indices=(0,))
    with pytest.raises(ValueError, match="num_classes must be 0"):
        build("squeezenet1_1", num_classes=-1)
    with pytest.raises(ValueError, match=r"expects 1 input channels"):
        model = build("lenet5", features_only=True)
        x = np.zeros((1, 3, 32, 32), "float32")
        model(torch.from_numpy(x) if build is torch_impl.build else paddle.to_tensor(x))


FX_MODELS = ["lenet5_original_sparse", "shufflenet_v2_x0_5", "efficientnet_b0", "resnet18", "googlenet",
             "inception_v3", "mobilenet_v1", "mnasnet0_5", "densenet_d2l", "squeezenet1_1", "alexnet_bn", "nin"]


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in ("lenet5_original_sparse", "squeezenet1_1")
                                                 else [pytest.mark.heavy]) for n in FX_MODELS])
def test_torchvision_fx_feature_extractor(name):
    """torchvision's create_feature_extractor traces the model (in train and eval mode) and
    returns what forward_features does; the input check no longer stops it."""
    from _torchvision import import_torchvision

    import_torchvision()
    from torchvision.models.feature_extraction import create_feature_extractor

    info = zoo.get(name)
    model = torch_impl.build(name, **info.build_kwargs(2, info.check_size(2))).eval()
    last = model.feature_info[-1].module
    extractor = create_feature_extractor(model, return_nodes={last: "out"})
    x = torch.randn(info.input_shape(2, batch=2))
    with torch.no_grad():
        assert torch.equal(extractor(x)["out"], model.forward_features(x))
