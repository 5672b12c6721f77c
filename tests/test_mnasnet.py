"""MnasNet-B1 0.5 / 0.75 / 1.0 / 1.3: parameter counts, depth rounding, BN momentum, init,
input errors and the torchvision reference, on both sides."""
import math
import warnings

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from _family_checks import (assert_input_errors, assert_output_shape, eval_pair, fan_out_std_ratios, randomize_,
                            rel_err, trainable)
from _torchvision import import_torchvision
from parity import weights as W
from zoo.specs.mnasnet import MNASNET_ALPHAS, MNASNET_BN_MOMENTUM, mnasnet_depths, round_to_multiple_of

NAMES = zoo.names("mnasnet")
PUBLISHED = {"mnasnet0_5": 2_218_512, "mnasnet0_75": 3_170_208, "mnasnet1_0": 4_383_312, "mnasnet1_3": 6_282_256}


def test_family_is_registered():
    assert NAMES == list(PUBLISHED) == list(MNASNET_ALPHAS)


@pytest.mark.parametrize("name", NAMES)
def test_published_parameter_counts_both_sides(name):
    assert zoo.get(name).published[0].count == PUBLISHED[name]
    assert trainable(torch_impl.build(name)) == PUBLISHED[name]
    assert trainable(paddle_impl.build(name)) == PUBLISHED[name]


def test_depth_rounding():
    """Round to multiples of 8, up unless within 10% above the lower multiple (torchvision's rule)."""
    assert round_to_multiple_of(83, 8) == 80 and round_to_multiple_of(84, 8) == 88
    assert mnasnet_depths(1.0) == [32, 16, 24, 40, 80, 96, 192, 320]
    assert mnasnet_depths(0.5) == [16, 8, 16, 24, 40, 48, 96, 160]
    with pytest.raises(ValueError):
        mnasnet_depths(0.0)


@pytest.mark.torchvision
def test_depths_match_torchvision():
    import_torchvision()
    from torchvision.models.mnasnet import _get_depths

    for alpha in (*MNASNET_ALPHAS.values(), 0.35, 1.4, 2.0):
        assert mnasnet_depths(alpha) == _get_depths(alpha), alpha


@pytest.mark.parametrize("dims", [1, 2])
def test_bn_momentum_is_tensorflows_0_9997(dims):
    """Every BatchNorm takes torch momentum 1 - 0.9997; a train step moves the running mean by
    that fraction of the batch mean on both sides."""
    t = torch_impl.build("mnasnet0_5", dims=dims, num_classes=3)
    p = paddle_impl.build("mnasnet0_5", dims=dims, num_classes=3)
    t_bns = [m for m in t.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    p_bns = [m for m in p.sublayers() if isinstance(m, paddle.nn.layer.norm._BatchNormBase)]
    assert len(t_bns) == len(p_bns) == 52
    assert all(m.momentum == MNASNET_BN_MOMENTUM for m in t_bns)
    assert all(m.torch_momentum == MNASNET_BN_MOMENTUM for m in p_bns)
    assert abs(MNASNET_BN_MOMENTUM - 3e-4) < 1e-15
    W.copy_torch_to_paddle(t, p)
    x = np.random.RandomState(0).standard_normal((4, 3) + (32,) * dims) + 1.0
    t.train()(torch.from_numpy(x).float())
    p.train()
    p(paddle.to_tensor(x.astype("float32")))
    stem = t.layers[0](torch.from_numpy(x).float()).detach().numpy()  # the first BN's input
    batch_mean = stem.mean(axis=tuple(i for i in range(stem.ndim) if i != 1))
    np.testing.assert_allclose(t_bns[0].running_mean.numpy(), MNASNET_BN_MOMENTUM * batch_mean, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(p_bns[0]._mean.numpy(), t_bns[0].running_mean.numpy(), rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("name", ["mnasnet0_5", "mnasnet1_3"])
def test_init_scheme_both_sides(name):
    """torchvision's MnasNet init on both sides: convs N(0, sqrt(2 / fan_out)) with fan_out =
    out_channels * k (depthwise included), BN 1/0, Linear U(+-sqrt(3 / classes)), zero bias."""
    t, p = torch_impl.build(name), paddle_impl.build(name)
    bound = math.sqrt(3.0 / 1000)
    for w in (t.classifier[1].weight.detach().numpy(), p.classifier[1].weight.numpy().T):
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert not t.classifier[1].bias.detach().numpy().any() and not p.classifier[1].bias.numpy().any()
    t_sd = {k: v.numpy() for k, v in t.state_dict().items()}
    p_sd = {W.paddle_key_to_torch(k, set()): v.numpy() for k, v in p.state_dict().items()}
    for sd in (t_sd, p_sd):
        ratios = fan_out_std_ratios(sd)
        assert all(abs(r - 1) < 0.1 for r in ratios.values()), ratios
        assert sum(sd[k].shape[1] == 1 for k in ratios) > 4  # depthwise convs among them


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dims", [1, 2])
def test_any_size_and_input_errors(name, dims):
    t, p = eval_pair(name, dims=dims, in_channels=1, num_classes=4)
    assert_output_shape(t, p, [(2, 1) + (side,) * dims for side in (1, 33)], (2, 4))
    assert_input_errors(t, p, (((2, 3) + (32,) * dims, "1 input channels"),
                               ((2, 1) + (32,) * (3 - dims), "expects input")))


@pytest.mark.torchvision
@pytest.mark.parametrize("name", NAMES)
def test_torchvision_reference(name):
    """torchvision's state dict (random values everywhere) loads with strict=True and gives the
    same output here and in paddle; ours loads back into torchvision's MNASNet as layout
    version 2, without torchvision swapping in its old fixed-width stem."""
    tv = import_torchvision()
    ref = getattr(tv.models, name)().double().eval()
    randomize_(ref.state_dict())
    ours = torch_impl.build(name).double().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    back = getattr(tv.models, name)().double().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torchvision warns when it patches in the v1 stem
        back.load_state_dict(ours.state_dict(), strict=True)
    x = np.random.RandomState(0).standard_normal((2, 3, 64, 64))
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
        assert np.array_equal(ours(torch.from_numpy(x)).numpy(), want)
        assert np.array_equal(back(torch.from_numpy(x)).numpy(), want)
    p = paddle_impl.build(name)
    p.to(dtype="float64")
    W.copy_torch_to_paddle(ours, p)
    p.eval()
    assert rel_err(p(paddle.to_tensor(x)).numpy(), want) < 1e-12
