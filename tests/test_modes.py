"""parity/modes.py's built_in: the harness builds a case's models in the case's dtype, and
both frameworks' defaults are back afterwards, also when a build raises."""
from __future__ import annotations

import pytest

import parity  # noqa: F401  (quiet paddle import)
import paddle
import paddle_impl
import torch
import torch_impl
from parity.modes import built_in


def _dtypes(t_model: torch.nn.Module, p_model: paddle.nn.Layer) -> set[str]:
    t = {str(v.dtype).removeprefix("torch.") for v in t_model.state_dict().values() if v.is_floating_point()}
    p = {str(v.dtype).removeprefix("paddle.") for v in p_model.state_dict().values() if v.is_floating_point()}
    return t | p


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_models_are_built_in_the_dtype_and_the_defaults_come_back(dtype):
    with built_in(dtype):
        t_model = torch_impl.build("lenet_bn", num_classes=10, in_channels=1, dims=2, input_size=32)
        p_model = paddle_impl.build("lenet_bn", num_classes=10, in_channels=1, dims=2, input_size=32)
    assert _dtypes(t_model, p_model) == {dtype}  # BatchNorm's statistics included
    assert torch.get_default_dtype() == torch.float32 and paddle.get_default_dtype() == "float32"


def test_the_defaults_come_back_when_a_build_raises():
    with pytest.raises(ValueError, match="at least 16"), built_in("float64"):
        torch_impl.build("lenet_bn", num_classes=10, in_channels=1, dims=2, input_size=8)
    assert torch.get_default_dtype() == torch.float32 and paddle.get_default_dtype() == "float32"
