"""parity/hints.py and parity/bnstats.py: each known pattern gives its PORTING.md rule, and
bn_stats names the first differing BatchNorm layer with the kind of difference."""
import numpy as np
import paddle
import pytest
import torch

from parity import weights as W
from parity.compare import compare_modules
from parity.hints import RULES, hints
from parity.judge import Check
from parity.locate import find_divergence

PORTING = open(__file__.rsplit("/tests/", 1)[0] + "/PORTING.md").read()


def _pair(torch_layers, paddle_layers):
    paddle.set_default_dtype("float64")
    try:
        p = paddle.nn.Sequential(*paddle_layers())
    finally:
        paddle.set_default_dtype("float32")
    t = torch.nn.Sequential(*torch_layers()).double()
    W.load_paddle(p, W.key_map(t, p).to_paddle(t))
    t.eval()
    p.eval()
    return t, p


def _hints_for(t, p, shape):
    x = np.random.RandomState(0).standard_normal(shape)
    detail, found = find_divergence(t, p, x, "float64", 1e-10)
    assert found is not None, detail
    return hints(Check("eval_forward", False, detail=detail), found, "float64", t, p)


def test_every_rule_is_in_porting_md():
    for rule, test in RULES.values():
        assert f"`{test}`" in PORTING, test


def test_ceil_mode():
    t, p = _pair(lambda: [torch.nn.Conv2d(2, 2, 1), torch.nn.MaxPool2d(3, 2, ceil_mode=True)],
                 lambda: [paddle.nn.Conv2D(2, 2, 1), paddle.nn.MaxPool2D(3, 2, ceil_mode=False)])
    lines = _hints_for(t, p, (1, 2, 8, 8))
    assert len(lines) == 1 and "ceil_mode" in lines[0] and "test_ceil_mode_last_window_in_padding" in lines[0]


def test_average_pool_off_at_the_borders():
    t, p = _pair(lambda: [torch.nn.Conv2d(2, 2, 1), torch.nn.AvgPool2d(3, 1, 1)],
                 lambda: [paddle.nn.Conv2D(2, 2, 1), paddle.nn.AvgPool2D(3, 1, 1)])
    lines = _hints_for(t, p, (1, 2, 6, 6))
    assert len(lines) == 1 and "exclusive=False" in lines[0]


def test_linear_layout():
    t, p = _pair(lambda: [torch.nn.Linear(5, 5)], lambda: [paddle.nn.Linear(5, 5)])
    p[0].weight.set_value(t[0].weight.detach().numpy())  # loaded without the transpose
    lines = _hints_for(t, p, (3, 5))
    assert len(lines) == 1 and "[out, in]" in lines[0]


def test_hardsigmoid_slope():
    t, p = _pair(lambda: [torch.nn.Conv2d(2, 2, 1), torch.nn.Hardsigmoid()],
                 lambda: [paddle.nn.Conv2D(2, 2, 1), paddle.nn.Hardsigmoid()])
    lines = _hints_for(t, p, (1, 2, 6, 6))
    assert len(lines) == 1 and "0.1666667" in lines[0]


def test_dropout_downscale_in_infer():
    t, p = _pair(lambda: [torch.nn.Linear(4, 6), torch.nn.Dropout(0.3)],
                 lambda: [paddle.nn.Linear(4, 6), paddle.nn.Dropout(0.3, mode="downscale_in_infer")])
    lines = _hints_for(t, p, (3, 4))
    assert len(lines) == 1 and "downscale_in_infer" in lines[0]


def test_no_hint_where_no_pattern_fits():
    t, p = _pair(lambda: [torch.nn.Conv2d(2, 2, 1), torch.nn.Tanh()],
                 lambda: [paddle.nn.Conv2D(2, 2, 1), paddle.nn.Sigmoid()])
    assert _hints_for(t, p, (1, 2, 6, 6)) == []


class TorchBN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.bn2 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        x = self.bn2(torch.relu(self.bn1(self.conv(x))))
        return self.fc(x.mean((2, 3)))


class PaddleBN(paddle.nn.Layer):
    def __init__(self, momentum=0.9):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3)
        self.bn1 = paddle.nn.BatchNorm2D(4, momentum=momentum)  # paddle's own: the biased running variance
        self.bn2 = paddle.nn.BatchNorm2D(4, momentum=momentum)
        self.fc = paddle.nn.Linear(4, 3)

    def forward(self, x):
        x = self.bn2(paddle.nn.functional.relu(self.bn1(self.conv(x))))
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("momentum, kind, rule", [(0.9, "running_var off by n/(n-1) with n=50", "biased one"),
                                                   (0.1, "momentum 0.9 where torch uses 0.1", "pass 1 - m")])
def test_bn_stats_names_the_first_layer_and_the_kind(momentum, kind, rule):
    report = compare_modules(TorchBN(), PaddleBN(momentum), input_shape=(2, 3, 7, 7), steps=0)
    check = report.check("bn_stats")
    assert not check.passed
    assert check.detail.startswith("first differing BN layer (forward order): bn1 "), check.detail
    assert kind in check.detail and rule in check.detail and "PORTING.md" in check.detail, check.detail
