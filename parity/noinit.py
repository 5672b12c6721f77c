"""Paddle builds without random initialisation, for the harness.

Every check of ``parity.harness.run_model`` copies torch's weights into paddle before it
compares anything, so the values paddle's initialisers draw are overwritten unread. Drawing
them is not free: paddle's CPU normal and uniform kernels took 6.9 s of VGG-16's 7.7 s
build (138 M weights), and 0.85 s of ResNet-18's 1.07 s, on every case.

Inside ``paddle_init_skipped()`` the three random kernels paddle's initialisers and
``paddle.uniform`` / ``paddle.normal`` call (``gaussian``, ``uniform``,
``truncated_gaussian_random``) return zeros of the asked shape, dtype and place instead.
Parameter shapes, dtypes, names and the structure the checks compare are unchanged; only
the thrown-away values are. Nothing here is used where paddle's own initial weights are
compared (``compare_modules(copy_weights=False)``): the harness always copies.

``paddle_init_skipped(fill=False)`` leaves the memory unwritten instead (``empty``), for a
build whose random values nobody reads: the published-count check's, and every case of
``run_model``, whose strict load (``parity.weights.load_paddle``: every key, or it raises)
writes torch's values over each of them before any check. A fresh allocation costs its page
faults when first written, and on the 2-core machine with huge pages the zeros of LeNet-BN's
72M-parameter build at 224 took 1.4 to 4.9 s for that; unwritten, 0.1 s. In a whole case,
LeNet-BN's float64 "real" case at 224 took 3.79-4.28 s zeroed against 2.22-2.75 s unwritten
(peak 2,142 MB against 1,700), one process each in turn, on 2026-12-07.

The zeros stay the default for code whose tensors the copy might not all reach:
``python -m parity compare`` on a user's own paddle model, where a tensor outside the state
dict would otherwise hold whatever the allocator last kept there.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from paddle import _C_ops

_RANDOM_KERNELS = ("gaussian", "uniform", "truncated_gaussian_random")


@contextlib.contextmanager
def paddle_init_skipped(fill: bool = True) -> Iterator[None]:
    """Paddle's random initialisers fill zeros while this is open, or with ``fill=False``
    nothing at all (see the module docstring)."""
    full, empty = _C_ops.full, _C_ops.empty

    def _zeros(shape, dtype, place):
        return full(shape, 0.0, dtype, place) if fill else empty(shape, dtype, place)

    saved = {n: getattr(_C_ops, n) for n in _RANDOM_KERNELS}
    # The argument orders are paddle 3.3.1's (paddle/tensor/random.py, paddle/nn/initializer/).
    _C_ops.gaussian = lambda shape, mean, std, seed, dtype, place, out=None: _zeros(shape, dtype, place)
    _C_ops.uniform = lambda shape, dtype, low, high, seed, place, out=None: _zeros(shape, dtype, place)
    _C_ops.truncated_gaussian_random = (
        lambda shape, mean, std, seed, a, b, dtype, place: _zeros(shape, dtype, place))
    try:
        yield
    finally:
        for n, fn in saved.items():
            setattr(_C_ops, n, fn)
