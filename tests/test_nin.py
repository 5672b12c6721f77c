"""Network in Network: counts on both sides, the block structure, input checks, full-size forward.

The registry-wide parity (gradients, optimizer steps, ONNX) is tests/test_parity.py.
"""
import numpy as np
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity.compare import compare_modules
from tests._classic import assert_close, assert_count, check_shape_errors, pair, run_paddle, run_torch

# Per block: k^dims * in * out + out for the first conv, 2 * (out*out + out) for the 1x1 pair.
# 2D, 1 channel, 10 classes: 30,336 + 746,240 + 1,180,800 + 34,790 = 1,992,166.
# 1D: 19,776 + 254,720 + 590,976 + 11,750 = 877,222.
# 2D, 3 channels, 1000 classes: block 1 gains 2*96*121 = 23,232, the last block is
# 1000*384*9 + 1000 + 2 * (1000*1000 + 1000) = 5,459,000: 7,439,608.
COUNTS = [({"num_classes": 10}, 1_992_166), ({"num_classes": 10, "dims": 1}, 877_222),
          ({"num_classes": 1000, "in_channels": 3}, 7_439_608)]


@pytest.mark.parametrize("kwargs,count", COUNTS, ids=[str(c) for _, c in COUNTS])
def test_parameter_counts(kwargs, count):
    assert_count("nin", count, **kwargs)


@pytest.mark.parametrize("dims", [1, 2])
def test_blocks(dims):
    """Four NiN blocks (a conv, then two 1x1 convs, each with ReLU), a 3x3 stride-2 max pool
    after each of the first three, dropout before the last, whose width is the class count."""
    t = torch_impl.build("nin", dims=dims, num_classes=7)
    kinds = [type(m).__name__ for m in t.features]
    assert kinds == ["NiNBlock", f"MaxPool{dims}d", "NiNBlock", f"MaxPool{dims}d", "NiNBlock", f"MaxPool{dims}d",
                     "Dropout", "NiNBlock"]
    conv = torch.nn.Conv1d if dims == 1 else torch.nn.Conv2d
    for block in (m for m in t.features if type(m).__name__ == "NiNBlock"):
        assert [type(m) for m in block] == [conv, torch.nn.ReLU] * 3
        assert block[2].kernel_size == block[4].kernel_size == (1,) * dims
    assert [b[0].out_channels for b in t.features if type(b).__name__ == "NiNBlock"] == [96, 256, 384, 7]
    assert [b[0].kernel_size[0] for b in t.features if type(b).__name__ == "NiNBlock"] == [11, 5, 3, 3]


def test_global_average_pool_gives_non_negative_logits():
    """As in d2l, the last block ends in ReLU before the global average pool."""
    t, p = pair("nin")
    x = np.random.RandomState(0).standard_normal((2, 1, 96, 96)).astype(np.float32)
    out_t, out_p = run_torch(t, x), run_paddle(p, x)
    assert out_t.shape == (2, 10) and (out_t >= 0).all()
    assert_close(out_p, out_t, 1e-4)


@pytest.mark.parametrize("dims", [1, 2])
def test_input_shape_errors(dims):
    check_shape_errors("nin", dims)


def test_smallest_input():
    assert zoo.get("nin").min_size == 67
    t, p = pair("nin")
    x = np.ones((1, 1, 67, 67), dtype=np.float32)
    assert run_torch(t, x).shape == run_paddle(p, x).shape == (1, 10)


@pytest.mark.heavy
@pytest.mark.parametrize("dims", [1, 2])
def test_full_size_forward_float64(dims):
    """1-channel 224x224 (d2l's Fashion-MNIST size): structure, weight copy, eval outputs."""
    info = zoo.get("nin")
    report = compare_modules(torch_impl.build("nin", dims=dims), paddle_impl.build("nin", dims=dims),
                             input_shape=info.input_shape(dims, 2, 224), dtype="float64", train=False,
                             name="nin", dims=dims)
    assert report.ok, str(report)
