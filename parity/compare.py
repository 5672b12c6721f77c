"""compare_modules(): prove that a torch module and a paddle layer are the same network.

Checks, in order (DESIGN.md, "What the parity harness checks"):
  structure    parameters map 1:1 by name and shape; trainable counts equal (and equal
               to a published count when one is given)
  copy         torch -> paddle copy, and paddle -> torch gives the same tensors back
  eval_forward eval-mode outputs on one input
  train_*      train-mode forward and backward, BatchNorm on batch statistics: the loss,
               the input gradient, every parameter gradient, the BN running statistics
  sgd_steps    K steps of SGD with momentum and weight decay on the same batches
  adam_steps   K steps of Adam (float64: each side on its own gradients; float32: on
               torch's, see SHARED_GRADIENTS)
A failed gradient check is first judged again with torch given paddle's side of every
ReLU/ReLU6 kink that an activation within rounding of it fell on differently (see
_rejudge_with_aligned_kinks; the detail names each such activation). A train or step
check that still fails is judged against each framework's own error on a reference run
(see SENSITIVITY_FACTOR, _rejudge_train; for float32 steps, _torch_shared_twin_steps);
the check's detail then gives the numbers.
When a forward check fails, forward hooks on both sides name the first layer whose
output differs. Dropout and other stochastic layers (any module with
``stochastic = True``) are switched to eval during train checks, since the two
frameworks draw different masks; the report says so.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import paddle
import torch

from parity import weights as W

DTYPES = ("float64", "float32")

# Tolerances on the metric each check uses. float64 proves exactness: outputs agree to
# ~1e-13; gradients through paddle's average pools only to ~1e-8 (its float64 pool
# backward divides in float32); paddle's optimizers keep momentum and the L2
# coefficient in float32, so weights after steps agree to ~1e-7. float32 is what users
# run: train-mode gradients use a norm-relative bound because one ReLU input near 0
# that flips sign spreads through a channel's batch statistics (and a flip that moves
# them further is shown to be only that; see _rejudge_with_aligned_kinks).
TOLERANCES: dict[str, dict[str, float]] = {
    "float64": {"eval_forward": 1e-10, "train_loss": 1e-10, "train_input_grad": 1e-6, "train_param_grads": 1e-6,
                "bn_stats": 1e-10, "sgd_steps": 1e-6, "adam_steps": 1e-6, "onnx": 1e-4},
    "float32": {"eval_forward": 1e-4, "train_loss": 1e-5, "train_input_grad": 1e-2, "train_param_grads": 1e-2,
                "bn_stats": 1e-4, "sgd_steps": 1e-3, "adam_steps": 1e-3, "onnx": 1e-4},
}
# The metric a check's tolerance applies to: "max_rel" is max|a-b| / max(|a|, |b|) over a
# tensor, "norm_rel" is ||a-b|| / ||b||. The worst tensor of a check decides.
METRICS: dict[str, dict[str, str]] = {
    "float64": {"adam_steps": "norm_rel"},
    "float32": {"train_input_grad": "norm_rel", "train_param_grads": "norm_rel", "adam_steps": "norm_rel"},
}

# Optimizer settings of the step checks: powers of two and sums of a few, close to the
# usual 0.01 / 0.9 / 1e-4 and 1e-3 / (0.9, 0.999) / 1e-8. paddle keeps these coefficients
# as float32 even for float64 parameters (0.9 becomes 0.8999999762), which injects a
# ~1e-8 difference at the second step that a chaotic net then grows past any float64
# tolerance; values that float32 holds exactly leave only rounding to compare.
SGD = dict(lr=2.0 ** -7, momentum=0.875, weight_decay=2.0 ** -13)
ADAM = dict(lr=2.0 ** -10, betas=(0.875, 1.0 - 2.0 ** -10), eps=2.0 ** -27, weight_decay=0.0)


@dataclass
class Check:
    """One comparison: its errors, the tolerance, and a verdict."""

    name: str
    passed: bool
    max_abs: float | None = None
    max_rel: float | None = None
    norm_rel: float | None = None
    tol: float | None = None
    metric: str | None = None
    detail: str = ""

    def ratio(self) -> float | None:
        """The judged error over the tolerance (<= 1 passes); None for exact or count checks."""
        value = getattr(self, self.metric or "", None) if self.metric in ("max_rel", "norm_rel") else None
        if value is None or not self.tol:
            return None
        return value / self.tol

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Report:
    """Result of one torch/paddle comparison: ``ok`` is True only if every check passed."""

    model: str
    dims: int | None
    dtype: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; have {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "dims": self.dims, "dtype": self.dtype, "ok": self.ok,
                "seconds": round(self.seconds, 3), "notes": self.notes, "checks": [c.to_dict() for c in self.checks]}

    def __str__(self) -> str:
        from parity.report import format_reports

        return format_reports([self])


# --- errors ---------------------------------------------------------------------------

# A tensor's relative error is measured against at least this fraction of the largest
# tensor in the same check: a gradient that is analytically zero (a conv bias feeding
# BatchNorm) is rounding noise on both sides, and noise divided by noise means nothing.
# float32 rounding noise reaches ~1e-5 of the largest gradient, float64's ~1e-13.
SCALE_FLOOR = {"float64": 1e-6, "float32": 1e-3}
# A gradient element below this fraction of the largest gradient is taken as
# analytically zero (rounding noise) by the optimizer-step checks.
NOISE_FLOOR = {"float64": 1e-10, "float32": 1e-6}
# A gradient or step check that misses its fixed tolerance is judged again against how
# far torch's own result is from a perturbed or more precise run of the same network.
# Deep nets trained on tiny batches can be ill-conditioned (MobileNet v1's float32
# gradients differ from its float64 gradients by several percent), and a few optimizer
# steps on them are chaotic (Adam turns the sign of a gradient that is below float32's
# noise into a full step); two frameworks that sum in different orders can then agree
# no better than torch agrees with that reference. The reference is torch in float64
# for a float32 check, and for a float64 check torch with every input element and every
# weight moved by one ulp. The check passes if the cross-framework error is within
# SENSITIVITY_FACTOR times torch's own, and its detail says so, with both numbers. Train
# checks also measure paddle against its own reference run and take the larger (paddle's
# float32 kernels can round worse than torch's; see _rejudge_train).
SENSITIVITY_FACTOR = 5.0
# Whether the optimizer-step checks hand torch's gradients to paddle at every step
# (float32) or let each side step on its own (float64); see _check_steps.
SHARED_GRADIENTS = {"float64": False, "float32": True}


@dataclass
class Err:
    max_abs: float
    max_rel: float
    norm_rel: float

    def value(self, metric: str) -> float:
        return getattr(self, metric)


def _transposed(x: np.ndarray) -> np.ndarray:
    """A C-contiguous transpose of a 2-D array (a Linear weight), made by torch: numpy's is
    2-3x slower, and strided views make every later pass over the array slow too."""
    return torch.from_numpy(np.ascontiguousarray(x)).t().contiguous().numpy()


def _absmax(x: np.ndarray) -> float:
    # max|x| without materialising |x| (these arrays reach 10^8 elements for VGG)
    return max(float(x.max()), -float(x.min())) if x.size else 0.0


def _norm(x: np.ndarray) -> float:
    flat = x.ravel()
    return math.sqrt(float(np.dot(flat, flat))) if flat.size else 0.0


def _array(value: Any) -> np.ndarray:
    """A float64 view or copy of an array, or of what a zero-argument callable returns."""
    return np.asarray(value() if callable(value) else value, dtype=np.float64)


def _errs(pairs: Sequence[tuple[str, Any, Any]], dtype: str) -> list[tuple[str, Err]]:
    """Per-tensor errors of (name, a, b) with the check-wide scale floor applied.

    ``a`` and ``b`` may be zero-argument callables that make the array: they are called
    once per pass (the floors need every tensor's scale first), so a check over a float64
    VGG holds one converted tensor at a time instead of a second copy of the model."""
    stats = []
    for _, a, b in pairs:
        a, b = _array(a), _array(b)
        stats.append((_absmax(a), _absmax(b), _norm(b)))
    scale = max((max(sa, sb) for sa, sb, _ in stats), default=0.0)
    norm = max((nb for *_, nb in stats), default=0.0)
    out = []
    for (n, a, b), (amax, bmax, bnorm) in zip(pairs, stats):
        a, b = _array(a), _array(b)
        if a.shape != b.shape:
            out.append((f"{n} (shapes {list(a.shape)} vs {list(b.shape)})", Err(math.inf, math.inf, math.inf)))
            continue
        if a.size == 0:
            out.append((n, Err(0.0, 0.0, 0.0)))
            continue
        diff = a - b
        max_abs = _absmax(diff)
        if not math.isfinite(max_abs):
            out.append((f"{n} (non-finite)", Err(math.inf, math.inf, math.inf)))
            continue
        if max_abs == 0.0:
            out.append((n, Err(0.0, 0.0, 0.0)))
            continue
        denom = max(amax, bmax, SCALE_FLOOR[dtype] * scale)
        norm_denom = max(bnorm, SCALE_FLOOR[dtype] * norm)
        out.append((n, Err(max_abs, max_abs / denom if denom > 0 else math.inf,
                           _norm(diff) / norm_denom if norm_denom > 0 else math.inf)))
    return out


def _judge(name: str, dtype: str, pairs: Sequence[tuple[str, Any, Any]], detail: str = "") -> Check:
    """A check from (name, torch array, paddle array) pairs: the worst tensor on the check's metric decides."""
    tol = TOLERANCES[dtype][name]
    metric = METRICS[dtype].get(name, "max_rel")
    errs = _errs(pairs, dtype)
    if not errs:
        return Check(name, True, 0.0, 0.0, 0.0, tol, metric, detail or "nothing to compare")
    worst_name, worst = max(errs, key=lambda ne: ne[1].value(metric))
    passed = worst.value(metric) <= tol
    if not passed:
        detail = (detail + "; " if detail else "") + f"worst: {worst_name} ({metric} {worst.value(metric):.2e})"
    return Check(name, passed, max(e.max_abs for _, e in errs), max(e.max_rel for _, e in errs),
                 max(e.norm_rel for _, e in errs), tol, metric, detail)


def _own_error(metric: str, dtype: str, twin_pairs: Sequence[tuple[str, Any, Any]]) -> float:
    return max((e.value(metric) for _, e in _errs(twin_pairs, dtype)), default=0.0)


def _rejudge(check: Check, own: float, dtype: str, reference: str | None = None,
             paddle_own: float | None = None) -> Check:
    """Judge a failed check again with its tolerance raised to SENSITIVITY_FACTOR times
    ``own``, the error between torch's run and the reference run (see _reference), or
    times ``paddle_own``, paddle's error against its own reference run, if that is larger."""
    value = getattr(check, check.metric)
    reference = reference or ("torch float32 against torch float64" if dtype == "float32" else
                              "torch against torch with one-ulp changes to every input and weight")
    measured = f"{reference}: {check.metric} {own:.2e}"
    if paddle_own is not None:
        measured += f"; paddle against paddle likewise: {paddle_own:.2e}"
        own = max(own, paddle_own)
    tol = max(check.tol, SENSITIVITY_FACTOR * own)
    passed = value <= tol
    note = (f"beyond the fixed {check.tol:.0e}; {measured}, so the tolerance is {SENSITIVITY_FACTOR:g}x "
            f"{'the larger' if paddle_own is not None else 'that'}, {tol:.2e}")
    detail = note if passed else f"{check.detail}; {note}"
    return Check(check.name, passed, check.max_abs, check.max_rel, check.norm_rel, tol, check.metric, detail)


def _one_ulp(x: np.ndarray, seed: int) -> np.ndarray:
    """x with every element moved one ulp up or down at random (in x's own dtype)."""
    up = np.random.RandomState(seed).rand(*x.shape) < 0.5
    return np.nextafter(x, np.where(up, np.inf, -np.inf).astype(x.dtype))


def _reference(module: torch.nn.Module, dtype: str, seed: int) -> tuple[torch.nn.Module, Callable]:
    """The reference run for a rejudged check (see SENSITIVITY_FACTOR): the module (a copy
    of torch's at the same weights) and the function that turns an input for it."""
    if dtype == "float32":
        return module.double(), lambda x, step: x.astype(np.float64)
    return _nudged(module, seed), lambda x, step: _one_ulp(x, seed + step)


def _nudged(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``module`` with every floating-point parameter moved one ulp per element, in place."""
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            if p.is_floating_point() and p.numel():
                p.copy_(torch.from_numpy(_one_ulp(p.detach().numpy(), seed + 7919 * (i + 1))))
    return module


# --- framework plumbing ---------------------------------------------------------------

def _set_dtype(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, dtype: str) -> None:
    torch_module.to(getattr(torch, dtype))
    paddle_module.to(dtype=dtype)


def _is_stochastic_torch(m: torch.nn.Module) -> bool:
    return isinstance(m, torch.nn.modules.dropout._DropoutNd) or getattr(m, "stochastic", False)


def _is_stochastic_paddle(m: paddle.nn.Layer) -> bool:
    return isinstance(m, (paddle.nn.Dropout, paddle.nn.Dropout2D, paddle.nn.Dropout3D, paddle.nn.AlphaDropout)) \
        or getattr(m, "stochastic", False)


def _torch_train_mode(torch_module: torch.nn.Module) -> list[str]:
    """Train mode with stochastic layers in eval; returns the names of those layers."""
    torch_module.train()
    frozen = []
    for name, m in torch_module.named_modules():
        if _is_stochastic_torch(m):
            m.eval()
            frozen.append(name)
    return frozen


def _paddle_train_mode(paddle_module: paddle.nn.Layer) -> None:
    """Train mode with stochastic layers in eval, as _torch_train_mode."""
    paddle_module.train()
    for _, m in paddle_module.named_sublayers():
        if _is_stochastic_paddle(m):
            m.eval()


def _train_mode(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer) -> list[str]:
    """Both sides in train mode with stochastic layers in eval; returns torch's names of those layers."""
    frozen = _torch_train_mode(torch_module)
    _paddle_train_mode(paddle_module)
    return frozen


def _tensors(out: Any) -> list[Any]:
    """Flatten a model output (tensor, tuple, list, dict, namedtuple) into a list of tensors."""
    if isinstance(out, (torch.Tensor, paddle.Tensor)):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _tensors(v)]
    return []


class _Projections:
    """Fixed random weights for the outputs that are not logits, one array per (output index,
    shape), made on first use. The eval and train modes of a model may return different numbers
    of outputs (Inception's and GoogLeNet's aux heads exist only in train mode), so the weights
    cannot be drawn up front from the eval outputs: every train-mode output must enter the loss."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.arrays: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}

    def __call__(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        key = (index, tuple(shape))
        if key not in self.arrays:
            self.arrays[key] = np.random.RandomState([self.seed, index]).standard_normal(key[1])
        return self.arrays[key]


def _is_logits(o: Any, labels: np.ndarray | None) -> bool:
    return o.ndim == 2 and labels is not None and o.shape[0] == len(labels)


def _torch_loss(outs: list[torch.Tensor], labels: np.ndarray, proj: _Projections) -> torch.Tensor:
    loss = 0
    for i, o in enumerate(outs):
        if _is_logits(o, labels):
            loss = loss + torch.nn.functional.cross_entropy(o, torch.from_numpy(labels))
        else:
            loss = loss + (o * torch.from_numpy(proj(i, tuple(o.shape))).to(o.dtype)).sum()
    return loss


def _paddle_loss(outs: list[paddle.Tensor], labels: np.ndarray, proj: _Projections) -> paddle.Tensor:
    loss = 0
    for i, o in enumerate(outs):
        if _is_logits(o, labels):
            loss = loss + paddle.nn.functional.cross_entropy(o, paddle.to_tensor(labels))
        else:
            loss = loss + (o * paddle.to_tensor(proj(i, tuple(o.shape))).astype(o.dtype)).sum()
    return loss


# --- divergence locator -----------------------------------------------------------------

def _record(module: Any, is_torch: bool) -> tuple[list[tuple[str, Any]], list[Any]]:
    """Forward hooks on every sublayer, recording (name, first output tensor) in completion order."""
    records: list[tuple[str, Any]] = []
    handles = []
    named = module.named_modules() if is_torch else module.named_sublayers(include_self=True)
    for name, m in named:
        def hook(_m, _inp, out, _name=name or "<model>"):
            ts = _tensors(out)
            if ts:
                records.append((_name, ts[0].detach().cpu().numpy() if is_torch else ts[0].numpy()))
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
    try:
        with torch.no_grad():
            torch_module(torch.from_numpy(x))
        with paddle.no_grad():
            paddle_module(paddle.to_tensor(x))
    except Exception as exc:  # a forward that raises is itself the divergence
        return f"forward raised {type(exc).__name__}: {exc}"
    finally:
        for h in t_h + p_h:
            h.remove()
    where = _first_mismatch(t_rec, p_rec, dtype, tol)
    if where is not None:
        return f"first divergent layer: {where}"
    return "no single layer's output exceeds the tolerance (the difference builds up across layers)"


def _record_grads(module: Any, is_torch: bool) -> tuple[list[tuple[str, Any]], list[Any]]:
    """Hooks that record the gradient reaching each sublayer's output, in backward order."""
    records: list[tuple[str, Any]] = []
    handles = []
    named = module.named_modules() if is_torch else module.named_sublayers(include_self=True)
    for name, m in named:
        def hook(_m, _inp, out, _name=name or "<model>"):
            ts = _tensors(out)
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
                           labels: np.ndarray | None, proj: _Projections, dtype: str, tol: float) -> str:
    """Name the first layer, in backward order, whose output gradient differs beyond ``tol``.

    The layer that produced the wrong gradient is the one that consumes this output
    (next in forward order). Matching is by name, else by order, as in locate_divergence.
    """
    t_rec, t_h = _record_grads(torch_module, True)
    p_rec, p_h = _record_grads(paddle_module, False)
    try:
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        xp = paddle.to_tensor(x.copy(), stop_gradient=False)
        _torch_loss(_tensors(torch_module(xt)), labels, proj).backward()
        _paddle_loss(_tensors(paddle_module(xp)), labels, proj).backward()
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
        err = _errs([(name, t_arr, p_arr)], dtype)[0][1]
        if err.max_rel > tol:
            where = name if p_name == name else f"{name} (torch) / {p_name} (paddle)"
            shapes = "" if np.shape(t_arr) == np.shape(p_arr) else f", shapes {list(np.shape(t_arr))} vs {list(np.shape(p_arr))}"
            return f"{where} (max_abs {err.max_abs:.2e}, max_rel {err.max_rel:.2e}{shapes})"
    return None


