"""MobileNet v1 / v2 / v3: parameter counts, width multipliers, activations, init, input errors,
and the torchvision and paddle.vision references, on both sides."""
import re

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
from paddle_impl import mobilenet as P
from parity import weights as W
from torch_impl import mobilenet as T
from zoo.specs.mobilenet import make_divisible, mobilenet_v3_blocks

NAMES = zoo.names("mobilenet")
TORCHVISION = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]
PUBLISHED = {"mobilenet_v1": 4_231_976, "mobilenet_v2": 3_504_872, "mobilenet_v3_small": 2_542_856,
             "mobilenet_v3_large": 5_483_032}


def test_family_is_registered():
    assert NAMES == ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]


@pytest.mark.parametrize("name", NAMES)
def test_published_parameter_counts_both_sides(name):
    assert zoo.get(name).published[0].count == PUBLISHED[name]
    assert trainable(torch_impl.build(name)) == PUBLISHED[name]
    assert trainable(paddle_impl.build(name)) == PUBLISHED[name]


@pytest.mark.parametrize("width_mult,count", [(0.25, 470_072), (0.5, 1_331_592), (0.75, 2_585_560)])
def test_mobilenet_v1_width_multiplier(width_mult, count):
    """The counts paddle.vision's mobilenet_v1(scale=...) has (the paper's 0.5M, 1.3M, 2.6M)."""
    import paddle.vision.models as pvm

    assert trainable(pvm.mobilenet_v1(scale=width_mult)) == count
    assert trainable(torch_impl.build("mobilenet_v1", width_mult=width_mult)) == count
    assert trainable(paddle_impl.build("mobilenet_v1", width_mult=width_mult)) == count


