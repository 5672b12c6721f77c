"""Model summaries (parity/summary.py): the counting rules, torch and paddle giving identical
rows, the published parameter and MAC counts, the summary CLI and the README model table.

Published numbers are checked on our registered models where the zoo has them (the tables
below are keyed by model name and applied to the names the zoo registers), and on
torchvision 0.28.0 and paddle.vision stand-ins, so the checks mean something for every
family whether or not it is registered yet.

MACs here are multiply-accumulates of convolutions and Linear layers, the quantity
torchvision publishes as "GFLOPS". Ours agree with all fourteen published values to
0.2%; every difference is the rounding of the published figure (mobilenet_v3_large
0.2166 G is published as 0.217, mnasnet1_0 0.3144 G as 0.314). BatchNorm, pooling,
activations and bias additions are in the separate "ops" count, which torchvision leaves
out; counting BatchNorm as MACs would put mobilenet_v2 2% over. Arithmetic written in a
forward (squeeze-and-excitation's channel scaling, residual additions) is counted by
neither torchvision nor us.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache

import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from _torchvision import import_torchvision
from paddle_impl import layers as PL
from parity import readme as R
from parity.summary import (Summary, compare, count, format_totals, summarize, summarize_pair,
                            summarize_registered)
from torch_impl import layers as TL

# torchvision 0.28.0's published GFLOPS (its model documentation), which are MACs, at 1000
# classes and 3x224x224 (inception_v3: 3x299x299).
TORCHVISION_GMACS = {
    "alexnet": 0.714, "vgg16": 15.47, "googlenet": 1.498, "inception_v3": 5.713, "resnet18": 1.814,
    "resnet50": 4.089, "densenet121": 2.834, "squeezenet1_0": 0.819, "squeezenet1_1": 0.349,
    "mobilenet_v2": 0.301, "mobilenet_v3_large": 0.217, "shufflenet_v2_x1_0": 0.145, "mnasnet1_0": 0.314,
    "efficientnet_b0": 0.386,
}
PUBLISHED_SIZE = {"inception_v3": 299}
HEAVY = {"vgg16", "inception_v3", "densenet121"}

# paddle.vision models that equal torchvision's, and how far: "rows" (every row and total
# identical: same layers, same names), "totals" (same layers, other names), "macs" (paddle.vision
# pools with a layer where torchvision calls a function, so only the MACs and parameters agree),
# "params" (paddle.vision's squeezenet1_1 pads its first conv: 112x112 maps where torchvision has 111x111).
PADDLE_VISION = {"resnet18": "rows", "resnet50": "rows", "mobilenet_v3_large": "totals", "mobilenet_v2": "macs",
                 "shufflenet_v2_x1_0": "macs", "squeezenet1_1": "params", "alexnet": "macs"}

# Seed 003 (torchstat) for AlexNet in torchvision's layout, 10 classes, 3x224x224: per layer
# the output shape, parameters and torchstat's "Flops" (None for pools, where torchstat counts
# input elements and we count kernel x output elements). torchstat's conv Flops include the
# bias additions, which are our ops; its Linear Flops leave the bias out.
SEED_003_ALEXNET = [
    ("features.0", (64, 55, 55), 23_296, 70_470_400), ("features.1", (64, 55, 55), 0, 193_600),
    ("features.2", (64, 27, 27), 0, None), ("features.3", (192, 27, 27), 307_392, 224_088_768),
    ("features.4", (192, 27, 27), 0, 139_968), ("features.5", (192, 13, 13), 0, None),
    ("features.6", (384, 13, 13), 663_936, 112_205_184), ("features.7", (384, 13, 13), 0, 64_896),
    ("features.8", (256, 13, 13), 884_992, 149_563_648), ("features.9", (256, 13, 13), 0, 43_264),
    ("features.10", (256, 13, 13), 590_080, 99_723_520), ("features.11", (256, 13, 13), 0, 43_264),
    ("features.12", (256, 6, 6), 0, None), ("classifier.0", (9216,), 0, 0),
    ("classifier.1", (4096,), 37_752_832, 37_748_736), ("classifier.2", (4096,), 0, 4_096),
    ("classifier.3", (4096,), 0, 0), ("classifier.4", (4096,), 16_781_312, 16_777_216),
    ("classifier.5", (4096,), 0, 4_096), ("classifier.6", (10,), 40_970, 40_960),
]
SEED_003_ALEXNET_TOTAL = (57_044_810, 711_488_448)
# Seed 003, VGG16 with 1000 classes: conv and Linear rows, and the totals.
SEED_003_VGG16 = [
    ("features.0", (64, 224, 224), 1_792, 89_915_392), ("features.2", (64, 224, 224), 36_928, 1_852_899_328),
    ("features.5", (128, 112, 112), 73_856, 926_449_664), ("features.7", (128, 112, 112), 147_584, 1_851_293_696),
    ("features.10", (256, 56, 56), 295_168, 925_646_848), ("features.12", (256, 56, 56), 590_080, 1_850_490_880),
    ("features.14", (256, 56, 56), 590_080, 1_850_490_880), ("features.17", (512, 28, 28), 1_180_160, 925_245_440),
    ("features.19", (512, 28, 28), 2_359_808, 1_850_089_472),
    ("features.21", (512, 28, 28), 2_359_808, 1_850_089_472),
    ("features.24", (512, 14, 14), 2_359_808, 462_522_368), ("features.26", (512, 14, 14), 2_359_808, 462_522_368),
    ("features.28", (512, 14, 14), 2_359_808, 462_522_368), ("classifier.0", (4096,), 102_764_544, 102_760_448),
    ("classifier.3", (4096,), 16_781_312, 16_777_216), ("classifier.6", (1000,), 4_097_000, 4_096_000),
]
SEED_003_VGG16_TOTAL = (138_357_544, 15_503_489_024)
# Seed 000's torchsummary table: the adaptive LeNet, 2D, 3x224x224, 5 classes, ReLU on the logits.
SEED_000_LENET_BN = [
    ("Conv2d", (20, 220, 220), 1_520), ("BatchNorm2d", (20, 220, 220), 40), ("MaxPool2d", (20, 110, 110), 0),
    ("Conv2d", (50, 106, 106), 25_050), ("BatchNorm2d", (50, 106, 106), 100), ("MaxPool2d", (50, 53, 53), 0),
    ("Linear", (512,), 71_910_912), ("ReLU", (512,), 0), ("Linear", (5,), 2_565), ("ReLU", (5,), 0),
]
# Seed 002's LeNet-5 table (HWC there, CHW here): type, input, output, kernel, stride, parameters.
SEED_002_LENET5 = [
    ("Conv2d", (1, 32, 32), (6, 28, 28), (5, 5), (1, 1), 156),
    ("AvgPool2d", (6, 28, 28), (6, 14, 14), (2, 2), (2, 2), 0),
    ("Conv2d", (6, 14, 14), (16, 10, 10), (5, 5), (1, 1), 2_416),
    ("AvgPool2d", (16, 10, 10), (16, 5, 5), (2, 2), (2, 2), 0),
    ("Conv2d", (16, 5, 5), (120, 1, 1), (5, 5), (1, 1), 48_120),
    ("Linear", (120,), (84,), None, None, 10_164),
    ("Linear", (84,), (10,), None, None, 850),
]
# Seed 002's original AlexNet table (227 input, LRN after the first two pools). Its FC8 row
# prints 4,194,304 for "4096*1000 + 1000", which is 4,097,000.
SEED_002_ALEXNET = [
    ("Conv2d", (3, 227, 227), (96, 55, 55), (11, 11), (4, 4), 34_944),
    ("MaxPool2d", (96, 55, 55), (96, 27, 27), (3, 3), (2, 2), 0),
    ("LocalResponseNorm", (96, 27, 27), (96, 27, 27), None, None, 0),
    ("Conv2d", (96, 27, 27), (256, 27, 27), (5, 5), (1, 1), 614_656),
    ("MaxPool2d", (256, 27, 27), (256, 13, 13), (3, 3), (2, 2), 0),
    ("LocalResponseNorm", (256, 13, 13), (256, 13, 13), None, None, 0),
    ("Conv2d", (256, 13, 13), (384, 13, 13), (3, 3), (1, 1), 885_120),
    ("Conv2d", (384, 13, 13), (384, 13, 13), (3, 3), (1, 1), 1_327_488),
    ("Conv2d", (384, 13, 13), (256, 13, 13), (3, 3), (1, 1), 884_992),
    ("MaxPool2d", (256, 13, 13), (256, 6, 6), (3, 3), (2, 2), 0),
    ("Linear", (9216,), (4096,), None, None, 37_752_832),
    ("Linear", (4096,), (4096,), None, None, 16_781_312),
    ("Linear", (4096,), (1000,), None, None, 4_097_000),
]


def _within(value: float, published: float, rel: float = 0.01) -> bool:
    return abs(value - published) <= rel * published


def _table(summary: Summary, rules: tuple[str, ...]) -> list[tuple]:
    return [(r.type, r.input, r.output, r.kernel, r.stride, r.params) for r in summary if r.rule in rules]


def _assert_identical(t: Summary, p: Summary) -> None:
    differences = compare(t, p)
    assert not differences, "torch and paddle summaries differ:\n" + "\n".join(differences)


@lru_cache(maxsize=None)
def _torchvision_summary(name: str, num_classes: int = 1000) -> Summary:
    """torchvision's model summarized once per process (the model is not kept)."""
    tv = import_torchvision()
    kwargs = {"init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = getattr(tv.models, name)(num_classes=num_classes, **kwargs)
    size = PUBLISHED_SIZE.get(name, 224)
    return summarize(model, (3, size, size))


def _paddle_vision_summary(name: str, num_classes: int = 1000) -> Summary:
    import paddle.vision.models as pvm

    size = PUBLISHED_SIZE.get(name, 224)
    return summarize(getattr(pvm, name)(num_classes=num_classes), (3, size, size))


def _heavy(names, heavy=lambda n: n in HEAVY):
    return [pytest.param(n, id=n, marks=[pytest.mark.heavy] if heavy(n) else []) for n in names]


# --- counting rules, both frameworks -------------------------------------------------------

def _rules_pair(dims: int) -> tuple[torch.nn.Module, paddle.nn.Layer, int]:
    """Every counted layer type once, built in both frameworks from the layers helpers."""
    flat = 16 * 3 ** dims
    t = torch.nn.Sequential(
        TL.conv(dims, 3, 8, 3, stride=2, padding=1), TL.batch_norm(dims, 8), torch.nn.ReLU(),
        TL.max_pool(dims, 3, 2, ceil_mode=True), TL.avg_pool(dims, 3, 1, 1), torch.nn.LocalResponseNorm(5),
        TL.conv(dims, 8, 8, 3, padding=1, groups=8, bias=False), TL.conv(dims, 8, 16, 1),
        TL.adaptive_avg_pool(dims, 3), torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(flat, 10),
        torch.nn.Hardswish(), torch.nn.SiLU())
    p = paddle.nn.Sequential(
        PL.conv(dims, 3, 8, 3, stride=2, padding=1), PL.batch_norm(dims, 8), paddle.nn.ReLU(),
        PL.max_pool(dims, 3, 2, ceil_mode=True), PL.avg_pool(dims, 3, 1, 1),
        paddle.nn.LocalResponseNorm(5, data_format="NCL" if dims == 1 else "NCHW"),
        PL.conv(dims, 8, 8, 3, padding=1, groups=8, bias=False), PL.conv(dims, 8, 16, 1),
        PL.adaptive_avg_pool(dims, 3), paddle.nn.Flatten(), paddle.nn.Dropout(0.5), paddle.nn.Linear(flat, 10),
        paddle.nn.Hardswish(), paddle.nn.Silu())
    return t, p, flat


@pytest.mark.parametrize("dims", [1, 2])
def test_counting_rules(dims):
    t_model, p_model, flat = _rules_pair(dims)
    shape = (3,) + (27,) * dims
    t, p = summarize(t_model, shape), summarize(p_model, shape)
    _assert_identical(t, p)
    e14, e7 = 8 * 14 ** dims, 8 * 7 ** dims  # output elements of the stride-2 conv and of the pools
    bins = 9 ** dims  # 7 -> 3 adaptive bins [0,3) [2,5) [4,7): 9 inputs read per axis
    expected = [  # (type, MACs, ops)
        ("Conv2d" if dims == 2 else "Conv1d", e14 * 3 * 3 ** dims, e14),  # out x in/groups x kernel; bias add
        (f"BatchNorm{dims}d", 0, 2 * e14),
        ("ReLU", 0, e14),
        (f"MaxPool{dims}d", 0, e7 * 3 ** dims),
        (f"AvgPool{dims}d", 0, e7 * 3 ** dims),
        ("LocalResponseNorm", 0, e7 * (5 + 3)),
        (f"Conv{dims}d", e7 * 1 * 3 ** dims, 0),  # depthwise: in/groups = 1, no bias
        (f"Conv{dims}d", 2 * e7 * 8, 2 * e7),
        (f"AdaptiveAvgPool{dims}d", 0, 16 * bins),
        ("Flatten", 0, 0),
        ("Dropout", 0, 0),
        ("Linear", 10 * flat, 10),
        ("Hardswish", 0, 10),
        ("SiLU", 0, 10),
    ]
    assert [(r.type, r.macs, r.ops) for r in t] == expected
    assert t[0].kernel == (3,) * dims and t[0].stride == (2,) * dims and t[0].padding == (1,) * dims
    assert t[6].groups == 8 and t[3].kernel == (3,) * dims and t[4].padding == (1,) * dims
    assert t[8].output == (16,) + (3,) * dims and t[9].output == (flat,)
    assert p[0].cls == f"Conv{dims}D" and p[-1].cls == "Silu" and t[-1].cls == "SiLU"
    # BatchNorm's running statistics are non-trainable state in both (torch buffers, paddle frozen parameters).
    assert t[1].params == p[1].params == 16 and t[1].frozen == p[1].frozen == 16
    assert t.non_trainable == p.non_trainable == 16
    assert t.trainable == sum(x.numel() for x in t_model.parameters())
    assert t.param_bytes == 4 * (t.trainable + t.non_trainable)
    # Flatten is a view: no activation memory.
    assert t.activation_bytes == 4 * sum(math.prod(r.output) for r in t if r.type != "Flatten")
    assert t.macs == sum(e[1] for e in expected) and t.ops == sum(e[2] for e in expected)


def test_count_adaptive_bins_when_sizes_do_not_divide():
    # 13 -> 6 bins: starts floor(13i/6) = 0,2,4,6,8,10; ends ceil(13(i+1)/6) = 3,5,7,9,11,13.
    assert count("adaptive_pool", (4, 6), (4, 13)) == (0, 4 * 18)
    assert count("adaptive_pool", (2, 6, 1), (2, 13, 5)) == (0, 2 * 18 * 5)


def _torch_net() -> torch.nn.Module:
    """A conv, a ReLU called twice, layers of unknown types and a head that never runs."""
    class Shuffle(torch.nn.Module):
        def forward(self, x):
            return x.flip(1)

    class Drop(torch.nn.Module):
        stochastic = True

        def forward(self, x):
            return x

    class Scale(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(channels))

        def forward(self, x):
            return x * self.weight.view(1, -1, 1, 1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()
            self.shuffle, self.drop, self.scale = Shuffle(), Drop(), Scale(4)
            self.aux = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.scale(self.drop(self.shuffle(self.act(self.act(self.conv(x))))))

    return Net()


def _paddle_net() -> paddle.nn.Layer:
    """_torch_net's twin, with the same class names."""
    class Shuffle(paddle.nn.Layer):
        def forward(self, x):
            return x.flip([1])

    class Drop(paddle.nn.Layer):
        stochastic = True

        def forward(self, x):
            return x

    class Scale(paddle.nn.Layer):
        def __init__(self, channels):
            super().__init__()
            self.weight = self.create_parameter([channels], default_initializer=paddle.nn.initializer.Constant(1.0))

        def forward(self, x):
            return x * self.weight.reshape([1, -1, 1, 1])

    class Net(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv, self.act = paddle.nn.Conv2D(3, 4, 3), paddle.nn.ReLU()
            self.shuffle, self.drop, self.scale = Shuffle(), Drop(), Scale(4)
            self.aux = paddle.nn.Linear(4, 2)

        def forward(self, x):
            return self.scale(self.drop(self.shuffle(self.act(self.act(self.conv(x))))))

    return Net()


def test_repeated_calls_uncalled_layers_and_layers_without_rules():
    t, p = summarize(_torch_net(), (3, 8, 8)), summarize(_paddle_net(), (3, 8, 8))
    _assert_identical(t, p)
    assert [r.name for r in t] == ["conv", "act", "act", "shuffle", "drop", "scale"]
    assert [r.rule for r in t] == ["conv", "activation", "activation", "none", "dropout", "weight"]
    # A shared layer called twice is two rows; its work counts twice.
    assert t[1].ops == t[2].ops == 4 * 36
    # A layer with a weight of its own and no rule: the weight at every output position.
    assert t[5].macs == 4 * 36 and t[5].params == 4
    # An unknown type is named; a layer that never ran still counts in the parameters.
    assert t.no_rule == ("Shuffle",)
    assert t.not_run == ("aux",)
    assert t.trainable == 112 + 4 + 10 and sum(r.params for r in t) == 112 + 4
    assert "no counting rule (counted as 0): Shuffle" in format_totals(t, p)
    assert "not called on this input (parameters counted, no MACs): aux" in format_totals(t, p)


def test_compare_names_every_difference():
    t = summarize(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()), (3, 8, 8))
    p = summarize(paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 5, padding=2), paddle.nn.ReLU()), (3, 8, 8))
    differences = compare(t, p)
    assert any(d.startswith("total macs") for d in differences)
    assert any(d.startswith("row 0 (0 / 0)") and "kernel (3, 3) vs (5, 5)" in d and "padding (1, 1) vs (2, 2)" in d
               for d in differences)
    assert not any(d.startswith("row 1") for d in differences)


