"""SqueezeNet 1.0 / 1.1: parameter counts, torchvision and paddle.vision references, the
ceil_mode pooling rule, minimum sizes and input errors, on both sides."""
import math
import re

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity import weights as W
from _family_checks import assert_input_errors, randomize_, rel_err, trainable
from _torchvision import import_torchvision
from zoo.specs.squeezenet import POOL, ceil_pool_size, feature_size, min_size

NAMES = zoo.names("squeezenet")


def test_family_is_registered():
    assert NAMES == ["squeezenet1_0", "squeezenet1_1"]


@pytest.mark.parametrize("name", NAMES)
def test_published_parameter_counts_both_sides(name):
    (pub,) = zoo.get(name).published
    assert pub.count == {"squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496}[name]
    assert trainable(torch_impl.build(name)) == pub.count
    assert trainable(paddle_impl.build(name)) == pub.count


@pytest.mark.parametrize("name", NAMES)
def test_variant_arguments(name):
    # 1D: every 3x3 kernel becomes 3 wide, so the count changes the same way on both sides.
    for kw in (dict(dims=1, in_channels=1, num_classes=5), dict(dims=2, in_channels=4, num_classes=10)):
        t, p = torch_impl.build(name, **kw), paddle_impl.build(name, **kw)
        assert trainable(t) == trainable(p)
        shape = (2, kw["in_channels"]) + (40,) * kw["dims"]
        assert tuple(t.eval()(torch.zeros(shape)).shape) == (2, kw["num_classes"])
        p.eval()
        assert tuple(p(paddle.zeros(shape)).shape) == (2, kw["num_classes"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dims", [1, 2])
def test_min_size_and_input_errors(name, dims):
    version = name.removeprefix("squeezenet")
    low = zoo.get(name).min_size
    assert low == min_size(version) == {"1_0": 21, "1_1": 17}[version]
    assert feature_size(version, low) == 1 and feature_size(version, low - 1) == 0
    t = torch_impl.build(name, dims=dims).eval()
    p = paddle_impl.build(name, dims=dims)
    p.eval()
    ok = (1, 3) + (low,) * dims
    assert tuple(t(torch.zeros(ok)).shape) == (1, 1000)
    assert tuple(p(paddle.zeros(ok)).shape) == (1, 1000)
    small = (1, 3) + (low - 1,) * dims
    bad_rank = (1, 3) + (64,) * (3 - dims)
    bad_channels = (1, 1) + (64,) * dims
    assert_input_errors(t, p, ((small, f"at least {low}"), (bad_rank, "expects input"),
                               (bad_channels, "3 input channels")))


@pytest.mark.parametrize("name", NAMES)
def test_init_scheme_both_sides(name):
    """torchvision's scheme: kaiming-uniform convs (bound sqrt(6 / fan_in)), final conv N(0, 0.01), zero biases."""
    t, p = torch_impl.build(name), paddle_impl.build(name)
    t_sd = {k: v.numpy() for k, v in t.state_dict().items()}
    p_sd = {k: v.numpy() for k, v in p.state_dict().items()}
    for sd in (t_sd, p_sd):
        for key, w in sd.items():
            if key.endswith("bias"):
                assert not w.any(), key
            elif key == "classifier.1.weight":
                assert abs(w.std() - 0.01) < 0.001 and abs(w.mean()) < 0.001
            else:
                bound = math.sqrt(6.0 / math.prod(w.shape[1:]))
                assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound, key
                if w.size > 10_000:
                    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound, key


@pytest.mark.torchvision
@pytest.mark.parametrize("name", NAMES)
def test_torchvision_reference(name):
    """torchvision's state dict loads with strict=True and gives the same output, here and in paddle."""
    tv = import_torchvision()
    ref = getattr(tv.models, name)().double().eval()
    randomize_(ref.state_dict())
    ours = torch_impl.build(name).double().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref_again = getattr(tv.models, name)()
    ref_again.load_state_dict(ours.state_dict(), strict=True)
    x = np.random.RandomState(0).standard_normal((2, 3, 48, 48))
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
        got = ours(torch.from_numpy(x)).numpy()
    assert rel_err(got, want) == 0.0
    p = paddle_impl.build(name)
    p.to(dtype="float64")
    W.copy_torch_to_paddle(ours, p)
    p.eval()
    assert rel_err(p(paddle.to_tensor(x)).numpy(), want) < 1e-12


def paddle_vision_key(key: str, version: str) -> str:
    """Our parameter name for a paddle.vision SqueezeNet key (its MakeFire/_convN naming)."""
    fires = {"1_0": (3, 4, 5, 7, 8, 9, 10, 12), "1_1": (3, 4, 6, 7, 9, 10, 11, 12)}[version]
    parts = {"_conv._conv": "squeeze", "_conv_path1._conv": "expand1x1", "_conv_path2._conv": "expand3x3"}
    if m := re.fullmatch(r"_conv([1-8])\.(.+)\._conv\.(weight|bias)", key):
        return f"features.{fires[int(m[1]) - 1]}.{parts[m[2] + '._conv']}.{m[3]}"
    return {"_conv.weight": "features.0.weight", "_conv.bias": "features.0.bias",
            "_conv9.weight": "classifier.1.weight", "_conv9.bias": "classifier.1.bias"}[key]


def paddle_vision_pair(version: str):
    """paddle.vision's model and ours, in float64 eval mode, with paddle.vision's weights copied into ours."""
    import paddle.vision.models as pvm

    theirs = getattr(pvm, f"squeezenet{version}")()
    theirs.to(dtype="float64")
    theirs.eval()
    ours = paddle_impl.build(f"squeezenet{version}")
    ours.to(dtype="float64")
    ours.eval()
    state = {paddle_vision_key(k, version): v.numpy() for k, v in theirs.state_dict().items()}
    W.load_paddle(ours, state)
    # paddle.vision's dropout is downscale_in_infer: at eval it halves the input of the
    # final conv. Doubling that conv's weight cancels it (the bias is added after).
    theirs._conv9.weight.set_value(theirs._conv9.weight * 2.0)
    return theirs, ours


def test_paddle_vision_squeezenet1_0_same_weights():
    """Same network as paddle.vision's squeezenet1_0 where its floor pools agree with our ceil
    pools: every pool input odd (35 -> 15, 7, 3; 67 -> 31, 15, 7). At 224 they differ."""
    theirs, ours = paddle_vision_pair("1_0")
    rng = np.random.RandomState(0)
    for size in (35, 67):
        x = paddle.to_tensor(rng.standard_normal((2, 3, size, size)))
        assert rel_err(ours(x).numpy(), theirs(x).numpy()) < 1e-12
    x = paddle.to_tensor(rng.standard_normal((2, 3, 224, 224)))
    assert rel_err(ours(x).numpy(), theirs(x).numpy()) > 1e-3  # 54 -> 27 here, 26 there
    assert not theirs._pool.ceil_mode
    assert all(m.ceil_mode for m in ours.features if isinstance(m, paddle.nn.MaxPool2D))


def test_paddle_vision_squeezenet1_1_is_a_different_network():
    """paddle.vision's squeezenet1_1 pads its stem conv by 1 and floors its pools; ours follows
    torchvision (no stem padding, ceil pools), so the same weights give different outputs."""
    theirs, ours = paddle_vision_pair("1_1")
    assert theirs._conv._padding == 1
    assert ours.features[0]._padding == 0
    x = paddle.to_tensor(np.random.RandomState(0).standard_normal((2, 3, 67, 67)))
    assert rel_err(ours(x).numpy(), theirs(x).numpy()) > 1e-3


def _pool_both(x: np.ndarray, k: int, s: int, p: int):
    t = torch.nn.functional.max_pool1d(torch.from_numpy(x), k, s, p, ceil_mode=True).numpy()
    q = paddle.nn.functional.max_pool1d(paddle.to_tensor(x), k, s, p, ceil_mode=True).numpy()
    return t, q


def test_ceil_mode_rule():
    """PITFALLS.md: with ceil_mode, torch drops a last window that would start at or beyond
    L + padding and paddle keeps it. ceil_pool_size implements torch's rule; where it drops a
    window, paddle returns one more (garbage) value."""
    rng = np.random.RandomState(0)
    for k, s, p in ((1, 2, 0), (2, 2, 1), (2, 3, 0), (3, 3, 1)):
        bitten = 0
        for length in range(2, 40):
            x = rng.standard_normal((1, 1, length))
            t, q = _pool_both(x, k, s, p)
            assert t.shape[-1] == ceil_pool_size(length, k, s, p)
            naive = -(-(length + 2 * p - k) // s) + 1
            if t.shape[-1] < naive:  # torch dropped the last window
                bitten += 1
                assert q.shape[-1] == t.shape[-1] + 1
                np.testing.assert_array_equal(q[..., :-1], t)
            else:
                np.testing.assert_array_equal(q, t)
        assert bitten > 0, (k, s, p)


@pytest.mark.parametrize("dims", [1, 2])
def test_squeezenet_pools_agree_at_every_size(dims):
    """SqueezeNet's k3 s2 p0 ceil pools: the last window starts at ceil((L-3)/2)*2 <= L-2, so
    torch never drops it and both frameworks agree at every L >= 2 (values and shapes)."""
    rng = np.random.RandomState(1)
    k, s = POOL["kernel_size"], POOL["stride"]
    lengths = range(2, 200) if dims == 1 else range(2, 50)
    for length in lengths:
        x = rng.standard_normal((2, 3) + (length,) * dims)
        if dims == 1:
            t, q = _pool_both(x, k, s, 0)
        else:
            t = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, 0, ceil_mode=True).numpy()
            q = paddle.nn.functional.max_pool2d(paddle.to_tensor(x), k, s, 0, ceil_mode=True).numpy()
        assert t.shape[-1] == ceil_pool_size(length, k, s) == -(-(length - k) // s) + 1
        np.testing.assert_array_equal(q, t)
    # Length 1 is the one difference: torch refuses it, paddle pools the single value.
    # min_size keeps every SqueezeNet pool input at 2 or more.
    with pytest.raises(RuntimeError):
        torch.nn.functional.max_pool1d(torch.zeros(1, 1, 1), k, s, ceil_mode=True)
    assert paddle.nn.functional.max_pool1d(paddle.zeros([1, 1, 1]), k, s, ceil_mode=True).shape[-1] == 1
