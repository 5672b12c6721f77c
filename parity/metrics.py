"""How far apart two tensors are: max_abs, max_rel and norm_rel per tensor, with a
check-wide scale floor so that rounding noise on an analytically-zero tensor does not count."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

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


# Large tensors are measured CHUNK elements at a time: the float64 difference of a chunk
# stays in cache and is reused, where a whole-tensor difference of VGG's 10^8-element
# classifier weight is a fresh 800 MB allocation (page faults included) per comparison.
# One 102,760,448-element float32 pair (VGG's first classifier weight): 0.28 s chunked against
# 4.6 s for the whole-tensor difference (measured 2026-12-04); vgg11 2D float32 parity: 135 s -> 99 s.
# 2^18 rather than 2^16: a chunk's 2 MB float64 difference still sits in the 32 MB L3, and a
# quarter as many chunks means a quarter of the per-call overhead of the six reductions per
# chunk. The same pair, one thread, four rounds taking turns (2026-12-07), best of each: 2^16
# 0.47 s, 2^17 0.44, 2^18 0.39, 2^19 0.51 (float64 pairs: 0.52, 0.48, 0.43, 0.50).
CHUNK = 1 << 18
# The side of the square tiles in which a matrix is compared with a transposed one: 256x256
# float64 is 512 KiB, level with CHUNK. One 4096x25088 float32 pair, one thread: 0.34 s for
# the tiled difference (128: 0.41 s; bands of 16 whole columns: 0.62 s).
TILE = 256


def _chunks(x: torch.Tensor) -> Iterator[torch.Tensor]:
    flat = x.reshape(-1)
    for start in range(0, flat.numel(), CHUNK):
        yield flat[start:start + CHUNK]


def _top(values: list[float]) -> float:
    """max of values, NaN if any is NaN (Python's max() drops a NaN that is not first)."""
    return math.nan if any(v != v for v in values) else max(values, default=0.0)


def _chunk_absmax(c: torch.Tensor) -> float:
    lo, hi = torch.aminmax(c)
    return max(float(hi), -float(lo)) if hi == hi and lo == lo else math.nan


def _absmax_tensor(x: torch.Tensor) -> float:
    return _top([_chunk_absmax(c) for c in _chunks(x)])


def _sumsq_tensor(x: torch.Tensor) -> float:
    return sum(float(torch.linalg.vector_norm(c, dtype=torch.float64)) ** 2 for c in _chunks(x))


def absmax(x: Any) -> float:
    """max|x| in one pass, without materialising |x| (these arrays reach 10^8 elements for VGG)."""
    x = as_operand(x)
    if isinstance(x, np.ndarray):
        return max(float(x.max()), -float(x.min())) if x.size else 0.0
    return _absmax_tensor(x)


def norm(x: Any) -> float:
    """The Euclidean norm, accumulated in float64 whatever the array's dtype."""
    x = as_operand(x)
    if isinstance(x, np.ndarray):
        flat = x.ravel().astype(np.float64, copy=False)
        return math.sqrt(float(np.dot(flat, flat))) if flat.size else 0.0
    return math.sqrt(_sumsq_tensor(x))


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b in float64. float64 minus float32 casts b element by element inside the
    subtraction: one float64 array (the difference) is made, not three."""
    return a.astype(np.float64, copy=False) - b


def _storage_order(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when contiguous, the contiguous tensor it transposes when it is a
    transposed view (a Linear weight read in the other framework's layout), else a copy.
    Maxima and norms do not depend on the order of the elements, so they are taken on this."""
    if x.is_contiguous():
        return x
    if x.dim() == 2 and x.t().is_contiguous():
        return x.t()
    return x.contiguous()


def _pair_stats(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float, float, float, float]:
    """max|a|, max|b|, ||b||, max|a - b| and ||a - b|| in one pass over both tensors, chunk
    by chunk, each chunk's float64 difference taken in a reused buffer while the chunk is
    in cache.

    Either may be a transposed view of a contiguous matrix (paddle's [in, out] Linear weight
    read as torch's [out, in]). The difference is then taken in TILE x TILE tiles, each
    of which both sides read in cache-sized rows, and nothing is copied to torch's layout.
    Making the transposed side contiguous instead costs a fresh buffer of the whole matrix
    each time: in VGG-16's compare (float32, 64x64), 39 such copies of classifier weights and
    gradients took 19 s of its 53 s, mostly in page faults."""
    if a.is_contiguous() and b.is_contiguous():
        buf = torch.empty(min(CHUNK, a.numel()), dtype=torch.float64)
        atops, btops, dtops, bsq, dsq = [], [], [], 0.0, 0.0
        for ca, cb in zip(_chunks(a), _chunks(b)):
            atops.append(_chunk_absmax(ca))
            btops.append(_chunk_absmax(cb))
            bsq += float(torch.linalg.vector_norm(cb, dtype=torch.float64)) ** 2
            d = buf[:ca.numel()]
            d.copy_(ca)
            d.sub_(cb)
            dtops.append(_chunk_absmax(d))
            dsq += float(torch.linalg.vector_norm(d)) ** 2
        return _top(atops), _top(btops), math.sqrt(bsq), _top(dtops), math.sqrt(dsq)
    a_flat, b_flat = _storage_order(a), _storage_order(b)
    if a.dim() != 2:  # neither is a transposed matrix: both were made contiguous above
        return _pair_stats(a_flat, b_flat)
    rows, cols = a.shape
    dtops, dsq = [], 0.0
    buf = torch.empty(min(TILE, rows) * min(TILE, cols), dtype=torch.float64)
    for i in range(0, rows, TILE):
        h = min(TILE, rows - i)
        for j in range(0, cols, TILE):
            w = min(TILE, cols - j)
            d = buf[:h * w].view(h, w)
            d.copy_(a[i:i + h, j:j + w])
            d.sub_(b[i:i + h, j:j + w])
            dtops.append(_chunk_absmax(d))
            dsq += float(torch.linalg.vector_norm(d)) ** 2
    return _absmax_tensor(a_flat), _absmax_tensor(b_flat), math.sqrt(_sumsq_tensor(b_flat)), _top(dtops), \
        math.sqrt(dsq)


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
        if tuple(a.shape) != tuple(b.shape):
            amax, bmax, bnorm = absmax(a), absmax(b), norm(b)
            n, max_abs, diff_norm = f"{n} (shapes {list(a.shape)} vs {list(b.shape)})", None, None
        elif isinstance(a, torch.Tensor):  # (a tensor has at least SMALL elements)
            amax, bmax, bnorm, max_abs, diff_norm = _pair_stats(a, b)
        else:
            amax, bmax, bnorm = absmax(a), absmax(b), norm(b)
            if a.size == 0:
                max_abs = diff_norm = 0.0
            else:
                diff = _difference(a, b)
                max_abs = absmax(diff)
                diff_norm = norm(diff) if max_abs and math.isfinite(max_abs) else 0.0
                del diff
        if max_abs is not None and not math.isfinite(max_abs):
            n, max_abs, diff_norm = f"{n} (non-finite)", None, None
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