def test_summarize_defaults_restores_mode_and_rejects_other_objects():
    model = torch_impl.build("lenet5")
    model.train()
    s = summarize(model)  # C and dims from the first conv, the size from model.input_size
    assert s.input_shape == (1, 32, 32) and model.training and all(m.training for m in model.modules())
    assert summarize(model.double(), (1, 32, 32)).dtype == "float64"
    p_model = paddle_impl.build("lenet5", dims=1)
    assert summarize(p_model).input_shape == (1, 32) and p_model.training
    with pytest.raises(ValueError, match="input_shape"):
        summarize(torch.nn.Linear(3, 4))
    with pytest.raises(TypeError, match="torch.nn.Module or a paddle.nn.Layer"):
        summarize(object(), (3,))


def test_library_entry_point():
    import parity

    assert parity.summarize is summarize


# --- our registered models: identical rows in both frameworks ---------------------------------

REGISTERED = [pytest.param(n, d, id=f"{n}-{d}d", marks=[pytest.mark.heavy] if zoo.get(n).heavy else [])
              for n in zoo.names() for d in (2, 1)]


@pytest.mark.parametrize("name,dims", REGISTERED)
def test_registered_rows_identical(name, dims):
    """torch and paddle give the same rows. Checked at the parity input size: the rows are
    computed by the same rules from shapes on both sides, so a small input proves it without
    running every net at full size in single-threaded paddle; the README's full-size numbers
    come from the torch side (test_readme_table_is_current)."""
    t, p = summarize_pair(name, dims, zoo.get(name).check_size(dims))
    _assert_identical(t, p)
    assert t.macs > 0 and t.trainable > 0 and len(t) > 0


