"""The locator's BatchNorm epsilon alignment (parity/epsilon.py): paddle's kernel rounds a
float64 epsilon to float32, which must not be named in place of the port's real difference,
and must not excuse an epsilon that really differs."""
from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

from parity.locate import find_divergence, locate_grad_divergence
from parity.modes import Projections


def _pair(paddle_eps: float):
    """conv -> BatchNorm (small variances, so epsilon matters) -> hardsigmoid -> conv, in float64.
    paddle's built-in layers: the kernel BatchNorm, and the hardsigmoid whose slope is 0.1666667."""
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, eps=1e-3), torch.nn.Hardsigmoid(),
                            torch.nn.Conv2d(4, 4, 1)).double().eval()
    with torch.no_grad():
        t[1].running_var.copy_(torch.tensor([1e-4, 2e-4, 5e-5, 1e-4], dtype=torch.float64))
        t[1].running_mean.uniform_(-0.1, 0.1)
    paddle.set_default_dtype("float64")
    try:
        p = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4, epsilon=paddle_eps),
                                 paddle.nn.Hardsigmoid(), paddle.nn.Conv2D(4, 4, 1))
    finally:
        paddle.set_default_dtype("float32")
    p.eval()
    sd = {k: v.detach().numpy() for k, v in t.state_dict().items() if "num_batches" not in k}
    renames = {"running_mean": "_mean", "running_var": "_variance"}
    p.set_state_dict({".".join(k.split(".")[:-1] + [renames.get(k.split(".")[-1], k.split(".")[-1])]): v
                      for k, v in sd.items()})
    x = np.random.RandomState(1).standard_normal((2, 3, 8, 8)) * 0.05
    return t, p, x


def test_paddle_rounding_of_epsilon_is_aligned_and_the_hardsigmoid_named():
    t, p, x = _pair(1e-3)
    eps_before = t[1].eps
    p_stats = {k: v.numpy().copy() for k, v in p[1].state_dict().items()}
    assert set(p_stats) >= {"_mean", "_variance"}
    msg, found = find_divergence(t, p, x, "float64", 1e-10)
    assert msg.startswith("first divergent layer: 2 [torch Hardsigmoid"), msg
    assert "epsilon rounded to float32 in 1 BatchNorm layer," in msg, msg
    assert found is not None and found.epsilon_aligned == 1
    assert t[1].eps == eps_before  # restored, and the probe's train-mode run left paddle's statistics
    for k, v in p[1].state_dict().items():
        np.testing.assert_array_equal(v.numpy(), p_stats[k], err_msg=k)


def test_without_the_alignment_the_batchnorm_would_be_named():
    """The control: paddle's own kernel rounding alone crosses the float64 tolerance at the BatchNorm."""
    t, p, x = _pair(1e-3)
    with torch.no_grad():
        t_bn = t[1](t[0](torch.from_numpy(x))).numpy()
    with paddle.no_grad():
        p_bn = p[1](p[0](paddle.to_tensor(x))).numpy()
    assert np.abs(t_bn - p_bn).max() / np.abs(t_bn).max() > 1e-10


def test_a_different_epsilon_is_not_excused():
    t, p, x = _pair(1e-5)  # a porting mistake: paddle's default epsilon, not torchvision's 1e-3
    msg, found = find_divergence(t, p, x, "float64", 1e-10)
    assert msg.startswith("first divergent layer: 1 [torch BatchNorm2d"), msg
    assert "epsilon rounded" not in msg and found.epsilon_aligned == 0


@pytest.mark.parametrize("paddle_eps, aligned", [(1e-3, True), (1e-5, False)])
def test_train_mode_gradients_align_too_and_statistics_move_once(paddle_eps, aligned):
    t, p, x = _pair(paddle_eps)
    t.train()
    p.train()
    before = t[1].running_mean.clone()
    labels = np.zeros(2, dtype="int64")
    msg = locate_grad_divergence(t, p, x, labels, Projections(0), "float64", 1e-10)
    # The gradient reaching the BatchNorm's output is the one the hardsigmoid (slope) makes.
    assert msg.startswith("first divergent gradient (backward order) at the output of 1 [torch BatchNorm2d"), msg
    assert ("epsilon rounded to float32 in 1 BatchNorm layer," in msg) == aligned, msg
    # One train-mode forward's update, as the paddle side got, even where the torch side ran twice.
    expected = 0.9 * before + 0.1 * torch.from_numpy(t[0](torch.from_numpy(x)).detach().numpy()).mean((0, 2, 3))
    np.testing.assert_allclose(t[1].running_mean.numpy(), expected.numpy(), rtol=1e-12)
