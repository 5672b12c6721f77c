"""Pair the two sides' records (parity/records.py), then find the first pair that differs.

Twins name their layers and ops alike, and pair by name. Other pairs (torchvision against
paddle.vision, a user's port) pair by a structural signature: the type family (Conv2d and
Conv2D and conv2d are all "conv"), the parameter shapes (torch layout on both sides) and
the output shape, with order as the tie-breaker: a weighted longest common subsequence,
so that one side's extra record (a module-level ReLU against a functional one, a no-op
multiply) leaves every later pair where it belongs. Raw position alone never pairs.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from parity.metrics import errors
from parity.records import Record

# Lower-cased, dimension suffix and underscores removed -> family.
_FAMILIES = {
    "conv": "conv", "convtranspose": "convtranspose", "batchnorm": "bn", "syncbatchnorm": "bn", "bn": "bn",
    "relu": "relu", "relu6": "relu6", "leakyrelu": "leakyrelu", "hardsigmoid": "hardsigmoid",
    "hardswish": "hardswish", "silu": "silu", "swish": "silu", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "gelu",
    "maxpool": "maxpool", "avgpool": "avgpool", "adaptiveavgpool": "adaptiveavgpool",
    "adaptivemaxpool": "adaptivemaxpool", "dropout": "dropout", "linear": "linear", "softmax": "softmax",
    "interpolate": "interpolate", "upsample": "interpolate", "flatten": "flatten", "concat": "concat", "cat": "concat",
    "add": "add", "mul": "mul", "multiply": "mul", "sub": "sub", "subtract": "sub", "div": "div", "divide": "div",
    "mean": "mean", "localresponsenorm": "lrn", "lrn": "lrn", "identity": "identity",
}
KNOWN = frozenset(_FAMILIES.values())


def family(type_name: str) -> str:
    """The family both frameworks' names for one kind of layer or op share ("Conv2D" -> "conv")."""
    t = re.sub(r"[123]d$", "", type_name.lower()).replace("_", "")
    return _FAMILIES.get(t, t)


@dataclass
class Pair:
    """A torch record and its paddle counterpart; one of them is None where the other side has no twin."""

    torch: Record | None
    paddle: Record | None


def _by_name(t_rec: Sequence[Record], p_rec: Sequence[Record]) -> list[Pair] | None:
    """Pairs by (name, occurrence) when the two sides name every record alike, else None."""
    def keyed(recs: Sequence[Record]) -> list[tuple[str, int]]:
        seen: dict[str, int] = {}
        out = []
        for r in recs:
            k = seen.get(r.name, 0)
            seen[r.name] = k + 1
            out.append((r.name, k))
        return out

    tk, pk = keyed(t_rec), keyed(p_rec)
    if set(tk) != set(pk):
        return None
    p_at = dict(zip(pk, p_rec))
    return [Pair(t, p_at[k]) for k, t in zip(tk, t_rec)]


def _codes(values: Iterable, table: dict) -> np.ndarray:
    return np.array([table.setdefault(v, len(table)) for v in values], dtype=np.int64)