def test_sparse_c3_and_trainable_subsampling_rows():
    """Layers with their own weights and no rule (LeNet's connection-table conv, trainable
    subsampling) count their weight at every output position, in both frameworks."""
    t, p = summarize_pair("lenet5_original_sparse", 2)
    rows = {r.name: r for r in t}
    assert rows["features.c3"].macs == 60 * 25 * 10 * 10  # 60 connected 5x5 kernels at 10x10 positions
    assert rows["features.c3"].params == 1_516
    assert (rows["features.s2"].params, rows["features.s2"].macs) == (12, 6 * 14 * 14)
    assert (rows["features.s4"].params, rows["features.s4"].macs) == (32, 16 * 5 * 5)
    assert rows["features.s2.pool"].ops == 6 * 14 * 14 * 4


# --- published numbers: our registered models ---------------------------------------------

@pytest.mark.parametrize("name", _heavy([n for n in TORCHVISION_GMACS if n in zoo.MODELS],
                                        lambda n: zoo.get(n).heavy or n in HEAVY))
def test_registered_published_macs(name):
    size = PUBLISHED_SIZE.get(name, 224)
    t = summarize_registered(name, "torch", 2, size, num_classes=1000, in_channels=3)  # paddle: rows identical above
    assert _within(t.macs, TORCHVISION_GMACS[name] * 1e9), f"{name}: {t.macs / 1e9:.4f} G MACs, " \
                                                           f"torchvision publishes {TORCHVISION_GMACS[name]}"


