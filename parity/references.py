"""Reference runs for a rejudge: each framework against itself, perturbed or more precise,
to measure its own rounding (see parity.judge.SENSITIVITY_FACTOR)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import paddle
import torch

from parity import bridge
from parity.judge import Check, own_error, rejudge
from parity.masks import share_paddle, share_torch
from parity.modes import paddle_loss, paddle_train_mode, tensors, torch_loss, torch_train_mode


def one_ulp(x: np.ndarray, seed: int) -> np.ndarray:
    """x with every element moved one ulp up or down at random (in x's own dtype)."""
    up = np.random.RandomState(seed).rand(*x.shape) < 0.5
    return np.nextafter(x, np.where(up, np.inf, -np.inf).astype(x.dtype))


def reference(module: torch.nn.Module, dtype: str, seed: int) -> tuple[torch.nn.Module, Callable]:
    """The reference run for a rejudged check (see SENSITIVITY_FACTOR): the module (a copy
    of torch's at the same weights) and the function that turns an input for it."""
    if dtype == "float32":
        return module.double(), lambda x, step: x.astype(np.float64)
    return nudged(module, seed), lambda x, step: one_ulp(x, seed + step)


def nudged(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``module`` with every floating-point parameter moved one ulp per element, in place."""
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            if p.is_floating_point() and p.numel():
                p.copy_(torch.from_numpy(one_ulp(p.detach().numpy(), seed + 7919 * (i + 1))))
    return module



def rejudge_eval_float32(check: Check, twin: torch.nn.Module, x: np.ndarray, t_out: list,
                         prepare: Callable[[torch.nn.Module], Callable[[], None]] | None = None) -> Check:
    """A failed float32 eval check judged again against torch float32's own error: ``twin`` (a
    copy of torch's module at the same weights) run in float64 on the same input. Only torch
    enters the reference, so no paddle behaviour, and no other paddle code path, can excuse
    itself. A deep net with randomised, calibrated BatchNorm can be so ill-conditioned that
    float32 alone moves its output beyond the fixed bound (ResNet-101 in 1D: torch float32
    against torch float64 by 2e-4, against 1e-4) with nothing wrong in either framework.
    ``prepare`` changes the float64 copy as torch's run was changed (the hot run's scaling,
    say) and returns what undoes that."""
    twin, wide_input = reference(twin, "float32", 0)  # float64: no seed is drawn
    twin.eval()
    undo = prepare(twin) if prepare is not None else None
    try:
        with torch.no_grad():
            wide = tensors(twin(torch.from_numpy(wide_input(np.asarray(x), 0))))
    finally:
        if undo is not None:
            undo()
    own = own_error(check.metric, "float32", [(f"output[{i}]", a.detach(), b)
                                               for i, (a, b) in enumerate(zip(t_out, wide))])
    return rejudge(check, own, "float32")


def rejudge_train(torch_module, twin, lt, t_outs, xt, x, labels, proj, dtype, checks, bn_keys, seed,
                   paddle_side=None, stochastic: bool = False) -> list[Check]:
    """The failed train checks (loss, input and parameter gradients, BN statistics) judged
    again against torch's own error on the reference run (see SENSITIVITY_FACTOR), and
    against paddle's own on the same kind of run where ``paddle_side`` (a PaddleRun) is
    given: the larger decides. Each framework's float32 kernels round differently (paddle's
    float32 BatchNorm backward on a handful of values per channel loses more than torch's),
    and a port is judged by whether the two differ by more than either's own rounding;
    a porting mistake is in paddle's reference run as well, so it cannot excuse itself.

    torch's own error on the loss also counts its error on the train-mode outputs the loss
    is computed from: the loss is one number, whose error can cancel to almost nothing in
    one run and not in the next.

    With ``stochastic`` (dropout live on masks from the stream of parity/masks.py, seeded
    ``seed``), the reference run draws the same masks: its stochastic layers stay in train
    mode on a stream of their own with that seed."""
    twin, twin_input = reference(twin, dtype, seed)
    if stochastic:
        twin.train()
        share_torch(twin, seed)
    else:
        torch_train_mode(twin)
    xt2 = torch.from_numpy(twin_input(x, 0)).requires_grad_(True)
    twin_outs = tensors(twin(xt2))
    l2 = torch_loss(twin_outs, labels, proj)
    l2.backward()
    twin_params = dict(twin.named_parameters())
    t_sd, twin_sd = torch_module.state_dict(), twin.state_dict()
    own_pairs = {
        "train_loss": [("loss", lt.detach().numpy(), l2.detach().numpy())] + [
            (f"output {i}", a.detach().numpy(), b.detach().numpy()) for i, (a, b) in enumerate(zip(t_outs, twin_outs))],
        "train_input_grad": [("input", xt.grad.numpy(), xt2.grad.numpy())],
        "train_param_grads": [(n, p.grad.numpy(), twin_params[n].grad.numpy())
                              for n, p in torch_module.named_parameters()
                              if p.grad is not None and twin_params[n].grad is not None],
        "bn_stats": [(k, t_sd[k].numpy(), twin_sd[k].numpy()) for k in bn_keys],
    }
    paddle_pairs = paddle_side.own_pairs(dtype, seed, x, labels, proj) if paddle_side is not None else None
    return [c if c.passed else rejudge(c, own_error(c.metric, dtype, own_pairs[c.name]), dtype,
                                        paddle_own=None if paddle_pairs is None else
                                        own_error(c.metric, dtype, paddle_pairs[c.name]))
            for c in checks]


@dataclass
class PaddleRun:
    """What paddle's side of a train check produced, and a factory for a copy of the layer at
    the check's initial weights: enough to measure paddle's own rounding like torch's."""

    module: Any
    twin: Callable[[], Any]
    outs: list[Any]
    loss: Any
    input_grad: np.ndarray | None
    bn_keys: list[str]
    stochastic: bool = False  # the masks as rejudge_train's ``stochastic``

    def own_pairs(self, dtype: str, seed: int, x: np.ndarray, labels, proj) -> dict[str, list]:
        """Per-check (name, paddle's array, reference array) pairs, where the reference run is
        paddle in float64 (for float32) or paddle with one-ulp changes to every input and
        weight (for float64), as torch's reference run is made (see reference)."""
        twin = self.twin()
        if dtype == "float32":
            twin.to(dtype="float64")
            # The same code path as float32's: layers that take a dtype-specific route in
            # float64 (paddle_impl's exact BatchNorm and pools) are told to take float32's,
            # so that a mistake in that route is in the reference too and cannot excuse itself.
            for _, layer in twin.named_sublayers(include_self=True):
                if hasattr(layer, "float64_exact"):
                    layer.float64_exact = False
            inp = x.astype(np.float64)
        else:
            with paddle.no_grad():
                for i, q in enumerate(twin.parameters()):
                    if not q.stop_gradient and int(np.prod(q.shape)):
                        q.set_value(one_ulp(q.numpy(), seed + 7919 * (i + 1)))
            inp = one_ulp(x, seed)
        if self.stochastic:
            twin.train()
            share_paddle(twin, seed)
        else:
            paddle_train_mode(twin)
        xp2 = paddle.to_tensor(inp, stop_gradient=False)
        outs2 = tensors(twin(xp2))
        l2 = paddle_loss(outs2, labels, proj)
        l2.backward()
        mine, theirs = dict(self.module.named_parameters()), dict(twin.named_parameters())
        sd, twin_sd = self.module.state_dict(), twin.state_dict()
        return {
            "train_loss": [("loss", self.loss.numpy(), l2.numpy())] + [
                (f"output {i}", a.numpy(), b.numpy()) for i, (a, b) in enumerate(zip(self.outs, outs2))],
            "train_input_grad": [("input", self.input_grad, xp2.grad.numpy())]
            if self.input_grad is not None and xp2.grad is not None else [],
            # Views of paddle's memory, not .numpy() copies: the metrics read them in place, where
            # a copy of each side's gradients is two more copies of the model.
            "train_param_grads": [(n, bridge.view(q.grad), bridge.view(theirs[n].grad)) for n, q in mine.items()
                                  if q.grad is not None and theirs[n].grad is not None],
            "bn_stats": [(k, sd[k].numpy(), twin_sd[k].numpy()) for k in self.bn_keys],
        }

