"""Step 1 of the optimizer-step checks, taken once per comparison and replayed.

Every step check of a comparison (SGD's, then Adam's) starts from the same initial weights
and takes its first step on the same batch, so step 1's forward and backward compute the
same thing whatever the optimizer: the same gradients, and the same BatchNorm statistics
moved by the forward. The first check keeps each side's state right after that backward in a
trail (parity/trail.py) shared by the comparison's step checks; a later check puts it back
instead of running the forward and backward again, and goes on from there as the first did
(the noise-level zeroing of float64, the optimizer step, the comparison). Nothing the
optimizers do is skipped: only a recomputation of numbers already computed.

torch's state is its gradients (pre-step, as backward left them) and its buffers. paddle's is
its gradients and every tensor of its state that is not a trainable parameter: paddle's
BatchNorm keeps its running statistics as parameters that do not train, not as buffers.
"""
from __future__ import annotations

import paddle
import torch

from parity import bridge
from parity.trail import Trail

TORCH_GRADS, TORCH_STATE = "torch grad", "torch buffers"
PADDLE_GRADS, PADDLE_STATE = "paddle grad", "paddle buffers"

# A side's step 1 is kept only where its forward and backward took longer than this many
# seconds per GB of the gradients a keep writes (float32 keeps torch's always: it writes its
# gradients for paddle to step on anyway, and paddle's are not kept there). A file's first
# write into fresh page cache costs up to ~2.3 s/GB on the 2-core machine (parity/trail.py),
# a rewrite in place a tenth of that. Step 1 at the parity size in float64, one thread,
# 2026-12-07: torch VGG-16 0.4 s/GB (paddle 0.4), AlexNet 0.3; ResNet-152 2.6 (4.8),
# Wide ResNet-50-2 3.1, EfficientNet-B7 5.0 (4.5), DenseNet-121 4.1, MobileNetV2 8.1; VGG-19-BN
# 0.95 (1.09), and more where another worker shares the cores. Taking turns in one process,
# float64 2D parity cases' two step checks: ResNet-152 38.4 -> 35.7 s with both sides kept,
# VGG-16 50.8 -> 51.7 s (kept: the writes cost what the replay saved). At 2 s/GB the VGGs
# recompute even on a shared machine, and the models that gain keep.
KEEP_ABOVE_S_PER_GB = 2.0


def worth_keeping(seconds: float, grads: list) -> bool:
    """Whether a forward and backward that took ``seconds`` costs more than writing ``grads``
    (torch tensors, or views of paddle's) would."""
    size = sum(g.numel() * g.element_size() for g in grads) / 2**30
    return seconds > KEEP_ABOVE_S_PER_GB * size


def torch_kept(first: Trail | None) -> bool:
    """Whether ``first`` holds torch's step 1."""
    return first is not None and bool(first.names(TORCH_GRADS, 1))


def paddle_kept(first: Trail | None) -> bool:
    """Whether ``first`` holds paddle's step 1."""
    return first is not None and bool(first.names(PADDLE_GRADS, 1))


def keep_torch(first: Trail, torch_module: torch.nn.Module) -> None:
    """Write torch's gradients and buffers as step 1's backward left them."""
    first.write(TORCH_GRADS, 1, [(n, p.grad) for n, p in torch_module.named_parameters() if p.grad is not None])
    first.write(TORCH_STATE, 1, torch_module.named_buffers())


def replay_torch(first: Trail, torch_module: torch.nn.Module) -> None:
    """Put torch back where step 1's backward left it: the buffers copied in, the gradients on
    copy-on-write maps of the trail's file (a page only read stays the page cache's, with no
    fresh memory to touch; one written to becomes the process's own)."""
    params = dict(torch_module.named_parameters())
    kept = first.names(TORCH_STATE, 1)
    with torch.no_grad():
        for name, buf in torch_module.named_buffers():
            if name in kept:
                buf.copy_(first.read(TORCH_STATE, 1, name))
    for name in first.names(TORCH_GRADS, 1):
        params[name].grad = first.read(TORCH_GRADS, 1, name, writable=True)


def torch_grad(first: Trail, name: str) -> torch.Tensor:
    """torch's step-1 gradient of parameter ``name``, read-only."""
    return first.read(TORCH_GRADS, 1, name)


def torch_grad_names(first: Trail) -> set[str]:
    return first.names(TORCH_GRADS, 1)


def _paddle_state(paddle_module: paddle.nn.Layer) -> list[tuple[str, paddle.Tensor]]:
    trainable = {n for n, p in paddle_module.named_parameters() if not p.stop_gradient}
    return [(n, t) for n, t in paddle_module.state_dict().items() if n not in trainable]


def keep_paddle(first: Trail, paddle_module: paddle.nn.Layer) -> None:
    """Write paddle's gradients and its state that does not train, as step 1's backward left them."""
    first.write(PADDLE_GRADS, 1, [(n, bridge.view(p.grad)) for n, p in paddle_module.named_parameters()
                                  if p.grad is not None])
    first.write(PADDLE_STATE, 1, [(n, bridge.view(t)) for n, t in _paddle_state(paddle_module)])


def replay_paddle(first: Trail, paddle_module: paddle.nn.Layer) -> None:
    """Put paddle back where step 1's backward left it, its gradients in fresh buffers as
    backward makes them."""
    kept = first.names(PADDLE_STATE, 1)
    with torch.no_grad():
        for name, t in _paddle_state(paddle_module):
            if name in kept:
                bridge.view(t).copy_(first.read(PADDLE_STATE, 1, name))
        params = dict(paddle_module.named_parameters())
        for name in first.names(PADDLE_GRADS, 1):
            p = params[name]
            p.grad = paddle.empty(p.shape, p.dtype)
            bridge.view(p.grad).copy_(first.read(PADDLE_GRADS, 1, name))