def _check_seed_003(s: Summary, table, total: tuple[int, int]) -> None:
    params, macs = total
    assert s.trainable == params
    assert _within(s.macs, macs), f"{s.macs:,} MACs vs seed 003's {macs:,}"
    rows = {r.name: r for r in s}
    for name, out, n_params, flops in table:
        r = rows[name]
        assert (r.output, r.params) == (out, n_params), name
        if flops is not None:
            # torchstat counts a conv's bias additions and an activation's elements (our ops),
            # and a Linear's multiply-accumulates without the bias.
            assert r.macs + (r.ops if r.rule != "linear" else 0) == flops, name


@pytest.mark.parametrize("name", [n for n in ("alexnet",) if n in zoo.MODELS])
def test_registered_alexnet_seed_003(name):
    t, p = summarize_pair(name, 2, 224, num_classes=10, in_channels=3)
    _assert_identical(t, p)
    _check_seed_003(t, SEED_003_ALEXNET, SEED_003_ALEXNET_TOTAL)


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n in ("vgg16",) if n in zoo.MODELS])
def test_registered_vgg16_seed_003(name):
    t, p = summarize_pair(name, 2, 224, num_classes=1000, in_channels=3)
    _assert_identical(t, p)
    _check_seed_003(t, SEED_003_VGG16, SEED_003_VGG16_TOTAL)


