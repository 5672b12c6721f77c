"""How far apart two tensors are: max_abs, max_rel and norm_rel per tensor, with a
check-wide scale floor so that rounding noise on an analytically-zero tensor does not count."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

# A tensor's relative error is measured against at least this fraction of the largest
# tensor in the same check: a gradient that is analytically zero (a conv bias feeding
# BatchNorm) is rounding noise on both sides, and noise divided by noise means nothing.
# float32 rounding noise reaches ~1e-5 of the largest gradient, float64's ~1e-13.
SCALE_FLOOR = {"float64": 1e-6, "float32": 1e-3}
# A gradient element below this fraction of the largest gradient is taken as


@dataclass
class Err:
    max_abs: float
    max_rel: float
    norm_rel: float

    def value(self, metric: str) -> float:
        return getattr(self, metric)


# Arrays with fewer elements than this are measured in numpy, larger ones in torch.
# Measured (CPU time of one pair, 1 thread, as --jobs runs it): numpy and torch are level
# from 10^4 to 3x10^5 elements (numpy a little ahead below that: ~2 us a call against ~8);
# at 10^6 torch takes 6.5 ms against numpy's 8.0 in float64, 10.3 against 15.5 in float32,
# where numpy first copies to float64. With 2 threads both spin at barriers on this loaded
# 2-core machine (numpy's float64 dot hands 3x10^4 elements to OpenBLAS threads: 15 ms).
SMALL = 1 << 18


def as_operand(value: Any) -> np.ndarray | torch.Tensor:
    """A float32 or float64 array of an array, a tensor, or what a zero-argument callable
    returns: a numpy array under SMALL elements, a torch tensor sharing its memory above.

    Nothing is copied to float64 just to be measured. Other dtypes (integers, booleans)
    become float64."""
    value = value() if callable(value) else value
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.to(torch.float64)
        return t.cpu().numpy() if t.numel() < SMALL else t
    arr = np.asarray(value)
    if arr.dtype not in (np.float32, np.float64) or not arr.dtype.isnative:
        arr = arr.astype(np.float64)
    if arr.size < SMALL:
        return arr
    if not arr.flags.writeable:
        # Read-only arrays (paddle's .numpy() of some tensors) are only read here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(arr if min(arr.strides, default=0) >= 0 else np.ascontiguousarray(arr))
    return torch.from_numpy(arr if min(arr.strides, default=0) >= 0 else np.ascontiguousarray(arr))


def absmax(x: Any) -> float:
    """max|x| in one pass, without materialising |x| (these arrays reach 10^8 elements for VGG)."""
    x = as_operand(x)
    if isinstance(x, np.ndarray):
        return max(float(x.max()), -float(x.min())) if x.size else 0.0
    lo, hi = torch.aminmax(x)
    return max(float(hi), -float(lo))


def norm(x: Any) -> float:
    """The Euclidean norm, accumulated in float64 whatever the array's dtype."""
    x = as_operand(x)
    if isinstance(x, np.ndarray):
        flat = x.ravel().astype(np.float64, copy=False)
        return math.sqrt(float(np.dot(flat, flat))) if flat.size else 0.0
    return float(torch.linalg.vector_norm(x, dtype=torch.float64))


def _difference(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """a - b in float64. float64 minus float32 casts b element by element inside the
    subtraction: one float64 array (the difference) is made, not three."""
    if isinstance(a, np.ndarray):
        return a.astype(np.float64, copy=False) - b
    return a.to(torch.float64) - b


def errors(pairs: Sequence[tuple[str, Any, Any]], dtype: str) -> list[tuple[str, Err]]:
    """Per-tensor errors of (name, a, b) with the check-wide scale floor applied.

    ``a`` and ``b`` may be zero-argument callables that make the array: each is called
    once, and only one pair is held at a time, so a check over a float64 VGG holds one
    converted tensor at a time instead of a second copy of the model. One pass over the
    pairs suffices: the floors change only the denominators, which are formed at the end.
    Large tensors are measured in torch (single-pass reductions, no float64 copies of
    float32 inputs), small ones in numpy (see SMALL); the difference is taken in float64."""
    measured = []  # (name, max|a|, max|b|, ||b||, max|a-b| or None when not comparable, ||a-b||)
    for n, a, b in pairs:
        a, b = as_operand(a), as_operand(b)
        amax, bmax, bnorm = absmax(a), absmax(b), norm(b)
        if tuple(a.shape) != tuple(b.shape):
            n, max_abs, diff_norm = f"{n} (shapes {list(a.shape)} vs {list(b.shape)})", None, None
        elif isinstance(a, np.ndarray) and a.size == 0:  # (a tensor has at least SMALL elements)
            max_abs = diff_norm = 0.0
        else:
            diff = _difference(a, b)
            max_abs = absmax(diff)
            if not math.isfinite(max_abs):
                n, max_abs, diff_norm = f"{n} (non-finite)", None, None
            else:
                diff_norm = norm(diff) if max_abs else 0.0
            del diff
        measured.append((n, amax, bmax, bnorm, max_abs, diff_norm))
    scale = max((max(amax, bmax) for _, amax, bmax, *_ in measured), default=0.0)
    norm_scale = max((bnorm for *_, bnorm, _, _ in measured), default=0.0)
    out = []
    for n, amax, bmax, bnorm, max_abs, diff_norm in measured:
        if max_abs is None:
            out.append((n, Err(math.inf, math.inf, math.inf)))
        elif max_abs == 0.0:
            out.append((n, Err(0.0, 0.0, 0.0)))
        else:
            denom = max(amax, bmax, SCALE_FLOOR[dtype] * scale)
            norm_denom = max(bnorm, SCALE_FLOOR[dtype] * norm_scale)
            out.append((n, Err(max_abs, max_abs / denom if denom > 0 else math.inf,
                               diff_norm / norm_denom if norm_denom > 0 else math.inf)))
    return out
