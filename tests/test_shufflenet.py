"""ShuffleNet v1 and v2: parameter counts on both sides, ShuffleNet v1's complexity against the
paper, channel shuffle, input checks, and the torchvision and paddle.vision references.

How the ShuffleNet v1 counts were verified: the paper (Zhang et al. 2017) publishes no
parameter counts, only each 1x net's complexity at 224x224 (Table 1: 143, 140, 137, 133 and
137 MFLOPs for g = 1, 2, 3, 4, 8, counted as multiply-adds). ``test_v1_macs_match_the_paper``
counts multiply-adds from the built model's own layer shapes (conv and fc) and requires
them within 1.5% of the paper for every g; they are 0.1-1.0% off. The counts recorded in
zoo/specs/shufflenet.py (V1_PARAMS, V1_MACS) are then asserted exactly on both sides, so a
change to the architecture shows up here. The spec module also records how the same count
decides the paper's "stage 2's first pointwise layer is not grouped" remark.
"""
import math
import re

import numpy as np
import paddle
import pytest
import torch
from _torchvision import import_torchvision

import paddle_impl
import torch_impl
import zoo
from paddle_impl import shufflenet as P
from parity import weights as W
from torch_impl import shufflenet as T
from zoo.specs.shufflenet import V1_CHANNELS, V1_GROUPS, V1_MACS, V1_PAPER_MFLOPS, V1_PARAMS

NAMES = zoo.names("shufflenet")
V2_NAMES = [n for n in NAMES if n.startswith("shufflenet_v2")]
V1_NAMES = [n for n in NAMES if n.startswith("shufflenet_v1")]


def _count_torch(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _count_paddle(layer: paddle.nn.Layer) -> int:
    return sum(int(math.prod(p.shape)) for p in layer.parameters() if not p.stop_gradient)


def _expected_count(name: str) -> int:
    if name in V1_NAMES:
        return V1_PARAMS[int(name.rsplit("g", 1)[1])]
    (pub,) = zoo.get(name).published
    return pub.count


def _macs(model: torch.nn.Module, size: int = 224) -> int:
    """Multiply-adds of every conv and Linear for one 3 x size x size image, from the layer shapes."""
    total = 0

    def hook(m, _inp, out):
        nonlocal total
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)):
            total += out[0].numel() * m.weight[0].numel()  # each output: in/groups * k*k products
        elif isinstance(m, torch.nn.Linear):
            total += m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_on_both_sides(name):
    expected = _expected_count(name)
    assert _count_torch(torch_impl.build(name)) == expected
    assert _count_paddle(paddle_impl.build(name)) == expected


@pytest.mark.parametrize("groups", V1_GROUPS)
def test_v1_macs_match_the_paper(groups):
    macs = _macs(torch_impl.build(f"shufflenet_v1_g{groups}"))
    assert macs == V1_MACS[groups]
    assert abs(macs / 1e6 / V1_PAPER_MFLOPS[groups] - 1) < 0.015


@pytest.mark.parametrize("groups", V1_GROUPS)
def test_v1_follows_table_1(groups):
    """Stage widths as Table 1; only the first unit of stage 2 has an ungrouped first 1x1
    conv (and so no shuffle); bottlenecks are a quarter of the unit's output."""
    t = torch_impl.build(f"shufflenet_v1_g{groups}")
    p = paddle_impl.build(f"shufflenet_v1_g{groups}")
    assert t.conv1[0].out_channels == 24
    for i, width in enumerate(V1_CHANNELS[groups], start=2):
        t_stage, p_stage = getattr(t, f"stage{i}"), getattr(p, f"stage{i}")
        assert len(t_stage) == len(p_stage) == (4, 8, 4)[i - 2]
        for j, (tu, pu) in enumerate(zip(t_stage, p_stage)):
            first = i == 2 and j == 0
            assert tu.compress[0].groups == pu.compress[0]._groups == (1 if first else groups)
            assert tu.expand[0].groups == pu.expand[0]._groups == groups
            assert tu.compress[0].out_channels == width // 4
            assert isinstance(tu.shuffle, T.ChannelShuffle) == isinstance(pu.shuffle, P.ChannelShuffle) \
                == (groups > 1 and not first)
            assert (tu.stride, pu.stride) == ((2, 2) if j == 0 else (1, 1))
    x = np.random.RandomState(0).standard_normal((2, 3, 64, 64)).astype("float32")
    assert tuple(t(torch.from_numpy(x)).shape) == tuple(p(paddle.to_tensor(x)).shape) == (2, 1000)


