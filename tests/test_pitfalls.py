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


@pytest.mark.parametrize("dims", [1, 2])
def test_paddle_float64_avgpool_backward_divides_in_float32(dims):
    """paddle's float64 avg-pool backward is off by ~1e-8 (a float32 divisor) for a 3-wide
    window; paddle_impl.layers' AvgPool averages unfolded windows in float64, exactly."""
    x = rng(2, 3, *([9] * dims))
    g = rng(2, 3, *([5] * dims), seed=1)
    tx = torch.from_numpy(x).requires_grad_(True)
    (torch.nn.functional.avg_pool1d if dims == 1 else torch.nn.functional.avg_pool2d)(tx, 3, 2, 1).mul(
        torch.from_numpy(g)).sum().backward()

    def paddle_grad(pool):
        px = paddle.to_tensor(x, stop_gradient=False)
        (pool(px) * paddle.to_tensor(g)).sum().backward()
        return px.grad.numpy()

    naive = paddle_grad((paddle.nn.AvgPool1D if dims == 1 else paddle.nn.AvgPool2D)(3, 2, 1, exclusive=False))
    ours = paddle_grad(PL.avg_pool(dims, 3, 2, 1))
    want = tx.grad.numpy()
    assert np.abs(naive - want).max() > 1e-10
    np.testing.assert_allclose(ours, want, rtol=1e-14, atol=1e-15)


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


# --- pooling ---------------------------------------------------------------------------------

def test_ceil_mode_last_window_in_padding():
    """torch drops a last window that would start at or beyond L + padding; paddle keeps it."""
    x = rng(1, 2, 7).astype("float32")
    t = torch.nn.MaxPool1d(2, 2, 1, ceil_mode=True)(torch.from_numpy(x))
    p = paddle.nn.MaxPool1D(2, 2, 1, ceil_mode=True)(paddle.to_tensor(x))
    assert t.shape[-1] == 4 and p.shape[-1] == 5
    np.testing.assert_array_equal(p.numpy()[..., :4], t.numpy())  # the windows both keep agree
    # The configurations the zoo uses (k3 s2, no padding) agree:
    for length in (112, 56, 28, 14, 111, 55, 27):
        x = rng(1, 2, length, length).astype("float32")
        t = torch.nn.MaxPool2d(3, 2, ceil_mode=True)(torch.from_numpy(x)).numpy()
        p = paddle.nn.MaxPool2D(3, 2, ceil_mode=True)(paddle.to_tensor(x)).numpy()
        np.testing.assert_array_equal(p, t)


@pytest.mark.parametrize("shape,out", [((13,), 6), ((9, 13), (4, 6)), ((7, 7), (3, 3))])
def test_adaptive_pools_use_the_same_bins(shape, out):
    x = rng(2, 3, *shape)
    if len(shape) == 1:
        pairs = [(torch.nn.AdaptiveAvgPool1d(out), paddle.nn.AdaptiveAvgPool1D(out)),
                 (torch.nn.AdaptiveMaxPool1d(out), paddle.nn.AdaptiveMaxPool1D(out))]
    else:
        pairs = [(torch.nn.AdaptiveAvgPool2d(out), paddle.nn.AdaptiveAvgPool2D(out)),
                 (torch.nn.AdaptiveMaxPool2d(out), paddle.nn.AdaptiveMaxPool2D(out))]
    for t, p in pairs:
        np.testing.assert_allclose(p(paddle.to_tensor(x)).numpy(), t(torch.from_numpy(x)).numpy(), rtol=1e-12)


# --- LRN, dropout, activations -------------------------------------------------------------

