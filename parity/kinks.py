"""Activation kinks: a failed gradient check judged again with torch given paddle's side of
every ReLU/ReLU6 kink that an activation within rounding of it fell on differently, and of
every max-pool window whose two largest values rounding put in the other order."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import paddle
import torch

from parity import weights as W
from parity.judge import TOLERANCES, Check, judge
from parity.modes import grad_pairs, tensors, torch_loss



# ReLU-type layers and the inputs at which their derivative jumps.
_TORCH_KINKED = {torch.nn.ReLU: (0.0,), torch.nn.ReLU6: (0.0, 6.0)}
_PADDLE_KINKED = {paddle.nn.ReLU: (0.0,), paddle.nn.ReLU6: (0.0, 6.0)}


# Max pools: their derivative jumps where a window's two largest values are equal, so
# rounding can send a window's gradient to a different element in each framework.
_TORCH_MAX_POOL = (torch.nn.MaxPool1d, torch.nn.MaxPool2d)
_PADDLE_MAX_POOL = (paddle.nn.MaxPool1D, paddle.nn.MaxPool2D)


def _kinks(m: Any, table: dict[type, tuple[float, ...]]) -> tuple[float, ...] | None:
    return table.get(type(m))


def _paddle_argmax(m: paddle.nn.Layer, x: paddle.Tensor) -> np.ndarray:
    """The element each window of paddle max pool ``m`` picks on ``x``: its index into the
    flattened spatial positions of ``x``, as torch's ``return_indices`` numbers them."""
    if isinstance(m, paddle.nn.MaxPool2D):
        _, mask = paddle.nn.functional.max_pool2d(x, m.ksize, m.stride, m.padding, ceil_mode=m.ceil_mode,
                                                  return_mask=True, data_format=m.data_format)
    else:
        _, mask = paddle.nn.functional.max_pool1d(x, m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode,
                                                  return_mask=True)
    return mask.numpy().copy()


