"""BatchNorm epsilon rounding: paddle's batch_norm kernel adds epsilon as a float32 even to
float64 input (PORTING.md, test_paddle_batchnorm_kernel_rounds_epsilon_to_float32).

A float64 port that keeps paddle's kernel (paddle.vision's models, most users' ports) differs
from torch by ~1e-10 at the first BatchNorm, and by ~1e-9 at one whose variance is small:
over the float64 tolerance, and upstream of whatever the port really changed. So the
locator measures, pair by pair, whether the paddle BatchNorm rounds epsilon, and reruns the
torch side with those BatchNorms' epsilon rounded the same way, as parity/kinks.py gives
torch paddle's side of a kink. Only a rounding that explains the paddle output exactly is
aligned, and the locator's message says how many layers it aligned.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import numpy as np
import paddle
import torch

from parity.pairing import Pair, family

# The probe's paddle output must match torch-with-rounded-epsilon to float64 rounding.
_EXPLAINED = 1e-13


def _rounded(eps: float) -> float:
    return float(np.float32(eps))


def _probe(t_bn: torch.nn.Module, p_bn: paddle.nn.Layer, ndim: int) -> bool:
    """Whether ``p_bn`` computes what ``t_bn`` computes with its epsilon rounded to float32
    (and not what it computes as it is), on a random float64 probe.

    The probe runs in train mode, which normalises by the probe's own batch statistics: the
    running statistics may differ between the sides (paddle's kernel keeps the biased
    variance), so they are not used; each side's are restored afterwards."""
    channels = int(t_bn.num_features)
    # Small values, so that epsilon weighs against the batch variance.
    x = np.random.RandomState(0).standard_normal((2, channels) + (3,) * (ndim - 2)) * 1e-2
    t_training, p_training, eps = t_bn.training, p_bn.training, t_bn.eps
    t_saved = [b.detach().clone() for b in t_bn.buffers()]
    # paddle keeps a BatchNorm's statistics as parameters (_mean, _variance), not buffers.
    p_saved = {k: np.array(v.numpy(), copy=True) for k, v in p_bn.state_dict().items()}
    t_bn.train()
    p_bn.train()
    try:
        with torch.no_grad():
            exact = t_bn(torch.from_numpy(x)).numpy()
            t_bn.eps = _rounded(eps)
            rounded = t_bn(torch.from_numpy(x)).numpy()
        with paddle.no_grad():
            got = p_bn(paddle.to_tensor(x)).numpy()
    except Exception:  # noqa: BLE001 - a layer the probe cannot drive (another layout) is not aligned
        return False
    finally:
        t_bn.eps = eps
        with torch.no_grad():
            for b, v in zip(t_bn.buffers(), t_saved):
                b.copy_(v)
        for k, v in p_bn.state_dict().items():
            v.set_value(p_saved[k])
        t_bn.train(t_training)
        p_bn.train(p_training)
    if got.shape != exact.shape:
        return False
    scale = max(float(np.abs(exact).max()), 1e-300)
    off_rounded = float(np.abs(got - rounded).max())
    return off_rounded < float(np.abs(got - exact).max()) and off_rounded <= _EXPLAINED * scale


def rounding_batchnorms(pairs: Sequence[Pair], torch_module: torch.nn.Module,
                        paddle_module: paddle.nn.Layer) -> list[torch.nn.Module]:
    """The torch BatchNorms whose paired paddle BatchNorm rounds epsilon to float32 on float64
    input, where rounding changes their epsilon. Call with float64 modules holding the same weights."""
    t_named = {name or "<model>": m for name, m in torch_module.named_modules()}
    p_named = {name or "<model>": m for name, m in paddle_module.named_sublayers(include_self=True)}
    found: list[torch.nn.Module] = []
    for pair in pairs:
        t, p = pair.torch, pair.paddle
        if t is None or p is None or t.kind != "layer" or p.kind != "layer":
            continue
        if family(t.type) != "bn" or family(p.type) != "bn":
            continue
        t_bn, p_bn = t_named.get(t.name), p_named.get(p.name)
        if not isinstance(t_bn, torch.nn.modules.batchnorm._BatchNorm) or p_bn is None or t_bn in found:
            continue
        if _rounded(t_bn.eps) != t_bn.eps and _probe(t_bn, p_bn, np.ndim(t.output)):
            found.append(t_bn)
    return found


@contextlib.contextmanager
def rounded_epsilon(batchnorms: Sequence[torch.nn.Module]) -> Iterator[None]:
    """Within the block, each of ``batchnorms`` uses its epsilon rounded to float32."""
    saved = [m.eps for m in batchnorms]
    try:
        for m in batchnorms:
            m.eps = _rounded(m.eps)
        yield
    finally:
        for m, eps in zip(batchnorms, saved):
            m.eps = eps


def note(aligned: int) -> str:
    """The locator's words for what it aligned ("" when nothing)."""
    if not aligned:
        return ""
    return (f"; torch ran with epsilon rounded to float32 in {aligned} BatchNorm layer{'s' if aligned > 1 else ''}, "
            f"as paddle's batch_norm kernel does on float64 input")
