"""Each torch/paddle difference the code relies on, shown on the pinned versions: the naive
port disagrees, the rule makes them agree. If a release changes a behaviour, the test
fails and PITFALLS.md (and the code that applies the rule) must be revisited."""
import numpy as np
import paddle
import pytest
import torch

import paddle_impl.layers as PL
from parity.weights import copy_torch_to_paddle


def rng(*shape, seed=0):
    return np.random.RandomState(seed).standard_normal(shape)


def test_linear_weight_layout_is_transposed():
    t, p = torch.nn.Linear(3, 5), paddle.nn.Linear(3, 5)
    assert tuple(t.weight.shape) == (5, 3) and tuple(p.weight.shape) == (3, 5)
    # A square Linear loaded untransposed gives no error, only wrong numbers.
    ts, ps = torch.nn.Linear(4, 4), paddle.nn.Linear(4, 4)
    ps.weight.set_value(ts.weight.detach().numpy())
    ps.bias.set_value(ts.bias.detach().numpy())
    x = rng(2, 4).astype("float32")
    naive = ps(paddle.to_tensor(x)).numpy()
    want = ts(torch.from_numpy(x)).detach().numpy()
    assert np.abs(naive - want).max() > 1e-2
    copy_torch_to_paddle(ts, ps)  # the rule: transpose by module type
    np.testing.assert_allclose(ps(paddle.to_tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)


def test_conv_weight_layout_is_the_same():
    assert tuple(torch.nn.Conv2d(3, 8, 5, groups=1).weight.shape) == tuple(paddle.nn.Conv2D(3, 8, 5).weight.shape)
    assert tuple(torch.nn.Conv1d(4, 8, 3, groups=2).weight.shape) == tuple(paddle.nn.Conv1D(4, 8, 3, groups=2).weight.shape)


def test_batchnorm_buffer_names_and_counter():
    t_keys = set(torch.nn.BatchNorm2d(3).state_dict())
    p_keys = set(paddle.nn.BatchNorm2D(3).state_dict())
    assert t_keys == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    assert p_keys == {"weight", "bias", "_mean", "_variance"}


def test_paddle_lists_bn_statistics_as_parameters():
    params = dict(paddle.nn.BatchNorm2D(3).named_parameters())
    assert {"_mean", "_variance"} <= set(params)
    assert params["_mean"].stop_gradient and not params["weight"].stop_gradient
    assert len([p for p in params.values() if not p.stop_gradient]) == 2


def _paddle_bn64(momentum):
    bn = paddle.nn.BatchNorm2D(3, momentum=momentum)
    bn.to(dtype="float64")
    return bn


def _bn_after_one_step(t_bn, p_bn, x):
    t_bn.train(), p_bn.train()
    t_bn(torch.from_numpy(x))
    p_bn(paddle.to_tensor(x))
    return (t_bn.running_mean.numpy(), t_bn.running_var.numpy(), p_bn._mean.numpy(), p_bn._variance.numpy())


def test_batchnorm_momentum_is_inverted():
    x = rng(8, 3, 4, 4)
    tm, _, pm, _ = _bn_after_one_step(torch.nn.BatchNorm2d(3, momentum=0.1).double(),
                                      _paddle_bn64(0.1), x)
    assert np.abs(tm - pm).max() > 1e-2  # torch's 0.1 passed to paddle means 0.9 of the batch
    tm, _, pm, _ = _bn_after_one_step(torch.nn.BatchNorm2d(3, momentum=0.1).double(),
                                      _paddle_bn64(0.9), x)
    # 1 - m agrees, but only to ~2.4e-7 even in float64: paddle keeps its momentum in float32.
    np.testing.assert_allclose(pm, tm, rtol=1e-6)


def test_batchnorm_running_variance_is_biased_in_paddle():
    x = rng(4, 3, 2, 2)  # n = 16 values per channel: unbiased is 16/15 of biased
    _, tv, _, pv = _bn_after_one_step(torch.nn.BatchNorm2d(3).double(),
                                      _paddle_bn64(0.9), x)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(tv, 0.9 + 0.1 * var * 16 / 15, rtol=1e-12)
    np.testing.assert_allclose(pv, 0.9 + 0.1 * var, rtol=1e-6)
    # The rule, paddle_impl.layers.BatchNorm2D: torch's momentum and torch's update, exactly.
    ours = PL.BatchNorm2D(3, momentum=0.1)
    ours.to(dtype="float64")
    _, tv, _, ov = _bn_after_one_step(torch.nn.BatchNorm2d(3).double(), ours, x)
    np.testing.assert_allclose(ov, tv, rtol=1e-14)


@pytest.mark.parametrize("dims", [1, 2])
def test_avgpool_padding_is_counted_in_torch_only(dims):
    x = rng(2, 3, *([7] * dims)).astype("float32")
    t_pool = (torch.nn.AvgPool1d if dims == 1 else torch.nn.AvgPool2d)(3, 1, 1)
    p_cls = paddle.nn.AvgPool1D if dims == 1 else paddle.nn.AvgPool2D
    want = t_pool(torch.from_numpy(x)).numpy()
    naive = p_cls(3, 1, 1)(paddle.to_tensor(x)).numpy()  # exclusive=True by default
    assert np.abs(naive - want).max() > 0.05
    ours = PL.avg_pool(dims, 3, 1, 1)(paddle.to_tensor(x)).numpy()  # exclusive=False
    np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-6)


def test_set_state_dict_silently_skips_bad_keys():
    layer = paddle.nn.Linear(3, 4)
    before = layer.weight.numpy().copy()
    layer.set_state_dict({"weight": np.zeros((4, 3), "float32"), "nonsense": np.zeros(2, "float32")})
    np.testing.assert_array_equal(layer.weight.numpy(), before)  # wrong shape: skipped without an error
    from parity.weights import WeightMismatchError, load_paddle
    with pytest.raises(WeightMismatchError, match=r"(?s)missing keys \(1\): bias.*unexpected keys \(1\): nonsense.*"
                                                  r"mis-shaped: weight: checkpoint \[4, 3\] vs model \[3, 4\]"):
        load_paddle(layer, {"weight": np.zeros((4, 3), "float32"), "nonsense": np.zeros(2, "float32")})


def test_default_initialisation_differs():
    """paddle: normal conv weights ignoring groups and zero biases; torch: uniform(+-1/sqrt(fan_in))."""
    t = torch.nn.Conv2d(64, 64, 3, groups=64)
    p = paddle.nn.Conv2D(64, 64, 3, groups=64)
    bound = 1 / np.sqrt(9)
    assert np.abs(t.weight.detach().numpy()).max() <= bound and np.abs(t.bias.detach().numpy()).max() > 0
    assert np.abs(p.bias.numpy()).max() == 0
    PL.init_default_(p)  # the rule: paddle_impl initialises explicitly, torch's way
    w = p.weight.numpy()
    assert np.abs(w).max() <= bound and w.std() > 0.5 * bound / np.sqrt(3)
    assert np.abs(p.bias.numpy()).max() > 0