# --- the comparison -------------------------------------------------------------------

def compare_modules(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, *,
                    inputs: np.ndarray | None = None, input_shape: Sequence[int] | None = None,
                    dtype: str = "float64", train: bool = True, grads: bool = True, steps: int = 3,
                    num_classes: int | None = None, expected_params: int | None = None,
                    copy_weights: bool = True, seed: int = 0, name: str = "model",
                    dims: int | None = None) -> Report:
    """Compare a torch module and a paddle layer that are meant to be the same network.

    Works on any pair whose state dicts map by name (BN buffers renamed, Linear weights
    transposed); otherwise the structure check lists every key that does not. With
    ``copy_weights`` the torch weights are copied into paddle first; without it, the
    ``copy`` check reports where the two sides' weights differ. Both modules are cast
    to ``dtype`` and changed by the optimizer checks (they end up trained a few steps).
    """
    import time

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if inputs is None and input_shape is None:
        raise ValueError("give inputs= (an array) or input_shape=")
    start = time.perf_counter()
    rng = np.random.RandomState(seed)
    x = np.asarray(inputs if inputs is not None else rng.standard_normal(tuple(input_shape))).astype(dtype)
    report = Report(name, dims, dtype)
    _set_dtype(torch_module, paddle_module, dtype)

    kmap = W.key_map(torch_module, paddle_module)
    structure = _check_structure(torch_module, paddle_module, kmap, expected_params)
    report.checks.append(structure)
    if kmap.problems:
        report.seconds = time.perf_counter() - start
        return report
    report.checks.append(_check_copy(torch_module, paddle_module, kmap, copy_weights))
    # Every check starts from the same weights: torch's, and paddle's own (equal to
    # torch's after a copy, or the user's when copy_weights=False).
    t_initial = {k: v.detach().clone() for k, v in torch_module.state_dict().items()}
    # After a copy paddle's initial weights are torch's (the copy check proved the round trip
    # exact), so they are made again from t_initial rather than held twice: a float64 VGG is
    # 1 GB per copy, and the step checks hold several more (gradients, optimizer state).
    p_initial = None if copy_weights else {k: W.to_numpy(v) for k, v in paddle_module.state_dict().items()}

    def load_paddle_initial(layer: paddle.nn.Layer) -> None:
        W.load_paddle(layer, p_initial if p_initial is not None else kmap.to_paddle(t_initial))

    def reset() -> None:
        torch_module.load_state_dict(t_initial)
        load_paddle_initial(paddle_module)
        # Gradients of an earlier check would otherwise stay allocated through the next.
        torch_module.zero_grad(set_to_none=True)
        paddle_module.clear_gradients(set_to_zero=False)

    def torch_twin() -> torch.nn.Module:
        # A second torch copy at the initial weights, for the rounding-sensitivity baseline.
        twin = copy.deepcopy(torch_module)
        twin.load_state_dict(t_initial)
        return twin

    def paddle_twin() -> paddle.nn.Layer:
        # The same for paddle (see _rejudge_train).
        twin = copy.deepcopy(paddle_module)
        load_paddle_initial(twin)
        return twin

    reset()
    tol = TOLERANCES[dtype]
    torch_module.eval()
    paddle_module.eval()
    with torch.no_grad():
        t_out = _tensors(torch_module(torch.from_numpy(x)))
    with paddle.no_grad():
        p_out = _tensors(paddle_module(paddle.to_tensor(x)))
    check = _judge("eval_forward", dtype, _output_pairs(t_out, p_out))
    if not check.passed:
        check.detail = locate_divergence(torch_module, paddle_module, x, dtype, tol["eval_forward"])
    report.checks.append(check)
    n_out = len(t_out)
    out_shape = tuple(t_out[0].shape) if t_out else ()
    if num_classes is None and len(out_shape) == 2:
        num_classes = out_shape[1]
    labels = rng.randint(0, num_classes, size=x.shape[0]).astype("int64") if num_classes else None
    proj = _Projections(rng.randint(2**31))

    if train and grads:
        report.checks.extend(_check_train(torch_module, paddle_module, kmap, x, labels, proj, dtype, report,
                                           torch_twin, seed, paddle_twin))
        reset()
    if train and steps > 0:
        batches = [rng.standard_normal(x.shape).astype(dtype) for _ in range(steps)]
        for opt in ("sgd", "adam"):
            report.checks.append(_check_steps(torch_module, paddle_module, kmap, batches, labels, proj, dtype, opt,
                                               torch_twin, seed))
            reset()
    if n_out > 1:
        report.notes.append(f"in eval mode the model returns {n_out} tensors; every one is compared")
    report.seconds = time.perf_counter() - start
    return report


