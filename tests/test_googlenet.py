"""GoogLeNet family: counts on both sides, the aux-head outputs, transform_input, the d2l
variant's structure, the 1D rule, input checks, and torchvision as an independent reference.

The registry-wide parity (gradients, BN statistics, optimizer steps, ONNX) is tests/test_parity.py.
paddle.vision's GoogLeNet is not used: it always builds its aux heads and is not torchvision's
BN layout (PITFALLS.md), so no weights map onto it one to one.
"""
import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity.onnx_check import check_onnx
from parity.weights import to_numpy
from tests._inception_family import (assert_close, assert_has_signal, calibrate_bn, check_shape_errors, counts,
                                     run_paddle, run_torch, to_paddle)
from tests._torchvision import import_torchvision
from zoo.specs.googlenet import IMAGENET_MEAN_STD, INCEPTION_V1, OUTPUT_FIELDS, inception_v1_out

NAMES = zoo.names("googlenet")


def _d2l_count(in_channels: int, num_classes: int, dims: int) -> int:
    """Seed 001's GoogLeNet counted by hand from the module table: biased convs, no BN."""
    def conv(cin: int, cout: int, k: int) -> int:
        return cin * cout * k ** dims + cout

    total = conv(in_channels, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
    for cin, c1, c3r, c3, c5r, c5, pool in INCEPTION_V1.values():
        total += conv(cin, c1, 1) + conv(cin, c3r, 1) + conv(c3r, c3, 3) + conv(cin, c5r, 1) + conv(c5r, c5, 5)
        total += conv(cin, pool, 1)
    return total + 1024 * num_classes + num_classes


def test_registry_lists_both_variants():
    assert NAMES == ["googlenet", "googlenet_d2l"]


def test_published_counts_on_both_sides():
    assert counts("googlenet", aux_logits=False) == (6_624_904, 6_624_904)  # torchvision's published count
    # With the aux heads (torchvision's class default; checked against torchvision below): each head
    # is a 1x1 conv to 128 with BN, Linear(128*4*4, 1024) and Linear(1024, classes).
    aux_heads = sum(cin * 128 + 2 * 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for cin in (512, 528))
    assert counts("googlenet") == (6_624_904 + aux_heads,) * 2 == (13_004_888,) * 2
    t, p = counts("googlenet", aux_logits=False, num_classes=10, in_channels=1, dims=1)
    assert t == p < 6_624_904


@pytest.mark.parametrize("dims", [1, 2])
def test_d2l_count_follows_the_table(dims):
    want = _d2l_count(1, 10, dims)
    assert counts("googlenet_d2l", dims=dims) == (want, want)
    assert counts("googlenet_d2l", dims=2)[0] == 5_977_530


@pytest.mark.parametrize("dims", [1, 2])
def test_train_mode_returns_main_and_aux_logits_like_torchvision(dims):
    """Train mode with aux heads: GoogLeNetOutputs(logits, aux_logits2, aux_logits1), torchvision's
    namedtuple order; eval mode, or no aux heads, gives the logits alone. Both frameworks."""
    x = np.random.RandomState(0).standard_normal((2, 3) + (64,) * dims).astype(np.float32)
    for build, run in ((torch_impl.build, run_torch), (paddle_impl.build, run_paddle)):
        model = build("googlenet", num_classes=7, dims=dims)
        model.train()
        out = run(model, x)
        assert type(out).__name__ == "GoogLeNetOutputs" and out._fields == OUTPUT_FIELDS
        assert [tuple(t.shape) for t in out] == [(2, 7)] * 3
        assert not np.allclose(to_numpy(out.aux_logits1), to_numpy(out.aux_logits2))
        model.eval()
        assert tuple(run(model, x).shape) == (2, 7)
        plain = build("googlenet", num_classes=7, dims=dims, aux_logits=False)
        plain.train()
        assert tuple(run(plain, x).shape) == (2, 7)
        assert plain.aux1 is None and plain.aux2 is None


def test_transform_input_maps_imagenet_normalisation():
    """x * std/0.5 + (mean - 0.5)/0.5 per channel, off by default, RGB only."""
    x = np.random.RandomState(1).standard_normal((2, 3, 32, 32)).astype(np.float64)
    want = np.concatenate([x[:, i:i + 1] * (s / 0.5) + (m - 0.5) / 0.5 for i, (m, s) in enumerate(IMAGENET_MEAN_STD)], 1)
    from paddle_impl.googlenet import imagenet_to_inception as p_transform
    from torch_impl.googlenet import imagenet_to_inception as t_transform
    np.testing.assert_allclose(t_transform(torch.from_numpy(x)).numpy(), want, rtol=1e-15)
    np.testing.assert_allclose(p_transform(paddle.to_tensor(x)).numpy(), want, rtol=1e-15)
    assert not torch_impl.build("googlenet").transform_input
    for build in (torch_impl.build, paddle_impl.build):
        with pytest.raises(ValueError, match="in_channels=3"):
            build("googlenet", in_channels=1, transform_input=True)


def test_variants_differ_where_the_tables_say():
    """torchvision: BN blocks with bias-free convs and a 3x3 in the "5x5" branch; d2l: biased convs,
    no BN, a real 5x5, no aux heads, no dropout."""
    tv, d2l = torch_impl.build("googlenet"), torch_impl.build("googlenet_d2l")
    assert tv.inception3a.branch3[1].conv.kernel_size == (3, 3) and tv.inception3a.branch3[1].conv.bias is None
    assert d2l.inception3a.branch3[1].conv.kernel_size == (5, 5) and d2l.inception3a.branch3[1].conv.padding == (2, 2)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d2l.modules())
    assert all(m.bias is not None for m in d2l.modules() if isinstance(m, torch.nn.Conv2d))
    assert d2l.aux1 is None and isinstance(d2l.dropout, torch.nn.Identity)
    assert tv.maxpool4.kernel_size == 2 and tv.maxpool4.ceil_mode and d2l.maxpool4.padding == 1
    assert tv.fc.in_features == inception_v1_out("inception5b") == 1024
    p = paddle_impl.build("googlenet_d2l")
    assert not any(isinstance(m, paddle.nn.BatchNorm2D) for m in p.sublayers())


