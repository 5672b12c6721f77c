"""``--sync-bn``: BatchNorm whose batch statistics are those of the global batch of every process.

Mirrors paddle_impl/sync_bn.py. torch's own ``nn.SyncBatchNorm`` refuses CPU tensors ("expected
input tensor to be on GPU"), so this one all-reduces the per-channel sums through an autograd
function whose backward all-reduces the gradients, which works on every backend (gloo on the
CPU, nccl on GPUs). So each process's input gradient is that of the global batch. Outside a
multi-process training step it is the plain BatchNorm it replaced; the state-dict keys do not
change.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as torch_dist
from torch import nn


def _distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized() and torch_dist.get_world_size() > 1


class _AllReduce(torch.autograd.Function):
    """Sum over processes; the gradient is summed over processes too."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        torch_dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        torch_dist.all_reduce(out)
        return out


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    return _AllReduce.apply(x)


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch: two all-reduces a step (sums, then centred squares, as
    a two-pass variance is exact where E[x^2] - E[x]^2 cancels); running statistics as torch's."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"SyncBatchNorm expects [N, C, ...] input, got shape {list(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _distributed()):
            return super().forward(x)
        self._check_input_dim(x)
        axes = [0, *range(2, x.dim())]
        view = [1, -1] + [1] * (x.dim() - 2)
        count = x.new_full((1,), x.numel() // x.shape[1])
        totals = all_reduce(torch.cat([x.sum(axes), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        centred = x - mean.reshape(view)
        var = all_reduce(centred.square().sum(axes)) / n
        out = centred * torch.rsqrt(var + self.eps).reshape(view)
        if self.affine:
            out = out * self.weight.reshape(view) + self.bias.reshape(view)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1).clamp(min=1)) * m)
        return out


def convert(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm in ``model`` (in place) by a SyncBatchNorm holding the same
    parameters and statistics; returns ``model``."""
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, SyncBatchNorm):
            sync = SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                 child.track_running_stats)
            if child.affine:
                sync.weight, sync.bias = child.weight, child.bias
            if child.track_running_stats:
                sync.running_mean, sync.running_var = child.running_mean, child.running_var
                sync.num_batches_tracked = child.num_batches_tracked
            sync.train(child.training)
            setattr(model, name, sync)
        else:
            convert(child)
    return model
