"""One torch training step per model in the default layout (NCHW) and in channels_last (NHWC).

    python benchmarks/memory_format.py [--models lenet5,resnet18,...] [--rounds 5] [--threads 2]

The torch training script trains 2D float32 models on the CPU in channels_last
(``torch_impl.train.memory_format``); this measures why. Each model is built once per
layout, with fused Adam and cross-entropy as the script uses them, on random data of
the size given per model. The two layouts take turns, round after round, so a drifting
machine speed hits both alike; the figure per layout is its best round, and the ratio
printed is the median over rounds of (NCHW time / channels_last time): above 1 means
channels_last is faster.

paddle has no counterpart here: its layout is a constructor argument
(``data_format="NHWC"``) of every layer, not a conversion of a built model.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch_impl  # noqa: E402
from torch_impl.train import logits_and_loss  # noqa: E402

# model: (input channels, side, batch), small enough for a few seconds a model on 2 cores
DEFAULT_MODELS = {
    "lenet5": (1, 32, 128), "alexnet": (3, 63, 64), "vgg11": (3, 32, 32), "googlenet": (3, 32, 32),
    "resnet18": (3, 32, 64), "resnet50": (3, 64, 16), "densenet121": (3, 32, 32), "squeezenet1_1": (3, 32, 64),
    "mobilenet_v2": (3, 32, 64), "shufflenet_v2_x1_0": (3, 32, 64), "mnasnet1_0": (3, 32, 64),
    "efficientnet_b0": (3, 32, 32),
}


def step_fn(name: str, in_channels: int, side: int, batch: int, layout: torch.memory_format):
    torch.manual_seed(0)
    model = torch_impl.build(name, num_classes=10, in_channels=in_channels).to(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    x = torch.randn(batch, in_channels, side, side).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        _, loss = logits_and_loss(model, x, y)  # the script's loss, auxiliary heads included
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def seconds(step, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - t0) / reps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=2, help="steps per timing")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"one training step, {args.threads} thread(s), best of {args.rounds} rounds of {args.reps} steps")
    print(f"  {'model':<22}{'input':>14}{'NCHW ms':>10}{'NHWC ms':>10}{'NCHW/NHWC':>11}")
    for name in args.models.split(","):
        c, side, batch = DEFAULT_MODELS.get(name, (3, 64, 32))
        steps = [step_fn(name, c, side, batch, fmt) for fmt in (torch.contiguous_format, torch.channels_last)]
        for step in steps:
            step()  # warm-up: oneDNN builds its kernels on first use
        times = [[], []]
        for _ in range(args.rounds):
            for i, step in enumerate(steps):
                times[i].append(seconds(step, args.reps))
        ratio = statistics.median(a / b for a, b in zip(*times))
        print(f"  {name:<22}{f'{batch}x{c}x{side}x{side}':>14}{min(times[0]) * 1e3:>10.1f}"
              f"{min(times[1]) * 1e3:>10.1f}{ratio:>11.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
