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

from parity.align import align
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
    tables: list[dict] = [{}, {}, {}, {}, {}, {}]
    feats = []
    for recs in (t_rec, p_rec):
        fam = [family(r.type) for r in recs]
        feats.append((
            _codes((r.name for r in recs), tables[0]),
            _codes(fam, tables[1]),
            _codes((r.params for r in recs), tables[2]),
            _codes((tuple(np.shape(r.output)) for r in recs), tables[3]),
            np.array([f in KNOWN or r.kind == "op" for f, r in zip(fam, recs)]),
            _codes((r.trainable for r in recs), tables[5]),
            np.array([r.kind == "op" for r in recs]),
        ))
    t_name, t_fam, t_par, t_shape, t_known, t_size, t_kind = feats[0]
    p_name, p_fam, p_par, p_shape, p_known, p_size, p_kind = feats[1]
    score = np.zeros((n, m), dtype=np.int32)
    for i in range(n):
        same_fam = p_fam == t_fam[i]
        same_par = p_par == t_par[i]
        same_shape = p_shape == t_shape[i]
        # A container (a family of no known kind: Sequential, a block class) pairs only with
        # one that holds as many trainable parameters: the one Sequential holding every
        # block is not the other side's last block.
        row = np.where(same_fam & (t_known[i] | (p_size == t_size[i])), 4 + same_par + same_shape, 0)
        # A different family pairs only op with op or known layer with known layer, where
        # everything else agrees: that is where a planted F.leaky_relu stands against the
        # other side's F.relu.
        row = np.where(~same_fam & same_par & same_shape & p_known & t_known[i] & (p_kind == t_kind[i]), 1, row)
        row = np.where(p_name == t_name[i], np.maximum(row, 10), row)
        score[i] = row
    return [Pair(None if i is None else t_rec[i], None if j is None else p_rec[j]) for i, j in align(score)]


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
    # Where records before this one already exceeded the tolerance by rounding-level drift:
    # (the first such record's name, the largest max_rel among them).
    drift: tuple[str, float] | None = None
    # How many torch BatchNorms the locator ran with paddle's float32-rounded epsilon (parity/epsilon.py).
    epsilon_aligned: int = 0

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

    def message(self) -> str:
        """The locator's sentence: "first divergent layer|op: ..." or, for gradients, where in backward order."""
        if self.grad:
            return f"first divergent gradient (backward order) at the output of {self.describe()}"
        return f"first divergent {'op' if self.torch.kind == 'op' else 'layer'}: {self.describe()}"

    def describe(self) -> str:
        drift = "" if self.drift is None else (
            f"; before it, from {self.drift[0]} on, differences up to max_rel {self.drift[1]:.2e} grow gradually "
            f"(an input drift, not a cause)")
        return f"{self.where()} ({self.numbers()}{drift})"


def _compare(t: Record, p: Record, a: np.ndarray, b: np.ndarray, dtype: str, grad: bool) -> Divergence:
    """How far apart one pair's arrays are (infinitely, when their shapes differ)."""
    ts, ps = tuple(np.shape(a)), tuple(np.shape(b))
    if ts != ps:
        return Divergence(t, p, math.inf, math.inf, ts, ps, grad)
    err = errors([(t.name, a, b)], dtype)[0][1]
    rel = err.max_rel if math.isfinite(err.max_rel) else math.inf
    return Divergence(t, p, err.max_abs, rel, ts, ps, grad)


# A record is where the two sides part when its error beyond the tolerance is also this many
# times the largest error upstream of it (in forward order). Without that, rounding-level
# drift that has just crossed the tolerance (torchvision vs paddle.vision mobilenet_v3_large
# in float64: ~1.5e-10 after a few BatchNorms, growing by under 2x a layer) would be
# named, and not the first hardsigmoid, where paddle.vision's slope 0.1666667 raises it
# about 4x at once (to 6.4e-10: its inputs are small).
JUMP = 3.0


def _first(pairs: Sequence[Pair], dtype: str, tol: float, grad: bool) -> Divergence | None:
    floor, first_over, drift_max = 0.0, None, 0.0
    for pair in pairs:
        t, p = pair.torch, pair.paddle
        if t is None or p is None:
            continue
        a, b = (t.grad, p.grad) if grad else (t.output, p.output)
        if a is None or b is None:
            continue
        found = _compare(t, p, a, b, dtype, grad)
        if found.max_rel > tol and (found.shapes_differ or found.max_rel > JUMP * floor):
            if first_over is not None:
                found.drift = (first_over.describe().split(" [")[0], drift_max)
            return found
        if found.max_rel > tol:
            first_over = first_over or found
            drift_max = max(drift_max, found.max_rel)
        floor = max(floor, found.max_rel)
    return first_over


def first_divergence(pairs: Sequence[Pair], dtype: str, tol: float) -> Divergence | None:
    """The first pair, in forward order, whose outputs differ in shape, or beyond ``tol``
    (max_rel) and by more than JUMP times any difference before it; failing that, the
    first beyond ``tol``."""
    return _first(pairs, dtype, tol, False)


def first_grad_divergence(pairs: Sequence[Pair], dtype: str, tol: float) -> Divergence | None:
    """The same for the gradients reaching each output, in backward order (forward order reversed)."""
    return _first(list(reversed(pairs)), dtype, tol, True)