def _seed_002_alexnet_names() -> list[str]:
    """Registered AlexNet variants whose zoo entry cites seed 002's table."""
    return [n for n in zoo.names("alexnet") if "seed 002" in zoo.get(n).source]


@pytest.mark.parametrize("name", _seed_002_alexnet_names())
def test_registered_alexnet_seed_002_rows(name):
    t, p = summarize_pair(name, 2, 227, num_classes=1000, in_channels=3)
    _assert_identical(t, p)
    # LRN's position relative to pooling varies between sources; the other rows may not.
    assert _table(t, ("conv", "pool", "linear")) == [r for r in SEED_002_ALEXNET if r[0] != "LocalResponseNorm"]
    assert sum(r.type == "LocalResponseNorm" for r in t) == 2


def test_seed_002_alexnet_rows_on_a_stand_in():
    """Seed 002's table built literally in both frameworks: every row, LRN included."""
    def build(L, nn, lrn):
        return nn.Sequential(
            L.conv(2, 3, 96, 11, stride=4), nn.ReLU(), L.max_pool(2, 3, 2), lrn(),
            L.conv(2, 96, 256, 5, padding=2), nn.ReLU(), L.max_pool(2, 3, 2), lrn(),
            L.conv(2, 256, 384, 3, padding=1), nn.ReLU(), L.conv(2, 384, 384, 3, padding=1), nn.ReLU(),
            L.conv(2, 384, 256, 3, padding=1), nn.ReLU(), L.max_pool(2, 3, 2), nn.Flatten(),
            nn.Linear(9216, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))

    t = summarize(build(TL, torch.nn, lambda: torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)), (3, 227, 227))
    p = summarize(build(PL, paddle.nn, lambda: paddle.nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)), (3, 227, 227))
    _assert_identical(t, p)
    assert _table(t, ("conv", "pool", "lrn", "linear")) == SEED_002_ALEXNET
    assert t.trainable == sum(r[-1] for r in SEED_002_ALEXNET)


