"""Tolerances, and the verdict of a check: the worst tensor on the check's metric decides;
a failed check may be judged once more against a reference run's own error (``rejudge``)."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator, Sequence

import numpy as np

from parity.metrics import errors
from parity.results import Check
from zoo.verdicts import nothing_compared

DTYPES = ("float64", "float32")

# Tolerances on the metric each check uses. float64 proves exactness: outputs agree to
# ~1e-13; input gradients to ~1e-6 for any pair (paddle's built-in float64 average pools
# divide in float32 in their backward, and a user's port may call them), and to ~1e-10 for
# pairs whose float64 paths are exact, as the zoo's are (see EXACT_FLOAT64); parameter
# gradients sum over the batch and the map, and a bias that BatchNorm cancels has a
# gradient of rounding size, so they agree to ~2e-9 only; paddle's optimizers keep
# momentum and the L2 coefficient in float32, so weights after steps agree to ~1e-7.
# float32 is what users run: train-mode gradients use a norm-relative bound because one
# ReLU input near 0 that flips sign spreads through a channel's batch statistics (and a
# flip that moves them further is shown to be only that; see rejudge_with_aligned_kinks).
TOLERANCES: dict[str, dict[str, float]] = {
    "float64": {"eval_forward": 1e-10, "train_loss": 1e-10, "train_input_grad": 1e-6, "train_param_grads": 1e-6,
                "bn_stats": 1e-10, "sgd_steps": 1e-6, "adam_steps": 1e-6, "onnx": 1e-4},
    "float32": {"eval_forward": 1e-4, "train_loss": 1e-5, "train_input_grad": 1e-2, "train_param_grads": 1e-2,
                "bn_stats": 1e-4, "sgd_steps": 1e-3, "adam_steps": 1e-3, "onnx": 1e-4},
}
# Tighter float64 bounds for a pair built to be exact in float64: the project's twins use
# paddle_impl's exact float64 average pools and explicit float64 BatchNorm, and write the
# hard sigmoid as relu6(x + 3) / 6, so their input gradients agree to rounding (the zoo's
# worst at the parity size on 2026-12-03: 6.4e-11, EfficientNet-B1). 1e-9 then catches a
# half-float32 op in a float64 path (paddle's float32-dividing pool backward, torch's
# float32 1/6 in its built-in Hardsigmoid backward: 4e-9 to 6e-9). parity.harness runs the
# zoo under exact_float64(); compare_modules(exact_float64=True) asks for it on any pair.
EXACT_FLOAT64: dict[str, float] = {"train_input_grad": 1e-9}
_EXACT: contextvars.ContextVar[bool] = contextvars.ContextVar("exact_float64", default=False)


@contextlib.contextmanager
def exact_float64(on: bool = True) -> Iterator[None]:
    """Judge float64 checks with EXACT_FLOAT64's bounds inside the block."""
    token = _EXACT.set(on)
    try:
        yield
    finally:
        _EXACT.reset(token)


def tolerance(dtype: str, name: str) -> float:
    """The bound of check ``name`` in ``dtype``: TOLERANCES, or EXACT_FLOAT64 inside exact_float64()."""
    if dtype == "float64" and _EXACT.get() and name in EXACT_FLOAT64:
        return EXACT_FLOAT64[name]
    return TOLERANCES[dtype][name]


# The metric a check's tolerance applies to: "max_rel" is max|a-b| / max(|a|, |b|) over a
# tensor, "norm_rel" is ||a-b|| / ||b||. The worst tensor of a check decides.
METRICS: dict[str, dict[str, str]] = {
    "float64": {"adam_steps": "norm_rel"},
    "float32": {"train_input_grad": "norm_rel", "train_param_grads": "norm_rel", "adam_steps": "norm_rel"},
}

# Optimizer settings of the step checks: powers of two and sums of a few, close to the


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
# float32 kernels can round worse than torch's; see rejudge_train).
SENSITIVITY_FACTOR = 5.0


def judge(name: str, dtype: str, pairs: Sequence[tuple[str, Any, Any]], detail: str = "") -> Check:
    """A check from (name, torch array, paddle array) pairs: the worst tensor on the check's metric decides."""
    tol = tolerance(dtype, name)
    metric = METRICS[dtype].get(name, "max_rel")
    arrays = [a for _, a, _ in pairs if not callable(a)]
    empty = nothing_compared([np.shape(a) for a in arrays]) if len(arrays) == len(pairs) else None
    if empty is not None:  # a check that compared nothing cannot pass
        return Check(name, False, None, None, None, tol, metric, (detail + "; " if detail else "") + empty)
    errs = errors(pairs, dtype)
    worst_name, worst = max(errs, key=lambda ne: ne[1].value(metric))
    passed = worst.value(metric) <= tol
    if not passed:
        detail = (detail + "; " if detail else "") + f"worst: {worst_name} ({metric} {worst.value(metric):.2e})"
    return Check(name, passed, max(e.max_abs for _, e in errs), max(e.max_rel for _, e in errs),
                 max(e.norm_rel for _, e in errs), tol, metric, detail)


def own_error(metric: str, dtype: str, twin_pairs: Sequence[tuple[str, Any, Any]]) -> float:
    return max((e.value(metric) for _, e in errors(twin_pairs, dtype)), default=0.0)


def rejudge(check: Check, own: float, dtype: str, reference: str | None = None,
             paddle_own: float | None = None) -> Check:
    """Judge a failed check again with its tolerance raised to SENSITIVITY_FACTOR times
    ``own``, the error between torch's run and the reference run (see reference), or
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