def test_local_response_norm_divides_alpha_by_size():
    x = rng(2, 8, 5, 5)
    size, alpha, beta, k = 5, 1e-4, 0.75, 2.0
    t = torch.nn.LocalResponseNorm(size, alpha, beta, k)(torch.from_numpy(x)).numpy()
    p = paddle.nn.LocalResponseNorm(size, alpha, beta, k)(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(p, t, rtol=1e-12)
    sq = np.pad(x ** 2, ((0, 0), (size // 2, (size - 1) // 2), (0, 0), (0, 0)))
    window = sum(sq[:, i:i + 8] for i in range(size))
    np.testing.assert_allclose(t, x / (k + alpha / size * window) ** beta, rtol=1e-12)
    # The AlexNet paper writes alpha * sum: pass alpha * size to follow it.
    paper = torch.nn.LocalResponseNorm(size, alpha * size, beta, k)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(paper, x / (k + alpha * window) ** beta, rtol=1e-12)


def test_dropout_modes():
    x = rng(4, 6).astype("float32")
    p = paddle.nn.Dropout(0.5, mode="downscale_in_infer")
    p.eval()
    np.testing.assert_allclose(p(paddle.to_tensor(x)).numpy(), x * 0.5, rtol=1e-6)  # torch's eval is identity
    p = paddle.nn.Dropout(0.5)  # upscale_in_train, torch's inverted dropout
    p.eval()
    np.testing.assert_array_equal(p(paddle.to_tensor(x)).numpy(), x)
    p.train()
    y = p(paddle.to_tensor(np.ones((1000,), "float32"))).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}


def test_hardsigmoid_slope():
    x = np.linspace(-4, 4, 801).astype("float32")
    t = torch.nn.functional.hardsigmoid(torch.from_numpy(x)).numpy()
    p = paddle.nn.functional.hardsigmoid(paddle.to_tensor(x)).numpy()
    assert np.abs(p - t).max() > 1e-8  # paddle's default slope 0.1666667 is not 1/6
    ours_t = (torch.nn.functional.relu6(torch.from_numpy(x) + 3) / 6).numpy()
    ours_p = (paddle.nn.functional.relu6(paddle.to_tensor(x) + 3) / 6).numpy()
    np.testing.assert_array_equal(ours_p, ours_t)


def test_leaky_relu_gradient_at_zero():
    xt = torch.zeros(3, requires_grad=True)
    torch.nn.functional.leaky_relu(xt, 0.01).sum().backward()
    xp = paddle.zeros([3])
    xp.stop_gradient = False
    paddle.nn.functional.leaky_relu(xp, 0.01).sum().backward()
    assert float(xt.grad[0]) == pytest.approx(0.01) and float(xp.grad[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["relu", "relu6", "hardswish", "silu", "sigmoid", "tanh", "gelu"])
def test_activations_agree(name):
    x = rng(1000).astype("float32") * 4
    t = getattr(torch.nn.functional, name)(torch.from_numpy(x)).numpy()
    p = getattr(paddle.nn.functional, name)(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(p, t, rtol=2e-6, atol=2e-6)


# --- shape ops -----------------------------------------------------------------------------

def test_split_means_sections_in_paddle_and_chunk_agrees():
    x = np.arange(12.0).reshape(1, 12)
    assert [tuple(a.shape) for a in torch.split(torch.from_numpy(x), 2, dim=1)] == [(1, 2)] * 6
    assert [tuple(a.shape) for a in paddle.split(paddle.to_tensor(x), 2, axis=1)] == [(1, 6)] * 2
    t = [a.numpy() for a in torch.chunk(torch.from_numpy(x), 2, dim=1)]
    p = [a.numpy() for a in paddle.chunk(paddle.to_tensor(x), 2, axis=1)]
    for a, b in zip(t, p):
        np.testing.assert_array_equal(a, b)


def test_numel_is_a_tensor_in_paddle():
    assert isinstance(torch.zeros(2, 3).numel(), int)
    n = paddle.zeros([2, 3]).numel()
    assert isinstance(n, paddle.Tensor) and int(n) == 6


def test_channel_shuffle_by_hand_matches_and_paddle_layer_is_4d_only():
    def shuffle_torch(x, g):
        n, c = x.shape[:2]
        return x.reshape(n, g, c // g, *x.shape[2:]).transpose(1, 2).reshape(x.shape)

    def shuffle_paddle(x, g):
        n, c = x.shape[:2]
        perm = [0, 2, 1] + list(range(3, x.ndim + 1))
        return x.reshape([n, g, c // g] + list(x.shape[2:])).transpose(perm).reshape(x.shape)

    for shape in ((2, 6, 5), (2, 6, 3, 3)):
        x = rng(*shape)
        np.testing.assert_array_equal(shuffle_paddle(paddle.to_tensor(x), 3).numpy(),
                                      shuffle_torch(torch.from_numpy(x), 3).numpy())
    x4 = rng(2, 6, 3, 3).astype("float32")
    np.testing.assert_array_equal(paddle.nn.ChannelShuffle(3)(paddle.to_tensor(x4)).numpy(),
                                  shuffle_torch(torch.from_numpy(x4), 3).numpy())
    with pytest.raises(Exception):
        paddle.nn.ChannelShuffle(3)(paddle.to_tensor(rng(2, 6, 5).astype("float32")))


# --- losses, optimizers, schedulers ----------------------------------------------------------

def test_cross_entropy_defaults_agree_and_ignore_index_mean_differs():
    logits, labels = rng(6, 4), np.array([0, 1, 2, 3, 1, 0])
    t = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
    p = paddle.nn.functional.cross_entropy(paddle.to_tensor(logits), paddle.to_tensor(labels))
    assert float(p) == pytest.approx(float(t), rel=1e-12)
    ignored = labels.copy()
    ignored[:2] = -100
    t = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(ignored), ignore_index=-100)
    p = paddle.nn.functional.cross_entropy(paddle.to_tensor(logits), paddle.to_tensor(ignored), ignore_index=-100)
    # torch averages over the 4 counted labels, paddle over all 6.
    assert float(p) / float(t) == pytest.approx(4 / 6, rel=1e-9)
    weight = paddle.to_tensor(np.array([1.0, 2.0, 3.0, 4.0]))
    t = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels),
                                          weight=torch.from_numpy(weight.numpy()), label_smoothing=0.1)
    p = paddle.nn.functional.cross_entropy(paddle.to_tensor(logits), paddle.to_tensor(labels), weight=weight,
                                           label_smoothing=0.1)
    assert abs(float(p) - float(t)) > 1e-3  # weight and label smoothing together differ


def _step_pair(t_opt_fn, p_opt_fn, steps=5):
    w0 = rng(5, 3)
    tw = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    pw = paddle.create_parameter([5, 3], "float64")
    pw.set_value(w0.copy())
    t_opt, p_opt = t_opt_fn([tw]), p_opt_fn([pw])
    for i in range(steps):
        g = rng(5, 3, seed=i + 1)
        (tw * torch.from_numpy(g)).sum().backward()
        t_opt.step()
        t_opt.zero_grad()
        (pw * paddle.to_tensor(g)).sum().backward()
        p_opt.step()
        p_opt.clear_grad()
    return tw.detach().numpy(), pw.numpy()


def test_sgd_momentum_weight_decay_equals_paddle_momentum():
    t, p = _step_pair(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
                      lambda ps: paddle.optimizer.Momentum(0.1, 0.9, parameters=ps, weight_decay=1e-2))
    np.testing.assert_allclose(p, t, rtol=1e-6)  # paddle keeps momentum and L2 in float32
    t, p = _step_pair(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                      lambda ps: paddle.optimizer.Momentum(0.1, 0.9, parameters=ps, use_nesterov=True))
    np.testing.assert_allclose(p, t, rtol=1e-6)


def test_paddle_keeps_optimizer_coefficients_in_float32():
    """In float64, 0.9 and 1e-4 differ from torch's by float32 rounding (~1e-8 after a few
    steps); coefficients that float32 holds exactly (0.875, 2**-7, 2**-13) agree to rounding.
    The parity harness's step checks use such values (parity.compare.SGD and ADAM)."""
    t, p = _step_pair(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
                      lambda ps: paddle.optimizer.Momentum(0.1, 0.9, parameters=ps, weight_decay=1e-4))
    naive = np.abs(p - t).max() / np.abs(t).max()
    t, p = _step_pair(lambda ps: torch.optim.SGD(ps, lr=2.0 ** -7, momentum=0.875, weight_decay=2.0 ** -13),
                      lambda ps: paddle.optimizer.Momentum(2.0 ** -7, 0.875, parameters=ps, weight_decay=2.0 ** -13))
    exact = np.abs(p - t).max() / np.abs(t).max()
    assert naive > 1e-10 and exact < 1e-14, (naive, exact)


def test_adam_and_adamw_agree():
    t, p = _step_pair(lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
                      lambda ps: paddle.optimizer.Adam(1e-2, parameters=ps, weight_decay=1e-2))
    np.testing.assert_allclose(p, t, rtol=1e-6)
    t, p = _step_pair(lambda ps: torch.optim.AdamW(ps, lr=1e-2), lambda ps: paddle.optimizer.AdamW(1e-2, parameters=ps))
    np.testing.assert_allclose(p, t, rtol=1e-6)


def test_schedulers_agree_step_for_step():
    def torch_lrs(make):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = make(opt)
        out = []
        for _ in range(12):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    def paddle_lrs(sched):
        out = []
        for _ in range(12):
            out.append(sched())  # sched(), not get_lr(): get_lr() changes the cosine scheduler's state
            sched.step()
        return out

    pairs = [
        (lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5), paddle.optimizer.lr.StepDecay(0.1, 3, 0.5)),
        (lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2, 5], 0.1), paddle.optimizer.lr.MultiStepDecay(0.1, [2, 5], 0.1)),
        (lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9), paddle.optimizer.lr.ExponentialDecay(0.1, 0.9)),
        (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 1e-3),
         paddle.optimizer.lr.CosineAnnealingDecay(0.1, 10, 1e-3)),
    ]
    for make_t, p_sched in pairs:
        np.testing.assert_allclose(paddle_lrs(p_sched), torch_lrs(make_t), rtol=1e-9)


def test_paddle_batchnorm_kernel_rounds_epsilon_to_float32():
    """In float64, paddle's batch_norm kernel uses float32(eps): 1e-3 becomes 1.00000005e-3,
    which moves outputs by ~2.4e-8 relative when the variance is small. paddle_impl's
    BatchNorm normalises float64 input with explicit ops and the exact epsilon."""
    x = rng(4, 3, 5, 5) * 1e-3
    mean, var = np.zeros(3), np.full(3, 1e-6)
    exact = x / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-3)
    t = torch.nn.functional.batch_norm(torch.from_numpy(x), torch.from_numpy(mean), torch.from_numpy(var), eps=1e-3)
    p = paddle.nn.functional.batch_norm(paddle.to_tensor(x), paddle.to_tensor(mean), paddle.to_tensor(var),
                                        training=False, epsilon=1e-3)
    np.testing.assert_allclose(t.numpy(), exact, rtol=1e-14)
    rounded = x / np.sqrt(var.reshape(1, 3, 1, 1) + float(np.float32(1e-3)))
    np.testing.assert_allclose(p.numpy(), rounded, rtol=1e-14)
    assert np.abs(p.numpy() - exact).max() / np.abs(exact).max() > 1e-8
