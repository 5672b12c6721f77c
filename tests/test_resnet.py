"""ResNet family: parameter counts on both sides, variant behaviour, input errors, and the
torchvision and paddle.vision reference tests.

paddle.vision's ResNet uses torchvision's attribute names (``conv1``, ``layer1.0.bn1``,
``downsample.0``, ``fc``), so our paddle state dict loads into it unchanged: the name
mapping there is the identity, and the test asserts that the key sets are equal.
"""
import math

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity import weights as W
from _reference import (assert_input_errors, assert_trainable_both, check_torchvision_chain, max_rel, paddle_eval,
                        randomize_bn_)
from _torchvision import import_torchvision
from zoo.specs.resnet import PUBLISHED_PARAMS, RESNET_CONFIGS, UNREGISTERED

NAMES = zoo.names("resnet")
TORCHVISION_NAMES = [n for n in NAMES if n in RESNET_CONFIGS]


def _param(name, *marks):
    return pytest.param(name, marks=[*marks, *([pytest.mark.heavy] if zoo.get(name).heavy else [])])


def d2l_resnet18_count(in_channels: int = 1, num_classes: int = 10) -> int:
    """Seed 001's ResNet-18 counted layer by layer, independently of the implementation."""
    def conv(cin, cout, k):
        return cin * cout * k * k + cout  # every conv of the seed has a bias

    def residual(cin, cout, projection):
        return conv(cin, cout, 3) + conv(cout, cout, 3) + (conv(cin, cout, 1) if projection else 0) + 4 * cout

    total = conv(in_channels, 64, 7) + 2 * 64
    cin = 64
    for i, cout in enumerate((64, 128, 256, 512)):
        total += residual(cin, cout, projection=i > 0) + residual(cout, cout, projection=False)
        cin = cout
    return total + 512 * num_classes + num_classes


@pytest.mark.parametrize("name", [_param(n) for n in TORCHVISION_NAMES])
def test_published_parameter_count_both_sides(name):
    assert_trainable_both(name, PUBLISHED_PARAMS[name])


def test_the_issue_counts():
    assert PUBLISHED_PARAMS["resnet18"] == 11_689_512
    assert PUBLISHED_PARAMS["resnet50"] == 25_557_032


def test_d2l_resnet18_count_both_sides():
    expected = d2l_resnet18_count()
    assert expected == 11_178_378
    assert_trainable_both("resnet18_d2l", expected)
    assert_trainable_both("resnet18_d2l", d2l_resnet18_count(3, 100), in_channels=3, num_classes=100)


def test_d2l_residual_layout():
    model = torch_impl.build("resnet18_d2l")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    projected = [name for name, m in model.named_modules() if getattr(m, "conv3", None) is not None]
    assert projected == ["b3.0", "b4.0", "b5.0"]
    assert model.b3[0].conv1.stride == (2, 2) and model.b3[0].conv3.stride == (2, 2)
    assert model.b2[0].conv3 is None and model.b2[0].conv1.stride == (1, 1)
    assert paddle_impl.build("resnet18_d2l").b2[0].conv3 is None


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_stride_on_the_3x3_conv(framework):
    model = (torch_impl if framework == "torch" else paddle_impl).build("resnet50")
    block = model.layer2[0]
    stride = lambda conv: tuple(conv.stride if framework == "torch" else conv._stride)  # noqa: E731
    assert stride(block.conv1) == (1, 1) and stride(block.conv2) == (2, 2)
    assert stride(block.downsample[0]) == (2, 2)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_zero_init_residual(framework):
    impl = torch_impl if framework == "torch" else paddle_impl
    for block, last in (("basic", "bn2"), ("bottleneck", "bn3")):
        model = impl.resnet.ResNet(block, (1, 2, 1, 1), zero_init_residual=True)
        blocks = [b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer]
        assert all(float(abs(getattr(b, last).weight).max()) == 0.0 for b in blocks)
        assert all(float(abs(b.bn1.weight).min()) == 1.0 for b in blocks)
        default = impl.resnet.ResNet(block, (1, 1, 1, 1))
        assert float(abs(default.layer1[0].residual_norm().weight).min()) == 1.0
    assert float(abs(impl.build("resnet18", zero_init_residual=True).layer4[1].bn2.weight).max()) == 0.0


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_groups_and_width_per_group(framework):
    impl = torch_impl if framework == "torch" else paddle_impl
    # A ResNeXt 32x4d block at 64 planes: the 3x3 conv is 128 wide in 32 groups of 4.
    # Wide ResNet's width_per_group=128 doubles the plain 64-wide 3x3 conv.
    resnext = impl.resnet.Bottleneck(2, 256, 64, groups=32, width_per_group=4)
    assert list(resnext.conv2.weight.shape) == [128, 4, 3, 3]
    assert list(resnext.conv3.weight.shape) == [256, 128, 1, 1]
    assert list(impl.resnet.Bottleneck(2, 256, 64, width_per_group=128).conv2.weight.shape) == [128, 128, 3, 3]
    assert RESNET_CONFIGS["resnext50_32x4d"]["groups"] == 32
    assert RESNET_CONFIGS["wide_resnet50_2"]["width_per_group"] == 128
    with pytest.raises(ValueError, match="BasicBlock supports only groups=1"):
        impl.resnet.ResNet("basic", (1, 1, 1, 1), groups=2)


