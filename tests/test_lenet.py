"""LeNet family: parameter counts on both sides, the sparse C3 table, DownSample, input checks."""
import math

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from zoo.specs.lenet import C3_CONNECTIONS


def trainable(model) -> int:
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(int(math.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


@pytest.mark.parametrize("name,kwargs,count", [
    ("lenet5", {}, 61_706),
    ("lenet5_d2l", {}, 61_706),
    ("lenet5_original", {}, 61_750),
    ("lenet5_original", {"sparse_c3": True}, 60_850),
    ("lenet5_original_sparse", {}, 60_850),
    ("lenet_bn", {"num_classes": 5, "in_channels": 3, "input_size": 224}, 71_940_187),
])
def test_parameter_counts_both_sides(name, kwargs, count):
    assert trainable(torch_impl.build(name, **kwargs)) == count
    assert trainable(paddle_impl.build(name, **kwargs)) == count


@pytest.mark.parametrize("build", [torch_impl.build, paddle_impl.build], ids=["torch", "paddle"])
def test_layer_parameter_counts_match_the_tables(build):
    """Seed 002's per-layer counts, and seed 004's 12 and 32 for the trainable subsampling."""
    m = build("lenet5")
    sizes = {n: int(math.prod(p.shape)) for n, p in m.named_parameters()}
    assert sizes["features.c1.weight"] + sizes["features.c1.bias"] == 156
    assert sizes["features.c3.weight"] + sizes["features.c3.bias"] == 2_416
    assert sizes["features.c5.weight"] + sizes["features.c5.bias"] == 48_120
    assert sizes["classifier.f6.weight"] + sizes["classifier.f6.bias"] == 10_164
    assert sizes["classifier.output.weight"] + sizes["classifier.output.bias"] == 850
    o = dict((n, int(math.prod(p.shape))) for n, p in build("lenet5_original").named_parameters())
    assert o["features.s2.weight"] + o["features.s2.bias"] == 12
    assert o["features.s4.weight"] + o["features.s4.bias"] == 32
    s = dict((n, int(math.prod(p.shape))) for n, p in build("lenet5_original_sparse").named_parameters())
    assert s["features.c3.weight"] + s["features.c3.bias"] == 1_516


def test_c3_table_is_the_papers():
    assert len(C3_CONNECTIONS) == 16 and sum(map(len, C3_CONNECTIONS)) == 60
    assert [len(r) for r in C3_CONNECTIONS] == [3] * 6 + [4] * 9 + [6]
    # Row 0 of Table I: input map 0 feeds C3 maps 0, 4, 5, 6, 9, 10, 11, 12, 14, 15.
    assert [o for o, row in enumerate(C3_CONNECTIONS) if 0 in row] == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    assert [o for o, row in enumerate(C3_CONNECTIONS) if 3 in row] == [1, 2, 3, 6, 7, 8, 9, 12, 14, 15]


@pytest.mark.parametrize("dims", [1, 2])
def test_sparse_c3_connectivity_torch(dims):
    """Output map o depends on input map i exactly when Table I connects them."""
    c3 = torch_impl.build("lenet5_original_sparse", dims=dims).features.c3
    x = torch.randn((1, 6) + (14,) * dims, requires_grad=True)
    for o, row in enumerate(C3_CONNECTIONS):
        (grad,) = torch.autograd.grad(c3(x)[0, o].sum(), x)
        touched = [i for i in range(6) if grad[0, i].abs().sum() > 0]
        assert touched == list(row), f"C3 map {o}"


@pytest.mark.parametrize("dims", [1, 2])
def test_sparse_c3_connectivity_paddle(dims):
    c3 = paddle_impl.build("lenet5_original_sparse", dims=dims).features.c3
    dense = c3.dense_weight().numpy()
    for o, row in enumerate(C3_CONNECTIONS):
        touched = [i for i in range(6) if np.abs(dense[o, i]).sum() > 0]
        assert touched == list(row), f"C3 map {o}"
    x = paddle.randn([1, 6] + [14] * dims)
    x.stop_gradient = False
    c3(x)[0, 15].sum().backward()
    assert all(float(x.grad[0, i].abs().sum()) > 0 for i in range(6))


def test_downsample_is_average_times_weight_plus_bias():
    m = torch_impl.build("lenet5_original").features.s2
    with torch.no_grad():
        m.weight.copy_(torch.arange(1.0, 7.0))
        m.bias.copy_(torch.full((6,), 0.5))
    x = torch.randn(2, 6, 28, 28)
    want = torch.nn.functional.avg_pool2d(x, 2) * torch.arange(1.0, 7.0).view(1, 6, 1, 1) + 0.5
    torch.testing.assert_close(m(x), want)


def test_lenet_bn_final_relu_is_optional():
    plain = torch_impl.build("lenet_bn", input_size=32)
    seed = torch_impl.build("lenet_bn", input_size=32, final_relu=True)
    assert trainable(plain) == trainable(seed)
    assert isinstance(seed.classifier[-1], torch.nn.ReLU) and isinstance(plain.classifier[-1], torch.nn.Linear)
    assert isinstance(paddle_impl.build("lenet_bn", input_size=32, final_relu=True).classifier[-1], paddle.nn.ReLU)


def test_lenet_bn_sizes_classifier_from_the_input():
    # Seed 000: ((224 - 4)//2 - 4)//2 = 53, so 50 * 53 = 2650 features in 1D.
    assert torch_impl.build("lenet_bn", dims=1, input_size=224).classifier[0].in_features == 2650
    assert paddle_impl.build("lenet_bn", dims=1, input_size=224).classifier[0].weight.shape == [2650, 512]
    m = torch_impl.build("lenet_bn", input_size=(40, 64))
    assert m(torch.randn(2, 1, 40, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="at least 16"):
        torch_impl.build("lenet_bn", input_size=15)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("name", zoo.names("lenet"))
def test_wrong_input_names_expected_and_actual_shape(framework, name):
    build = torch_impl.build if framework == "torch" else paddle_impl.build
    tensor = (lambda s: torch.zeros(s)) if framework == "torch" else (lambda s: paddle.zeros(s))
    info = zoo.get(name)
    size = info.check_size(2)
    model = build(name, **info.build_kwargs(2, size))
    model.eval()
    with pytest.raises(ValueError, match=r"\[N, C, H, W\].*got shape \[2, 1, 32\]"):
        model(tensor([2, 1, 32]))
    with pytest.raises(ValueError, match=r"expects 1 input channels.*got shape \[2, 3, "):
        model(tensor([2, 3, size, size]))
    with pytest.raises(ValueError, match=rf"built for input \[2, 1, {size}, {size}\].*got shape \[2, 1, 64, 64\]"):
        model(tensor([2, 1, 64, 64]))
    m1 = build(name, **info.build_kwargs(1, size))
    m1.eval()
    with pytest.raises(ValueError, match=r"\[N, C, L\]"):
        m1(tensor([2, 1, size, size]))
