"""The registry: zoo, torch_impl and paddle_impl list exactly the same names, and every builder
follows the torchvision-style keyword signature."""
import inspect

import pytest

import paddle_impl
import torch_impl
import zoo
from torch_impl import _registry as t_reg
from paddle_impl import _registry as p_reg


def test_three_name_sets_are_equal():
    assert set(torch_impl.list_models()) == set(zoo.names()) == set(paddle_impl.list_models())
    assert torch_impl.list_models() == zoo.names() == paddle_impl.list_models()


@pytest.mark.parametrize("family", zoo.families())
def test_family_filter(family):
    assert torch_impl.list_models(family) == paddle_impl.list_models(family) == zoo.names(family)


@pytest.mark.parametrize("name", zoo.names())
def test_builder_signature_and_docstring(name):
    for reg in (t_reg._REGISTRY, p_reg._REGISTRY):
        fn = reg._builders[name]
        params = inspect.signature(fn).parameters
        for arg in ("num_classes", "in_channels", "dims"):
            assert arg in params, f"{reg.package}.{name} lacks {arg}"
            assert params[arg].kind is inspect.Parameter.KEYWORD_ONLY, f"{reg.package}.{name}: {arg} not keyword-only"
        assert params["dims"].default == 2
        assert fn.__doc__ and len(fn.__doc__.strip()) > 20, f"{reg.package}.{name} needs a docstring"


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_entry_is_consistent(name):
    info = zoo.get(name)
    assert info.family in zoo.FAMILIES
    assert info.min_size <= info.check_size(1) and info.min_size <= info.check_size(2)
    assert info.source


def test_unknown_name_suggests():
    with pytest.raises(KeyError, match="lenet5"):
        torch_impl.build("lenet6")
    with pytest.raises(KeyError, match="lenet5"):
        paddle_impl.build("lenet6")


def test_wrong_dims_is_rejected():
    with pytest.raises(ValueError, match="dims must be 1"):
        torch_impl.build("lenet5", dims=3)
    with pytest.raises(ValueError, match="dims must be 1"):
        paddle_impl.build("lenet5", dims=3)
