"""compare_modules(): prove that a torch module and a paddle layer are the same network.

Checks, in order (DESIGN.md, "What the parity harness checks"):
  structure    parameters map 1:1 by name and shape; trainable counts equal (and equal
               to a published count when one is given)
  copy         torch -> paddle copy, and paddle -> torch gives the same tensors back
  eval_forward eval-mode outputs on one input
  train_*      train-mode forward and backward, BatchNorm on batch statistics: the loss,
               the input gradient, every parameter gradient, the BN running statistics
  sgd_steps    K steps of SGD with momentum and weight decay on the same batches
  adam_steps   K steps of Adam (float64: each side on its own gradients; float32: on
               torch's, see SHARED_GRADIENTS)
A failed gradient check is first judged again with torch given paddle's side of every
ReLU/ReLU6 kink that an activation within rounding of it fell on differently, and paddle's
pick in every max-pool window whose top two values lie within rounding (see
rejudge_with_aligned_kinks; the detail names each such activation). A train or step
check that still fails is judged against each framework's own error on a reference run
(see SENSITIVITY_FACTOR, rejudge_train; for float32 steps, torch_shared_twin_steps);
the check's detail then gives the numbers.
When a forward check fails, forward hooks on both sides name the first layer whose
output differs. Dropout and other stochastic layers (any module with
``stochastic = True``) are switched to eval during train checks, since the two
frameworks draw different masks; the report says so.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from typing import Any, Sequence

import numpy as np
import paddle
import torch

from parity import bridge, progress
from parity import weights as W
from parity.checks import (check_copy, check_hot, check_input_sensitivity, check_masks, check_structure, check_train,
                           output_pairs)
from parity.judge import DTYPES, METRICS, SENSITIVITY_FACTOR, TOLERANCES, Check, judge
from parity.judge import exact_float64 as judge_exact_float64
from parity.hints import hints
from parity.locate import find_divergence, locate_divergence, locate_grad_divergence
from parity.masks import share
from parity.modes import Projections, set_dtype, tensors
from parity.randomize import RESIDUAL_SCALE, calibrate_batchnorm, damp_residual_branches, randomize_degenerate
from parity.results import Report
from parity.references import rejudge_eval_float32
from parity.steps import ADAM, SGD, check_steps
from parity.trail import Trail

CALIBRATION_BATCH = 16  # samples in the pass that sets BatchNorm's running statistics (randomize.py)
# ... or fewer, at least 2, where fewer samples still give the deepest feature map (taken at
# 1/32 of the input, most nets' total stride) this many positions per channel: a real-size
# case (batch 1 at 224 or 299) calibrated on 16 samples spent 16x its own eval forward there.
# Up to 64x64 inputs nothing changes. With 16 positions (4 samples at 64x64), EfficientNet-B7's
# statistics were noisy enough to drive an SE gate's sigmoid into its tail in eval, where
# torch and paddle differ by 2e-10 relative in float64, and eval_forward failed at 1e-8.
# A model can ask for more (zoo's ModelInfo.calibration; EfficientNet does, see there).
CALIBRATION_POSITIONS = 64

__all__ = ["ADAM", "DTYPES", "METRICS", "SENSITIVITY_FACTOR", "SGD", "TOLERANCES", "Check", "Report",
           "compare_modules", "locate_divergence", "locate_grad_divergence"]


def calibration_samples(shape: Sequence[int], positions: int = CALIBRATION_POSITIONS,
                        most: int = CALIBRATION_BATCH) -> int:
    """How many samples of ``shape[1:]`` the BatchNorm calibration pass takes: enough for
    ``positions`` per channel at the deepest map, at most ``most`` (see CALIBRATION_POSITIONS)."""
    deepest = math.prod(math.ceil(s / 32) for s in shape[2:])
    return max(shape[0], 2, min(most, math.ceil(positions / deepest)))


def add_hints(check: Check, divergence: Any, dtype: str, torch_module: Any = None, paddle_module: Any = None) -> None:
    """Append to a failed check's detail the PORTING.md rules its evidence fits (parity/hints.py)."""
    lines = hints(check, divergence, dtype, torch_module, paddle_module)
    if lines:
        check.detail = "; ".join([check.detail] + lines) if check.detail else "; ".join(lines)