def _output_pairs(t_out: list, p_out: list) -> list[tuple[str, Any, Any]]:
    if len(t_out) != len(p_out):
        return [(f"outputs (torch returns {len(t_out)} tensors, paddle {len(p_out)})", np.zeros(1), np.full(1, np.nan))]
    return [(f"output[{i}]", W.to_numpy(a), W.to_numpy(b)) for i, (a, b) in enumerate(zip(t_out, p_out))]


def _trainable(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer) -> tuple[int, int]:
    nt = sum(p.numel() for p in torch_module.parameters() if p.requires_grad)
    np_ = sum(int(math.prod(p.shape)) for p in paddle_module.parameters() if not p.stop_gradient)
    return nt, np_


def _check_structure(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, kmap: W.KeyMap,
                     expected: int | None) -> Check:
    nt, np_ = _trainable(torch_module, paddle_module)
    problems = list(kmap.problems)
    if nt != np_:
        problems.append(f"trainable parameters differ: torch {nt:,} vs paddle {np_:,}")
    if expected is not None and nt != expected:
        problems.append(f"trainable parameters {nt:,} differ from the published {expected:,}")
    how = "by construction order (the names differ)" if kmap.by_order else "by name"
    detail = "; ".join(problems) if problems else (
        f"{len(kmap.pairs)} tensors map 1:1 {how}; {nt:,} trainable parameters"
        + (f" = published {expected:,}" if expected is not None else ""))
    return Check("structure", not problems, metric="exact", detail=detail)


