"""Train any model of the zoo with PyTorch: ``python -m torch_impl.train MODEL [flags]``.

Mirrors paddle_impl/train.py function for function. Everything that does not touch a
tensor (flags, the data plan, batch order, printed lines, metrics files, checkpoint
checks) lives in zoo/training.py, so both scripts take the same flags, see the same
batches and print the same lines. Runs data-parallel under
``torchrun --nproc_per_node=N -m torch_impl.train ...`` or ``torchrun ... torch_impl/train.py ...``
(DDP; gloo on CPU, nccl on GPUs, each process on the GPU of its LOCAL_RANK).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

if not __package__:  # run by path (torchrun torch_impl/train.py): make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch import nn

import torch_impl
from torch_impl import sync_bn
from torch_impl._weights import load_weights as load_pretrained
from zoo import devices, training
from zoo.training import CheckpointError, Plan, RunLog

FRAMEWORK = "torch"
DTYPES = {"float32": torch.float32, "float64": torch.float64}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# --- processes, threads, model, optimizer ---------------------------------------------------------

@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (rank 0 of 1 when run plainly)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(requested: str) -> torch.device:
    """``--device`` as a torch device; under torchrun, cuda:LOCAL_RANK (see zoo/devices.py)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = torch.device(devices.choose_device(requested, FRAMEWORK, gpus))
    if device.type == "cuda":
        torch.cuda.set_device(device)  # nccl and bare .cuda() calls use the current device
    return device


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
    if plan.args.sync_bn:
        model = sync_bn.convert(model)
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


@dataclass
class Precision:
    """``--amp``: the autocast dtype (None: off) and the loss scaler float16 needs (bfloat16 has
    float32's exponent range and needs none)."""

    device_type: str
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> Any:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)


def make_precision(plan: Plan, device: torch.device) -> Precision:
    amp = plan.args.amp
    if amp == "none":
        return Precision(device.type)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    return Precision(device.type, AMP_DTYPES[amp], scaler)


# --- data ---------------------------------------------------------------------------------------

class Arrays:
    """The dataset held as tensors; a batch is an ``index_select`` of a slice of the shuffled order.

    Augmented, streamed or oversized data instead arrives as numpy batches that
    ``zoo.stream.Loader`` makes in background threads, the same batches as in paddle.
    """

    def __init__(self, plan: Plan, device: torch.device) -> None:
        self.loader = plan.loader()
        self.device = device
        self.eval_batch = training.eval_batch(plan)
        self.y_train = torch.from_numpy(self.loader.y_train).to(device)
        self.y_test = torch.from_numpy(self.loader.y_test).to(device)
        if self.loader.in_memory:
            self.x_train = torch.from_numpy(self.loader.x_train).to(device)
            self.x_test = torch.from_numpy(self.loader.x_test).to(device)

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(self.device, non_blocking=True)

    def train_batches(self, batches: list[np.ndarray], epoch: int, dist: Dist) -> Iterator[tuple[torch.Tensor,
                                                                                                 torch.Tensor]]:
        """This process's shard of each global batch of ``epoch``, as tensors on the device."""
        shards = [training.shard(b, dist.rank, dist.world) for b in batches]
        if not self.loader.in_memory:
            for x, y in self.loader.train_batches(batches, shards, epoch, dist.rank, dist.world):
                yield self._tensor(x), self._tensor(y)
            return
        for rows in shards:
            index = self._tensor(rows)
            yield self.x_train.index_select(0, index), self.y_train[index]

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not self.loader.in_memory:
            for x, y in self.loader.test_batches(self.eval_batch):
                yield self._tensor(x), self._tensor(y)
            return
        for i in range(0, len(self.y_test), self.eval_batch):
            yield self.x_test[i:i + self.eval_batch], self.y_test[i:i + self.eval_batch]


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


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, precision: Precision) -> None:
    if precision.scaler is None:
        loss.backward()
        optimizer.step()
        return
    precision.scaler.scale(loss).backward()
    precision.scaler.step(optimizer)  # skipped when the scaled gradients overflowed
    precision.scaler.update()


def train_epoch(model: nn.Module, forward: nn.Module, optimizer: torch.optim.Optimizer, arrays: Arrays,
                batches: list[np.ndarray], dist: Dist, bar: Any, epoch: int,
                precision: Precision) -> tuple[np.ndarray, int]:
    """One pass over ``batches``: (per-step mean losses, correct predictions).

    Losses and counts stay tensors until the epoch ends and are read once. Each process
    takes its shard of every global batch; its loss is scaled by its share, so DDP's
    gradient average equals the gradient of the global batch's mean loss.
    """
    model.train()
    losses, correct = [], []
    for batch, (x, y) in zip(batches, arrays.train_batches(batches, epoch, dist)):
        with precision.autocast():
            logits, loss = logits_and_loss(forward, x, y)
        if dist.world > 1:
            loss = loss * (len(y) / len(batch))
        optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss * dist.world if dist.world > 1 else loss, optimizer, precision)
        losses.append(loss.detach())
        correct.append((logits.argmax(1) == y).sum())
        bar.update()
    totals = torch.cat([torch.stack(losses).double(), torch.stack(correct).sum().double().reshape(1)])
    if dist.world > 1:
        torch_dist.all_reduce(totals)
    totals = totals.cpu().numpy()
    return totals[:-1], int(totals[-1])


