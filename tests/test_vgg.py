"""VGG family: counts on both sides, torchvision (strict load) and paddle.vision references for all
eight configurations, the width multiplier (seed 001's quarter-width VGG-11), input checks, and a
full-size forward.

The registry-wide parity (gradients, BN statistics, optimizer steps, ONNX) is tests/test_parity.py.
Building a full VGG takes seconds (the classifier alone is 120M parameters), so each reference
test builds every model once and checks everything on it.
"""
import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity import weights as W
from tests._classic import (assert_close, assert_count, assert_matches_torchvision, check_shape_errors,
                            from_torchvision, pair, run_paddle, run_torch, trainable)
from tests._torchvision import import_torchvision
from zoo.specs.vgg import VGG_CFGS, VGG_D2L, VGG_DEPTHS

TORCHVISION_NAMES = [f"{depth}{bn}" for depth in VGG_DEPTHS for bn in ("", "_bn")]
# torchvision 0.28.0's VGG*_Weights meta; vgg16 is also seed 003's (torchstat) count.
COUNTS = {"vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
          "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248}
TINY = 1 / 64  # a width that makes a VGG cheap to build, for tests of behaviour that do not depend on width


def test_registry_lists_the_torchvision_names_and_the_d2l_variant():
    assert zoo.names("vgg") == TORCHVISION_NAMES + ["vgg11_d2l"]
    assert {n: zoo.get(n).published[0].count for n in TORCHVISION_NAMES} == COUNTS


@pytest.mark.torchvision
@pytest.mark.heavy
@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_and_paddle_vision_agree(name):
    """For each configuration, on torchvision's weights (32x32, the smallest input):
    - our torch model has exactly torchvision's keys and shapes (strict load) and its outputs;
    - the weights converted by parity.weights give the same outputs in our paddle model;
    - paddle.vision's model on our paddle weights agrees (same key names in paddle);
    - trainable counts equal torchvision's published ones in all four models.
    Eval mode throughout: BN uses its running statistics, dropout is the identity.
    """
    tv = import_torchvision()
    torch.manual_seed(4)
    ref = getattr(tv.models, name)()
    if name.endswith("_bn"):  # non-trivial running statistics, so eval-mode BN is exercised
        with torch.no_grad():
            for m in ref.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
    ours, layer = from_torchvision(ref, name)
    vision = getattr(paddle.vision.models, name.split("_")[0])(batch_norm=name.endswith("_bn"))
    W.load_paddle(vision, layer.state_dict())
    vision.eval()
    assert trainable(ref) == trainable(ours) == trainable(layer) == trainable(vision) == COUNTS[name]
    x = np.random.RandomState(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    ours_paddle = assert_matches_torchvision(ref, ours, layer, x)
    assert_close(run_paddle(vision, x), ours_paddle, 1e-6)


@pytest.mark.torchvision
@pytest.mark.heavy
def test_vgg16_at_224():
    """The full-size forward: torchvision, ours (torch) and ours (paddle) at 224x224, where the
    7x7 adaptive pool is the identity."""
    tv = import_torchvision()
    torch.manual_seed(5)
    ref = tv.models.vgg16()
    ours, layer = from_torchvision(ref, "vgg16")
    x = np.random.RandomState(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert_matches_torchvision(ref, ours, layer, x)


# --- width multiplier and seed 001's VGG-11 -------------------------------------------------------

def _conv_widths(model) -> list[int]:
    return [m.weight.shape[0] for m in model.features if type(m).__name__.startswith("Conv")]


def test_quarter_width_vgg11_is_one_call():
    """vgg11(width=0.25, in_channels=1, num_classes=10) is seed 001's VGG-11 and vgg11_d2l."""
    kwargs = dict(width=0.25, in_channels=1, num_classes=10)
    assert VGG_D2L == kwargs
    t, p = torch_impl.build("vgg11", **kwargs), paddle_impl.build("vgg11", **kwargs)
    assert _conv_widths(t) == _conv_widths(p) == [16, 32, 64, 64, 128, 128, 128, 128]
    assert t.classifier[0].in_features == 128 * 7 * 7 and t.classifier[0].out_features == 4096
    d2l = torch_impl.build("vgg11_d2l")
    assert {k: v.shape for k, v in d2l.state_dict().items()} == {k: v.shape for k, v in t.state_dict().items()}
    assert trainable(t) == trainable(p) == trainable(d2l) == 43_093_322
    assert_count("vgg11_d2l", 43_093_322)


def test_d2l_vgg11_needs_no_adaptive_pool_at_224():
    """d2l's VGG-11 flattens the 7x7 maps directly; at 224x224 our 7x7 adaptive pool is the
    identity, so the network is the same."""
    model = torch_impl.build("vgg11_d2l").eval()
    x = torch.from_numpy(np.random.RandomState(0).standard_normal((1, 1, 224, 224)).astype(np.float32))
    with torch.no_grad():
        maps = model.features(x)
        assert tuple(maps.shape) == (1, 128, 7, 7)
        torch.testing.assert_close(model.avgpool(maps), maps, rtol=0, atol=0)


@pytest.mark.parametrize("width,widths", [(1 / 8, [8, 16, 32, 32, 64, 64, 64, 64]),
                                         (0.1, [6, 13, 26, 26, 51, 51, 51, 51]),
                                         (TINY, [1, 2, 4, 4, 8, 8, 8, 8])])
def test_width_multiplies_every_conv(width, widths):
    """Every conv width times ``width``, rounded; the classifier input follows, its hidden width stays 4096."""
    t, p = torch_impl.build("vgg11", width=width), paddle_impl.build("vgg11", width=width)
    assert _conv_widths(t) == _conv_widths(p) == widths
    assert t.classifier[0].in_features == widths[-1] * 49
    assert t.classifier[0].out_features == 4096


def test_width_must_be_positive():
    for build in (torch_impl.build, paddle_impl.build):
        with pytest.raises(ValueError, match="width"):
            build("vgg11", width=0)


# --- structure and inputs --------------------------------------------------------------------------

@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_configurations(name):
    """Table 1 of the paper: 8/10/13/16 convs; BatchNorm after every conv in the _bn variants."""
    cfg = VGG_CFGS[VGG_DEPTHS[name.split("_")[0]]]
    t, p = torch_impl.build(name, width=TINY), paddle_impl.build(name, width=TINY)
    n_convs = sum(1 for v in cfg if v != "M")
    assert n_convs == {"vgg11": 8, "vgg13": 10, "vgg16": 13, "vgg19": 16}[name.split("_")[0]]
    kinds_t = [type(m).__name__ for m in t.features]
    kinds_p = [type(m).__name__ for m in p.features]
    assert kinds_t.count("Conv2d") == kinds_p.count("Conv2D") == n_convs
    assert kinds_t.count("MaxPool2d") == kinds_p.count("MaxPool2D") == 5
    bn = n_convs if name.endswith("_bn") else 0
    assert kinds_t.count("BatchNorm2d") == kinds_p.count("BatchNorm2D") == bn


@pytest.mark.parametrize("dims", [1, 2])
def test_one_dimensional_head(dims):
    t, p = pair("vgg11_bn", dims=dims, width=TINY, num_classes=3)
    assert t.classifier[0].in_features == 8 * 7 ** dims
    x = np.random.RandomState(1).standard_normal((2, 3) + (40,) * dims).astype(np.float32)
    assert_close(run_paddle(p, x), run_torch(t, x), 1e-4)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("name", zoo.names("vgg"))
def test_input_shape_errors(name, dims):
    check_shape_errors(name, dims, width=TINY)


def test_init_is_torchvisions():
    """kaiming-normal (fan_out) convs with zero bias, N(0, 0.01) Linear, BN 1 and 0, on both sides."""
    torch.manual_seed(6)
    paddle.seed(6)
    t, p = torch_impl.build("vgg11_bn", width=0.25), paddle_impl.build("vgg11_bn", width=0.25)
    for params in ({k: v.detach().numpy() for k, v in t.state_dict().items()},
                   {k: v.numpy() for k, v in p.state_dict().items()}):
        conv = params["features.4.weight"]  # 16 -> 32 maps at width 0.25: fan_out = 32 * 9
        assert abs(conv.std() / np.sqrt(2.0 / (32 * 9)) - 1) < 0.05
        assert not params["features.4.bias"].any()
        assert abs(params["classifier.0.weight"].std() / 0.01 - 1) < 0.01
        assert not params["classifier.0.bias"].any()
        assert (params["features.1.weight"] == 1).all() and not params["features.1.bias"].any()
