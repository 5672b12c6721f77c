"""One framework's side of the harness, importing only that framework (for ``dump``).

``Side("torch")`` or ``Side("paddle")`` gives the few operations a single-sided run needs
(tensors, modes, the protocol's loss and SGD, state dicts as numpy, layer recording),
each done as the two-sided checks do it (parity/modes.py, parity/steps.py), so that two
dumps made in separate processes compare like one ``compare`` run.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np

from parity.protocol import SGD, Projections, is_logits, output_tensors, output_weight


class Side:
    """The operations of one framework, loaded on construction; the other framework is never imported."""

    def __init__(self, framework: str) -> None:
        if framework not in ("torch", "paddle"):
            raise ValueError(f"framework must be 'torch' or 'paddle', got {framework!r}")
        self.framework = framework
        self.is_torch = framework == "torch"
        self.fw = importlib.import_module(framework)

    @property
    def version(self) -> str:
        return str(self.fw.__version__)

    # --- tensors -------------------------------------------------------------------------
    def tensor(self, x: np.ndarray, grad: bool = False) -> Any:
        if self.is_torch:
            return self.fw.from_numpy(np.array(x, copy=True)).requires_grad_(grad)
        return self.fw.to_tensor(np.array(x, copy=True), stop_gradient=not grad)

    def numpy(self, t: Any) -> np.ndarray:
        # A copy, never a view: an inplace op later (nn.ReLU(inplace=True)) would overwrite it.
        return t.detach().cpu().numpy().copy() if self.is_torch else np.array(t.numpy(), copy=True)

    def outputs(self, out: Any) -> list[Any]:
        """A model output flattened into a list of tensors, as modes.tensors."""
        return output_tensors(out)

    def no_grad(self) -> Any:
        return self.fw.no_grad()

    # --- modes and the protocol ----------------------------------------------------------
    def cast(self, module: Any, dtype: str) -> None:
        if self.is_torch:
            module.to(getattr(self.fw, dtype))
        else:
            module.to(dtype=dtype)

    def _is_stochastic(self, m: Any) -> bool:
        if getattr(m, "stochastic", False):
            return True
        if self.is_torch:
            return isinstance(m, self.fw.nn.modules.dropout._DropoutNd)
        nn = self.fw.nn
        return isinstance(m, (nn.Dropout, nn.Dropout2D, nn.Dropout3D, nn.AlphaDropout))

    def layers(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.named_modules() if self.is_torch else module.named_sublayers(include_self=True))

    def train_mode(self, module: Any) -> list[str]:
        """Train mode with dropout and other stochastic layers in eval (the two sides draw different masks)."""
        module.train()
        frozen = []
        for name, m in self.layers(module):
            if self._is_stochastic(m):
                m.eval()
                frozen.append(name)
        return frozen

    def loss(self, outs: list[Any], labels: np.ndarray | None, proj: Projections) -> Any:
        """The loss every train and step check backpropagates (parity/modes.py's torch_loss / paddle_loss)."""
        F = self.fw.nn.functional
        total = 0
        for i, o in enumerate(outs):
            if is_logits(o, labels):
                total = total + output_weight(i) * F.cross_entropy(o, self.tensor(labels))
            else:
                w = self.tensor(proj(i, tuple(o.shape)))
                total = total + (o * (w.to(o.dtype) if self.is_torch else w.astype(o.dtype))).sum()
        return total

    def sgd(self, module: Any) -> Any:
        """SGD with momentum and L2 weight decay, with the step checks' settings (parity/protocol.py)."""
        if self.is_torch:
            params = [p for p in module.parameters() if p.requires_grad]
            return self.fw.optim.SGD(params, lr=SGD["lr"], momentum=SGD["momentum"], weight_decay=SGD["weight_decay"])
        params = [p for p in module.parameters() if not p.stop_gradient]
        return self.fw.optimizer.Momentum(learning_rate=SGD["lr"], momentum=SGD["momentum"], parameters=params,
                                          weight_decay=SGD["weight_decay"])

    def step(self, opt: Any) -> None:
        opt.step()
        # Both free the gradients, as the step checks do (parity/steps.py): paddle's default
        # would keep them zero-filled and add the next backward into them.
        opt.zero_grad(set_to_none=True) if self.is_torch else opt.clear_grad(set_to_zero=False)

    # --- state ---------------------------------------------------------------------------
    def state(self, module: Any) -> dict[str, np.ndarray]:
        return {k: self.numpy(v) for k, v in module.state_dict().items()}

    def grads(self, module: Any) -> dict[str, np.ndarray]:
        """Every trainable parameter's gradient (zeros where the loss did not reach it)."""
        out = {}
        if self.is_torch:
            for k, p in module.named_parameters():
                if p.requires_grad:
                    out[k] = self.numpy(p.grad) if p.grad is not None else np.zeros(tuple(p.shape))
        else:
            for k, p in module.named_parameters():
                if not p.stop_gradient:
                    out[k] = self.numpy(p.grad) if p.grad is not None else np.zeros(tuple(p.shape))
        return out

    def load(self, module: Any, state: dict[str, np.ndarray]) -> None:
        """Strict load: every key of the module present in ``state`` with its shape."""
        target = module.state_dict()
        missing = [k for k in target if k not in state]
        mis = [k for k in target if k in state and tuple(np.shape(state[k])) != tuple(target[k].shape)]
        if missing or mis:
            from zoo.messages import state_mismatch

            raise ValueError(state_mismatch("--weights", missing, [k for k in state if k not in target],
                                            [(k, np.shape(state[k]), tuple(target[k].shape)) for k in mis]))
        if self.is_torch:
            with self.fw.no_grad():
                for k, t in target.items():
                    t.copy_(self.fw.from_numpy(np.asarray(state[k])).to(t.dtype))
        else:
            for k, t in target.items():
                t.set_value(np.asarray(state[k]).astype(str(t.dtype).replace("paddle.", "")))

    def kinds(self, module: Any) -> tuple[set[str], set[str]]:
        """(Linear weight keys, BatchNorm prefixes) of ``module``, by layer type, as parity/weights.py decides."""
        impl = importlib.import_module(("torch_impl" if self.is_torch else "paddle_impl") + "._weights")
        return impl.module_kinds(module)

    # --- recording -----------------------------------------------------------------------
    def record(self, module: Any, run: Callable[[], Any], grads: bool) -> list[Any]:
        """Each layer's and each user-called functional op's output (and, with ``grads``, the
        gradient reaching it) in completion order, while ``run()`` runs: parity.records.Record
        entries, recorded as the two-sided locator records them."""
        from parity.records import recording

        with recording(module, self.is_torch, ops=True, grads=grads) as rec:
            run()
        return rec.records
