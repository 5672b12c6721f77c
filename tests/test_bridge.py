"""parity/bridge.py: torch views of paddle tensors share paddle's memory, both ways, and the
in-place reload checks every key and shape."""
from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

from parity import bridge


def test_a_view_reads_and_writes_paddles_memory():
    layer = paddle.nn.Linear(3, 2)  # paddle's Linear weight is [in, out]: torch's transposed
    layer(paddle.ones([4, 3])).sum().backward()
    weight = bridge.view(layer.weight, transpose=True)
    assert weight.shape == (2, 3)
    np.testing.assert_array_equal(weight.numpy(), layer.weight.numpy().T)
    with torch.no_grad():
        weight[1, 0] = 7.0
        bridge.view(layer.weight.grad).zero_()
    assert layer.weight.numpy()[0, 1] == 7.0
    assert not layer.weight.grad.numpy().any()


def test_an_empty_tensor_has_an_empty_view():
    assert bridge.view(paddle.zeros([0, 3], dtype="float64")).shape == (0, 3)


def test_load_from_torch_writes_in_place_and_refuses_what_does_not_fit():
    layer = paddle.nn.Linear(3, 2)
    state = {"weight": torch.arange(6, dtype=torch.float64).reshape(2, 3), "bias": torch.tensor([1.0, 2.0])}
    pairs = [("weight", "weight", True), ("bias", "bias", False)]
    bridge.load_from_torch(layer, state, pairs)
    np.testing.assert_array_equal(layer.weight.numpy(), state["weight"].numpy().T)  # cast to float32 too
    np.testing.assert_array_equal(layer.bias.numpy(), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"weight \[3, 2\] does not fit weight \[3, 2\] transposed"):
        bridge.load_from_torch(layer, {**state, "weight": state["weight"].t()}, pairs)
    with pytest.raises(ValueError, match="paddle keys not named: \\['bias'\\]"):
        bridge.load_from_torch(layer, state, pairs[:1])


@pytest.mark.parametrize("shape", [(3, 5), (2, 40_000), (700, 90)])  # one band, many bands, a band of 46 columns
def test_equal_compares_every_element_through_a_transpose(shape):
    mine = torch.randn(shape, dtype=torch.float64)
    theirs = mine.t().contiguous()  # paddle's layout of a Linear weight
    assert bridge.equal(mine, theirs, transpose=True)
    assert bridge.equal(mine, mine) and not bridge.equal(mine, theirs.t() + 1.0)
    for i, j in [(0, 0), (shape[0] - 1, shape[1] - 1), (shape[0] // 2, shape[1] // 3)]:
        changed = theirs.clone()
        changed[j, i] = torch.nextafter(changed[j, i], torch.tensor(np.inf, dtype=torch.float64))  # one ulp
        assert not bridge.equal(mine, changed, transpose=True), (i, j)
    assert not bridge.equal(mine, mine, transpose=True)  # the shape of an untransposed tensor does not fit
