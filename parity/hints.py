"""Known porting mistakes recognised in a failed check, each pointing at its PORTING.md rule.

A hint is only given where the evidence fits one pattern: a pool whose output is one
element longer or shorter (ceil_mode), an average pool that differs only at the borders
(padding in the mean), a Linear whose paddle weight is torch's untransposed (layout), a
hardsigmoid off by paddle's slope 0.1666667, a dropout that scales eval outputs by 1 - p,
and the BatchNorm statistics patterns parity/bnstats.py recognises.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from parity.pairing import Divergence, family

SECTION = "PORTING.md#the-differences-and-the-rule-for-each"
# pattern -> (the rule, in PORTING.md's words, and the test that shows it there)
RULES = {
    "ceil_mode": ("ceil_mode: torch drops a last window starting at or beyond L + padding, paddle keeps it; "
                  "set the same ceil_mode on both sides", "test_ceil_mode_last_window_in_padding"),
    "exclusive": ("AvgPool with padding: torch counts the padding, paddle's default exclusive=True does not; "
                  "exclusive=False (or count_include_pad=False on the torch side)",
                  "test_avgpool_padding_is_counted_in_torch_only"),
    "linear_layout": ("Linear weights are [out, in] in torch, [in, out] in paddle; transpose by the owning "
                      "layer's type, never by rank", "test_linear_weight_layout_is_transposed"),
    "hardsigmoid": ("paddle's hardsigmoid slope is 0.1666667, not 1/6; write relu6(x + 3) / 6 on both sides",
                    "test_hardsigmoid_slope"),
    "dropout": ("paddle's downscale_in_infer dropout scales eval outputs by 1 - p; use the default "
                "upscale_in_train", "test_dropout_modes"),
    "biased_variance": ("BN running variance: torch blends in the unbiased batch variance, paddle the biased one; "
                        "update the paddle statistics the torch way", "test_batchnorm_running_variance_is_biased_in_paddle"),
    "momentum": ("BN momentum: torch's m weights the new batch, paddle's the old value; pass 1 - m to paddle",
                 "test_batchnorm_momentum_is_inverted"),
    "bn_epsilon": ("paddle's batch_norm kernel rounds epsilon to float32 even for float64 input; normalise float64 "
                   "input with explicit ops and the exact epsilon", "test_paddle_batchnorm_kernel_rounds_epsilon_to_float32"),
}


def cite(pattern: str) -> str:
    """One hint line: the rule and where PORTING.md states and tests it."""
    rule, test = RULES[pattern]
    return f"hint: {rule} ({SECTION}, {test})"


def _pool_shape_off_by_one(d: Divergence) -> bool:
    ts, ps = d.torch_shape, d.paddle_shape
    return (len(ts) == len(ps) >= 3 and ts[:2] == ps[:2]
            and any(abs(a - b) == 1 for a, b in zip(ts[2:], ps[2:]))
            and all(abs(a - b) <= 1 for a, b in zip(ts[2:], ps[2:])))


def _only_at_borders(a: np.ndarray, b: np.ndarray) -> bool:
    if a.ndim < 3 or any(s < 3 for s in a.shape[2:]):
        return False
    diff = np.abs(a - b)
    inner = diff[(...,) + tuple(slice(1, -1) for _ in a.shape[2:])]
    scale = max(float(np.abs(a).max()), 1e-30)
    return float(diff.max()) > 1e-6 * scale and float(inner.max(initial=0.0)) <= 1e-9 * scale


def _scaled_copy(a: np.ndarray, b: np.ndarray) -> bool:
    """b == c * a for one constant 0 < c < 1 (dropout's 1 - p)."""
    denom = float((a * a).sum())
    if denom == 0.0:
        return False
    c = float((a * b).sum()) / denom
    return 0.0 < c < 1.0 and np.allclose(b, c * a, rtol=1e-6, atol=1e-9 * float(np.abs(a).max()))


def _linear_untransposed(d: Divergence, torch_module: Any, paddle_module: Any) -> bool:
    if torch_module is None or paddle_module is None:
        return False
    try:
        t_layer = dict(torch_module.named_modules())[d.torch.name]
        p_layer = dict(paddle_module.named_sublayers(include_self=True))[d.paddle.name]
        wt = t_layer.weight.detach().cpu().numpy()
        wp = np.asarray(p_layer.weight.numpy())
    except (KeyError, AttributeError):
        return False
    # The paddle weight holds torch's [out, in] array as it is: only a square one loads so.
    return wt.shape == wp.shape and wt.shape[0] == wt.shape[-1] and np.array_equal(wt, wp) \
        and not np.array_equal(wt, wt.T)


def divergence_patterns(d: Divergence, dtype: str, torch_module: Any = None, paddle_module: Any = None) -> list[str]:
    """The known patterns a forward divergence fits (keys of RULES)."""
    fam = {family(d.torch.type), family(d.paddle.type)}
    found = []
    if d.shapes_differ:
        if fam & {"maxpool", "avgpool"} and _pool_shape_off_by_one(d):
            found.append("ceil_mode")
        return found
    a, b = d.torch.output, d.paddle.output
    if fam == {"avgpool"} and _only_at_borders(a, b):
        found.append("exclusive")
    if "linear" in fam and _linear_untransposed(d, torch_module, paddle_module):
        found.append("linear_layout")
    if "hardsigmoid" in fam and d.max_rel < 1e-5:
        found.append("hardsigmoid")
    if "dropout" in fam and _scaled_copy(a, b):
        found.append("dropout")
    if (fam == {"bn"} and dtype == "float64" and d.max_rel < 1e-6) or d.epsilon_aligned:
        found.append("bn_epsilon")
    return found


def hints(check: Any, divergence: Divergence | None = None, dtype: str = "float64", torch_module: Any = None,
          paddle_module: Any = None) -> list[str]:
    """Hint lines for a failed check: the PORTING.md rules its evidence fits (none when it fits none).

    ``divergence`` is what the locator found for that check (parity/pairing.py); the
    bn_stats patterns are read from the check's own detail (parity/bnstats.py writes it).
    """
    if check.passed:
        return []
    patterns = []
    if divergence is not None and not divergence.grad:
        patterns += divergence_patterns(divergence, dtype, torch_module, paddle_module)
    if check.name == "bn_stats":
        if "running_var off by n/(n-1)" in check.detail:
            patterns.append("biased_variance")
        elif "(1 - m for m" in check.detail:
            patterns.append("momentum")
    return [cite(p) for p in dict.fromkeys(patterns)]
