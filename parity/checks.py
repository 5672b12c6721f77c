"""The structure, copy and train-mode checks (forward, backward, BatchNorm statistics)."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import paddle
import torch

from parity import bnstats, bridge
from parity import weights as W
from parity.judge import TOLERANCES, Check, judge, tolerance
from parity.hot import follow, heat
from parity.masks import Shared
from parity.metrics import errors
from parity.kinks import rejudge_with_aligned_kinks
from parity.locate import locate_divergence, locate_grad_divergence
from parity.modes import grad_pairs, paddle_loss, tensors, torch_loss, train_mode
from parity.references import PaddleRun, rejudge_eval_float32, rejudge_train


def output_pairs(t_out: list, p_out: list) -> list[tuple[str, Any, Any]]:
    if len(t_out) != len(p_out):
        return [(f"outputs (torch returns {len(t_out)} tensors, paddle {len(p_out)})", np.zeros(1), np.full(1, np.nan))]
    return [(f"output[{i}]", W.to_numpy(a), W.to_numpy(b)) for i, (a, b) in enumerate(zip(t_out, p_out))]


def trainable_counts(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer) -> tuple[int, int]:
    nt = sum(p.numel() for p in torch_module.parameters() if p.requires_grad)
    np_ = sum(int(math.prod(p.shape)) for p in paddle_module.parameters() if not p.stop_gradient)
    return nt, np_


def check_structure(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, kmap: W.KeyMap,
                     expected: int | None) -> Check:
    nt, np_ = trainable_counts(torch_module, paddle_module)
    # The summary first (counts), then the keys: a refusal's explaining sentence must not
    # come after 14 KB of key names.
    problems = []
    if nt != np_:
        problems.append(f"trainable parameters differ: torch {nt:,} vs paddle {np_:,}")
    if expected is not None and nt != expected:
        problems.append(f"trainable parameters {nt:,} differ from the published {expected:,}")
    problems += kmap.problems
    how = "by construction order (the names differ)" if kmap.by_order else "by name"
    detail = "; ".join(problems) if problems else (
        f"{len(kmap.pairs)} tensors map 1:1 {how}; {nt:,} trainable parameters"
        + (f" = published {expected:,}" if expected is not None else "")
        + (f"; {kmap.note}" if kmap.note else ""))
    return Check("structure", not problems, metric="exact", detail=detail)


def check_copy(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, kmap: W.KeyMap,
                copy_weights: bool) -> Check:
    """torch -> paddle (when asked); then every paddle tensor must equal its torch twin exactly.

    The copy writes into paddle's memory in place (``bridge.load_from_torch``) and the check
    reads it back there (``bridge.equal``): no intermediate copy of a 576 MB weight, and no
    round trip. The per-key strict load users call (``weights.load_paddle``) has tests of its
    own; here the structure check has already paired every key with a shape that fits."""
    t_sd, p_sd = torch_module.state_dict(), paddle_module.state_dict()
    if copy_weights:
        bridge.load_from_torch(paddle_module, t_sd, kmap.triples())
    diffs = {}
    with torch.no_grad():
        for p in kmap.pairs:
            mine = t_sd[p.torch].detach()
            if not (mine.is_floating_point() and mine.numel()):
                continue
            # Equality first: bit-identity is the rule, and the difference is only worth
            # computing where it fails (this runs over 138M VGG-16 weights).
            if bridge.equal(mine, bridge.view(p_sd[p.paddle]), p.transpose):
                diffs[p.torch] = 0.0
            else:
                theirs = bridge.view(p_sd[p.paddle], p.transpose)
                diffs[p.torch] = float((mine - theirs).abs().max()) if theirs.shape == mine.shape else math.inf
    bad = [k for k, d in diffs.items() if d != 0.0]
    agg_abs = max(diffs.values(), default=0.0)
    agg_rel = 0.0 if not bad else math.inf
    detail = ("torch -> paddle is bit-identical, read back from paddle's memory" if copy_weights
              else "paddle weights equal torch's") if not bad else f"tensors that differ: {', '.join(bad)}"
    return Check("copy", not bad, agg_abs, agg_rel, None, 0.0, "exact", detail)


def check_train(torch_module, paddle_module, kmap, x, labels, proj, dtype, report, torch_twin, seed,
                 paddle_twin=None, stochastic: bool = False) -> list[Check]:
    """Train-mode forward and backward on both sides. With ``stochastic`` the dropout and
    stochastic-depth layers stay in train mode, drawing shared masks (parity/masks.py); a
    failed check is rejudged as without them, the reference runs drawing the same masks.
    Judged at the fixed tolerances alone, 26 of the zoo's float32 stochastic cases failed
    on correct twins (DenseNet, Inception-v3, MnasNet, MobileNetV2, AlexNet as published;
    2026-12-07)."""
    if stochastic:
        torch_module.train()
        paddle_module.train()
    else:
        frozen = train_mode(torch_module, paddle_module)
        if frozen:
            report.notes.append(f"train checks run with dropout/stochastic layers in eval mode: {', '.join(frozen)}")
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    xp = paddle.to_tensor(x.copy(), stop_gradient=False)
    bn_watch = bnstats.watch(torch_module)  # the BN layers' forward order, and their statistics before the step
    try:
        t_outs = tensors(torch_module(xt))
    finally:
        bn_watch.remove()
    p_outs = tensors(paddle_module(xp))
    if len(t_outs) != len(p_outs):
        report.notes.append(f"in train mode torch returns {len(t_outs)} tensors, paddle {len(p_outs)}")
    elif len(t_outs) > 1:
        report.notes.append(f"in train mode the model returns {len(t_outs)} tensors; every one enters the loss")
    lt = torch_loss(t_outs, labels, proj)
    lp = paddle_loss(p_outs, labels, proj)
    lt.backward()
    lp.backward()
    checks = [judge("train_loss", dtype, [("loss", lt.detach().numpy(), lp.numpy())])]
    gp = xp.grad
    checks.append(judge("train_input_grad", dtype, [
        ("input", xt.grad.numpy(), gp.numpy() if gp is not None else np.full(x.shape, np.nan))]))
    checks.append(judge("train_param_grads", dtype, grad_pairs(torch_module, paddle_module, kmap)))
    idle = [n for n, t in torch_module.named_parameters() if t.requires_grad and t.grad is None]
    if idle:
        # Compared as zeros on both sides, so say which ones the loss never reached.
        report.notes.append(f"{len(idle)} parameters get no gradient in train mode: "
                            f"{', '.join(idle[:4])}{', ...' if len(idle) > 4 else ''}")
    bn = [p for p in kmap.pairs if p.torch.endswith(("running_mean", "running_var"))]
    t_sd, p_sd = torch_module.state_dict(), paddle_module.state_dict()
    # The statistics after this step, held before any rejudge runs more forwards.
    bn_after = ({p.torch: W.to_numpy(t_sd[p.torch]) for p in bn}, {p.paddle: W.to_numpy(p_sd[p.paddle]) for p in bn})
    if bn:
        checks.append(judge("bn_stats", dtype, [(p.torch, t_sd[p.torch].numpy(), p_sd[p.paddle].numpy()) for p in bn]))
    else:
        report.notes.append("no BatchNorm in the model: no bn_stats check")
    if not (checks[1].passed and checks[2].passed):
        # First the sharp explanation (activations on opposite sides of a ReLU kink or max-pool picks, judged at
        # the fixed tolerances), then the statistical one (each framework's own rounding).
        checks[1:3] = rejudge_with_aligned_kinks(torch_module, paddle_module, kmap, x, labels, proj, dtype,
                                                  checks[1:3], gp.numpy() if gp is not None else None)
    if not all(c.passed for c in checks) and torch_twin is not None:
        paddle_side = PaddleRun(paddle_module, paddle_twin, p_outs, lp, gp.numpy() if gp is not None else None,
                                 [p.paddle for p in bn], stochastic) if paddle_twin is not None else None
        checks = rejudge_train(torch_module, torch_twin(), lt, t_outs, xt, x, labels, proj, dtype, checks,
                                [p.torch for p in bn], seed, paddle_side, stochastic)
    bn_check = next((c for c in checks if c.name == "bn_stats"), None)
    if bn_check is not None and not bn_check.passed:
        found = bnstats.first_difference(bn_watch, bn, *bn_after, dtype, TOLERANCES[dtype]["bn_stats"])
        if found is not None:
            bn_check.detail = found.describe() + ("; " + bn_check.detail if bn_check.detail else "")
    if not checks[0].passed:
        # Eval forward agreed, so look for the layer that behaves differently in train mode.
        checks[0].detail = locate_divergence(torch_module, paddle_module, x, dtype, TOLERANCES[dtype]["eval_forward"])
    elif not (checks[1].passed and checks[2].passed):
        # The forward agrees; find where the backward pass parts.
        where = locate_grad_divergence(torch_module, paddle_module, x, labels, proj, dtype,
                                       tolerance(dtype, "train_input_grad"))
        for c in checks[1:3]:
            if not c.passed:
                c.detail = (c.detail + "; " if c.detail else "") + where
    return checks


# An eval check proves the two sides compute the same function only where the output depends
# on the input: this many times the eval tolerance, between two random inputs, at least.
SENSITIVITY_MIN = 100.0


def check_input_sensitivity(torch_module: torch.nn.Module, x: np.ndarray, t_out: list, dtype: str,
                            seed: int) -> Check:
    """How much torch's eval outputs move between ``x`` and a second random input: a model whose
    output barely depends on its input (a dead head, saturated units) would pass eval_forward
    whatever its layers compute, so that must be well above the eval tolerance."""
    x2 = np.random.RandomState([seed, 4099]).standard_normal(x.shape).astype(x.dtype)
    with torch.no_grad():
        t_out2 = tensors(torch_module(torch.from_numpy(x2)))
    errs = errors([(f"output[{i}]", W.to_numpy(a), W.to_numpy(b)) for i, (a, b) in enumerate(zip(t_out, t_out2))],
                  dtype)
    moved = min((e.max_rel for _, e in errs), default=0.0)
    # Judged against float64's eval bound in both dtypes: the proof is made in float64, and
    # a float32 net that saturates (LeNet's sigmoids, NiN's pooled ReLUs) is still a function
    # of its input well beyond float32's own rounding there.
    need = SENSITIVITY_MIN * TOLERANCES["float64"]["eval_forward"]
    passed = moved >= need
    detail = (f"eval outputs on two random inputs differ by max_rel {moved:.2e} (at least {need:.0e} needed: "
              f"{SENSITIVITY_MIN:g}x the float64 eval tolerance)")
    return Check("input_sensitivity", passed, None, moved, None, need, "min_rel", detail)


def check_masks(shared: Shared) -> Check:
    """Every stochastic layer on both sides draws from the shared stream, as many on each side."""
    problems = []
    if shared.unshared:
        problems.append(f"cannot share randomness: {', '.join(shared.unshared)}")
    if len(shared.torch_layers) != len(shared.paddle_layers):
        problems.append(f"torch has {len(shared.torch_layers)} stochastic layers, paddle {len(shared.paddle_layers)}")
    detail = "; ".join(problems) if problems else (
        f"{len(shared.torch_layers)} stochastic layers live in train mode with shared masks: "
        + ", ".join(shared.torch_layers[:6]) + (", ..." if len(shared.torch_layers) > 6 else ""))
    return Check("stochastic_masks", not problems, metric="exact", detail=detail)


def check_hot(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, x: np.ndarray,
              dtype: str, torch_twin: Callable[[], torch.nn.Module] | None = None) -> list[Check]:
    """Eval outputs with every clipped or saturating activation driven across its kinks
    (parity/hot.py), and whether each such layer saw both sides. A failed float32 run is
    judged again, as eval_forward is, against torch float32's own error: ``torch_twin()`` in
    float64, heated with the float32 run's own factors (EfficientNet-B1 to B7, and MobileNetV2
    in 1D, moved beyond 1e-4 in float32 alone with their clips and gates driven to std 5)."""
    h = heat(torch_module, paddle_module)
    try:
        torch_module.eval()
        paddle_module.eval()
        with torch.no_grad():
            t_out = tensors(torch_module(torch.from_numpy(x)))
        with paddle.no_grad():
            p_out = tensors(paddle_module(paddle.to_tensor(x)))
    finally:
        h.restore()
    forward = judge("eval_forward", dtype, output_pairs(t_out, p_out))
    if not forward.passed and dtype == "float32" and torch_twin is not None and len(t_out) == len(p_out):
        factors = list(h.factors)
        forward = rejudge_eval_float32(forward, torch_twin(), x, t_out, lambda wide: follow(wide, wide.named_modules(), factors))
    forward.name = "hot_forward"
    if not forward.passed:  # located with the same heat (torch's forward runs first there too)
        again = heat(torch_module, paddle_module)
        try:
            where = locate_divergence(torch_module, paddle_module, x, dtype, TOLERANCES[dtype]["eval_forward"])
        finally:
            again.restore()
        forward.detail = "; ".join(d for d in (forward.detail, f"{len(h.factors)} activations heated; {where}") if d)
    cold = h.cold()
    kinds = sorted(set(h.kinds.values()))
    detail = (f"{len(h.regimes)} clipped/saturating layers ({', '.join(kinds) or 'none'}) saw inputs below and "
              f"above their kinks" if not cold else f"never crossed both kinks: {', '.join(cold[:6])}"
              + (f" and {len(cold) - 6} more" if len(cold) > 6 else ""))
    return [forward, Check("activation_regimes", not cold, metric="exact", detail=detail)]
