"""What one side computed, layer by layer and op by op: the records the locator pairs.

Layers are recorded by forward hooks. Functional ops (``F.relu``, ``torch.cat``, ``x + y``,
...) are invisible to hooks, so during the recorded run the framework's functional
namespaces and a few Tensor operators are wrapped; an op is recorded only when the code
that called it is the user's own (not the framework's, not this package's), and that
caller's ``file:line`` is its source. Every wrapped attribute is restored in ``finally``.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from parity.protocol import output_tensors

# Nothing here imports a framework at import time: ``dump`` records one side in a process that
# has only that framework (parity/onesided.py), so each side's tables and types load on use.

_ACTIVATIONS_AND_LAYERS = (
    "relu", "relu6", "hardsigmoid", "hardswish", "silu", "sigmoid", "gelu", "leaky_relu", "tanh",
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "dropout", "linear", "conv1d", "conv2d", "batch_norm",
    "softmax", "interpolate", "local_response_norm")
# Op names are canonical across the frameworks (torch.cat and paddle.concat are both
# "concat"), so that a twin pair's op records carry the same names. Keys are import paths
# of the owners (a module, or a module's class after the last dot for "torch.Tensor").
TORCH_OPS: dict[str, dict[str, str]] = {
    "torch.nn.functional": {n: n for n in _ACTIVATIONS_AND_LAYERS},
    "torch": {"flatten": "flatten", "cat": "concat", "concat": "concat", "add": "add", "mul": "mul",
              "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "mean": "mean", "sub": "sub"},
    "torch.Tensor": {"__add__": "add", "__radd__": "add", "__iadd__": "add", "__mul__": "mul",
                     "__rmul__": "mul", "__imul__": "mul", "__sub__": "sub", "__truediv__": "div"},
}
PADDLE_OPS: dict[str, dict[str, str]] = {
    "paddle.nn.functional": {**{n: n for n in _ACTIVATIONS_AND_LAYERS}, "swish": "silu"},
    "paddle": {"flatten": "flatten", "concat": "concat", "add": "add", "multiply": "mul",
               "subtract": "sub", "divide": "div", "mean": "mean", "tanh": "tanh", "sigmoid": "sigmoid"},
    "paddle.Tensor": {"__add__": "add", "__radd__": "add", "__mul__": "mul", "__rmul__": "mul",
                      "__sub__": "sub", "__truediv__": "div"},
}


def op_owner(path: str) -> Any:
    """The module or class an op table key names ("torch.nn.functional", "paddle.Tensor")."""
    try:
        return importlib.import_module(path)
    except ImportError:
        module, _, attr = path.rpartition(".")
        return getattr(importlib.import_module(module), attr)


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)  # finds a top-level package without importing it
    return os.path.dirname(spec.origin) + os.sep if spec is not None and spec.origin else None


# Code in these folders is the framework's or the harness's own: an op it calls is part of
# a layer (nn.ReLU calls F.relu) or of the harness, not of the user's forward.
_FRAMEWORK_DIRS = tuple(d for d in map(_package_dir, ("torch", "paddle")) if d) + (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,)
_THIS_FILE = os.path.abspath(__file__)


@dataclass
class Record:
    """One layer's or one op's output (and the gradient that reached it) on one side."""

    name: str  # module path ("features.3", "<model>" for the root) or "OWNER/op#k" for an op
    kind: str  # "layer" or "op"
    type: str  # module class name ("Conv2d") or canonical op name ("relu", "add", "concat")
    source: str  # "file.py:LINE": the user code that called the op; for a layer its class's definition, or ""
    params: tuple  # the layer's own parameter shapes in torch layout (a paddle Linear's weight transposed)
    output: np.ndarray  # a copy, taken when the layer or op returned
    grad: np.ndarray | None = None  # the gradient reaching that output, when a backward ran
    trainable: int = 0  # trainable parameters in the layer and all its sublayers (0 for an op)


_SITES = tuple(sorted({os.path.dirname(d.rstrip(os.sep)) + os.sep for d in _FRAMEWORK_DIRS[:-1]}))


def _relpath(path: str) -> str:
    """A path as short as still says where: relative to the working folder, or to
    site-packages for installed code ("torch/nn/modules/conv.py")."""
    for site in _SITES:
        if path.startswith(site):
            return path[len(site):]
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


@functools.lru_cache(maxsize=None)
def class_source(cls: type) -> str:
    """``file:line`` where ``cls`` is defined, or "" (a builtin, a class made at run time)."""
    try:
        lines, start = inspect.getsourcelines(cls)
        return f"{_relpath(inspect.getsourcefile(cls) or '')}:{start}"
    except (OSError, TypeError):
        return ""


def _user_frame() -> str | None:
    """``file:line`` of the code that called the wrapped op, or None if that is framework or harness code."""
    frame = sys._getframe(2)  # 0: here, 1: the wrapper
    while frame is not None and os.path.abspath(frame.f_code.co_filename) == _THIS_FILE:
        frame = frame.f_back
    if frame is None:
        return None
    name = frame.f_code.co_filename
    path = name if name.startswith("<") else os.path.abspath(name)
    # Code compiled from a string (the self-test's planted copies, "<planted ...>") is user code.
    if path.startswith(_FRAMEWORK_DIRS):
        return None
    return f"{path if path.startswith('<') else _relpath(path)}:{frame.f_lineno}"


def _copy(t: Any, is_torch: bool) -> np.ndarray:
    # A copy, never a view: an inplace op after this one (nn.ReLU(inplace=True)) would
    # otherwise overwrite what was recorded.
    return t.detach().cpu().numpy().copy() if is_torch else np.array(t.numpy(), copy=True)


class _Recorder:
    """Hooks and wrappers of one recorded run; ``records`` fills in completion order."""

    def __init__(self, module: Any, is_torch: bool, ops: bool, grads: bool) -> None:
        self.is_torch = is_torch
        # Parameter shapes are recorded in torch's layout: a paddle Linear's weight is transposed.
        self.paddle_linear = None if is_torch else importlib.import_module("paddle").nn.Linear
        self.grads = grads
        self.records: list[Record] = []
        self.stack: list[str] = []
        self.op_counts: dict[tuple[str, str], int] = {}
        self.active = False
        self.depth = 0
        self.handles: list[Any] = []
        self.patched: list[tuple[Any, str, Any, bool]] = []  # (owner, attribute, original, was own attribute)
        named = module.named_modules() if is_torch else module.named_sublayers(include_self=True)
        for name, m in named:
            self._hook(m, name or "<model>")
        if ops:
            self._wrap_ops(TORCH_OPS if is_torch else PADDLE_OPS)

    def _hook(self, m: Any, name: str) -> None:
        params = tuple(self._param_shape(m, k, p) for k, p in m.named_parameters(recurse=False)) \
            if self.is_torch else tuple(self._param_shape(m, k, p) for k, p in m.named_parameters(include_sublayers=False))

        trainable = sum(int(np.prod(p.shape)) for p in m.parameters()
                        if (p.requires_grad if self.is_torch else not p.stop_gradient))

        def enter(_m, _inp):
            self.stack.append(name)

        def leave(_m, _inp, out):
            if self.stack:
                self.stack.pop()
            self._add(name, "layer", type(_m).__name__, class_source(type(_m)), params, out, trainable)

        if self.is_torch:
            self.handles += [m.register_forward_pre_hook(enter), m.register_forward_hook(leave)]
        else:
            self.handles += [m.register_forward_pre_hook(enter), m.register_forward_post_hook(leave)]

    def _param_shape(self, m: Any, key: str, p: Any) -> tuple:
        shape = tuple(int(s) for s in p.shape)
        if self.paddle_linear is not None and key == "weight" and isinstance(m, self.paddle_linear):
            shape = tuple(reversed(shape))
        return shape

    def _add(self, name: str, kind: str, type_: str, source: str, params: tuple, out: Any,
             trainable: int = 0) -> None:
        ts = output_tensors(out)
        if not ts or not self.active:
            return
        rec = Record(name, kind, type_, source, params, _copy(ts[0], self.is_torch), trainable=trainable)
        self.records.append(rec)
        if self.grads:
            t = ts[0]
            live = t.requires_grad if self.is_torch else not t.stop_gradient
            if live:
                def grab(g, rec=rec):
                    rec.grad = _copy(g, self.is_torch)
                t.register_hook(grab)

    def _wrap_ops(self, table: dict[str, dict[str, str]]) -> None:
        for path, names in table.items():
            owner = op_owner(path)
            for attr, canonical in names.items():
                original = getattr(owner, attr, None)
                if original is None:
                    continue
                own = attr in vars(owner)
                self.patched.append((owner, attr, original, own))
                setattr(owner, attr, self._wrapper(original, canonical))

    def _wrapper(self, fn: Callable, op: str) -> Callable:
        def wrapper(*args, **kwargs):
            if not self.active or self.depth:
                return fn(*args, **kwargs)
            source = _user_frame()
            self.depth += 1  # ops the op itself calls are its own business
            try:
                out = fn(*args, **kwargs)
            finally:
                self.depth -= 1
            if source is not None:
                owner = self.stack[-1] if self.stack else "<model>"
                k = self.op_counts.get((owner, op), 0)
                self.op_counts[(owner, op)] = k + 1
                self._add(f"{owner}/{op}#{k}", "op", op, source, (), out)
            return out

        return wrapper

    def close(self) -> None:
        """Remove every hook and restore every wrapped attribute exactly as it was."""
        self.active = False
        for h in self.handles:
            h.remove()
        for owner, attr, original, own in reversed(self.patched):
            if own:
                setattr(owner, attr, original)
            else:  # inherited (torch.Tensor's operators live on its C base): drop the shadow
                delattr(owner, attr)
        self.handles, self.patched = [], []


@contextlib.contextmanager
def recording(module: Any, is_torch: bool, ops: bool = True, grads: bool = False) -> Iterator[_Recorder]:
    """Record ``module``'s layers (and, with ``ops``, the user's functional ops) while the block
    runs: ``.records`` fills in completion order, each with its gradient after a backward when
    ``grads``. Loads only the framework of ``module``. Every hook and wrapper is gone on exit."""
    rec = _Recorder(module, is_torch, ops, grads)
    try:
        rec.active = True
        yield rec
    finally:
        rec.close()


def run_recorded(module: Any, x: np.ndarray, is_torch: bool, loss: Callable | None = None,
                 ops: bool = True) -> tuple[list[Record], Exception | None]:
    """Record one forward (and, with ``loss``, one backward) of ``module`` in its current mode.

    Returns the records and the exception the forward raised, if any (the records made
    before the raise are kept: the locator still compares them). ``loss`` maps the list of
    output tensors to a scalar.
    """
    raised = None
    with recording(module, is_torch, ops, grads=loss is not None) as rec:
        try:
            if is_torch:
                import torch

                if loss is None:
                    with torch.no_grad():
                        module(torch.from_numpy(x))
                else:
                    out = module(torch.from_numpy(x.copy()).requires_grad_(True))
                    rec.active = False  # the loss is the harness's, not the model's
                    loss(output_tensors(out)).backward()
            else:
                import paddle

                if loss is None:
                    with paddle.no_grad():
                        module(paddle.to_tensor(x))
                else:
                    out = module(paddle.to_tensor(x.copy(), stop_gradient=False))
                    rec.active = False
                    loss(output_tensors(out)).backward()
        except Exception as exc:  # noqa: BLE001 - handed to the caller with what was recorded
            raised = exc
    return rec.records, raised


def _record(module: Any, x: np.ndarray, is_torch: bool, train: bool, loss: Callable | None,
            ops: bool) -> list[Record]:
    modes = [(m, m.training) for m in (module.modules() if is_torch else module.sublayers(include_self=True))]
    # A train-mode run moves BatchNorm's running statistics: put them back afterwards.
    buffers = {k: _copy(v, is_torch) for k, v in module.state_dict().items()} if train else {}
    module.train() if train else module.eval()
    try:
        records, raised = run_recorded(module, x, is_torch, loss, ops)
    finally:
        for m, training in modes:
            m.training = training
        if buffers:
            sd = module.state_dict()
            if is_torch:
                import torch

                with torch.no_grad():
                    for k, v in buffers.items():
                        sd[k].copy_(torch.from_numpy(v))
            else:
                for k, v in buffers.items():
                    sd[k].set_value(v)
    if raised is not None:
        raise raised
    return records


def record_torch(module: "torch.nn.Module", x: np.ndarray, *, train: bool = False, loss: Callable | None = None,
                 ops: bool = True) -> list[Record]:
    """Every layer's and (with ``ops``) every user-called op's output of ``module`` on ``x``, in completion order.

    The module runs in train mode with ``train`` (its modes and state are restored
    afterwards), else in eval mode; with ``loss`` (outputs -> scalar) a backward runs too and
    each record gets the gradient that reached its output.
    """
    return _record(module, x, True, train, loss, ops)


def record_paddle(layer: "paddle.nn.Layer", x: np.ndarray, *, train: bool = False, loss: Callable | None = None,
                  ops: bool = True) -> list[Record]:
    """The same as record_torch, for a paddle layer."""
    return _record(layer, x, False, train, loss, ops)
