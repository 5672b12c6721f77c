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


def transposed(x: np.ndarray) -> np.ndarray:
    """A C-contiguous transpose of a 2-D array (a Linear weight), made by torch: numpy's is
    2-3x slower, and strided views make every later pass over the array slow too."""
    return torch.from_numpy(np.ascontiguousarray(x)).t().contiguous().numpy()


def as_tensor(value: Any) -> torch.Tensor:
    """A float32 or float64 tensor of an array, a tensor, or what a zero-argument callable returns.

    numpy float arrays and torch tensors are used in place (``torch.from_numpy`` shares the
    memory): no float64 copy of a float32 array is made just to measure it. Other dtypes
    (integers, booleans) become float64."""
    value = value() if callable(value) else value
    if isinstance(value, torch.Tensor):
        t = value.detach()
    else:
        arr = np.asarray(value)
        if arr.dtype not in (np.float32, np.float64) or not arr.dtype.isnative:
            arr = arr.astype(np.float64)
        try:
            with warnings.catch_warnings():
                # Read-only arrays (paddle's .numpy() of some tensors) are only read here.
                warnings.simplefilter("ignore", UserWarning)
                t = torch.from_numpy(arr)
        except ValueError:  # negative strides, which torch cannot view
            t = torch.from_numpy(np.ascontiguousarray(arr))
    return t if t.dtype in (torch.float32, torch.float64) else t.to(torch.float64)


def absmax(x: Any) -> float:
    """max|x| in one pass, without materialising |x| (these arrays reach 10^8 elements for VGG)."""
    t = as_tensor(x)
    if t.numel() == 0:
        return 0.0
    lo, hi = torch.aminmax(t)
    return max(float(hi), -float(lo))


def norm(x: Any) -> float:
    """The Euclidean norm, accumulated in float64 whatever the array's dtype."""
    t = as_tensor(x)
    return float(torch.linalg.vector_norm(t, dtype=torch.float64)) if t.numel() else 0.0


def errors(pairs: Sequence[tuple[str, Any, Any]], dtype: str) -> list[tuple[str, Err]]:
    """Per-tensor errors of (name, a, b) with the check-wide scale floor applied.

    ``a`` and ``b`` may be zero-argument callables that make the array: each is called
    once, and only one pair is held at a time, so a check over a float64 VGG holds one
    converted tensor at a time instead of a second copy of the model. One pass over the
    pairs suffices: the floors change only the denominators, which are formed at the end.
    Computed in torch (multi-threaded reductions, no float64 copies of float32 inputs);
    the difference is taken in float64, as exact as numpy's float64 arrays gave it."""
    measured = []  # (name, max|a|, max|b|, ||b||, max|a-b| or None when not comparable, ||a-b||)
    for n, a, b in pairs:
        a, b = as_tensor(a), as_tensor(b)
        amax, bmax, bnorm = absmax(a), absmax(b), norm(b)
        if a.shape != b.shape:
            n, max_abs, diff_norm = f"{n} (shapes {list(a.shape)} vs {list(b.shape)})", None, None
        elif a.numel() == 0:
            max_abs = diff_norm = 0.0
        else:
            # float64 minus float32 casts b element by element inside the subtraction: one
            # float64 array (the difference) is made, not three.
            diff = a.to(torch.float64) - b
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
