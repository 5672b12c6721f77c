"""The divergence locator: the first layer or functional op, in execution order, whose output
(or output gradient) differs between the two frameworks."""
from __future__ import annotations

from typing import Any

import numpy as np
import paddle
import torch

from parity import epsilon
from parity.modes import Projections, paddle_loss, torch_loss
from parity.pairing import Divergence, first_divergence, first_grad_divergence, pair_records
from parity.records import run_recorded


def _records(torch_module: Any, paddle_module: Any, x: np.ndarray, dtype: str, tol: float, grad: bool,
             loss_t=None, loss_p=None) -> tuple[Divergence | None, list, int]:
    """The first divergence of one run on ``x`` (modes untouched; in backward order with
    ``grad``), what each forward raised, and how many torch BatchNorms were rerun with
    paddle's float32-rounded epsilon.

    In float64, where the records differ, the torch side runs again with the epsilon of every
    BatchNorm whose paddle twin rounds it (parity/epsilon.py), from the same BatchNorm
    statistics, so that the first divergence is the port's and not that rounding's."""
    buffers = {k: v.detach().clone() for k, v in torch_module.named_buffers()} if dtype == "float64" else {}
    t_rec, t_exc = run_recorded(torch_module, x, True, loss_t)
    p_rec, p_exc = run_recorded(paddle_module, x, False, loss_p)
    first = first_grad_divergence if grad else first_divergence
    pairs = pair_records(t_rec, p_rec)
    found = first(pairs, dtype, tol)
    aligned: list = []
    if dtype == "float64" and t_exc is None and found is not None:
        aligned = epsilon.rounding_batchnorms(pairs, torch_module, paddle_module)
    if aligned:
        with torch.no_grad():  # a train-mode run moved the statistics: start again from where it started
            for k, v in torch_module.named_buffers():
                v.copy_(buffers[k])
        with epsilon.rounded_epsilon(aligned):
            t_rec, t_exc = run_recorded(torch_module, x, True, loss_t)
        found = first(pair_records(t_rec, p_rec), dtype, tol)
    raised = [(side, exc) for side, exc in (("torch", t_exc), ("paddle", p_exc)) if exc is not None]
    return found, raised, len(aligned)


def find_divergence(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, x: np.ndarray, dtype: str,
                    tol: float) -> tuple[str, Divergence | None]:
    """locate_divergence's message, and the Divergence it names (None where it names none
    or only the layer a forward raised in)."""
    found, raised, aligned = _records(torch_module, paddle_module, x, dtype, tol, False)
    if found is not None:
        found.epsilon_aligned = aligned
        return found.message() + epsilon.note(aligned), found
    if raised:
        side, exc = raised[0]
        layer = raising_layer(torch_module if side == "torch" else paddle_module, x, side == "torch")
        return f"first divergent layer: {layer} (the {side} forward raises there: {type(exc).__name__}: {exc})", None
    return ("no single layer's output exceeds the tolerance (the difference builds up across layers)"
            + epsilon.note(aligned)), None


def locate_divergence(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, x: np.ndarray, dtype: str,
                      tol: float) -> str:
    """Name the first layer or op (in execution order) whose output differs beyond ``tol``.

    Layers and the functional ops called in ``forward`` (parity/records.py) are paired by
    name, or by structural signature where the two sides name them differently
    (parity/pairing.py); the message gives each side's type and ``file:line``. In float64,
    paddle's rounding of a BatchNorm epsilon to float32 is aligned first (parity/epsilon.py),
    and the message says in how many layers. Both modules
    must already hold the same weights and be in the same mode; in train mode the caller
    restores BN statistics afterwards.
    """
    return find_divergence(torch_module, paddle_module, x, dtype, tol)[0]


def locate_grad_divergence(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, x: np.ndarray,
                           labels: np.ndarray | None, proj: Projections, dtype: str, tol: float) -> str:
    """Name the first layer or op, in backward order, whose output gradient differs beyond ``tol``.

    The layer that produced the wrong gradient is the one that consumes this output
    (next in forward order). Pairing as in locate_divergence.
    """
    found, raised, aligned = _records(torch_module, paddle_module, x, dtype, tol, True,
                                      lambda outs: torch_loss(outs, labels, proj),
                                      lambda outs: paddle_loss(outs, labels, proj))
    if raised:
        raise raised[0][1]
    if found is None:
        return ("no layer's output gradient exceeds the tolerance (the difference builds up across layers)"
                + epsilon.note(aligned))
    return found.message() + epsilon.note(aligned)


def raising_layer(module: Any, x: np.ndarray, is_torch: bool) -> str | None:
    """The innermost layer whose forward raised on ``x`` (None if the forward runs): entered
    layers are stacked by pre-hooks and popped by post-hooks, so the top is where it broke."""
    stack: list[str] = []
    handles = []
    named = module.named_modules() if is_torch else module.named_sublayers(include_self=True)
    for name, m in named:
        def enter(_m, _inp, _name=name or "<model>"):
            stack.append(_name)

        def leave(_m, _inp, _out):
            stack.pop()

        handles.append(m.register_forward_pre_hook(enter))
        handles.append(m.register_forward_hook(leave) if is_torch else m.register_forward_post_hook(leave))
    try:
        if is_torch:
            with torch.no_grad():
                module(torch.from_numpy(x))
        else:
            with paddle.no_grad():
                module(paddle.to_tensor(x))
    except Exception:
        return stack[-1] if stack else "<model>"
    finally:
        for h in handles:
            h.remove()
    return None
