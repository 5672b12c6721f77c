"""The divergence locator: the first layer, in execution order, whose output (or output
gradient) differs between the two frameworks."""
from __future__ import annotations

from typing import Any

import numpy as np
import paddle
import torch

from parity.metrics import errors
from parity.modes import Projections, paddle_loss, tensors, torch_loss


def _record(module: Any, is_torch: bool) -> tuple[list[tuple[str, Any]], list[Any]]:
    """Forward hooks on every sublayer, recording (name, first output tensor) in completion order."""
    records: list[tuple[str, Any]] = []
    handles = []
    named = module.named_modules() if is_torch else module.named_sublayers(include_self=True)
    for name, m in named:
        def hook(_m, _inp, out, _name=name or "<model>"):
            ts = tensors(out)
            if ts:
                # A copy, not a view: an inplace activation after this layer (nn.ReLU(inplace=True))
                # would otherwise overwrite what was recorded.
                records.append((_name, ts[0].detach().cpu().numpy().copy() if is_torch else ts[0].numpy().copy()))
        handles.append(m.register_forward_hook(hook) if is_torch else m.register_forward_post_hook(hook))
    return records, handles


def locate_divergence(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, x: np.ndarray, dtype: str,
                      tol: float) -> str:
    """Name the first layer (in execution order) whose output differs beyond ``tol``.

    Layers are matched by name; when the two sides name them differently (a user's own
    port), by the order in which they finish. Both modules must already hold the same
    weights and be in the same mode; in train mode the caller restores BN statistics
    afterwards.
    """
    t_rec, t_h = _record(torch_module, True)
    p_rec, p_h = _record(paddle_module, False)
    raised: list[tuple[str, Exception]] = []
    try:
        try:
            with torch.no_grad():
                torch_module(torch.from_numpy(x))
        except Exception as exc:  # the layers before the raise are still compared
            raised.append(("torch", exc))
        try:
            with paddle.no_grad():
                paddle_module(paddle.to_tensor(x))
        except Exception as exc:
            raised.append(("paddle", exc))
    finally:
        for h in t_h + p_h:
            h.remove()
    where = _first_mismatch(t_rec, p_rec, dtype, tol)
    if where is not None:
        return f"first divergent layer: {where}"
    if raised:
        side, exc = raised[0]
        layer = raising_layer(torch_module if side == "torch" else paddle_module, x, side == "torch")
        return f"first divergent layer: {layer} (the {side} forward raises there: {type(exc).__name__}: {exc})"
    return "no single layer's output exceeds the tolerance (the difference builds up across layers)"


def _record_grads(module: Any, is_torch: bool) -> tuple[list[tuple[str, Any]], list[Any]]:
    """Hooks that record the gradient reaching each sublayer's output, in backward order."""
    records: list[tuple[str, Any]] = []
    handles = []
    named = module.named_modules() if is_torch else module.named_sublayers(include_self=True)
    for name, m in named:
        def hook(_m, _inp, out, _name=name or "<model>"):
            ts = tensors(out)
            if not ts:
                return
            t = ts[0]
            if is_torch and t.requires_grad:
                t.register_hook(lambda g: records.append((_name, g.detach().numpy().copy())))
            elif not is_torch and not t.stop_gradient:
                t.register_hook(lambda g: records.append((_name, g.numpy().copy())))
        handles.append(m.register_forward_hook(hook) if is_torch else m.register_forward_post_hook(hook))
    return records, handles


def locate_grad_divergence(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, x: np.ndarray,
                           labels: np.ndarray | None, proj: Projections, dtype: str, tol: float) -> str:
    """Name the first layer, in backward order, whose output gradient differs beyond ``tol``.

    The layer that produced the wrong gradient is the one that consumes this output
    (next in forward order). Matching is by name, else by order, as in locate_divergence.
    """
    t_rec, t_h = _record_grads(torch_module, True)
    p_rec, p_h = _record_grads(paddle_module, False)
    try:
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        xp = paddle.to_tensor(x.copy(), stop_gradient=False)
        torch_loss(tensors(torch_module(xt)), labels, proj).backward()
        paddle_loss(tensors(paddle_module(xp)), labels, proj).backward()
    finally:
        for h in t_h + p_h:
            h.remove()
    where = _first_mismatch(t_rec, p_rec, dtype, tol)
    if where is None:
        return "no layer's output gradient exceeds the tolerance (the difference builds up across layers)"
    return f"first divergent gradient (backward order) at the output of {where}"


def _first_mismatch(t_rec: list[tuple[str, Any]], p_rec: list[tuple[str, Any]], dtype: str, tol: float) -> str | None:
    """The first recorded (name, array) whose torch and paddle values differ; by name, else by order."""
    p_by_name: dict[str, list[np.ndarray]] = {}
    for name, arr in p_rec:
        p_by_name.setdefault(name, []).append(arr)
    by_name = sum(1 for name, _ in t_rec if name in p_by_name) >= 0.5 * max(len(t_rec), 1)
    seen: dict[str, int] = {}
    for i, (name, t_arr) in enumerate(t_rec):
        if by_name:
            k = seen.get(name, 0)
            seen[name] = k + 1
            if name not in p_by_name or k >= len(p_by_name[name]):
                continue
            p_name, p_arr = name, p_by_name[name][k]
        else:
            if i >= len(p_rec):
                break
            p_name, p_arr = p_rec[i]
        err = errors([(name, t_arr, p_arr)], dtype)[0][1]
        if err.max_rel > tol:
            where = name if p_name == name else f"{name} (torch) / {p_name} (paddle)"
            shapes = "" if np.shape(t_arr) == np.shape(p_arr) else f", shapes {list(np.shape(t_arr))} vs {list(np.shape(p_arr))}"
            return f"{where} (max_abs {err.max_abs:.2e}, max_rel {err.max_rel:.2e}{shapes})"
    return None



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
