"""Weights that exercise every parameter: each tensor a model initialises to one constant
(BatchNorm's gamma 1 and beta 0, its running mean 0 and variance 1, LeNet-5's subsampling
coefficient 1 and bias 0, a zero conv bias) is redrawn at random before the comparison.

At those constants a whole class of porting mistakes computes the right numbers: with
gamma = 1 and beta = 0, ``(x_hat + beta) * gamma`` equals ``x_hat * gamma + beta``; with a
running mean of 0, subtracting it or not is the same. Random, non-degenerate values make
such a mistake show in the eval and gradient checks, not only after optimizer steps.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

# Multiplicative constants (a scale of 1, a variance) are redrawn around themselves, additive
# ones (0) around 0: wide enough that every term counts, narrow enough that a deep net's
# eval-mode activations neither vanish nor explode over many such layers.
SCALE_RANGE = (0.75, 1.25)
SHIFT_STD = 0.1


def randomize_degenerate(module: torch.nn.Module, seed: int) -> list[str]:
    """Redraw, in place, every floating-point parameter and buffer of ``module`` whose elements
    are all equal; returns their names. Variances stay positive."""
    rng = np.random.RandomState([seed, 65537])
    changed = []
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if not t.is_floating_point() or t.numel() == 0:
                continue
            first = t.reshape(-1)[0]
            if not bool((t == first).all()):
                continue
            value = float(first)
            shape = tuple(t.shape)
            if value == 0.0:
                new = rng.normal(0.0, SHIFT_STD, shape)
            else:
                new = value * rng.uniform(*SCALE_RANGE, shape)
            t.copy_(torch.from_numpy(new).to(t.dtype))
            changed.append(name)
    return changed


# How much a residual branch's closing BatchNorm gamma is scaled down after the redraw; see
# damp_residual_branches.
RESIDUAL_SCALE = 0.1


def damp_residual_branches(module: torch.nn.Module, scale: float = RESIDUAL_SCALE) -> list[str]:
    """Scale the gamma of every residual branch's closing BatchNorm by ``scale``, in place;
    returns the names of the BatchNorms. A block says which one that is by a
    ``residual_norm()`` method (the BatchNorm ``zero_init_residual`` zeroes).

    In a deep residual net with every gamma near 1, each block adds a branch as large as
    the stream it joins, and gradients at random weights grow with depth until float32
    rounding decides them: torch's own float32 parameter gradients of ResNet-152 (1D, batch
    4 at 32) were 1.48 norm-relative from its float64 ones, so the train checks compared
    noise and passed on a rejudge only. Trained ResNets keep those gammas small (Goyal et
    al. 2017 start them at 0 for this reason); at 0.1 times the redraw the same measure was
    2.6e-4. Every gamma stays non-zero and distinct, so a mistake in the branch still shows."""
    damped = []
    with torch.no_grad():
        for name, m in module.named_modules():
            norm_of = getattr(m, "residual_norm", None)
            if not callable(norm_of):
                continue
            norm = norm_of()
            if getattr(norm, "weight", None) is not None:
                norm.weight.mul_(scale)
                damped.append(name)
    return damped


BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
# Relative size of the perturbation that gives float32-calibrated statistics full float64
# mantissas (see _full_mantissas).
MANTISSA_JITTER = 2.0 ** -40


class _EveryBatchNormRan(Exception):
    """Raised by the last BatchNorm of the calibration pass to skip the rest of the forward."""


def calibrate_batchnorm(module: torch.nn.Module, x: np.ndarray) -> int:
    """Set every BatchNorm's running statistics to those of one train-mode pass over ``x``
    (stochastic layers in eval); returns how many layers were set.

    At initialisation the running statistics (0 and 1, or random values) have nothing to do
    with the activations, which shrink or grow layer after layer in eval mode until the output
    hardly depends on the input: EfficientNet-B0's eval outputs on two random inputs differ by
    1e-13 of their size, MobileNetV2's by 5e-9, so an eval check at 1e-10 would prove nothing.
    With statistics from real activations every layer sees normalised inputs, as in a trained
    network. ``x`` should not be the input the checks use, so that eval mode (running
    statistics) and train mode (batch statistics) still compute different things.

    A float64 model is calibrated by a float32 pass (``_float32_pass``): torch's float64
    convolutions on the CPU run 2-5x slower than its float32 ones, and this pass, up to 256
    samples for EfficientNet, was 10.2 of the 25.7 s of EfficientNet-B7's 2D float64 case
    (2.0 s in float32; measured 2026-12-07). The statistics only condition the checks, which
    compare torch and paddle holding the same values; a pass in either precision normalises
    the activations. A model that cannot run in float32 (one that makes float64 tensors of its
    own) gets the float64 pass."""
    from parity.modes import torch_train_mode

    bns = [m for m in module.modules() if isinstance(m, BATCH_NORMS) and m.track_running_stats]
    if not bns:
        return 0
    was_training = module.training
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.momentum = 1.0  # the running statistics become this batch's
    try:
        torch_train_mode(module)
        with torch.no_grad():
            if not (x.dtype == np.float64 and _ran_in_float32(module, bns, x)):
                module(torch.from_numpy(x))
    finally:
        for m, momentum in saved:
            m.momentum = momentum
            m.num_batches_tracked.zero_()
        module.train(was_training)
    return len(bns)


def _ran_in_float32(module: torch.nn.Module, bns: list[torch.nn.Module], x: np.ndarray) -> bool:
    """``_float32_pass``; False where the model cannot run in float32 (one that makes float64
    tensors of its own, a user's in `compare`): a real error raises again in the float64 pass."""
    try:
        _float32_pass(module, bns, x)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def _float32_pass(module: torch.nn.Module, bns: list[torch.nn.Module], x: np.ndarray) -> None:
    """The calibration pass of a float64 ``module`` run in float32; the statistics are written
    back in float64 with full mantissas, and every other tensor is left as it was.

    Each float64 tensor is swapped for a float32 copy for the pass, and back after it. The
    forward stops once every BatchNorm has run, and a Linear layer's tensors are swapped only
    when it runs: a classifier after the last BatchNorm is neither run nor copied (VGG-16-BN's
    Linear layers hold 124M of its 138M weights; copied, they made this pass slower than the
    float64 one)."""
    stats = {id(t) for m in bns for t in (m.running_mean, m.running_var)}
    swapped: list[tuple[torch.Tensor, torch.Tensor]] = []  # (tensor, its float64 data)

    def to_float32(m: torch.nn.Module, *_: Any) -> None:
        for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)):
            if t.dtype == torch.float64:
                swapped.append((t, t.data))
                t.data = t.data.float()

    pending = set(map(id, bns))

    def ran(m: torch.nn.Module, *_: Any) -> None:
        pending.discard(id(m))
        if not pending:
            raise _EveryBatchNormRan

    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    handles = [m.register_forward_hook(ran) for m in bns]
    handles += [m.register_forward_pre_hook(to_float32) for m in linears]
    try:
        for m in module.modules():
            if not isinstance(m, torch.nn.Linear):
                to_float32(m)
        try:
            module(torch.from_numpy(x.astype(np.float32)))
        except _EveryBatchNormRan:
            pass
    finally:
        for h in handles:
            h.remove()
        for t, data in reversed(swapped):
            if id(t) in stats:
                data.copy_(_full_mantissas(t.data))
            t.data = data


def _full_mantissas(stat: torch.Tensor) -> torch.Tensor:
    """``stat`` in float64, each element scaled by 1 + a seeded draw below MANTISSA_JITTER.

    Cast from float32 alone, every value would end in 29 zero bits, and a copy that rounds
    BatchNorm statistics through float32 on their way to paddle would give back the same
    bits: the copy check would not see it."""
    generator = torch.Generator().manual_seed(stat.numel())
    jitter = torch.rand(stat.shape, generator=generator, dtype=torch.float64)
    return stat.double() * (1.0 + MANTISSA_JITTER * jitter)