def test_seed_002_lenet5_rows():
    t, p = summarize_pair("lenet5", 2)
    _assert_identical(t, p)
    assert _table(t, ("conv", "pool", "linear")) == SEED_002_LENET5
    assert t.trainable == 61_706


def test_lenet5_trainable_subsampling_count():
    t, p = summarize_pair("lenet5_original", 2)
    _assert_identical(t, p)
    assert t.trainable == 61_750  # seed 004
    assert [r.params for r in t if r.type == "DownSample"] == [12, 32]


def test_seed_000_lenet_bn_torchsummary_table():
    kwargs = dict(num_classes=5, in_channels=3, dims=2, input_size=224, final_relu=True)
    t = summarize(torch_impl.build("lenet_bn", **kwargs), (3, 224, 224))
    p = summarize(paddle_impl.build("lenet_bn", **kwargs), (3, 224, 224))
    _assert_identical(t, p)
    assert [(r.type, r.output, r.params) for r in t if r.type != "Flatten"] == SEED_000_LENET_BN
    assert t.trainable == 71_940_187
    # torchsummary: "Params size (MB): 274.43", "Forward/backward pass size (MB): 26.27"
    assert round(t.param_bytes / 2 ** 20, 2) == 274.43
    assert round(2 * t.activation_bytes / 2 ** 20, 2) == 26.27


# --- published numbers: torchvision and paddle.vision stand-ins ----------------------------

@pytest.mark.torchvision
@pytest.mark.parametrize("name", _heavy(TORCHVISION_GMACS))
def test_torchvision_published_macs(name):
    s = _torchvision_summary(name)
    assert _within(s.macs, TORCHVISION_GMACS[name] * 1e9), f"{name}: {s.macs / 1e9:.4f} G MACs, " \
                                                           f"torchvision publishes {TORCHVISION_GMACS[name]}"
    if name in ("googlenet", "inception_v3"):
        assert s.not_run, "the auxiliary heads do not run in eval mode, so they have no rows"


