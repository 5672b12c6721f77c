"""A small torch/paddle pair written tutorial-style, with switches that break the paddle side.

Each break is a mistake a port can make: forgetting to transpose a Linear weight,
passing torch's BatchNorm momentum to paddle unconverted, keeping paddle's native
(biased) running-variance update, leaving paddle's AvgPool ``exclusive=True`` default,
or using the wrong activation in one layer.
"""
import paddle
import paddle.nn.functional as PF
import torch

import paddle_impl.layers as PL

BREAKS = ("linear_untransposed", "bn_momentum", "bn_biased_variance", "avgpool_exclusive", "sigmoid", "bad_backward")
INPUT_SHAPE = (8, 1, 8, 8)


class TorchTwin(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.act = torch.nn.Tanh()
        self.pool = torch.nn.AvgPool2d(3, stride=1, padding=1)
        self.down = torch.nn.MaxPool2d(2)
        self.flatten = torch.nn.Flatten()
        self.fc1 = torch.nn.Linear(64, 64)
        self.fc1_act = torch.nn.Tanh()
        self.fc2 = torch.nn.Linear(64, 5)

    def forward(self, x):
        x = self.flatten(self.down(self.pool(self.act(self.bn(self.conv(x))))))
        return self.fc2(self.fc1_act(self.fc1(x)))


class _UntransposedLinear(paddle.nn.Linear):
    """Computes with the weight as if torch's [out, in] array had been loaded as is."""

    def forward(self, x):
        return PF.linear(x, self.weight.T, self.bias)


class _TanhWrongGradient(paddle.nn.Layer):
    """tanh forward, but a backward pass scaled by 1.5: what a hand-written backward can get wrong."""

    def forward(self, x):
        y = paddle.tanh(x)
        return y * 1.5 - (y * 0.5).detach()


class PaddleTwin(paddle.nn.Layer):
    def __init__(self, broken: str | None = None) -> None:
        super().__init__()
        assert broken in BREAKS + (None,)
        self.conv = paddle.nn.Conv2D(1, 4, 3, padding=1)
        if broken == "bn_momentum":
            self.bn = paddle.nn.BatchNorm2D(4, momentum=0.1)  # torch's number, paddle's meaning
        elif broken == "bn_biased_variance":
            self.bn = paddle.nn.BatchNorm2D(4, momentum=0.9)  # converted, but paddle's own variance update
        else:
            self.bn = PL.BatchNorm2D(4, momentum=0.1)
        self.act = paddle.nn.Sigmoid() if broken == "sigmoid" else paddle.nn.Tanh()
        exclusive = broken == "avgpool_exclusive"
        self.pool = paddle.nn.AvgPool2D(3, stride=1, padding=1, exclusive=exclusive)
        self.down = paddle.nn.MaxPool2D(2)
        self.flatten = paddle.nn.Flatten()
        self.fc1 = _UntransposedLinear(64, 64) if broken == "linear_untransposed" else paddle.nn.Linear(64, 64)
        self.fc1_act = _TanhWrongGradient() if broken == "bad_backward" else paddle.nn.Tanh()
        self.fc2 = paddle.nn.Linear(64, 5)

    def forward(self, x):
        x = self.flatten(self.down(self.pool(self.act(self.bn(self.conv(x))))))
        return self.fc2(self.fc1_act(self.fc1(x)))


class PaddleTwinBiasLr(PaddleTwin):
    """The twin with its first Linear's bias at Caffe's lr_mult 2: the same forward and
    gradients, a different update, which only the step checks can see."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = paddle.nn.Linear(64, 64, bias_attr=paddle.ParamAttr(learning_rate=2.0))


def paddle_twin_renamed() -> paddle.nn.Sequential:
    """The same network as PaddleTwin, written as a Sequential: every key has another name."""
    return paddle.nn.Sequential(
        paddle.nn.Conv2D(1, 4, 3, padding=1), PL.BatchNorm2D(4, momentum=0.1), paddle.nn.Tanh(),
        paddle.nn.AvgPool2D(3, stride=1, padding=1, exclusive=False), paddle.nn.MaxPool2D(2), paddle.nn.Flatten(),
        paddle.nn.Linear(64, 64), paddle.nn.Tanh(), paddle.nn.Linear(64, 5))
