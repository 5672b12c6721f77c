"""EfficientNet B0-B7: parameter counts on both sides, the per-variant settings torchvision uses,
stochastic depth, input checks, and the torchvision reference (strict load, equal outputs)."""
import math

import numpy as np
import paddle
import pytest
import torch
from _torchvision import import_torchvision

import paddle_impl
import torch_impl
import zoo
from paddle_impl import efficientnet as P
from parity import weights as W
from torch_impl import efficientnet as T
from zoo.specs.efficientnet import VARIANTS, efficientnet_stages

NAMES = zoo.names("efficientnet")
HEAVY = {n for n in NAMES if zoo.get(n).heavy}


def _param(name: str):
    return pytest.param(name, marks=[pytest.mark.heavy] if name in HEAVY else [])


def _lazy_pair(name: str, **kwargs):
    """Both models with their parameters' shapes but no storage (B7 is 66M parameters)."""
    with torch.device("meta"):
        t = torch_impl.build(name, **kwargs)
    with paddle.LazyGuard():
        p = paddle_impl.build(name, **kwargs)
    return t, p


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_on_both_sides(name):
    (pub,) = zoo.get(name).published
    t, p = _lazy_pair(name)
    assert sum(q.numel() for q in t.parameters() if q.requires_grad) == pub.count
    assert sum(int(math.prod(q.shape)) for q in p.parameters() if not q.stop_gradient) == pub.count


@pytest.mark.parametrize("name", NAMES)
def test_variant_settings(name):
    """Dropout, BN eps/momentum (torch convention on both sides) and block counts as torchvision."""
    v = VARIANTS[name]
    t, p = _lazy_pair(name)
    assert t.classifier[0].p == p.classifier[0].p == v.dropout
    t_bn = [m for m in t.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    p_bn = [m for m in p.sublayers() if isinstance(m, paddle.nn.BatchNorm2D)]
    assert len(t_bn) == len(p_bn)
    assert {(m.eps, m.momentum) for m in t_bn} == {(v.bn_eps, v.bn_momentum)}
    assert {(m._epsilon, m.torch_momentum) for m in p_bn} == {(v.bn_eps, v.bn_momentum)}
    _, stages, _ = efficientnet_stages(name)
    assert [len(s) for s in t.features[1:-1]] == [len(s) for s in p.features[1:-1]] == [len(s) for s in stages]
    block = t.features[2][0].block  # expand, depthwise, SE, project
    assert block[2].fc1.out_channels == max(1, block[0][0].in_channels // 4)  # SE on a quarter of the input


def test_dropout_and_drop_path_overrides():
    t, p = _lazy_pair("efficientnet_b0", dropout=0.0, stochastic_depth_prob=0.5)
    assert t.classifier[0].p == p.classifier[0].p == 0.0
    last = t.features[-2][-1]
    assert last.stochastic_depth.p == pytest.approx(0.5 * 15 / 16)


@pytest.mark.parametrize("module", [T.StochasticDepth, P.StochasticDepth])
def test_stochastic_depth(module):
    """Whole samples are dropped with probability p and survivors scaled by 1/(1-p) in training;
    the identity in eval and at p=0. The class says it is stochastic, for the harness."""
    is_torch = module is T.StochasticDepth
    ones = torch.ones(4000, 3, 5) if is_torch else paddle.ones([4000, 3, 5])
    layer = module(0.25)
    assert layer.stochastic is True
    layer.train()
    out = layer(ones).numpy()
    per_row = out.reshape(4000, -1)
    assert set(np.unique(per_row)) <= {0.0, np.float32(1 / 0.75)}
    assert np.all(per_row.min(1) == per_row.max(1))  # a row is kept or dropped whole
    assert abs((per_row[:, 0] == 0).mean() - 0.25) < 0.03
    layer.eval()
    np.testing.assert_array_equal(layer(ones).numpy(), ones.numpy())
    zero = module(0.0)
    zero.train()
    np.testing.assert_array_equal(zero(ones).numpy(), ones.numpy())


@pytest.mark.parametrize("dims", [1, 2])
def test_dims_and_channels(dims):
    t = torch_impl.build("efficientnet_b0", num_classes=5, in_channels=1, dims=dims).eval()
    p = paddle_impl.build("efficientnet_b0", num_classes=5, in_channels=1, dims=dims)
    p.eval()
    x = np.random.RandomState(0).standard_normal((2, 1) + (33,) * dims).astype("float32")
    assert tuple(t(torch.from_numpy(x)).shape) == tuple(p(paddle.to_tensor(x)).shape) == (2, 5)
    assert isinstance(t.features[0][0], torch.nn.Conv1d if dims == 1 else torch.nn.Conv2d)
    assert isinstance(p.features[0][0], paddle.nn.Conv1D if dims == 1 else paddle.nn.Conv2D)


def test_input_shape_errors():
    for build, tensor in ((torch_impl.build, torch.zeros), (paddle_impl.build, paddle.zeros)):
        model = build("efficientnet_b0")
        with pytest.raises(ValueError, match=r"\[N, C, H, W\].*\[2, 3, 32\]"):
            model(tensor([2, 3, 32]))
        with pytest.raises(ValueError, match=r"3 input channels.*\[2, 4, 32, 32\]"):
            model(tensor([2, 4, 32, 32]))


def test_init_scheme_matches_torchvision():
    """Same scheme on both sides: conv weights kaiming-normal with fan_out (std sqrt(2 / fan_out),
    fan_out = out_channels * k * k even for depthwise convs), Linear uniform(+-1/sqrt(out))."""
    t = torch_impl.build("efficientnet_b0")
    p = paddle_impl.build("efficientnet_b0")
    for tw, pw in ((t.features[6][0].block[0][0].weight, p.features[6][0].block[0][0].weight),   # 1x1, 112 -> 672
                   (t.features[6][0].block[1][0].weight, p.features[6][0].block[1][0].weight)):  # 5x5 depthwise, 672
        std = math.sqrt(2.0 / (tw.shape[0] * tw[0, 0].numel()))
        for w in (tw.detach().numpy(), pw.numpy()):
            assert abs(w.std() / std - 1) < 0.05
    bound = 1 / math.sqrt(1000)
    for w in (t.classifier[1].weight.detach().numpy(), p.classifier[1].weight.numpy()):
        assert -bound <= w.min() < -0.95 * bound and 0.95 * bound < w.max() <= bound
    assert not t.classifier[1].bias.detach().numpy().any() and not p.classifier[1].bias.numpy().any()


def _randomize_bn_stats(module: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


@pytest.mark.torchvision
@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_torchvision_weights_load_and_agree(name):
    """torchvision's state dict loads with strict=True; our torch model and the paddle model
    converted from it give torchvision's outputs (float64, eval, a small input)."""
    tv = import_torchvision()
    torch.manual_seed(0)
    ref = getattr(tv.models, name)().double().eval()
    _randomize_bn_stats(ref)
    ours = torch_impl.build(name).double().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    p = paddle_impl.build(name)
    p.to(dtype="float64")
    W.copy_torch_to_paddle(ours, p)
    p.eval()
    x = np.random.RandomState(0).standard_normal((1, 3, 32, 32))
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
        got = ours(torch.from_numpy(x)).numpy()
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= 1e-12 * scale
    assert np.abs(p(paddle.to_tensor(x)).numpy() - expected).max() <= 1e-10 * scale