@torch.no_grad()
def evaluate(model: nn.Module, arrays: Arrays, precision: Precision) -> float:
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=arrays.device)
    for x, y in arrays.test_batches():
        with precision.autocast():
            out = model(x)
        out = out[0] if isinstance(out, (tuple, list)) else out
        correct += (out.argmax(1) == y).sum()
    return int(correct) / len(arrays.y_test)


# --- checkpoints ----------------------------------------------------------------------------------

def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # contiguous: a checkpoint holds the default layout whatever memory format trained it
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(plan: Plan, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, epoch: int,
                    log: RunLog, precision: Precision) -> None:
    ckpt = training.checkpoint_meta(plan, epoch, log)
    ckpt["model_state"] = model_state(model)
    ckpt["optimizer_state"] = optimizer.state_dict()
    ckpt["scheduler_state"] = scheduler.state_dict() if scheduler is not None else None
    ckpt["scaler_state"] = precision.scaler.state_dict() if precision.scaler is not None else None
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


def resume(plan: Plan, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
           precision: Precision) -> dict[str, Any]:
    """Load the model, optimizer, scheduler and loss-scaler state of the run in ``--out``; returns its metadata."""
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
    if precision.scaler is not None and ckpt.get("scaler_state"):
        precision.scaler.load_state_dict(ckpt["scaler_state"])
    return meta


# --- the run ----------------------------------------------------------------------------------------

def train(args: Any) -> training.Result:
    """Run the training (or evaluation) ``args`` describe; see ``python -m torch_impl.train -h``."""
    device = resolve_device(args.device)
    devices.check_amp(args.amp, FRAMEWORK, device.type)
    dist = init_distributed(device)
    plan = training.make_plan(args)
    model = build_model(plan, device)
    optimizer = make_optimizer(plan, model)
    scheduler = make_scheduler(plan, optimizer)
    precision = make_precision(plan, device)
    meta = None
    if args.resume:
        meta = resume(plan, model, optimizer, scheduler, precision)
    elif args.init_from:
        training.init_from(plan, model, args.init_from, load_pretrained)
    plan.threads = training.choose_threads(plan, meta, count_params(model))
    previous = torch.get_num_threads()
    set_threads(plan.threads)
    try:
        return run(plan, model, optimizer, scheduler, meta, dist, device, precision)
    finally:
        set_threads(previous)  # a caller in the same process keeps its own setting


def run(plan: Plan, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, meta: dict | None,
        dist: Dist, device: torch.device, precision: Precision) -> training.Result:
    args = plan.args
    start, log = training.progress_so_far(meta)
    arrays = Arrays(plan, device)
    if dist.main:
        print(training.header_line(plan, count_params(model), dist.world), flush=True)
    if args.eval_only:
        acc = evaluate(model, arrays, precision)
        if dist.main:
            print(training.eval_line(plan, acc), flush=True)
        return training.Result(log, acc, start, None, to_numpy(model))
    forward = training_forward(model, dist)
    end = min(args.epochs, args.stop_after or args.epochs)
    if dist.main and start == 0 and args.epochs == 0:
        save_checkpoint(plan, model, optimizer, scheduler, 0, log, precision)  # the initial weights, for --init-from
    test_acc = log.epochs[-1].test_acc if log.epochs else float("nan")
    for epoch in range(start + 1, end + 1):
        torch.manual_seed(training.epoch_seed(args.seed, epoch))
        batches = training.usable_batches(len(arrays.y_train), args.batch_size, args.seed, epoch, dist.world)
        lr = current_lr(optimizer)
        bar = training.progress(len(batches), f"epoch {epoch}/{args.epochs}", dist.main)
        t0 = time.perf_counter()
        step_losses, correct = train_epoch(model, forward, optimizer, arrays, batches, dist, bar, epoch, precision)
        seconds = time.perf_counter() - t0
        bar.close()
        test_acc = evaluate(model, arrays, precision)
        if scheduler is not None:
            scheduler.step()
        stats = training.epoch_stats(epoch, batches, step_losses, correct, test_acc, lr, seconds)
        log.add(stats, step_losses)
        if dist.main:
            print(stats.line(args.epochs), flush=True)
            save_checkpoint(plan, model, optimizer, scheduler, epoch, log, precision)
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
