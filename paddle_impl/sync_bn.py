"""``--sync-bn``: BatchNorm whose batch statistics are those of the global batch of every process.

Mirrors torch_impl/sync_bn.py. paddle's own ``nn.SyncBatchNorm`` would update the running
variance with the biased batch variance (PITFALLS.md), unlike the torch-semantics BatchNorm
of ``layers.py`` it replaces, so this one subclasses that BatchNorm and all-reduces the
per-channel sums through a PyLayer whose backward all-reduces the gradients, which works on
every backend paddle's data parallelism runs on. So each process's input gradient is that of
the global batch. Outside a multi-process training step it is the plain BatchNorm it replaced;
the state-dict keys do not change.
"""
from __future__ import annotations

import math

import paddle
import paddle.distributed as paddle_dist
from paddle import nn
from paddle.autograd import PyLayer

from paddle_impl.layers import BatchNorm1D, BatchNorm2D


def _distributed() -> bool:
    return paddle_dist.is_available() and paddle_dist.is_initialized() and paddle_dist.get_world_size() > 1


class _AllReduce(PyLayer):
    """Sum over processes; the gradient is summed over processes too."""

    @staticmethod
    def forward(ctx, x: paddle.Tensor) -> paddle.Tensor:
        out = x.clone()
        paddle_dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: paddle.Tensor) -> paddle.Tensor:
        out = grad.clone()
        paddle_dist.all_reduce(out)
        return out


def all_reduce(x: paddle.Tensor) -> paddle.Tensor:
    return _AllReduce.apply(x)


class _SyncBatchNorm:
    """Mixin: BatchNorm over the global batch, two all-reduces a step (sums, then centred
    squares, as a two-pass variance is exact where E[x^2] - E[x]^2 cancels); running
    statistics as torch's."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not (self.training and _distributed()):
            return super().forward(x)
        axes = [0, *range(2, x.ndim)]
        view = [1, -1] + [1] * (x.ndim - 2)
        count = paddle.full([1], math.prod(x.shape) // x.shape[1], dtype=x.dtype)
        totals = all_reduce(paddle.concat([x.sum(axes), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        centred = x - mean.reshape(view)
        var = all_reduce(centred.square().sum(axes)) / n
        out = centred * paddle.rsqrt(var + self._epsilon).reshape(view)
        out = out * self.weight.reshape(view) + self.bias.reshape(view)
        with paddle.no_grad():
            m = self.torch_momentum
            self._mean.set_value(self._mean * (1.0 - m) + mean.detach() * m)
            self._variance.set_value(self._variance * (1.0 - m) + var.detach() * (n / (n - 1).clip(min=1)) * m)
        return out


class SyncBatchNorm1D(_SyncBatchNorm, BatchNorm1D):
    """BatchNorm1D over the global batch of every process."""


class SyncBatchNorm2D(_SyncBatchNorm, BatchNorm2D):
    """BatchNorm2D over the global batch of every process."""


SYNC = {BatchNorm1D: SyncBatchNorm1D, BatchNorm2D: SyncBatchNorm2D}


def convert(model: nn.Layer) -> nn.Layer:
    """Replace every BatchNorm in ``model`` (in place) by a SyncBatchNorm holding the same
    parameters and statistics; returns ``model``."""
    for name, child in model.named_children():
        if type(child) in SYNC:
            sync = SYNC[type(child)](child._num_features, eps=child._epsilon, momentum=child.torch_momentum)
            sync.weight, sync.bias = child.weight, child.bias
            sync._mean, sync._variance = child._mean, child._variance
            sync.train() if child.training else sync.eval()
            setattr(model, name, sync)
        else:
            convert(child)
    return model