@pytest.mark.parametrize("name", NAMES)
def test_1d_follows_the_rule(name):
    """A 1D model is the 2D one on a 1xL image: kernel 7 stem, 3x3 -> 3, 4x4 aux pool -> 4."""
    t = torch_impl.build(name, dims=1)
    assert t.conv1.conv.kernel_size == (7,) and t.inception4a.branch2[1].conv.kernel_size == (3,)
    if name == "googlenet":
        assert t.aux1.fc1.in_features == 128 * 4
    x = np.random.RandomState(2).standard_normal((2, zoo.get(name).in_channels, 96)).astype(np.float32)
    t.eval()
    assert tuple(run_torch(t, x).shape) == (2, zoo.get(name).num_classes)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dims", [1, 2])
def test_input_shape_errors(name, dims):
    info = zoo.get(name)
    too_small = info.min_size - 1 if info.min_size > 1 else None
    check_shape_errors(name, dims, info.in_channels, too_small, info.min_size)


def test_googlenet_accepts_its_minimum_size_on_both_sides():
    """15 is torchvision's minimum: the ceil-mode pools end on 1x1 maps; both frameworks agree."""
    t = torch_impl.build("googlenet", aux_logits=False)
    x = np.random.RandomState(3).standard_normal((2, 3, 15, 15))
    t.double()
    calibrate_bn(t, np.random.RandomState(4).standard_normal((4, 3, 15, 15)))
    layer = to_paddle(t, "googlenet", aux_logits=False)
    assert_close(run_paddle(layer, x), run_torch(t, x), 1e-12)


@pytest.mark.torchvision
@pytest.mark.parametrize("aux_logits", [True, False])
def test_torchvision_reference(aux_logits):
    """torchvision's GoogLeNet state dict loads into ours with strict=True; with calibrated BN
    statistics eval outputs are equal, and train-mode outputs (all three with aux heads) too;
    converted to paddle the eval outputs agree in float64."""
    tv = import_torchvision()
    torch.manual_seed(0)
    ref = tv.models.googlenet(aux_logits=aux_logits, init_weights=False)
    with torch.no_grad():  # torchvision's own init needs scipy; any weights will do for a reference
        for m in ref.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.normal_(m.weight, std=0.05)
    x = np.random.RandomState(0).standard_normal((2, 3, 64, 64))
    ref.double()
    calibrate_bn(ref, np.random.RandomState(1).standard_normal((4, 3, 64, 64)))
    ours = torch_impl.build("googlenet", aux_logits=aux_logits).double()
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    want = run_torch(ref, x)
    assert torch.equal(run_torch(ours, x), want)
    assert_has_signal(want, ref.fc.bias)
    for m in (ref, ours):
        m.train()
        for d in m.modules():
            if isinstance(d, torch.nn.Dropout):
                d.eval()
    ref_train, ours_train = run_torch(ref, x), run_torch(ours, x)
    if aux_logits:
        assert ours_train._fields == ref_train._fields == OUTPUT_FIELDS
        assert all(torch.equal(a, b) for a, b in zip(ours_train, ref_train))
    else:
        assert torch.is_tensor(ours_train) and torch.equal(ours_train, ref_train)
    ours.eval()  # the train-mode passes moved the BN statistics: compare against the current ones
    layer = to_paddle(ours, "googlenet", aux_logits=aux_logits)
    assert_close(run_paddle(layer, x), run_torch(ours, x), 1e-12)


@pytest.mark.heavy
def test_onnx_with_calibrated_statistics():
    """The harness exports at init, where googlenet's eval logits are almost the fc bias; here both
    exports run with calibrated BN statistics, so onnxruntime sees the whole network."""
    t = torch_impl.build("googlenet")
    calibrate_bn(t, np.random.RandomState(5).standard_normal((4, 3, 64, 64)).astype(np.float32))
    layer = to_paddle(t, "googlenet")
    x = np.random.RandomState(6).standard_normal((2, 3, 64, 64)).astype(np.float32)
    assert_has_signal(run_torch(t, x), t.fc.bias)
    checks = check_onnx(t, layer, x)
    assert [c.name for c in checks] == ["onnx_torch", "onnx_paddle", "onnx_cross"]
    assert all(c.passed for c in checks), [(c.name, c.max_rel, c.detail) for c in checks]