@pytest.mark.torchvision
def test_torchvision_alexnet_seed_003():
    _check_seed_003(_torchvision_summary("alexnet", 10), SEED_003_ALEXNET, SEED_003_ALEXNET_TOTAL)


@pytest.mark.torchvision
@pytest.mark.heavy
def test_torchvision_vgg16_seed_003():
    _check_seed_003(_torchvision_summary("vgg16"), SEED_003_VGG16, SEED_003_VGG16_TOTAL)


@pytest.mark.torchvision
@pytest.mark.parametrize("name", list(PADDLE_VISION))
def test_paddle_vision_matches_torchvision(name):
    """The paddle side of the counting on paddle.vision's twins of torchvision models."""
    tv, pv = _torchvision_summary(name), _paddle_vision_summary(name)
    assert pv.trainable == tv.trainable
    level = PADDLE_VISION[name]
    if level == "rows":
        _assert_identical(tv, pv)
    elif level == "totals":
        assert pv.totals() == tv.totals()
    if level != "params":
        assert pv.macs == tv.macs
        assert _within(pv.macs, TORCHVISION_GMACS[name] * 1e9)


def test_paddle_vision_alexnet_seed_003_totals():
    s = _paddle_vision_summary("alexnet", 10)
    assert s.trainable == SEED_003_ALEXNET_TOTAL[0]
    assert _within(s.macs, SEED_003_ALEXNET_TOTAL[1])


# --- the CLI -------------------------------------------------------------------------------

def test_cli_prints_both_frameworks(capsys):
    from parity.__main__ import main

    assert main(["summary", "lenet5_original"]) == 0
    out = capsys.readouterr().out
    assert "Conv2d / Conv2D" in out and "features.s2" in out and "DownSample" in out
    assert "61,750" in out and "rows identical" in out and "DIFFERS" not in out