def test_v1_width_multiplier():
    """0.5x g=3 halves every width (stem 12, stages 120/240/480); 0.5x g=8 rounds the stem to
    a multiple of 8 (16) so a stride-2 unit's branch splits into the groups."""
    for groups, stem, widths in ((3, 12, (120, 240, 480)), (8, 16, (192, 384, 768))):
        t = torch_impl.build(f"shufflenet_v1_g{groups}", width_mult=0.5, dims=1)
        p = paddle_impl.build(f"shufflenet_v1_g{groups}", width_mult=0.5, dims=1)
        assert t.conv1[0].out_channels == stem
        assert tuple(getattr(t, f"stage{i}")[-1].expand[0].out_channels for i in (2, 3, 4)) == widths
        assert _count_torch(t) == _count_paddle(p)
    for cls in (T.ShuffleNetV1, P.ShuffleNetV1):
        with pytest.raises(ValueError, match="groups"):
            cls(groups=5)


@pytest.mark.parametrize("shape", [(2, 12, 5), (2, 12, 3, 4)])
@pytest.mark.parametrize("groups", [2, 3, 4])
def test_channel_shuffle(shape, groups):
    """Channel k of group g moves to position k * groups + g, in 1D and 2D, on both sides."""
    x = np.random.RandomState(0).standard_normal(shape)
    c = shape[1]
    perm = [g * (c // groups) + k for k in range(c // groups) for g in range(groups)]
    expected = x[:, perm]
    np.testing.assert_array_equal(T.channel_shuffle(torch.from_numpy(x), groups).numpy(), expected)
    np.testing.assert_array_equal(P.channel_shuffle(paddle.to_tensor(x), groups).numpy(), expected)
    if len(shape) == 4:  # paddle's own layer, 4D only, agrees
        np.testing.assert_array_equal(paddle.nn.ChannelShuffle(groups)(paddle.to_tensor(x)).numpy(), expected)


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v1_g8"])
@pytest.mark.parametrize("dims", [1, 2])
def test_dims_and_channels(name, dims):
    t = torch_impl.build(name, num_classes=7, in_channels=2, dims=dims)
    p = paddle_impl.build(name, num_classes=7, in_channels=2, dims=dims)
    x = np.random.RandomState(0).standard_normal((2, 2) + (40,) * dims).astype("float32")
    assert tuple(t(torch.from_numpy(x)).shape) == tuple(p(paddle.to_tensor(x)).shape) == (2, 7)


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "shufflenet_v1_g3"])
def test_input_shape_errors(name):
    for build, tensor in ((torch_impl.build, torch.zeros), (paddle_impl.build, paddle.zeros)):
        model = build(name, dims=1)
        with pytest.raises(ValueError, match=r"\[N, C, L\].*\[2, 3, 32, 32\]"):
            model(tensor([2, 3, 32, 32]))
        with pytest.raises(ValueError, match=r"3 input channels.*\[2, 1, 32\]"):
            model(tensor([2, 1, 32]))


# --- references -------------------------------------------------------------------------

