"""Which BatchNorm layer's running statistics part first (in forward order), and how.

After one train-mode step torch has ``r = (1 - m) r0 + m * batch``, with the unbiased batch
variance. Knowing ``r0``, ``m`` and the number ``n`` of values per channel, a paddle
result can be recognised as a known difference: the biased batch variance (running_var
off by a factor (n-1)/n in the batch part), or momentum in the other convention (1 - m
for m). Anything else is "other".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch

from parity.metrics import errors

KINDS = ("biased_variance", "momentum", "other")
# How closely a paddle statistic must follow a hypothesis to be called that difference:
# far above float32 momentum rounding, far below any difference that means something else.
MATCH = 1e-5


@dataclass
class Watch:
    """BN layers in the order the train forward reached them, with their inputs' per-channel
    counts and statistics from before the step."""

    order: list[str]
    n: dict[str, int]
    before: dict[str, tuple[np.ndarray, np.ndarray]]
    momentum: dict[str, float | None]
    handles: list[Any]

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def watch(torch_module: torch.nn.Module) -> Watch:
    """Pre-hooks on every torch module holding running statistics; remove them with ``Watch.remove``."""
    w = Watch([], {}, {}, {}, [])
    for name, m in torch_module.named_modules():
        if getattr(m, "running_var", None) is None or getattr(m, "running_mean", None) is None:
            continue
        w.before[name] = (m.running_mean.detach().cpu().numpy().copy(), m.running_var.detach().cpu().numpy().copy())
        w.momentum[name] = m.momentum if isinstance(getattr(m, "momentum", None), float) else None

        def seen(_m, inp, _name=name):
            if _name not in w.n:
                w.order.append(_name)
                x = inp[0]
                w.n[_name] = int(x.numel() // x.shape[1]) if x.dim() > 1 else int(x.numel())

        w.handles.append(m.register_forward_pre_hook(seen))
    return w


@dataclass
class Finding:
    """The first BN layer whose statistics differ, and the kind of difference."""

    layer: str
    kind: str
    n: int
    max_rel: float
    momentum: float | None

    def describe(self) -> str:
        what = {
            "biased_variance": f"running_var off by n/(n-1) with n={self.n}: the paddle side updates it with the "
                               f"biased batch variance, torch with the unbiased one",
            "momentum": f"the paddle side blends with momentum {1 - (self.momentum or 0):g} where torch uses "
                        f"{self.momentum:g} (1 - m for m: paddle's convention)",
            "other": "not a known pattern (neither the biased variance nor the momentum convention)",
        }[self.kind]
        return f"first differing BN layer (forward order): {self.layer} (max_rel {self.max_rel:.2e}); {what}"


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(float(np.abs(b).max(initial=0.0)), 1e-30)
    return float(np.abs(a - b).max(initial=0.0)) <= MATCH * scale


def classify(r0: tuple[np.ndarray, np.ndarray], torch_after: tuple[np.ndarray, np.ndarray],
             paddle_after: tuple[np.ndarray, np.ndarray], m: float | None, n: int) -> str:
    """One of KINDS for one layer's (mean, var): before the step, torch's after, paddle's after."""
    if m is None or not 0.0 < m < 1.0 or n < 2:
        return "other"
    (m0, v0), (tm, tv), (pm, pv) = r0, torch_after, paddle_after
    batch_mean = (tm - (1 - m) * m0) / m
    batch_var = (tv - (1 - m) * v0) / m  # unbiased, as torch blends it in
    if _close(pm, tm) and _close(pv, (1 - m) * v0 + m * batch_var * (n - 1) / n):
        return "biased_variance"
    if _close(pm, m * m0 + (1 - m) * batch_mean) and any(
            _close(pv, m * v0 + (1 - m) * batch_var * f) for f in (1.0, (n - 1) / n)):
        return "momentum"
    return "other"


def first_difference(w: Watch, pairs: Iterable[Any], t_sd: dict, p_sd: dict, dtype: str,
                     tol: float) -> Finding | None:
    """The first watched layer (forward order) whose running mean or variance differs beyond ``tol``.

    ``pairs`` are the KeyMap's KeyPairs (torch key, paddle key); ``t_sd``/``p_sd`` the
    statistics after the step as numpy arrays, by torch and paddle key.
    """
    to_paddle = {p.torch: p.paddle for p in pairs}
    order = w.order + [name for name in w.before if name not in w.n]
    for name in order:
        keys = [f"{name}.running_mean" if name else "running_mean", f"{name}.running_var" if name else "running_var"]
        if not all(k in to_paddle for k in keys):
            continue
        t_vals = [np.asarray(t_sd[k]) for k in keys]
        p_vals = [np.asarray(p_sd[to_paddle[k]]) for k in keys]
        errs = errors([(k, a, b) for k, a, b in zip(keys, t_vals, p_vals)], dtype)
        worst = max(e.max_rel for _, e in errs)
        if worst > tol:
            kind = classify(w.before[name], tuple(t_vals), tuple(p_vals), w.momentum.get(name), w.n.get(name, 0))
            return Finding(name or "<model>", kind, w.n.get(name, 0), worst, w.momentum.get(name))
    return None