def test_cli_json(tmp_path, capsys):
    from parity.cli_summary import main

    path = tmp_path / "s.json"
    assert main(["lenet5", "--dims", "1", "--json", str(path)]) == 0
    doc = json.loads(path.read_text())
    assert doc["identical"] and doc["dims"] == 1 and doc["input_shape"] == [1, 32]
    assert doc["torch"]["totals"] == doc["paddle"]["totals"]
    assert doc["torch"]["totals"]["trainable"] == summarize_registered("lenet5", "torch", 1).trainable
    capsys.readouterr()
    assert main(["lenet_bn", "--input-size", "32", "--num-classes", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_shape"] == [1, 32, 32] and doc["torch"]["rows"][-1]["output"] == [3]


def test_cli_usage_errors(capsys):
    from parity.cli_summary import main

    assert main(["lenet6"]) == 2
    assert "lenet5" in capsys.readouterr().err
    assert main(["lenet5", "--input-size", "64"]) == 2
    assert "got shape [1, 1, 64, 64]" in capsys.readouterr().err


# --- the README model table --------------------------------------------------------------

_README = "# Zoo\n\nintro\n\n{start}\nold table\n{end}\n\nafter the table\n"
_NAMES = ["lenet5", "lenet5_original"]


def _readme(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(_README.format(start=R.START, end=R.END))
    return path


def test_readme_rewrite_keeps_the_rest(tmp_path):
    path = _readme(tmp_path)
    assert R.update_readme(path, report=tmp_path / "absent.json", names=_NAMES)
    text = path.read_text()
    assert text.startswith("# Zoo\n\nintro\n\n" + R.START + "\n| model |")
    assert text.endswith(R.END + "\n\nafter the table\n") and "old table" not in text
    rows = R.parse_table(text)
    assert set(rows) == {(n, d) for n in _NAMES for d in ("2D", "1D")}
    assert rows[("lenet5", "2D")]["parameters"] == "61,706" and rows[("lenet5_original", "2D")]["parameters"] == "61,750"
    assert rows[("lenet5", "1D")]["input"] == "1x32" and rows[("lenet5", "2D")]["MACs"] == "416.52 K"
    assert all(r["parity"] == R.NOT_RUN for r in rows.values())
    assert not R.update_readme(path, report=tmp_path / "absent.json", names=_NAMES)  # idempotent


def test_readme_parity_status_comes_from_the_report(tmp_path):
    report = tmp_path / "parity-report.json"
    report.write_text(json.dumps([
        {"model": "lenet5", "dims": 2, "dtype": "float64", "ok": True, "notes": ["input [4, 1, 32, 32]"]},
        {"model": "lenet5", "dims": 2, "dtype": "float32", "ok": True},
        {"model": "lenet5", "dims": 1, "dtype": "float64", "ok": True},
        {"model": "lenet5", "dims": 1, "dtype": "float32", "ok": False},
        {"model": "mine", "dims": None, "dtype": "float64", "ok": True},
    ]))
    path = _readme(tmp_path)
    R.update_readme(path, report=report, names=_NAMES)
    rows = R.parse_table(path.read_text())
    assert rows[("lenet5", "2D")]["parity"] == "pass (float64, float32) at 1x32x32"
    assert rows[("lenet5", "1D")]["parity"] == "FAIL (float32)"
    assert rows[("lenet5_original", "2D")]["parity"] == R.NOT_RUN
    assert "from `parity-report.json`" in path.read_text()
    report.write_text("{not json")
    with pytest.raises(ValueError, match="not a report"):
        R.parity_status(report)


def test_readme_status_and_family_table_read_the_coverage_cases(tmp_path):
    # The input is the parity case's, every case counts, a failed coverage case is named, and the
    # family table adds up each family's cases, seconds and largest peak.
    report = tmp_path / "parity-report.json"
    report.write_text(json.dumps({"partial": False, "cases": 5, "reports": [
        {"model": "lenet5", "dims": 2, "dtype": "float64", "case": "parity", "ok": True, "seconds": 3.0,
         "peak_rss_mb": 700.0, "notes": ["input [4, 1, 32, 32]"]},
        {"model": "lenet5", "dims": 2, "dtype": "float32", "case": "parity", "ok": True, "seconds": 2.0},
        {"model": "lenet5", "dims": 2, "dtype": "float64", "case": "asym 33", "ok": True, "seconds": 1.0,
         "peak_rss_mb": 900.0, "notes": ["input [4, 1, 33, 33]"]},
        {"model": "lenet5", "dims": 1, "dtype": "float64", "case": "parity", "ok": True, "seconds": 1.0},
        {"model": "lenet5", "dims": 1, "dtype": "float64", "case": "hot", "ok": False, "seconds": 0.5},
    ]}))
    status = R.parity_status(report)
    assert status[("lenet5", 2)] == "pass (float64, float32) at 1x32x32, 3 cases"
    assert status[("lenet5", 1)] == "FAIL (float64 hot), 2 cases"
    table = R.family_table(report).splitlines()
    assert table[2] == "| lenet | 5 | 1 | 0.1 min | 3 s (lenet5 2D float64 parity) | 0.9 GB |"
    assert len(table) == 3  # only families that ran


def test_readme_staleness_is_detected(tmp_path):
    path = _readme(tmp_path)
    R.update_readme(path, names=_NAMES)
    text = path.read_text()
    assert R.stale_rows(text, names=_NAMES) == []
    edited = text.replace("| 61,706 |", "| 61,000 |", 1)
    assert R.stale_rows(edited, names=_NAMES) == ["lenet5 2D: parameters is '61,000' in the README, '61,706' in the code"]
    assert R.stale_rows(text, names=["lenet5"]) == [f"lenet5_original {d}: in the README but not registered"
                                                    for d in ("2D", "1D")]


def test_readme_markers_are_required(tmp_path, capsys):
    from parity.cli_readme import main

    path = tmp_path / "README.md"
    path.write_text("# no markers\n")
    with pytest.raises(ValueError, match="model-table:start"):
        R.update_readme(path, names=_NAMES)
    assert main(["--readme", str(path)]) == 2
    assert "model-table:start" in capsys.readouterr().err
    path.write_text(f"{R.END}\n{R.START}\n")
    with pytest.raises(ValueError):
        R.replace_table(path.read_text(), "x")


def test_readme_table_is_current():
    """The README's parameters and MACs are what the code gives now (python -m parity readme)."""
    if not R.README.exists():
        pytest.skip(f"{R.README} does not exist yet")
    text = R.README.read_text()
    if R.START not in text or R.END not in text:
        pytest.skip(f"{R.README.name} has no {R.START} / {R.END} markers yet")
    problems = R.stale_rows(text)
    assert not problems, "README.md's model table is stale; run python -m parity readme:\n" + "\n".join(problems)
