"""Torch views of paddle tensors that share paddle's memory (DLPack), for the harness's hot paths.

A check moves every weight and gradient across the frameworks several times per step.
paddle's ``.numpy()`` copies: 1 s for one 25088x4096 float64 VGG weight, plus the page
faults of a fresh 800 MB buffer each time. A view reads paddle's tensor in place, and
writing through it (zeroing noise-level gradients, reloading the initial weights) changes
paddle's tensor without a numpy round trip and ``set_value``. A Linear weight is viewed
transposed and never copied to torch's layout: torch's elementwise ops on a transposed view
of a large matrix run at a third of the contiguous speed (4096x8192 float64, one thread:
a - b.t() 2.1 s against 0.75 s for the copy plus 0.34 s for the difference), so whoever
reads both layouts reads them in cache-sized pieces (``equal`` here, and
``parity.metrics``, which compares in tiles).
"""
from __future__ import annotations

from typing import Mapping

import paddle
import torch


def view(tensor: paddle.Tensor, transpose: bool = False) -> torch.Tensor:
    """``tensor`` as a torch tensor on the same memory, transposed (a view, no copy) when asked."""
    if int(tensor.size) == 0:  # DLPack has nothing to share; nothing is read or written either
        shape = tuple(tensor.shape)
        out = torch.empty(shape, dtype=getattr(torch, str(tensor.dtype).replace("paddle.", "")))
    else:
        out = torch.from_dlpack(tensor.detach())
    return out.t() if transpose else out


def load_from_torch(paddle_module: paddle.nn.Layer, state: Mapping[str, torch.Tensor],
                    pairs: list[tuple[str, str, bool]]) -> None:
    """Write torch tensors into a paddle layer's state in place: (torch key, paddle key,
    transpose) for every pair, each cast to the paddle tensor's dtype. Every paddle tensor
    must be named once and every shape must agree; this is the harness's reload of weights
    it has already copied and checked once (parity.weights.load_paddle is the checked load)."""
    target = paddle_module.state_dict()
    named = {p for _, p, _ in pairs}
    if named != set(target):
        raise ValueError(f"load_from_torch: paddle keys not named: {sorted(set(target) - named)[:5]}; "
                         f"named but absent: {sorted(named - set(target))[:5]}")
    with torch.no_grad():
        for tk, pk, transpose in pairs:
            src = state[tk].t() if transpose else state[tk]
            dst = view(target[pk])
            if tuple(dst.shape) != tuple(src.shape):
                raise ValueError(f"load_from_torch: {tk} {list(state[tk].shape)} does not fit {pk} "
                                 f"{list(target[pk].shape)}" + (" transposed" if transpose else ""))
            # Read transposed, write in order: 4x faster than writing through a transposed view
            # (4096x8192 float64, one thread: 0.17 s against 0.75 s).
            dst.copy_(src)


def equal(mine: torch.Tensor, theirs: torch.Tensor, transpose: bool = False) -> bool:
    """Whether torch tensor ``mine`` equals ``theirs`` (a view of paddle's tensor, in paddle's
    layout) bit for bit; with ``transpose``, ``theirs`` holds ``mine``'s transpose.

    A transposed comparison reads ``theirs`` in bands of columns of ``mine`` so that a band of
    ``mine``'s rows stays in cache: ``torch.equal`` against the transposed view reads across
    every row for each element, 1.26 s for LeNet-BN's 512x140450 float64 weight at one thread
    against 0.30 s in bands."""
    if not transpose:
        return torch.equal(mine, theirs)
    if mine.dim() != 2 or tuple(theirs.shape) != tuple(mine.shape[::-1]):
        return False
    band = max(8, 32768 // max(1, mine.shape[0]))  # columns of mine: a band of about 256 KiB of rows
    return all(torch.equal(theirs[j:j + band], mine[:, j:j + band].t()) for j in range(0, mine.shape[1], band))