def _check_copy(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, kmap: W.KeyMap,
                copy_weights: bool) -> Check:
    """torch -> paddle (when asked), then paddle -> torch must give back the torch tensors exactly."""
    if copy_weights:
        W.load_paddle(paddle_module, kmap.to_paddle(torch_module))
    back = kmap.to_torch(paddle_module, torch_module)
    # torch.equal first: bit-identity is the rule, and the difference is only worth computing
    # where it fails (this runs over 138M VGG-16 weights).
    diffs = {k: 0.0 if torch.equal(v.detach(), back[k]) else float((v.detach() - back[k]).abs().max())
             for k, v in torch_module.state_dict().items() if v.is_floating_point() and v.numel()}
    bad = [k for k, d in diffs.items() if d != 0.0]
    agg_abs = max(diffs.values(), default=0.0)
    agg_rel = 0.0 if not bad else math.inf
    detail = ("torch -> paddle -> torch is bit-identical" if copy_weights else "paddle weights equal torch's") \
        if not bad else f"tensors that differ: {', '.join(bad)}"
    return Check("copy", not bad, agg_abs, agg_rel, None, 0.0, "exact", detail)


def _check_train(torch_module, paddle_module, kmap, x, labels, proj, dtype, report, torch_twin, seed,
                 paddle_twin=None) -> list[Check]:
    frozen = _train_mode(torch_module, paddle_module)
    if frozen:
        report.notes.append(f"train checks run with dropout/stochastic layers in eval mode: {', '.join(frozen)}")
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    xp = paddle.to_tensor(x.copy(), stop_gradient=False)
    t_outs, p_outs = _tensors(torch_module(xt)), _tensors(paddle_module(xp))
    if len(t_outs) != len(p_outs):
        report.notes.append(f"in train mode torch returns {len(t_outs)} tensors, paddle {len(p_outs)}")
    elif len(t_outs) > 1:
        report.notes.append(f"in train mode the model returns {len(t_outs)} tensors; every one enters the loss")
    lt = _torch_loss(t_outs, labels, proj)
    lp = _paddle_loss(p_outs, labels, proj)
    lt.backward()
    lp.backward()
    checks = [_judge("train_loss", dtype, [("loss", lt.detach().numpy(), lp.numpy())])]
    gp = xp.grad
    checks.append(_judge("train_input_grad", dtype, [
        ("input", xt.grad.numpy(), gp.numpy() if gp is not None else np.full(x.shape, np.nan))]))
    checks.append(_judge("train_param_grads", dtype, _grad_pairs(torch_module, paddle_module, kmap)))
    idle = [n for n, t in torch_module.named_parameters() if t.requires_grad and t.grad is None]
    if idle:
        # Compared as zeros on both sides, so say which ones the loss never reached.
        report.notes.append(f"{len(idle)} parameters get no gradient in train mode: "
                            f"{', '.join(idle[:4])}{', ...' if len(idle) > 4 else ''}")
    bn = [p for p in kmap.pairs if p.torch.endswith(("running_mean", "running_var"))]
    t_sd, p_sd = torch_module.state_dict(), paddle_module.state_dict()
    checks.append(_judge("bn_stats", dtype, [(p.torch, t_sd[p.torch].numpy(), p_sd[p.paddle].numpy()) for p in bn],
                         detail="" if bn else "no BatchNorm in the model"))
    if not (checks[1].passed and checks[2].passed):
        # First the sharp explanation (activations on opposite sides of a ReLU kink, judged at
        # the fixed tolerances), then the statistical one (each framework's own rounding).
        checks[1:3] = _rejudge_with_aligned_kinks(torch_module, paddle_module, kmap, x, labels, proj, dtype,
                                                  checks[1:3], gp.numpy() if gp is not None else None)
    if not all(c.passed for c in checks):
        paddle_side = _PaddleRun(paddle_module, paddle_twin, p_outs, lp, gp.numpy() if gp is not None else None,
                                 [p.paddle for p in bn]) if paddle_twin is not None else None
        checks = _rejudge_train(torch_module, torch_twin(), lt, t_outs, xt, x, labels, proj, dtype, checks,
                                [p.torch for p in bn], seed, paddle_side)
    if not checks[0].passed:
        # Eval forward agreed, so look for the layer that behaves differently in train mode.
        checks[0].detail = locate_divergence(torch_module, paddle_module, x, dtype, TOLERANCES[dtype]["eval_forward"])
    elif not (checks[1].passed and checks[2].passed):
        # The forward agrees; find where the backward pass parts.
        where = locate_grad_divergence(torch_module, paddle_module, x, labels, proj, dtype,
                                       TOLERANCES[dtype]["train_input_grad"])
        for c in checks[1:3]:
            if not c.passed:
                c.detail = (c.detail + "; " if c.detail else "") + where
    return checks