def compare_modules(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, *,
                    inputs: np.ndarray | None = None, input_shape: Sequence[int] | None = None,
                    dtype: str = "float64", train: bool = True, grads: bool = True, steps: int = 3,
                    num_classes: int | None = None, expected_params: int | None = None,
                    copy_weights: bool = True, seed: int = 0, name: str = "model",
                    dims: int | None = None, randomize: bool = True, stochastic: bool = False,
                    hot: bool = False, key_map: W.KeyMap | None = None, exact_float64: bool = False,
                    calibration: tuple[int, int] = (CALIBRATION_POSITIONS, CALIBRATION_BATCH)) -> Report:
    """Compare a torch module and a paddle layer that are meant to be the same network.

    Works on any pair whose state dicts map by name (BN buffers renamed, Linear weights
    transposed); otherwise the structure check lists every key that does not. With
    ``copy_weights`` the torch weights are copied into paddle first; without it, the
    ``copy`` check reports where the two sides' weights differ. Both modules are cast
    to ``dtype`` and changed by the optimizer checks (they end up trained a few steps).

    With ``randomize`` (and ``copy_weights``), every torch tensor initialised to one constant
    (BatchNorm's gamma, beta and statistics, say) is first redrawn at random, so that no
    parameter sits at a value that hides a mistake (parity/randomize.py), and the gamma of
    each residual branch's closing BatchNorm (a block's ``residual_norm()``) is scaled by
    RESIDUAL_SCALE, so that a deep ResNet's gradients stay well-conditioned. With ``stochastic``,
    the train checks run with dropout and stochastic depth live, both sides drawing the
    same masks (parity/masks.py), and the optimizer-step checks are left out. With ``hot``,
    the eval check is repeated with every clipped or saturating activation driven across its
    kinks (parity/hot.py). ``key_map`` pairs the weights as the caller decided (a key-map
    file, say); by default they are paired by name, else by construction order (W.key_map).
    With ``exact_float64``, float64 input gradients are held to rounding (judge.EXACT_FLOAT64):
    for a pair whose float64 paths are exact, as the zoo's twins are; paddle's built-in average
    pools are not (their float64 backward divides in float32). ``calibration`` is (positions
    per channel at the deepest map, most samples) for the BatchNorm calibration pass.
    """
    with judge_exact_float64(exact_float64), contextlib.ExitStack() as files:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        if inputs is None and input_shape is None:
            raise ValueError("give inputs= (an array) or input_shape=")
        start = time.perf_counter()
        rng = np.random.RandomState(seed)
        x = np.asarray(inputs if inputs is not None else rng.standard_normal(tuple(input_shape))).astype(dtype)
        report = Report(name, dims, dtype)
        progress.phase("structure")
        set_dtype(torch_module, paddle_module, dtype)

        kmap = key_map if key_map is not None else W.key_map(torch_module, paddle_module)
        structure = check_structure(torch_module, paddle_module, kmap, expected_params)
        report.checks.append(structure)
        if kmap.problems:
            report.seconds = time.perf_counter() - start
            return report
        if randomize and copy_weights:
            redrawn = randomize_degenerate(torch_module, seed)
            damped = damp_residual_branches(torch_module)
            # Statistics from many samples: a batch of 2 or 4 at a 1x1 feature map gives a channel a
            # variance from that many values, near 0 at times, and eval then divides by its root.
            calibration_shape = (calibration_samples(x.shape, *calibration),) + tuple(x.shape[1:])
            calibrated = calibrate_batchnorm(torch_module, np.random.RandomState([seed, 8191]).standard_normal(
                calibration_shape).astype(dtype))
            if redrawn or calibrated:
                report.notes.append(f"before the copy, {len(redrawn)} tensors initialised to a constant were redrawn "
                                    f"at random (BatchNorm affine and the like) and {calibrated} BatchNorm layers took "
                                    f"their running statistics from a train-mode pass over another random input")
            if damped:
                report.notes.append(f"the closing BatchNorm gamma of {len(damped)} residual branches was scaled by "
                                    f"{RESIDUAL_SCALE:g} (parity/randomize.py, damp_residual_branches)")
        report.checks.append(check_copy(torch_module, paddle_module, kmap, copy_weights))
        # Every check starts from the same weights: torch's, and paddle's own (equal to
        # torch's after a copy, or the user's when copy_weights=False).
        # Only the train and step checks change weights (BN statistics included); an eval-only
        # comparison (a real-size case) need not hold a second copy.
        # torch's initial weights wait in a file (parity/trail.py), not in memory: the step checks
        # would otherwise hold them through every step, one more copy of a float64 VGG (1.15 GB).
        initial = files.enter_context(Trail()) if train else None
        if initial is not None:
            initial.write("initial", 0, torch_module.state_dict().items())

        def t_initial() -> dict[str, torch.Tensor]:
            # Fresh read-only maps each time, whose pages leave the process with the dict.
            return {k: initial.read("initial", 0, k) for k in initial.names("initial", 0)}

        # After a copy paddle's initial weights are torch's (the copy check proved them
        # equal), so they are made again from torch's rather than held twice: a float64 VGG is
        # 1 GB per copy, and the step checks hold several more (gradients, optimizer state).
        p_initial = None if copy_weights else {k: W.to_numpy(v) for k, v in paddle_module.state_dict().items()}

        def load_paddle_initial(layer: paddle.nn.Layer) -> None:
            if p_initial is not None:
                W.load_paddle(layer, p_initial)
            else:  # in place, through views of paddle's memory: no second copy of a float64 VGG
                bridge.load_from_torch(layer, t_initial(), kmap.triples())

        def reset() -> None:
            torch_module.load_state_dict(t_initial())
            load_paddle_initial(paddle_module)
            # Gradients of an earlier check would otherwise stay allocated through the next.
            torch_module.zero_grad(set_to_none=True)
            paddle_module.clear_gradients(set_to_zero=False)

        def torch_twin() -> torch.nn.Module:
            # A second torch copy at the initial weights, for the rounding-sensitivity baseline.
            twin = copy.deepcopy(torch_module)
            if initial is not None:
                twin.load_state_dict(t_initial())
            return twin

        def paddle_twin() -> paddle.nn.Layer:
            # The same for paddle (see rejudge_train).
            twin = copy.deepcopy(paddle_module)
            load_paddle_initial(twin)
            return twin

        # No reset here: both modules hold exactly the initial weights already (the copy check just
        # proved them bit-identical), and reloading a float64 VGG costs seconds.
        torch_module.zero_grad(set_to_none=True)
        paddle_module.clear_gradients(set_to_zero=False)
        progress.phase("eval")
        tol = TOLERANCES[dtype]
        torch_module.eval()
        paddle_module.eval()
        failure = None
        try:
            with torch.no_grad():
                t_out = tensors(torch_module(torch.from_numpy(x)))
        except Exception as exc:
            failure = ("torch", exc)
        try:
            with paddle.no_grad():
                p_out = tensors(paddle_module(paddle.to_tensor(x)))
        except Exception as exc:
            if failure is not None:
                raise failure[1]  # neither side runs this input: the caller's mistake, not a divergence
            failure = ("paddle", exc)
        if failure is not None:  # one side cannot run what the other can: the first divergence of all
            side, exc = failure
            report.checks.append(Check("eval_forward", False, metric="max_rel", tol=TOLERANCES[dtype]["eval_forward"],
                                       detail=f"only the {side} forward raises ({type(exc).__name__}); "
                                              + locate_divergence(torch_module, paddle_module, x, dtype,
                                                                  TOLERANCES[dtype]["eval_forward"])))
            report.seconds = time.perf_counter() - start
            return report
        check = judge("eval_forward", dtype, output_pairs(t_out, p_out))
        if not check.passed and dtype == "float32" and len(t_out) == len(p_out):
            check = rejudge_eval_float32(check, torch_twin(), x, t_out)
        if not check.passed:
            check.detail, eval_divergence = find_divergence(torch_module, paddle_module, x, dtype, tol["eval_forward"])
            add_hints(check, eval_divergence, dtype, torch_module, paddle_module)
        report.checks.append(check)
        report.checks.append(check_input_sensitivity(torch_module, x, t_out, dtype, seed))
        if hot:
            report.checks.extend(check_hot(torch_module, paddle_module, x, dtype, torch_twin))
        n_out = len(t_out)
        out_shape = tuple(t_out[0].shape) if t_out else ()
        if num_classes is None and len(out_shape) == 2:
            num_classes = out_shape[1]
        labels = rng.randint(0, num_classes, size=x.shape[0]).astype("int64") if num_classes else None
        proj = Projections(rng.randint(2**31))

        if train and grads:
            progress.phase("train")
        if train and grads and stochastic:
            shared = share(torch_module, paddle_module, seed)
            try:
                report.checks.append(check_masks(shared))
                report.checks.extend(check_train(torch_module, paddle_module, kmap, x, labels, proj, dtype, report,
                                                 torch_twin, seed, paddle_twin, stochastic=True))
            finally:
                shared.restore()
        elif train and grads:
            report.checks.extend(check_train(torch_module, paddle_module, kmap, x, labels, proj, dtype, report,
                                             torch_twin, seed, paddle_twin))
        # A check that trains leaves the weights (BN statistics included) changed; the next one
        # starts from the initial weights again. There is no reset after the last: nothing reads
        # the modules after it, and reloading a float64 VGG costs seconds (so both end trained).
        trained = train and grads
        if train and steps > 0 and not stochastic:
            batches = [rng.standard_normal(x.shape).astype(dtype) for _ in range(steps)]
            own_memo: dict[str, float] = {}
            first_step = files.enter_context(Trail())  # step 1, taken once (parity/first_step.py)
            for opt in ("sgd", "adam"):
                if trained:
                    reset()
                progress.phase(f"{opt}_steps")
                report.checks.append(check_steps(torch_module, paddle_module, kmap, batches, labels, proj, dtype, opt,
                                                   torch_twin, seed, own_memo, first_step))
                trained = True
        for c in report.failed():
            if c.name != "eval_forward":  # that one got its hints while the modules held the compared weights
                add_hints(c, None, dtype)
        if n_out > 1:
            report.notes.append(f"in eval mode the model returns {n_out} tensors; every one is compared")
        report.seconds = time.perf_counter() - start
        return report