def _torch_argmax(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The same for torch max pool ``m``."""
    pool = torch.nn.functional.max_pool2d if isinstance(m, torch.nn.MaxPool2d) else torch.nn.functional.max_pool1d
    _, idx = pool(x, m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode, return_indices=True)
    return idx


def _paddle_kink_outputs(paddle_module: paddle.nn.Layer, x: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Train-mode outputs of every ReLU/ReLU6 layer of ``paddle_module`` on ``x``, and the
    element each window of every max pool picks (see _paddle_argmax), by layer name in call
    order (a layer called twice gives two arrays)."""
    out: dict[str, list[np.ndarray]] = {}
    handles = []
    for name, m in paddle_module.named_sublayers():
        if _kinks(m, _PADDLE_KINKED) is not None:
            handles.append(m.register_forward_post_hook(
                lambda _m, _i, o, _n=name: out.setdefault(_n, []).append(o.numpy().copy())))
        elif isinstance(m, _PADDLE_MAX_POOL):
            handles.append(m.register_forward_post_hook(
                lambda _m, i, _o, _n=name: out.setdefault(_n, []).append(_paddle_argmax(_m, i[0]))))
    try:
        with paddle.no_grad():
            paddle_module(paddle.to_tensor(x))
    finally:
        for h in handles:
            h.remove()
    return out


def rejudge_with_aligned_kinks(torch_module, paddle_module, kmap, x, labels, proj, dtype, grad_checks,
                                paddle_input_grad) -> list[Check]:
    """Failed gradient checks judged again with torch's ReLU/ReLU6 layers told which side
    of the kink paddle's rounding put each activation on, wherever the two disagree and the
    activation lies within the eval_forward tolerance of the kink; and likewise torch's max
    pools told which element paddle picked in each window whose two largest values lie
    within that tolerance of each other.

    In float32 the forward error of a deep net on a small batch reaches ~1e-4 of an
    activation's scale, so now and then one activation sits closer to a ReLU's kink than
    that: one framework zeroes its gradient and the other passes it on, and the gradients
    of everything before it move by percents. Both are right to the rounding; this shows it
    by giving torch paddle's side at exactly those elements and comparing again at the
    fixed tolerances. A max pool's pick is a kink of the same kind: GoogLeNet's 4e branch-4
    pool picked different elements of a window whose top two were 3e-6 apart, and the 4a-4d
    gradients moved by 2% (2D, float32, batch 2). Only modules (nn.ReLU, nn.ReLU6,
    nn.MaxPool1d/2d) can be seen; the check's detail states every element moved.
    """
    window = TOLERANCES[dtype]["eval_forward"]
    # The extra train-mode passes below move BatchNorm statistics; the checks and the
    # rejudge after this one need them as the train check left them.
    t_stats = {n: b.detach().clone() for n, b in torch_module.named_buffers()}
    trainable = {n for n, q in paddle_module.named_parameters() if not q.stop_gradient}
    p_stats = {k: W.to_numpy(v) for k, v in paddle_module.state_dict().items() if k not in trainable}
    try:
        return _aligned_kinks(torch_module, paddle_module, kmap, x, labels, proj, dtype, grad_checks,
                              paddle_input_grad, window)
    finally:
        with torch.no_grad():
            for n, b in torch_module.named_buffers():
                b.copy_(t_stats[n])
        target = paddle_module.state_dict()
        for k, arr in p_stats.items():
            target[k].set_value(arr)


def _aligned_kinks(torch_module, paddle_module, kmap, x, labels, proj, dtype, grad_checks, paddle_input_grad,
                   window: float) -> list[Check]:
    p_outs = _paddle_kink_outputs(paddle_module, x)
    t_names = [n for n, m in torch_module.named_modules()
               if _kinks(m, _TORCH_KINKED) is not None or isinstance(m, _TORCH_MAX_POOL)]
    if not t_names or not p_outs:
        return grad_checks
    by_name = set(t_names) <= set(p_outs)
    if not by_name and len(t_names) != len(p_outs):
        return grad_checks
    rename = dict(zip(t_names, t_names if by_name else list(p_outs)))
    calls: dict[str, int] = {}
    moved: dict[str, int] = {}
    unexplained: list[str] = []

    def hook(m, inputs, output, _name):
        k = calls.get(_name, 0)
        calls[_name] = k + 1
        seen = p_outs.get(rename[_name], [])
        if k >= len(seen) or tuple(seen[k].shape) != tuple(output.shape):
            unexplained.append(f"{_name} (call {k + 1} not matched)")
            return output
        x_in = inputs[0]
        if isinstance(m, _TORCH_MAX_POOL):
            return pool_hook(m, x_in, output, _name, torch.from_numpy(seen[k]).long())
        p = torch.from_numpy(seen[k]).to(output.dtype)
        kinks = _kinks(m, _TORCH_KINKED)
        lo, hi = kinks[0], kinks[-1] if len(kinks) > 1 else math.inf
        t_lin = (x_in > lo) & (x_in < hi)
        p_lin = (p > lo) & (p < hi)
        flip = t_lin != p_lin
        if not bool(flip.any()):
            return output
        scale = float(x_in.detach().abs().max())
        dist = torch.stack([(x_in.detach() - c).abs() for c in kinks]).amin(0)
        if bool((dist[flip] > window * scale).any()):
            unexplained.append(f"{_name} ({int((dist[flip] > window * scale).sum())} activations far from a kink)")
            return output
        moved[_name] = moved.get(_name, 0) + int(flip.sum())
        # Paddle's side: the identity where paddle's output is linear, paddle's clamped constant elsewhere.
        return torch.where(flip, torch.where(p_lin, x_in, p), output)

    def pool_hook(m, x_in, output, _name, p_idx):
        t_idx = _torch_argmax(m, x_in)
        flip = t_idx != p_idx
        if not bool(flip.any()):
            return output
        flat = x_in.flatten(2)
        picked = flat.gather(2, p_idx.flatten(2)).view_as(output)
        scale = float(x_in.detach().abs().max())
        gap = (output.detach() - picked.detach()).abs()
        if bool((gap[flip] > window * scale).any()):
            unexplained.append(f"{_name} ({int((gap[flip] > window * scale).sum())} windows whose two picks differ "
                               f"by more than rounding)")
            return output
        moved[_name] = moved.get(_name, 0) + int(flip.sum())
        # Paddle's pick: the same value to the rounding, and the window's gradient goes where paddle's goes.
        return torch.where(flip, picked, output)

    # The aligned pass overwrites torch's gradients; they are put back unless it explains the failure.
    saved = {n: None if q.grad is None else q.grad.clone() for n, q in torch_module.named_parameters()}
    handles, inplace = [], []
    for name, m in torch_module.named_modules():
        if name in rename:
            if hasattr(m, "inplace"):
                inplace.append((m, m.inplace))
                m.inplace = False  # the hook needs the activation's input intact
            handles.append(m.register_forward_hook(lambda _m, i, o, _n=name: hook(_m, i, o, _n)))
    try:
        torch_module.zero_grad(set_to_none=True)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        torch_loss(tensors(torch_module(xt)), labels, proj).backward()
    finally:
        for h in handles:
            h.remove()
        for m, flag in inplace:
            m.inplace = flag

    def restore() -> None:
        for n, q in torch_module.named_parameters():
            q.grad = saved[n]

    if not moved or unexplained:
        restore()
        why = (f"activations disagree beyond rounding: {', '.join(unexplained)}" if unexplained
               else "no ReLU/ReLU6 activation or max-pool pick falls on opposite sides of a kink")
        return [c if c.passed else replace(c, detail=f"{c.detail}; {why}") for c in grad_checks]
    aligned = [
        judge("train_input_grad", dtype, [("input", xt.grad.numpy(), paddle_input_grad if paddle_input_grad is not None
                                            else np.full(x.shape, np.nan))]),
        judge("train_param_grads", dtype, grad_pairs(torch_module, paddle_module, kmap)),
    ]
    where = ", ".join(f"{n}: {k}" for n, k in moved.items())
    out = []
    for before, after in zip(grad_checks, aligned):
        value = getattr(before, before.metric)
        note = (f"{sum(moved.values())} activations lie within {window:.0e} of their tensor's scale from a kink "
                f"(a ReLU's, or a max-pool window's runner-up) and fall on opposite sides in the two frameworks "
                f"({where}); with torch given paddle's side "
                f"there, {after.metric} {getattr(after, after.metric):.2e} (without: {value:.2e})")
        if after.passed:
            out.append(replace(after, detail=note))
        else:
            out.append(replace(before, detail=f"{before.detail}; {note}") if not before.passed else before)
    if not all(c.passed for c in out):
        restore()
    return out