def _rejudge_train(torch_module, twin, lt, t_outs, xt, x, labels, proj, dtype, checks, bn_keys, seed,
                   paddle_side=None) -> list[Check]:
    """The failed train checks (loss, input and parameter gradients, BN statistics) judged
    again against torch's own error on the reference run (see SENSITIVITY_FACTOR), and
    against paddle's own on the same kind of run where ``paddle_side`` (a _PaddleRun) is
    given: the larger decides. Each framework's float32 kernels round differently (paddle's
    float32 BatchNorm backward on a handful of values per channel loses more than torch's),
    and a port is judged by whether the two differ by more than either's own rounding;
    a porting mistake is in paddle's reference run as well, so it cannot excuse itself.

    torch's own error on the loss also counts its error on the train-mode outputs the loss
    is computed from: the loss is one number, whose error can cancel to almost nothing in
    one run and not in the next."""
    twin, twin_input = _reference(twin, dtype, seed)
    _torch_train_mode(twin)
    xt2 = torch.from_numpy(twin_input(x, 0)).requires_grad_(True)
    twin_outs = _tensors(twin(xt2))
    l2 = _torch_loss(twin_outs, labels, proj)
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
    return [c if c.passed else _rejudge(c, _own_error(c.metric, dtype, own_pairs[c.name]), dtype,
                                        paddle_own=None if paddle_pairs is None else
                                        _own_error(c.metric, dtype, paddle_pairs[c.name]))
            for c in checks]