def _randomize_bn_stats(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial running statistics, so eval-mode BN is not close to the identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.torchvision
@pytest.mark.parametrize("name", V2_NAMES)
def test_torchvision_weights_load_and_agree(name):
    """torchvision's state dict loads with strict=True; our torch model and the paddle model
    converted from it give torchvision's outputs (float64)."""
    tv = import_torchvision()
    ref = getattr(tv.models, name)().double().eval()
    _randomize_bn_stats(ref)
    ours = torch_impl.build(name).double().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    p = paddle_impl.build(name)
    p.to(dtype="float64")
    W.copy_torch_to_paddle(ours, p)
    p.eval()
    x = np.random.RandomState(0).standard_normal((2, 3, 64, 64))
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
        assert np.array_equal(ours(torch.from_numpy(x)).numpy(), expected)
    assert _max_rel(p(paddle.to_tensor(x)).numpy(), expected) < 1e-10


# (branch, index in our Sequential) -> (paddle.vision ConvNormActivation, index in it)
_PADDLE_VISION_BRANCHES = {
    ("1", "0"): ("_conv_dw_1", 0), ("1", "1"): ("_conv_dw_1", 1),
    ("1", "2"): ("_conv_linear_1", 0), ("1", "3"): ("_conv_linear_1", 1),
    ("2", "0"): ("_conv_pw", 0), ("2", "1"): ("_conv_pw", 1),
    ("2", "3"): ("_conv_dw", 0), ("2", "4"): ("_conv_dw", 1),
    ("2", "5"): ("_conv_linear", 0), ("2", "6"): ("_conv_linear", 1),
}


def paddle_vision_key(key: str) -> str:
    """Our paddle key -> paddle.vision's ShuffleNetV2 key.

    paddle.vision names its units ``{stage}_{unit from 1}``, calls conv1/conv5/fc
    ``_conv1``/``_last_conv``/``_fc``, and groups each branch into ConvNormActivation
    blocks; the branch-2 blocks of a stride-2 (first) unit carry a ``_2`` suffix.
    """
    for ours, theirs in {"conv1.": "_conv1.", "conv5.": "_last_conv.", "fc.": "_fc."}.items():
        if key.startswith(ours):
            return theirs + key[len(ours):]
    stage, unit, branch, index, leaf = re.fullmatch(r"stage(\d)\.(\d+)\.branch([12])\.(\d)\.(.+)", key).groups()
    block, sub = _PADDLE_VISION_BRANCHES[branch, index]
    if branch == "2" and unit == "0":
        block += "_2"
    return f"{stage}_{int(unit) + 1}.{block}.{sub}.{leaf}"


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5"])
def test_paddle_vision_agrees_on_the_same_weights(name):
    """paddle.vision's ShuffleNetV2 is the same network under other names: every tensor of
    ours maps to one of its tensors, and with our weights it gives our outputs."""
    torch.manual_seed(0)
    t = torch_impl.build(name).eval()
    _randomize_bn_stats(t)
    ours = paddle_impl.build(name)
    W.copy_torch_to_paddle(t, ours)
    ours.eval()
    ref = getattr(paddle.vision.models, name)()
    ref.eval()
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    mapped = {paddle_vision_key(k): v for k, v in ours_sd.items()}
    assert set(mapped) == set(ref_sd)
    for k, v in mapped.items():
        assert tuple(v.shape) == tuple(ref_sd[k].shape), k
        ref_sd[k].set_value(v)
    x = np.random.RandomState(0).standard_normal((2, 3, 64, 64)).astype("float32")
    assert _max_rel(ours(paddle.to_tensor(x)).numpy(), ref(paddle.to_tensor(x)).numpy()) < 1e-6


def test_paddle_vision_x2_0_differs_from_the_paper():
    """paddle.vision's shufflenet_v2_x2_0 has 224 channels in stage 2, where the paper's
    Table 5 and torchvision have 244; ours follows the paper, so the two cannot share weights."""
    ref = paddle.vision.models.shufflenet_v2_x2_0()
    ours = paddle_impl.build("shufflenet_v2_x2_0")
    assert ref.state_dict()["2_1._conv_linear_1.0.weight"].shape[0] * 2 == 224
    assert ours.stage2[0].branch1[2].weight.shape[0] * 2 == 244
    assert _count_paddle(ref) != _count_paddle(ours) == 7_393_996
