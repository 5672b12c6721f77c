"""How far apart two tensors are: max_abs, max_rel and norm_rel per tensor, with a
check-wide scale floor so that rounding noise on an analytically-zero tensor does not count."""
from __future__ import annotations

import math
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


def absmax(x: np.ndarray) -> float:
    # max|x| without materialising |x| (these arrays reach 10^8 elements for VGG)
    return max(float(x.max()), -float(x.min())) if x.size else 0.0


def norm(x: np.ndarray) -> float:
    flat = x.ravel()
    return math.sqrt(float(np.dot(flat, flat))) if flat.size else 0.0


def as_array(value: Any) -> np.ndarray:
    """A float64 view or copy of an array, or of what a zero-argument callable returns."""
    return np.asarray(value() if callable(value) else value, dtype=np.float64)


def errors(pairs: Sequence[tuple[str, Any, Any]], dtype: str) -> list[tuple[str, Err]]:
    """Per-tensor errors of (name, a, b) with the check-wide scale floor applied.

    ``a`` and ``b`` may be zero-argument callables that make the array: they are called
    once per pass (the floors need every tensor's scale first), so a check over a float64
    VGG holds one converted tensor at a time instead of a second copy of the model."""
    stats = []
    for _, a, b in pairs:
        a, b = as_array(a), as_array(b)
        stats.append((absmax(a), absmax(b), norm(b)))
    scale = max((max(sa, sb) for sa, sb, _ in stats), default=0.0)
    norm_scale = max((nb for *_, nb in stats), default=0.0)
    out = []
    for (n, a, b), (amax, bmax, bnorm) in zip(pairs, stats):
        a, b = as_array(a), as_array(b)
        if a.shape != b.shape:
            out.append((f"{n} (shapes {list(a.shape)} vs {list(b.shape)})", Err(math.inf, math.inf, math.inf)))
            continue
        if a.size == 0:
            out.append((n, Err(0.0, 0.0, 0.0)))
            continue
        diff = a - b
        max_abs = absmax(diff)
        if not math.isfinite(max_abs):
            out.append((f"{n} (non-finite)", Err(math.inf, math.inf, math.inf)))
            continue
        if max_abs == 0.0:
            out.append((n, Err(0.0, 0.0, 0.0)))
            continue
        denom = max(amax, bmax, SCALE_FLOOR[dtype] * scale)
        norm_denom = max(bnorm, SCALE_FLOOR[dtype] * norm_scale)
        out.append((n, Err(max_abs, max_abs / denom if denom > 0 else math.inf,
                           norm(diff) / norm_denom if norm_denom > 0 else math.inf)))
    return out