@dataclass
class _PaddleRun:
    """What paddle's side of a train check produced, and a factory for a copy of the layer at
    the check's initial weights: enough to measure paddle's own rounding like torch's."""

    module: Any
    twin: Callable[[], Any]
    outs: list[Any]
    loss: Any
    input_grad: np.ndarray | None
    bn_keys: list[str]

    def own_pairs(self, dtype: str, seed: int, x: np.ndarray, labels, proj) -> dict[str, list]:
        """Per-check (name, paddle's array, reference array) pairs, where the reference run is
        paddle in float64 (for float32) or paddle with one-ulp changes to every input and
        weight (for float64), as torch's reference run is made (see _reference)."""
        twin = self.twin()
        if dtype == "float32":
            twin.to(dtype="float64")
            inp = x.astype(np.float64)
        else:
            with paddle.no_grad():
                for i, q in enumerate(twin.parameters()):
                    if not q.stop_gradient and int(np.prod(q.shape)):
                        q.set_value(_one_ulp(q.numpy(), seed + 7919 * (i + 1)))
            inp = _one_ulp(x, seed)
        _paddle_train_mode(twin)
        xp2 = paddle.to_tensor(inp, stop_gradient=False)
        outs2 = _tensors(twin(xp2))
        l2 = _paddle_loss(outs2, labels, proj)
        l2.backward()
        mine, theirs = dict(self.module.named_parameters()), dict(twin.named_parameters())
        sd, twin_sd = self.module.state_dict(), twin.state_dict()
        return {
            "train_loss": [("loss", self.loss.numpy(), l2.numpy())] + [
                (f"output {i}", a.numpy(), b.numpy()) for i, (a, b) in enumerate(zip(self.outs, outs2))],
            "train_input_grad": [("input", self.input_grad, xp2.grad.numpy())]
            if self.input_grad is not None and xp2.grad is not None else [],
            "train_param_grads": [(n, q.grad.numpy(), theirs[n].grad.numpy()) for n, q in mine.items()
                                  if q.grad is not None and theirs[n].grad is not None],
            "bn_stats": [(k, sd[k].numpy(), twin_sd[k].numpy()) for k in self.bn_keys],
        }


# --- activation kinks ---------------------------------------------------------------------

# ReLU-type layers and the inputs at which their derivative jumps.
_TORCH_KINKED = {torch.nn.ReLU: (0.0,), torch.nn.ReLU6: (0.0, 6.0)}
_PADDLE_KINKED = {paddle.nn.ReLU: (0.0,), paddle.nn.ReLU6: (0.0, 6.0)}


def _kinks(m: Any, table: dict[type, tuple[float, ...]]) -> tuple[float, ...] | None:
    return table.get(type(m))


def _paddle_kink_outputs(paddle_module: paddle.nn.Layer, x: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Train-mode outputs of every ReLU/ReLU6 layer of ``paddle_module`` on ``x``, by layer
    name in call order (a layer called twice gives two arrays)."""
    out: dict[str, list[np.ndarray]] = {}
    handles = []
    for name, m in paddle_module.named_sublayers():
        if _kinks(m, _PADDLE_KINKED) is not None:
            handles.append(m.register_forward_post_hook(
                lambda _m, _i, o, _n=name: out.setdefault(_n, []).append(o.numpy().copy())))
    try:
        with paddle.no_grad():
            paddle_module(paddle.to_tensor(x))
    finally:
        for h in handles:
            h.remove()
    return out


def _rejudge_with_aligned_kinks(torch_module, paddle_module, kmap, x, labels, proj, dtype, grad_checks,
                                paddle_input_grad) -> list[Check]:
    """Failed gradient checks judged again with torch's ReLU/ReLU6 layers told which side
    of the kink paddle's rounding put each activation on, wherever the two disagree and the
    activation lies within the eval_forward tolerance of the kink.

    In float32 the forward error of a deep net on a small batch reaches ~1e-4 of an
    activation's scale, so now and then one activation sits closer to a ReLU's kink than
    that: one framework zeroes its gradient and the other passes it on, and the gradients
    of everything before it move by percents. Both are right to the rounding; this shows it
    by giving torch paddle's side at exactly those elements and comparing again at the
    fixed tolerances. Only module activations (nn.ReLU, nn.ReLU6) can be seen; the check's
    detail states every element moved.
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
    t_names = [n for n, m in torch_module.named_modules() if _kinks(m, _TORCH_KINKED) is not None]
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

    # The aligned pass overwrites torch's gradients; they are put back unless it explains the failure.
    saved = {n: None if q.grad is None else q.grad.clone() for n, q in torch_module.named_parameters()}
    handles, inplace = [], []
    for name, m in torch_module.named_modules():
        if name in rename:
            inplace.append((m, getattr(m, "inplace", False)))
            m.inplace = False  # the hook needs the activation's input intact
            handles.append(m.register_forward_hook(lambda _m, i, o, _n=name: hook(_m, i, o, _n)))
    try:
        torch_module.zero_grad(set_to_none=True)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        _torch_loss(_tensors(torch_module(xt)), labels, proj).backward()
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
               else "no ReLU/ReLU6 activation falls on opposite sides of a kink")
        return [c if c.passed else replace(c, detail=f"{c.detail}; {why}") for c in grad_checks]
    aligned = [
        _judge("train_input_grad", dtype, [("input", xt.grad.numpy(), paddle_input_grad if paddle_input_grad is not None
                                            else np.full(x.shape, np.nan))]),
        _judge("train_param_grads", dtype, _grad_pairs(torch_module, paddle_module, kmap)),
    ]
    where = ", ".join(f"{n}: {k}" for n, k in moved.items())
    out = []
    for before, after in zip(grad_checks, aligned):
        value = getattr(before, before.metric)
        note = (f"{sum(moved.values())} activations lie within {window:.0e} of their tensor's scale from a ReLU "
                f"kink and fall on opposite sides in the two frameworks ({where}); with torch given paddle's side "
                f"there, {after.metric} {getattr(after, after.metric):.2e} (without: {value:.2e})")
        if after.passed:
            out.append(replace(after, detail=note))
        else:
            out.append(replace(before, detail=f"{before.detail}; {note}") if not before.passed else before)
    if not all(c.passed for c in out):
        restore()
    return out