def pair_records(t_rec: Sequence[Record], p_rec: Sequence[Record]) -> list[Pair]:
    """Pair the two sides' records; the result is in forward (completion) order, gaps included."""
    named = _by_name(t_rec, p_rec)
    if named is not None:
        return named
    n, m = len(t_rec), len(p_rec)
    tables: list[dict] = [{}, {}, {}, {}, {}]
    feats = []
    for recs in (t_rec, p_rec):
        fam = [family(r.type) for r in recs]
        feats.append((
            _codes((r.name for r in recs), tables[0]),
            _codes(fam, tables[1]),
            _codes((r.params for r in recs), tables[2]),
            _codes((tuple(np.shape(r.output)) for r in recs), tables[3]),
            np.array([f in KNOWN or r.kind == "op" for f, r in zip(fam, recs)]),
        ))
    t_name, t_fam, t_par, t_shape, t_known = feats[0]
    p_name, p_fam, p_par, p_shape, p_known = feats[1]
    score = np.zeros((n, m), dtype=np.int32)
    for i in range(n):
        same_fam = p_fam == t_fam[i]
        same_par = p_par == t_par[i]
        same_shape = p_shape == t_shape[i]
        row = np.where(same_fam, 4 + same_par + same_shape, 0)
        # A different family pairs only leaf to leaf, where everything else agrees: that
        # is where a planted F.leaky_relu stands against the other side's F.relu.
        row = np.where(~same_fam & same_par & same_shape & p_known & t_known[i], 1, row)
        row = np.where(p_name == t_name[i], np.maximum(row, 10), row)
        score[i] = row
    best = np.zeros((n + 1, m + 1), dtype=np.int64)
    for i in range(1, n + 1):
        s = score[i - 1]
        diag = np.where(s > 0, best[i - 1, :-1] + s, -1)
        best[i, 1:] = np.maximum.accumulate(np.maximum(best[i - 1, 1:], diag))
    i, j, back = n, m, []
    while i > 0 and j > 0:
        s = score[i - 1, j - 1]
        if s > 0 and best[i, j] == best[i - 1, j - 1] + s:
            back.append(Pair(t_rec[i - 1], p_rec[j - 1]))
            i, j = i - 1, j - 1
        elif best[i, j] == best[i - 1, j]:
            back.append(Pair(t_rec[i - 1], None))
            i -= 1
        else:
            back.append(Pair(None, p_rec[j - 1]))
            j -= 1
    back += [Pair(t_rec[k], None) for k in range(i - 1, -1, -1)]
    back += [Pair(None, p_rec[k]) for k in range(j - 1, -1, -1)]
    return back[::-1]


@dataclass
class Divergence:
    """The first pair whose outputs (or gradients) differ: both sides' names, types, sources and shapes."""

    torch: Record
    paddle: Record
    max_abs: float
    max_rel: float
    torch_shape: tuple
    paddle_shape: tuple
    grad: bool = False

    @property
    def shapes_differ(self) -> bool:
        return self.torch_shape != self.paddle_shape

    def where(self) -> str:
        """The name (one when both sides share it), then each side's type and source."""
        t, p = self.torch, self.paddle
        head = t.name if t.name == p.name else f"{t.name} (torch) / {p.name} (paddle)"
        what = lambda r: f"{r.type}" + (f" at {r.source}" if r.source else "")  # noqa: E731
        return f"{head} [torch {what(t)}; paddle {what(p)}]"

    def numbers(self) -> str:
        shapes = f", shapes {list(self.torch_shape)} vs {list(self.paddle_shape)}" if self.shapes_differ else ""
        return f"max_abs {self.max_abs:.2e}, max_rel {self.max_rel:.2e}{shapes}"

    def describe(self) -> str:
        return f"{self.where()} ({self.numbers()})"


def _compare(t: Record, p: Record, a: np.ndarray, b: np.ndarray, dtype: str, tol: float,
             grad: bool) -> Divergence | None:
    ts, ps = tuple(np.shape(a)), tuple(np.shape(b))
    if ts != ps:
        return Divergence(t, p, math.inf, math.inf, ts, ps, grad)
    err = errors([(t.name, a, b)], dtype)[0][1]
    if err.max_rel > tol or not math.isfinite(err.max_rel):
        return Divergence(t, p, err.max_abs, err.max_rel, ts, ps, grad)
    return None


def first_divergence(pairs: Sequence[Pair], dtype: str, tol: float) -> Divergence | None:
    """The first pair, in forward order, whose outputs differ beyond ``tol`` (max_rel) or in shape."""
    for pair in pairs:
        if pair.torch is None or pair.paddle is None:
            continue
        found = _compare(pair.torch, pair.paddle, pair.torch.output, pair.paddle.output, dtype, tol, False)
        if found is not None:
            return found
    return None


def first_grad_divergence(pairs: Sequence[Pair], dtype: str, tol: float) -> Divergence | None:
    """The first pair, in backward order (forward order reversed), whose output gradients differ."""
    for pair in reversed(pairs):
        if pair.torch is None or pair.paddle is None or pair.torch.grad is None or pair.paddle.grad is None:
            continue
        found = _compare(pair.torch, pair.paddle, pair.torch.grad, pair.paddle.grad, dtype, tol, True)
        if found is not None:
            return found
    return None
