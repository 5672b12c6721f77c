"""Porting a tutorial-style torch network to paddle, and letting compare_modules find the mistakes.

Run from the repository root: python -m examples.porting_walkthrough

The first port makes two classic mistakes: it copies a Linear weight without
transposing it (paddle stores [in, out]; the layer is square, so nothing complains)
and keeps paddle's AvgPool default ``exclusive=True`` (torch counts the padding).
Each run of compare_modules names the first layer whose output differs; fixing that
layer and running again leads to the next, until the report passes.
"""
from __future__ import annotations

import numpy as np

import parity  # before paddle: parity silences paddle's import-time messages (parity/quiet.py)
import paddle
import torch


class TorchNet(torch.nn.Module):
    """The reference, as a tutorial would write it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.pool = torch.nn.AvgPool2d(3, stride=2, padding=1)
        self.flatten = torch.nn.Flatten()
        self.fc1 = torch.nn.Linear(8 * 7 * 7, 8 * 7 * 7)
        self.fc2 = torch.nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(self.flatten(self.pool(self.relu(self.conv(x)))))))


class PaddleNet(paddle.nn.Layer):
    """The port; ``exclusive`` is paddle's AvgPool default unless the fix is applied."""

    def __init__(self, exclusive: bool = True) -> None:
        super().__init__()
        self.conv = paddle.nn.Conv2D(1, 8, 3, padding=1)
        self.relu = paddle.nn.ReLU()
        self.pool = paddle.nn.AvgPool2D(3, stride=2, padding=1, exclusive=exclusive)
        self.flatten = paddle.nn.Flatten()
        self.fc1 = paddle.nn.Linear(8 * 7 * 7, 8 * 7 * 7)
        self.fc2 = paddle.nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(self.flatten(self.pool(self.relu(self.conv(x)))))))


def naive_copy(torch_net: torch.nn.Module, paddle_net: paddle.nn.Layer, transpose_linear: bool) -> None:
    """The user's own weight copy: key by key, transposing Linear weights only if told to."""
    params = dict(paddle_net.named_parameters())
    for name, value in torch_net.state_dict().items():
        arr = value.numpy()
        # fc2 is not square, so even the naive port had to transpose it to load it at all;
        # fc1 is square and loads either way.
        if name == "fc2.weight" or (transpose_linear and name == "fc1.weight"):
            arr = arr.T
        params[name].set_value(arr)


def attempt(exclusive: bool, transpose_linear: bool) -> parity.Report:
    torch.manual_seed(0)
    t_net, p_net = TorchNet(), PaddleNet(exclusive=exclusive)
    naive_copy(t_net, p_net, transpose_linear)
    return parity.compare_modules(t_net, p_net, input_shape=(4, 1, 14, 14), dtype="float64", copy_weights=False)


def main() -> None:
    for label, exclusive, transpose in (("first port", True, False), ("pool fixed", False, False),
                                        ("both fixed", False, True)):
        report = attempt(exclusive, transpose)
        forward = report.check("eval_forward")
        print(f"{label}: {'PASS' if report.ok else 'FAIL'}")
        if not forward.passed:
            print(f"  eval_forward: {forward.detail}")
        if not report.check("copy").passed:
            print(f"  copy: {report.check('copy').detail}")


if __name__ == "__main__":
    main()