def _grad_pairs(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer,
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
        tg = tp.grad.numpy() if tp.grad is not None else np.zeros(tuple(tp.shape))

        def paddle_grad(pair=pair, pp=pp) -> np.ndarray:  # made when _errs needs it (see there)
            pg = pp.grad.numpy() if pp.grad is not None else np.zeros(tuple(pp.shape))
            return _transposed(pg) if pair.transpose else pg

        errs.append((pair.torch, tg, paddle_grad))
    return errs


def _torch_optimizer(kind: str, torch_module: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in torch_module.parameters() if p.requires_grad]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=SGD["lr"], momentum=SGD["momentum"], weight_decay=SGD["weight_decay"])
    return torch.optim.Adam(params, lr=ADAM["lr"], betas=ADAM["betas"], eps=ADAM["eps"])


def _optimizers(kind: str, torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer):
    p_params = [p for p in paddle_module.parameters() if not p.stop_gradient]
    if kind == "sgd":
        # torch's weight_decay and paddle's float weight_decay are both L2 added to the gradient.
        return (_torch_optimizer(kind, torch_module),
                paddle.optimizer.Momentum(learning_rate=SGD["lr"], momentum=SGD["momentum"], parameters=p_params,
                                          weight_decay=SGD["weight_decay"]))
    return (_torch_optimizer(kind, torch_module),
            paddle.optimizer.Adam(learning_rate=ADAM["lr"], beta1=ADAM["betas"][0], beta2=ADAM["betas"][1],
                                  epsilon=ADAM["eps"], parameters=p_params))


def _twin_optimizers(kind: str, *modules: torch.nn.Module) -> list[torch.optim.Optimizer]:
    """Train mode (stochastic layers in eval) and a fresh optimizer for each torch twin."""
    opts = []
    for m in modules:
        _torch_train_mode(m)
        opts.append(_torch_optimizer(kind, m))
    return opts


def _state_error(metric: str, dtype: str, clean: torch.nn.Module, other: torch.nn.Module) -> float:
    """The worst error between two torch twins' floating-point state (weights and BN statistics)."""
    other_sd = other.state_dict()
    return _own_error(metric, dtype, [(k, v.numpy(), other_sd[k].numpy())
                                      for k, v in clean.state_dict().items() if v.is_floating_point()])


def _torch_twin_steps(clean: torch.nn.Module, noisy: torch.nn.Module, noisy_input: Callable, batches, labels, proj,
                      dtype, kind, seed, metric: str, grad_noise: float = 0.0) -> float:
    """The worst error, over the steps, between the weights of torch's run and of the
    reference run (see _reference), with the cross-framework check's noise-level zeroing.

    ``grad_noise`` also moves every gradient element of the reference run by that
    fraction of itself, up or down at random: the two frameworks sum in different orders,
    so their gradients on the same weights differ by more than one ulp (by ``grad_noise``,
    measured at the first step), and a chaotic net grows whatever it is given."""
    opts = _twin_optimizers(kind, clean, noisy)
    own = 0.0
    rng = np.random.RandomState(seed + 104729)
    for step, batch in enumerate(batches, 1):
        for m, opt, b in ((clean, opts[0], batch), (noisy, opts[1], noisy_input(batch, step))):
            opt.zero_grad()
            _torch_loss(_tensors(m(torch.from_numpy(b))), labels, proj).backward()
        if grad_noise > 0:
            with torch.no_grad():
                for q in noisy.parameters():
                    if q.grad is not None and q.grad.numel():
                        signs = torch.from_numpy(np.where(rng.rand(*q.grad.shape) < 0.5, -1.0, 1.0))
                        q.grad.mul_(1.0 + grad_noise * signs.to(q.grad.dtype))
        grads = [(a, b) for a, b in zip(clean.parameters(), noisy.parameters())
                 if a.grad is not None and b.grad is not None]
        top = max((float(torch.maximum(a.grad.abs().double(), b.grad.abs().double()).max()) for a, b in grads
                   if a.numel()), default=0.0)
        with torch.no_grad():
            for a, b in grads:
                mask = torch.maximum(a.grad.abs().double(), b.grad.abs().double()) <= NOISE_FLOOR[dtype] * top
                a.grad[mask] = 0
                b.grad[mask] = 0
        for opt in opts:
            opt.step()
        own = max(own, _state_error(metric, dtype, clean, noisy))
    return own


def _torch_shared_twin_steps(clean: torch.nn.Module, wide: torch.nn.Module, batches, labels, proj, dtype, kind,
                             metric: str) -> float:
    """The reference for float32 step checks on shared gradients: torch float32 against a
    float64 copy that runs its own forward (so its BN statistics are float64's) but steps
    on torch float32's gradients, as paddle does in the check. The worst error over the
    steps is what float32's forward alone does to the weights and BN statistics."""
    opts = _twin_optimizers(kind, clean, wide)
    own = 0.0
    for batch in batches:
        for opt in opts:
            opt.zero_grad()
        _torch_loss(_tensors(clean(torch.from_numpy(batch))), labels, proj).backward()
        with torch.no_grad():
            wide(torch.from_numpy(batch.astype(np.float64)))  # float64 BN statistics
            for a, b in zip(clean.parameters(), wide.parameters()):
                b.grad = None if a.grad is None else a.grad.to(b.dtype)
        for opt in opts:
            opt.step()
        own = max(own, _state_error(metric, dtype, clean, wide))
    return own


