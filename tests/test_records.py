"""parity/records.py: layer and op records, copies that inplace ops cannot change, namespaces
restored, and the locator naming a planted functional mistake with its file and line."""
import inspect

import numpy as np
import paddle
import paddle.nn.functional as PF
import pytest
import torch
import torch.nn.functional as TF

from parity import records
from parity.locate import locate_divergence, locate_grad_divergence
from parity.modes import Projections
from parity.records import record_paddle, record_torch


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        y = self.conv(x)
        y = TF.relu(y) + y  # torch-op
        return self.fc(torch.flatten(TF.adaptive_avg_pool2d(y, 1), 1))


class PaddleBlock(paddle.nn.Layer):
    def __init__(self, planted: bool):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
        self.fc = paddle.nn.Linear(4, 3)
        self.planted = planted

    def forward(self, x):
        y = self.conv(x)
        if self.planted:
            y = PF.leaky_relu(y, 0.01) + y  # planted-op
        else:
            y = PF.relu(y) + y
        return self.fc(paddle.flatten(PF.adaptive_avg_pool2d(y, 1), 1))


def _line(cls, marker: str) -> str:
    lines, start = inspect.getsourcelines(cls.forward)
    offset = next(i for i, text in enumerate(lines) if marker in text)
    return f"{inspect.getsourcefile(cls).rsplit('/', 1)[-1]}:{start + offset}"


def _pair(planted: bool):
    paddle.set_default_dtype("float64")
    try:
        t, p = TorchBlock().double().eval(), PaddleBlock(planted)
    finally:
        paddle.set_default_dtype("float32")
    p.eval()
    p.conv.weight.set_value(t.conv.weight.detach().numpy())
    p.conv.bias.set_value(t.conv.bias.detach().numpy())
    p.fc.weight.set_value(t.fc.weight.detach().numpy().T.copy())
    p.fc.bias.set_value(t.fc.bias.detach().numpy())
    return t, p


def test_records_layers_and_ops_with_sources():
    t, _ = _pair(False)
    recs = record_torch(t, np.random.RandomState(0).standard_normal((2, 3, 5, 5)))
    names = [r.name for r in recs]
    assert names == ["conv", "<model>/relu#0", "<model>/add#0", "<model>/adaptive_avg_pool2d#0",
                     "<model>/flatten#0", "fc", "<model>"]
    op = recs[1]
    assert op.kind == "op" and op.type == "relu" and op.source.endswith(_line(TorchBlock, "# torch-op"))
    assert recs[0].params == ((4, 3, 3, 3), (4,)) and recs[5].params == ((3, 4), (3,))


def test_paddle_linear_params_in_torch_layout_and_grads():
    _, p = _pair(False)
    recs = record_paddle(p, np.random.RandomState(0).standard_normal((2, 3, 5, 5)), loss=lambda outs: outs[0].sum())
    fc = next(r for r in recs if r.name == "fc")
    assert fc.params == ((3, 4), (3,))
    assert fc.grad is not None and np.allclose(fc.grad, 1.0)


def _namespaces():
    spaces = [TF, torch, torch.Tensor, PF, paddle, paddle.Tensor]
    return [dict(vars(s)) for s in spaces]


def test_namespaces_restored_even_when_the_forward_raises():
    before = _namespaces()

    class Broken(torch.nn.Module):
        def forward(self, x):
            TF.relu(x)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        record_torch(Broken(), np.zeros((1, 2)))
    t, p = _pair(False)
    record_torch(t, np.zeros((1, 3, 4, 4)))
    record_paddle(p, np.zeros((1, 3, 4, 4)))
    after = _namespaces()
    for b, a in zip(before, after):
        assert b.keys() == a.keys()
        assert all(b[k] is a[k] for k in b)


def test_inplace_relu_does_not_change_the_recorded_conv_output():
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(inplace=True)).double()
    recs = record_torch(m, np.random.RandomState(1).standard_normal((2, 2, 6, 6)))
    conv = next(r for r in recs if r.name == "0")
    assert conv.output.min() < 0  # a view would have been clipped at 0 by the inplace ReLU


def test_framework_internal_calls_are_not_ops():
    m = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Hardsigmoid()).double()
    recs = record_torch(m, np.zeros((1, 2)))
    assert [r.kind for r in recs] == ["layer"] * 3


def test_locator_names_the_planted_functional_call_and_its_line():
    t, p = _pair(True)
    x = np.random.RandomState(0).standard_normal((2, 3, 5, 5))
    msg = locate_divergence(t, p, x, "float64", 1e-10)
    assert msg.startswith("first divergent op: <model>/relu#0 (torch) / <model>/leaky_relu#0 (paddle)"), msg
    assert _line(TorchBlock, "# torch-op") in msg and _line(PaddleBlock, "# planted-op") in msg, msg


def test_locator_names_nothing_on_an_agreeing_pair():
    t, p = _pair(False)
    x = np.random.RandomState(0).standard_normal((2, 3, 5, 5))
    assert "first divergent" not in locate_divergence(t, p, x, "float64", 1e-10)
    t.train()
    p.train()
    msg = locate_grad_divergence(t, p, x, np.array([0, 2]), Projections(0), "float64", 1e-6)  # paddle pools: ~1e-8
    assert "first divergent" not in msg, msg


def test_op_table_names_exist():
    for table in (records.TORCH_OPS, records.PADDLE_OPS):
        for path, names in table.items():
            missing = [n for n in names if not hasattr(records.op_owner(path), n)]
            assert not missing or set(missing) <= {"concat"}, missing
