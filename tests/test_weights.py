"""State-dict conversion: bit-identical round trips for every registered model, and errors that
list every offending key."""
import numpy as np
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity.weights import (WeightMismatchError, load_paddle, load_torch, paddle_to_torch, torch_to_paddle)


def _pair(name, dims=2):
    info = zoo.get(name)
    kw = info.build_kwargs(dims, info.check_size(dims))
    return torch_impl.build(name, **kw), paddle_impl.build(name, **kw)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.heavy] if zoo.get(n).heavy else [])
                                  for n in zoo.names()])
def test_round_trip_is_bit_identical(name):
    t, p = _pair(name)
    with torch.no_grad():  # make BN statistics non-trivial so their renames are exercised
        for key, v in t.state_dict().items():
            if key.endswith(("running_mean", "running_var")):
                v.uniform_(0.5, 1.5)
    load_paddle(p, torch_to_paddle(t, p))
    back = paddle_to_torch(p, t)
    assert list(back) == list(t.state_dict())
    for key, value in t.state_dict().items():
        assert back[key].dtype == value.dtype or not value.is_floating_point(), key
        assert torch.equal(back[key].to(value.dtype), value), key


def test_linear_is_transposed_by_type_and_bn_renamed():
    t, p = _pair("lenet_bn")
    state = torch_to_paddle(t, p)
    assert "features.1._mean" in state and "features.1._variance" in state
    assert not any("num_batches_tracked" in k for k in state)
    np.testing.assert_array_equal(state["classifier.0.weight"], t.classifier[0].weight.detach().numpy().T)
    # A conv weight of the same rank as nothing else keeps its layout.
    np.testing.assert_array_equal(state["features.0.weight"], t.features[0].weight.detach().numpy())


def test_mismatch_lists_missing_unexpected_and_misshaped():
    t, p = _pair("lenet5")
    sd = dict(t.state_dict())
    del sd["features.c1.bias"]
    sd["features.extra.weight"] = torch.zeros(3)
    sd["classifier.output.weight"] = torch.zeros(7, 84)
    with pytest.raises(WeightMismatchError) as info:
        torch_to_paddle(sd, p)
    msg = str(info.value)
    assert "missing keys (1): features.c1.bias" in msg
    assert "unexpected keys (1): features.extra.weight" in msg
    assert "mis-shaped: classifier.output.weight: checkpoint [7, 84] vs model [10, 84]" in msg


def test_torch_load_is_strict_and_casts():
    t, _ = _pair("lenet5")
    sd = {k: v.double() for k, v in t.state_dict().items()}
    load_torch(t, sd)
    assert t.features.c1.weight.dtype == torch.float32
    sd.pop("features.c1.weight")
    with pytest.raises(WeightMismatchError, match="missing keys"):
        load_torch(t, sd)