def _check_steps(torch_module, paddle_module, kmap, batches, labels, proj, dtype, kind, torch_twin=None,
                 seed: int = 0) -> Check:
    """K optimizer steps on the same batches; weights and BN statistics compared after each step.

    float64 runs free: each side steps on its own gradients, which proves the two
    trajectories are the same to rounding. float32 steps on shared gradients: each
    step's gradients are computed on both sides and reported, then paddle steps on
    torch's. A free float32 run of a deep BN net on a tiny batch is chaotic (torch float32
    against torch float64 differs by percents after three Adam steps, see
    SENSITIVITY_FACTOR), so it could show only that; with shared gradients the check
    shows what float32 can: the optimizers, the BN statistics and the train-mode forward
    agree step after step.

    In float64, gradient elements that are rounding noise (at most NOISE_FLOOR of the largest
    gradient on both sides: a bias that BatchNorm cancels, a channel a ReLU switched
    off) are zeroed on both sides before the step, and counted in the report; the
    gradient check has already shown the two sides agree they are ~0. Adam divides
    each element by its own running magnitude, so it would turn noise of 1e-17 (or
    1e-9 in float32) into steps of lr size with an independent random sign per side.
    """
    _train_mode(torch_module, paddle_module)
    t_opt, p_opt = _optimizers(kind, torch_module, paddle_module)
    pairs = kmap.pairs
    t_params = dict(torch_module.named_parameters())
    p_params = dict(paddle_module.named_parameters())
    name = "sgd_steps" if kind == "sgd" else "adam_steps"
    zeroed: dict[str, int] = {}
    per_step: list[Check] = []
    shared = SHARED_GRADIENTS[dtype]
    grad_err = first_grad_diff = 0.0
    for step, batch in enumerate(batches, 1):
        t_opt.zero_grad()
        p_opt.clear_grad()
        _torch_loss(_tensors(torch_module(torch.from_numpy(batch))), labels, proj).backward()
        _paddle_loss(_tensors(paddle_module(paddle.to_tensor(batch))), labels, proj).backward()
        live = [(pair, t_params[pair.torch], p_params[pair.paddle]) for pair in pairs
                if t_params.get(pair.torch) is not None and t_params[pair.torch].grad is not None
                and p_params.get(pair.paddle) is not None and p_params[pair.paddle].grad is not None]

        def paddle_grad(pair, pp) -> np.ndarray:
            pg = pp.grad.numpy()
            return _transposed(pg) if pair.transpose else pg

        if step == 1:
            # Global norm-relative difference of the two sides' gradients on equal weights,
            # one tensor at a time (a float64 VGG's gradients are 1 GB per side).
            diff2 = ref2 = 0.0
            for pair, tp, pp in live:
                pg = paddle_grad(pair, pp).astype(np.float64, copy=False)
                diff2 += float(np.sum((tp.grad.numpy() - pg) ** 2))
                ref2 += float(np.sum(pg ** 2))
            first_grad_diff = math.sqrt(diff2 / max(ref2, 1e-300))
        if shared:
            grads = [(pair, tp, pp, paddle_grad(pair, pp)) for pair, tp, pp in live]
            grad_err = max([grad_err] + [e.norm_rel for _, e in _errs([(pair.torch, tp.grad.numpy(), pg)
                                                                       for pair, tp, _, pg in grads], dtype)])
            for pair, tp, pp, pg in grads:
                tg = tp.grad.numpy()
                tg = tg.astype(pg.dtype, copy=False)
                pp.grad.set_value(_transposed(tg) if pair.transpose else tg)
            del grads
        else:
            top = max((max(_absmax(tp.grad.numpy()), float(pp.grad.abs().max())) for _, tp, pp in live
                       if tp.numel()), default=0.0)
            for pair, tp, pp in live:
                pg = paddle_grad(pair, pp)
                mask = np.maximum(np.abs(tp.grad.numpy()), np.abs(pg)) <= NOISE_FLOOR[dtype] * top
                if mask.any():
                    zeroed[pair.torch] = max(zeroed.get(pair.torch, 0), int(mask.sum()))
                    tp.grad[torch.from_numpy(mask)] = 0
                    kept = np.where(mask, 0, pg)
                    pp.grad.set_value(_transposed(kept) if pair.transpose else kept)
        t_opt.step()
        p_opt.step()
        t_sd, p_sd = torch_module.state_dict(), paddle_module.state_dict()

        def paddle_state(pair) -> np.ndarray:
            pa = p_sd[pair.paddle].numpy()
            return _transposed(pa) if pair.transpose else pa

        per_step.append(_judge(name, dtype, [(f"step {step} {pair.torch}", t_sd[pair.torch].numpy(),
                                              lambda pair=pair: paddle_state(pair)) for pair in pairs]))
    worst = max(per_step, key=lambda c: (not c.passed, c.max_rel or 0.0))
    if not worst.passed and torch_twin is not None and not shared:
        own = _torch_twin_steps(torch_twin(), *_reference(torch_twin(), dtype, seed), batches, labels, proj, dtype,
                                kind, seed, worst.metric, grad_noise=first_grad_diff)
        worst = _rejudge(worst, own, dtype, "torch against torch with one-ulp changes to every input and weight and "
                                            f"its gradients moved by {first_grad_diff:.1e} (the frameworks' step-1 "
                                            "gradient difference)")
    elif not worst.passed and torch_twin is not None:
        own = _torch_shared_twin_steps(torch_twin(), _reference(torch_twin(), dtype, seed)[0], batches, labels, proj,
                                       dtype, kind, worst.metric)
        worst = _rejudge(worst, own, dtype, "torch float32 against torch float64 stepping on the same gradients")
    what = (f"{len(batches)} steps, SGD lr {SGD['lr']:g} momentum {SGD['momentum']:g} "
            f"weight_decay {SGD['weight_decay']:g}"
            if kind == "sgd" else f"{len(batches)} steps, Adam lr {ADAM['lr']:g}")
    if shared:
        what += (f"; paddle stepped on torch's gradients (float32; see SHARED_GRADIENTS), which agreed with paddle's "
                 f"own to norm_rel {grad_err:.1e} or better")
    if zeroed:
        where = ", ".join(sorted(zeroed)) if len(zeroed) <= 4 else f"{len(zeroed)} tensors"
        what += (f"; {sum(zeroed.values()):,} noise-level gradient elements (<= {NOISE_FLOOR[dtype]:.0e} of the "
                 f"largest) zeroed on both sides, in {where}")
    worst.detail = what + (f"; {worst.detail}" if worst.detail else "")
    return worst
