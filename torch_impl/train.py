"""Train any model of the zoo with PyTorch: ``python -m torch_impl.train MODEL [flags]``.

Mirrors paddle_impl/train.py function for function. Everything that does not touch a
tensor (flags, the data plan, batch order, printed lines, metrics files, checkpoint
checks) lives in zoo/training.py, so both scripts take the same flags, see the same
batches and print the same lines. Runs data-parallel under
``torchrun --nproc_per_node=N -m torch_impl.train ...`` (DDP; gloo on CPU).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch import nn

import torch_impl
from zoo import training
from zoo.training import CheckpointError, Plan, RunLog

FRAMEWORK = "torch"
DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --- processes, threads, model, optimizer ---------------------------------------------------------

@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (rank 0 of 1 when run plainly)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Dist()
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("gloo" if device.type == "cpu" else "nccl")
    return Dist(torch_dist.get_rank(), torch_dist.get_world_size())


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def memory_format(plan: Plan, device: torch.device) -> torch.memory_format:
    """channels_last for 2D float32 training on the CPU, else the default layout.

    Measured on 2 cores (benchmarks/memory_format.py, docs/TRAINING.md), a training step
    in channels_last was 1.7x to 3.8x faster for the depthwise nets (MobileNet, MnasNet,
    EfficientNet, ShuffleNet) and 1.1x to 1.4x for LeNet-5, GoogLeNet, DenseNet and
    SqueezeNet. It was about 10% slower for VGG-11 and ResNet-18 at 32x32. One rule for
    all 2D models is worth that trade. float64 stays in the default layout: oneDNN,
    which makes channels_last fast, has no float64 kernels.
    """
    if plan.dims == 2 and plan.args.dtype == "float32" and device.type == "cpu":
        return torch.channels_last
    return torch.contiguous_format


def build_model(plan: Plan, device: torch.device) -> nn.Module:
    torch.manual_seed(plan.args.seed)
    model = torch_impl.build(plan.info.name, **plan.model_kwargs)
    return model.to(device=device, dtype=DTYPES[plan.args.dtype], memory_format=memory_format(plan, device))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(plan: Plan, model: nn.Module) -> torch.optim.Optimizer:
    a = plan.args
    params = [p for p in model.parameters() if p.requires_grad]
    if a.optimizer in ("sgd", "momentum"):
        momentum = training.MOMENTUM if a.optimizer == "momentum" else 0.0
        return torch.optim.SGD(params, lr=a.lr, momentum=momentum, weight_decay=a.weight_decay)
    adam = torch.optim.Adam if a.optimizer == "adam" else torch.optim.AdamW
    # fused: one kernel updates every tensor, the fastest Adam on CPU here
    return adam(params, lr=a.lr, betas=training.ADAM_BETAS, eps=training.ADAM_EPS, weight_decay=a.weight_decay,
                fused=True)


def make_scheduler(plan: Plan, optimizer: torch.optim.Optimizer) -> Any:
    a = plan.args
    if a.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=training.step_size(a.epochs),
                                               gamma=training.STEP_GAMMA)
    if a.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(a.epochs, 1))
    return None


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


# --- data ---------------------------------------------------------------------------------------

class Arrays:
    """The dataset held as tensors; a batch is an ``index_select`` of a slice of the shuffled order.

    Inputs too large to hold resized stay numpy and are resized batch by batch.
    """

    def __init__(self, plan: Plan, device: torch.device) -> None:
        x_train, y_train, x_test, y_test, self.transform = plan.arrays()
        self.device = device
        self.eval_batch = training.eval_batch(plan)
        self.x_train = x_train if self.transform else torch.from_numpy(x_train).to(device)
        self.x_test = x_test if self.transform else torch.from_numpy(x_test).to(device)
        self.y_train = torch.from_numpy(y_train).to(device)
        self.y_test = torch.from_numpy(y_test).to(device)

    def _inputs(self, x: Any, rows: np.ndarray | slice) -> torch.Tensor:
        if self.transform is not None:
            return torch.from_numpy(self.transform(x[rows])).to(self.device)
        if isinstance(rows, slice):
            return x[rows]
        return x.index_select(0, torch.from_numpy(rows).to(self.device))

    def train_batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self._inputs(self.x_train, rows), self.y_train[torch.from_numpy(rows).to(self.device)]

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, len(self.y_test), self.eval_batch):
            rows = slice(i, i + self.eval_batch)
            yield self._inputs(self.x_test, rows), self.y_test[rows]


# --- one epoch, evaluation ------------------------------------------------------------------------

def training_forward(model: nn.Module, dist: Dist) -> nn.Module:
    """What the training steps call: DistributedDataParallel across processes, else the model.

    (torch.compile is not used: on CPU it needs a C++ toolchain and tens of seconds of
    compilation for every model and input shape.)
    """
    if dist.world > 1:
        return nn.parallel.DistributedDataParallel(model)
    return model


def logits_and_loss(forward: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy; a tuple output is (logits, auxiliary logits...) as GoogLeNet/Inception return in training."""
    out = forward(x)
    if isinstance(out, (tuple, list)):
        aux = [o for o in out[1:] if o is not None]
        return out[0], F.cross_entropy(out[0], y) + training.AUX_WEIGHT * sum(F.cross_entropy(o, y) for o in aux)
    return out, F.cross_entropy(out, y)


