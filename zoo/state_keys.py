"""How one state dict's names and layouts map to the other framework's (framework-free).

The only differences between a torch_impl and a paddle_impl state dict (PITFALLS.md):
- BatchNorm ``running_mean``/``running_var`` (torch) are ``_mean``/``_variance`` (paddle);
  torch's ``num_batches_tracked`` has no paddle twin;
- a Linear weight is [out, in] in torch and [in, out] in paddle.
Which keys are BatchNorm buffers and which are Linear weights is decided by the type of
the layer that owns them, never by a tensor's name or ndim: each framework's side
computes those sets from its own module types and passes them here.

``parity.weights`` (which imports both frameworks) and the ``weights=`` loader of each
implementation package (which imports one) share these rules and this error.
"""
from __future__ import annotations

from typing import Iterable

from zoo import messages

TORCH_BN_BUFFERS = {"running_mean": "_mean", "running_var": "_variance"}
PADDLE_BN_BUFFERS = {v: k for k, v in TORCH_BN_BUFFERS.items()}
DROPPED_TORCH_KEYS = ("num_batches_tracked",)


class WeightMismatchError(ValueError):
    """A state dict that does not fit its target; lists every offending key, grouped by
    prefix and capped (zoo.messages.state_mismatch)."""

    def __init__(self, context: str, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                 mis_shaped: Iterable[tuple[str, tuple, tuple]] = (), hint: str = "") -> None:
        self.missing, self.unexpected = sorted(missing), sorted(unexpected)
        self.mis_shaped = sorted(mis_shaped)
        text = messages.state_mismatch(context, self.missing, self.unexpected, self.mis_shaped)
        super().__init__(text + (f"\n  {hint}" if hint else ""))


def split_key(key: str) -> tuple[str, str]:
    """("layer.prefix.", "leaf") of a state-dict key; the prefix is "" at the top level."""
    prefix, _, leaf = key.rpartition(".")
    return (prefix + "." if prefix else ""), leaf


def torch_key_to_paddle(key: str, bn_prefixes: set[str]) -> str | None:
    """The paddle name of a torch state-dict key; None for keys paddle does not keep."""
    prefix, leaf = split_key(key)
    if prefix in bn_prefixes:
        if leaf in DROPPED_TORCH_KEYS:
            return None
        return prefix + TORCH_BN_BUFFERS.get(leaf, leaf)
    return key


def paddle_key_to_torch(key: str, bn_prefixes: set[str]) -> str:
    """The torch name of a paddle state-dict key."""
    prefix, leaf = split_key(key)
    if prefix in bn_prefixes:
        return prefix + PADDLE_BN_BUFFERS.get(leaf, leaf)
    return key


def is_counter(key: str) -> bool:
    """A torch BatchNorm step counter: kept by a torch target, absent from paddle."""
    return split_key(key)[1] in DROPPED_TORCH_KEYS