def test_builder_groups_make_a_resnext():
    """resnet50(groups=32, width_per_group=4) is resnext50_32x4d (torch on the meta device: shapes only)."""
    with torch.device("meta"):
        custom = torch_impl.build("resnet50", groups=32, width_per_group=4).state_dict()
        resnext = torch_impl.build("resnext50_32x4d").state_dict()
    assert [(k, v.shape) for k, v in custom.items()] == [(k, v.shape) for k, v in resnext.items()]


def test_init_matches_torchvision_scheme():
    torch.manual_seed(0)
    t = torch_impl.build("resnet50")
    p = paddle_impl.build("resnet50")
    fan_out = 512 * 9  # layer4 3x3: out channels x kernel
    for conv in (t.layer4[1].conv2.weight.detach().numpy(), p.layer4[1].conv2.weight.numpy()):
        assert abs(conv.std() / math.sqrt(2 / fan_out) - 1) < 0.02
    bound = 1 / math.sqrt(2048)
    for fc in (t.fc.weight.detach().numpy(), p.fc.weight.numpy(), t.fc.bias.detach().numpy(), p.fc.bias.numpy()):
        assert np.abs(fc).max() <= bound and np.abs(fc).max() > 0.9 * bound
    assert float(p.bn1.weight.min()) == 1.0 and float(abs(p.bn1.bias).max()) == 0.0


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d", "resnet18_d2l"])
@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_one_dimensional(name, framework):
    impl, lib = (torch_impl, torch) if framework == "torch" else (paddle_impl, paddle)
    info = zoo.get(name)
    model = impl.build(name, dims=1, num_classes=7)
    model.eval()
    x = np.random.RandomState(0).standard_normal((2, info.in_channels, 40)).astype("float32")
    out = model(lib.to_tensor(x) if framework == "paddle" else torch.from_numpy(x))
    assert list(out.shape) == [2, 7]
    conv_type = torch.nn.Conv1d if framework == "torch" else paddle.nn.Conv1D
    assert isinstance(model.b1[0] if name == "resnet18_d2l" else model.conv1, conv_type)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("name", ["resnet18", "resnet18_d2l"])
def test_input_shape_errors(framework, name):
    assert_input_errors(framework, name)


@pytest.mark.parametrize("name", [_param(n, pytest.mark.torchvision) for n in TORCHVISION_NAMES])
def test_torchvision_reference(name):
    """torchvision's weights load strictly, give our torch output, and convert to paddle."""
    tv = import_torchvision()
    x = np.random.RandomState(1).standard_normal((2, 3, 32, 32))
    check_torchvision_chain(torch_impl.build(name), getattr(tv.models, name)(), paddle_impl.build(name), x)


@pytest.mark.torchvision
@pytest.mark.parametrize("name", UNREGISTERED)
def test_unregistered_rows_have_torchvision_keys(name):
    """The 101-layer ResNeXt and Wide ResNet rows build with torchvision's keys, shapes and counts
    (on the meta device: no memory, no compute); they are left out of the registry (see the spec)."""
    tv = import_torchvision()
    with torch.device("meta"):
        ours = torch_impl.resnet.ResNet.from_config(name).state_dict()
        ref = getattr(tv.models, name)().state_dict()
    assert [(k, tuple(v.shape)) for k, v in ours.items()] == [(k, tuple(v.shape)) for k, v in ref.items()]
    assert sum(v.numel() for k, v in ours.items() if not k.endswith(("running_mean", "running_var",
                                                                    "num_batches_tracked"))) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", [_param(n) for n in TORCHVISION_NAMES])
def test_paddle_vision_reference(name):
    """paddle.vision's ResNet with our paddle weights gives our paddle output (identity name map)."""
    import paddle.vision.models as pvm

    ours = paddle_impl.build(name)
    t = randomize_bn_(torch_impl.build(name))
    W.copy_torch_to_paddle(t, ours)
    reference = getattr(pvm, name)()
    state = ours.state_dict()
    assert set(state) == set(reference.state_dict())
    W.load_paddle(reference, {k: v.numpy() for k, v in state.items()})
    ours.to(dtype="float64")
    reference.to(dtype="float64")
    x = np.random.RandomState(2).standard_normal((2, 3, 32, 32))
    assert max_rel(paddle_eval(ours, x), paddle_eval(reference, x)) < 1e-10