def train_epoch(model: nn.Module, forward: nn.Module, optimizer: torch.optim.Optimizer, arrays: Arrays,
                batches: list[np.ndarray], dist: Dist, bar: Any) -> tuple[np.ndarray, int]:
    """One pass over ``batches``: (per-step mean losses, correct predictions).

    Losses and counts stay tensors until the epoch ends and are read once. Each process
    takes its shard of every global batch; its loss is scaled by its share, so DDP's
    gradient average equals the gradient of the global batch's mean loss.
    """
    model.train()
    losses, correct = [], []
    for batch in batches:
        rows = training.shard(batch, dist.rank, dist.world)
        x, y = arrays.train_batch(rows)
        logits, loss = logits_and_loss(forward, x, y)
        if dist.world > 1:
            loss = loss * (len(rows) / len(batch))
        optimizer.zero_grad(set_to_none=True)
        (loss * dist.world if dist.world > 1 else loss).backward()
        optimizer.step()
        losses.append(loss.detach())
        correct.append((logits.argmax(1) == y).sum())
        bar.update()
    totals = torch.cat([torch.stack(losses).double(), torch.stack(correct).sum().double().reshape(1)])
    if dist.world > 1:
        torch_dist.all_reduce(totals)
    totals = totals.cpu().numpy()
    return totals[:-1], int(totals[-1])


@torch.no_grad()
def evaluate(model: nn.Module, arrays: Arrays) -> float:
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=arrays.device)
    for x, y in arrays.test_batches():
        out = model(x)
        out = out[0] if isinstance(out, (tuple, list)) else out
        correct += (out.argmax(1) == y).sum()
    return int(correct) / len(arrays.y_test)


# --- checkpoints ----------------------------------------------------------------------------------

def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # contiguous: a checkpoint holds the default layout whatever memory format trained it
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(plan: Plan, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, epoch: int,
                    log: RunLog) -> None:
    ckpt = training.checkpoint_meta(plan, epoch, log)
    ckpt["model_state"] = model_state(model)
    ckpt["optimizer_state"] = optimizer.state_dict()
    ckpt["scheduler_state"] = scheduler.state_dict() if scheduler is not None else None
    training.atomic_write(plan.checkpoint, lambda tmp: torch.save(ckpt, tmp))


def read_checkpoint(path: os.PathLike) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({training.error_summary(e)})") from None


def load_weights(model: nn.Module, state: dict[str, Any], context: str) -> None:
    """Strict load, every offending key listed; values cast to the model's dtype."""
    target = model.state_dict()
    training.check_state({k: tuple(v.shape) for k, v in target.items()},
                         {k: tuple(np.shape(v)) for k, v in state.items()}, context)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})


