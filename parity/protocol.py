"""The training protocol both sides follow, framework-free (``dump`` runs one side alone):
the loss's fixed projections and per-output weights, and the optimizer settings."""
from __future__ import annotations

from typing import Any

import numpy as np

# Optimizer settings of the step checks: powers of two and sums of a few, close to the
# usual 0.01 / 0.9 / 1e-4 and 1e-3 / (0.9, 0.999) / 1e-8. paddle keeps these coefficients
# as float32 even for float64 parameters (0.9 becomes 0.8999999762), which injects a
# ~1e-8 difference at the second step that a chaotic net then grows past any float64
# tolerance; values that float32 holds exactly leave only rounding to compare.
SGD = dict(lr=2.0 ** -7, momentum=0.875, weight_decay=2.0 ** -13)
ADAM = dict(lr=2.0 ** -10, betas=(0.875, 1.0 - 2.0 ** -10), eps=2.0 ** -27, weight_decay=0.0)


class Projections:
    """Fixed random weights for the outputs that are not logits, one array per (output index,
    shape), made on first use. The eval and train modes of a model may return different numbers
    of outputs (Inception's and GoogLeNet's aux heads exist only in train mode), so the weights
    cannot be drawn up front from the eval outputs: every train-mode output must enter the loss."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.arrays: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}

    def __call__(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        key = (index, tuple(shape))
        if key not in self.arrays:
            self.arrays[key] = np.random.RandomState([self.seed, index]).standard_normal(key[1])
        return self.arrays[key]


def is_logits(o: Any, labels: np.ndarray | None) -> bool:
    return o.ndim == 2 and labels is not None and o.shape[0] == len(labels)


def output_weight(index: int) -> float:
    """The weight of output ``index`` in the loss: 1, 1/2, 1/4, ... Every output has its own, so
    that outputs returned in another order (GoogLeNet's two aux heads swapped) change the loss
    even where each enters it the same way (cross-entropy with the same labels); powers of two
    keep the weighting exact in both dtypes."""
    return 2.0 ** -index


def is_tensor(x: Any) -> bool:
    """A torch or paddle tensor (Parameters included), told apart without importing either framework."""
    return type(x).__module__.split(".")[0] in ("torch", "paddle") and hasattr(x, "shape") and hasattr(x, "numpy")


def output_tensors(out: Any) -> list[Any]:
    """A model output (tensor, tuple, list, dict, namedtuple) flattened into its tensors, in order."""
    if is_tensor(out):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in output_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in output_tensors(v)]
    return []