@pytest.mark.torchvision
@pytest.mark.parametrize("name,kwargs", [
    ("mobilenet_v2", dict(width_mult=0.5)), ("mobilenet_v2", dict(width_mult=1.4)),
    ("mobilenet_v2", dict(width_mult=0.75, round_nearest=4)),
    ("mobilenet_v3_small", dict(width_mult=0.75)), ("mobilenet_v3_small", dict(reduced_tail=True)),
    ("mobilenet_v3_large", dict(width_mult=1.25)), ("mobilenet_v3_large", dict(reduced_tail=True)),
])
def test_width_variants_match_torchvision(name, kwargs):
    """Width multipliers and reduced_tail give torchvision's shapes, key for key, on both sides."""
    tv = import_torchvision()
    ref = getattr(tv.models, name)(**kwargs)
    ours = torch_impl.build(name, **kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    p = paddle_impl.build(name, **kwargs)
    W.copy_torch_to_paddle(ours, p)
    assert trainable(ours) == trainable(p) == trainable(ref)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dims", [1, 2])
def test_any_size_and_input_errors(name, dims):
    t, p = eval_pair(name, dims=dims, in_channels=2, num_classes=7)
    # Global pooling: any size down to 1 runs.
    assert_output_shape(t, p, [(2, 2) + (side,) * dims for side in (1, 17, 64)], (2, 7))
    assert_input_errors(t, p, (((2, 3) + (32,) * dims, "2 input channels"),
                               ((2, 2) + (32,) * (3 - dims), "expects input")))


def test_hardsigmoid_is_exact_and_paddles_builtin_is_not():
    """Our Hardsigmoid is relu6(x + 3) / 6 on both sides and equals torch's own bit for bit;
    paddle's built-in uses slope 0.1666667, which differs from 1/6 at about 1e-7."""
    x = np.concatenate([np.linspace(-4, 4, 8001), np.random.RandomState(0).standard_normal(1000) * 3])
    for dtype in ("float64", "float32"):
        xt, xp = torch.from_numpy(x.astype(dtype)), paddle.to_tensor(x.astype(dtype))
        ours_t, ours_p = T.Hardsigmoid()(xt).numpy(), P.Hardsigmoid()(xp).numpy()
        np.testing.assert_array_equal(ours_t, ours_p)
        np.testing.assert_array_equal(ours_t, torch.nn.functional.hardsigmoid(xt).numpy())
        assert np.abs(paddle.nn.functional.hardsigmoid(xp).numpy() - ours_p).max() > 1e-8


def test_native_hardswish_agrees_exactly():
    """paddle's Hardswish equals torch's in value and gradient, so both sides use the built-ins."""
    x = np.concatenate([np.linspace(-4, 4, 8001), np.random.RandomState(0).standard_normal(1000) * 3])
    xt = torch.from_numpy(x).requires_grad_(True)
    xp = paddle.to_tensor(x, stop_gradient=False)
    yt, yp = torch.nn.Hardswish()(xt), paddle.nn.Hardswish()(xp)
    np.testing.assert_array_equal(yt.detach().numpy(), yp.numpy())
    yt.sum().backward()
    yp.sum().backward()
    assert np.abs(xt.grad.numpy() - xp.grad.numpy()).max() <= 1e-15


def test_squeeze_excitation_widths():
    """SE bottleneck = expanded // 4 rounded to 8, as torchvision (v3 large, block 4: 72 -> 24)."""
    blocks = mobilenet_v3_blocks("large")
    assert [b["squeeze"] for b in blocks if b["use_se"]] == [24, 32, 32, 120, 168, 168, 240, 240]
    assert make_divisible(72 // 4) == 24 and make_divisible(10) == 16 and make_divisible(3.5 * 8) == 32
    t, p = torch_impl.build("mobilenet_v3_large"), paddle_impl.build("mobilenet_v3_large")
    for model in (t, p):
        se = model.features[4].block[2]
        assert isinstance(se, (T.SqueezeExcitation, P.SqueezeExcitation))
        assert isinstance(se.scale_activation, (T.Hardsigmoid, P.Hardsigmoid))


@pytest.mark.parametrize("name", NAMES)
def test_init_scheme_both_sides(name):
    """torchvision's MobileNet init on both sides: conv weights N(0, sqrt(2 / fan_out)) with
    fan_out = out_channels * k * k, depthwise convs included (paddle's default is fan_in
    based), BN 1/0, Linear N(0, 0.01), zero biases."""
    t, p = torch_impl.build(name), paddle_impl.build(name)
    linear = {k for k, m in t.named_modules() if isinstance(m, torch.nn.Linear)}
    for sd in ({k: v.numpy() for k, v in t.state_dict().items()},
               {W.paddle_key_to_torch(k, set()): v.numpy() for k, v in p.state_dict().items()}):
        ratios = fan_out_std_ratios(sd)
        assert all(abs(r - 1) < 0.1 for r in ratios.values()), ratios
        assert sum(sd[k].shape[1] == 1 for k in ratios) > 4  # depthwise convs among them
        for key, w in sd.items():
            owner, leaf = key.rpartition(".")[::2]
            if leaf in ("bias", "running_mean", "_mean"):
                assert not w.any(), key
            elif leaf in ("running_var", "_variance") or (leaf == "weight" and w.ndim == 1):
                assert (w == 1).all(), key
            elif owner in linear and w.size > 10_000:
                assert abs(w.std() - 0.01) < 0.001, key


@pytest.mark.torchvision
@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_reference(name):
    """torchvision's state dict (random values in every tensor) loads with strict=True, gives
    the same output here, and the same output in paddle after conversion; and ours loads into
    torchvision's strictly."""
    tv = import_torchvision()
    ref = getattr(tv.models, name)().double().eval()
    randomize_(ref.state_dict())
    ours = torch_impl.build(name).double().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    getattr(tv.models, name)().load_state_dict(ours.state_dict(), strict=True)
    x = np.random.RandomState(0).standard_normal((2, 3, 64, 64))
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
        assert rel_err(ours(torch.from_numpy(x)).numpy(), want) == 0.0
    p = paddle_impl.build(name)
    p.to(dtype="float64")
    W.copy_torch_to_paddle(ours, p)
    p.eval()
    assert rel_err(p(paddle.to_tensor(x)).numpy(), want) < 1e-12


def _paddle_vision(name: str, **kwargs):
    import paddle.vision.models as pvm

    model = getattr(pvm, name)(**kwargs)
    state = {k: np.random.RandomState(i).uniform(0.5, 1.5, v.shape) if k.endswith("_variance")
             else np.random.RandomState(i).uniform(-0.1, 0.1, v.shape) for i, (k, v) in enumerate(model.state_dict().items())}
    W.load_paddle(model, state)
    model.to(dtype="float64")
    model.eval()
    return model


def _ours_paddle(name: str, **kwargs):
    model = paddle_impl.build(name, **kwargs)
    model.to(dtype="float64")
    model.eval()
    return model


@pytest.mark.parametrize("name,kwargs", [("mobilenet_v1", {}), ("mobilenet_v1", dict(width_mult=0.5)),
                                         ("mobilenet_v2", {})])
def test_paddle_vision_same_keys_same_output(name, kwargs):
    """paddle.vision's mobilenet_v1 and mobilenet_v2 have exactly our keys: their weights load
    strictly and give the same output (their scale= is our width_mult=)."""
    pv_kwargs = {"scale": kwargs["width_mult"]} if kwargs else {}
    theirs = _paddle_vision(name, **pv_kwargs)
    ours = _ours_paddle(name, **kwargs)
    assert list(theirs.state_dict()) == list(ours.state_dict())
    W.load_paddle(ours, {k: v.numpy() for k, v in theirs.state_dict().items()})
    x = paddle.to_tensor(np.random.RandomState(0).standard_normal((2, 3, 64, 64)))
    # Their BatchNorm is paddle's kernel, whose float32 epsilon shows at ~1e-13.
    assert rel_err(ours(x).numpy(), theirs(x).numpy()) < 1e-10


def paddle_vision_v3_key(key: str, blocks: list[dict]) -> str:
    """Our name for a paddle.vision MobileNetV3 key (conv/blocks/lastconv, named sublayers)."""
    n = len(blocks)
    if key.startswith("conv."):
        return "features.0." + key[5:]
    if key.startswith("lastconv."):
        return f"features.{n + 1}." + key[9:]
    if m := re.fullmatch(r"blocks\.(\d+)\.(expand_conv|bottleneck_conv|mid_se|linear_conv)\.(.+)", key):
        i, part, rest = int(m[1]), m[2], m[3]
        expand = blocks[i]["expanded"] != blocks[i]["in_channels"]
        order = ["expand_conv"] * expand + ["bottleneck_conv"] + ["mid_se"] * blocks[i]["use_se"] + ["linear_conv"]
        return f"features.{i + 1}.block.{order.index(part)}.{rest}"
    return key  # classifier.0 / classifier.3


@pytest.mark.parametrize("arch", ["small", "large"])
def test_paddle_vision_mobilenet_v3_same_weights(arch):
    """paddle.vision's MobileNetV3 names its layers differently (mapped above) and gates SE with
    paddle's Hardsigmoid (slope 0.1666667): on the same weights it differs from ours at ~1e-8
    relative; with its gate replaced by relu6(x + 3) / 6 the two agree to rounding."""
    name = f"mobilenet_v3_{arch}"
    theirs = _paddle_vision(name)
    ours = _ours_paddle(name)
    blocks = mobilenet_v3_blocks(arch)
    state = {paddle_vision_v3_key(k, blocks): v.numpy() for k, v in theirs.state_dict().items()}
    W.load_paddle(ours, state)
    x = paddle.to_tensor(np.random.RandomState(0).standard_normal((2, 3, 64, 64)))
    before = rel_err(ours(x).numpy(), theirs(x).numpy())
    for layer in theirs.sublayers():
        if type(layer).__name__ == "SqueezeExcitation":
            layer.scale_activation = P.Hardsigmoid()
    after = rel_err(ours(x).numpy(), theirs(x).numpy())
    # What is left is their BatchNorm kernel's float32 epsilon (1e-3 rounds by 5e-8).
    assert before < 1e-9 and after < 1e-11


def test_paddle_vision_squeeze_excitation_gate():
    """The gate difference itself, on one SE block with the same weights: paddle.vision's
    (paddle's Hardsigmoid) differs from ours by ~1e-8 relative; with our gate, by rounding only
    (paddle_impl's float64 adaptive pool averages each bin with its own ops, in another order)."""
    from paddle.vision.models.mobilenetv3 import SqueezeExcitation as PaddleVisionSE

    theirs = PaddleVisionSE(64, 16, scale_activation=paddle.nn.Hardsigmoid)
    ours = P.SqueezeExcitation(2, 64, 16, scale_activation=P.Hardsigmoid)
    for model in (theirs, ours):
        model.to(dtype="float64")
    W.load_paddle(ours, {k: v.numpy() for k, v in theirs.state_dict().items()})
    x = paddle.to_tensor(np.random.RandomState(0).standard_normal((2, 64, 8, 8)) * 3)
    assert 1e-9 < rel_err(ours(x).numpy(), theirs(x).numpy()) < 1e-6
    theirs.scale_activation = P.Hardsigmoid()
    assert rel_err(ours(x).numpy(), theirs(x).numpy()) < 1e-15