def read_foreign_checkpoint(path: os.PathLike) -> Any:
    import paddle

    try:
        return paddle.load(str(path), return_numpy=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable paddle checkpoint ({training.error_summary(e)})") from None


def init_from(plan: Plan, model: nn.Module, where: str) -> None:
    """Weights from a checkpoint or state dict of either framework."""
    path = training.find_checkpoint(where, FRAMEWORK)
    if training.checkpoint_framework(path) == FRAMEWORK:
        meta, state = training.split_checkpoint(read_checkpoint(path), path)
        training.check_model(meta, plan, path)
        load_weights(model, state, str(path))
        return
    # A paddle checkpoint. parity/weights.py holds the project's only torch<->paddle
    # conversion, and parity is the one package allowed to import both frameworks, so it
    # (and paddle) are imported here, only when a run actually starts from paddle weights.
    from parity import weights

    meta, state = training.split_checkpoint(read_foreign_checkpoint(path), path)
    training.check_model(meta, plan, path)
    context = f"{path} (paddle) -> torch {plan.info.name}"
    weights.load_torch(model, weights.paddle_to_torch(state, model, context), context)


def resume(plan: Plan, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """Load the model, optimizer and scheduler state of the run in ``--out``; returns its metadata."""
    path = plan.checkpoint
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: {path} does not exist")
    ckpt = read_checkpoint(path)
    meta, state = training.split_checkpoint(ckpt, path)
    training.check_resume(meta, plan, path)
    load_weights(model, state, str(path))
    optimizer.load_state_dict(ckpt["optimizer_state"])
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler_state"])
    return meta


# --- the run ----------------------------------------------------------------------------------------

def train(args: Any) -> training.Result:
    """Run the training (or evaluation) ``args`` describe; see ``python -m torch_impl.train -h``."""
    device = torch.device(args.device)
    dist = init_distributed(device)
    plan = training.make_plan(args)
    model = build_model(plan, device)
    optimizer = make_optimizer(plan, model)
    scheduler = make_scheduler(plan, optimizer)
    meta = None
    if args.resume:
        meta = resume(plan, model, optimizer, scheduler)
    elif args.init_from:
        init_from(plan, model, args.init_from)
    plan.threads = training.choose_threads(plan, meta, count_params(model))
    previous = torch.get_num_threads()
    set_threads(plan.threads)
    try:
        return run(plan, model, optimizer, scheduler, meta, dist, device)
    finally:
        set_threads(previous)  # a caller in the same process keeps its own setting


def run(plan: Plan, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, meta: dict | None,
        dist: Dist, device: torch.device) -> training.Result:
    args = plan.args
    start, log = training.progress_so_far(meta)
    arrays = Arrays(plan, device)
    if dist.main:
        print(training.header_line(plan, count_params(model), dist.world), flush=True)
    if args.eval_only:
        acc = evaluate(model, arrays)
        if dist.main:
            print(training.eval_line(plan, acc), flush=True)
        return training.Result(log, acc, start, None, to_numpy(model))
    forward = training_forward(model, dist)
    end = min(args.epochs, args.stop_after or args.epochs)
    if dist.main and start == 0 and args.epochs == 0:
        save_checkpoint(plan, model, optimizer, scheduler, 0, log)  # the initial weights, for --init-from
    test_acc = log.epochs[-1].test_acc if log.epochs else float("nan")
    for epoch in range(start + 1, end + 1):
        torch.manual_seed(training.epoch_seed(args.seed, epoch))
        batches = training.usable_batches(len(arrays.y_train), args.batch_size, args.seed, epoch, dist.world)
        lr = current_lr(optimizer)
        bar = training.progress(len(batches), f"epoch {epoch}/{args.epochs}", dist.main)
        t0 = time.perf_counter()
        step_losses, correct = train_epoch(model, forward, optimizer, arrays, batches, dist, bar)
        seconds = time.perf_counter() - t0
        bar.close()
        test_acc = evaluate(model, arrays)
        if scheduler is not None:
            scheduler.step()
        stats = training.epoch_stats(epoch, batches, step_losses, correct, test_acc, lr, seconds)
        log.add(stats, step_losses)
        if dist.main:
            print(stats.line(args.epochs), flush=True)
            save_checkpoint(plan, model, optimizer, scheduler, epoch, log)
            log.write(plan.out, training.plot_title(plan), last=epoch == end)
    if dist.main:
        print(training.final_line(plan, log, max(start, end)), flush=True)
    return training.Result(log, test_acc, max(start, end), plan.checkpoint if dist.main else None, to_numpy(model))


def to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model_state(model).items()}


def main(argv: list[str] | None = None) -> int:
    return training.run_cli(FRAMEWORK, argv, train)


if __name__ == "__main__":
    sys.exit(main())
