"""``torch.jit.script`` on every registered torch model: the scripted model gives the eager
model's eval output bit for bit on one small input, and saves and loads.

Scripting compiles every submodule, which takes from seconds to tens of seconds a model
(EfficientNet-B0: 26 s on the shared 2-core machine), so the default run scripts only the
models CHEAP lists (LeNet's connection-table conv, the BN LeNet, SqueezeNet's Fire
modules) and a features_only LeNet; ``python -m pytest -m heavy tests/test_torchscript.py``
scripts every registered model.
"""
from __future__ import annotations

import pytest
import torch

import torch_impl
import zoo

CHEAP = {"lenet5_original_sparse", "lenet_bn", "squeezenet1_1"}


# The CI budget (20 minutes on 2 cores): scripts models; run with -m heavy.
pytestmark = pytest.mark.heavy


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in CHEAP else [pytest.mark.heavy])
                                  for n in zoo.names()])
def test_script_matches_eager(name, tmp_path):
    info = zoo.get(name)
    size = info.check_size(2)
    model = torch_impl.build(name, **info.build_kwargs(2, size)).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(info.input_shape(2, batch=2, size=size))
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(scripted(x), expected)
        torch.jit.save(scripted, tmp_path / "model.pt")
        assert torch.equal(torch.jit.load(tmp_path / "model.pt")(x), expected)


def test_script_features_only():
    model = torch_impl.build("lenet5", features_only=True, out_indices=(0, 2)).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        for a, b in zip(scripted(x), model(x), strict=True):
            assert torch.equal(a, b)


def test_cheap_list_is_registered():
    assert CHEAP <= set(zoo.names())
