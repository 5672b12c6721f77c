"""Framework plumbing shared by the checks: dtypes, train mode with stochastic layers, a
model's outputs as a flat list, and the loss that every train and step check backpropagates."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import paddle
import torch

from parity import bridge
from parity import weights as W
# The loss's framework-free parts live in parity/protocol.py (dump runs one framework alone).
from parity.protocol import Projections, is_logits, output_tensors, output_weight  # noqa: F401

@contextlib.contextmanager
def built_in(dtype: str) -> Iterator[None]:
    """Both frameworks' default dtype is ``dtype`` while this is open, so that a model is built
    in the dtype it is checked in. Built in float32 and cast, a float64 model was made twice
    over: a 72M-parameter LeNet-BN case spent 1.7 s of its 5.4 s in the two casts."""
    t_saved, p_saved = torch.get_default_dtype(), paddle.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(t_saved)
        paddle.set_default_dtype(p_saved)


def set_dtype(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, dtype: str) -> None:
    """Cast both to ``dtype`` (free for a model built in it: neither cast copies then)."""
    torch_module.to(getattr(torch, dtype))
    paddle_module.to(dtype=dtype)


def is_stochastic_torch(m: torch.nn.Module) -> bool:
    return isinstance(m, torch.nn.modules.dropout._DropoutNd) or getattr(m, "stochastic", False)


def is_stochastic_paddle(m: paddle.nn.Layer) -> bool:
    return isinstance(m, (paddle.nn.Dropout, paddle.nn.Dropout2D, paddle.nn.Dropout3D, paddle.nn.AlphaDropout)) \
        or getattr(m, "stochastic", False)


def torch_train_mode(torch_module: torch.nn.Module) -> list[str]:
    """Train mode with stochastic layers in eval; returns the names of those layers."""
    torch_module.train()
    frozen = []
    for name, m in torch_module.named_modules():
        if is_stochastic_torch(m):
            m.eval()
            frozen.append(name)
    return frozen


def paddle_train_mode(paddle_module: paddle.nn.Layer) -> None:
    """Train mode with stochastic layers in eval, as torch_train_mode."""
    paddle_module.train()
    for _, m in paddle_module.named_sublayers():
        if is_stochastic_paddle(m):
            m.eval()


def train_mode(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer) -> list[str]:
    """Both sides in train mode with stochastic layers in eval; returns torch's names of those layers."""
    frozen = torch_train_mode(torch_module)
    paddle_train_mode(paddle_module)
    return frozen


def tensors(out: Any) -> list[Any]:
    """Flatten a model output (tensor, tuple, list, dict, namedtuple) into a list of tensors."""
    return output_tensors(out)


def torch_loss(outs: list[torch.Tensor], labels: np.ndarray, proj: Projections) -> torch.Tensor:
    loss = 0
    for i, o in enumerate(outs):
        if is_logits(o, labels):
            loss = loss + output_weight(i) * torch.nn.functional.cross_entropy(o, torch.from_numpy(labels))
        else:
            loss = loss + (o * torch.from_numpy(proj(i, tuple(o.shape))).to(o.dtype)).sum()
    return loss


def paddle_loss(outs: list[paddle.Tensor], labels: np.ndarray, proj: Projections) -> paddle.Tensor:
    loss = 0
    for i, o in enumerate(outs):
        if is_logits(o, labels):
            loss = loss + output_weight(i) * paddle.nn.functional.cross_entropy(o, paddle.to_tensor(labels))
        else:
            loss = loss + (o * paddle.to_tensor(proj(i, tuple(o.shape))).astype(o.dtype)).sum()
    return loss


def grad_pairs(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer,
                kmap: W.KeyMap) -> list[tuple[str, Any, Any]]:
    t_params = dict(torch_module.named_parameters())
    p_params = dict(paddle_module.named_parameters())
    errs = []
    for pair in kmap.pairs:
        if pair.torch not in t_params:
            continue
        tp, pp = t_params[pair.torch], p_params.get(pair.paddle)
        if pp is None or pp.stop_gradient:
            continue
        tg = tp.grad if tp.grad is not None else np.zeros(tuple(tp.shape))

        def paddle_grad(pair=pair, pp=pp) -> Any:  # made when errors needs it (see there)
            if pp.grad is None:
                return np.zeros(tuple(reversed(pp.shape)) if pair.transpose else tuple(pp.shape))
            return bridge.view(pp.grad, pair.transpose)

        errs.append((pair.torch, tg, paddle_grad))
    return errs

