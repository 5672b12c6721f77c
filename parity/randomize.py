"""Weights that exercise every parameter: each tensor a model initialises to one constant
(BatchNorm's gamma 1 and beta 0, its running mean 0 and variance 1, LeNet-5's subsampling
coefficient 1 and bias 0, a zero conv bias) is redrawn at random before the comparison.

At those constants a whole class of porting mistakes computes the right numbers: with
gamma = 1 and beta = 0, ``(x_hat + beta) * gamma`` equals ``x_hat * gamma + beta``; with a
running mean of 0, subtracting it or not is the same. Random, non-degenerate values make
such a mistake show in the eval and gradient checks, not only after optimizer steps.
"""
from __future__ import annotations

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


def calibrate_batchnorm(module: torch.nn.Module, x: np.ndarray) -> int:
    """Set every BatchNorm's running statistics to those of one train-mode pass over ``x``
    (stochastic layers in eval); returns how many layers were set.

    At initialisation the running statistics (0 and 1, or random values) have nothing to do
    with the activations, which shrink or grow layer after layer in eval mode until the output
    hardly depends on the input: EfficientNet-B0's eval outputs on two random inputs differ by
    1e-13 of their size, MobileNetV2's by 5e-9, so an eval check at 1e-10 would prove nothing.
    With statistics from real activations every layer sees normalised inputs, as in a trained
    network. ``x`` should not be the input the checks use, so that eval mode (running
    statistics) and train mode (batch statistics) still compute different things."""
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
            module(torch.from_numpy(x))
    finally:
        for m, momentum in saved:
            m.momentum = momentum
            m.num_batches_tracked.zero_()
        module.train(was_training)
    return len(bns)
